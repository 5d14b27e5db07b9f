"""JSON log lines on stderr: one object per line, extra fields included."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

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


_audit = logging.getLogger("bookstore.audit")


def audit(event: str, **fields) -> None:
    """Log a security event with the request id; never pass passwords or tokens."""
    from flask import g, has_request_context

    request_id = g.get("request_id") if has_request_context() else None
    _audit.info(event, extra={"event": event, "request_id": request_id, **fields})
