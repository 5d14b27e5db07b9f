"""Books, each owned by one user and priced in integer minor units, and the
idempotency records of `POST /books`."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from bookstore.auth.models import _now
from bookstore.extensions import db

if TYPE_CHECKING:
    from bookstore.auth.models import User

MAX_PRICE_CENTS = 100_000_000  # 1,000,000.00
TEXT_MAX = 200
# casefold() can turn one character into up to three ("ΐ"): room for 200 of those.
KEY_MAX = 3 * TEXT_MAX


def fold(text: str) -> str:
    """The case-insensitive match key of `text`, identical on every database.

    SQLite's lower() folds ASCII only, so the keys are computed here, stored, and
    indexed; filters and the title/author sorts use them.
    """
    return unicodedata.normalize("NFC", text.casefold())


def _fold_default(source: str):
    """Column default for Core inserts that bypass the ORM's validators."""

    def default(context) -> str | None:
        value = context.get_current_parameters().get(source)
        return None if value is None else fold(value)

    return default


def to_cents(price: Decimal) -> int:
    """A price as integer cents (the schemas allow at most 2 decimal places)."""
    return int(price.scaleb(2))


def book_etag(public_id: uuid.UUID | str, version: int) -> str:
    """A book's strong entity tag (unquoted), from its public id (a UUID or its
    canonical text) and version: changes whenever the book does."""
    seed = f"book:v1:{public_id}:{version}".encode()
    return hashlib.sha256(seed).hexdigest()[:32]


class Book(db.Model):
    __tablename__ = "books"
    __table_args__ = (
        sa.UniqueConstraint("owner_id", "isbn"),
        sa.CheckConstraint(
            f"price_cents >= 0 AND price_cents <= {MAX_PRICE_CENTS}",
            name="price_cents_range",
        ),
        # One index per allowed sort, each ending in the id tiebreak, so page 1 of
        # any listing is an index range scan (read backwards for "-sort").
        sa.Index("ix_books_owner_id_created_at", "owner_id", "created_at", "id"),
        # author_key trails: the `q` filter (title or author) can then count from
        # this index alone instead of visiting every row of the owner's.
        sa.Index(
            "ix_books_owner_id_title_key", "owner_id", "title_key", "id", "author_key"
        ),
        sa.Index("ix_books_owner_id_author_key", "owner_id", "author_key", "id"),
        sa.Index("ix_books_owner_id_price_cents", "owner_id", "price_cents", "id"),
        # The case-insensitive exact publisher filter (author's is the index above),
        # ordered for the default sort: few publishers means many matches.
        sa.Index(
            "ix_books_owner_id_publisher_key",
            "owner_id",
            "publisher_key",
            "created_at",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # never leaves the database
    public_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    author: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    publisher: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    title_key: Mapped[str] = mapped_column(
        sa.String(KEY_MAX), default=_fold_default("title")
    )
    author_key: Mapped[str] = mapped_column(
        sa.String(KEY_MAX), default=_fold_default("author")
    )
    publisher_key: Mapped[str] = mapped_column(
        sa.String(KEY_MAX), default=_fold_default("publisher")
    )
    # Exact money: integer cents in the database, Decimal in Python, string on the wire.
    price_cents: Mapped[int] = mapped_column(sa.BigInteger)
    isbn: Mapped[str | None] = mapped_column(sa.String(13))
    # Bumped on every update; the ETag and the optimistic-concurrency guard.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now, onupdate=_now
    )

    owner: Mapped[User] = relationship()  # no back-reference: auth does not know books

    # UPDATE/DELETE ... WHERE id = ? AND version = ?: a stale writer matches no row.
    __mapper_args__ = {"version_id_col": version}

    @validates("title", "author", "publisher")
    def _set_key(self, name: str, value: str) -> str:
        setattr(self, f"{name}_key", fold(value))
        return value

    @property
    def etag(self) -> str:
        """Strong entity tag (unquoted): changes whenever the book does."""
        return book_etag(self.public_id, self.version)

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_cents).scaleb(-2)

    @price.setter
    def price(self, value: Decimal) -> None:
        self.price_cents = to_cents(value)

    def __repr__(self) -> str:
        return f"<Book {self.public_id} {self.title!r}>"


@dataclass(slots=True)
class NewBook:
    """A book about to be INSERTed as one Core statement: every column's value
    but `id`, as plain attributes, the derived ones (the case-folded keys, the
    price in cents) set as Book's validators and price setter set them.

    An ORM Book built only to read its attributes back for the INSERT was a
    visible share of a create's CPU (instance state, attribute events,
    validators; figures: bench/README.md); tests/books/test_new_book.py holds
    this to Book.
    """

    public_id: uuid.UUID
    owner_id: int | None  # None until the INSERT takes it from the session check
    title: str
    author: str
    publisher: str
    title_key: str
    author_key: str
    publisher_key: str
    price_cents: int
    isbn: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls,
        owner_id: int | None,
        now: datetime,
        *,
        title: str,
        author: str,
        publisher: str,
        price: Decimal,
        isbn: str | None = None,
    ) -> NewBook:
        """The book for the loaded fields of a create (BookSchema's)."""
        return cls(
            public_id=uuid.uuid4(),
            owner_id=owner_id,
            title=title,
            author=author,
            publisher=publisher,
            title_key=fold(title),
            author_key=fold(author),
            publisher_key=fold(publisher),
            price_cents=to_cents(price),
            isbn=isbn,
            version=1,
            created_at=now,
            updated_at=now,
        )

    @property
    def etag(self) -> str:
        return book_etag(self.public_id, self.version)


class BookCount(db.Model):
    """How many books each user owns, kept by triggers on `books`.

    The unfiltered listing reads its total here instead of counting 100,000 index
    entries; triggers (not the services) keep it, so bulk inserts, the legacy
    import and ON DELETE CASCADE keep it right too.
    """

    __tablename__ = "book_counts"

    owner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # An owner's count is the sum over up to 64 slots. PostgreSQL writes a random
    # slot: one row updated by every statement of a 100,000-row bulk load in one
    # transaction would grow a version chain each update must walk (quadratic);
    # concurrent creates also contend less. SQLite uses slot 0.
    slot: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    books: Mapped[int] = mapped_column(sa.BigInteger)


_COUNTS = BookCount.__table__
# An owner's total: the sum of their counter slots (0 for no row).
SHELF_TOTAL = sa.select(sa.func.coalesce(sa.func.sum(_COUNTS.c.books), 0)).where(
    _COUNTS.c.owner_id == sa.bindparam("owner_id")
)

# The trigger DDL; migration 0003 holds a frozen copy of the same statements.
COUNT_TRIGGERS = {
    "sqlite": [
        """CREATE TRIGGER book_counts_insert AFTER INSERT ON books BEGIN
            INSERT INTO book_counts (owner_id, slot, books)
            VALUES (NEW.owner_id, 0, 1)
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = books + 1;
        END""",
        """CREATE TRIGGER book_counts_delete AFTER DELETE ON books BEGIN
            UPDATE book_counts SET books = books - 1
            WHERE owner_id = OLD.owner_id AND slot = 0;
        END""",
        """CREATE TRIGGER book_counts_move AFTER UPDATE OF owner_id ON books
        WHEN NEW.owner_id IS NOT OLD.owner_id BEGIN
            UPDATE book_counts SET books = books - 1
            WHERE owner_id = OLD.owner_id AND slot = 0;
            INSERT INTO book_counts (owner_id, slot, books)
            VALUES (NEW.owner_id, 0, 1)
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = books + 1;
        END""",
    ],
    # Statement-level with transition tables: one counter update per INSERT
    # statement (a 1,000-row batch), not per row, so bulk loads stay linear.
    "postgresql": [
        """CREATE OR REPLACE FUNCTION book_counts_add() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            INSERT INTO book_counts AS c (owner_id, slot, books)
            SELECT owner_id, floor(random() * 64), count(*)
            FROM new_books GROUP BY owner_id
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = c.books + EXCLUDED.books;
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION book_counts_remove() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            UPDATE book_counts AS c SET books = c.books - gone.n
            FROM (SELECT owner_id, count(*) AS n FROM old_books GROUP BY owner_id)
                AS gone
            WHERE c.owner_id = gone.owner_id AND c.slot = (
                SELECT min(slot) FROM book_counts WHERE owner_id = gone.owner_id);
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION book_counts_move() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            UPDATE book_counts SET books = books - 1
            WHERE owner_id = OLD.owner_id AND slot = (
                SELECT min(slot) FROM book_counts WHERE owner_id = OLD.owner_id);
            INSERT INTO book_counts AS c (owner_id, slot, books)
            VALUES (NEW.owner_id, 0, 1)
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = c.books + 1;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER book_counts_insert AFTER INSERT ON books
        REFERENCING NEW TABLE AS new_books
        FOR EACH STATEMENT EXECUTE FUNCTION book_counts_add()""",
        """CREATE TRIGGER book_counts_delete AFTER DELETE ON books
        REFERENCING OLD TABLE AS old_books
        FOR EACH STATEMENT EXECUTE FUNCTION book_counts_remove()""",
        """CREATE TRIGGER book_counts_move AFTER UPDATE OF owner_id ON books
        FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
        EXECUTE FUNCTION book_counts_move()""",
    ],
}
for _dialect, _statements in COUNT_TRIGGERS.items():
    for _statement in _statements:  # db.create_all() (the tests) gets them too
        sa.event.listen(
            db.metadata, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect)
        )


class IdempotencyKey(db.Model):
    """One `Idempotency-Key` a user sent to `POST /books`, and the answer it got.

    Written in the same transaction as the book it created, so another request
    with the same key sees either nothing or the finished response.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "key"),  # the real guard against doubles
        sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(255))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))  # sha256 of the body
    status_code: Mapped[int]
    response_body: Mapped[str] = mapped_column(sa.Text)
    response_headers: Mapped[str] = mapped_column(sa.Text)  # JSON object
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<IdempotencyKey user={self.user_id} {self.key!r}>"
