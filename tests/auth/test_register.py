import pytest

from tests.conftest import PASSWORD

URL = "/api/v1/auth/register"


def test_register_answers_201_with_location_and_the_user(client):
    response = client.post(URL, json={"username": "alice", "password": PASSWORD})

    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"/api/v1/users/{body['id']}"
    assert body["username"] == "alice"
    assert body["is_admin"] is False
    assert body["is_active"] is True
    assert body["email"] is None
    assert body["created_at"].endswith("Z")
    assert set(body) == {
        "id",
        "username",
        "email",
        "is_admin",
        "is_active",
        "created_at",
    }


def test_register_never_returns_the_password_or_its_hash(client):
    response = client.post(URL, json={"username": "alice", "password": PASSWORD})

    text = response.get_data(as_text=True)
    assert PASSWORD not in text
    assert "argon2" not in text
    assert "password" not in text


def test_register_keeps_a_trimmed_email(client):
    response = client.post(
        URL,
        json={"username": "alice", "password": PASSWORD, "email": " a@example.com "},
    )

    assert response.status_code == 201
    assert response.json["email"] == "a@example.com"


@pytest.mark.parametrize(
    "username",
    ["abc", "a" * 32, "Alice_01", "a.b-c", "___", "A-Z.a_z-0.9"],
)
def test_register_accepts_usernames_within_the_rules(client, username):
    response = client.post(URL, json={"username": username, "password": PASSWORD})

    assert response.status_code == 201


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 33,
        "al ice",
        "alice!",
        "alïce",
        "alice\n",
        "\nalice",
        "ali\x00ce",
        "",
        "../etc",
        "a@b",
        123,
        None,
        ["alice"],
    ],
)
def test_register_refuses_usernames_outside_the_rules(client, username):
    response = client.post(URL, json={"username": username, "password": PASSWORD})

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert "username" in response.json["errors"]


def test_usernames_are_unique_case_insensitively(client, register):
    register("Alice")

    response = client.post(URL, json={"username": "aLICE", "password": PASSWORD})

    assert response.status_code == 409
    assert response.json["code"] == "conflict"
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("username", "password", "why"),
    [
        ("alice", "short12", "Length"),
        ("alice", "x" * 129, "Length"),
        ("alice", "password123", "common"),
        ("alice", "PassWord123", "common"),
        ("alice-in-chains", "alice-in-chains", "username"),
        ("alice_2024", "ALICE_2024", "username"),
        ("alice", "\ud800" * 10, "Unicode"),
        ("alice", "aaaaaaaa", "single character repeated"),
        ("alice", " " * 8, "single character repeated"),
        ("alice", "12345678", "simple sequence"),
        ("alice", "abcdefgh", "simple sequence"),
        ("alice", "87654321", "simple sequence"),
        ("alice", "QwertyUI", "simple sequence"),
        ("alice", "!@#$%^&*", "simple sequence"),
        ("alice", "Alice123", "mostly the username"),
        ("alice", "xalicealice", "mostly the username"),
    ],
)
def test_register_applies_the_password_policy(client, username, password, why):
    response = client.post(URL, json={"username": username, "password": password})

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert why in " ".join(response.json["errors"]["password"])


@pytest.mark.parametrize(
    "password",
    ["xy" * 4, "yz" * 64, "correct horse 🐎🔋", "1234567x", "alice in wonderland"],
)
def test_register_accepts_passwords_of_8_to_128_characters(client, password):
    response = client.post(URL, json={"username": "alice", "password": password})

    assert response.status_code == 201


@pytest.mark.parametrize(
    "extra", [{"is_admin": True}, {"is_active": False}, {"id": "x"}, {"role": "admin"}]
)
def test_register_refuses_unknown_fields_and_nobody_becomes_admin(client, extra):
    response = client.post(
        URL, json={"username": "alice", "password": PASSWORD, **extra}
    )

    assert response.status_code == 422
    assert list(response.json["errors"]) == list(extra)


def test_register_with_a_body_that_is_not_json_is_malformed_json(client):
    response = client.post(
        URL, data="{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json["code"] == "malformed_json"


@pytest.mark.parametrize("body", ["[]", '"alice"', "null", "1"])
def test_register_with_json_that_is_not_an_object_is_malformed_json(client, body):
    response = client.post(URL, data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json["code"] == "malformed_json"


def test_register_with_deeply_nested_json_is_malformed_json(client):
    response = client.post(
        URL, data="[" * 5000 + "]" * 5000, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json["code"] == "malformed_json"


def test_register_without_a_json_content_type_is_415(client):
    response = client.post(URL, data="username=alice")

    assert response.status_code == 415
    assert response.json["code"] == "unsupported_media_type"


def test_register_email_with_a_nul_byte_is_422_on_every_database(client):
    response = client.post(
        URL,
        json={"username": "alice", "password": PASSWORD, "email": "a\x00@example.com"},
    )

    assert response.status_code == 422
