"""Blueprint "users": the caller's account and the admin's user management."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from bookstore import pagination
from bookstore.auth import accounts
from bookstore.auth.guards import admin_required, current_user, token_required
from bookstore.auth.routes import limit_hit, token_response
from bookstore.auth.schemas import PasswordChangeSchema, UserSchema
from bookstore.auth.scopes import PROFILE_READ, login_only, scope
from bookstore.extensions import limiter
from bookstore.users import services
from bookstore.users.schemas import UserPatchSchema
from bookstore.web import json_body
from bookstore.write_limits import write_limited

bp = Blueprint("users", __name__)

user_schema = UserSchema()
users_schema = UserSchema(many=True)
user_patch_schema = UserPatchSchema()
password_change_schema = PasswordChangeSchema()
page_args_schema = pagination.PageArgsSchema()


@bp.get("/me")
@scope(PROFILE_READ)
@token_required
def get_me():
    """The caller's own user object."""
    response = current_app.json.response(user_schema.dump(current_user()))
    response.headers["Cache-Control"] = "private, no-cache"  # per user, may change
    return response


@bp.put("/me/password")
@login_only
@limiter.limit(
    lambda: current_app.config["RATELIMIT_PASSWORD_CHANGE"], on_breach=limit_hit
)
@token_required
def change_password():
    """Change the caller's password; every session ends and a new pair is issued."""
    fields = password_change_schema.load(json_body())
    pair = accounts.change_password(
        current_user(), user_agent=request.user_agent.string, **fields
    )
    return token_response(pair)


@bp.get("")
@login_only
@admin_required
def list_users():
    """Every user, paginated (admins only)."""
    args = pagination.parse_args(page_args_schema)
    page = pagination.paginate(services.list_users(), **args)
    return pagination.respond(page, users_schema.dump)


@bp.get("/<uuid:user_id>")
@login_only
@token_required
def get_user(user_id):
    """One user: admins see anyone, others only themselves (else 404)."""
    return user_schema.dump(services.get_visible_user(current_user(), user_id))


@bp.patch("/<uuid:user_id>")
@login_only
@admin_required
@write_limited
def update_user(user_id):
    """Set a user's is_admin / is_active flags (admins only)."""
    fields = user_patch_schema.load(json_body())
    return user_schema.dump(services.update_user(current_user(), user_id, **fields))


@bp.delete("/<uuid:user_id>")
@login_only
@token_required
@write_limited
def delete_user(user_id):
    """Delete a user and their books: admins anyone, others only themselves."""
    services.delete_user(current_user(), user_id)
    return "", 204
