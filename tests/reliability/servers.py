"""Real gunicorn processes and a small HTTP client for the reliability tests."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import flask_migrate

from bookstore import create_app
from bookstore.extensions import db

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def delete_rate_limit_keys(redis_url: str, prefix: str) -> None:
    """Delete the rate-limit counters under `prefix` (never flush: Redis is shared)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        for key in client.scan_iter(match=f"LIMITS:LIMITER/{prefix}/*", count=500):
            client.delete(key)
    finally:
        client.close()


def migrate(url: str) -> None:
    """Bring the database at `url` to the latest migration, as a deploy would."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


@dataclass
class Response:
    status: int
    body: dict | None
    headers: dict = field(default_factory=dict)
    elapsed: float = 0.0


def call(
    port: int,
    method: str,
    path: str,
    body: dict | None = None,
    headers: dict | None = None,
    timeout: float = 60,
) -> Response:
    """One HTTP request on a fresh connection. Status 0: the connection failed."""
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        raw = conn.getresponse()
        payload = raw.read()
        status, got = raw.status, {k.lower(): v for k, v in raw.getheaders()}
    except (OSError, http.client.HTTPException):
        return Response(0, None, {}, time.monotonic() - started)
    finally:
        conn.close()
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return Response(status, parsed, got, time.monotonic() - started)


def bearer(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


class Gunicorn:
    """`gunicorn wsgi:app` from the project root, production settings, loopback."""

    def __init__(self, log_dir: Path, **env: str):
        self.port = free_port()
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")
        }
        self.env.update(
            BOOKSTORE_ENV="production",
            SECRET_KEY=secrets.token_hex(32),
            RATELIMIT_ENABLED="false",
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            GUNICORN_WORKERS="2",
            GUNICORN_TIMEOUT="60",
            GUNICORN_GRACEFUL_TIMEOUT="5",
            SHUTDOWN_DRAIN_SECONDS="0",
            LOG_LEVEL="WARNING",
        )
        self.env.update(env)
        self.process: subprocess.Popen | None = None

    def start(self, ready_within: float = 60) -> Gunicorn:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [GUNICORN, "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            workers = int(self.env["GUNICORN_WORKERS"])
            if (
                call(self.port, "GET", "/healthz", timeout=5).status == 200
                and len(self.workers()) == workers
            ):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn not up in {ready_within}s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        """The worker pids (children of the arbiter)."""
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def restart(self, **env: str) -> Gunicorn:
        """Stop, then start again on the same port with `env` changed."""
        self.stop()
        self.env.update(env)
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def call(self, method: str, path: str, body=None, headers=None, timeout=60):
        return call(self.port, method, path, body, headers, timeout)

    def register(self, username: str, password: str = PASSWORD) -> Response:
        return self.call(
            "POST",
            "/api/v1/auth/register",
            {"username": username, "password": password},
        )

    def login(self, username: str, password: str = PASSWORD) -> dict:
        response = self.call(
            "POST",
            "/api/v1/auth/login",
            {"username": username, "password": password},
        )
        assert response.status == 200, (response, self.log_tail())
        return response.body


def race(n: int, request) -> list[Response]:
    """Call request(i) from n threads released together; return the answers."""
    barrier = threading.Barrier(n, timeout=60)

    def run(i: int) -> Response:
        barrier.wait()
        return request(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n), timeout=180))
