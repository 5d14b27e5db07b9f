"""/metrics: Prometheus text exposition of the whole server's counts.

Off unless METRICS_ENABLED: then nothing here is imported or run per request.
Under gunicorn, gunicorn.conf.py gives the workers one PROMETHEUS_MULTIPROC_DIR
(emptied at master start), so a scrape answered by any worker sums them all;
without it (flask run, tests) the counts are this process's.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Flask, Response, current_app, g, request

from bookstore import memo
from bookstore.errors import MissingToken, Unauthorized

# Labels take values from fixed sets only: a client must not be able to mint
# series (every label set is a file entry per worker, kept until restart).
UNMATCHED = "unmatched"  # no route: 404s, and 405s on unknown methods
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The classic text format: every Prometheus version reads it, and our names need
# nothing newer.
EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOGIN = "/api/v1/auth/login"
_LOGIN_OUTCOMES = {200: "success", 401: "failure", 429: "rate_limited"}


class BadMetricsToken(Unauthorized):
    code, challenge = "invalid_token", "invalid_token"


def register(app: Flask) -> None:
    """Serve /metrics and count every request, if METRICS_ENABLED."""
    if not app.config["METRICS_ENABLED"]:
        return
    global series  # the series module, imported here only: it costs memory
    from bookstore.metrics import series

    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics.metrics", _metrics, methods=["GET"])


# (method, route, status) -> the request counter's and the histogram's children:
# labels() is dearer than the increments themselves (bench/metrics_overhead.py).
# Routes x methods x statuses: bounded by the app; the limit is a guard regardless.
CHILDREN, CHILDREN_CACHE_SIZE = "metrics.children", 4096


def _observe(response: Response) -> Response:
    # One context lookup each for request and g: this runs on every response.
    req, ctx = request._get_current_object(), g._get_current_object()
    rule = req.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    method = req.method if req.method in _METHODS else "OTHER"
    status = response.status_code
    key = (method, route, status)
    known = memo.cache(CHILDREN, CHILDREN_CACHE_SIZE)
    children = known.get(key)
    if children is None:
        children = known.remember(
            key,
            (
                series.REQUESTS.labels(method, route, status),
                series.DURATION.labels(route),
            ),
        )
    requests, duration = children
    requests.inc()
    started = ctx.get("started")  # hooks.py's; absent if an earlier hook failed
    if started is not None:
        duration.observe(time.perf_counter() - started)
    if status < 400 and route != LOGIN:
        return response
    if route == LOGIN:
        outcome = _LOGIN_OUTCOMES.get(status)
        if outcome is None:
            outcome = "unavailable" if status == 503 else "rejected"
        series.LOGINS.labels(outcome).inc()
    elif status == 401:
        series.TOKEN_REJECTIONS.labels(ctx.get("problem_code", "unknown")).inc()
    if status == 429:
        series.RATE_LIMITED.labels(route).inc()
    elif status == 503 and "unavailable_backend" in ctx:
        series.BACKEND_ERRORS.labels(ctx.unavailable_backend).inc()
    return response


def _metrics():
    """Prometheus text exposition (only with METRICS_ENABLED)."""
    expected = current_app.config["METRICS_TOKEN"]
    if expected:
        _require_token(expected)
    from prometheus_client import (
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    response = Response(generate_latest(registry), mimetype=None)
    response.headers["Content-Type"] = EXPOSITION_TYPE
    response.headers["Cache-Control"] = "no-store"
    return response


def _require_token(expected: str) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise MissingToken("/metrics needs Authorization: Bearer <METRICS_TOKEN>.")
    # Constant time: the comparison must not reveal how much of a guess was right.
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise BadMetricsToken("The metrics token is not the configured one.")
