"""Settings (``config.py``, parsed by environs): production refuses to start while a
setting it needs is missing or malformed, naming every one at once; booleans take the
spellings people write."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config import BASE_DIR, load_config


def test_a_production_start_without_redis_url_refuses_naming_every_problem(production_environment):
    env = {**os.environ, "ATRIUM_ENV": "production", "BACKUP_KEEP": "eight", "BACKUP_WITH_FILES": "true"}
    del env["REDIS_URL"]
    started = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=BASE_DIR, env=env,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    refusal = started.stderr.strip().splitlines()[-1]
    assert refusal.startswith("RuntimeError: Atrium refuses to start:"), started.stderr[-2000:]
    assert "REDIS_URL is not set" in refusal
    assert "BACKUP_KEEP='eight' is not understood (Not a valid integer.)" in refusal
    assert "BACKUP_WITH_FILES" not in refusal  # "true" is understood

    # Given what it asked for, it starts with what it was told.
    settings = load_config("production")
    assert settings["REDIS_URL"] == production_environment["REDIS_URL"]


@pytest.mark.parametrize(("written", "meant"), [
    ("true", True), ("True", True), ("yes", True), ("1", True), ("on", True),
    ("false", False), ("0", False), ("no", False), ("off", False), ("", False)])
def test_backup_with_files_takes_the_usual_spellings(monkeypatch, written, meant):
    monkeypatch.setenv("BACKUP_WITH_FILES", written)
    assert load_config("development")["BACKUP_WITH_FILES"] is meant


def test_a_boolean_that_is_not_one_is_refused_in_any_environment(monkeypatch):
    monkeypatch.setenv("BACKUP_WITH_FILES", "sometimes")
    monkeypatch.setenv("SMTP_STARTTLS", "maybe")
    with pytest.raises(RuntimeError) as refused:
        load_config("development")
    assert "BACKUP_WITH_FILES='sometimes' is not understood (Not a valid boolean.)" in str(refused.value)
    assert "SMTP_STARTTLS='maybe' is not understood" in str(refused.value)
