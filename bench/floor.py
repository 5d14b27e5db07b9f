"""How far one PostgreSQL round trip per request lets any app get, here.

    python -m bench.floor [--rounds 5] [--seconds 3]

Starts, under the project's gunicorn config (2 sync workers) on fresh
PostgreSQL databases: Bookstore at the defaults (as `make bench`), the
bare-Flask ceiling, the tutorial app, and the floor app (bench/floor_app.py:
the ceiling's endpoint plus one prepared statement through libpq, Bookstore's
own list and get statements with their session check, for a seeded user; and
a create: the JSON body, Bookstore's one-statement create, a 201, with and
without the write limit's Redis script before it). Drives each with wrk in
interleaved rounds and prints, per round and as medians, each read's
throughput as a fraction of the ceiling's and each create's as a multiple of
the tutorial's, Bookstore's and the floor's side by side: the floor is what
the round trip alone leaves on this machine.
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
from bench.procs import cpu_ms, request
from bench.run import PG_ADMIN_URL, Bench

_NAMED = re.compile(r"%\((\w+)\)s")


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _numbered(read, params: dict) -> tuple[str, list[str | None], list[str]]:
    """`read` (a reads.Read) compiled for psycopg, its %(name)s parameters as
    $n, its parameter values for `params` as text (None: NULL), and their names
    in that order."""
    compiled = read.compiled(postgresql.psycopg.dialect())
    values = compiled.parameters(params)
    order: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    sql = _NAMED.sub(number, compiled.sql)
    texts = [None if values[name] is None else str(values[name]) for name in order]
    return sql, texts, order


def statements(
    token: str, book_id: str, per_page: int, body: dict, owner_id: int
) -> dict:
    """Bookstore's list, get and create statements (with the session check) for
    the token's user (row id `owner_id`), and the create's INSERT alone, as the
    floor app runs them: [sql, parameters, rows, the parameters given a fresh
    uuid per request]."""
    import uuid
    from decimal import Decimal

    from bookstore import clock
    from bookstore.auth.sessioncheck import SESSION
    from bookstore.books import creates, listing, services
    from bookstore.books.models import NewBook
    from bookstore.reads import Read
    from config import Config

    claims = _claims(token)
    check = {"sub": uuid.UUID(claims["sub"]), "sid": uuid.UUID(claims["sid"])}
    page = listing._UNFILTERED_PAGE["-created_at"]._read_with(SESSION)
    book = services._BOOK_BY_ID._read_with(SESSION)
    sql, params, _ = _numbered(page, {"limit": per_page, "offset": 0, **check})
    found = {"list": [sql, params, per_page, []]}
    sql, params, _ = _numbered(book, {"book_id": uuid.UUID(book_id), **check})
    found["get"] = [sql, params, 1, []]
    fields = {**body, "price": Decimal(body["price"])}
    new = NewBook.of(None, clock.utcnow(), **fields)
    values = {key: getattr(new, key) for key in creates._INSERTED if key != "owner_id"}
    room_below = Config().MAX_BOOKS_PER_USER - creates.ROOM_MARGIN
    created = {**values, **check, "now": clock.utcnow(), "room_below": room_below}
    sql, params, names = _numbered(Read(creates._CREATE_CHECKED), created)
    found["create"] = [sql, params, 1, [names.index("public_id")]]
    plain = {**values, "owner_id": owner_id}
    sql, params, names = _numbered(Read(creates._INSERT), plain)
    found["insert"] = [sql, params, 1, [names.index("public_id")]]  # RETURNING id
    return found


def _owner_id(dsn: str, token: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        sub = _claims(token)["sub"]
        return conn.execute(
            "SELECT id FROM users WHERE public_id = %s", [sub]
        ).fetchone()[0]


BOOKS = "/api/v1/books"
LIST = f"{BOOKS}?page=1&per_page=20"


def _write_limit(env: dict) -> list:
    """The keys and arguments (but the time) of the write limit's script for
    the floor's own user, under Bookstore's limits (bookstore/write_limits.py)."""
    from limits import parse_many

    items = parse_many(env["RATELIMIT_WRITES_PER_USER"])
    prefix = f"{env['RATELIMIT_KEY_PREFIX']}-floor"
    keys = [f"LIMITS:{item.key_for(prefix, 'writes-per-user', 'f')}" for item in items]
    args = [value for item in items for value in (item.amount, item.get_expiry())]
    return [keys, args]


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
        tutorial = bench.tutorial_app("pg")
        created = seed.book_body(0)
        floor_env = {
            **env,
            "FLOOR_DSN": dsn,
            "FLOOR_STATEMENTS": json.dumps(
                statements(token, book_id, 20, created, _owner_id(dsn, token))
            ),
            "FLOOR_REDIS_URL": store.env["RATELIMIT_STORAGE_URI"],
            "FLOOR_LIMIT": json.dumps(_write_limit(store.env)),
        }
        floor = bench.start("floor", "bench.floor_app:app", floor_env, "/floor/get")
        for server in (bare, floor, tutorial):
            server.wait_ready()
        tutorial_token = seed.tutorial_user(tutorial.port, "floor")
        json_ct = {"Content-Type": "application/json"}
        body = json.dumps(created)
        runs = {
            "ceiling": (bare, "GET", "/bare", {}, None),
            "floor list": (floor, "GET", "/floor/list", {}, None),
            "Bookstore list": (store, "GET", LIST, auth, None),
            "floor get": (floor, "GET", "/floor/get", {}, None),
            "Bookstore get": (store, "GET", f"/api/v1/books/{book_id}", auth, None),
            "tutorial create": (
                tutorial,
                "POST",
                "/books",
                {"x-access-tokens": tutorial_token, **json_ct},
                seed.tutorial_book(0),
            ),
            "floor insert": (floor, "POST", "/floor/insert", json_ct, body),
            "floor create": (floor, "POST", "/floor/create", json_ct, body),
            "floor create+limit": (
                floor,
                "POST",
                "/floor/create_limited",
                json_ct,
                body,
            ),
            "Bookstore create": (store, "POST", BOOKS, {**auth, **json_ct}, body),
        }
        for name, (server, method, path, headers, data) in runs.items():
            status, _, answer = request(server.port, method, path, data, headers)
            if status not in (200, 201):
                raise SystemExit(f"{name}: {status} {answer[:200]!r}")
        rps = {name: [] for name in runs}
        cpu = {name: [] for name in runs}
        for round_ in range(args.rounds):
            names = list(runs)
            names = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in names:
                server, method, path, headers, data = runs[name]
                url = f"http://127.0.0.1:{server.port}{path}"
                before = server.cpu_ticks()
                summary = load.run(
                    bench.wrk,
                    url,
                    args.seconds,
                    method=method,
                    body=data,
                    headers=headers,
                )
                if summary["errors"]["status"]:
                    raise SystemExit(f"{name}: {summary['errors']['status']} errors")
                rps[name].append(summary["requests"] / (summary["duration_us"] / 1e6))
                used = cpu_ms(before, server.cpu_ticks())[0]
                cpu[name].append(used / max(summary["requests"], 1))
    finally:
        for server in bench.servers:
            server.stop()
        bench.drop_pg()
    ceiling, tutorial_rps = rps.pop("ceiling"), rps.pop("tutorial create")
    print(
        f"PostgreSQL ({PG_ADMIN_URL.rsplit('@', 1)[-1]}), {args.rounds} rounds of "
        f"{args.seconds} s, wrk 16 connections, 2 sync workers each; medians: "
        f"ceiling {statistics.median(ceiling):,.0f} req/s "
        f"({statistics.median(cpu['ceiling']):.2f} ms worker CPU per request), "
        f"tutorial create {statistics.median(tutorial_rps):,.0f} req/s "
        f"({statistics.median(cpu['tutorial create']):.2f} ms)"
    )
    for name, values in rps.items():
        base, unit = (
            (tutorial_rps, "tutorial")
            if runs[name][1] == "POST"
            else (ceiling, "ceiling")
        )
        ratios = [value / top for value, top in zip(values, base, strict=True)]
        print(
            f"{name:18} {statistics.median(values):8,.0f} req/s  "
            f"{statistics.median(cpu[name]):5.2f} ms CPU  "
            f"x {unit:8} {statistics.median(ratios):.2f} "
            f"(rounds {' '.join(f'{r:.2f}' for r in ratios)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
