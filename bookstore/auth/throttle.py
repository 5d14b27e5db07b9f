"""Login throttling: failed logins per (account, address) and per account.

Counted in Flask-Limiter's store (Redis in any multi-process deployment), so the
bounds hold across workers and instances. The third login bound, every attempt
per address, is a plain Flask-Limiter limit on the view.

Each attempt reserves a slot in both counters *before* the password is checked
and decides on the value the store's atomic increment returns: concurrent
guesses cannot all pass a check made before any of them is counted. A failure
keeps its slots; a success, a refusal or an error gives them back, so an owner's
good logins never count and a refused attempt costs the account nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import limits
from flask import current_app, request
from limits.storage import RedisSentinelStorage, RedisStorage

from bookstore import clock
from bookstore.clients import client_network
from bookstore.errors import InvalidCredentials, RateLimited
from bookstore.extensions import limiter
from bookstore.logs import audit

# A window is counted in BUCKETS clock-aligned slices (one key each). An attempt
# sums the BUCKETS slices before its own, its own and the next one: every failure
# of the last full window is seen, so the bound holds in every window, not only
# aligned ones. A failure thus counts for a window plus at most one slice. The
# slice after one's own covers workers whose clocks run up to a slice ahead.
BUCKETS = 5
REFUSAL = "Too many login attempts; retry later."


@dataclass(frozen=True)
class Rule:
    """One bound on failed logins: `limit` failures per `window` seconds."""

    name: str
    limit: int
    window: int

    @property
    def slice(self) -> int:
        return max(1, math.ceil(self.window / BUCKETS))


@lru_cache(maxsize=16)
def _rules(name: str, text: str) -> tuple[Rule, ...]:
    return tuple(
        Rule(name, item.amount, item.get_expiry()) for item in limits.parse_many(text)
    )


def bounds(account: str, address: str) -> list[tuple[Rule, str]]:
    """The configured bounds with their counter keys: per (account, address)
    first, then per account."""
    cfg = current_app.config
    base = f"LIMITER/{cfg['RATELIMIT_KEY_PREFIX']}/login-failures/{account}"
    per_address = _rules(
        "account_address", cfg["RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS"]
    )
    per_account = _rules("account", cfg["RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT"])
    return [(r, f"{base}/{address}/{r.window}") for r in per_address] + [
        (r, f"{base}/{r.window}") for r in per_account
    ]


def account_key(username: str) -> str:
    """The counter key of the account a username names, existing or not.

    Hashed: the store never holds usernames (or passwords typed into the wrong
    field), and any string, lone surrogates included, makes a valid key. Unknown
    usernames are counted like real ones, so a refusal tells nothing of existence.
    """
    raw = username.lower().encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass
class _Slot:
    key: str
    expiry: int


def _reserve(storage, rule: Rule, key: str, now: float) -> tuple[_Slot, int | None]:
    """Take a slot; return it and, when the bound is already reached, Retry-After."""
    size, current = rule.slice, int(now // rule.slice)
    slot = _Slot(f"{key}/{current}", size * (BUCKETS + 2))
    counts = {current: storage.incr(slot.key, slot.expiry)}
    others = [b for b in range(current - BUCKETS, current + 2) if b != current]
    values = _values(storage, [f"{key}/{bucket}" for bucket in others])
    counts.update((bucket, max(0, v)) for bucket, v in zip(others, values, strict=True))
    if sum(counts.values()) <= rule.limit:
        return slot, None
    counts[current] -= 1  # this attempt is refused, not counted
    # The slices age out oldest first; wait until enough have for one more try.
    buckets, remaining = sorted(counts), sum(counts.values())
    for bucket in buckets:
        remaining -= counts[bucket]
        if remaining < rule.limit or bucket == buckets[-1]:
            break
    return slot, max(1, math.ceil((bucket + BUCKETS + 1) * size - now))


def _values(storage, keys: list[str]) -> list[int]:
    """The counters at `keys`: one MGET on a single Redis, else one GET each.

    Round trips are most of the cost. The MGET goes to the master, never a
    replica (limits' own get reads a sentinel's replica): a stale read would let
    a guess past the bound. A cluster spreads the keys over nodes: GET each.
    """
    if type(storage) in (RedisStorage, RedisSentinelStorage):
        found = storage.get_connection().mget([storage.prefixed_key(k) for k in keys])
        return [int(value or 0) for value in found]
    return [storage.get(key) for key in keys]


def _release(storage, slots: list[_Slot]) -> None:
    for slot in slots:
        storage.incr(slot.key, slot.expiry, amount=-1)


@contextlib.contextmanager
def login_attempt(username: str) -> Iterator[None]:
    """Guard one password check for `username` from the current client.

    Raise errors.RateLimited (429, Retry-After) before the check when the
    account has had too many failures from this address, or from everywhere.
    An InvalidCredentials raised inside counts as one failure for every bound.
    A store that cannot be reached raises its error: login then fails closed
    (503), never open.
    """
    cfg = current_app.config
    if not cfg["RATELIMIT_ENABLED"]:
        yield
        return
    storage, now = limiter.storage, clock.utcnow().timestamp()
    account, address = account_key(username), client_network()
    held: list[_Slot] = []
    try:
        for rule, key in bounds(account, address):
            slot, retry_after = _reserve(storage, rule, key, now)
            held.append(slot)
            if retry_after is not None:
                _refuse(rule, account, address, retry_after)
    except BaseException:
        with contextlib.suppress(Exception):  # the store may be the thing that failed
            _release(storage, held)
        raise
    try:
        yield
    except InvalidCredentials:
        raise  # the slots stay taken: they are the failure
    except BaseException:
        with contextlib.suppress(Exception):
            _release(storage, held)
        raise
    _release(storage, held)


def _refuse(rule: Rule, account: str, address: str, retry_after: int) -> None:
    audit(
        "rate_limit_hit",
        endpoint=request.endpoint,
        limit=f"{rule.limit} failures per {rule.window} seconds",
        rule=f"login_failures_per_{rule.name}",
        account=account,  # the hash in the store: an operator can match a name
        client=address,
    )
    raise RateLimited(REFUSAL, headers={"Retry-After": str(retry_after)})
