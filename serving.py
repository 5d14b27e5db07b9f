"""Graceful drain for gunicorn: the hooks gunicorn.conf.py installs, and draining().

SIGTERM to the master starts a drain: a flag file appears, so every worker's
/readyz answers 503, while the server goes on accepting and serving for
SHUTDOWN_DRAIN_SECONDS (a load balancer sees it and stops routing here). Then
gunicorn's own graceful stop runs: the master closes its listening sockets and
asks the workers to finish. A stopping sync worker first serves every
connection still waiting in the listen backlog: gunicorn alone would close the
socket on them, and the kernel resets connections whose request was already
sent (gunicorn issue #3397).

Imports nothing from the app: gunicorn's master loads this before any worker
imports Flask.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import config

# Set by the master before it forks; workers inherit it with the environment.
FLAG_VARIABLE = "BOOKSTORE_DRAIN_FLAG"


def draining() -> bool:
    """True once the gunicorn master has been asked to stop."""
    flag = os.environ.get(FLAG_VARIABLE)
    return bool(flag) and os.path.exists(flag)


def drain_seconds() -> int:
    """SHUTDOWN_DRAIN_SECONDS for the environment wsgi.py will load."""
    try:
        settings = config.for_env(os.environ.get("BOOKSTORE_ENV", "production"))
    except config.ConfigError as exc:
        print(f"bookstore: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(4) from None
    return settings.SHUTDOWN_DRAIN_SECONDS


def when_ready(server) -> None:
    """Master, before the first fork: create the flag's home, take over SIGTERM."""
    home = tempfile.mkdtemp(prefix="bookstore-drain-")
    flag = Path(home) / "draining"
    os.environ[FLAG_VARIABLE] = str(flag)
    seconds = drain_seconds()
    stop = server.handle_term  # gunicorn's: raise StopIteration (graceful stop)
    deadline: list[float] = []

    def handle_term() -> None:
        if not deadline:
            flag.touch()
            deadline.append(time.monotonic() + seconds)
            server.log.info("Draining for %ss: /readyz answers 503", seconds)
            if seconds > 0:
                # Comes back as a queued SIGTERM, handled on the master's loop.
                signal.signal(signal.SIGALRM, _requeue_term(server))
                signal.setitimer(signal.ITIMER_REAL, seconds)
                return
        if time.monotonic() >= deadline[0]:
            stop()
        # A repeated SIGTERM during the drain changes nothing; SIGINT and
        # SIGQUIT still stop at once.

    server.handle_term = handle_term
    server.bookstore_drain_home = home


def _requeue_term(server):
    def handler(signum, frame) -> None:
        server.signal(signal.SIGTERM, frame)

    return handler


def worker_exit(server, worker) -> None:
    """Worker, on its way out: serve what is queued before the socket closes."""
    from gunicorn.workers.sync import SyncWorker

    # gthread & co. keep their own connection handling.
    if not (worker.booted and draining() and isinstance(worker, SyncWorker)):
        return
    give_up = time.monotonic() + server.cfg.graceful_timeout
    for listener in worker.sockets:
        while time.monotonic() < give_up:
            try:
                worker.accept(listener)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break  # nothing left in the backlog
                if exc.errno != errno.ECONNABORTED:
                    raise


_SERVER_DETAILS = {
    414: "The request line is too long.",
    431: "A request header is too large.",
    500: "The server failed to handle the request.",
    501: "The request uses a feature the server does not support.",
}


def problem_error(sock, status: int, reason: str, message: str) -> None:
    """gunicorn's own error responses (bad request line, oversized header...) as
    a small problem document instead of an HTML page. `message` is dropped: it
    quotes the offending request back."""
    code = {500: "internal_error"}.get(status, reason.lower().replace(" ", "_"))
    problem = {"type": "about:blank", "title": reason, "status": status, "code": code}
    # The app's problem shape (the OpenAPI document's Problem): a detail of our
    # own, and no request id, as no request reached the app.
    problem["detail"] = _SERVER_DETAILS.get(status, "The request is not valid HTTP.")
    problem["request_id"] = None
    body = json.dumps(problem, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    from gunicorn.util import write_nonblock  # the app itself never needs gunicorn

    write_nonblock(sock, head.encode("latin-1") + body)


def on_exit(server) -> None:
    """Master, last thing: remove the flag."""
    home = getattr(server, "bookstore_drain_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)
