"""Page-1 latency of `GET /api/v1/books` with 100 and 100,000 books for one owner.

    python bench/listing_latency.py DATABASE_URL [--sizes 100,100000] [--requests 50]

DATABASE_URL names a server, not a database to fill: the script makes a throwaway
one next to it (a SQLite file in a temporary folder for `sqlite://`; `CREATE
DATABASE bookstore_bench_…` on PostgreSQL, so the role needs CREATEDB), builds the
schema with the migrations (indexes included), and drops it at the end; `--in-place`
uses the URL's own database instead (it must be empty). Books are bulk-inserted for
one owner (plus a tenth as many for a second owner, so the owner filter matters),
`ANALYZE` runs as autovacuum would, and each query is timed through the Flask test
client with a logged-in user: in-process, no network, no gunicorn, the whole Flask
stack (token check and session lookup included); "SQL p50" is the count and page
queries alone, run through the same service code; "CPU ms" is the CPU per request
of this process plus, on PostgreSQL, of the server processes serving the database
(same machine): unlike the latency, it does not grow while a loaded machine makes a
request wait for a core. `--json` prints the rows for the bench harness
(`measure()` returns them too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import sqlalchemy as sa
from sqlalchemy.engine import make_url

try:
    from bench import procs
except ImportError:  # run as a script: bench/ itself is on sys.path
    import procs

PASSWORD = "bench-listing-password-91"
BATCH = 10_000
# Every allowed sort, both directions for the default one, and each filter.
QUERIES = [
    "",  # default: -created_at
    "sort=created_at",
    "sort=title",
    "sort=-title",
    "sort=author",
    "sort=price",
    "sort=-price",
    "author=author%20417",
    "publisher=PUBLISHER%207",
    "q=volume%2012",  # 2,220 matches (plus the neighbour's)
    "q=author%2041",  # 1,101
    "q=volume%204321",  # 20: selective, yet most of its trigrams are in every title
    "q=zz",  # shorter than a trigram: the scan
    "min_price=10&max_price=20&sort=price",
    "page=5000",  # OFFSET: what cursor mode is for
]
# Cursor mode: page 1 (an empty cursor) and the page DEEP_PAGE pages in.
DEEP_QUERIES = ["", "sort=title", "sort=-author", "sort=price", "max_price=500"]
DEEP_PAGE = 5000


@contextlib.contextmanager
def scratch_database(url: str, in_place: bool = False) -> Iterator[str]:
    """Yield the URL of an empty database next to `url`; drop it afterwards."""
    if in_place:
        yield url
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bookstore-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    name = f"bookstore_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )
        admin.dispose()


def _app(url: str):
    from bookstore import create_app

    return create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=url,
        LOG_LEVEL="WARNING",  # one JSON log line per request would be timed too
        RATELIMIT_ENABLED=False,
    )


def _login(client, username: str) -> dict:
    for path in ("/api/v1/auth/register", "/api/v1/auth/login"):
        response = client.post(path, json={"username": username, "password": PASSWORD})
        assert response.status_code in (200, 201), response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def volume_corpus(i: int) -> tuple[str, str]:
    """Book i's title and author: one pattern, many duplicates (every title
    shares "volume of the bench", so most trigrams are in every row)."""
    return f"Volume {i % 5000} of the bench", f"Author {i % 997}"


def _seed(
    app, username: str, start: int, stop: int, corpus=volume_corpus, vacuum=True
) -> None:
    """Bulk-insert books start..stop-1 for `username`, titled and authored by
    `corpus(i)`; then (`vacuum`) VACUUM ANALYZE as autovacuum would."""
    from bookstore import clock
    from bookstore.auth.models import User
    from bookstore.books.models import Book
    from bookstore.extensions import db

    with app.app_context():
        owner_id = db.session.scalar(
            sa.select(User.id).where(User.username == username)
        )
        now = clock.utcnow()
        for first in range(start, stop, BATCH):
            rows = []
            for i in range(first, min(stop, first + BATCH)):
                created = now - timedelta(seconds=stop - i)
                title, author = corpus(i)
                rows.append(
                    {
                        "public_id": uuid.uuid4(),
                        "owner_id": owner_id,
                        "title": title,
                        "author": author,
                        "publisher": f"Publisher {i % 53}",
                        "price_cents": (i * 7919) % 100_000,
                        "isbn": None,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            db.session.execute(sa.insert(Book), rows)  # keys filled by column defaults
            # A commit per batch: PostgreSQL's per-owner counter row is then not
            # updated by 100,000 statements of one transaction (see BookCount).
            db.session.commit()
        # Statistics and (PostgreSQL) the visibility map, as autovacuum leaves them
        # after a bulk load; without it a count cannot be answered from an index.
        statement = "VACUUM ANALYZE" if db.engine.name == "postgresql" else "ANALYZE"
        if not vacuum:
            return
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sa.text(statement))


def _deep_cursor(app, query: str, pages: int) -> str:
    """The cursor of page `pages + 1` of `query`, walked through the service."""
    from bookstore.auth.models import User
    from bookstore.books import listing
    from bookstore.books.schemas import BookQuerySchema
    from bookstore.extensions import db

    args = BookQuerySchema().load(dict(parse_qsl(query)))
    cursor = ""
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "bench-owner"))
        for _ in range(pages):
            shelf = listing.list_books(user, **{**args, "cursor": cursor})
            cursor = shelf.page.next_cursor
            if cursor is None:
                break
        db.session.remove()
    return cursor or ""


def _cursor_rows(client, headers, size: int, requests: int, backends) -> list[dict]:
    pages = min(DEEP_PAGE, size // 20) - 1
    rows = []
    for query in DEEP_QUERIES:
        prefix = f"{query}&" if query else ""
        deep = _deep_cursor(client.application, query, pages)
        for label, cursor in (("cursor p1", ""), (f"cursor p{pages + 1}", deep)):
            row = _time(client, headers, f"{prefix}cursor={cursor}", requests, backends)
            row["query"] = f"{label} {query or '(default)'}"
            rows.append(row)
    return rows


def _time(client, headers: dict, query: str, requests: int, backends=None) -> dict:
    """Latency of `query`'s page 1, and CPU per request: this process's, plus on
    PostgreSQL the server's (`backends`). On a loaded machine the latency
    includes waiting for a core; the CPU does not."""
    path = f"/api/v1/books?{query}" if query else "/api/v1/books"
    for _ in range(5):  # warm-up: caches, prepared plans, pool
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    samples = []
    cpu, database = time.process_time(), backends.ticks() if backends else {}
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    cpu = (time.process_time() - cpu) * 1000
    if backends:
        cpu += procs.cpu_ms(database, backends.ticks())[0]
    samples.sort()
    sql = sorted(_time_sql(client.application, query, requests))
    return {
        "query": query or "(default) sort=-created_at",
        "items": len(response.json["items"]),
        "total": response.json["total"],
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2),
        "max_ms": round(samples[-1], 2),
        "sql_p50_ms": round(statistics.median(sql), 2),
        "cpu_ms": round(cpu / requests, 2),
    }


def _time_sql(app, query: str, requests: int) -> list[float]:
    """The database's share: page 1 with its total, no HTTP or JSON."""
    from flask import g

    from bookstore.auth.models import User
    from bookstore.auth.sessioncheck import Caller, SessionRef
    from bookstore.books import listing
    from bookstore.books.schemas import BookQuerySchema
    from bookstore.extensions import db

    args = BookQuerySchema().load(dict(parse_qsl(query)))
    samples = []
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "bench-owner"))
        caller = Caller(user.id, user.public_id, user.is_admin)
        # As the guard leaves it once the session check has run: the unfiltered
        # page then runs alone, without the check.
        g.current_session = SessionRef(0, uuid.uuid4(), caller)
        for _ in range(requests):
            started = time.perf_counter()
            listing.list_books(caller, **args)
            samples.append((time.perf_counter() - started) * 1000)
        db.session.remove()
    return samples


def started(url: str, scratch: str):
    """The app on the migrated `scratch` database (the real schema: migrations,
    indexes included), its test client, the owner's auth headers (a neighbour
    registered too), and on PostgreSQL the server processes whose CPU to count
    (found from `url`, the server's URL), else None."""
    import flask_migrate

    app = _app(scratch)
    backends = None
    if make_url(scratch).get_backend_name() == "postgresql":
        server = make_url(url).set(drivername="postgresql")
        backends = procs.Backends(
            server.render_as_string(hide_password=False), make_url(scratch).database
        )
    with app.app_context():
        flask_migrate.upgrade()
    client = app.test_client()
    headers = _login(client, "bench-owner")
    _login(client, "bench-neighbour")
    return app, client, headers, backends


def measure(
    url: str,
    sizes: list[int] = (100, 100_000),
    requests: int = 50,
    in_place: bool = False,
) -> list[dict]:
    """Seed up to each size in turn and time page 1 of every query; return rows."""
    from bookstore.extensions import db

    rows = []
    with scratch_database(url, in_place) as scratch:
        app, client, headers, backends = started(url, scratch)
        backend = make_url(scratch).get_backend_name()
        seeded = 0
        for size in sorted(sizes):
            _seed(app, "bench-owner", seeded, size)
            _seed(app, "bench-neighbour", seeded // 10, size // 10)
            seeded = size
            for query in QUERIES:
                row = _time(client, headers, query, requests, backends)
                rows.append({"backend": backend, "books": size, **row})
            for row in _cursor_rows(client, headers, size, requests, backends):
                rows.append({"backend": backend, "books": size, **row})
        with app.app_context():
            db.engine.dispose()
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table."""
    lines = [
        f"{'backend':<10} {'books':>7}  {'query':<38} {'total':>6} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'SQL p50':>8} {'CPU ms':>7}"
    ]
    for r in rows:
        lines.append(
            f"{r['backend']:<10} {r['books']:>7}  {r['query']:<38} {r['total']:>6} "
            f"{r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} {r['max_ms']:>7.2f}"
            f" {r['sql_p50_ms']:>8.2f} {r['cpu_ms']:>7.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--sizes", default="100,100000")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--in-place", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = measure(args.database_url, sizes, args.requests, args.in_place)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
