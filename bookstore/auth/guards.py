"""Route guards: who is calling, and may they."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from bookstore.auth import services
from bookstore.auth.models import User
from bookstore.auth.pats import guard as pat_guard
from bookstore.errors import Forbidden, MissingToken
from bookstore.security import tokens
from bookstore.security.tokens import TokenError


def bearer_token() -> str | None:
    """The access token from `Authorization: Bearer` or the tutorial's header."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token or " " in token:
            raise TokenError("The Authorization header is malformed.")
        return token
    legacy = request.headers.get("x-access-tokens")  # clients of the original tutorial
    return legacy.strip() if legacy is not None else None


def token_required(view: Callable) -> Callable:
    """Require a valid access token whose session is alive; set the current user.

    A personal access token (`bks_…`) is checked by auth/pats/guard.py instead,
    against the scope the view declares (auth/scopes.py).
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        if not token:
            raise MissingToken("This endpoint needs an access token.")
        if pat_guard.is_pat(token):  # a personal access token: its own check
            g.current_session = pat_guard.authenticate(token)
            g.user_public_id = str(g.current_session.user.public_id)
            return view(*args, **kwargs)
        claims = tokens.decode(token, tokens.ACCESS)
        g.current_session = services.authenticated_session(claims["sub"], claims["sid"])
        g.user_public_id = claims["sub"]
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable) -> Callable:
    """Require an authenticated admin; others get 403."""

    @wraps(view)
    @token_required
    def wrapper(*args, **kwargs):
        if not current_caller().is_admin:
            raise Forbidden("This endpoint is for administrators.")
        return view(*args, **kwargs)

    return wrapper


def current_caller() -> services.Caller:
    """Who is calling: ids and role, as the guard's one query saw them."""
    return g.current_session.user


def current_user() -> User:
    """The caller's full User row, loaded on first use in the request."""
    if "current_user" not in g:
        g.current_user = services.load_user(current_caller())
    return g.current_user


def current_session() -> services.SessionRef | pat_guard.TokenRef:
    return g.current_session
