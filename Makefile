# The README's commands. Only Python 3.11 is needed: `make run` builds the virtualenv.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export FLASK_APP = wsgi.py

.PHONY: run test test-sqlite test-postgres bench lint clean install translations

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The browser suite's JavaScript tools (axe-core for tests/e2e/test_accessibility_browser.py),
# pinned in tests/e2e/package-lock.json. Without npm the step is skipped with a note; that
# test then skips (fails when ATRIUM_REQUIRE_BROWSER=1, as CI sets: CI installs npm).
E2E_TOOLS = tests/e2e/node_modules/.installed
$(E2E_TOOLS): tests/e2e/package.json tests/e2e/package-lock.json
	@if command -v npm >/dev/null; then \
		echo "npm ci (tests/e2e)"; cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm not found: tests/e2e tools (axe-core) not installed; apt-get install npm to run the accessibility test"; \
	fi

install: $(BIN)/.installed $(E2E_TOOLS)

## Run the console with demo data on SQLite (jobs inline) at http://127.0.0.1:5000
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask roles sync
	$(BIN)/flask seed demo $(if $(PASSWORD),--password $(PASSWORD))
	$(BIN)/flask run --host 127.0.0.1 --port 5000

## The layering contracts (.importlinter), then the whole test suite (SQLite always;
## PostgreSQL and Redis when reachable)
test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Messages: extract them (babel.cfg), add new ones to the pt_BR catalogue, compile it.
## Translate what it adds in app/translations/pt_BR/LC_MESSAGES/messages.po, then run it again.
translations: install
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k N_ --no-location --sort-output \
		--project Atrium -o app/translations/messages.pot .
	$(BIN)/pybabel -q update -i app/translations/messages.pot -d app/translations -l pt_BR \
		--no-location --omit-header --ignore-obsolete --width 100
	$(BIN)/pybabel -q compile -d app/translations -l pt_BR

bench: install
	$(BIN)/python bench/ticket_list.py

clean:
	rm -rf $(VENV) instance/atrium.db .pytest_cache tests/e2e/node_modules
