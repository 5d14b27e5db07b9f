import uuid

from tests.auth.conftest import login_on
from tests.auth.helpers import API, me, refresh

SESSIONS = f"{API}/auth/sessions"


def _bearer(pair):
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_logout_revokes_that_sessions_tokens_on_every_instance(two_clients, alice):
    one, two = two_clients
    pair, other = login_on(one), login_on(one)

    response = two.post(f"{API}/auth/logout", headers=_bearer(pair))

    assert response.status_code == 204
    assert me(one, pair).json["code"] == "token_revoked"
    assert refresh(one, pair).json["code"] == "token_revoked"
    assert me(two, other).status_code == 200


def test_logout_needs_an_access_token(two_clients):
    one, _ = two_clients

    response = one.post(f"{API}/auth/logout")

    assert response.status_code == 401
    assert response.json["code"] == "missing_token"


def test_logout_all_revokes_every_session_of_the_user(two_clients, alice):
    one, two = two_clients
    laptop, phone = login_on(one), login_on(two)

    response = one.post(f"{API}/auth/logout-all", headers=_bearer(laptop))

    assert response.status_code == 204
    for client in (one, two):
        for pair in (laptop, phone):
            assert me(client, pair).json["code"] == "token_revoked"
            assert refresh(client, pair).json["code"] == "token_revoked"


def test_logout_all_leaves_other_users_alone(two_clients, alice):
    one, two = two_clients
    two.post(
        f"{API}/auth/register",
        json={"username": "bob", "password": "correct horse battery staple"},
    )
    alice_pair, bob_pair = login_on(one), login_on(one, "bob")

    one.post(f"{API}/auth/logout-all", headers=_bearer(alice_pair))

    assert me(two, bob_pair).status_code == 200


def test_sessions_lists_live_sessions_with_the_current_flag(two_clients, alice):
    one, two = two_clients
    old = login_on(one)
    one.post(f"{API}/auth/logout", headers=_bearer(login_on(one)))
    current = login_on(two)

    response = one.get(
        SESSIONS, headers={**_bearer(current), "User-Agent": "ignored-here"}
    )

    assert response.status_code == 200
    body = response.json
    assert (body["total"], body["page"], body["pages"]) == (2, 1, 1)
    assert response.headers["X-Total-Count"] == "2"
    assert [s["current"] for s in body["items"]] == [True, False]
    first = body["items"][0]
    assert set(first) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "current",
    }
    assert first["created_at"].endswith("Z")
    assert me(one, old).status_code == 200


def test_sessions_record_the_login_user_agent(two_clients, alice):
    one, _ = two_clients
    one.post(
        f"{API}/auth/login",
        json={"username": "alice", "password": "correct horse battery staple"},
        headers={"User-Agent": "Firefox\x07/1.0 " + "x" * 300},
    )
    pair = login_on(one)

    items = one.get(SESSIONS, headers=_bearer(pair)).json["items"]

    agents = {s["user_agent"] for s in items}
    assert "Firefox/1.0 " + "x" * 188 in agents


def test_sessions_list_rejects_a_malformed_page(two_clients, alice):
    one, _ = two_clients

    response = one.get(f"{SESSIONS}?page=0", headers=_bearer(login_on(one)))

    assert response.status_code == 400
    assert response.json["code"] == "invalid_query"


def test_deleting_a_session_stops_its_tokens_at_once(two_clients, alice):
    one, two = two_clients
    phone, laptop = login_on(one), login_on(one)
    items = one.get(SESSIONS, headers=_bearer(laptop)).json["items"]
    phone_id = next(s["id"] for s in items if not s["current"])

    response = two.delete(f"{SESSIONS}/{phone_id}", headers=_bearer(laptop))

    assert response.status_code == 204
    assert me(one, phone).json["code"] == "token_revoked"
    assert refresh(two, phone).json["code"] == "token_revoked"
    assert me(one, laptop).status_code == 200
    again = two.delete(f"{SESSIONS}/{phone_id}", headers=_bearer(laptop))
    assert again.status_code == 404


def test_someone_elses_session_is_404_and_survives(two_clients, alice):
    one, two = two_clients
    two.post(
        f"{API}/auth/register",
        json={"username": "mallory", "password": "correct horse battery staple"},
    )
    victim, attacker = login_on(one), login_on(two, "mallory")
    victim_id = one.get(SESSIONS, headers=_bearer(victim)).json["items"][0]["id"]

    response = two.delete(f"{SESSIONS}/{victim_id}", headers=_bearer(attacker))
    absent = two.delete(f"{SESSIONS}/{uuid.uuid4()}", headers=_bearer(attacker))

    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert absent.status_code == 404
    assert {k: v for k, v in response.json.items() if k != "request_id"} == {
        k: v for k, v in absent.json.items() if k != "request_id"
    }
    assert me(one, victim).status_code == 200


def test_a_malformed_session_id_is_404(two_clients, alice):
    one, _ = two_clients

    response = one.delete(f"{SESSIONS}/not-a-uuid", headers=_bearer(login_on(one)))

    assert response.status_code == 404
