import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bookstore.books.models import Book
from tests.books.conftest import BOOKS, book_body


@pytest.fixture
def path(book):
    return f"{BOOKS}/{book['id']}"


@pytest.fixture
def etag(client, auth_headers, path):
    return client.get(path, headers=auth_headers).headers["ETag"]


def test_the_etag_is_strong_and_stable_while_the_book_is_unchanged(
    client, auth_headers, path, etag
):
    assert not etag.startswith("W/")
    assert client.get(path, headers=auth_headers).headers["ETag"] == etag


@pytest.mark.parametrize(
    "header",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
)
def test_if_none_match_matching_is_304_without_a_body(
    client, auth_headers, path, etag, header
):
    response = client.get(
        path, headers={**auth_headers, "If-None-Match": header.format(etag=etag)}
    )

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_if_none_match_stale_is_200(client, auth_headers, path, etag):
    client.patch(path, json={"title": "new"}, headers=auth_headers)

    response = client.get(path, headers={**auth_headers, "If-None-Match": etag})

    assert response.status_code == 200
    assert response.json["title"] == "new"
    assert response.headers["ETag"] != etag


def test_if_none_match_does_not_reveal_someone_elses_book(
    client, other_headers, path, etag
):
    response = client.get(path, headers={**other_headers, "If-None-Match": etag})

    assert response.status_code == 404


def test_every_write_returns_the_etag_a_get_then_sees(client, auth_headers, path):
    for method, body in [("put", book_body(title="a")), ("patch", {"title": "b"})]:
        written = getattr(client, method)(path, json=body, headers=auth_headers)

        fetched = client.get(path, headers=auth_headers)

        assert written.headers["ETag"] == fetched.headers["ETag"]


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", book_body(title="x")), ("patch", {"title": "x"}), ("delete", None)],
)
def test_a_stale_if_match_is_412_and_changes_nothing(
    client, auth_headers, path, etag, method, body
):
    current = client.patch(path, json={"price": "1"}, headers=auth_headers)

    response = getattr(client, method)(
        path, json=body, headers={**auth_headers, "If-Match": etag}
    )

    assert response.status_code == 412
    assert response.json["code"] == "precondition_failed"
    assert response.headers["ETag"] == current.headers["ETag"]
    assert client.get(path, headers=auth_headers).json == current.json


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        ("put", book_body(title="x"), 200),
        ("patch", {"title": "x"}, 200),
        ("delete", None, 204),
    ],
)
@pytest.mark.parametrize("header", ["{etag}", '"nope", {etag}', "*"])
def test_a_current_or_star_if_match_is_honoured(
    client, auth_headers, path, etag, method, body, status, header
):
    response = getattr(client, method)(
        path, json=body, headers={**auth_headers, "If-Match": header.format(etag=etag)}
    )

    assert response.status_code == status


def test_if_match_uses_the_strong_comparison(client, auth_headers, path, etag):
    response = client.patch(
        path, json={"title": "x"}, headers={**auth_headers, "If-Match": f"W/{etag}"}
    )

    assert response.status_code == 412


def test_if_match_on_a_deleted_book_is_404(client, auth_headers, path, etag):
    client.delete(path, headers=auth_headers)

    response = client.delete(path, headers={**auth_headers, "If-Match": etag})

    assert response.status_code == 404


class _Rendezvous:
    """Hold each thread's first book flush until both threads have loaded the book
    and passed the If-Match check: then both UPDATE/DELETE the same version."""

    def __init__(self, parties: int = 2):
        self.barrier = threading.Barrier(parties, timeout=20)
        self.waited: set[int] = set()

    def __call__(self, session, flush_context, instances):
        touches_a_book = any(
            isinstance(obj, Book) for obj in (*session.dirty, *session.deleted)
        )
        me = threading.get_ident()
        if touches_a_book and me not in self.waited:
            self.waited.add(me)
            self.barrier.wait()


def _two_instances(app, make_app):
    """Two more app instances on the same database (two engines, two pools), that
    accept the tokens `app` issued: like two gunicorn workers."""
    return [make_app(SECRET_KEY=app.config["SECRET_KEY"]) for _ in range(2)]


def _race(apps, requests):
    """Run one request per app instance in its own thread, all at once."""
    rendezvous = _Rendezvous(len(requests))
    results: list = [None] * len(requests)

    def run(index):
        method, path, kwargs = requests[index]
        client = apps[index].test_client()
        results[index] = getattr(client, method)(path, **kwargs)

    sa.event.listen(Session, "before_flush", rendezvous)
    try:
        threads = [
            threading.Thread(target=run, args=(i,)) for i in range(len(requests))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sa.event.remove(Session, "before_flush", rendezvous)
    assert all(result is not None for result in results)
    return results


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("patch", {"title": "one"}), ("patch", {"title": "two"})),
        (("put", book_body(title="one")), ("put", book_body(title="two"))),
        (("patch", {"title": "one"}), ("delete", None)),
        (("delete", None), ("delete", None)),
    ],
)
def test_two_writers_holding_the_same_etag_exactly_one_wins(
    app, make_app, client, auth_headers, path, etag, first, second
):
    apps = _two_instances(app, make_app)
    headers = {**auth_headers, "If-Match": etag}
    requests = [
        (m, path, {"json": body, "headers": headers}) for m, body in (first, second)
    ]

    results = _race(apps, requests)

    statuses = sorted(r.status_code for r in results)
    assert statuses in ([200, 412], [204, 412]), [r.json for r in results]
    loser = next(r for r in results if r.status_code == 412)
    assert loser.json["code"] == "precondition_failed"
    winner = next(r for r in results if r.status_code != 412)
    after = client.get(path, headers=auth_headers)
    if winner.status_code == 204:
        assert after.status_code == 404
    else:
        assert after.json == winner.json
        assert after.headers["ETag"] == winner.headers["ETag"]


def test_two_writers_without_if_match_both_apply(
    app, make_app, client, auth_headers, path
):
    apps = _two_instances(app, make_app)
    requests = [
        ("patch", path, {"json": {"title": "retitled"}, "headers": auth_headers}),
        ("patch", path, {"json": {"price": "42"}, "headers": auth_headers}),
    ]

    results = _race(apps, requests)

    assert [r.status_code for r in results] == [200, 200]
    after = client.get(path, headers=auth_headers).json
    assert (after["title"], after["price"]) == ("retitled", "42.00")
