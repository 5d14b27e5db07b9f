import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    env.update(extra)
    return env


@pytest.mark.slow
def test_gunicorn_refuses_to_start_without_a_secret_and_does_not_respawn(tmp_path):
    env = _env(
        BOOKSTORE_ENV="production",
        SECRET_KEY="",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        GUNICORN_BIND=f"127.0.0.1:{_free_port()}",
        GUNICORN_WORKERS="2",
    )

    started = time.monotonic()
    result = subprocess.run(
        [GUNICORN, "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert time.monotonic() - started < 30
    assert "SECRET_KEY is not set" in result.stderr
    assert result.stderr.count("refusing to start") <= 2  # once per worker, no loop


@pytest.mark.slow
def test_gunicorn_serves_health_with_a_long_bearer_header(tmp_path):
    port = _free_port()
    env = _env(
        BOOKSTORE_ENV="production",
        SECRET_KEY="x" * 48,
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        SHUTDOWN_DRAIN_SECONDS="0",
    )
    server = subprocess.Popen(
        [GUNICORN, "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz",
            headers={"Authorization": "Bearer " + "a" * 8000},
        )
        body = _get_when_up(request)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert body == b'{"status":"ok"}\n'


def _get_when_up(request, deadline: float = 30.0) -> bytes:
    stop = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > stop:
                raise
            time.sleep(0.2)
