"""Books: each owned by one user, priced in integer minor units."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bookstore.auth.models import _now
from bookstore.extensions import db

if TYPE_CHECKING:
    from bookstore.auth.models import User

MAX_PRICE_CENTS = 100_000_000  # 1,000,000.00


class Book(db.Model):
    __tablename__ = "books"
    __table_args__ = (
        sa.UniqueConstraint("owner_id", "isbn"),
        sa.CheckConstraint(
            f"price_cents >= 0 AND price_cents <= {MAX_PRICE_CENTS}",
            name="price_cents_range",
        ),
        # The default listing: one owner's books, newest first, id as tiebreak.
        sa.Index("ix_books_owner_id_created_at", "owner_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # never leaves the database
    public_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200))
    author: Mapped[str] = mapped_column(sa.String(200))
    publisher: Mapped[str] = mapped_column(sa.String(200))
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

    __mapper_args__ = {"version_id_col": version}

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_cents).scaleb(-2)

    @price.setter
    def price(self, value: Decimal) -> None:
        self.price_cents = int(value.scaleb(2))  # schemas allow at most 2 places

    def __repr__(self) -> str:
        return f"<Book {self.public_id} {self.title!r}>"
