"""Route guards: who is calling, and may they."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request
from sqlalchemy.exc import SQLAlchemyError

from bookstore import errors
from bookstore.auth import accounts, sessioncheck
from bookstore.auth.identity import Caller, SessionRef
from bookstore.auth.models import User
from bookstore.auth.pats import guard as pat_guard
from bookstore.errors import Forbidden, MissingToken, Unauthorized
from bookstore.security import tokens
from bookstore.security.tokens import TokenError


def bearer_token() -> str | None:
    """The access token from `Authorization: Bearer` or the tutorial's header."""
    environ = request.environ  # the WSGI names: what request.headers reads
    header = environ.get("HTTP_AUTHORIZATION")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token or " " in token:
            raise TokenError("The Authorization header is malformed.")
        return token
    legacy = environ.get("HTTP_X_ACCESS_TOKENS")  # clients of the original tutorial
    return legacy.strip() if legacy is not None else None


def token_required(view: Callable) -> Callable:
    """Require a valid access token whose session is alive; set the current user.

    A personal access token (`bks_…`) is checked by auth/pats/guard.py instead,
    against the scope the view declares (auth/scopes.py); on a read-only request
    that check rides on the view's first read too.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            token = bearer_token()
            if not token:
                raise MissingToken("This endpoint needs an access token.")
            pat = pat_guard.is_pat(token)
            claims = None if pat else tokens.decode(token, tokens.ACCESS)
        except Unauthorized as refused:
            # The commonest 401s (no token, a malformed, forged or expired one)
            # answered here: the response the error handler would build, without
            # raising through Flask's handler lookup. Held to it by
            # tests/auth/test_guards.py.
            return errors.problem_for(refused)
        read_only = request.method in sessioncheck.SAFE_METHODS
        if pat:  # a personal access token: its own check
            check = pat_guard.pending_check(token) if read_only else None
            if check is not None:
                g.read_only = True
                return _deferred(view, check, args, kwargs)
            g.current_session = pat_guard.authenticate(token)
            g.user_public_id = str(g.current_session.user.public_id)
            return view(*args, **kwargs)
        if read_only:
            g.read_only = True
            return _deferred(view, _session_check(claims), args, kwargs)
        if getattr(view, CHECKS_IN_STATEMENT, False):
            return _deferred(view, _session_check(claims), args, kwargs)
        g.current_session = sessioncheck.check_now(claims["sub"], claims["sid"])
        g.user_public_id = claims["sub"]
        return view(*args, **kwargs)

    return wrapper


CHECKS_IN_STATEMENT = "checks_session_in_statement"


def session_check_in_statement(view: Callable) -> Callable:
    """Mark a write view (under token_required) whose write carries the session
    check in its own statement. Its other paths must settle the check (call
    current_caller()) before writing anything."""
    setattr(view, CHECKS_IN_STATEMENT, True)
    return view


def _session_check(claims: dict) -> sessioncheck.Pending:
    return sessioncheck.session_check(claims["sub"], claims["sid"])


def _deferred(view: Callable, check: sessioncheck.Pending, args, kwargs):
    """Run a view with the credential check riding on its first statement.

    The check is settled before anything leaves: a dead session or token is a
    401 even if the view read nothing, or failed (a 404 must not answer a
    revoked token). A token's use is recorded after the view, outside its reads.
    """
    sessioncheck.wait(check)
    try:
        result = view(*args, **kwargs)
    except SQLAlchemyError:
        raise  # the database failed: the check cannot run either (a 503)
    except Exception:
        _settle_deferred()
        raise
    _settle_deferred()
    return result


def _settle_deferred() -> None:
    caller = sessioncheck.settle().user
    pat_guard.record_use()
    g.user_public_id = str(caller.public_id)  # the request's log line


def admin_required(view: Callable) -> Callable:
    """Require an authenticated admin; others get 403."""

    @wraps(view)
    @token_required
    def wrapper(*args, **kwargs):
        if not current_caller().is_admin:
            raise Forbidden("This endpoint is for administrators.")
        return view(*args, **kwargs)

    return wrapper


def current_caller() -> Caller:
    """Who is calling: ids and role, as the session check saw them."""
    return sessioncheck.settle().user


def current_viewer() -> sessioncheck.Viewer | Caller:
    """The caller for a read-only view, without running a pending session check
    (the view's first read carries it)."""
    return sessioncheck.viewer()


def current_user() -> User:
    """The caller's full User row, loaded on first use in the request."""
    if "current_user" not in g:
        g.current_user = accounts.load_user(current_caller())
    return g.current_user


def current_session() -> SessionRef | pat_guard.TokenRef:
    return sessioncheck.settle()
