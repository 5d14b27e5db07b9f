"""A body over MAX_CONTENT_LENGTH is 413 however it is framed, through gunicorn."""

import http.client
import json

import pytest

from tests.reliability.servers import migrate


def _post_chunked(port, path, body: bytes):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), 64 * 1024):
            chunk = body[start : start + 64 * 1024]
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


@pytest.mark.slow
def test_chunked_bodies_over_the_limit_are_413_and_under_it_are_read(
    gunicorn, tmp_path
):
    url = f"sqlite:///{tmp_path / 'chunked.sqlite3'}"
    migrate(url)
    server = gunicorn(DATABASE_URL=url)
    login = "/api/v1/auth/login"
    over = b'{"username": "' + b"a" * (1024 * 1024) + b'", "password": "x"}'
    under = json.dumps({"username": "nobody", "password": "x" * 10}).encode()

    too_large = _post_chunked(server.port, login, over)
    small = _post_chunked(server.port, login, under)

    assert too_large[0] == 413
    assert too_large[1]["code"] == "payload_too_large"
    assert small[0] == 401  # parsed whole: no such user
