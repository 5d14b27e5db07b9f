import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.books.conftest import BOOKS, book_body


def _links(response) -> dict[str, dict]:
    links = {}
    for target, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"]):
        links[rel] = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    return links


def _walk(client, headers, query: str, per_page: int) -> list[str]:
    ids, page = [], 1
    while True:
        response = client.get(
            f"{BOOKS}?{query}&page={page}&per_page={per_page}", headers=headers
        )
        assert response.status_code == 200, response.json
        if not response.json["items"]:
            return ids
        ids += [book["id"] for book in response.json["items"]]
        page += 1


def test_an_empty_shelf_is_an_empty_page(client, auth_headers):
    response = client.get(BOOKS, headers=auth_headers)

    assert response.status_code == 200
    assert response.json == {
        "items": [],
        "page": 1,
        "per_page": 20,
        "total": 0,
        "pages": 0,
    }
    assert response.headers["X-Total-Count"] == "0"
    assert set(_links(response)) == {"first", "last"}


def test_the_envelope_counts_and_links_the_pages(client, auth_headers, shelf):
    shelf([{"title": f"t{i}"} for i in range(7)])

    response = client.get(f"{BOOKS}?page=2&per_page=3&sort=title", headers=auth_headers)

    assert response.status_code == 200
    body = response.json
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (
        2,
        3,
        7,
        3,
    )
    assert [b["title"] for b in body["items"]] == ["t3", "t4", "t5"]
    assert response.headers["X-Total-Count"] == "7"
    links = _links(response)
    assert {rel: q["page"] for rel, q in links.items()} == {
        "first": "1",
        "prev": "1",
        "next": "3",
        "last": "3",
    }
    assert all(q["per_page"] == "3" and q["sort"] == "title" for q in links.values())


def test_the_first_and_last_pages_omit_prev_and_next(client, auth_headers, shelf):
    shelf([{}, {}, {}])

    first = client.get(f"{BOOKS}?per_page=2", headers=auth_headers)
    last = client.get(f"{BOOKS}?per_page=2&page=2", headers=auth_headers)

    assert set(_links(first)) == {"first", "next", "last"}
    assert set(_links(last)) == {"first", "prev", "last"}


@pytest.mark.parametrize(("per_page", "pages"), [(1, 3), (100, 1)])
def test_per_page_bounds_are_inclusive(client, auth_headers, shelf, per_page, pages):
    shelf([{}, {}, {}])

    response = client.get(f"{BOOKS}?per_page={per_page}&page=1", headers=auth_headers)

    assert response.status_code == 200
    assert response.json["per_page"] == per_page
    assert response.json["pages"] == pages
    assert len(response.json["items"]) == min(per_page, 3)


def test_a_page_past_the_end_is_an_empty_200(client, auth_headers, shelf):
    shelf([{}, {}])

    response = client.get(f"{BOOKS}?page=5&per_page=2", headers=auth_headers)

    assert response.status_code == 200
    assert response.json["items"] == []
    assert response.json["total"] == 2
    assert _links(response)["prev"]["page"] == "1"


def test_the_default_order_is_newest_first(client, auth_headers, shelf):
    books = shelf([{"title": "old"}, {"title": "middle"}, {"title": "new"}])

    response = client.get(BOOKS, headers=auth_headers)

    assert [b["id"] for b in response.json["items"]] == [b["id"] for b in books[::-1]]
    assert response.json["items"][0] == books[-1]


def test_only_the_callers_books_are_listed(client, auth_headers, other_headers, shelf):
    mine = shelf([{"title": "mine"}])
    client.post(BOOKS, json=book_body(title="theirs"), headers=other_headers)

    response = client.get(BOOKS, headers=auth_headers)

    assert [b["id"] for b in response.json["items"]] == [mine[0]["id"]]


SORT_VALUES = {
    # Few distinct values, so runs of equal values cross the page boundaries.
    "title": ["b", "a", "B", "c", "a", "A", "b", "c", "a", "b", "A"],
    "author": ["x", "y", "X", "x", "z", "y", "x", "Y", "x", "z", "x"],
    "price": ["2", "1", "2", "2.5", "1", "2", "1", "2.50", "2", "1", "2"],
}


def _sort_key(field, value):
    return value.casefold() if field != "price" else float(value)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("field", ["title", "author", "price", "created_at"])
@pytest.mark.parametrize("per_page", [2, 3, 4])
def test_pages_never_overlap_or_skip_with_duplicate_sort_values(
    client, auth_headers, shelf, field, descending, per_page
):
    values = SORT_VALUES.get(field, ["x"] * 11)
    bodies = [{field: v} for v in values] if field != "created_at" else [{}] * 11
    books = shelf(bodies)
    order = sorted(
        range(len(books)),
        key=lambda i: (_sort_key(field, values[i]), i),
        reverse=descending,
    )
    if field == "created_at":  # creation order is id order
        order = sorted(range(len(books)), reverse=descending)

    sort = f"-{field}" if descending else field
    walked = _walk(client, auth_headers, f"sort={sort}", per_page)

    assert walked == [books[i]["id"] for i in order]


def test_author_and_publisher_filters_are_case_insensitive_exact(
    client, auth_headers, shelf
):
    books = shelf(
        [
            {"author": "Frank Herbert", "publisher": "Ace"},
            {"author": "FRANK HERBERT", "publisher": "Chilton"},
            {"author": "Frank Herbert Jr.", "publisher": "ace"},
            {"author": "Émile Zola", "publisher": "Straße Verlag"},
        ]
    )

    def ids(query):
        response = client.get(f"{BOOKS}?sort=created_at&{query}", headers=auth_headers)
        assert response.status_code == 200, response.json
        return [b["id"] for b in response.json["items"]]

    assert ids("author=frank%20herbert") == [books[0]["id"], books[1]["id"]]
    assert ids("author=Frank") == []
    assert ids("publisher=ACE") == [books[0]["id"], books[2]["id"]]
    assert ids("author=frank%20herbert&publisher=ace") == [books[0]["id"]]
    assert ids("author=%C3%89MILE%20ZOLA") == [books[3]["id"]]  # beyond ASCII too
    assert ids("publisher=STRASSE%20VERLAG") == [books[3]["id"]]  # full case folding


def test_q_is_a_case_insensitive_substring_of_title_or_author(
    client, auth_headers, shelf
):
    books = shelf(
        [
            {"title": "Dune", "author": "Frank Herbert"},
            {"title": "Dune Messiah", "author": "Frank Herbert"},
            {"title": "Foundation", "author": "Isaac Asimov"},
            {"title": "The Dunwich Horror", "author": "H. P. Lovecraft"},
        ]
    )

    def titles(q):
        response = client.get(f"{BOOKS}?sort=created_at&q={q}", headers=auth_headers)
        assert response.status_code == 200, response.json
        return [b["title"] for b in response.json["items"]]

    assert titles("dun") == ["Dune", "Dune Messiah", "The Dunwich Horror"]
    assert titles("HERBERT") == ["Dune", "Dune Messiah"]
    assert titles("asimov") == ["Foundation"]
    assert titles("zzz") == []
    assert len(books) == 4


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("%25", ["100% Kotlin"]),  # q=% matches a literal percent sign only
        ("_", ["snake_case"]),  # not "any one character"
        ("%5C", ["back\\slash"]),  # the escape character itself
        ("%5C%25", []),
        ("0%25", ["100% Kotlin"]),
        ("e_c", ["snake_case"]),
        ("%25%25", []),
    ],
)
def test_like_wildcards_in_q_are_literal(client, auth_headers, shelf, q, expected):
    shelf(
        [
            {"title": "100% Kotlin"},
            {"title": "snake_case"},
            {"title": "back\\slash"},
            {"title": "plain title"},
        ]
    )

    response = client.get(f"{BOOKS}?q={q}", headers=auth_headers)

    assert response.status_code == 200
    assert [b["title"] for b in response.json["items"]] == expected


def test_price_bounds_are_inclusive_and_exact(client, auth_headers, shelf):
    shelf([{"price": p} for p in ("0", "9.99", "10", "10.01", "1000000")])

    def prices(query):
        response = client.get(f"{BOOKS}?sort=price&{query}", headers=auth_headers)
        assert response.status_code == 200, response.json
        return [b["price"] for b in response.json["items"]]

    assert prices("min_price=9.99&max_price=10") == ["9.99", "10.00"]
    assert prices("min_price=10.01") == ["10.01", "1000000.00"]
    assert prices("max_price=0") == ["0.00"]
    assert prices("min_price=10&max_price=10") == ["10.00"]


def test_filters_combine_with_paging_and_the_total(client, auth_headers, shelf):
    shelf([{"author": "A", "price": str(i)} for i in range(5)] + [{"author": "B"}])

    response = client.get(
        f"{BOOKS}?author=a&min_price=1&per_page=2&sort=-price", headers=auth_headers
    )

    assert response.json["total"] == 4
    assert [b["price"] for b in response.json["items"]] == ["4.00", "3.00"]
    assert _links(response)["next"]["author"] == "a"


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=" + "9" * 30,
        "per_page=0",
        "per_page=101",
        "per_page=" + "9" * 5000,
        "sort=password_hash",
        "sort=-",
        "sort=title;DROP TABLE books",
        "sort=id",
        "min_price=abc",
        "min_price=-1",
        "min_price=1.001",
        "max_price=NaN",
        "max_price=1e3",
        "min_price=5&max_price=4",
        "owner=not-a-uuid",
        "author=",
        "q=" + "x" * 201,
        "q=a%00b",
        "publisher=%0A",
        "color=red",
        "page=1&page=2",
    ],
)
def test_malformed_queries_are_400_invalid_query(client, auth_headers, query):
    response = client.get(f"{BOOKS}?{query}", headers=auth_headers)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_query"
    assert response.json["errors"]


def test_admins_list_their_own_books_by_default(client, admin_headers, book):
    response = client.get(BOOKS, headers=admin_headers)

    assert response.json["items"] == []


def test_admins_may_list_any_users_books_with_owner(client, admin_headers, user, book):
    response = client.get(f"{BOOKS}?owner={user['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json["items"] == [book]


def test_admins_asking_for_an_unknown_owner_get_an_empty_list(client, admin_headers):
    response = client.get(f"{BOOKS}?owner={uuid.uuid4()}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json["total"] == 0


def test_owner_naming_yourself_is_allowed(client, auth_headers, user, book):
    response = client.get(f"{BOOKS}?owner={user['id']}", headers=auth_headers)

    assert response.json["items"] == [book]


@pytest.mark.parametrize("existing", [True, False])
def test_owner_from_a_non_admin_never_reveals_another_users_books(
    client, other_headers, user, book, existing
):
    owner = user["id"] if existing else str(uuid.uuid4())

    response = client.get(f"{BOOKS}?owner={owner}", headers=other_headers)

    assert response.status_code == 403  # the same answer whether or not they exist
    assert response.json["code"] == "forbidden"
    assert book["id"] not in response.get_data(as_text=True)


def test_a_repeated_query_string_answers_the_same_each_time(client, auth_headers):
    # Loaded arguments are reused per (schema, query string): the second answer
    # of each must equal the first, and a failure must fail again.
    for query, status in [("per_page=1&sort=title", 200), ("per_page=0", 400)] * 2:
        response = client.get(f"{BOOKS}?{query}", headers=auth_headers)
        assert response.status_code == status


def test_the_same_query_string_is_checked_by_each_endpoints_schema(
    client, auth_headers
):
    assert client.get(f"{BOOKS}?sort=title", headers=auth_headers).status_code == 200

    response = client.get("/api/v1/auth/sessions?sort=title", headers=auth_headers)

    assert response.status_code == 400  # sessions have no sort
    assert response.json["code"] == "invalid_query"
