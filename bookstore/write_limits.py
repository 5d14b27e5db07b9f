"""Per-user write rate limit (RATELIMIT_WRITES_PER_USER), keyed by the user.

Address limits cannot bound one account (it writes from anywhere), so writes are
counted per user id, in the limiter's store. The store being unreachable does not
stop writes: only credential endpoints fail closed (an attacker who could take
the store down must not also lock every writer out); the outage is logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import wraps

from flask import current_app, request
from limits import RateLimitItem, parse_many

from bookstore import memo
from bookstore.auth.guards import current_viewer
from bookstore.errors import RateLimited
from bookstore.extensions import limiter
from bookstore.logs import audit

log = logging.getLogger("bookstore.write_limits")
SCOPE = "writes-per-user"
# The configured text -> its parsed limits: parsed once, not per write.
LIMITS, LIMITS_CACHE_SIZE = "write_limits.parsed", 4


def write_limited(view: Callable) -> Callable:
    """Count the request against the caller's write limit; 429 past it.

    Goes under token_required (it needs the caller)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_app.config["RATELIMIT_ENABLED"]:
            # The token's subject: no session check of its own (the write runs it).
            _hit(str(current_viewer().public_id))
        return view(*args, **kwargs)

    return wrapper


def _limits() -> list[RateLimitItem]:
    spec = current_app.config["RATELIMIT_WRITES_PER_USER"]
    parsed = memo.cache(LIMITS, LIMITS_CACHE_SIZE)
    items = parsed.get(spec)
    if items is None:
        items = parsed.remember(spec, parse_many(spec))
    return items


def _hit(user: str) -> None:
    identifiers = (current_app.config["RATELIMIT_KEY_PREFIX"] or "", SCOPE, user)
    try:
        for item in _limits():
            if not limiter.limiter.hit(item, *identifiers):
                reset = limiter.limiter.get_window_stats(item, *identifiers).reset_time
                retry_after = max(1, math.ceil(reset - time.time()))
                break
        else:
            return
    except Exception:  # the store, whatever it is, failed: fail open
        log.warning("write limit store unreachable; write allowed", exc_info=True)
        return
    audit("rate_limit_hit", endpoint=request.endpoint, limit=str(item), user_id=user)
    raise RateLimited(
        f"Too many writes: at most {item} per user. Retry after {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )
