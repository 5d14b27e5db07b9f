import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.books.conftest import BOOKS
from tests.books.test_cursor import walk_cursor, walk_pages

_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)

# Few distinct values: long runs of ties cross the page boundaries.
books = st.lists(
    st.fixed_dictionaries(
        {
            "title": st.sampled_from(["a", "A", "b", "ab", "Ä", "ß", "SS", "z"]),
            "author": st.sampled_from(["x", "X", "y"]),
            "price_cents": st.sampled_from([0, 100, 250]),
            "tick": st.integers(0, 3),  # equal created_at values too
        }
    ),
    max_size=25,
)
sorts = st.sampled_from(
    [f"{d}{f}" for f in ("title", "author", "price", "created_at") for d in ("", "-")]
)
filters = st.sampled_from(["", "q=a", "q=ab", "author=x", "min_price=1", "q=ss"])


def _owner_id(app, username: str = "alice") -> int:
    from bookstore.auth.models import User
    from bookstore.extensions import db

    return db.session.scalar(sa.select(User.id).where(User.username == username))


def _insert(app, rows: list[dict]) -> None:
    from bookstore.books.models import Book
    from bookstore.extensions import db

    with app.app_context():
        owner_id = _owner_id(app)
        if rows:
            db.session.execute(
                sa.insert(Book),
                [
                    {
                        "public_id": uuid.uuid4(),
                        "owner_id": owner_id,
                        "title": row["title"],
                        "author": row["author"],
                        "publisher": "p",
                        "price_cents": row["price_cents"],
                        "created_at": MOMENT + timedelta(seconds=row["tick"]),
                        "updated_at": MOMENT,
                    }
                    for row in rows
                ],
            )
        db.session.commit()


def _clear(app) -> None:
    from bookstore.books.models import Book
    from bookstore.extensions import db

    with app.app_context():
        db.session.execute(sa.delete(Book))
        db.session.commit()


@_SETTINGS
@given(rows=books, sort=sorts, query=filters, per_page=st.integers(1, 4))
def test_walking_all_cursor_pages_equals_the_offset_listing(
    app, client, auth_headers, rows, sort, query, per_page
):
    _clear(app)
    _insert(app, rows)
    listing = f"sort={sort}&{query}"

    walked = walk_cursor(client, auth_headers, listing, per_page=per_page)

    assert walked == walk_pages(client, auth_headers, listing)


@_SETTINGS
@given(
    rows=books.filter(len),
    sort=sorts,
    per_page=st.integers(1, 4),
    changes=st.lists(
        st.tuples(st.booleans(), books.filter(len), st.integers(0, 10**6)),
        max_size=6,
    ),
)
def test_changes_between_pages_never_skip_or_repeat_a_book_that_stayed(
    app, client, auth_headers, rows, sort, per_page, changes
):
    _clear(app)
    _insert(app, rows)
    before = walk_pages(client, auth_headers, f"sort={sort}")
    deleted: set[str] = set()
    seen, cursor, changes = [], "", list(changes)
    while cursor is not None:
        body = client.get(
            f"{BOOKS}?sort={sort}&cursor={quote(cursor)}&per_page={per_page}",
            headers=auth_headers,
        ).json
        seen += [book["id"] for book in body["items"]]
        cursor = body["next_cursor"]
        if changes:  # between two pages: delete one book, add some
            delete, added, pick = changes.pop()
            alive = [i for i in before if i not in deleted]
            if delete and alive:
                victim = alive[pick % len(alive)]
                response = client.delete(f"{BOOKS}/{victim}", headers=auth_headers)
                assert response.status_code == 204
                deleted.add(victim)
            _insert(app, added)

    stayed = [i for i in before if i not in deleted]
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in set(before)] == [
        i for i in before if i in set(seen)
    ]
    assert set(stayed) <= set(seen)
