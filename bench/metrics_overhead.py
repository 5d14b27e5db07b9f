"""The per-request cost of /metrics on the hot path: the authenticated list with
METRICS_ENABLED off and on, two otherwise identical servers, rounds interleaved.

`make bench-metrics` (or `python -m bench.metrics_overhead [--rounds N]
[--seconds S]`). Same gunicorn config and wrk load as `make bench`; prints worker
CPU ms per request for each and the difference as a share of the list's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench import load, seed
from bench.procs import Server, cpu_ms, request
from bench.run import _python, bookstore_env

LIST = "/api/v1/books?page=1&per_page=20"


def _server(tmp: Path, name: str, metrics: bool) -> Server:
    env = bookstore_env(f"sqlite:///{tmp / name}.sqlite3", secrets.token_hex(32))
    env["METRICS_ENABLED"] = "true" if metrics else "false"
    _python(["-m", "flask", "--app", "wsgi", "db", "upgrade"], {**os.environ, **env})
    server = Server(name, "wsgi:app", env, tmp, "/healthz")
    server.start()
    return server


def _seed(server: Server) -> dict:
    token = seed.bookstore_user(server.port, "bench_list")
    auth = {"Authorization": f"Bearer {token}"}
    for i in range(100):
        status, _, body = request(
            server.port,
            "POST",
            "/api/v1/books",
            body=json.dumps(seed.book_body(i)),
            headers={**auth, "Content-Type": "application/json"},
        )
        if status != 201:
            raise RuntimeError(f"seed book: {status} {body[:200]!r}")
    return auth


def _measure(wrk, server: Server, auth: dict, seconds: int) -> float:
    before = server.cpu_ticks()
    summary = load.run(
        wrk, f"http://127.0.0.1:{server.port}{LIST}", seconds, headers=auth
    )
    used, same = cpu_ms(before, server.cpu_ticks())
    if not same or summary["errors"]["status"]:
        raise RuntimeError(f"{server.name}: workers restarted or non-200 answers")
    return used / summary["requests"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bookstore-bench-metrics-"))
    servers = {}
    try:
        servers = {"off": _server(tmp, "off", False), "on": _server(tmp, "on", True)}
        for server in servers.values():
            server.wait_ready()
        auth = {name: _seed(server) for name, server in servers.items()}
        wrk = load.ensure_wrk()
        cpu = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, server in servers.items():
                cpu[name].append(_measure(wrk, server, auth[name], args.seconds))
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    off, on = (statistics.median(cpu[name]) for name in ("off", "on"))
    print(f"authenticated list, SQLite, {args.rounds} rounds x {args.seconds} s")
    for name in ("off", "on"):
        rounds = " ".join(f"{v:.3f}" for v in cpu[name])
        middle = statistics.median(cpu[name])
        print(f"  metrics {name:3}: median {middle:.3f} CPU ms/req ({rounds})")
    print(f"  overhead: {on - off:+.3f} ms/req = {(on - off) / off:+.1%} of the list")
    return 0


if __name__ == "__main__":
    sys.exit(main())
