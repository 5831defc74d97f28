"""Production settings: `manage.py check --deploy` reports nothing, and bad settings fail clearly."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.app, pytest.mark.control("APP-06")]

MANAGE = Path(__file__).resolve().parents[2] / "app" / "manage.py"


def _manage(*args, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SAFECOACH_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    clean.update(DJANGO_SETTINGS_MODULE="safecoach.settings", **env)
    return subprocess.run(
        [sys.executable, str(MANAGE), *args], env=clean, capture_output=True, text=True, check=False
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SAFECOACH_SECRET_KEY=secrets.token_urlsafe(50),
        SAFECOACH_ALLOWED_HOSTS="safecoach.example.nl",
        SAFECOACH_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_missing_secret_key_is_one_clear_sentence():
    result = _manage("check")
    assert result.returncode != 0
    assert "SAFECOACH_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_database_url_is_one_clear_sentence():
    result = _manage("check", SAFECOACH_DEBUG="1", SAFECOACH_DATABASE_URL="mysql://x/y")
    assert result.returncode != 0
    assert "use sqlite:/// or postgres://" in result.stderr
    assert "Traceback" not in result.stderr
