"""SIGTERM to gunicorn drains (API.md §Operations), through a real gunicorn."""

import http.client
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.servers import PASSWORD

pytestmark = pytest.mark.slow

# Logins cost 100+ ms at this hashing cost, so a dozen outlast the moment SIGTERM
# arrives: two are in the workers, the rest wait in the backlog. The graceful
# timeout leaves time to serve them all even on a loaded machine.
SLOW_LOGINS = {
    "PASSWORD_HASH_TIME_COST": "6",
    "GUNICORN_WORKERS": "2",
    "GUNICORN_GRACEFUL_TIMEOUT": "30",
}


def _login(server, username, sent: threading.Semaphore):
    """A login whose request is fully written before `sent` is released."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        body = json.dumps({"username": username, "password": PASSWORD})
        try:
            conn.request(
                "POST",
                "/api/v1/auth/login",
                body,
                {"Content-Type": "application/json"},
            )
        finally:
            sent.release()
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0  # reset or refused
    finally:
        conn.close()


def _logins_in_flight(server, username, count):
    """Start `count` logins at once; return (futures, pool) once all are sent."""
    sent = threading.Semaphore(0)
    pool = ThreadPoolExecutor(max_workers=count)
    futures = [pool.submit(_login, server, username, sent) for _ in range(count)]
    for _ in range(count):
        assert sent.acquire(timeout=60)
    return futures, pool


def test_sigterm_finishes_every_request_in_flight_or_queued(gunicorn, sqlite_url):
    server = gunicorn(
        DATABASE_URL=sqlite_url, SHUTDOWN_DRAIN_SECONDS="0", **SLOW_LOGINS
    )
    assert server.register("drain-user").status == 201
    futures, pool = _logins_in_flight(server, "drain-user", 12)
    done_before = sum(f.done() for f in futures)

    server.process.send_signal(signal.SIGTERM)
    statuses = [f.result(timeout=120) for f in futures]
    pool.shutdown()
    exit_code = server.process.wait(timeout=60)

    print(
        f"\ndrain: 12 logins, {12 - done_before} unanswered at SIGTERM "
        f"(2 workers), answered after: {statuses.count(200)} x 200, "
        f"others {[s for s in statuses if s != 200]}; exit {exit_code}"
    )
    assert 12 - done_before >= 4, "the logins finished too fast to test a backlog"
    assert statuses == [200] * 12, server.log_tail()
    assert exit_code == 0


def test_readyz_fails_at_once_while_the_service_keeps_serving(gunicorn, sqlite_url):
    server = gunicorn(
        DATABASE_URL=sqlite_url, SHUTDOWN_DRAIN_SECONDS="3", GUNICORN_WORKERS="2"
    )
    assert server.register("drain-user").status == 201
    assert server.call("GET", "/readyz").status == 200

    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # Both workers say so: several fresh connections, so either may answer.
    readiness = [server.call("GET", "/readyz") for _ in range(6)]
    served = [server.call("GET", "/healthz").status for _ in range(6)]
    login = server.call(
        "POST", "/api/v1/auth/login", {"username": "drain-user", "password": PASSWORD}
    )
    alive_after_serving = server.process.poll() is None
    exit_code = server.process.wait(timeout=60)
    stopped_after = time.monotonic() - sent

    assert {r.status for r in readiness} == {503}
    assert readiness[0].body["code"] == "service_unavailable"
    assert readiness[0].headers["content-type"] == "application/problem+json"
    assert served == [200] * 6
    assert login.status == 200
    assert alive_after_serving
    assert exit_code == 0
    assert 3 <= stopped_after < 20
    assert server.call("GET", "/healthz", timeout=5).status == 0  # closed


def test_a_repeated_sigterm_does_not_cut_the_drain_short(gunicorn, sqlite_url):
    server = gunicorn(
        DATABASE_URL=sqlite_url, SHUTDOWN_DRAIN_SECONDS="2", GUNICORN_WORKERS="1"
    )
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    answered = server.call("GET", "/healthz").status
    server.process.wait(timeout=60)

    assert answered == 200
    assert time.monotonic() - sent >= 2


def test_concurrent_requests_during_the_drain_window_all_complete(gunicorn, sqlite_url):
    """Requests still arriving as the drain ends are served, not reset."""
    server = gunicorn(
        DATABASE_URL=sqlite_url, SHUTDOWN_DRAIN_SECONDS="1", **SLOW_LOGINS
    )
    assert server.register("drain-user").status == 201
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.6)
    futures, pool = _logins_in_flight(server, "drain-user", 10)
    statuses = [f.result(timeout=120) for f in futures]
    pool.shutdown()
    server.process.wait(timeout=60)

    assert statuses == [200] * 10, server.log_tail()
