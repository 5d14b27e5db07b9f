import base64
import logging
import socket
import uuid

import pytest

from bookstore import create_app
from bookstore.extensions import limiter
from config import ConfigError
from tests.auth.helpers import API, move_clock
from tests.conftest import PASSWORD

LOGIN, REGISTER = f"{API}/auth/login", f"{API}/auth/register"
WRONG = "not the password at all"


def _name():
    return f"u{uuid.uuid4().hex[:12]}"


def _address():
    return ".".join(str(uuid.uuid4().int % 250) for _ in range(4))


def _login(client, username, password=PASSWORD, address=None):
    extra = {"environ_base": {"REMOTE_ADDR": address}} if address else {}
    return client.post(
        LOGIN, json={"username": username, "password": password}, **extra
    )


def _statuses(client, username, password, times, address=None):
    answers = (_login(client, username, password, address) for _ in range(times))
    return [response.status_code for response in answers]


@pytest.fixture
def throttled(limited):
    """A client whose login failure bounds are small: 3 per (account, address) per
    15 minutes, 8 per account per day; the per-address cap is out of the way."""

    def build(**limits):
        settings = {
            "RATELIMIT_LOGIN_PER_ADDRESS": "1000/minute",
            "RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": "3/15 minutes",
            "RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT": "8/day",
        }
        settings.update(limits)
        client = limited(**settings)
        name = _name()
        assert (
            client.post(
                REGISTER, json={"username": name, "password": PASSWORD}
            ).status_code
            == 201
        )
        return client, name

    return build


def _assert_refused(response):
    assert response.status_code == 429, response.json
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_failures_from_one_address_lock_that_address_out_of_that_account(throttled):
    client, name = throttled()

    failures = _statuses(client, name, WRONG, 3)
    right_password_there = _login(client, name)

    assert failures == [401, 401, 401]
    _assert_refused(right_password_there)
    assert int(right_password_there.headers["Retry-After"]) >= 14 * 60


def test_the_owner_logs_in_from_another_address_meanwhile(throttled):
    client, name = throttled()
    attacker, owner = _address(), _address()

    failures = _statuses(client, name, WRONG, 5, attacker)
    from_owner = _login(client, name, address=owner)

    assert failures == [401, 401, 401, 429, 429]
    assert from_owner.status_code == 200


def test_the_attacker_address_may_still_try_other_accounts(throttled):
    client, name = throttled()
    other = _name()

    _statuses(client, name, WRONG, 3)
    elsewhere = _login(client, other, WRONG)

    assert elsewhere.status_code == 401


def test_successful_logins_do_not_count(throttled):
    client, name = throttled()

    answers = _statuses(client, name, PASSWORD, 6)
    after = _statuses(client, name, WRONG, 3)

    assert answers == [200] * 6
    assert after == [401, 401, 401]


def test_unknown_usernames_are_counted_like_real_ones(throttled):
    client, name = throttled()
    unknown = _name()

    real = _statuses(client, name, WRONG, 4)
    ghost = _statuses(client, unknown, WRONG, 4)

    assert real == ghost == [401, 401, 401, 429]


def test_usernames_are_counted_case_insensitively(throttled):
    client, name = throttled()

    answers = [_login(client, n, WRONG).status_code for n in (name, name.upper(), name)]
    fourth = _login(client, name.capitalize())

    assert answers == [401, 401, 401]
    _assert_refused(fourth)


def test_basic_login_failures_count_too(throttled):
    client, name = throttled()
    token = base64.b64encode(f"{name}:{WRONG}".encode()).decode()

    answers = [
        client.post(LOGIN, headers={"Authorization": f"Basic {token}"}).status_code
        for _ in range(3)
    ]

    assert answers == [401, 401, 401]
    _assert_refused(_login(client, name))


def test_the_account_cap_refuses_the_owner_only_once_reached(throttled):
    client, name = throttled()
    attackers = [_address() for _ in range(3)]

    spread = [s for a in attackers[:2] for s in _statuses(client, name, WRONG, 3, a)]
    seventh = _login(client, name, WRONG, attackers[2])
    owner_before = _login(client, name, address=_address())
    eighth = _login(client, name, WRONG, attackers[2])
    owner_after = _login(client, name, address=_address())

    assert spread == [401] * 6
    assert seventh.status_code == 401
    assert owner_before.status_code == 200
    assert eighth.status_code == 401
    _assert_refused(owner_after)
    assert int(owner_after.headers["Retry-After"]) > 23 * 3600


def test_one_address_alone_cannot_use_up_the_account_bound(throttled, monkeypatch):
    client, name = throttled(
        RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS="3/15 minutes;6/day",
        RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT="8/day",
    )
    attacker = _address()

    first = _statuses(client, name, WRONG, 3, attacker)
    move_clock(monkeypatch, 20 * 60)
    second = _statuses(client, name, WRONG, 4, attacker)
    move_clock(monkeypatch, 40 * 60)
    third = _login(client, name, WRONG, attacker)
    owner = _login(client, name, address=_address())

    assert first == [401, 401, 401]
    assert second == [401, 401, 401, 429]
    _assert_refused(third)
    assert int(third.headers["Retry-After"]) > 23 * 3600
    assert owner.status_code == 200


def test_ipv6_clients_are_counted_per_64(throttled):
    client, name = throttled()
    same_64 = [f"2001:db8:1:2::{i:x}" for i in range(1, 5)]

    answers = [_login(client, name, WRONG, a).status_code for a in same_64]
    other_64 = _login(client, name, address="2001:db8:1:3::1")

    assert answers == [401, 401, 401, 429]
    assert other_64.status_code == 200


def test_ipv4_clients_are_counted_per_address(throttled):
    client, name = throttled()

    first = _statuses(client, name, WRONG, 3, "192.0.2.1")
    neighbour = _login(client, name, WRONG, "192.0.2.2")

    assert first == [401, 401, 401]
    assert neighbour.status_code == 401


def test_the_per_address_cap_counts_every_attempt_per_64(throttled):
    client, name = throttled(RATELIMIT_LOGIN_PER_ADDRESS="4/minute")
    network = "2001:db8:7:7::"

    answers = [
        _login(client, name, PASSWORD, f"{network}{i}").status_code for i in (1, 2)
    ]
    probe = client.post(
        LOGIN, json={"username": name}, environ_base={"REMOTE_ADDR": f"{network}3"}
    )
    unknown = _login(client, _name(), WRONG, f"{network}4")
    fifth = _login(client, name, PASSWORD, f"{network}5")
    elsewhere = _login(client, name, PASSWORD, "2001:db8:7:8::1")

    assert answers == [200, 200]
    assert (probe.status_code, unknown.status_code) == (422, 401)
    _assert_refused(fifth)
    assert elsewhere.status_code == 200


def test_failures_count_for_the_whole_window_not_an_aligned_one(throttled, monkeypatch):
    client, name = throttled()

    early = _statuses(client, name, WRONG, 2)
    move_clock(monkeypatch, 14 * 60)
    late = _login(client, name, WRONG)
    move_clock(monkeypatch, 14 * 60 + 59)
    still = _login(client, name)
    move_clock(monkeypatch, 19 * 60)  # the two early ones are out of every window
    again = _statuses(client, name, WRONG, 3)

    assert early == [401, 401]
    assert late.status_code == 401
    _assert_refused(still)
    assert again == [401, 401, 429]


def test_retry_after_is_when_an_attempt_is_let_through_again(throttled, monkeypatch):
    client, name = throttled()
    _statuses(client, name, WRONG, 3)
    wait = int(_login(client, name).headers["Retry-After"])

    move_clock(monkeypatch, wait - 2)
    early = _login(client, name)
    move_clock(monkeypatch, wait + 1)
    on_time = _login(client, name)

    assert early.status_code == 429
    assert on_time.status_code == 200


def test_no_header_tells_an_account_failure_count(throttled):
    client, name = throttled()
    _statuses(client, name, WRONG, 2, _address())

    def probe(username, body_extra):
        response = client.post(
            LOGIN,
            json={"username": username, **body_extra},
            environ_base={"REMOTE_ADDR": _address()},
        )
        return response.status_code, _limit_headers(response)

    for extra in ({}, {"password": WRONG}):  # a 422 probe, and a real attempt
        assert probe(name, extra) == probe(_name(), extra)


def _limit_headers(response):
    """Every header but the request id; clock times (a second apart they may
    differ) only by their presence."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    for name in {"x-ratelimit-reset", "retry-after"} & set(headers):
        headers[name] = "a clock time"
    headers.pop("x-request-id")
    return headers


def test_refusals_are_audited_without_the_username(throttled, caplog):
    client, name = throttled()
    caplog.set_level(logging.INFO, logger="bookstore.audit")

    _statuses(client, name, WRONG, 3)
    refused = _login(client, name)

    hits = [r for r in caplog.records if getattr(r, "event", "") == "rate_limit_hit"]
    assert len(hits) == 1
    hit = hits[0]
    assert hit.request_id == refused.headers["X-Request-ID"]
    assert hit.endpoint == "auth.login"
    assert hit.rule == "login_failures_per_account_address"
    assert name not in repr(vars(hit)).lower()


def test_odd_usernames_make_valid_counter_keys(throttled):
    client, _ = throttled()

    answers = _statuses(client, "\ud800 \x00 " + "é" * 200, WRONG, 4)

    assert answers == [401, 401, 401, 429]


def test_an_unreachable_store_fails_login_closed_even_if_limiter_swallows(
    make_app, monkeypatch
):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    # Flask-Limiter's own limits then let requests through; ours must not. (Its one
    # instance keeps the first app's choice: reset it, and restore it afterwards.)
    monkeypatch.setattr(limiter, "_swallow_errors", None)
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port}/0",
        RATELIMIT_SWALLOW_ERRORS=True,
    )

    response = app.test_client().post(
        LOGIN, json={"username": "alice", "password": PASSWORD}
    )

    assert response.status_code == 503
    assert response.json["code"] == "service_unavailable"


@pytest.mark.parametrize(
    "value", ["often", "5/minute;junk", "0/minute", "1/minute;0/day"]
)
def test_a_malformed_failure_bound_refuses_to_start(monkeypatch, value):
    monkeypatch.setenv("RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT", value)

    with pytest.raises(ConfigError, match="RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT"):
        create_app("testing")


def test_the_retired_per_username_limit_refuses_to_start(monkeypatch):
    monkeypatch.setenv("RATELIMIT_LOGIN_PER_USERNAME", "10/minute;50/day")

    with pytest.raises(ConfigError, match="no longer read"):
        create_app("testing")
