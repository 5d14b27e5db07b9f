import logging
import socket
import uuid

import pytest

from bookstore.extensions import limiter
from tests.auth.helpers import API
from tests.conftest import PASSWORD

LOGIN, REGISTER, REFRESH = (f"{API}/auth/{p}" for p in ("login", "register", "refresh"))


def _register(client, username):
    return client.post(REGISTER, json={"username": username, "password": PASSWORD})


def _login(client, username, password=PASSWORD, **kwargs):
    return client.post(
        LOGIN, json={"username": username, "password": password}, **kwargs
    )


def _assert_rate_limited(response):
    assert response.status_code == 429, response.json
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_login_is_limited_per_client_address(limited, caplog):
    client = limited(RATELIMIT_LOGIN_PER_ADDRESS="3/minute")
    name = f"u{uuid.uuid4().hex[:12]}"
    _register(client, name)
    caplog.set_level(logging.INFO, logger="bookstore.audit")

    answers = [_login(client, name).status_code for _ in range(3)]
    blocked = _login(client, name)

    assert answers == [200, 200, 200]
    _assert_rate_limited(blocked)
    hits = [r for r in caplog.records if getattr(r, "event", "") == "rate_limit_hit"]
    assert len(hits) == 1
    assert hits[0].endpoint == "auth.login"
    assert hits[0].request_id == blocked.headers["X-Request-ID"]


def test_register_is_limited_per_address(limited):
    client = limited(RATELIMIT_REGISTER="2/hour")

    answers = [_register(client, f"u{uuid.uuid4().hex[:12]}") for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [201, 201]
    _assert_rate_limited(answers[2])


def test_refresh_is_limited_per_address(limited):
    client = limited(RATELIMIT_REFRESH="2/minute")
    name = f"u{uuid.uuid4().hex[:12]}"
    _register(client, name)
    pair = _login(client, name).json

    answers = []
    for _ in range(3):
        response = client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        answers.append(response)
        pair = response.json if response.status_code == 200 else pair

    assert [a.status_code for a in answers[:2]] == [200, 200]
    _assert_rate_limited(answers[2])


def test_password_change_is_limited_per_address(limited):
    client = limited(RATELIMIT_PASSWORD_CHANGE="2/hour")
    name = f"u{uuid.uuid4().hex[:12]}"
    _register(client, name)
    headers = {"Authorization": f"Bearer {_login(client, name).json['access_token']}"}

    answers = [
        client.put(
            "/api/v1/users/me/password",
            json={"current_password": "wrong guess", "new_password": "x" * 20},
            headers=headers,
        )
        for _ in range(3)
    ]

    assert [a.status_code for a in answers[:2]] == [401, 401]
    _assert_rate_limited(answers[2])


@pytest.mark.parametrize(("hops", "separate"), [(0, False), (1, True)])
def test_forwarded_for_is_honoured_only_for_trusted_hops(limited, hops, separate):
    client = limited(RATELIMIT_REGISTER="1/hour", TRUSTED_PROXY_HOPS=hops)

    first = client.post(
        REGISTER,
        json={"username": f"u{uuid.uuid4().hex[:12]}", "password": PASSWORD},
        headers={"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250}"},
    )
    second = client.post(
        REGISTER,
        json={"username": f"u{uuid.uuid4().hex[:12]}", "password": PASSWORD},
        headers={"X-Forwarded-For": f"203.0.113.{uuid.uuid4().int % 250}"},
    )

    assert first.status_code == 201
    assert second.status_code == (201 if separate else 429)


def test_an_unreachable_limit_store_is_503_not_500(make_app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port}/0",
    )

    response = app.test_client().post(
        LOGIN, json={"username": "alice", "password": PASSWORD}
    )

    assert response.status_code == 503
    assert response.json["code"] == "service_unavailable"


def test_the_per_request_limit_hook_is_dropped_only_when_it_has_nothing_to_check(
    make_app,
):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")

    # The slow reference: Flask-Limiter's own before-request check, on every
    # route, finds no limit to evaluate (route limits run in their decorators).
    assert limiter._check_request_limit not in app.before_request_funcs[None]
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<uuid:book_id>", str(uuid.uuid4())).replace(
            "<uuid:session_id>", str(uuid.uuid4())
        )
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            with app.test_request_context(path, method=method):
                limiter._check_request_limit()
                assert limiter.current_limits == [], (rule.rule, method)


def test_an_app_wide_limit_keeps_the_hook_and_limits_every_route(make_app):
    limiter.limit_manager.set_default_limits([])
    try:
        app = make_app(
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI="memory://",
            RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
            RATELIMIT_DEFAULT="2/minute",
        )
        client = app.test_client()
        statuses = [client.get("/healthz").status_code for _ in range(3)]
    finally:
        limiter.limit_manager.set_default_limits([])

    assert limiter._check_request_limit in app.before_request_funcs[None]
    assert statuses == [200, 200, 429]
