"""Known vs unknown addresses at `POST /api/v1/auth/password-reset`, under gunicorn.

    python bench/reset_timing.py DATABASE_URL [--requests 100] [--floor-ms 100]

Starts a loopback SMTP server (aiosmtpd) and `gunicorn wsgi:app` (production
settings, 2 sync workers, the project's gunicorn.conf.py, so the sender threads run
and deliver while it measures) on a throwaway database next to DATABASE_URL (see
listing_latency.py), registers one user with an address, then sends interleaved
requests for that address and for addresses nobody has, one at a time over fresh
connections, and prints the median and p90 of each and their ratio. `--floor-ms 0`
shows what the response-time floor hides. `--json` prints the figures.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from bench.listing_latency import scratch_database
from bench.procs import Server, free_port, request

RESET = "/api/v1/auth/password-reset"


def _migrate(url: str) -> None:
    import flask_migrate

    from bookstore import create_app
    from bookstore.extensions import db

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


def _post(port: int, path: str, body: dict) -> tuple[int, float]:
    started = time.perf_counter()
    status, _, _ = request(
        port, "POST", path, json.dumps(body), {"Content-Type": "application/json"}
    )
    return status, time.perf_counter() - started


def measure(url: str, *, requests: int, floor_ms: int) -> dict:
    smtp_port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    with scratch_database(url) as database, tempfile.TemporaryDirectory() as logs:
        _migrate(database)
        server = Server(
            "reset-timing",
            "wsgi:app",
            {
                "BOOKSTORE_ENV": "production",
                "SECRET_KEY": secrets.token_hex(32),
                "DATABASE_URL": database,
                "RATELIMIT_ENABLED": "false",
                "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "PASSWORD_RESET_MIN_RESPONSE_MS": str(floor_ms),
            },
            Path(logs),
            "/healthz",
        )
        server.start()
        try:
            server.wait_ready()
            user = {
                "username": "alice",
                "password": "bench passphrase 7",
                "email": "a@x.io",
            }
            assert _post(server.port, "/api/v1/auth/register", user)[0] == 201
            for i in range(10):  # warm both workers' paths
                _post(server.port, RESET, {"email": "a@x.io" if i % 2 else "w@x.io"})
            timings: dict[str, list[float]] = {"known": [], "unknown": []}
            for i in range(requests):
                for kind, email in (("known", "a@x.io"), ("unknown", f"n{i}@x.io")):
                    status, elapsed = _post(server.port, RESET, {"email": email})
                    assert status == 202, status
                    timings[kind].append(elapsed * 1000)
        finally:
            server.stop()
            smtp.stop()
    result = {"backend": url.split(":")[0], "floor_ms": floor_ms, "requests": requests}
    for kind, values in timings.items():
        result[f"{kind}_p50_ms"] = round(statistics.median(values), 2)
        result[f"{kind}_p90_ms"] = round(statistics.quantiles(values, n=10)[-1], 2)
    result["p50_ratio"] = round(result["known_p50_ms"] / result["unknown_p50_ms"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--floor-ms", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.database_url, requests=args.requests, floor_ms=args.floor_ms)
    print(
        json.dumps(result)
        if args.json
        else "\n".join(f"{k}: {v}" for k, v in result.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
