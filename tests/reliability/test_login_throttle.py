"""Login throttling through two gunicorn workers sharing Redis, posing as many
client addresses through one trusted proxy hop (X-Forwarded-For)."""

import uuid

import pytest

from tests.databases import fresh_database
from tests.reliability.servers import (
    PASSWORD,
    Gunicorn,
    delete_rate_limit_keys,
    migrate,
    race,
)

LOGIN = "/api/v1/auth/login"
WRONG = "not the password at all"
PER_PAIR, PER_ACCOUNT, PER_ADDRESS = 5, 30, 20  # 5/15 minutes is the default


@pytest.fixture(scope="module")
def server(backend, tmp_path_factory, redis_url):
    """One gunicorn (2 workers) per backend; each test has its own users and
    addresses. Counters live under a prefix of the module's own, deleted after."""
    directory = tmp_path_factory.mktemp("login-throttle")
    prefix = f"test-{uuid.uuid4().hex}"
    with fresh_database(backend, directory) as url:
        migrate(url)
        server = Gunicorn(
            directory,
            DATABASE_URL=url,
            TRUSTED_PROXY_HOPS="1",
            RATELIMIT_ENABLED="true",
            RATELIMIT_STORAGE_URI=redis_url,
            RATELIMIT_KEY_PREFIX=prefix,
            RATELIMIT_REGISTER="1000/hour",
            RATELIMIT_LOGIN_PER_ADDRESS=f"{PER_ADDRESS}/minute",
            RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT=f"{PER_ACCOUNT}/day",
        )
        try:
            yield server.start()
        finally:
            server.stop()
            delete_rate_limit_keys(redis_url, prefix)


def _user(server):
    name = f"u{uuid.uuid4().hex[:12]}"
    assert server.register(name).status == 201
    return name


def _ipv4():
    return "10." + ".".join(str(uuid.uuid4().int % 250) for _ in range(3))


def _ipv6_64():
    """A random /64 of the documentation range; append an interface id."""
    return "2001:db8:" + ":".join(f"{uuid.uuid4().int % 0xFFFF:x}" for _ in range(2))


def _login(server, name, password=PASSWORD, address=None):
    return server.call(
        "POST",
        LOGIN,
        {"username": name, "password": password},
        {"X-Forwarded-For": address or _ipv4()},
    )


def _statuses(responses):
    return sorted(r.status for r in responses)


@pytest.mark.slow
def test_sixteen_concurrent_failures_from_one_address_let_exactly_the_limit_through(
    server,
):
    name, address = _user(server), _ipv4()

    responses = race(16, lambda i: _login(server, name, WRONG, address))

    print(f"\n[login throttle, one address] {_statuses(responses)}")
    assert _statuses(responses) == [401] * PER_PAIR + [429] * (16 - PER_PAIR)
    refused = next(r for r in responses if r.status == 429)
    assert refused.body["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 14 * 60


@pytest.mark.slow
def test_the_owner_logs_in_while_an_attacker_address_is_locked_out(server):
    name, attacker = _user(server), _ipv4()

    guesses = [_login(server, name, WRONG, attacker).status for _ in range(7)]
    attacker_right_password = _login(server, name, PASSWORD, attacker)
    owner = _login(server, name, PASSWORD, _ipv4())

    assert guesses == [401] * PER_PAIR + [429, 429]
    assert attacker_right_password.status == 429
    assert owner.status == 200, owner.body


@pytest.mark.slow
def test_addresses_in_one_ipv6_64_are_counted_together(server):
    name, network = _user(server), _ipv6_64()

    guesses = [
        _login(server, name, WRONG, f"{network}::{i:x}").status for i in range(1, 8)
    ]
    other_network = _login(server, name, PASSWORD, f"{_ipv6_64()}::1")

    assert guesses == [401] * PER_PAIR + [429, 429]
    assert other_network.status == 200


@pytest.mark.slow
def test_one_address_gets_a_bounded_number_of_attempts_per_minute(server):
    name, network = _user(server), _ipv6_64()

    # Successes, unknown users and malformed bodies all count; so does a whole /64.
    answers = [
        _login(server, name if i % 2 else f"nobody{i}", PASSWORD, f"{network}::{i}")
        for i in range(PER_ADDRESS - 1)
    ]
    malformed = server.call(
        "POST", LOGIN, {"username": name}, {"X-Forwarded-For": f"{network}::ff"}
    )
    over = _login(server, name, PASSWORD, f"{network}::100")
    elsewhere = _login(server, name, PASSWORD, f"{_ipv6_64()}::1")

    assert {r.status for r in answers} == {200, 401}
    assert malformed.status == 422
    assert (over.status, over.body["code"]) == (429, "rate_limited")
    assert int(over.headers["retry-after"]) > 0
    assert elsewhere.status == 200


@pytest.mark.slow
def test_failures_from_many_addresses_stop_at_the_account_cap_even_concurrently(
    server,
):
    name = _user(server)
    spread = [
        _login(server, name, WRONG, address).status
        for address in [_ipv4() for _ in range(5)]
        for _ in range(PER_PAIR - 1)
    ]  # 20 failures, no address at its own bound
    owner_before = _login(server, name)
    burst = race(16, lambda i: _login(server, name, WRONG, _ipv4()))
    owner_after = _login(server, name)

    assert spread == [401] * 20
    assert owner_before.status == 200
    print(f"\n[login throttle, account cap] {_statuses(burst)}")
    left = PER_ACCOUNT - 20
    assert _statuses(burst) == [401] * left + [429] * (16 - left)
    assert (owner_after.status, owner_after.body["code"]) == (429, "rate_limited")
    assert int(owner_after.headers["retry-after"]) > 23 * 3600


@pytest.mark.slow
def test_no_response_header_tells_an_account_failure_count(server):
    victim, other = _user(server), _user(server)
    for _ in range(3):
        _login(server, victim, WRONG)

    def probe(name, body):
        response = server.call(
            "POST", LOGIN, {"username": name, **body}, {"X-Forwarded-For": _ipv4()}
        )
        headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
        for name in {"date", "x-ratelimit-reset", "retry-after"} & set(headers):
            headers[name] = "a clock time"  # differs between two probes a second apart
        return response.status, headers

    for body in ({}, {"password": WRONG}):  # a 422 probe, and a real attempt
        assert probe(victim, body) == probe(other, body)
