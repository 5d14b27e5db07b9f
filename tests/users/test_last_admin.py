from tests.conftest import bearer

USERS = "/api/v1/users"


def _promote(client, admin_headers, user_id):
    response = client.patch(
        f"{USERS}/{user_id}", json={"is_admin": True}, headers=admin_headers
    )
    assert response.status_code == 200, response.json


def _admins(client, headers):
    listed = client.get(f"{USERS}?per_page=100", headers=headers).json["items"]
    return {u["username"] for u in listed if u["is_admin"] and u["is_active"]}


def test_the_only_admin_cannot_delete_themself(client, admin, admin_headers):
    response = client.delete(f"{USERS}/{admin['id']}", headers=admin_headers)

    assert response.status_code == 409
    assert response.json["code"] == "conflict"
    assert "last active admin" in response.json["detail"]
    assert client.get(f"{USERS}/me", headers=admin_headers).json["is_admin"]


def test_an_admin_may_delete_themself_while_another_admin_remains(
    client, admin, admin_headers, user, login
):
    _promote(client, admin_headers, user["id"])
    alice_headers = bearer(login("alice"))

    response = client.delete(f"{USERS}/{admin['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert _admins(client, alice_headers) == {"alice"}


def test_deleting_the_other_of_two_admins_leaves_one_and_the_last_stays(
    client, admin, admin_headers, user, login
):
    _promote(client, admin_headers, user["id"])
    alice_headers = bearer(login("alice"))
    assert client.delete(f"{USERS}/{admin['id']}", headers=alice_headers).status_code
    # alice is now the last admin: neither she nor anyone can remove her
    response = client.delete(f"{USERS}/{user['id']}", headers=alice_headers)

    assert response.status_code == 409
    assert _admins(client, alice_headers) == {"alice"}


def test_a_user_who_is_not_an_admin_still_deletes_themself(
    client, admin, user, auth_headers
):
    response = client.delete(f"{USERS}/{user['id']}", headers=auth_headers)

    assert response.status_code == 204


def test_a_service_with_no_admin_lets_users_delete_themselves(
    client, user, auth_headers
):
    response = client.delete(f"{USERS}/{user['id']}", headers=auth_headers)

    assert response.status_code == 204
