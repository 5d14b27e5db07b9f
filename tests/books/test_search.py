from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bookstore.books.models import fold
from tests.books.conftest import BOOKS, book_body
from tests.books.test_cursor import walk_cursor
from tests.books.test_cursor_properties import MOMENT, _clear, _owner_id, sorts

# LIKE's wildcards and escape, FTS5's quote and operators, case folding that
# changes length (ß -> ss, ǰ -> ǰ), and ordinary letters.
ALPHABET = 'aAbB %_\\"*-:^ßSsİiΣσςǰ0'
text = st.text(ALPHABET, min_size=1, max_size=12).filter(lambda t: t.strip())


def _insert(app, rows: list[tuple], username: str = "alice") -> list[str]:
    """Books of (title, author[, price_cents]) for `username`, created at the same
    moment (the id breaks every tie, in this order); their public ids."""
    import uuid

    from bookstore.books.models import Book
    from bookstore.extensions import db

    ids = []
    with app.app_context():
        owner_id = _owner_id(app, username)
        for title, author, *price in rows:
            public_id = uuid.uuid4()
            db.session.execute(
                sa.insert(Book).values(
                    public_id=public_id,
                    owner_id=owner_id,
                    title=title,
                    author=author,
                    publisher="p",
                    price_cents=price[0] if price else 1,
                    created_at=MOMENT,
                    updated_at=MOMENT,
                )
            )
            ids.append(str(public_id))
        db.session.commit()
    return ids


def _pages(client, headers, query: str, per_page: int) -> tuple[list[str], set]:
    """Every id of a listing walked by page number, and the totals it showed
    (past the last page included, where no row carries the total)."""
    ids, totals, page = [], set(), 1
    while True:
        body = client.get(
            f"{BOOKS}?{query}&page={page}&per_page={per_page}", headers=headers
        ).json
        ids += [book["id"] for book in body["items"]]
        totals.add(body["total"])
        if not body["items"]:
            return ids, totals
        page += 1


@st.composite
def _searches(draw, rows):
    """Any text, or a piece of a book's title or author (so that searches find
    something, across the index and the scan)."""
    texts = [text for row in rows for text in row[:2]]
    if not texts or draw(st.booleans()):
        return draw(text)
    source = draw(st.sampled_from(texts))
    start = draw(st.integers(0, len(source) - 1))
    return source[start : start + draw(st.integers(1, 5))]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(st.tuples(text, text, st.sampled_from([0, 100, 250])), max_size=8),
    others=st.lists(st.tuples(text, text), max_size=3),
    data=st.data(),
    sort=sorts,
    per_page=st.integers(1, 3),
    cheap=st.booleans(),
)
def test_search_finds_exactly_what_the_plain_scan_finds(
    app, client, auth_headers, other_user, rows, others, data, sort, per_page, cheap
):
    q = data.draw(_searches(rows + others), label="q")
    assume(q.strip())  # a blank q is refused (400), not searched
    _clear(app)
    ids = _insert(app, rows)
    _insert(app, others, username="mallory")  # never shown to alice
    needle = fold(q.strip())
    price = "&max_price=1" if cheap else ""
    # The reference: the plain listing in this sort, each book tested in Python.
    listed, _ = _pages(client, auth_headers, f"sort={sort}", 100)
    books = dict(zip(ids, rows, strict=True))
    expected = [
        book_id
        for book_id in listed
        if (needle in fold(books[book_id][0]) or needle in fold(books[book_id][1]))
        and (not cheap or books[book_id][2] <= 100)
    ]
    query = f"sort={sort}&q={quote(q)}{price}"

    paged, totals = _pages(client, auth_headers, query, per_page)
    walked = walk_cursor(client, auth_headers, query, per_page=per_page)

    assert paged == expected
    assert totals == {len(expected)}
    assert walked == expected


def test_the_index_follows_updates_and_deletes(client, auth_headers):
    created = client.post(
        BOOKS, json=book_body(title="Dune Messiah"), headers=auth_headers
    ).json
    url = f"{BOOKS}/{created['id']}"

    def titles(q):
        return [
            b["title"]
            for b in client.get(f"{BOOKS}?q={q}", headers=auth_headers).json["items"]
        ]

    assert titles("messiah") == ["Dune Messiah"]
    client.patch(url, json={"title": "Children of Dune"}, headers=auth_headers)
    assert titles("messiah") == []
    assert titles("children") == ["Children of Dune"]
    client.delete(url, headers=auth_headers)
    assert titles("children") == []


@pytest.mark.parametrize("q", ["du", "d", "%", '"', "ss"])
def test_queries_shorter_than_a_trigram_still_match(client, auth_headers, q):
    for title in ("Dune", '100% "quoted"', "Straße"):
        client.post(
            BOOKS, json=book_body(title=title, author="x"), headers=auth_headers
        )

    response = client.get(f"{BOOKS}?q={quote(q)}", headers=auth_headers)

    expected = {t for t in ("Dune", '100% "quoted"', "Straße") if fold(q) in fold(t)}
    assert {b["title"] for b in response.json["items"]} == expected
    assert expected
