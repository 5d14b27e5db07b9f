"""`flask --app wsgi demo`: a demo user with a shelf of real books, for a first look."""

from __future__ import annotations

import os
from decimal import Decimal

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from bookstore.auth import accounts
from bookstore.auth.identity import Caller
from bookstore.auth.models import User
from bookstore.books import creates as books
from bookstore.books.models import Book
from bookstore.errors import APIError
from bookstore.extensions import db

USERNAME = "demo"
# A published password: the command refuses to run in production.
DEFAULT_PASSWORD = "demo shelf of classics"

# (title, author, publisher, price, ISBN-13): real books with their real ISBNs.
BOOKS = [
    ("Dune", "Frank Herbert", "Ace Books", "9.99", "9780441013593"),
    ("Pride and Prejudice", "Jane Austen", "Penguin Classics", "7.50", "9780141439518"),
    ("Nineteen Eighty-Four", "George Orwell", "Penguin Books", "8.99", "9780141036144"),
    (
        "To Kill a Mockingbird",
        "Harper Lee",
        "Harper Perennial",
        "10.99",
        "9780060935467",
    ),
    ("The Great Gatsby", "F. Scott Fitzgerald", "Scribner", "11.00", "9780743273565"),
    ("Moby-Dick", "Herman Melville", "Penguin Classics", "12.00", "9780142437247"),
    ("Jane Eyre", "Charlotte Brontë", "Penguin Classics", "8.00", "9780141441146"),
    ("Wuthering Heights", "Emily Brontë", "Penguin Classics", "7.99", "9780141439556"),
    ("Frankenstein", "Mary Shelley", "Penguin Classics", "6.99", "9780141439471"),
    ("The Hobbit", "J. R. R. Tolkien", "Houghton Mifflin", "14.99", "9780547928227"),
    ("Brave New World", "Aldous Huxley", "Harper Perennial", "13.99", "9780060850524"),
    (
        "The Catcher in the Rye",
        "J. D. Salinger",
        "Little, Brown",
        "9.99",
        "9780316769488",
    ),
    (
        "Crime and Punishment",
        "Fyodor Dostoevsky",
        "Penguin Classics",
        "12.50",
        "9780143058144",
    ),
    ("War and Peace", "Leo Tolstoy", "Vintage Classics", "22.00", "9781400079988"),
    ("Anna Karenina", "Leo Tolstoy", "Penguin Classics", "16.00", "9780143035008"),
    (
        "Don Quixote",
        "Miguel de Cervantes",
        "Harper Perennial",
        "19.99",
        "9780060934347",
    ),
    (
        "One Hundred Years of Solitude",
        "Gabriel García Márquez",
        "Harper Perennial",
        "17.99",
        "9780060883287",
    ),
    (
        "The Left Hand of Darkness",
        "Ursula K. Le Guin",
        "Ace Books",
        "10.00",
        "9780441478125",
    ),
    ("Foundation", "Isaac Asimov", "Bantam Spectra", "8.99", "9780553293357"),
    ("Neuromancer", "William Gibson", "Ace Books", "9.99", "9780441569595"),
    ("The Road", "Cormac McCarthy", "Vintage International", "15.00", "9780307387899"),
    ("Beloved", "Toni Morrison", "Vintage International", "16.00", "9781400033416"),
    ("Things Fall Apart", "Chinua Achebe", "Anchor Books", "12.00", "9780385474542"),
    ("The Name of the Rose", "Umberto Eco", "Mariner Books", "18.00", "9780544176560"),
    ("Slaughterhouse-Five", "Kurt Vonnegut", "Dial Press", "14.00", "9780385333849"),
    ("Fahrenheit 451", "Ray Bradbury", "Simon & Schuster", "9.99", "9781451673319"),
    (
        "The Hitchhiker's Guide to the Galaxy",
        "Douglas Adams",
        "Del Rey",
        "7.99",
        "9780345391803",
    ),
    ("Catch-22", "Joseph Heller", "Simon & Schuster", "17.00", "9781451626650"),
    (
        "The Remains of the Day",
        "Kazuo Ishiguro",
        "Vintage International",
        "15.95",
        "9780679731726",
    ),
    ("Middlemarch", "George Eliot", "Penguin Classics", "13.00", "9780141439549"),
    (
        "The Count of Monte Cristo",
        "Alexandre Dumas",
        "Penguin Classics",
        "20.00",
        "9780140449266",
    ),
    ("Les Misérables", "Victor Hugo", "Signet Classics", "11.95", "9780451419439"),
    (
        "Great Expectations",
        "Charles Dickens",
        "Penguin Classics",
        "8.50",
        "9780141439563",
    ),
    (
        "The Picture of Dorian Gray",
        "Oscar Wilde",
        "Penguin Classics",
        "6.50",
        "9780141439570",
    ),
    ("Snow Crash", "Neal Stephenson", "Bantam Books", "18.00", "9780553380958"),
    (
        "The Old Man and the Sea",
        "Ernest Hemingway",
        "Scribner",
        "12.99",
        "9780684801223",
    ),
]


def seed(password: str) -> tuple[User, int]:
    """Create the demo user (or check its password) and add the books it lacks.

    Returns the user and how many books were added. Running it again adds none.
    Raises APIError when a user named `demo` exists with another password: the
    command never writes to an account that is not its own.
    """
    user = accounts.find_user(USERNAME)
    if user is None:
        user = accounts.register_user(username=USERNAME, password=password)
    else:
        user = accounts.authenticate(USERNAME, password)
    owner = Caller(id=user.id, public_id=user.public_id, is_admin=False)
    shelved = set(
        db.session.scalars(sa.select(Book.isbn).where(Book.owner_id == user.id))
    )
    added = 0
    for title, author, publisher, price, isbn in BOOKS:
        if isbn not in shelved:
            fields = dict(title=title, author=author, publisher=publisher, isbn=isbn)
            books.insert_book(
                books.new_book(owner, {**fields, "price": Decimal(price)})
            )
            added += 1
    db.session.commit()  # the whole shelf in one transaction
    return user, added


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Create the demo user `demo` with a shelf of books (idempotent).

    The password is $BOOKSTORE_DEMO_PASSWORD, else the published default. Refused
    in production, where a published password would be an open door.
    """
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException(
            "demo data is for development; refused in production."
        )
    custom = os.environ.get("BOOKSTORE_DEMO_PASSWORD")
    password = custom or DEFAULT_PASSWORD
    try:
        user, added = seed(password)
    except APIError:
        raise click.ClickException(
            f"a user named {USERNAME!r} exists with another password; not touching it."
        ) from None
    shown = "from $BOOKSTORE_DEMO_PASSWORD" if custom else repr(password)
    click.echo(
        f"Demo user {USERNAME!r} (password {shown}): {added} books added, "
        f"{len(BOOKS)} on the shelf."
    )
