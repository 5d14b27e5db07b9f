"""Login throttling: failed logins per (account, address) and per account.

Counted in Flask-Limiter's store (Redis in any multi-process deployment), so the
bounds hold across workers and instances. The third login bound, every attempt
per address, is a plain Flask-Limiter limit on the view.

Each attempt reserves a slot in every bound's counter *before* the password is
checked and decides on the values the store's atomic increments return: concurrent
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

import limits
from flask import current_app, request
from limits.storage import RedisSentinelStorage, RedisStorage

from bookstore import clock, memo
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


# (bound, its configured text) -> the parsed rules: parsed once, not per login.
RULES, RULES_CACHE_SIZE = "throttle.rules", 16


def _rules(name: str, text: str) -> tuple[Rule, ...]:
    parsed = memo.cache(RULES, RULES_CACHE_SIZE)
    rules = parsed.get((name, text))
    if rules is None:
        rules = parsed.remember(
            (name, text),
            tuple(
                Rule(name, item.amount, item.get_expiry())
                for item in limits.parse_many(text)
            ),
        )
    return rules


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


@dataclass(frozen=True)
class _Slot:
    """This attempt's place in one bound: its slice's counter, and the others."""

    rule: Rule
    bucket: int
    key: str
    others: tuple[int, ...]  # the slices read beside it ...
    reads: tuple[str, ...]  # ... and their counters
    expiry: int


def _slot(rule: Rule, key: str, now: float) -> _Slot:
    current = int(now // rule.slice)
    others = tuple(b for b in range(current - BUCKETS, current + 2) if b != current)
    return _Slot(
        rule,
        current,
        f"{key}/{current}",
        others,
        tuple(f"{key}/{b}" for b in others),
        rule.slice * (BUCKETS + 2),
    )


def _single_redis(storage) -> bool:
    return type(storage) in (RedisStorage, RedisSentinelStorage)


def _take(storage, slots: list[_Slot]) -> list[list[int]]:
    """Increment every slot, then read the other slices; per slot, its new value
    followed by the others' counts.

    On a single Redis this is one pipeline: one round trip instead of two a bound,
    each increment still before its reads. They go to the master, never a replica
    (limits' own get reads a sentinel's): a stale read would let a guess past a
    bound. Elsewhere (memory://, a cluster), the storage's own increment and get.
    """
    if not _single_redis(storage):
        return [
            [storage.incr(slot.key, slot.expiry)] + [storage.get(k) for k in slot.reads]
            for slot in slots
        ]
    pipe, named = storage.get_connection().pipeline(False), storage.prefixed_key
    for slot in slots:
        pipe.incrby(named(slot.key), 1).expire(named(slot.key), slot.expiry)
    for slot in slots:
        pipe.mget([named(k) for k in slot.reads])
    results = pipe.execute()
    values, found = results[: 2 * len(slots) : 2], results[2 * len(slots) :]
    return [
        [int(value)] + [int(count or 0) for count in counts]
        for value, counts in zip(values, found, strict=True)
    ]


def _release(storage, slots: list[_Slot]) -> None:
    if not _single_redis(storage):
        for slot in slots:
            storage.incr(slot.key, slot.expiry, amount=-1)
        return
    pipe, named = storage.get_connection().pipeline(False), storage.prefixed_key
    for slot in slots:
        pipe.decr(named(slot.key)).expire(named(slot.key), slot.expiry)
    pipe.execute()


def _retry_after(slot: _Slot, counts: list[int], now: float) -> int | None:
    """None when the counts (this attempt's included) are within the bound;
    otherwise the seconds until enough slices age out for one more attempt."""
    by_bucket = {
        b: max(0, n) for b, n in zip((slot.bucket, *slot.others), counts, strict=True)
    }
    remaining = sum(by_bucket.values()) - 1  # without this attempt
    if remaining < slot.rule.limit:
        return None
    buckets = sorted(by_bucket)  # oldest first: the order they age out in
    for bucket in buckets:
        remaining -= by_bucket[bucket]
        if remaining < slot.rule.limit or bucket == buckets[-1]:
            break
    return max(1, math.ceil((bucket + BUCKETS + 1) * slot.rule.slice - now))


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
    slots = [_slot(rule, key, now) for rule, key in bounds(account, address)]
    try:
        for slot, counts in zip(slots, _take(storage, slots), strict=True):
            retry_after = _retry_after(slot, counts, now)
            if retry_after is not None:
                _refuse(slot.rule, account, address, retry_after)
    except BaseException:
        with contextlib.suppress(Exception):  # the store may be the thing that failed
            _release(storage, slots)
        raise
    try:
        yield
    except InvalidCredentials:
        raise  # the slots stay taken: they are the failure
    except BaseException:
        with contextlib.suppress(Exception):
            _release(storage, slots)
        raise
    _release(storage, slots)


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
