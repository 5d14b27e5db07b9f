"""The shipped nginx site (deploy/) in front of a real gunicorn, on loopback."""

import gzip
import json
import os
import socket
import threading
import time

import pytest

from tests.reliability.nginx import Nginx, nginx_binary

pytestmark = pytest.mark.slow

TRICKLING_CLIENTS = 100
LOGIN_HEAD = (
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
)


@pytest.fixture
def nginx(tmp_path):
    """Start nginx with nginx(upstream_port); stopped afterwards."""
    if nginx_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed; CI needs it (apt-get install nginx)")
        pytest.skip("nginx is not installed")
    started = []

    def start(upstream_port: int) -> Nginx:
        proxy = Nginx(tmp_path / f"nginx-{len(started)}", upstream_port)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()


class Tricklers:
    """Clients that send a request's head, then its body one byte at a time."""

    def __init__(self, connect, count: int = TRICKLING_CLIENTS, every: float = 0.1):
        self.sockets = [connect() for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(LOGIN_HEAD)
        self.every = every
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def _trickle(self) -> None:
        while not self.stopped.wait(self.every):
            for sock in self.sockets:
                try:
                    sock.send(b" ")
                    self.sent += 1
                except OSError:
                    pass

    def __enter__(self):
        self.thread.start()
        time.sleep(1.0)  # every client is mid-body
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


def _is_problem(answer, status: int, code: str) -> None:
    assert answer.status == status, (answer.status, answer.body[:200])
    assert answer.headers["content-type"] == "application/problem+json"
    body = json.loads(answer.body)
    assert body["status"] == status and body["code"] == code
    assert b"<html" not in answer.body.lower()


def test_trickling_clients_do_not_delay_anyone_behind_nginx(
    gunicorn, nginx, sqlite_url
):
    server = gunicorn(DATABASE_URL=sqlite_url, TRUSTED_PROXY_HOPS="1")  # 2 workers
    proxy = nginx(server.port)

    with Tricklers(proxy.connect) as slow:
        behind = [proxy.request("GET", "/healthz") for _ in range(5)]
        behind.append(proxy.request("GET", "/readyz"))
    trickled_behind = slow.sent

    def direct_connection():
        return socket.create_connection(("127.0.0.1", server.port), 30)

    with Tricklers(direct_connection) as slow:
        direct = server.call("GET", "/healthz", timeout=5)

    worst = max(answer.elapsed for answer in behind)
    print(
        f"\n{TRICKLING_CLIENTS} trickling clients, 2 sync workers: slowest normal "
        f"request behind nginx {worst * 1000:.0f} ms; without nginx "
        + (f"{direct.elapsed * 1000:.0f} ms" if direct.status else "no answer in 5 s")
    )
    assert trickled_behind >= TRICKLING_CLIENTS * 5  # they really were trickling
    assert [answer.status for answer in behind] == [200] * 6
    assert worst < 1.0
    # The control: straight at gunicorn the same clients hold both workers.
    assert direct.status == 0 or direct.elapsed > 1.0


def test_the_app_sees_the_client_address_nginx_saw_and_no_other(
    gunicorn, nginx, sqlite_url, tmp_path
):
    access_log = tmp_path / "gunicorn-access.log"
    server = gunicorn(
        DATABASE_URL=sqlite_url,
        TRUSTED_PROXY_HOPS="1",
        GUNICORN_WORKERS="1",  # one process: memory:// counts for the whole server
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_REGISTER="2/hour",
        GUNICORN_ACCESSLOG=str(access_log),
        GUNICORN_CMD_ARGS=(
            "--access-logformat '%({x-forwarded-for}i)s %({x-forwarded-proto}i)s'"
        ),
    )
    proxy = nginx(server.port)

    def register(name: str, source: str, spoof: str):
        body = json.dumps({"username": name, "password": "correct horse battery"})
        return proxy.request(
            "POST",
            "/api/v1/auth/register",
            body.encode(),
            {"Content-Type": "application/json", "X-Forwarded-For": spoof},
            source=source,
        ).status

    # A different forged address on every request: if the app believed any of
    # them, the per-address limit would never bite.
    first = [register(f"spoofer{i}", "127.0.0.2", f"203.0.113.{i}") for i in range(3)]
    other = register("neighbour", "127.0.0.3", "127.0.0.2")

    assert first == [201, 201, 429]
    assert other == 201  # counted per client address, not per nginx
    assert _access_lines(access_log, 4) == [
        "127.0.0.2 https",
        "127.0.0.2 https",
        "127.0.0.2 https",
        "127.0.0.3 https",
    ]


def _access_lines(path, count: int, within: float = 10) -> list[str]:
    """gunicorn's access lines, past its own direct readiness probes ("- -").
    A line is written after its response is sent: wait for `count` of them."""
    deadline = time.monotonic() + within
    while True:
        lines = [
            line for line in path.read_text().splitlines() if line and line != "- -"
        ]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_nginx_errors_are_problem_documents(gunicorn, nginx, sqlite_url):
    server = gunicorn(DATABASE_URL=sqlite_url, TRUSTED_PROXY_HOPS="1")
    proxy = nginx(server.port)
    head = b"Host: 127.0.0.1\r\nConnection: close\r\n"

    too_large = proxy.raw(
        b"POST /api/v1/auth/login HTTP/1.1\r\n" + head + b"Content-Type: "
        b"application/json\r\nContent-Length: 1048577\r\n\r\n"
    )
    _is_problem(too_large, 413, "payload_too_large")
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # 64 KiB
    chunked = proxy.raw(
        b"POST /api/v1/auth/login HTTP/1.1\r\n" + head + b"Content-Type: "
        b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        then=chunk * 16 + b"1\r\n \r\n0\r\n\r\n",  # 1 MiB + 1 byte
    )
    _is_problem(chunked, 413, "payload_too_large")
    _is_problem(
        proxy.raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + head + b"\r\n"),
        414,
        "uri_too_long",
    )
    _is_problem(
        proxy.raw(
            b"GET / HTTP/1.1\r\n" + head + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n"
        ),
        431,
        "request_header_fields_too_large",
    )
    _is_problem(
        proxy.raw(b"GET / HTTP/1.1\r\n" + head + b"no colon here\r\n\r\n"),
        400,
        "bad_request",
    )
    # The app's own problems pass through untouched.
    _is_problem(proxy.request("GET", "/api/v1/books"), 401, "missing_token")
    server.stop()
    _is_problem(proxy.request("GET", "/healthz"), 502, "bad_gateway")


def test_json_is_gzipped_for_clients_that_ask(gunicorn, nginx, sqlite_url):
    server = gunicorn(DATABASE_URL=sqlite_url, TRUSTED_PROXY_HOPS="1")
    proxy = nginx(server.port)

    answer = proxy.request(
        "GET", "/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"}
    )

    assert answer.status == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert "openapi" in json.loads(gzip.decompress(answer.body))
