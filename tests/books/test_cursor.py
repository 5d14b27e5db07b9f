import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa

from tests.books.conftest import BOOKS, book_body


def _get(client, headers, query: str):
    response = client.get(f"{BOOKS}?{query}", headers=headers)
    assert response.status_code == 200, response.json
    return response


def walk_cursor(client, headers, query: str = "", per_page: int = 3) -> list[str]:
    """Every id of a listing, following next_cursor from an empty cursor."""
    ids, cursor = [], ""
    for _ in range(1000):
        body = _get(
            client, headers, f"{query}&cursor={quote(cursor)}&per_page={per_page}"
        ).json
        ids += [book["id"] for book in body["items"]]
        if body["next_cursor"] is None:
            return ids
        cursor = body["next_cursor"]
    raise AssertionError("the cursor walk did not end")


def walk_pages(client, headers, query: str = "") -> list[str]:
    ids, page = [], 1
    while True:
        items = _get(client, headers, f"{query}&page={page}&per_page=100").json["items"]
        if not items:
            return ids
        ids += [book["id"] for book in items]
        page += 1


def test_an_empty_cursor_starts_the_listing(client, auth_headers, shelf):
    books = shelf([{"title": f"t{i}"} for i in range(5)])

    response = _get(client, auth_headers, "cursor=&per_page=2&sort=title")

    body = response.json
    assert set(body) == {"items", "per_page", "total", "next_cursor"}
    assert [b["id"] for b in body["items"]] == [b["id"] for b in books[:2]]
    assert (body["per_page"], body["total"]) == (2, 5)
    assert isinstance(body["next_cursor"], str)
    assert response.headers["X-Total-Count"] == "5"
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_the_next_link_carries_the_cursor_and_the_other_arguments(
    client, auth_headers, shelf
):
    shelf([{"title": f"t{i}", "author": "Ann"} for i in range(3)])

    first = _get(client, auth_headers, "cursor=&per_page=2&sort=title&author=ann")
    (target,) = re.findall(r'<([^>]+)>; rel="next"', first.headers["Link"])
    second = client.get(target, headers=auth_headers)

    assert urlsplit(target).path == BOOKS
    query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    assert query == {
        "sort": "title",
        "author": "ann",
        "cursor": first.json["next_cursor"],
        "per_page": "2",
    }
    assert second.status_code == 200
    assert [b["title"] for b in second.json["items"]] == ["t2"]
    assert second.json["next_cursor"] is None
    assert "Link" not in second.headers


def test_the_last_page_has_no_next_cursor(client, auth_headers, shelf):
    shelf([{}, {}])

    body = _get(client, auth_headers, "cursor=&per_page=2").json

    assert len(body["items"]) == 2
    assert body["next_cursor"] is None


def test_an_empty_shelf_in_cursor_mode(client, auth_headers):
    response = _get(client, auth_headers, "cursor=")

    assert response.json == {
        "items": [],
        "per_page": 20,
        "total": 0,
        "next_cursor": None,
    }


SORTS = ["title", "-title", "author", "-author", "price", "-price", "created_at"]


@pytest.mark.parametrize("sort", [*SORTS, "-created_at"])
@pytest.mark.parametrize("filters", ["", "publisher=ace", "q=a", "q=abc"])
def test_walking_the_cursor_equals_the_page_listing(
    client, auth_headers, shelf, sort, filters
):
    titles = ["abc", "b", "ABC", "a", "c", "abcd", "b", "A"]
    shelf(
        [
            {"title": t, "author": t[::-1], "price": str(i % 3), "publisher": p}
            for i, (t, p) in enumerate(zip(titles, ["Ace", "x"] * 4, strict=True))
        ]
    )
    query = f"sort={sort}&{filters}"

    assert walk_cursor(client, auth_headers, query, per_page=3) == walk_pages(
        client, auth_headers, query
    )


def test_books_added_and_deleted_between_pages_skip_and_repeat_nothing(
    client, auth_headers, shelf
):
    books = shelf([{"title": f"t{i:02d}"} for i in range(10)])
    first = _get(client, auth_headers, "sort=title&cursor=&per_page=4").json
    seen = [b["id"] for b in first["items"]]

    client.delete(f"{BOOKS}/{books[1]['id']}", headers=auth_headers)  # already seen
    client.delete(f"{BOOKS}/{books[6]['id']}", headers=auth_headers)  # not yet
    shelf([{"title": "t00a"}, {"title": "t05a"}, {"title": "t99"}])
    cursor = first["next_cursor"]
    while cursor:
        body = _get(
            client, auth_headers, f"sort=title&cursor={quote(cursor)}&per_page=4"
        ).json
        seen += [b["id"] for b in body["items"]]
        cursor = body["next_cursor"]

    survivors = [b["id"] for i, b in enumerate(books) if i != 6]
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in survivors] == survivors


def _cursor(client, headers, query: str) -> str:
    cursor = _get(client, headers, f"{query}&cursor=&per_page=1").json["next_cursor"]
    assert cursor
    return cursor


def _refused(client, headers, query: str):
    response = client.get(f"{BOOKS}?{query}", headers=headers)
    assert response.status_code == 400, response.json
    assert response.json["code"] == "invalid_query"
    assert "cursor" in response.json["errors"]
    return response


@pytest.mark.parametrize(
    ("made_with", "used_with"),
    [
        ("sort=title", "sort=-title"),
        ("sort=title", ""),
        ("", "sort=created_at"),
        ("sort=price", "sort=price&min_price=0"),
        ("min_price=1", "min_price=2"),
        ("q=dune", "q=dun"),
        ("author=ann", "publisher=ann"),
        ("author=ann", ""),
    ],
)
def test_a_cursor_is_bound_to_its_sort_and_filters(
    client, auth_headers, shelf, made_with, used_with
):
    shelf([{"title": "Dune", "author": "Ann", "price": "5"}] * 2)
    cursor = _cursor(client, auth_headers, made_with)

    _refused(client, auth_headers, f"{used_with}&cursor={quote(cursor)}")


def test_an_altered_cursor_is_refused(client, auth_headers, shelf):
    shelf([{}, {}])
    cursor = _cursor(client, auth_headers, "")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    for i in (0, len(cursor) // 2, len(cursor) - 1):
        other = alphabet[(alphabet.index(cursor[i]) + 1) % 64]
        altered = cursor[:i] + other + cursor[i + 1 :]
        _refused(client, auth_headers, f"cursor={quote(altered)}")
    for altered in (cursor + "A", cursor[:-1], cursor + "=", cursor + "!", "x", "%"):
        _refused(client, auth_headers, f"cursor={quote(altered)}")


def test_a_cursor_with_page_is_refused(client, auth_headers, shelf):
    shelf([{}, {}])
    cursor = _cursor(client, auth_headers, "")

    for query in (f"cursor={cursor}&page=1", "cursor=&page=2"):
        _refused(client, auth_headers, query)


def test_a_cursor_too_long_is_refused(client, auth_headers):
    _refused(client, auth_headers, "cursor=" + "A" * 5000)


def test_another_users_cursor_is_refused(client, auth_headers, other_headers, shelf):
    shelf([{}, {}])
    client.post(BOOKS, json=book_body(), headers=other_headers)
    client.post(BOOKS, json=book_body(), headers=other_headers)
    cursor = _cursor(client, auth_headers, "")

    _refused(client, other_headers, f"cursor={quote(cursor)}")


def test_an_admins_cursor_is_bound_to_the_owner_listed(
    client, admin_headers, auth_headers, other_user, user, shelf
):
    shelf([{}, {}])
    cursor = _cursor(client, admin_headers, f"owner={user['id']}")

    assert _get(client, admin_headers, f"owner={user['id']}&cursor={quote(cursor)}")
    _refused(client, admin_headers, f"owner={other_user['id']}&cursor={quote(cursor)}")
    _refused(client, admin_headers, f"cursor={quote(cursor)}")
    _refused(client, auth_headers, f"cursor={quote(cursor)}")


def test_a_cursor_from_another_secret_key_is_refused(
    make_app, client, auth_headers, shelf
):
    shelf([{}, {}])
    cursor = _cursor(client, auth_headers, "")
    other = make_app()  # the same database, another SECRET_KEY

    response = other.test_client().get(
        f"{BOOKS}?cursor={quote(cursor)}", headers=auth_headers
    )

    assert response.status_code in (400, 401)  # the token itself is foreign too
    assert response.status_code != 200


def test_the_cursor_reveals_neither_the_sort_value_nor_the_row_id(
    client, auth_headers, shelf
):
    shelf([{"title": "a distinctive title"}, {"title": "b"}])

    cursors = [_cursor(client, auth_headers, "sort=title") for _ in range(2)]

    raw = [base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)) for c in cursors]
    assert all(b"distinctive" not in r for r in raw)
    assert cursors[0] == cursors[1]  # deterministic (AES-SIV): one position, one cursor
    for cursor in cursors:
        assert _get(client, auth_headers, f"sort=title&cursor={quote(cursor)}")


def test_equal_timestamps_are_ordered_by_the_id_tiebreak(app, client, auth_headers):
    from bookstore.auth.models import User
    from bookstore.books.models import Book
    from bookstore.extensions import db

    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        owner_id = db.session.scalar(sa.select(User.id).where(User.username == "alice"))
        db.session.execute(
            sa.insert(Book),
            [
                {
                    "public_id": uuid.uuid4(),
                    "owner_id": owner_id,
                    "title": "same",
                    "author": "same",
                    "publisher": "same",
                    "price_cents": 100,
                    "created_at": moment + timedelta(microseconds=i // 3),
                    "updated_at": moment,
                }
                for i in range(9)
            ],
        )
        db.session.commit()

    for sort in ("created_at", "-created_at"):
        walked = walk_cursor(client, auth_headers, f"sort={sort}", per_page=2)
        assert walked == walk_pages(client, auth_headers, f"sort={sort}")
        assert len(set(walked)) == 9


def test_the_openapi_document_describes_cursor_mode(client):
    spec = client.get("/api/v1/openapi.json").json

    operation = spec["paths"][BOOKS]["get"]
    assert "cursor" in [p["name"] for p in operation["parameters"]]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    refs = [s["$ref"].rsplit("/", 1)[-1] for s in schema["oneOf"]]
    cursor_page = spec["components"]["schemas"][refs[1]]
    assert set(cursor_page["required"]) == {"items", "per_page", "total", "next_cursor"}
    assert spec["components"]["schemas"][refs[0]]["required"] == [
        "items",
        "page",
        "pages",
        "per_page",
        "total",
    ]


def test_cursor_query_strings_do_not_crowd_the_argument_memo(
    app, client, auth_headers, shelf
):
    from bookstore import memo, pagination

    shelf([{}, {}, {}])
    walk_cursor(client, auth_headers, "sort=price", per_page=1)

    kept = [query for _, query in app.extensions[memo.EXTENSION][pagination.LOADED]]
    assert b"sort=price&cursor=&per_page=1" in kept  # the start repeats: kept
    assert not [q for q in kept if parse_qs(q.decode()).get("cursor")]
