"""The one bounding rule of the per-worker memos (tokens, query arguments)."""

from __future__ import annotations


def remember(cache: dict, key, value, limit: int):
    """Store `value` under `key` and return it; a full cache is emptied first.

    Crude but bounded whatever clients send; what is live refills it at once.
    """
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value
