import json
import logging

from bookstore.logs import JSONFormatter
from tests.auth.helpers import API, me, move_clock, refresh
from tests.conftest import PASSWORD

NEW_PASSWORD = "an entirely new passphrase"


def _events(caplog):
    return [r for r in caplog.records if r.name == "bookstore.audit"]


def _bearer(pair):
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_security_events_are_logged_with_request_and_user_ids(
    client, user, login, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    client.post(
        f"{API}/auth/login", json={"username": "alice", "password": "wrong one!"}
    )
    pair = login("alice")
    spent = refresh(client, pair).json
    move_clock(monkeypatch, 60)
    refresh(client, pair)  # reuse after the grace window
    fresh = login("alice")
    changed = client.put(
        f"{API}/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=_bearer(fresh),
    ).json
    client.post(f"{API}/auth/logout", headers=_bearer(changed))

    events = _events(caplog)
    names = [r.event for r in events]
    for expected in (
        "login_failed",
        "login_succeeded",
        "refresh_reuse_detected",
        "password_changed",
        "logout",
    ):
        assert expected in names
    for record in events:
        assert record.request_id
        assert record.user_id == user["id"]
    assert spent["access_token"]


def test_no_token_or_password_ever_reaches_a_log_record(
    client, user, login, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    client.post(
        f"{API}/auth/login", json={"username": "alice", "password": "wrong guess!"}
    )
    pair = login("alice")
    second = refresh(client, pair).json
    me(client, second)
    move_clock(monkeypatch, 60)
    refresh(client, pair)
    third = login("alice")
    changed = client.put(
        f"{API}/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=_bearer(third),
    ).json
    client.post(f"{API}/auth/logout-all", headers=_bearer(changed))
    client.get(f"{API}/users/me", headers={"x-access-tokens": third["access_token"]})

    secrets = {PASSWORD, NEW_PASSWORD, "wrong guess!"}
    for tokens in (pair, second, third, changed):
        secrets |= {tokens["access_token"], tokens["refresh_token"]}
        secrets |= {
            part
            for t in tokens.values()
            if isinstance(t, str)
            for part in t.split(".")[2:]
        }  # signatures alone
    formatter = JSONFormatter()
    assert caplog.records
    for record in caplog.records:
        line = formatter.format(record) + json.dumps(vars(record), default=str)
        for secret in secrets:
            assert secret not in line, (record.name, record.getMessage())
