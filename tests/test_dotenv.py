"""The one rule for .env: development reads it; testing, production, the suite don't."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).with_name("flask"))
STRONG_SECRET = "0123456789abcdef" * 4


def _run(args, cwd, **env):
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        args, cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def _setting(cwd, env_name, name, **env):
    code = f"import config; print(config.for_env({env_name!r}).{name})"
    result = _run([sys.executable, "-c", code], cwd, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / ".env").write_text("JWT_ACCESS_TTL=123\nGUNICORN_WORKERS=3\n")
    return tmp_path


def test_development_reads_dotenv(checkout):
    assert _setting(checkout, "development", "JWT_ACCESS_TTL") == "123"


def test_real_environment_wins_over_dotenv(checkout):
    value = _setting(checkout, "development", "JWT_ACCESS_TTL", JWT_ACCESS_TTL="77")

    assert value == "77"


@pytest.mark.parametrize("env_name", ["testing", "production"])
def test_testing_and_production_ignore_dotenv(checkout, env_name):
    env = {"SECRET_KEY": STRONG_SECRET}

    assert _setting(checkout, env_name, "JWT_ACCESS_TTL", **env) == "900"


def test_flask_skip_dotenv_turns_it_off_in_development(checkout):
    value = _setting(checkout, "development", "JWT_ACCESS_TTL", FLASK_SKIP_DOTENV="1")

    assert value == "900"


def test_gunicorn_settings_in_dotenv_apply_in_development_only(checkout):
    code = (
        "import runpy; "
        f"print(runpy.run_path({str(ROOT / 'gunicorn.conf.py')!r})['workers'])"
    )

    development = _run(
        [sys.executable, "-c", code], checkout, BOOKSTORE_ENV="development"
    )
    production = _run([sys.executable, "-c", code], checkout)

    assert development.stdout.strip() == "3", development.stderr
    assert production.stdout.strip() != "3", production.stderr


def test_flask_command_in_production_refuses_a_dotenv_it_has_read(checkout):
    db = f"sqlite:///{checkout / 'x.sqlite3'}"
    env = {"BOOKSTORE_ENV": "production", "SECRET_KEY": STRONG_SECRET}

    refused = _run(
        [FLASK, "--app", "wsgi", "db", "current"], checkout, **env, DATABASE_URL=db
    )
    skipped = _run(
        [FLASK, "--app", "wsgi", "db", "current"],
        checkout,
        **env,
        DATABASE_URL=db,
        FLASK_SKIP_DOTENV="1",
    )

    assert refused.returncode != 0
    assert "FLASK_SKIP_DOTENV=1" in refused.stderr
    assert skipped.returncode == 0, skipped.stderr


@pytest.mark.slow
def test_the_suite_ignores_a_hostile_dotenv_and_environment(tmp_path):
    (tmp_path / ".env").write_text("SECRET_KEY=short\nJWT_ACCESS_TTL=1\n")
    hostile = {
        "BOOKSTORE_ENV": "production",
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "SECRET_KEY": "short",
        "JWT_ACCESS_TTL": "1",
        "RATELIMIT_ENABLED": "maybe",
        "FLASK_SKIP_DOTENV": "0",
    }

    result = _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_app.py"),
            str(ROOT / "tests" / "auth" / "test_login.py"),
        ],
        tmp_path,
        **hostile,
    )

    assert result.returncode == 0, result.stdout[-3000:]
