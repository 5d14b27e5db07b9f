"""What a production worker loads: no database driver or CLI-only module it
cannot use (each costs every worker memory; bench/README.md, "Worker memory").
Alembic and Flask-Migrate are for the `flask db` commands only; cryptography's
primitives for cursor pages and asymmetric JWT keys only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parents[1]
# Loads the app as gunicorn does, serves /readyz (a database round trip) and the
# hot requests (register, login, create, get, list, list with a personal access
# token, an invalid token, /healthz), then reports which modules of argv are
# loaded. The tables come from create_all: migrating would load Alembic.
SCRIPT = """
import json, sys, wsgi
from bookstore.extensions import db
app, api = wsgi.app, "/api/v1"
with app.app_context():
    db.create_all()
client = app.test_client()
statuses = [client.get("/readyz").status_code]
user = {"username": "worker", "password": "correct horse battery staple"}
client.post(f"{api}/auth/register", json=user)
token = client.post(f"{api}/auth/login", json=user).json["access_token"]
auth = {"Authorization": f"Bearer {token}"}
book = {"title": "Dune", "author": "F. Herbert", "publisher": "Ace", "price": "9.99"}
created = client.post(f"{api}/books", json=book, headers=auth)
pat = client.post(
    f"{api}/auth/tokens", json={"name": "t", "scopes": ["books:read"]}, headers=auth
).json["token"]
statuses += [
    created.status_code,
    client.get(f"{api}/books/{created.json['id']}", headers=auth).status_code,
    client.get(f"{api}/books?page=1&per_page=20", headers=auth).status_code,
    client.get(f"{api}/books", headers={"Authorization": f"Bearer {pat}"}).status_code,
    client.get(f"{api}/books", headers={"Authorization": "Bearer a.b.c"}).status_code,
    client.get("/healthz").status_code,
]
loaded = [name for name in sys.argv[1:] if name in sys.modules]
migrate = "migrate" in app.extensions
print(json.dumps({"statuses": statuses, "loaded": loaded, "migrate": migrate}))
"""
# Module -> the backends that need it in a worker. `cryptography` itself is
# imported by redis (a few KB, to learn whether OCSP checks are possible); its
# primitives, most of its weight, are not.
WATCHED = {
    "psycopg": {"postgresql"},
    "sqlite3": {"sqlite"},
    "alembic": set(),
    "cryptography.hazmat": set(),
}


@pytest.fixture
def database(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        yield url


def test_a_worker_that_served_the_hot_requests_loads_only_what_they_need(
    backend, database
):
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
    # /readyz: 503, the schema is not Alembic's; then each request's own status.
    assert report["statuses"] == [503, 201, 200, 200, 200, 401, 200]
    expected = sorted(name for name, needs in WATCHED.items() if backend in needs)
    assert sorted(report["loaded"]) == expected
    assert report["migrate"] is False
