"""Request hooks: X-Request-ID, security headers, one JSON log line per request."""

from __future__ import annotations

import re
import time
from random import getrandbits

from flask import Flask, Response, g, request
from werkzeug.datastructures import Headers

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


# The environ key under which FixedHeaders leaves the request's id for _start.
REQUEST_ID = "bookstore.request_id"


class FixedHeaders:
    """WSGI wrapper giving every response its last headers, after Flask and
    every after-request hook (Flask-Limiter's and flask-cors's included) are
    done with it: X-Request-ID, the fixed security headers, Retry-After only
    where there is something to retry (429, 503), and no Content-Type on a
    response that has no content (204, 304).

    Set on Flask's Response one by one, each header was validated by Werkzeug
    when added and again when the headers were copied for the server: a
    visible share of a short request (figures: bench/README.md). These values
    are constants, checked once here, and the request id passed
    _SANE_REQUEST_ID or is hex. A header the view set itself wins (the docs
    page's CSP), except X-Request-ID, which is always the request's own.
    """

    def __init__(self, app, defaults: dict[str, str]) -> None:
        self.app = app
        for name, value in defaults.items():  # what Werkzeug would have refused
            Headers().add(name, value)
        self.defaults = tuple(
            (name.lower(), (name, value)) for name, value in defaults.items()
        )

    def __call__(self, environ, start_response):
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = supplied if _SANE_REQUEST_ID.fullmatch(supplied) else _new_id()
        environ[REQUEST_ID] = request_id

        def start(status, headers, exc_info=None):
            dropped = _DROPPED.get(status[:3], _ALWAYS_DROPPED)
            kept, present = [("X-Request-ID", request_id)], set()
            for pair in headers:
                lower = pair[0].lower()
                if lower not in dropped:
                    kept.append(pair)
                    present.add(lower)
            kept.extend(pair for lower, pair in self.defaults if lower not in present)
            return start_response(status, kept, exc_info)

        return self.app(environ, start)


# Headers FixedHeaders removes, by status: the view's X-Request-ID always (the
# request's own replaces it), Retry-After outside 429 and 503, Content-Type on
# 204 and 304.
_ALWAYS_DROPPED = frozenset({"x-request-id", "retry-after"})
_DROPPED = {
    "429": frozenset({"x-request-id"}),
    "503": frozenset({"x-request-id"}),
    "204": _ALWAYS_DROPPED | {"content-type"},
    "304": _ALWAYS_DROPPED | {"content-type"},
}


def _start() -> None:
    context = g._get_current_object()  # one context lookup for both
    context.started = time.perf_counter()
    context.request_id = request.environ.get(REQUEST_ID)


def _finish(response: Response) -> Response:
    if not request_logging():
        return response
    # The request's objects looked up once: each use of a context proxy
    # (g, request) is a lookup of its own, and this runs every time.
    # g.get, not getattr(g, name, None): a name g lacks (no user on /healthz) costs
    # getattr an AttributeError raised and caught.
    context = g._get_current_object()
    started = context.get("started")
    current = request._get_current_object()
    log_request(
        method=current.method,
        path=current.path,  # no query string: it may carry search terms
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 2)
        if started
        else None,
        request_id=context.get("request_id"),
        user_id=context.get("user_public_id"),
    )
    return response


def _vary_origin(response: Response) -> Response:
    """With CORS on, every answer may differ by the request's Origin: caches
    must key on it, whether or not this request sent one."""
    response.vary.add("Origin")
    return response


def register(app: Flask) -> None:
    """Install the before/after request hooks on `app`."""
    defaults = dict(SECURITY_HEADERS)
    if app.config["ENV_NAME"] == "production":  # served behind TLS
        defaults["Strict-Transport-Security"] = "max-age=31536000"
    app.wsgi_app = FixedHeaders(app.wsgi_app, defaults)
    app.before_request(_start)
    app.after_request(_finish)
    if app.config["CORS_ORIGINS"]:
        # Flask runs an app's after_request hooks last-registered first: at the
        # head of the list, this runs after every hook registered before or after.
        app.after_request_funcs.setdefault(None, []).insert(0, _vary_origin)
