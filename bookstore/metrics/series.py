"""The Prometheus series. Imported only when METRICS_ENABLED: prometheus-client
picks its storage (per process, or files shared by gunicorn's workers when
PROMETHEUS_MULTIPROC_DIR is set) once, at import."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "bookstore_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
DURATION = Histogram(
    "bookstore_http_request_duration_seconds",
    "Time from the first request hook to the response, by route template.",
    ("route",),
)
LOGINS = Counter(
    "bookstore_logins",
    "Login attempts by outcome: success, failure (401), rate_limited, "
    "unavailable (503), rejected (malformed request).",
    ("outcome",),
)
TOKEN_REJECTIONS = Counter(
    "bookstore_token_rejections",
    "Requests refused for their token (401), by problem code.",
    ("code",),
)
RATE_LIMITED = Counter(
    "bookstore_rate_limit_hits",
    "Requests refused by a rate limit (429), by route template.",
    ("route",),
)
BACKEND_ERRORS = Counter(
    "bookstore_backend_errors",
    "Requests answered 503 because a backend failed: the database or the "
    "rate-limit store.",
    ("backend",),
)
