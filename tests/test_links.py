import re

import pytest

from bookstore import create_app
from tests.books.conftest import BOOKS, book_body

PAGED = ["/api/v1/books", "/api/v1/auth/sessions", "/api/v1/users"]


def _targets(response) -> list[str]:
    return re.findall(r"<([^>]+)>", response.headers["Link"])


@pytest.fixture
def two_books(client, auth_headers):
    for title in ("A", "B"):
        response = client.post(BOOKS, json=book_body(title=title), headers=auth_headers)
        assert response.status_code == 201


@pytest.mark.parametrize("host", ["evil.example", "other.example:8080"])
def test_links_are_relative_and_never_name_the_requests_host(
    client, auth_headers, two_books, host
):
    response = client.get(
        f"{BOOKS}?per_page=1&sort=title", headers={**auth_headers, "Host": host}
    )

    targets = _targets(response)
    assert len(targets) == 3  # first, next, last
    assert all(t.startswith(f"{BOOKS}?") for t in targets), targets
    assert host not in response.get_data(as_text=True)
    assert all(host not in value for value in response.headers.values())


def test_links_use_public_url_when_it_is_set(make_app):
    app = make_app(PUBLIC_URL="https://books.example.com")
    client = app.test_client()
    register_response = client.post(
        "/api/v1/auth/register",
        json={"username": "alice", "password": "correct horse battery staple"},
    )
    assert register_response.status_code == 201
    token = client.post(
        "/api/v1/auth/login",
        json={"username": "alice", "password": "correct horse battery staple"},
    ).json["access_token"]

    response = client.get(
        BOOKS,
        headers={"Authorization": f"Bearer {token}", "Host": "evil.example"},
    )

    targets = _targets(response)
    assert targets
    assert all(t.startswith(f"https://books.example.com{BOOKS}?") for t in targets)
    assert "evil.example" not in response.headers["Link"]


@pytest.mark.parametrize(
    "value",
    [
        "ftp://books.example.com",
        "books.example.com",
        "https://user:pw@books.example.com",
        "https://books.example.com/?x=1",
        "https://books.example.com/#top",
        "https://",
    ],
)
def test_a_malformed_public_url_refuses_to_start(monkeypatch, value):
    from config import ConfigError

    monkeypatch.setenv("PUBLIC_URL", value)

    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app("testing")


def test_public_url_keeps_a_path_prefix_and_drops_a_trailing_slash(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://example.com/bookstore/")

    app = create_app("testing")

    assert app.config["PUBLIC_URL"] == "https://example.com/bookstore"


@pytest.mark.parametrize("path", PAGED)
def test_list_responses_are_private_and_revalidated(client, admin_headers, path):
    response = client.get(path, headers=admin_headers)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert all(not t.startswith("http") for t in _targets(response))


def test_the_callers_user_object_is_private_and_revalidated(client, auth_headers):
    response = client.get("/api/v1/users/me", headers=auth_headers)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_token_bearing_responses_keep_no_store(client, user):
    response = client.post(
        "/api/v1/auth/login",
        json={"username": "alice", "password": "correct horse battery staple"},
    )

    assert response.headers["Cache-Control"] == "no-store"


def test_each_script_root_and_query_gets_its_own_links(client, auth_headers, two_books):
    # The part of the links before the paging arguments is built once per
    # (script root, path, query string): each must still get its own.
    def links(query: str, **environ) -> list[str]:
        response = client.get(
            f"{BOOKS}?{query}", headers=auth_headers, environ_overrides=environ
        )
        assert response.status_code == 200
        return _targets(response)

    plain = links("per_page=1&sort=title")
    under = links("per_page=1&sort=title", SCRIPT_NAME="/shop")
    by_author = links("per_page=1&sort=author")
    again = links("per_page=1&sort=title")

    assert plain[0] == f"{BOOKS}?sort=title&page=1&per_page=1"
    assert under[0] == f"/shop{BOOKS}?sort=title&page=1&per_page=1"
    assert by_author[0] == f"{BOOKS}?sort=author&page=1&per_page=1"
    assert again == plain
