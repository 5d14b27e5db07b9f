"""Blueprint "auth": register, login, refresh, logout, sessions, JWKS."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, current_app, request, url_for

from bookstore import pagination
from bookstore.auth import accounts, schemas, sessions, throttle
from bookstore.auth.guards import current_caller, current_session, token_required
from bookstore.auth.scopes import login_only
from bookstore.errors import InvalidCredentials
from bookstore.extensions import limiter
from bookstore.logs import audit
from bookstore.security import keys
from bookstore.web import json_body, no_store

bp = Blueprint("auth", __name__)

user_schema = schemas.UserSchema()
register_schema = schemas.RegisterSchema()
login_schema = schemas.LoginSchema()
refresh_schema = schemas.RefreshSchema()
token_pair_schema = schemas.TokenPairSchema()
sessions_schema = schemas.SessionSchema(many=True)
page_args_schema = pagination.PageArgsSchema()


def _limit(name: str):
    return lambda: current_app.config[name]


def limit_hit(limit) -> None:
    """Audit a breach; the 429 itself comes from the limiter."""
    audit("rate_limit_hit", endpoint=request.endpoint, limit=str(limit.limit))


def token_response(pair: sessions.TokenPair):
    """The login-shaped token body, never cacheable."""
    response = current_app.json.response(
        token_pair_schema.dump(dataclasses.asdict(pair))
    )
    return no_store(response)


@bp.post("/register")
@limiter.limit(_limit("RATELIMIT_REGISTER"), on_breach=limit_hit)
def register():
    """Create an account; nobody becomes admin here."""
    fields = register_schema.load(json_body())
    user = accounts.register_user(**fields)
    location = url_for("users.get_user", user_id=user.public_id)
    return user_schema.dump(user), 201, {"Location": location}


@bp.post("/login")
# Every attempt per address here; failures per account in throttle.login_attempt.
@limiter.limit(_limit("RATELIMIT_LOGIN_PER_ADDRESS"), on_breach=limit_hit)
def login():
    """Exchange a username and password (JSON or HTTP Basic) for a token pair."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        fields = {"username": auth.username or "", "password": auth.password or ""}
        if not fields["username"] or not fields["password"]:
            raise InvalidCredentials("The username or password is incorrect.")
    elif request.content_type is None and not request.get_data():
        # Neither Basic nor a body: no credentials (the body is optional because
        # Basic may replace it), not a malformed body.
        raise InvalidCredentials("Send a JSON body or HTTP Basic credentials.")
    else:
        fields = login_schema.load(json_body())
    with throttle.login_attempt(fields["username"]):
        user = accounts.authenticate(fields["username"], fields["password"])
    pair = sessions.start_session(user, user_agent=request.user_agent.string)
    return token_response(pair)


@bp.post("/refresh")
@limiter.limit(_limit("RATELIMIT_REFRESH"), on_breach=limit_hit)
def refresh():
    """Spend a refresh token for a new pair (rotation with reuse detection)."""
    fields = refresh_schema.load(json_body())
    return token_response(sessions.rotate_refresh(fields["refresh_token"]))


@bp.post("/logout")
@login_only
@token_required
def logout():
    """Revoke the caller's session: its access and refresh tokens."""
    sessions.revoke_session(current_session(), reason="logout")
    return "", 204


@bp.post("/logout-all")
@login_only
@token_required
def logout_all():
    """Revoke every session of the caller."""
    sessions.revoke_user_sessions(current_caller(), reason="logout_all")
    return "", 204


@bp.get("/sessions")
@login_only
@token_required
def list_sessions():
    """The caller's live sessions (one per login), newest first."""
    args = pagination.parse_args(page_args_schema)
    page = pagination.paginate(sessions.list_sessions(current_caller()), **args)
    for session in page.items:
        session.current = session.id == current_session().id
    return pagination.respond(page, sessions_schema.dump)


@bp.delete("/sessions/<uuid:session_id>")
@login_only
@token_required
def delete_session(session_id):
    """Revoke one of the caller's sessions; someone else's is 404."""
    session = sessions.get_own_session(current_caller(), session_id)
    sessions.revoke_session(session, reason="session_revoked")
    return "", 204


@bp.get("/jwks.json")
def jwks():
    """Public keys that verify our tokens (RFC 7517); empty when signing with HMAC."""
    response = current_app.json.response(keys.keyring().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
