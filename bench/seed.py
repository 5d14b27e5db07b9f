"""Seed data: users and tokens through the API, bulk books through the models.

Run as `python -m bench.seed books USERNAME COUNT` (the app's environment) to insert
COUNT books for USERNAME in batches; a per-row API call would take minutes at 100,000.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import sys
import uuid
from datetime import timedelta

from bench.procs import request

PASSWORD = "bench-password-not-common-7"
BATCH = 5000


def _json(port: int, method: str, path: str, payload: dict, headers=None):
    status, _, body = request(
        port,
        method,
        path,
        body=json.dumps(payload),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    return status, body


def bookstore_user(port: int, username: str) -> str:
    """Register `username` and log in; return an access token."""
    status, body = _json(
        port,
        "POST",
        "/api/v1/auth/register",
        {"username": username, "password": PASSWORD},
    )
    if status != 201:
        raise RuntimeError(f"register {username}: {status} {body[:200]!r}")
    status, body = _json(
        port,
        "POST",
        "/api/v1/auth/login",
        {"username": username, "password": PASSWORD},
    )
    if status != 200:
        raise RuntimeError(f"login {username}: {status} {body[:200]!r}")
    return json.loads(body)["access_token"]


def personal_access_token(port: int, access_token: str) -> str | None:
    """Mint a books:read personal access token; None if the app has no such endpoint."""
    status, body = _json(
        port,
        "POST",
        "/api/v1/auth/tokens",
        {"name": "bench", "scopes": ["books:read"]},
        {"Authorization": f"Bearer {access_token}"},
    )
    return json.loads(body)["token"] if status == 201 else None


def book_body(index: int) -> dict:
    return {
        "title": f"The Bench Book, volume {index}",
        "author": "Frank Herbert",
        "publisher": "Chilton Books",
        "price": "9.99",
    }


def tutorial_book(index: int) -> str:
    """A tutorial-app book as its POST /books body (its field names)."""
    return json.dumps(
        {
            "name": f"Book {index}",
            "author": "Frank Herbert",
            "publisher": "Chilton Books",
            "book_prize": 10,
        }
    )


def tutorial_user(port: int, username: str) -> str:
    """Register on the tutorial app and log in with HTTP Basic; return its token."""
    status, body = _json(
        port, "POST", "/register", {"name": username, "password": PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"tutorial register: {status} {body[:200]!r}")
    status, _, body = request(port, "POST", "/login", headers=basic(username))
    if status != 200:
        raise RuntimeError(f"tutorial login: {status} {body[:200]!r}")
    return json.loads(body)["token"]


def basic(username: str) -> dict:
    raw = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def tutorial_books(path: str, username: str, count: int) -> None:
    """Insert `count` books for `username` straight into the tutorial's SQLite file."""
    with sqlite3.connect(path) as conn:
        (user_id,) = conn.execute(
            "SELECT id FROM users WHERE name = ?", (username,)
        ).fetchone()
        conn.executemany(
            "INSERT INTO books (name, author, publisher, book_prize, user_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (f"Book {i}", "Frank Herbert", "Chilton Books", 10, user_id)
                for i in range(count)
            ),
        )


def bookstore_books(username: str, count: int) -> None:
    """Insert `count` books for `username` (the app from the environment)."""
    import sqlalchemy as sa

    from bookstore import clock, create_app
    from bookstore.auth.accounts import find_user
    from bookstore.books.models import Book
    from bookstore.extensions import db

    app = create_app()
    with app.app_context():
        owner_id = find_user(username).id
        now = clock.utcnow()
        for start in range(0, count, BATCH):
            rows = []
            for i in range(start, min(count, start + BATCH)):
                created = now - timedelta(seconds=count - i)
                rows.append(
                    {
                        "public_id": uuid.uuid4(),
                        "owner_id": owner_id,
                        "title": f"Seeded book {i}",
                        "author": f"Author {i % 997}",
                        "publisher": "Chilton Books",
                        "price_cents": 100 + i % 10_000,
                        "isbn": None,
                        "version": 1,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            db.session.execute(sa.insert(Book), rows)
            # Per batch: the book-count triggers make one huge transaction slow.
            db.session.commit()


if __name__ == "__main__":
    if sys.argv[1:2] != ["books"] or len(sys.argv) != 4:
        sys.exit("usage: python -m bench.seed books USERNAME COUNT")
    bookstore_books(sys.argv[2], int(sys.argv[3]))
