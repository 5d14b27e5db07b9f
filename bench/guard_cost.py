"""CPU cost of the guard's check: a login access token vs a personal access token.

`python -m bench.guard_cost [DATABASE_URL]` (default: a temporary SQLite file; a
PostgreSQL URL must name an empty database). In one process, interleaved rounds:
the JWT path (tokens.decode + the session query) against the `bks_` path
(auth/pats/guard.authenticate), for GET /api/v1/books; prints µs per check.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask import request

from bookstore import create_app
from bookstore.auth import sessioncheck
from bookstore.auth.pats import guard
from bookstore.extensions import db
from bookstore.security import tokens

PASSWORD = "bench-password-not-common-7"
ROUNDS, CALLS = 7, 3000


def _tokens(client) -> tuple[str, str]:
    credentials = {"username": "guard_bench", "password": PASSWORD}
    client.post("/api/v1/auth/register", json=credentials)
    access = client.post("/api/v1/auth/login", json=credentials).json["access_token"]
    pat = client.post(
        "/api/v1/auth/tokens",
        json={"name": "bench", "scopes": ["books:read"]},
        headers={"Authorization": f"Bearer {access}"},
    ).json["token"]
    return access, pat


def _per_call(check) -> float:
    started = time.process_time()
    for _ in range(CALLS):
        check()
    return (time.process_time() - started) / CALLS * 1e6


def main(url: str) -> None:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, LOG_LEVEL="WARNING")
    with app.app_context():
        db.create_all()
    access, pat = _tokens(app.test_client())

    def login_token():
        claims = tokens.decode(access, tokens.ACCESS)
        sessioncheck.check_now(claims["sub"], claims["sid"])

    def personal_token():
        guard.authenticate(pat)

    with app.test_request_context("/api/v1/books"):
        adapter = app.url_map.bind("localhost")
        request.url_rule, request.view_args = adapter.match(
            "/api/v1/books", return_rule=True
        )
        runs: dict[str, list[float]] = {"login": [], "pat": []}
        for _ in range(ROUNDS):
            runs["login"].append(_per_call(login_token))
            runs["pat"].append(_per_call(personal_token))
    with app.app_context():
        db.drop_all()
        db.engine.dispose()
    for name, values in runs.items():
        print(f"{name:6} {statistics.median(values):8.1f} µs per check (median)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(f"sqlite:///{Path(tmp) / 'guard.sqlite3'}")
