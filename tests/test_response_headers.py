import re

import pytest
import sqlalchemy as sa

from bookstore.errors import ServiceUnavailable
from bookstore.openapi import DOCS_CSP
from tests.conftest import PASSWORD, bearer

# Every header of a representative response on each path, with the values it had
# while the fixed headers were set one by one in an after-request hook (before
# hooks.py's WSGI wrapper): a change that drops, doubles or alters one fails here.
# Only values that differ per run are matched by pattern.
RID = "fixed-request-id"
SECURITY = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
JSON_CSP = [("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")]
HSTS = [("Strict-Transport-Security", "max-age=31536000")]
FIXED = [("X-Request-ID", RID), *SECURITY, *JSON_CSP]
PRODUCTION = [*FIXED, *HSTS]
ANY = re.compile(r".+")
DIGITS = re.compile(r"\d+")
ETAG = re.compile(r'"[0-9a-f]{32}"')
CORS = [
    ("Access-Control-Allow-Origin", "https://shop.example"),
    (
        "Access-Control-Expose-Headers",
        "ETag, Link, Location, Retry-After, X-Request-ID, X-Total-Count",
    ),
    ("Vary", "Origin"),
]
LIMITS = [
    ("X-RateLimit-Limit", "1"),
    ("X-RateLimit-Remaining", "0"),
    ("X-RateLimit-Reset", DIGITS),
]


def _matches(value: str, expected) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(value) is not None
    if isinstance(expected, set):  # a list in no fixed order (Allow)
        items = value.split(", ")
        return len(items) == len(expected) and set(items) == expected
    return value == expected


def _json(length, *extra):
    return [("Content-Type", "application/json"), ("Content-Length", length), *extra]


def _problem(length, *extra):
    return [
        ("Content-Type", "application/problem+json"),
        ("Content-Length", length if isinstance(length, re.Pattern) else str(length)),
        *extra,
    ]


BOOK_HEADERS = [("ETag", ETAG), ("Cache-Control", "private, no-cache")]
EXPECTED = {
    "healthz": (200, [*_json("16"), *PRODUCTION]),
    "head": (200, [*_json("16"), *PRODUCTION]),
    "create": (
        201,
        [*_json(DIGITS), ("Location", ANY), *BOOK_HEADERS, *PRODUCTION],
    ),
    "list": (
        200,
        [
            *_json(DIGITS),
            ("X-Total-Count", "1"),
            ("Cache-Control", "private, no-cache"),
            ("Link", ANY),
            *PRODUCTION,
        ],
    ),
    "get": (200, [*_json(DIGITS), *BOOK_HEADERS, *PRODUCTION]),
    "not_modified": (304, [("ETag", ETAG), *PRODUCTION]),
    "deleted": (204, PRODUCTION),
    "invalid_token": (
        401,
        [
            *_problem(
                146,
                (
                    "WWW-Authenticate",
                    'Bearer realm="bookstore", error="invalid_token", '
                    'error_description="The token is invalid."',
                ),
            ),
            *PRODUCTION,
        ],
    ),
    "missing_token": (
        401,
        [*_problem(161, ("WWW-Authenticate", 'Bearer realm="bookstore"')), *PRODUCTION],
    ),
    "not_found": (404, [*_problem(155), *PRODUCTION]),
    "not_allowed": (
        405,
        [*_problem(180, ("Allow", {"OPTIONS", "GET", "HEAD"})), *PRODUCTION],
    ),
    "too_large": (413, [*_problem(ANY), *PRODUCTION]),
    "not_json": (415, [*_problem(207), *PRODUCTION]),
    "internal_error": (500, [*_problem(175), *PRODUCTION]),
    "database_down": (503, [*_problem(192, ("Retry-After", "5")), *PRODUCTION]),
    "unavailable": (503, [*_problem(156), *PRODUCTION]),
    "docs": (
        200,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", DIGITS),
            ("Content-Security-Policy", DOCS_CSP),
            ("X-Request-ID", RID),
            *SECURITY,
            *HSTS,
        ],
    ),
    "preflight": (
        200,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", "0"),
            ("Allow", {"OPTIONS", "HEAD", "GET", "POST"}),
            ("Access-Control-Max-Age", "600"),
            (
                "Access-Control-Allow-Methods",
                "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
            ),
            *CORS,
            *FIXED,
        ],
    ),
    "cors_missing_token": (
        401,
        [
            *_problem(161, ("WWW-Authenticate", 'Bearer realm="bookstore"')),
            *CORS,
            *FIXED,
        ],
    ),
    "cors_healthz": (200, [*_json("16"), ("Vary", "Origin"), *FIXED]),
    "login_failed": (
        401,
        [
            *_problem(169, ("WWW-Authenticate", 'Bearer realm="bookstore"')),
            *LIMITS,
            *FIXED,
        ],
    ),
    "rate_limited": (
        429,
        [*_problem(143), *LIMITS, ("Retry-After", DIGITS), *FIXED],
    ),
    "metrics": (
        200,
        [
            ("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
            ("Content-Length", DIGITS),
            ("Cache-Control", "no-store"),
            *FIXED,
        ],
    ),
}


def _production_app(make_app):
    """The testing app with production's headers (HSTS), and routes that fail."""
    app = make_app(
        ENV_NAME="production",
        SECRET_KEY="k" * 24 + "0123456789abcdef0123456789",
        PASSWORD_HASH_MEMORY_KIB=19456,
        PASSWORD_HASH_TIME_COST=2,
    )

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("unexpected")

    @app.get("/_test/db-down")
    def db_down():
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("gone"))

    @app.get("/_test/unavailable")
    def unavailable():
        raise ServiceUnavailable("Down for a moment.")

    return app


def _with_a_book(client):
    body = {"username": "hdr", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    auth = bearer(client.post("/api/v1/auth/login", json=body).json)
    book = {"title": "Dune", "author": "F. H.", "publisher": "C", "price": "9.99"}
    created = client.post(
        "/api/v1/books", json=book, headers={**auth, "X-Request-ID": RID}
    )
    return auth, created


def _respond(name: str, make_app):
    """The response of case `name`, every request sending X-Request-ID: RID."""
    rid = {"X-Request-ID": RID}
    if name.startswith("cors_") or name == "preflight":
        client = make_app(CORS_ORIGINS=["https://shop.example"]).test_client()
        origin = {**rid, "Origin": "https://shop.example"}
        if name == "preflight":
            return client.options(
                "/api/v1/books",
                headers={**origin, "Access-Control-Request-Method": "GET"},
            )
        if name == "cors_healthz":
            return client.get("/healthz", headers=rid)
        return client.get("/api/v1/books", headers=origin)
    if name in ("login_failed", "rate_limited"):
        client = make_app(
            RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_PER_ADDRESS="1/minute"
        ).test_client()
        body = {"username": "nobody", "password": PASSWORD}
        response = client.post("/api/v1/auth/login", json=body, headers=rid)
        if name == "rate_limited":
            response = client.post("/api/v1/auth/login", json=body, headers=rid)
        return response
    if name == "metrics":
        client = make_app(METRICS_ENABLED=True).test_client()
        return client.get("/metrics", headers=rid)
    client = _production_app(make_app).test_client()
    simple = {
        "healthz": ("GET", "/healthz", {}),
        "head": ("HEAD", "/healthz", {}),
        "invalid_token": ("GET", "/api/v1/books", {"Authorization": "Bearer a.b.c"}),
        "missing_token": ("GET", "/api/v1/books", {}),
        "not_found": ("GET", "/nowhere", {}),
        "not_allowed": ("DELETE", "/healthz", {}),
        "internal_error": ("GET", "/_test/boom", {}),
        "database_down": ("GET", "/_test/db-down", {}),
        "unavailable": ("GET", "/_test/unavailable", {}),
        "docs": ("GET", "/api/v1/docs/", {}),
    }
    if name in simple:
        method, path, headers = simple[name]
        return client.open(path, method=method, headers={**rid, **headers})
    auth, created = _with_a_book(client)
    headers = {**auth, **rid}
    if name == "create":
        return created
    if name == "list":
        return client.get("/api/v1/books", headers=headers)
    if name in ("too_large", "not_json"):
        data = b"[" * (2 * 1024 * 1024) if name == "too_large" else b"x"
        kind = "application/json" if name == "too_large" else "text/plain"
        return client.post(
            "/api/v1/books", data=data, headers={**headers, "Content-Type": kind}
        )
    if name == "deleted":
        return client.delete(created.headers["Location"], headers=headers)
    one = client.get(created.headers["Location"], headers=headers)
    if name == "get":
        return one
    assert name == "not_modified"
    return client.get(
        created.headers["Location"],
        headers={**headers, "If-None-Match": one.headers["ETag"]},
    )


@pytest.mark.parametrize("name", EXPECTED)
def test_every_header_of_each_path(name, make_app):
    status, expected = EXPECTED[name]

    response = _respond(name, make_app)

    actual = list(response.headers.items())
    assert response.status_code == status
    assert sorted(n for n, _ in actual) == sorted(n for n, _ in expected), actual
    for header, value in expected:
        got = [v for n, v in actual if n == header]
        assert any(_matches(v, value) for v in got), (header, value, got)


def test_a_generated_request_id_is_one_header_of_32_hex_digits(client):
    response = client.get("/healthz")

    (request_id,) = response.headers.getlist("X-Request-ID")
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
