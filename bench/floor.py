"""How far one PostgreSQL round trip per request lets any app get, here.

    python -m bench.floor [--rounds 5] [--seconds 3]

Starts, under the project's gunicorn config (2 sync workers) on one fresh
PostgreSQL database: Bookstore at the defaults (as `make bench`), the bare-Flask
ceiling, and the floor app (bench/floor_app.py: the ceiling's endpoint plus one
prepared statement through libpq, Bookstore's own list and get statements with
their session check, for a seeded user). Drives each with wrk in interleaved
rounds and prints, per round and as medians, each read's throughput as a
fraction of the ceiling's, Bookstore's and the floor's side by side: the floor
is what the round trip alone leaves of the ceiling on this machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import statistics
import sys
from argparse import Namespace

from sqlalchemy.dialects import postgresql

from bench import load, seed
from bench.procs import request
from bench.run import PG_ADMIN_URL, Bench

_NAMED = re.compile(r"%\((\w+)\)s")


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _numbered(read, params: dict) -> tuple[str, list[str]]:
    """`read` (a reads.Read) compiled for psycopg, its %(name)s parameters as
    $n, and its parameter values for `params` as text."""
    compiled = read.compiled(postgresql.psycopg.dialect())
    values = compiled.parameters(params)
    order: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    sql = _NAMED.sub(number, compiled.sql)
    return sql, [str(values[name]) for name in order]


def statements(token: str, book_id: str, per_page: int) -> dict:
    """Bookstore's list and get statements (with the session check) for the
    token's user, as the floor app runs them."""
    import uuid

    from bookstore.auth.sessioncheck import SESSION
    from bookstore.books import listing, services

    claims = _claims(token)
    check = {"sub": uuid.UUID(claims["sub"]), "sid": uuid.UUID(claims["sid"])}
    page = listing._UNFILTERED_PAGE["-created_at"]._read_with(SESSION)
    book = services._BOOK_BY_ID._read_with(SESSION)
    listed = _numbered(page, {"limit": per_page, "offset": 0, **check})
    got = _numbered(book, {"book_id": uuid.UUID(book_id), **check})
    return {"list": [*listed, per_page], "get": [*got, 1]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args(argv)
    bench = Bench(
        Namespace(smoke=True, rounds=args.rounds, seconds=args.seconds, profile=False)
    )
    bench.wrk = load.ensure_wrk()
    try:
        store = bench.bookstore("pg")
        store.wait_ready()
        token = seed.bookstore_user(store.port, "floor")
        auth = {"Authorization": f"Bearer {token}"}
        for i in range(25):
            body = json.dumps(seed.book_body(i))
            headers = {**auth, "Content-Type": "application/json"}
            status, _, _ = request(store.port, "POST", "/api/v1/books", body, headers)
            assert status == 201, status
        _, _, body = request(store.port, "GET", "/api/v1/books?per_page=20", None, auth)
        page = json.loads(body)
        book_id, size = page["items"][0]["id"], len(body)
        dsn = store.env["DATABASE_URL"].replace("postgresql+psycopg", "postgresql")
        env = {"BARE_BYTES": str(size)}
        bare = bench.start("bare", "bench.bare_app:app", env, "/bare")
        floor_env = {
            **env,
            "FLOOR_DSN": dsn,
            "FLOOR_STATEMENTS": json.dumps(statements(token, book_id, 20)),
        }
        floor = bench.start("floor", "bench.floor_app:app", floor_env, "/floor/get")
        bare.wait_ready()
        floor.wait_ready()
        runs = {
            "ceiling": (bare, "/bare", {}),
            "floor list": (floor, "/floor/list", {}),
            "Bookstore list": (store, "/api/v1/books?page=1&per_page=20", auth),
            "floor get": (floor, "/floor/get", {}),
            "Bookstore get": (store, f"/api/v1/books/{book_id}", auth),
        }
        for name, (server, path, headers) in runs.items():
            status, _, body = request(server.port, "GET", path, None, headers)
            if status != 200:
                raise SystemExit(f"{name}: {status} {body[:200]!r}")
        rps = {name: [] for name in runs}
        for round_ in range(args.rounds):
            names = list(runs)
            names = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in names:
                server, path, headers = runs[name]
                url = f"http://127.0.0.1:{server.port}{path}"
                summary = load.run(bench.wrk, url, args.seconds, headers=headers)
                if summary["errors"]["status"]:
                    raise SystemExit(f"{name}: {summary['errors']['status']} errors")
                rps[name].append(summary["requests"] / (summary["duration_us"] / 1e6))
    finally:
        for server in bench.servers:
            server.stop()
        bench.drop_pg()
    ceiling = rps.pop("ceiling")
    print(
        f"PostgreSQL ({PG_ADMIN_URL.rsplit('@', 1)[-1]}), {args.rounds} rounds of "
        f"{args.seconds} s, wrk 16 connections, 2 sync workers each; "
        f"ceiling median {statistics.median(ceiling):,.0f} req/s"
    )
    for name, values in rps.items():
        ratios = [value / top for value, top in zip(values, ceiling, strict=True)]
        print(
            f"{name:15} {statistics.median(values):8,.0f} req/s  "
            f"x ceiling {statistics.median(ratios):.2f} "
            f"(rounds {' '.join(f'{r:.2f}' for r in ratios)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
