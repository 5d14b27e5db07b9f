import hashlib
import hmac
import sqlite3

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from bookstore.auth.models import User
from bookstore.books.models import Book
from bookstore.extensions import db

# The original tutorial app's tables, as Flask-SQLAlchemy created them.
TUTORIAL_SCHEMA = """
CREATE TABLE users (
    id INTEGER NOT NULL,
    public_id INTEGER,
    name VARCHAR(50),
    password VARCHAR(50),
    admin BOOLEAN,
    PRIMARY KEY (id)
);
CREATE TABLE books (
    id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    name VARCHAR(50) NOT NULL,
    "Author" VARCHAR(50) NOT NULL,
    "Publisher" VARCHAR(50) NOT NULL,
    book_prize INTEGER,
    PRIMARY KEY (id),
    UNIQUE (name),
    FOREIGN KEY(user_id) REFERENCES users (id)
);
"""
ALICE_PUBLIC_ID = "0b8f7a52-3c1d-4e55-9d2a-8f1e6c7b9a01"


def _old_werkzeug_sha256(password: str, salt: str = "Xy7pQ2aZ") -> str:
    """What Werkzeug < 2.3 stored for generate_password_hash(pw, method='sha256')."""
    mac = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
    return f"sha256${salt}${mac}"


@pytest.fixture
def legacy_db(tmp_path):
    path = tmp_path / "tutorial.db"
    con = sqlite3.connect(path)
    con.executescript(TUTORIAL_SCHEMA)
    con.executemany(
        "INSERT INTO users (id, public_id, name, password, admin) VALUES (?,?,?,?,?)",
        [
            (1, ALICE_PUBLIC_ID, "alice", _old_werkzeug_sha256("alice-old-pass"), 1),
            (2, "7", "bob", generate_password_hash("bob-old-pass"), 0),
            (3, "x1", "carol smith", generate_password_hash("carol-pass"), 0),
            (4, "x2", "ALICE", generate_password_hash("alice-twin-pass"), 0),
            (5, "x3", "dave", "plaintext-password", 0),
        ],
    )
    con.executemany(
        "INSERT INTO books (id, user_id, name, Author, Publisher, book_prize)"
        " VALUES (?,?,?,?,?,?)",
        [
            (1, 1, "Dune", "Frank Herbert", "Chilton", 12),
            (2, 1, "Emma", "Jane Austen", "Murray", 0),
            (3, 2, "Ulysses", "James Joyce", "Shakespeare and Co", 30),
            (4, 3, "Carol's Book", "Carol", "Self", 5),  # owner skipped
            (5, 2, "Free?", "Nobody", "Nowhere", None),  # no price
            (6, 2, "Too dear", "Rich", "Gold", 2_000_000),  # above the maximum
            (7, 9, "Orphan", "Ghost", "Void", 1),  # no such user
        ],
    )
    con.commit()
    con.close()
    return path


def _counts(app):
    with app.app_context():
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        books = db.session.scalar(sa.select(sa.func.count()).select_from(Book))
    return users, books


def test_import_legacy_brings_users_and_books_and_reports_skips(app, runner, legacy_db):
    result = runner.invoke(args=["import-legacy", str(legacy_db)])

    assert result.exit_code == 0, result.output
    assert "users: 2 imported, 0 already present, 3 skipped" in result.output
    assert "books: 3 imported, 0 already present, 4 skipped" in result.output
    assert "user 3 ('carol smith'): username breaks the rules" in result.output
    assert "user 4 ('ALICE'): username repeats" in result.output
    assert "user 5 ('dave'): password hash in a format" in result.output
    assert "plaintext-password" not in result.output
    with app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.username == "alice"))
        assert str(alice.public_id) == ALICE_PUBLIC_ID
        assert alice.is_admin is True
        assert alice.password_hash.startswith("sha256$")
        books = {
            (b.title, b.author, b.publisher, b.price_cents, b.owner.username)
            for b in db.session.scalars(sa.select(Book))
        }
    assert books == {
        ("Dune", "Frank Herbert", "Chilton", 1200, "alice"),
        ("Emma", "Jane Austen", "Murray", 0, "alice"),
        ("Ulysses", "James Joyce", "Shakespeare and Co", 3000, "bob"),
    }


def test_import_legacy_twice_imports_nothing_new(app, runner, legacy_db):
    runner.invoke(args=["import-legacy", str(legacy_db)])
    before = _counts(app)

    result = runner.invoke(args=["import-legacy", str(legacy_db)])

    assert result.exit_code == 0, result.output
    assert "users: 0 imported, 2 already present, 3 skipped" in result.output
    assert "books: 0 imported, 3 already present, 4 skipped" in result.output
    assert _counts(app) == before == (2, 3)


def test_import_legacy_keeps_identical_rows_as_separate_books_once(
    app, runner, legacy_db
):
    con = sqlite3.connect(legacy_db)  # names are unique there; trimmed, the same
    con.execute(
        "INSERT INTO books VALUES (8, 1, 'Dune ', 'Frank Herbert', 'Chilton', 12)"
    )
    con.commit()
    con.close()

    runner.invoke(args=["import-legacy", str(legacy_db)])
    runner.invoke(args=["import-legacy", str(legacy_db)])

    with app.app_context():
        dunes = db.session.scalar(
            sa.select(sa.func.count()).select_from(Book).where(Book.title == "Dune")
        )
    assert dunes == 2


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "alice-old-pass"), ("bob", "bob-old-pass")],
)
def test_imported_user_logs_in_with_old_password_and_hash_is_upgraded(
    app, client, runner, legacy_db, username, password
):
    runner.invoke(args=["import-legacy", str(legacy_db)])

    wrong = client.post(
        "/api/v1/auth/login", json={"username": username, "password": "nope-nope"}
    )
    response = client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )

    assert wrong.status_code == 401
    assert response.status_code == 200, response.json
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        assert user.password_hash.startswith("$argon2id$")
    again = client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert again.status_code == 200


def test_import_legacy_skips_name_taken_by_another_account(
    app, client, runner, register, legacy_db
):
    register("bob")  # a new account that happens to have a tutorial user's name

    result = runner.invoke(args=["import-legacy", str(legacy_db)])

    assert result.exit_code == 0, result.output
    assert "user 2 ('bob'): username or public_id already belongs" in result.output
    with app.app_context():
        bob = db.session.scalar(sa.select(User).where(User.username == "bob"))
        assert not bob.password_hash.startswith("pbkdf2:")
        owned = db.session.scalar(
            sa.select(sa.func.count()).select_from(Book).where(Book.owner_id == bob.id)
        )
    assert owned == 0  # the legacy bob's books never land on the new bob


def test_import_legacy_is_one_transaction(app, runner, legacy_db, monkeypatch):
    from bookstore import legacy

    def explode(owner_ids):
        raise RuntimeError("boom after the users were flushed")

    monkeypatch.setattr(legacy, "_existing_books", explode)

    result = runner.invoke(args=["import-legacy", str(legacy_db)])

    assert result.exit_code != 0
    assert _counts(app) == (0, 0)


@pytest.mark.parametrize("content", [None, b"not a database at all" * 100])
def test_import_legacy_refuses_a_file_that_is_not_a_tutorial_database(
    app, runner, tmp_path, content
):
    path = tmp_path / "other.db"
    if content is not None:
        path.write_bytes(content)

    result = runner.invoke(args=["import-legacy", str(path)])

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert _counts(app) == (0, 0)
