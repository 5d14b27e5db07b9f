"""Request hooks: X-Request-ID, security headers, one JSON log line per request."""

from __future__ import annotations

import re
import time
from random import getrandbits

from flask import Flask, Response, current_app, g, request

from bookstore.logs import log_request, request_logging

# A client's id is echoed only if it is short and harmless in headers and logs.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # JSON is never rendered as a page; the docs page sets its own policy.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def _new_id() -> str:
    """32 hex digits for correlating logs: not a secret (clients may send their
    own), so not worth a getrandom() system call on every request, as uuid4 and
    secrets make. Python reseeds `random` in every forked worker."""
    return f"{getrandbits(128):032x}"


def _start() -> None:
    g.started = time.perf_counter()
    supplied = request.environ.get("HTTP_X_REQUEST_ID", "")
    g.request_id = supplied if _SANE_REQUEST_ID.fullmatch(supplied) else _new_id()


def _finish(response: Response) -> Response:
    # The request's objects looked up once: each use of a context proxy
    # (g, request, current_app) is a lookup of its own, and this runs every time.
    context = g._get_current_object()
    headers = response.headers
    headers.set("X-Request-ID", getattr(context, "request_id", None) or _new_id())
    # One pass over the headers the view set (a view's own CSP wins), not a
    # setdefault scan per security header.
    present = {name.lower() for name in headers.keys()}
    for lower, name, value in current_app.extensions["bookstore.default_headers"]:
        if lower not in present:
            headers.add(name, value)
    if not request_logging():
        return response
    started = getattr(context, "started", None)
    current = request._get_current_object()
    log_request(
        method=current.method,
        path=current.path,  # no query string: it may carry search terms
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 2)
        if started
        else None,
        request_id=getattr(context, "request_id", None),
        user_id=getattr(context, "user_public_id", None),
    )
    return response


def register(app: Flask) -> None:
    """Install the before/after request hooks on `app`."""
    defaults = dict(SECURITY_HEADERS)
    if app.config["ENV_NAME"] == "production":  # served behind TLS
        defaults["Strict-Transport-Security"] = "max-age=31536000"
    app.extensions["bookstore.default_headers"] = tuple(
        (name.lower(), name, value) for name, value in defaults.items()
    )
    app.before_request(_start)
    app.after_request(_finish)
