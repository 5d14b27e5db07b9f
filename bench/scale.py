"""Does one user's listing stay flat as the database grows to 1,000,000 books?

    python -m bench.scale [DATABASE_URL] [--users 10000] [--books 1000000] [--json]

DATABASE_URL (default $BENCH_PG_URL, else the local postgres) names a PostgreSQL
server; the script makes a throwaway database next to it (the role needs CREATEDB
and may create the pg_trgm extension), builds the schema with the migrations, and
drops it at the end. `make bench-scale` runs it; it takes a few minutes and is not
part of CI.

One user ("bench-owner") has 100 books. Their page 1 and a cursor page (page 3 of
20, reached by cursor) are timed in two databases: one holding only their books,
and one where COPY has also loaded the other users and books (1,000,000 books
across 10,000 users in all, as many per user as the owner has), each VACUUM
ANALYZEd as autovacuum would (the large load runs with the secondary indexes
dropped and then rebuilt from their definitions, as a bulk load would). The two
are timed in alternating rounds so that a shared machine's drifting load hits
both alike. Each figure is the median over
rounds of the in-process p50 of a `GET /books` through the Flask test client
(token check included; see listing_latency.py) and of its SQL alone; the targets
are the 1,000,000-book figures within 1.5x of the 100-book ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.listing_latency import _app, _deep_cursor, _login, _time, scratch_database

OWNER_BOOKS = 100
CURSOR_PAGE = 3  # reached by cursor: two next_cursor hops from the start
QUERIES = ["", "sort=title"]
LIMIT = 1.5
DEFAULT_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BOOK_COLUMNS = (
    "public_id, owner_id, title, author, publisher, title_key, author_key,"
    " publisher_key, price_cents, version, created_at, updated_at"
)


def _copy_books(app, owners: list[int], per_owner: int, start: datetime) -> None:
    """COPY `per_owner` books for each owner, interleaved in creation time."""
    from bookstore.books.models import fold
    from bookstore.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                cursor.execute(
                    "SET statement_timeout = 0"
                )  # a bulk load, not a request
                copy_sql = f"COPY books ({BOOK_COLUMNS}) FROM STDIN"
                with cursor.copy(copy_sql) as copy:
                    tick = 0
                    for _ in range(per_owner):
                        for owner_id in owners:
                            tick += 1
                            title = f"Volume {tick % 5000} of the scale bench"
                            author = f"Author {tick % 997}"
                            publisher = f"Publisher {tick % 53}"
                            moment = start + timedelta(milliseconds=tick)
                            copy.write_row(
                                (
                                    uuid.uuid4(),
                                    owner_id,
                                    title,
                                    author,
                                    publisher,
                                    fold(title),
                                    fold(author),
                                    fold(publisher),
                                    (tick * 7919) % 100_000,
                                    1,
                                    moment,
                                    moment,
                                )
                            )
            raw.commit()
        finally:
            raw.close()


def _without_indexes(app, load) -> None:
    """Run `load()` with the books table's secondary indexes dropped, then build
    them again from their own definitions: a bulk build is many times faster
    than a million index insertions (GIN above all), and the schema ends as the
    migrations made it."""
    from bookstore.extensions import db

    with app.app_context():
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sa.text("SET statement_timeout = 0"))
            connection.execute(sa.text("SET maintenance_work_mem = '256MB'"))
            indexes = connection.execute(
                sa.text(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE tablename = 'books' AND indexname NOT IN"
                    " (SELECT conname FROM pg_constraint"
                    "  WHERE conrelid = 'books'::regclass)"
                )
            ).all()
            for name, _ in indexes:
                connection.execute(sa.text(f'DROP INDEX "{name}"'))
            load()
            for _, definition in indexes:
                connection.execute(sa.text(definition))


def _copy_users(app, count: int) -> list[int]:
    """COPY `count` users (a shared, unusable password hash); return their ids."""
    from bookstore.extensions import db

    now = datetime.now(UTC)
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                columns = (
                    "public_id, username, username_key, password_hash,"
                    " is_admin, is_active, created_at, updated_at"
                )
                with cursor.copy(f"COPY users ({columns}) FROM STDIN") as copy:
                    for i in range(count):
                        name = f"scale-user-{i}"
                        copy.write_row(
                            (uuid.uuid4(), name, name, "!", False, True, now, now)
                        )
                cursor.execute(
                    "SELECT id FROM users WHERE username LIKE 'scale-user-%'"
                    " ORDER BY id"
                )
                ids = [row[0] for row in cursor.fetchall()]
            raw.commit()
        finally:
            raw.close()
    return ids


def _vacuum(app) -> None:
    from bookstore.extensions import db

    with app.app_context():
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sa.text("SET statement_timeout = 0"))
            connection.execute(sa.text("VACUUM ANALYZE"))


def _paths(client) -> list[tuple[str, str]]:
    """(label, query) of what is timed: page 1 and the cursor page, per sort."""
    paths = []
    for query in QUERIES:
        prefix = f"{query}&" if query else ""
        deep = _deep_cursor(client.application, query, CURSOR_PAGE - 1)
        paths.append((f"page 1 {query or '(default)'}", query))
        paths.append(
            (
                f"cursor page {CURSOR_PAGE} {query or '(default)'}",
                f"{prefix}cursor={deep}",
            )
        )
    return paths


def _shelf(url: str, others: int, per_owner: int):
    """A migrated database with the owner's books and `others` users' books;
    return (app, client, headers, books)."""
    import flask_migrate

    from bookstore.auth.models import User
    from bookstore.extensions import db

    app = _app(url)
    with app.app_context():
        flask_migrate.upgrade()
    client = app.test_client()
    headers = _login(client, "bench-owner")
    with app.app_context():
        owner = db.session.scalar(
            sa.select(User.id).where(User.username == "bench-owner")
        )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    _copy_books(app, [owner], OWNER_BOOKS, start)
    if others:
        ids = _copy_users(app, others)
        _without_indexes(
            app, lambda: _copy_books(app, ids, per_owner, start + timedelta(days=1))
        )
    _vacuum(app)
    return app, client, headers, OWNER_BOOKS + others * per_owner


def measure(url: str, users: int, books: int, requests: int, rounds: int) -> dict:
    """Two databases, small and large, timed in alternating rounds (the machine's
    load drifts: each ratio pairs figures taken minutes apart at most)."""
    from bookstore.extensions import db

    others = users - 1
    per_owner = (books - OWNER_BOOKS) // others
    with scratch_database(url) as small_url, scratch_database(url) as large_url:
        small = _shelf(small_url, 0, 0)
        started = time.perf_counter()
        large = _shelf(large_url, others, per_owner)
        seed_s = round(time.perf_counter() - started, 1)
        cells: dict[tuple[int, str], list[dict]] = {}
        for _ in range(rounds):
            for _, client, headers, total in (small, large):
                for label, query in _paths(client):
                    row = _time(client, headers, query, requests)
                    cells.setdefault((total, label), []).append(row)
        for app, *_ in (small, large):
            with app.app_context():
                db.engine.dispose()
    rows = []
    for (total, label), samples in cells.items():
        rows.append(
            {
                "books": total,
                "query": label,
                "total": samples[0]["total"],
                **{
                    key: round(statistics.median(s[key] for s in samples), 2)
                    for key in ("p50_ms", "p95_ms", "max_ms", "sql_p50_ms")
                },
            }
        )
    half = len(rows) // 2
    ratios = [
        {
            "query": a["query"],
            "p50_ratio": round(b["p50_ms"] / a["p50_ms"], 2),
            "sql_p50_ratio": round(b["sql_p50_ms"] / a["sql_p50_ms"], 2),
        }
        for a, b in zip(rows[:half], rows[half:], strict=True)
    ]
    return {"rows": rows, "ratios": ratios, "seed_s": seed_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--books", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(
        args.database_url, args.users, args.books, args.requests, args.rounds
    )
    result["run_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from bench.listing_latency import table

        print(table([{"backend": "postgresql", **row} for row in result["rows"]]))
        print(f"\nseeding {result['seed_s']} s, whole run {result['run_s']} s")
        for r in result["ratios"]:
            met = r["p50_ratio"] <= LIMIT and r["sql_p50_ratio"] <= LIMIT
            print(
                f"{r['query']:<30} at 1M / at 100: request {r['p50_ratio']:.2f}x,"
                f" SQL {r['sql_p50_ratio']:.2f}x  (target <= {LIMIT}x: "
                f"{'met' if met else 'MISSED'})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
