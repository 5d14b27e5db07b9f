import os
import time

import pytest

import config
from bookstore import create_app
from bookstore.auth import accounts, sessions
from bookstore.extensions import LIMIT_STORE_TIMEOUT
from tests.conftest import PASSWORD, bearer
from tests.reliability.proxy import BLACKHOLE, Proxy
from tests.reliability.servers import Gunicorn, free_port, migrate

API = "/api/v1"
SECRET = "s" * 48
BOOK = {
    "title": "Dune",
    "author": "Frank Herbert",
    "publisher": "Chilton Books",
    "price": "9.99",
}


@pytest.fixture
def production_env(monkeypatch, tmp_path):
    """A production environment with nothing set that this test does not set."""
    for name in (
        "RATELIMIT_ENABLED",
        "RATELIMIT_STORAGE_URI",
        "REDIS_URL",
        "BOOKSTORE_WORKERS",
        "BOOKSTORE_INSTANCES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    return monkeypatch


@pytest.mark.parametrize(("workers", "instances"), [("2", "1"), ("1", "3"), ("4", "2")])
def test_production_refuses_per_process_limits_under_several_processes(
    production_env, workers, instances
):
    production_env.setenv("BOOKSTORE_WORKERS", workers)
    production_env.setenv("BOOKSTORE_INSTANCES", instances)

    with pytest.raises(config.ConfigError) as refused:
        create_app("production")

    message = str(refused.value)
    assert "memory://" in message and "RATELIMIT_STORAGE_URI" in message
    assert f"{workers} worker(s)" in message and f"{instances} instance(s)" in message


@pytest.mark.parametrize(
    "env",
    [
        {},  # one worker, one instance: memory:// is exact
        {"BOOKSTORE_WORKERS": "4", "RATELIMIT_STORAGE_URI": "redis://cache:6379/0"},
        {"BOOKSTORE_WORKERS": "4", "REDIS_URL": "redis://cache:6379/0"},
        {"BOOKSTORE_INSTANCES": "2", "RATELIMIT_ENABLED": "false"},
    ],
)
def test_production_accepts_limits_that_hold_across_processes(production_env, env):
    for name, value in env.items():
        production_env.setenv(name, value)

    assert create_app("production").config["ENV_NAME"] == "production"


def test_development_keeps_memory_limits_under_any_worker_count(production_env):
    production_env.setenv("BOOKSTORE_WORKERS", "8")

    app = create_app("development")

    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "memory://"),
        ({"REDIS_URL": "redis://cache:6379/1"}, "redis://cache:6379/1"),
        (
            {"REDIS_URL": "redis://cache/1", "RATELIMIT_STORAGE_URI": "redis://l/2"},
            "redis://l/2",
        ),
    ],
)
def test_limit_store_falls_back_to_redis_url(production_env, env, expected):
    for name, value in env.items():
        production_env.setenv(name, value)

    assert config.for_env("development").RATELIMIT_STORAGE_URI == expected


@pytest.mark.parametrize(
    "name", ["DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT_MS", "DB_POOL_TIMEOUT"]
)
def test_replaced_database_timeouts_are_refused_by_name(monkeypatch, name):
    monkeypatch.setenv(name, "5")

    with pytest.raises(config.ConfigError, match=f"{name}.*DATABASE_STATEMENT_TIMEOUT"):
        create_app("testing")


@pytest.fixture
def store_down(make_app):
    """An app whose rate-limit store (Redis) is unreachable, with a signed-in user."""
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
    )
    with app.app_context():
        user = accounts.register_user(username="alice", password=PASSWORD)
        pair = sessions.start_session(user, user_agent="test")
    return app, {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
    }


def _assert_unavailable(response):
    assert response.status_code == 503, response.json
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def test_credential_endpoints_fail_closed_without_the_store(store_down):
    app, pair = store_down
    client = app.test_client()

    login = client.post(
        f"{API}/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    basic = client.post(f"{API}/auth/login", auth=("alice", PASSWORD))
    register = client.post(
        f"{API}/auth/register", json={"username": "bob", "password": PASSWORD}
    )
    refresh = client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    change = client.put(
        f"{API}/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another long one"},
        headers=bearer(pair),
    )

    for response in (login, basic, register, refresh, change):
        _assert_unavailable(response)
    assert "access_token" not in (login.json or {})


def test_everything_else_keeps_working_without_the_store(store_down):
    app, pair = store_down
    client = app.test_client()

    created = client.post(
        f"{API}/books",
        json=BOOK,
        headers=bearer(pair),
    )
    listed = client.get(f"{API}/books", headers=bearer(pair))
    me = client.get(f"{API}/users/me", headers=bearer(pair))
    logout = client.post(f"{API}/auth/logout", headers=bearer(pair))

    assert created.status_code == 201, created.json
    assert listed.status_code == 200 and listed.json["total"] == 1
    assert me.status_code == 200
    assert logout.status_code == 204
    assert client.get("/healthz").status_code == 200


def test_readiness_is_503_without_the_store_and_names_nothing(store_down):
    app, _ = store_down

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["code"] == "service_unavailable"
    assert "rate-limit store" in response.json["detail"]
    assert "redis" not in response.get_data(as_text=True).lower()
    assert "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize("store", ["memory://", "redis"])
def test_readiness_is_200_when_the_store_answers(make_app, store):
    if store == "redis":
        store = os.environ.get("TEST_REDIS_URL") or pytest.skip("no TEST_REDIS_URL")
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=store)

    assert app.test_client().get("/readyz").status_code == 200


def test_a_store_that_stops_answering_costs_a_login_its_timeout(make_app):
    # Accepts connections and never answers: without a socket timeout redis-py
    # would wait forever, holding the worker.
    proxy = Proxy(("127.0.0.1", free_port()))
    proxy.cut(BLACKHOLE)
    try:
        app = make_app(
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{proxy.port}/0",
        )
        client = app.test_client()
        started = time.monotonic()

        login = client.post(
            f"{API}/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        ready = client.get("/readyz")

        elapsed = time.monotonic() - started
    finally:
        proxy.close()
    _assert_unavailable(login)
    assert ready.status_code == 503
    # One connect timeout each (login, then the readiness ping), plus slack.
    assert elapsed < 2 * LIMIT_STORE_TIMEOUT + 2


@pytest.mark.slow
def test_gunicorn_refuses_memory_limits_under_two_workers(tmp_path):
    server = Gunicorn(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        RATELIMIT_ENABLED="true",
        GUNICORN_WORKERS="2",
    )

    with pytest.raises(RuntimeError, match="gunicorn exited") as refused:
        server.start(ready_within=60)

    assert server.process.returncode != 0
    assert "refusing to start" in str(refused.value)
    assert "RATELIMIT_STORAGE_URI" in str(refused.value)


@pytest.mark.slow
def test_gunicorn_with_only_redis_url_shares_limits_and_reports_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    migrate(url)
    server = Gunicorn(
        tmp_path,
        DATABASE_URL=url,
        RATELIMIT_ENABLED="true",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        GUNICORN_WORKERS="2",
    ).start()
    try:
        ready = server.call("GET", "/readyz")
        login = server.call(
            "POST", f"{API}/auth/login", {"username": "a", "password": PASSWORD}
        )
        health = server.call("GET", "/healthz")
    finally:
        server.stop()

    assert ready.status == 503 and ready.body["code"] == "service_unavailable"
    assert login.status == 503 and int(login.headers["retry-after"]) > 0
    assert health.status == 200
