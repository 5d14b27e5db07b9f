"""gunicorn's own error responses (before the app sees a request) are problem+json."""

import http.client
import json
import socket

import pytest

pytestmark = pytest.mark.slow

REFUSED = [
    (b"<script>alert(1)</script>\r\n\r\n", 400, "bad_request"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        431,
        "request_header_fields_too_large",
    ),
]


def _raw(port: int, data: bytes):
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("Content-Type"), response.read()


def test_gunicorn_refusals_are_small_problem_documents(gunicorn, sqlite_url):
    server = gunicorn(DATABASE_URL=sqlite_url, GUNICORN_WORKERS="1")

    for request_bytes, status, code in REFUSED:
        got_status, content_type, body = _raw(server.port, request_bytes)

        assert got_status == status
        assert content_type == "application/problem+json"
        problem = json.loads(body)
        assert problem["status"] == status and problem["code"] == code
        assert problem["detail"] and problem["request_id"] is None  # Problem's shape
        assert len(body) < 200
        assert b"script" not in body and b"aaaa" not in body  # nothing echoed back
