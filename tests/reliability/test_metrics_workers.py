import http.client
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.servers import Gunicorn
from tests.test_metrics import samples, total

REGISTER = "/api/v1/auth/register"
CREATED = {"route": REGISTER, "method": "POST", "status": "201"}
REQUESTS = "bookstore_http_requests_total"


def _register_many(server: Gunicorn, n: int) -> list[int]:
    # Concurrent, and each costs an Argon2 hash: one worker cannot take them all.
    def one(_):
        return server.register(f"u{uuid.uuid4().hex[:12]}").status

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def _created(server: Gunicorn) -> float:
    """Registrations answered 201, as one scrape of /metrics reports them."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200, server.log_tail()
        text = response.read().decode()
    finally:
        conn.close()
    return total(samples(text), REQUESTS, **CREATED)


def _pids_with_counts(directory) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("counter_*.db")}


@pytest.mark.slow
def test_counts_are_the_whole_servers_across_workers_and_a_killed_worker(
    served_database, tmp_path
):
    metrics_dir = tmp_path / "metrics"
    server = Gunicorn(
        tmp_path,
        DATABASE_URL=served_database,
        METRICS_ENABLED="true",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        GUNICORN_WORKERS="2",
    ).start()
    try:
        # Until both workers have served some (a worker still loading the app
        # leaves the first burst to the other).
        first: list[int] = []
        for _ in range(6):
            first += _register_many(server, 8)
            workers = server.workers()
            served_by = _pids_with_counts(metrics_dir) & set(workers)
            if len(served_by) == 2:
                break
        assert len(served_by) == 2, "one worker served every request: no mix"

        # SIGKILL: the worker gets no chance to flush or tidy anything.
        killed = workers[0]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (len(server.workers()) == 2 and killed not in server.workers()):
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.1)
        second = _register_many(server, 8)

        # Whichever worker answers the scrape, it reports the whole server.
        scrapes = [_created(server) for _ in range(6)]
        restarted = server.restart()
        after_restart = _created(restarted)
        third = _register_many(restarted, 3)
        after_third = _created(restarted)
    finally:
        server.stop()

    created = first.count(201) + second.count(201)
    assert created == len(first) + 8
    print(f"\n[metrics] {created} registrations over 3 worker processes: {scrapes}")
    assert scrapes == [created] * 6
    # A new master empties the directory: no counts carried over from the last run.
    assert after_restart == 0
    assert third.count(201) == 3 and after_third == 3
