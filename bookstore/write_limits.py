"""Per-user write rate limit (RATELIMIT_WRITES_PER_USER), keyed by the user.

Address limits cannot bound one account (it writes from anywhere), so writes are
counted per user id, in the limiter's store. The store being unreachable does not
stop writes: only credential endpoints fail closed (an attacker who could take
the store down must not also lock every writer out); the outage is logged.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from functools import wraps
from hashlib import sha1

from flask import current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

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
        items = _limits()
        refused = _acquire(items, identifiers)
        if refused is None:
            return
        item = items[refused]
        reset = limiter.limiter.get_window_stats(item, *identifiers).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
    except Exception:  # the store, whatever it is, failed: fail open
        log.warning("write limit store unreachable; write allowed", exc_info=True)
        return
    audit("rate_limit_hit", endpoint=request.endpoint, limit=str(item), user_id=user)
    raise RateLimited(
        f"Too many writes: at most {item} per user. Retry after {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


def _acquire(items: Sequence[RateLimitItem], identifiers: tuple) -> int | None:
    """Count a hit against each limit in turn, as limits' hit() does, stopping
    at the first that refuses; return its index, or None if all took it."""
    strategy = limiter.limiter
    storage = strategy.storage
    if (
        type(strategy) is MovingWindowRateLimiter
        and type(storage) is RedisStorage
        and storage.target_server == "redis"
    ):
        keys = [storage.prefixed_key(item.key_for(*identifiers)) for item in items]
        refused = _run_in_redis(storage, keys, items)
        return None if refused == 0 else refused - 1
    for index, item in enumerate(items):
        if not strategy.hit(item, *identifiers):
            return index
    return None


# limits' acquire_moving_window.lua (amount 1), over every limit in one call:
# the same list per limit, the same entries, the same early stop. Returns 0
# when every limit took the hit, else the 1-based index of the first that
# refused (those before it have counted it, as with limits' hit() in turn).
ACQUIRE_ALL = """
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
    local limit = tonumber(ARGV[2 * i])
    local expiry = tonumber(ARGV[2 * i + 1])
    local entry = redis.call('lindex', KEYS[i], limit - 1)
    if entry and tonumber(entry) >= now - expiry then
        return i
    end
    redis.call('lpush', KEYS[i], now)
    redis.call('ltrim', KEYS[i], 0, limit - 1)
    redis.call('expire', KEYS[i], expiry)
end
return 0
"""
_ACQUIRE_ALL_SHA = sha1(ACQUIRE_ALL.encode()).hexdigest()
_held = threading.local()


def _run_in_redis(storage: RedisStorage, keys: list, items: Sequence) -> int:
    """ACQUIRE_ALL in one EVALSHA on a connection this thread holds.

    redis-py's pool checkout (with a readiness poll), release and bookkeeping
    cost more than the command itself (figures: bench/README.md). The held
    connection is made by the storage's pool (its address and timeouts); one
    the server closed while idle is replaced once, as the pool's readiness
    check would; any other error drops it, and the next write connects again.
    """
    errors = storage.dependency.exceptions
    connection = _connection(storage)
    args = [time.time()]
    for item in items:
        args += [item.amount, item.get_expiry()]

    def evalsha() -> int:
        connection.send_command("EVALSHA", _ACQUIRE_ALL_SHA, len(keys), *keys, *args)
        return connection.read_response()

    try:
        try:
            return evalsha()
        except errors.ConnectionError:  # most likely closed while idle
            connection.disconnect()
            return evalsha()
        except errors.NoScriptError:  # a new or flushed Redis
            connection.send_command("SCRIPT", "LOAD", ACQUIRE_ALL)
            connection.read_response()
            return evalsha()
    except BaseException:
        connection.disconnect()  # what is left on it is unknown
        raise


def _connection(storage: RedisStorage):
    """This thread's connection to the storage's Redis (one per process: a
    forked worker does not share its parent's socket)."""
    pool = storage.storage.connection_pool
    held = getattr(_held, "connection", None)
    if held is None or held[0] is not pool or held[1] != os.getpid():
        held = _held.connection = (pool, os.getpid(), pool.make_connection())
    return held[2]
