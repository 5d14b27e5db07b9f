"""Gunicorn settings, each overridable from the environment (`gunicorn wsgi:app`)."""

import ctypes
import ctypes.util
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


# glibc raises its mmap threshold after the first large free, so argon2id's 19 MiB
# buffer (one per login) then stays in the worker's heap: about +20 MiB RSS, reused
# by every later login. GUNICORN_RELEASE_HASH_MEMORY=true fixes the threshold so the
# buffer is mmapped and returned after each hash instead: smaller idle workers, but
# about 15 ms more CPU per login (page faults), which is the scarcer resource under
# a credential-stuffing load, hence off by default.
RELEASE_HASH_MEMORY = os.environ.get("GUNICORN_RELEASE_HASH_MEMORY", "").lower() in {
    "1",
    "true",
    "yes",
    "on",
}
MMAP_THRESHOLD = 128 * 1024  # glibc's default starting value
_M_MMAP_THRESHOLD = -3


def post_fork(server, worker) -> None:
    if not RELEASE_HASH_MEMORY:
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name and "libc.so" in libc_name:  # glibc only (musl has no mallopt)
        ctypes.CDLL(libc_name).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
