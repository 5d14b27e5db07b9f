import contextlib
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


def _run_gunicorn(tmp_path, **extra) -> subprocess.CompletedProcess:
    """`gunicorn wsgi:app` in production on SQLite, to the end (it should refuse)."""
    env = _env(
        BOOKSTORE_ENV="production",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        GUNICORN_BIND=f"127.0.0.1:{_free_port()}",
        **extra,
    )
    return subprocess.run(
        [GUNICORN, "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize("preload", ["true", "false"])  # master or worker refuses
def test_gunicorn_refuses_to_start_without_a_secret_and_does_not_respawn(
    tmp_path, preload
):
    started = time.monotonic()
    result = _run_gunicorn(
        tmp_path, SECRET_KEY="", GUNICORN_WORKERS="2", GUNICORN_PRELOAD=preload
    )

    assert result.returncode != 0
    assert time.monotonic() - started < 30
    assert "SECRET_KEY is not set" in result.stderr
    assert result.stderr.count("refusing to start") <= 2  # once per worker, no loop


@contextlib.contextmanager
def _gunicorn(tmp_path, **extra):
    """`gunicorn wsgi:app`, one worker, production on SQLite: (process, port)."""
    port = _free_port()
    env = _env(
        BOOKSTORE_ENV="production",
        SECRET_KEY="x" * 48,
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        SHUTDOWN_DRAIN_SECONDS="0",
        **extra,
    )
    server = subprocess.Popen(
        [GUNICORN, "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server, port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_gunicorn_serves_health_with_a_long_bearer_header(tmp_path):
    with _gunicorn(tmp_path) as (_, port):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz",
            headers={"Authorization": "Bearer " + "a" * 8000},
        )
        body = _get_when_up(request)

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


def _loads_the_app(pid: int) -> bool:
    """Whether process `pid` has imported the app (SQLAlchemy's compiled parts)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "site-packages/sqlalchemy/" in maps


@pytest.mark.slow
@pytest.mark.parametrize(("preload", "in_master"), [(None, True), ("false", False)])
def test_gunicorn_workers_fork_from_a_preloaded_app_unless_told_not_to(
    tmp_path, preload, in_master
):
    extra = {"GUNICORN_PRELOAD": preload} if preload else {}
    with _gunicorn(tmp_path, **extra) as (server, port):
        body = _get_when_up(urllib.request.Request(f"http://127.0.0.1:{port}/healthz"))
        master_loaded = _loads_the_app(server.pid)

    assert body == b'{"status":"ok"}\n'
    assert master_loaded is in_master


@pytest.mark.slow
def test_gunicorn_refuses_a_malformed_preload_flag(tmp_path):
    result = _run_gunicorn(tmp_path, SECRET_KEY="x" * 48, GUNICORN_PRELOAD="sometimes")

    assert result.returncode == 4
    assert "GUNICORN_PRELOAD must be true or false" in result.stderr
