"""Blueprint "recovery": password reset by email, under /auth."""

from __future__ import annotations

import hashlib
import time

from flask import Blueprint, current_app, g, request

from bookstore.auth.routes import limit_hit, token_response
from bookstore.extensions import limiter
from bookstore.mail import sender
from bookstore.recovery import schemas, services
from bookstore.web import json_body

bp = Blueprint("recovery", __name__)

reset_request_schema = schemas.PasswordResetRequestSchema()
reset_confirm_schema = schemas.PasswordResetConfirmSchema()


def _limit(name: str):
    return lambda: current_app.config[name]


def _email_key() -> str:
    """Rate-limit key for the address asked about: hashed, any case."""
    try:
        body = request.get_json(silent=True)
    except Exception:  # the view itself will answer malformed bodies
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    raw = str(email or "").strip().lower().encode("utf-8", "surrogatepass")
    return "reset-email:" + hashlib.sha256(raw).hexdigest()[:32]


@bp.post("/password-reset")
@limiter.limit(_limit("RATELIMIT_PASSWORD_RESET_PER_ADDRESS"), on_breach=limit_hit)
@limiter.limit(
    _limit("RATELIMIT_PASSWORD_RESET_PER_EMAIL"),
    key_func=_email_key,
    on_breach=limit_hit,
)
def request_password_reset():
    """Email a reset code to every active account with this address (202 always)."""
    started = time.perf_counter()
    services.require_mail()
    fields = reset_request_schema.load(json_body())
    waiting = services.request_reset(fields["email"], request_id=g.get("request_id"))
    # Known and unknown addresses answer after the same floor, so the time taken
    # to record a code and its message does not tell who has an account.
    floor = current_app.config["PASSWORD_RESET_MIN_RESPONSE_MS"] / 1000
    time.sleep(max(0.0, floor - (time.perf_counter() - started)))
    if waiting:  # woken last: the sender's work does not delay this answer
        sender.wake(current_app._get_current_object())
    return {}, 202


@bp.post("/password-reset/confirm")
@limiter.limit(_limit("RATELIMIT_PASSWORD_RESET_CONFIRM"), on_breach=limit_hit)
def confirm_password_reset():
    """Spend a reset code on a new password; every session ends, a new pair."""
    services.require_mail()
    fields = reset_confirm_schema.load(json_body())
    pair = services.confirm_reset(
        fields["token"],
        new_password=fields["new_password"],
        user_agent=request.user_agent.string,
    )
    return token_response(pair)
