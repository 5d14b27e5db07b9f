"""The per-worker memos: bounded dicts kept per app in `app.extensions`.

A memo skips repeated pure work (verifying a token's signature, loading a query
string). Its rules, the same for every memo:
- Bounded: a full memo is emptied before the next entry. Crude, but bounded
  whatever clients send; what is live refills it at once.
- Successes only: work that fails raises before anything is stored, so the
  next use is checked again.
- Per app: `app.extensions["bookstore.memos"][name]`, so two apps in one
  process (the tests build many) never share entries.
"""

from __future__ import annotations

from flask import Flask, current_app

EXTENSION = "bookstore.memos"


class Memo(dict):
    """A dict of at most `limit` entries, filled through remember()."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key, value):
        """Store `value` under `key` and return it; a full memo is emptied first."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


def cache(name: str, limit: int, app: Flask | None = None) -> Memo:
    """The memo `name` of `app` (default: the current app), made on first use
    with room for `limit` entries."""
    memos = (current_app if app is None else app).extensions.setdefault(EXTENSION, {})
    memo = memos.get(name)
    if memo is None:
        memo = memos.setdefault(name, Memo(limit))
    return memo
