# The README's commands. Only Python 3.11 is needed: `make run` builds the virtualenv.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export FLASK_APP = wsgi.py

.PHONY: run test test-sqlite test-postgres bench lint clean install

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

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

bench: install
	$(BIN)/python bench/ticket_list.py

clean:
	rm -rf $(VENV) instance/atrium.db .pytest_cache
