"""What a personal access token may do: the scopes, and each view's declaration.

Every view that needs a token declares, with one decorator under its route, the
scope a personal access token must hold to call it (`@scope(BOOKS_READ)`) or that
no personal access token may call it (`@login_only`). The guard reads the
declaration of the endpoint being served; a view that declares nothing refuses
personal access tokens, so a new endpoint is never opened to them by accident
(tests/auth/test_scopes.py walks the URL map for undeclared ones).
"""

from __future__ import annotations

from collections.abc import Callable

from bookstore.errors import Forbidden

BOOKS_READ, BOOKS_WRITE, PROFILE_READ = "books:read", "books:write", "profile:read"
SCOPES = {
    BOOKS_READ: "Read your books: GET /books and /books/{id}.",
    BOOKS_WRITE: "Create, change and delete your books (does not include read).",
    PROFILE_READ: "Read your user object: GET /users/me.",
}
LOGIN_ONLY = "login"  # the declaration of views no personal access token may call
_ATTRIBUTE = "pat_scope"


class InsufficientScope(Forbidden):
    """A personal access token without the scope the endpoint needs (RFC 6750 §3.1)."""

    code = "insufficient_scope"

    def __init__(self, needed: str | None):
        if needed is None:
            detail = "This endpoint needs a login access token."
            challenge = 'Bearer realm="bookstore", error="insufficient_scope"'
        else:
            detail = f"This endpoint needs a token with the scope {needed!r}."
            challenge = (
                f'Bearer realm="bookstore", error="insufficient_scope", '
                f'scope="{needed}"'
            )
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


def scope(name: str) -> Callable[[Callable], Callable]:
    """Declare that personal access tokens holding `name` may call the view."""
    if name not in SCOPES:
        raise ValueError(f"unknown scope {name!r}")

    def declare(view: Callable) -> Callable:
        setattr(view, _ATTRIBUTE, name)
        return view

    return declare


def login_only(view: Callable) -> Callable:
    """Declare that only a login access token may call the view."""
    setattr(view, _ATTRIBUTE, LOGIN_ONLY)
    return view


def declared(view: Callable | None) -> str | None:
    """The view's declaration: a scope, LOGIN_ONLY, or None if it declared nothing."""
    return getattr(view, _ATTRIBUTE, None)


def needed(view: Callable | None) -> str | None:
    """The scope a personal access token needs for `view`; None: no token may."""
    declaration = declared(view)
    return declaration if declaration in SCOPES else None
