from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookstore.books.models import fold
from tests.books.conftest import BOOKS, book_body
from tests.books.test_cursor import walk_pages
from tests.books.test_cursor_properties import MOMENT, _clear, _owner_id

# LIKE's wildcards and escape, FTS5's quote and operators, case folding that
# changes length (ß -> ss, ǰ -> ǰ), and ordinary letters.
ALPHABET = 'aAbB %_\\"*-:^ßSsİiΣσςǰ0'
text = st.text(ALPHABET, min_size=1, max_size=12).filter(lambda t: t.strip())


def _insert(app, rows: list[tuple[str, str]]) -> list[str]:
    import uuid

    from bookstore.books.models import Book
    from bookstore.extensions import db

    ids = []
    with app.app_context():
        owner_id = _owner_id(app)
        for title, author in rows:
            public_id = uuid.uuid4()
            db.session.execute(
                sa.insert(Book).values(
                    public_id=public_id,
                    owner_id=owner_id,
                    title=title,
                    author=author,
                    publisher="p",
                    price_cents=1,
                    created_at=MOMENT,
                    updated_at=MOMENT,
                )
            )
            ids.append(str(public_id))
        db.session.commit()
    return ids


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(st.tuples(text, text), max_size=8), q=text)
def test_search_finds_exactly_what_the_plain_scan_finds(
    app, client, auth_headers, rows, q
):
    _clear(app)
    ids = _insert(app, rows)
    needle = fold(q.strip())

    found = walk_pages(client, auth_headers, f"sort=created_at&q={quote(q)}")

    expected = [
        book_id
        for book_id, (title, author) in zip(ids, rows, strict=True)
        if needle in fold(title) or needle in fold(author)
    ]
    assert found == expected


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
