"""Reading a listing page's rows: by position, by name, and dump_books.

    python -m bench.row_access [-n 5000] [--rounds 3]

Twenty rows of LISTED_COLUMNS (plus the page's total, as the listing selects
them) from an in-memory SQLite database, turned into the book objects four
ways; process CPU µs per page, best of 5, each way timed in turn per round.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from bookstore.books.models import Book
from bookstore.books.output import LISTED_COLUMNS, dump_books
from bookstore.extensions import db

OWNER = str(uuid.uuid4())


def by_position(rows: list) -> list[dict]:
    """dump_books before issue 15's item 10: unpacked in LISTED_COLUMNS' order."""
    return [
        {
            "id": public_id,
            "title": title,
            "author": author,
            "publisher": publisher,
            "price": f"{cents // 100}.{cents % 100:02d}",
            "isbn": isbn,
            "owner_id": OWNER,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        for (
            public_id,
            title,
            author,
            publisher,
            cents,
            isbn,
            created_at,
            updated_at,
            *_,
        ) in rows
    ]


def by_attribute(rows: list) -> list[dict]:
    """`row.title` on every row."""
    return [
        {
            "id": row.id,
            "title": row.title,
            "author": row.author,
            "publisher": row.publisher,
            "price": f"{row.price_cents // 100}.{row.price_cents % 100:02d}",
            "isbn": row.isbn,
            "owner_id": OWNER,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
        for row in rows
    ]


def by_mapping(rows: list) -> list[dict]:
    """`row._mapping["title"]` on every row."""
    books = []
    for row in rows:
        m = row._mapping
        cents = m["price_cents"]
        books.append(
            {
                "id": m["id"],
                "title": m["title"],
                "author": m["author"],
                "publisher": m["publisher"],
                "price": f"{cents // 100}.{cents % 100:02d}",
                "isbn": m["isbn"],
                "owner_id": OWNER,
                "created_at": m["created_at"],
                "updated_at": m["updated_at"],
            }
        )
    return books


def names_once(rows: list) -> list[dict]:
    """dump_books now: the names found once per page, then read by position."""
    return dump_books(rows, OWNER)


WAYS = (by_position, names_once, by_mapping, by_attribute)


def _rows() -> list:
    engine = sa.create_engine("sqlite://")
    db.metadata.create_all(engine)  # the books table's triggers need the others
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys = OFF")  # no users row
        connection.execute(
            Book.__table__.insert(),
            [
                {
                    "public_id": uuid.uuid4(),
                    "owner_id": 1,
                    "title": f"Book {i}",
                    "title_key": f"book {i}",
                    "author": "Frank Herbert",
                    "author_key": "frank herbert",
                    "publisher": "Chilton Books",
                    "publisher_key": "chilton books",
                    "price_cents": 999 + i,
                    "isbn": None,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(20)
            ],
        )
        total = sa.literal(20).label("shelf_total")
        return connection.execute(sa.select(*LISTED_COLUMNS, total)).all()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="pages per timing")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = _rows()
    expected = by_position(rows)
    assert all(way(rows) == expected for way in WAYS)
    for round_ in range(1, args.rounds + 1):
        cells = []
        for way in WAYS:
            best = float("inf")
            for _ in range(5):
                started = time.process_time()
                for _ in range(args.n):
                    way(rows)
                best = min(best, time.process_time() - started)
            cells.append(f"{way.__name__} {best / args.n * 1e6:6.1f}")
        print(f"round {round_}: " + "  ".join(cells) + "  (µs per 20-row page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
