import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bookstore.auth.models import User
from bookstore.books.models import Book
from bookstore.extensions import db


def _user(name: str) -> User:
    return User(username=name, password_hash="x")


def test_usernames_are_unique_case_insensitively(app):
    with app.app_context():
        db.session.add(_user("Alice"))
        db.session.commit()
        db.session.add(_user("aLICE"))

        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_deleting_a_user_deletes_their_books(app):
    with app.app_context():
        owner = _user("owner")
        db.session.add(
            Book(owner=owner, title="t", author="a", publisher="p", price_cents=999)
        )
        db.session.commit()

        db.session.execute(sa.delete(User).where(User.id == owner.id))
        db.session.commit()

        assert db.session.scalar(sa.select(sa.func.count()).select_from(Book)) == 0


def test_a_book_needs_an_existing_owner(app):
    with app.app_context():
        db.session.add(
            Book(owner_id=987654, title="t", author="a", publisher="p", price_cents=1)
        )

        with pytest.raises(IntegrityError):  # SQLite too: foreign keys are enforced
            db.session.commit()
        db.session.rollback()


def test_price_cents_is_range_checked_by_the_database(app):
    with app.app_context():
        db.session.add(
            Book(owner=_user("o"), title="t", author="a", publisher="p", price_cents=-1)
        )

        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_isbn_is_unique_per_owner_only(app):
    with app.app_context():
        first, second = _user("first"), _user("second")
        for owner in (first, second):
            db.session.add(
                Book(
                    owner=owner,
                    title="t",
                    author="a",
                    publisher="p",
                    price_cents=1,
                    isbn="9780441013593",
                )
            )
        db.session.commit()
        db.session.add(
            Book(
                owner=first,
                title="t2",
                author="a",
                publisher="p",
                price_cents=1,
                isbn="9780441013593",
            )
        )

        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_sqlite_runs_in_wal_mode(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite-only pragma")
    with app.app_context():
        assert db.session.scalar(sa.text("PRAGMA journal_mode")) == "wal"
        assert db.session.scalar(sa.text("PRAGMA foreign_keys")) == 1
