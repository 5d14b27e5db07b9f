"""Gunicorn settings, each overridable from the environment (`gunicorn wsgi:app`)."""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8))
threads = _int("GUNICORN_THREADS", 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or (
    "gthread" if threads > 1 else "sync"
)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# A bearer JWT with its header is a few KB; leave room without inviting abuse.
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 16384)
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
# The app logs one JSON line per request itself; gunicorn's access log would repeat it.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Start the worker's mail sender as it boots (docs/account-recovery.md)."""
    if "bookstore.mail" in getattr(worker.wsgi, "extensions", {}):
        from bookstore.mail import sender

        sender.start(worker.wsgi)
