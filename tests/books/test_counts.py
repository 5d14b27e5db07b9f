import sqlalchemy as sa

from bookstore.auth.models import User
from bookstore.books.models import Book, BookCount
from bookstore.extensions import db
from tests.books.conftest import BOOKS, book_body


def _counts(app) -> dict[str, tuple[int, int]]:
    """username -> (counter, actual count(*)) for every user."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                User.username,
                sa.select(sa.func.sum(BookCount.books))
                .where(BookCount.owner_id == User.id)
                .scalar_subquery(),
                sa.select(sa.func.count())
                .select_from(Book)
                .where(Book.owner_id == User.id)
                .scalar_subquery(),
            )
        ).all()
        return {name: (int(counter or 0), actual) for name, counter, actual in rows}


def test_the_counter_follows_creates_and_deletes_through_the_api(
    app, client, auth_headers, other_headers
):
    ids = [
        client.post(BOOKS, json=book_body(), headers=auth_headers).json["id"]
        for _ in range(3)
    ]
    client.post(BOOKS, json=book_body(), headers=other_headers)
    client.delete(f"{BOOKS}/{ids[0]}", headers=auth_headers)

    listed = client.get(BOOKS, headers=auth_headers)

    assert _counts(app) == {"alice": (2, 2), "mallory": (1, 1)}
    assert listed.json["total"] == 2
    assert listed.headers["X-Total-Count"] == "2"


def test_the_counter_follows_bulk_inserts_deletes_and_owner_moves(
    app, user, other_user
):
    with app.app_context():
        alice, mallory = (
            db.session.scalar(sa.select(User.id).where(User.username == name))
            for name in ("alice", "mallory")
        )
        rows = [
            {
                "owner_id": alice,
                "title": f"t{i}",
                "author": "a",
                "publisher": "p",
                "price_cents": i,
            }
            for i in range(2500)
        ]
        db.session.execute(sa.insert(Book), rows)
        db.session.execute(
            sa.delete(Book).where(Book.owner_id == alice, Book.price_cents < 500)
        )
        db.session.execute(
            sa.update(Book)
            .where(Book.owner_id == alice, Book.price_cents >= 2400)
            .values(owner_id=mallory)
        )
        db.session.commit()

    assert _counts(app) == {"alice": (1900, 1900), "mallory": (100, 100)}


def test_a_deleted_users_counter_goes_with_them(app, client, auth_headers):
    client.post(BOOKS, json=book_body(), headers=auth_headers)

    with app.app_context():
        db.session.execute(sa.delete(User))
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(BookCount)) == 0


def test_a_failed_create_leaves_the_counter_alone(app, client, auth_headers):
    client.post(BOOKS, json=book_body(isbn="9780441013593"), headers=auth_headers)

    conflict = client.post(
        BOOKS, json=book_body(isbn="9780441013593"), headers=auth_headers
    )

    assert conflict.status_code == 409
    assert _counts(app)["alice"] == (1, 1)


def test_filtered_listings_count_their_matches(client, auth_headers):
    for author in ("A", "A", "B"):
        client.post(BOOKS, json=book_body(author=author), headers=auth_headers)

    response = client.get(f"{BOOKS}?author=a", headers=auth_headers)

    assert response.json["total"] == 2


def _corrupt(app, username: str, by: int) -> None:
    with app.app_context():
        owner = db.session.scalar(sa.select(User.id).where(User.username == username))
        slot = db.session.scalar(  # one slot: PostgreSQL spreads a count over several
            sa.select(sa.func.min(BookCount.slot)).where(BookCount.owner_id == owner)
        )
        db.session.execute(
            sa.update(BookCount)
            .where(BookCount.owner_id == owner, BookCount.slot == slot)
            .values(books=BookCount.books + by)
        )
        db.session.commit()


def test_recount_reports_and_repairs_a_corrupted_count(
    app, runner, client, auth_headers, other_headers, user
):
    for _ in range(3):
        client.post(BOOKS, json=book_body(), headers=auth_headers)
    client.post(BOOKS, json=book_body(), headers=other_headers)
    _corrupt(app, "alice", by=5)

    checked = runner.invoke(args=["books", "recount", "--check"])
    repaired = runner.invoke(args=["books", "recount"])
    again = runner.invoke(args=["books", "recount", "--check"])

    assert checked.exit_code == 1
    assert f"owner {user['id']}: stored 8, actual 3" in checked.output
    assert "1 drifted book counts found." in checked.output
    assert repaired.exit_code == 0, repaired.output
    assert "1 drifted book counts repaired." in repaired.output
    assert again.exit_code == 0 and "0 drifted" in again.output
    assert _counts(app) == {"alice": (3, 3), "mallory": (1, 1)}
    assert client.get(BOOKS, headers=auth_headers).json["total"] == 3


def test_recount_restores_a_missing_count_and_triggers_keep_it_after(
    app, runner, client, auth_headers
):
    first = client.post(BOOKS, json=book_body(), headers=auth_headers).json["id"]
    client.post(BOOKS, json=book_body(), headers=auth_headers)
    with app.app_context():
        db.session.execute(sa.delete(BookCount))
        db.session.commit()

    result = runner.invoke(args=["books", "recount"])
    client.delete(f"{BOOKS}/{first}", headers=auth_headers)
    client.post(BOOKS, json=book_body(), headers=auth_headers)

    assert result.exit_code == 0, result.output
    assert "stored 0, actual 2" in result.output
    assert _counts(app)["alice"] == (2, 2)
