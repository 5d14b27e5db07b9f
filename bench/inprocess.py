"""In-process microbenchmark: Flask's wsgi_app called directly, best of N.

For judging a change on a busy machine, where wrk's absolute figures wander:
no sockets, no gunicorn, one process. Production settings, the per-request
log line on (stderr sent to /dev/null while timing) unless --log-off.

    python -m bench.inprocess                       # SQLite, every scenario
    python -m bench.inprocess --db pg list get      # PostgreSQL (BENCH_PG_URL)
    python -m bench.inprocess --db pg list list_pat # login vs personal access token
    python -m bench.inprocess --log-pair healthz    # log line on and off, alternating
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from werkzeug.test import EnvironBuilder

from bench import seed

SCENARIOS = (
    "bare",
    "healthz",
    "list",
    "list_pat",
    "get",
    "get_pat",
    "invalid_token",
    "create",
)
# What each scenario must answer (in its environ): a run that measured errors
# is refused.
EXPECTED = {"invalid_token": "401", "create": "201"}
EXPECT_KEY = "bench.expect"
PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def _database(kind: str, tmp: Path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'inprocess.sqlite3'}"
        return
    import psycopg

    name = f"bookstore_inproc_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+psycopg://"
    )
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _app(url: str):
    import subprocess

    from bookstore import create_app

    os.environ.update(
        BOOKSTORE_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=url,
        RATELIMIT_STORAGE_URI=os.environ.get(
            "BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"
        ),
        RATELIMIT_KEY_PREFIX=f"bench-inproc-{secrets.token_hex(4)}",
        # As bench/run.py: the write limit still counts every create in Redis,
        # but so high that the create scenario measures 201s, not 429s.
        RATELIMIT_WRITES_PER_USER="1000000/minute",
    )
    # In a child: Alembic's logging configuration would stay in this process.
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return create_app("production")


def _requests(app) -> dict[str, dict]:
    """Seed a user with 100 books; return each scenario's WSGI environ."""
    client = app.test_client()
    body = {"username": "inproc", "password": seed.PASSWORD}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    token = client.post("/api/v1/auth/login", json=body).json["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    for i in range(100):
        client.post("/api/v1/books", json=seed.book_body(i), headers=auth)
    page = client.get("/api/v1/books?page=1&per_page=20", headers=auth).json
    minted = client.post(
        "/api/v1/auth/tokens",
        json={"name": "bench", "scopes": ["books:read"]},
        headers=auth,
    ).json
    pat = {"Authorization": f"Bearer {minted['token']}"}
    assert client.get("/api/v1/books", headers=pat).status_code == 200
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    shapes = {
        "healthz": ("GET", "/healthz", {}, None),
        "list": ("GET", "/api/v1/books?page=1&per_page=20", auth, None),
        "list_pat": ("GET", "/api/v1/books?page=1&per_page=20", pat, None),
        "get": ("GET", f"/api/v1/books/{page['items'][0]['id']}", auth, None),
        "get_pat": ("GET", f"/api/v1/books/{page['items'][0]['id']}", pat, None),
        "invalid_token": (
            "GET",
            "/api/v1/books",
            {"Authorization": f"Bearer {forged}"},
            None,
        ),
        "create": (
            "POST",
            "/api/v1/books",
            {**auth, "Content-Type": "application/json"},
            json.dumps(seed.book_body(0)).encode(),
        ),
    }
    environs = {"bare": EnvironBuilder(path="/bare").get_environ()}
    for name, (method, path, headers, data) in shapes.items():
        builder = EnvironBuilder(path=path, method=method, headers=headers, data=data)
        environs[name] = builder.get_environ()
        environs[name]["REMOTE_ADDR"] = "127.0.0.1"
    for name, environ in environs.items():
        environ[EXPECT_KEY] = EXPECTED.get(name, "200")
    return environs


def _bare_app(size: int):
    os.environ["BARE_BYTES"] = str(size)
    from bench.bare_app import app

    return app


def _timer(app, environ: dict, n: int) -> float:
    """CPU microseconds per request over `n` requests (the process's CPU time:
    less disturbed by other processes than the wall clock on a shared machine).
    Every answer must have the status the scenario expects (EXPECT_KEY)."""
    import io

    source = environ["wsgi.input"]
    source.seek(0)  # every call replays the whole body (warm-up, then each repeat)
    body = source.read()
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    wsgi = app.wsgi_app
    started = time.process_time()
    for _ in range(n):
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        for _chunk in wsgi(env, start_response):
            pass
    elapsed = time.process_time() - started
    expected = environ.get(EXPECT_KEY)
    if expected is None:  # an environ built elsewhere: at least no server error
        assert not any(s.startswith("5") for s in status), set(status)
    else:
        assert all(s.startswith(expected) for s in status), set(status)
    return elapsed / n * 1e6


@contextlib.contextmanager
def _stderr_to_null():
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("-n", type=int, default=2000, help="requests per repeat")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many")
    parser.add_argument("--log-off", action="store_true", help="LOG_LEVEL=WARNING")
    parser.add_argument(
        "--log-pair",
        action="store_true",
        help="time each scenario with the log line on and off, alternating",
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-inproc-") as tmp,
        _database(args.db, Path(tmp)) as url,
    ):
        app = _app(url)
        with _stderr_to_null():
            environs = _requests(app)
            bare = _bare_app(6000)
        apps = {name: bare if name == "bare" else app for name in args.scenarios}
        logger = logging.getLogger("bookstore")
        modes = ["on", "off"] if args.log_pair else ["off" if args.log_off else "on"]
        best = {(s, m): float("inf") for s in args.scenarios for m in modes}
        with _stderr_to_null():
            for name in args.scenarios:
                _timer(apps[name], environs[name], max(50, args.n // 10))  # warm up
            for _ in range(args.repeat):
                for name in args.scenarios:
                    for mode in modes:
                        level = logging.INFO if mode == "on" else logging.WARNING
                        logger.setLevel(level)
                        took = _timer(apps[name], environs[name], args.n)
                        best[name, mode] = min(best[name, mode], took)
        for name in args.scenarios:
            cells = "  ".join(f"log {m}: {best[name, m]:7.1f} µs" for m in modes)
            print(f"{args.db:6} {name:14} {cells}")
        app.extensions["sqlalchemy"]  # noqa: B018 - the app stays alive to here
        from bookstore.extensions import db

        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
