"""Worker memory under gunicorn, as `make bench` measures it, in about a minute.

Starts Bookstore the way bench/run.py does (the project's gunicorn.conf.py, 2
sync workers, BOOKSTORE_ENV=production, the per-request log line on, rate
limiting with its counters in Redis) on a fresh, migrated database; sends a few
hundred requests of each kind from a few client threads (so both workers serve
them); prints the RSS, PSS and USS of the master and each worker, from
/proc/<pid>/smaps_rollup, after boot and after the load.

    python -m bench.memory                      # SQLite
    python -m bench.memory --db pg              # PostgreSQL (BENCH_PG_URL)
    python -m bench.memory -n 500 --json out.json
    python -m bench.memory list get             # only these kinds of request
    python -m bench.memory --env METRICS_ENABLED=true   # any setting on top

RSS counts every page the process maps, shared ones (libraries, and with
preloading the pages inherited from the master) in full; PSS divides shared
pages among the processes sharing them; USS is the process's own pages only:
what stopping it would give back.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import seed
from bench.listing_latency import scratch_database
from bench.procs import ROOT, Server, memory_mib, request
from bench.run import bookstore_env

PG_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
).replace("postgresql://", "postgresql+psycopg://", 1)
KINDS = (
    "register_login",
    "list",
    "get",
    "create",
    "list_pat",
    "invalid_token",
    "healthz",
    "metrics",
    "openapi",
    "docs",
)
# Not in the default set (figures stay comparable): cursor pages load
# cryptography's AES-SIV into the worker that serves them.
EXTRA_KINDS = ("cursor",)


def _migrate(env: dict) -> None:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _calls(port: int, run: str) -> dict:
    """Seed one user with 100 books; return each kind's request function."""
    token = seed.bookstore_user(port, f"mem_{run}")
    auth = {"Authorization": f"Bearer {token}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    for i in range(100):
        request(port, "POST", "/api/v1/books", json.dumps(seed.book_body(i)), json_auth)
    _, _, body = request(port, "GET", "/api/v1/books?page=1&per_page=20", None, auth)
    book = json.loads(body)["items"][0]["id"]
    pat = seed.personal_access_token(port, token)
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    counter = iter(range(10**9))

    def register_login():
        seed.bookstore_user(port, f"mem_{run}_{next(counter)}")
        return 200

    def get(path, headers=None, expect=200):
        return lambda: _expect(request(port, "GET", path, None, headers), expect)

    def create():
        body = json.dumps(seed.book_body(0))
        return _expect(request(port, "POST", "/api/v1/books", body, json_auth), 201)

    def cursor():  # the first cursor page (sealed), then the next (opened)
        path = "/api/v1/books?per_page=20&cursor="
        _, _, body = request(port, "GET", path, None, auth)
        after = json.loads(body)["next_cursor"]
        return _expect(request(port, "GET", path + after, None, auth), 200)

    return {
        "register_login": register_login,
        "list": get("/api/v1/books?page=1&per_page=20", auth),
        "get": get(f"/api/v1/books/{book}", auth),
        "create": create,
        "list_pat": get(
            "/api/v1/books?page=1&per_page=20", {"Authorization": f"Bearer {pat}"}
        ),
        "invalid_token": get(
            "/api/v1/books", {"Authorization": f"Bearer {forged}"}, 401
        ),
        "healthz": get("/healthz"),
        # 404 unless METRICS_ENABLED (off by default, as an operator runs it).
        "metrics": get("/metrics", None, None),
        "openapi": get("/api/v1/openapi.json"),
        "docs": get("/api/v1/docs/"),
        "cursor": cursor,
    }


def _expect(response, status: int | None) -> int:
    if status is not None and response[0] != status:
        raise RuntimeError(f"expected {status}, got {response[0]}: {response[2][:200]}")
    return response[0]


def _load(calls: dict, kinds: list[str], n: int, threads: int) -> None:
    """`n` requests of each kind, interleaved, from `threads` clients."""
    jobs = [calls[kind] for _ in range(n) for kind in kinds]
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda call: call(), jobs):
            pass


def _snapshot(server: Server) -> dict:
    pids = {"master": server.proc.pid}
    pids.update({f"worker {i}": pid for i, pid in enumerate(server.workers(), 1)})
    return {name: {"pid": pid, **memory_mib(pid)} for name, pid in pids.items()}


def _mappings(pid: int, top: int) -> list[tuple[str, float, float]]:
    """The `top` largest files (and [heap], [anon]) in `pid`'s RSS: (name, RSS,
    private MiB), from /proc/<pid>/smaps."""
    totals: dict[str, list[float]] = {}
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            name = head[5] if len(head) > 5 else "[anon]"
            continue
        if head[0] in ("Rss:", "Private_Clean:", "Private_Dirty:"):
            slot = totals.setdefault(name, [0.0, 0.0])
            slot[head[0] != "Rss:"] += int(head[1]) / 1024
    largest = sorted(totals.items(), key=lambda item: -item[1][0])[:top]
    return [(name, rss, private) for name, (rss, private) in largest]


def _print(title: str, snapshot: dict) -> None:
    print(f"\n{title}\n{'process':10} {'pid':>8} {'RSS':>7} {'PSS':>7} {'USS':>7}")
    for name, m in snapshot.items():
        print(
            f"{name:10} {m['pid']:>8} {m['rss']:7.1f} {m['pss']:7.1f} {m['uss']:7.1f}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "kinds",
        nargs="*",
        help=f"default: all of {', '.join(KINDS)}; also {', '.join(EXTRA_KINDS)}",
    )
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("-n", type=int, default=300, help="requests of each kind")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a setting"
    )
    parser.add_argument(
        "--maps", type=int, default=0, metavar="N", help="worker 1's N largest maps"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.kinds = args.kinds or list(KINDS)
    if unknown := set(args.kinds) - set(KINDS) - set(EXTRA_KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    extra = dict(item.split("=", 1) for item in args.env)
    run = secrets.token_hex(4)
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        scratch_database(PG_URL if args.db == "pg" else "sqlite://") as url,
    ):
        env = {
            **bookstore_env(url, secrets.token_hex(32)),
            # n registrations from one address: raise only that bound.
            "RATELIMIT_REGISTER": "1000000/hour",
            **extra,
        }
        _migrate(env)
        server = Server(f"memory-{args.db}", "wsgi:app", env, Path(tmp), "/healthz")
        server.start()
        try:
            server.wait_ready()
            time.sleep(1)  # both workers past their post-fork hooks
            booted = _snapshot(server)
            calls = _calls(server.port, run)
            started = time.monotonic()
            _load(calls, args.kinds, args.n, args.threads)
            took = time.monotonic() - started
            after = _snapshot(server)
            maps = _mappings(after["worker 1"]["pid"], args.maps) if args.maps else []
        except BaseException:
            sys.stderr.write(server.logfile.read_text(errors="replace")[-4000:])
            raise
        finally:
            server.stop()
    settings = " ".join(f"{k}={v}" for k, v in extra.items()) or "defaults"
    print(f"bench.memory: {args.db}, {settings}; MiB from smaps_rollup")
    _print("after boot", booted)
    kinds = "all" if args.kinds == list(KINDS) else ", ".join(args.kinds)
    load = f"after {args.n} requests of each kind ({kinds}; {took:.0f} s)"
    _print(load, after)
    if maps:
        print(f"\nworker 1's largest mappings\n{'RSS':>7} {'private':>7}  file")
        for name, rss, private in maps:
            print(f"{rss:7.1f} {private:7.1f}  {name}")
    if args.json:
        figures = {"db": args.db, "env": extra, "kinds": args.kinds, "n": args.n}
        figures.update(booted=booted, after=after)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
