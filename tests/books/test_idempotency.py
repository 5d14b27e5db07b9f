import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bookstore import clock
from bookstore.books.models import Book, IdempotencyKey
from bookstore.extensions import db
from tests.books.conftest import BOOKS, book_body


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _post(client, headers, key, body=None):
    return client.post(
        BOOKS, json=body or book_body(), headers={**headers, "Idempotency-Key": key}
    )


def test_a_retry_with_the_same_key_and_body_replays_the_201(app, client, auth_headers):
    first = _post(client, auth_headers, "order-1")
    retry = _post(client, auth_headers, "order-1")

    assert first.status_code == retry.status_code == 201
    assert retry.json == first.json
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(app, Book) == 1


def test_the_replay_is_the_original_answer_even_after_the_book_changed(
    client, auth_headers
):
    first = _post(client, auth_headers, "k")
    client.patch(first.headers["Location"], json={"title": "x"}, headers=auth_headers)

    retry = _post(client, auth_headers, "k")

    assert retry.status_code == 201
    assert retry.json == first.json


def test_the_same_key_with_a_different_body_is_422(app, client, auth_headers):
    _post(client, auth_headers, "k", book_body(price="9.99"))

    response = _post(client, auth_headers, "k", book_body(price="10.99"))

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert "different request body" in response.json["detail"]
    assert _count(app, Book) == 1


def test_the_fingerprint_ignores_key_order_and_spacing(client, auth_headers):
    _post(
        client,
        auth_headers,
        "k",
        {"title": "t", "author": "a", "publisher": "p", "price": 1},
    )

    response = client.post(
        BOOKS,
        data='{ "price": 1, "publisher": "p", "author": "a", "title": "t" }',
        headers={
            **auth_headers,
            "Idempotency-Key": "k",
            "Content-Type": "application/json",
        },
    )

    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


def test_keys_are_scoped_to_the_caller(app, client, auth_headers, other_headers):
    mine = _post(client, auth_headers, "shared-key")
    theirs = _post(client, other_headers, "shared-key", book_body(title="other"))

    assert theirs.status_code == 201
    assert theirs.json["id"] != mine.json["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    assert _count(app, Book) == 2


def test_without_a_key_every_post_creates_a_book(app, client, auth_headers):
    client.post(BOOKS, json=book_body(), headers=auth_headers)
    client.post(BOOKS, json=book_body(), headers=auth_headers)

    assert _count(app, Book) == 2


def test_a_quoted_structured_field_key_is_the_same_key(app, client, auth_headers):
    _post(client, auth_headers, "abc")
    response = _post(client, auth_headers, '"abc"')

    assert response.headers.get("Idempotent-Replayed") == "true"
    assert _count(app, Book) == 1


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, '""', '"a"b"', "tab\there", "ü"])
def test_a_malformed_key_is_400(app, client, auth_headers, key):
    response = client.post(
        BOOKS,
        json=book_body(),
        headers={**auth_headers, "Idempotency-Key": key.encode().decode("latin-1")},
    )

    assert response.status_code == 400
    assert response.json["code"] == "bad_request"
    assert "Idempotency-Key" in response.json["detail"]
    assert _count(app, Book) == 0


def test_a_key_of_255_printable_characters_is_fine(client, auth_headers):
    assert _post(client, auth_headers, "k" * 254 + "~").status_code == 201


def test_a_rejected_request_does_not_use_up_the_key(client, auth_headers):
    refused = _post(client, auth_headers, "k", book_body(price="-1"))
    accepted = _post(client, auth_headers, "k", book_body())

    assert refused.status_code == 422
    assert accepted.status_code == 201
    assert "Idempotent-Replayed" not in accepted.headers


def test_a_duplicate_isbn_with_a_key_is_409_and_stores_nothing(
    app, client, auth_headers, book
):
    body = book_body(isbn=book["isbn"])

    first = _post(client, auth_headers, "k", body)
    again = _post(client, auth_headers, "k", body)

    assert first.status_code == again.status_code == 409
    assert _count(app, IdempotencyKey) == 0


def _age_keys(app, hours: int) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(IdempotencyKey).values(
                expires_at=clock.utcnow() - timedelta(hours=hours - 24)
            )
        )
        db.session.commit()


def test_after_24_hours_the_key_creates_a_new_book(app, client, auth_headers):
    first = _post(client, auth_headers, "k")
    _age_keys(app, 25)

    later = _post(client, auth_headers, "k", book_body(title="another"))

    assert later.status_code == 201
    assert "Idempotent-Replayed" not in later.headers
    assert later.json["id"] != first.json["id"]
    assert _count(app, Book) == 2
    assert _count(app, IdempotencyKey) == 1


def test_expired_keys_are_purged_by_the_cli(app, client, auth_headers, runner):
    _post(client, auth_headers, "old")
    _age_keys(app, 25)
    _post(client, auth_headers, "new")

    result = runner.invoke(args=["books", "purge-idempotency-keys"])

    assert result.exit_code == 0, result.output
    assert "Purged 1 " in result.output
    with app.app_context():
        assert db.session.scalars(sa.select(IdempotencyKey.key)).all() == ["new"]


def test_a_users_keys_go_with_the_user(app, client, auth_headers):
    from bookstore.auth.models import User

    _post(client, auth_headers, "k")
    with app.app_context():
        db.session.execute(sa.delete(User))
        db.session.commit()

    assert _count(app, IdempotencyKey) == 0


@pytest.mark.parametrize("isbn", [None, "9780441013593"])
def test_concurrent_retries_create_exactly_one_book(app, make_app, auth_headers, isbn):
    apps = [make_app(SECRET_KEY=app.config["SECRET_KEY"]) for _ in range(3)]
    barrier = threading.Barrier(len(apps), timeout=20)
    waited: set[int] = set()

    def hold_first_write(conn, cursor, statement, parameters, context, executemany):
        # Hold each request just before its transaction's first write, until every
        # request has looked the key up and found nothing: then all race to insert.
        me = threading.get_ident()
        if statement.startswith("DELETE FROM idempotency_keys") and me not in waited:
            waited.add(me)
            barrier.wait()

    results = [None] * len(apps)

    def run(i):
        client = apps[i].test_client()
        results[i] = _post(client, auth_headers, "race", book_body(isbn=isbn))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", hold_first_write)
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(apps))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", hold_first_write)

    assert [r.status_code for r in results] == [201] * len(apps), [
        r.json for r in results
    ]
    assert len({r.get_data() for r in results}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 2
    assert _count(app, Book) == 1
    assert _count(app, IdempotencyKey) == 1
