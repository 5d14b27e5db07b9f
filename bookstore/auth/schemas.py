"""Wire formats of the auth endpoints and the user object."""

from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

from bookstore.fields import UTCDateTime
from bookstore.security.passwords import (
    MAX_PASSWORD,
    USERNAME_PATTERN,
    USERNAME_RULE,
)


class UserSchema(Schema):
    """The user object: never a password or hash."""

    id = fields.UUID(attribute="public_id", dump_only=True)
    username = fields.String(dump_only=True)
    email = fields.String(dump_only=True, allow_none=True)
    is_admin = fields.Boolean(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = UTCDateTime(dump_only=True)


class RegisterSchema(Schema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            USERNAME_PATTERN.pattern + r"\Z",
            error=USERNAME_RULE,
        ),
    )
    # Length and the common-password list are checked by the policy in accounts.py.
    password = fields.String(
        required=True, validate=validate.Length(max=MAX_PASSWORD * 4)
    )
    email = fields.Email(
        load_default=None, allow_none=True, validate=validate.Length(max=254)
    )

    @pre_load
    def _trim_email(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            data = {**data, "email": data["email"].strip() or None}
        return data


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(1, 256))
    password = fields.String(required=True, validate=validate.Length(1, 1024))


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(1, 8192))


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(1, 1024))
    new_password = fields.String(
        required=True, validate=validate.Length(max=MAX_PASSWORD * 4)
    )


class TokenPairSchema(Schema):
    access_token = fields.String(dump_only=True)
    token_type = fields.String(dump_only=True)
    expires_in = fields.Integer(dump_only=True)
    refresh_token = fields.String(dump_only=True)
    refresh_expires_in = fields.Integer(dump_only=True)


class SessionSchema(Schema):
    id = fields.UUID(attribute="public_id", dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    last_used_at = UTCDateTime(dump_only=True)
    expires_at = UTCDateTime(dump_only=True)
    user_agent = fields.String(dump_only=True, allow_none=True)
    current = fields.Boolean(dump_only=True)  # set by the route on each session
