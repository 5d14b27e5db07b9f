import uuid

import pytest
import sqlalchemy as sa

from bookstore.books.models import Book
from bookstore.extensions import db
from tests.conftest import bearer


def _no_secrets(body) -> None:
    text = str(body).lower()
    assert "password" not in text and "hash" not in text and "$argon2" not in text


def test_me_returns_the_caller(client, user, auth_headers):
    response = client.get("/api/v1/users/me", headers=auth_headers)

    assert response.status_code == 200
    assert response.json == user
    assert set(user) == {
        "id",
        "username",
        "email",
        "is_admin",
        "is_active",
        "created_at",
    }
    assert user["created_at"].endswith("Z")
    _no_secrets(response.json)


def test_admin_lists_users_paginated(client, admin_headers, user, other_user):
    response = client.get("/api/v1/users?per_page=2", headers=admin_headers)

    assert response.status_code == 200
    assert response.json["total"] == 3
    assert response.json["pages"] == 2
    assert len(response.json["items"]) == 2
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in response.headers["Link"]
    _no_secrets(response.json)


def test_non_admin_cannot_list_users(client, auth_headers):
    response = client.get("/api/v1/users", headers=auth_headers)

    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


def test_listing_users_needs_a_token(client):
    response = client.get("/api/v1/users")

    assert response.status_code == 401
    assert response.json["code"] == "missing_token"


@pytest.mark.parametrize(
    "query", ["page=0", "per_page=101", "page=abc", "page=99999999999999999999"]
)
def test_malformed_user_list_query_is_400(client, admin_headers, query):
    response = client.get(f"/api/v1/users?{query}", headers=admin_headers)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_query"


def test_user_can_get_themself(client, user, auth_headers):
    response = client.get(f"/api/v1/users/{user['id']}", headers=auth_headers)

    assert response.status_code == 200
    assert response.json["username"] == "alice"


def test_someone_else_is_404_for_a_non_admin(client, auth_headers, other_user):
    response = client.get(f"/api/v1/users/{other_user['id']}", headers=auth_headers)

    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_unknown_user_is_404_like_someone_else(client, auth_headers):
    response = client.get(f"/api/v1/users/{uuid.uuid4()}", headers=auth_headers)

    assert response.status_code == 404


def test_admin_gets_anyone(client, admin_headers, other_user):
    response = client.get(f"/api/v1/users/{other_user['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json == other_user


def test_admin_promotes_a_user(client, admin_headers, user):
    response = client.patch(
        f"/api/v1/users/{user['id']}", json={"is_admin": True}, headers=admin_headers
    )

    assert response.status_code == 200
    assert response.json["is_admin"] is True


def test_disabling_a_user_revokes_their_tokens_at_once(
    client, admin_headers, user, auth_headers
):
    response = client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=admin_headers
    )

    assert response.status_code == 200
    assert response.json["is_active"] is False
    after = client.get("/api/v1/users/me", headers=auth_headers)
    assert after.status_code == 401
    assert after.json["code"] == "token_revoked"


def test_disabled_user_cannot_log_in_and_reenabled_user_can(
    client, admin_headers, user
):
    from tests.conftest import PASSWORD

    client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=admin_headers
    )
    refused = client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": True}, headers=admin_headers
    )
    accepted = client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    )

    assert refused.status_code == 401
    assert refused.json["code"] == "invalid_credentials"
    assert accepted.status_code == 200


@pytest.mark.parametrize("change", [{"is_admin": False}, {"is_active": False}])
def test_admin_cannot_demote_or_disable_themself(client, admin, admin_headers, change):
    response = client.patch(
        f"/api/v1/users/{admin['id']}", json=change, headers=admin_headers
    )

    assert response.status_code == 409
    assert response.json["code"] == "conflict"


def test_non_admin_cannot_patch_users(client, user, auth_headers):
    response = client.patch(
        f"/api/v1/users/{user['id']}", json={"is_admin": True}, headers=auth_headers
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"is_admin": "true"},
        {"is_admin": 1},
        {"is_active": None},
        {"username": "renamed"},
        {"password_hash": "x"},
    ],
)
def test_patch_validates_strictly(client, admin_headers, user, body):
    response = client.patch(
        f"/api/v1/users/{user['id']}", json=body, headers=admin_headers
    )

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert response.json["errors"]


def test_patching_an_unknown_user_is_404(client, admin_headers):
    response = client.patch(
        f"/api/v1/users/{uuid.uuid4()}", json={"is_admin": True}, headers=admin_headers
    )

    assert response.status_code == 404


def test_user_deletes_themself_and_their_books_and_tokens_go(
    app, client, user, auth_headers
):
    with app.app_context():
        owner_id = db.session.scalar(sa.text("SELECT id FROM users"))
        db.session.add(
            Book(
                owner_id=owner_id, title="t", author="a", publisher="p", price_cents=100
            )
        )
        db.session.commit()

    response = client.delete(f"/api/v1/users/{user['id']}", headers=auth_headers)

    assert response.status_code == 204
    assert client.get("/api/v1/users/me", headers=auth_headers).json["code"] == (
        "token_revoked"
    )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Book)) == 0


def test_admin_deletes_a_user(client, admin_headers, other_user, other_headers):
    response = client.delete(f"/api/v1/users/{other_user['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert client.get("/api/v1/users/me", headers=other_headers).status_code == 401
    again = client.delete(f"/api/v1/users/{other_user['id']}", headers=admin_headers)
    assert again.status_code == 404


def test_non_admin_cannot_delete_someone_else(
    client, auth_headers, other_user, other_headers
):
    response = client.delete(f"/api/v1/users/{other_user['id']}", headers=auth_headers)

    assert response.status_code == 404
    assert client.get("/api/v1/users/me", headers=other_headers).status_code == 200


def test_malformed_user_id_is_404(client, admin_headers):
    response = client.get("/api/v1/users/12345", headers=admin_headers)

    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_login_after_password_change_uses_the_new_password(
    client, user, auth_headers, login
):
    response = client.put(
        "/api/v1/users/me/password",
        json={
            "current_password": "correct horse battery staple",
            "new_password": "a much better passphrase",
        },
        headers=auth_headers,
    )

    assert response.status_code == 200
    assert (
        client.get("/api/v1/users/me", headers=bearer(response.json)).status_code == 200
    )
    assert login("alice", "a much better passphrase")["access_token"]
