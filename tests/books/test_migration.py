import uuid

import flask_migrate
import pytest
import sqlalchemy as sa

from bookstore import create_app
from bookstore.extensions import db
from tests.databases import fresh_database


@pytest.fixture
def empty_database(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        yield url


def _insert_old_user(connection) -> None:
    connection.execute(
        sa.text(
            "INSERT INTO users (id, public_id, username, username_key,"
            " password_hash, is_admin, is_active, created_at, updated_at)"
            " VALUES (1, :uuid, 'old', 'old', 'x', :f, :t, :now, :now)"
        ),
        {"uuid": "0" * 32, "f": False, "t": True, "now": "2025-01-01 00:00:00"},
    )


def test_0003_fills_the_match_keys_of_existing_books(empty_database):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        flask_migrate.upgrade(revision="0002")
        with db.engine.begin() as connection:
            _insert_old_user(connection)
            connection.execute(
                sa.text(
                    "INSERT INTO books (public_id, owner_id, title, author, publisher,"
                    " price_cents, version, created_at, updated_at)"
                    " VALUES (:uuid, 1, 'Der Große Gatsby', 'ÉMILE', 'Ace',"
                    " 100, 1, :now, :now)"
                ),
                {"uuid": "1" * 32, "now": "2025-01-01 00:00:00"},
            )

        flask_migrate.upgrade()

        keys = db.session.execute(
            sa.text("SELECT title_key, author_key, publisher_key FROM books")
        ).one()
        assert tuple(keys) == ("der grosse gatsby", "émile", "ace")
        # The counter is backfilled, and the triggers survive the whole chain of
        # revisions (a later batch rebuild of `books` on SQLite would drop them).
        assert db.session.scalar(sa.text("SELECT sum(books) FROM book_counts")) == 1
        db.session.execute(
            sa.text(
                "INSERT INTO books (public_id, owner_id, title, author, publisher,"
                " title_key, author_key, publisher_key, price_cents, version,"
                " created_at, updated_at) VALUES (:uuid, 1, 't', 'a', 'p', 't', 'a',"
                " 'p', 1, 1, :now, :now)"
            ),
            {"uuid": "2" * 32, "now": "2025-01-01 00:00:00"},
        )
        db.session.execute(
            sa.text("DELETE FROM books WHERE title = 'Der Große Gatsby'")
        )
        db.session.execute(
            sa.text(
                "INSERT INTO users (id, public_id, username,"
                " username_key, password_hash, is_admin, is_active, created_at,"
                " updated_at) VALUES (2, :uuid, 'new', 'new', 'x', :f, :t, :now, :now)"
            ),
            {"uuid": "3" * 32, "f": False, "t": True, "now": "2025-01-01 00:00:00"},
        )
        db.session.execute(sa.text("UPDATE books SET owner_id = 2"))
        counts = db.session.execute(
            sa.text(
                "SELECT owner_id, sum(books) FROM book_counts"
                " GROUP BY owner_id ORDER BY owner_id"
            )
        ).all()
        assert [tuple(row) for row in counts] == [(1, 0), (2, 1)]
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def test_0004_indexes_the_books_that_exist_for_search(empty_database):
    from bookstore.auth.identity import Caller
    from bookstore.books import listing

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        flask_migrate.upgrade(revision="0003")
        with db.engine.begin() as connection:
            _insert_old_user(connection)
            connection.execute(
                sa.text(
                    "INSERT INTO books (public_id, owner_id, title, author, publisher,"
                    " title_key, author_key, publisher_key, price_cents, version,"
                    " created_at, updated_at) VALUES (:uuid, 1, 'Der Große Gatsby',"
                    " 'F. Scott', 'Ace', 'der grosse gatsby', 'f. scott', 'ace', 100,"
                    " 1, :now, :now)"
                ),
                {"uuid": "1" * 32, "now": "2025-01-01 00:00:00"},
            )

        flask_migrate.upgrade()

        caller = Caller(id=1, public_id=uuid.UUID("0" * 32), is_admin=False)
        shelf = listing.list_books(caller, q="GROSSE GAT")
        assert shelf.page.total == 1
        assert listing.list_books(caller, q="gatsbyx").page.total == 0
        db.session.remove()
        db.engine.dispose()


def _trigram_index_options() -> dict:
    from bookstore.books.search import TRIGRAM_INDEXES

    rows = db.session.execute(
        sa.text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:names)"),
        {"names": list(TRIGRAM_INDEXES)},
    )
    return {name: options for name, options in rows}


@pytest.mark.parametrize("built_by", ["migrations", "models"])
def test_trigram_indexes_keep_a_short_pending_list(backend, tmp_path, built_by):
    # A GIN index buffers new entries in a pending list that every search
    # reads in full; at the default 4 MB a search costs several times more
    # until vacuum merges it (bench/README.md, "Search latency per term").
    if backend != "postgresql":
        pytest.skip("pg_trgm GIN indexes: PostgreSQL only")
    with fresh_database(backend, tmp_path) as url:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            if built_by == "migrations":
                flask_migrate.upgrade()
            else:
                db.create_all()

            options = _trigram_index_options()

            db.session.remove()
            db.engine.dispose()
    assert options == {
        "ix_books_title_key_trgm": ["gin_pending_list_limit=64"],
        "ix_books_author_key_trgm": ["gin_pending_list_limit=64"],
    }
