"""`flask import-legacy PATH`: import the original tutorial app's SQLite database.

The tutorial kept `users (id, public_id, name, password, admin)` and
`books (id, name, Author, Publisher, book_prize, user_id)`. Users keep their Werkzeug
password hashes (verified as legacy hashes and upgraded to argon2id at first login);
`book_prize` is read as a price in whole currency units (12 → "12.00"), the only
reading the integer column allows. The import is one transaction and idempotent.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from bookstore.auth.models import User
from bookstore.books.models import MAX_PRICE_CENTS, Book
from bookstore.extensions import db
from bookstore.security.passwords import USERNAME_PATTERN

if TYPE_CHECKING:
    import sqlite3

# Legacy public ids that are not UUIDs get a stable one derived from them, so a
# second run recognises the user it imported the first time.
LEGACY_NAMESPACE = uuid.UUID("6f1c1d0e-5b9a-4c55-9a7e-2f6f3b1f0a11")
LEGACY_HASH_PREFIXES = ("pbkdf2:", "scrypt:", "sha256$", "sha512$", "sha1$")
MAX_TEXT = 200


@dataclass
class Report:
    users_imported: int = 0
    users_present: int = 0
    books_imported: int = 0
    books_present: int = 0
    skipped: list[str] = field(default_factory=list)
    users_skipped: int = 0
    books_skipped: int = 0


class LegacyImportError(click.ClickException):
    """The file is not a readable tutorial database."""


def _read(path: Path) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
    import sqlite3  # here: a PostgreSQL worker would carry it for nothing (1 MiB)

    if not path.is_file():
        raise LegacyImportError(f"{path}: no such file.")
    try:  # read-only: the legacy file is never modified
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LegacyImportError(f"{path}: cannot open: {exc}") from None
    con.row_factory = sqlite3.Row
    try:
        users = con.execute(
            "SELECT id, public_id, name, password, admin FROM users ORDER BY id"
        ).fetchall()
        books = con.execute(
            "SELECT id, name, Author, Publisher, book_prize, user_id FROM books"
            " ORDER BY id"
        ).fetchall()
    except sqlite3.Error as exc:
        raise LegacyImportError(f"{path}: not a tutorial database: {exc}") from None
    finally:
        con.close()
    return users, books


def _public_id(raw) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return uuid.uuid5(LEGACY_NAMESPACE, str(raw))


def _user_problem(row: sqlite3.Row) -> str | None:
    name, password = row["name"], row["password"]
    if not isinstance(name, str) or not USERNAME_PATTERN.fullmatch(name):
        return "username breaks the rules (3-32 of A-Z a-z 0-9 _ . -)"
    if not isinstance(password, str) or len(password) > 255:
        return "password hash missing or malformed"
    if not password.startswith(LEGACY_HASH_PREFIXES):
        return "password hash in a format this service cannot verify"
    return None


def _book_fields(row: sqlite3.Row) -> tuple[dict | None, str | None]:
    texts = {}
    for key, column in (
        ("title", "name"),
        ("author", "Author"),
        ("publisher", "Publisher"),
    ):
        value = row[column]
        value = value.strip() if isinstance(value, str) else None
        if not value or len(value) > MAX_TEXT or "\x00" in value:
            return None, f"{column} missing, empty, too long or contains NUL"
        texts[key] = value
    prize = row["book_prize"]
    if isinstance(prize, float) and prize.is_integer():
        prize = int(prize)
    if not isinstance(prize, int) or not 0 <= prize * 100 <= MAX_PRICE_CENTS:
        return None, "book_prize missing or outside 0..1,000,000"
    return {**texts, "price_cents": prize * 100}, None


def import_database(path: Path) -> Report:
    """Import users and books from the tutorial database at `path`; commit once.

    Return a Report; raise LegacyImportError if the file cannot be read. Nothing is
    written unless everything is.
    """
    legacy_users, legacy_books = _read(path)
    report = Report()
    owners: dict[int, User] = {}  # legacy users.id -> user in this database
    seen_keys: set[str] = set()
    for row in legacy_users:
        label = f"user {row['id']} ({str(row['name'])[:40]!r})"
        problem = _user_problem(row)
        key = row["name"].lower() if problem is None else ""
        if problem is None and key in seen_keys:
            problem = "username repeats an earlier one (case-insensitively)"
        if problem is None:
            public_id = _public_id(row["public_id"])
            existing = db.session.scalar(
                sa.select(User).where(
                    sa.or_(User.username_key == key, User.public_id == public_id)
                )
            )
            if existing is None:
                existing = User(
                    public_id=public_id,
                    username=row["name"],
                    password_hash=row["password"],  # kept as is; upgraded at login
                    is_admin=bool(row["admin"]),
                )
                db.session.add(existing)
                report.users_imported += 1
            elif existing.username_key == key and existing.public_id == public_id:
                report.users_present += 1  # imported by an earlier run
            else:  # a different account already holds the name: never merge them
                problem = "username or public_id already belongs to another account"
        if problem is not None:
            report.users_skipped += 1
            report.skipped.append(f"{label}: {problem}; its books are skipped too")
            continue
        seen_keys.add(key)
        owners[row["id"]] = existing
    db.session.flush()

    wanted: dict[tuple, list[dict]] = {}
    for row in legacy_books:
        owner = owners.get(row["user_id"])
        fields, problem = _book_fields(row)
        if owner is None or problem is not None:
            report.books_skipped += 1
            reason = problem or "its owner was not imported"
            report.skipped.append(f"book {row['id']}: {reason}")
            continue
        key = (owner.id, *fields.values())
        wanted.setdefault(key, []).append({"owner": owner, **fields})
    present = _existing_books({key[0] for key in wanted})
    for key, books in wanted.items():
        # Identical legacy rows are distinct books; import only those not yet here.
        report.books_present += min(present[key], len(books))
        for book in books[present[key] :]:
            db.session.add(Book(**book))
            report.books_imported += 1
    db.session.commit()
    return report


def _existing_books(owner_ids: set[int]) -> Counter:
    rows = db.session.execute(
        sa.select(
            Book.owner_id, Book.title, Book.author, Book.publisher, Book.price_cents
        ).where(Book.owner_id.in_(owner_ids))
    )
    return Counter(tuple(row) for row in rows)


@click.command("import-legacy")
@click.argument("path", type=click.Path(path_type=Path))
@with_appcontext
def import_legacy(path: Path) -> None:
    """Import users and books from the original tutorial's SQLite database PATH."""
    try:
        report = import_database(path)
    except Exception:
        db.session.rollback()
        raise
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)
    click.echo(
        f"users: {report.users_imported} imported, {report.users_present} already "
        f"present, {report.users_skipped} skipped"
    )
    click.echo(
        f"books: {report.books_imported} imported, {report.books_present} already "
        f"present, {report.books_skipped} skipped"
    )
