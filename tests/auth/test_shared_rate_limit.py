import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("TEST_REDIS_URL")
LIMIT, SENT = 5, 12

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """gunicorn with two workers whose only shared state is Redis (and the DB)."""
    port, prefix = _free_port(), f"test-{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    env.update(
        BOOKSTORE_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=prefix,
        RATELIMIT_REGISTER=f"{LIMIT}/hour",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
    )
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        _delete_keys(prefix)


def _wait_until_up(port: int) -> None:
    stop = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except OSError:
            if time.monotonic() > stop:
                raise
            time.sleep(0.2)


def _delete_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"LIMITS:LIMITER/{prefix}/*"):
            client.delete(key)
    finally:
        client.close()


def _register(base: str, n: int) -> int:
    # A new connection per request (urllib never reuses one): the two workers share
    # the requests between them.
    body = json.dumps({"username": f"user{n}", "password": "a fine passphrase"})
    request = urllib.request.Request(
        f"{base}/api/v1/auth/register",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Connection": "close"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/problem+json"
        assert int(error.headers["Retry-After"]) > 0
        return error.code


def test_two_gunicorn_workers_share_one_limit_through_redis(server):
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda n: _register(server, n), range(SENT)))

    assert sorted(statuses) == [201] * LIMIT + [429] * (SENT - LIMIT)
