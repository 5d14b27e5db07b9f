"""JSON log lines on stderr: one object per line, extra fields included."""

from __future__ import annotations

import json
import logging
import os
import select
import sys
import time
from datetime import UTC, datetime

import orjson

# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """Format a record as one JSON object; tracebacks stay inside the log."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    """Send the `bookstore` loggers to stderr as JSON at `level` (idempotent)."""
    logger = logging.getLogger("bookstore")
    logger.setLevel(level)
    if not any(getattr(h, "_bookstore", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JSONFormatter())
        handler._bookstore = True
        logger.addHandler(handler)


# The per-request line. Built and written here rather than through `logging`:
# a LogRecord, the handler's lock, the formatter's walk over the record and the
# stdlib encoder outweighed a /healthz's own work (bench/README.md has the
# figures). Same fields, same order, same level switch (LOG_LEVEL, or the
# `bookstore.request` logger's level) as JSONFormatter gives a record logged
# with these `extra` fields.
_requests = logging.getLogger("bookstore.request")
_LOGGER = _requests.name


def request_logging() -> bool:
    """Whether the per-request line is on (the level is INFO or lower)."""
    return _requests.isEnabledFor(logging.INFO)


def log_request(*, method, path, status, duration_ms, request_id, user_id) -> None:
    """Write one JSON line for a finished request to stderr, whole."""
    entry = {  # one literal, not three dicts merged per request
        "ts": _timestamp(time.time()),
        "level": "info",
        "logger": _LOGGER,
        "msg": "request",
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "request_id": request_id,
        "user_id": user_id,
    }
    try:
        line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:  # a lone surrogate in a path: the stdlib escapes it
        line = (json.dumps(entry, default=str) + "\n").encode()
    _write_line(line)


_second: tuple[int, str] = (0, "1970-01-01T00:00:00")  # the last second formatted


def _timestamp(now: float) -> str:
    """`now` as JSONFormatter writes it (UTC, milliseconds truncated); the date
    and time of day formatted once per second."""
    global _second
    whole, micros = divmod(round(now * 1_000_000), 1_000_000)
    cached = _second  # one read: another thread may replace it meanwhile
    if cached[0] != whole:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _second = (whole, text)
    return f"{cached[1]}.{micros // 1000:03d}+00:00"


def _write_line(line: bytes) -> None:
    """One write(2) on stderr's descriptor: a line up to PIPE_BUF (4 KiB) lands
    whole even with other processes writing to the same pipe; a longer one or a
    partial write is finished, never dropped."""
    view = memoryview(line)
    while view:
        try:
            written = os.write(2, view)
        except BlockingIOError:  # stderr set non-blocking by whoever owns it
            select.select([], [2], [])
            continue
        except OSError:  # stderr closed: as logging's handler, never fail the request
            return
        view = view[written:]


_audit = logging.getLogger("bookstore.audit")


def audit(event: str, **fields) -> None:
    """Log a security event with the request id; never pass passwords or tokens."""
    from flask import g, has_request_context

    request_id = g.get("request_id") if has_request_context() else None
    _audit.info(event, extra={"event": event, "request_id": request_id, **fields})
