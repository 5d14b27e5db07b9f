"""What a production worker loads: no database driver or CLI-only module it
cannot use (each costs every worker memory; bench/README.md, "Worker memory").
Alembic and Flask-Migrate are for the `flask db` commands only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parents[1]
# Loads the app as gunicorn does, serves /readyz (a database round trip), then
# reports which of the modules in argv are loaded.
SCRIPT = """
import json, sys, wsgi
status = wsgi.app.test_client().get("/readyz").status_code
loaded = [name for name in sys.argv[1:] if name in sys.modules]
migrate = "migrate" in wsgi.app.extensions
print(json.dumps({"status": status, "loaded": loaded, "migrate": migrate}))
"""
# Module -> the backends that need it in a worker.
WATCHED = {"psycopg": {"postgresql"}, "sqlite3": {"sqlite"}, "alembic": set()}


@pytest.fixture
def database(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        yield url


def test_a_worker_loads_its_database_driver_only_and_no_alembic(backend, database):
    env = {
        **os.environ,
        "BOOKSTORE_ENV": "production",
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": database,
    }
    env.pop("FLASK_RUN_FROM_CLI", None)

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *WATCHED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["status"] in (200, 503)  # served; 503: not migrated
    expected = sorted(name for name, needs in WATCHED.items() if backend in needs)
    assert sorted(report["loaded"]) == expected
    assert report["migrate"] is False
