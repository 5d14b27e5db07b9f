"""Wire formats of the auth endpoints and the user object."""

from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

from bookstore.fields import STRIPPED, NewPassword, UTCDateTime
from bookstore.security.passwords import USERNAME_PATTERN, USERNAME_RULE


class UserSchema(Schema):
    """The user object: never a password or hash."""

    id = fields.UUID(attribute="public_id", dump_only=True)
    username = fields.String(dump_only=True)
    email = fields.String(dump_only=True, allow_none=True)
    is_admin = fields.Boolean(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = UTCDateTime(dump_only=True)


class BlankableEmail(fields.Email):
    """An email address; RegisterSchema reads a blank one as none (_trim_email)."""

    def json_schema(self) -> dict:
        blank = {"type": "string", "pattern": f"^[{STRIPPED}]*$"}
        address = {"type": "string", "format": "email", "maxLength": 254}
        description = "Surrounding whitespace is trimmed; blank means no email."
        return {
            "anyOf": [address, blank],
            "format": None,
            "maxLength": None,
            "description": description,
        }


class RegisterSchema(Schema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            USERNAME_PATTERN.pattern + r"\Z",
            error=USERNAME_RULE,
        ),
    )
    password = NewPassword(required=True)  # the policy is checked in accounts.py
    email = BlankableEmail(
        load_default=None, allow_none=True, validate=validate.Length(max=254)
    )

    @pre_load
    def _trim_email(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            data = {**data, "email": data["email"].strip() or None}
        return data


class LoginSchema(Schema):
    """Optional when HTTP Basic credentials are sent instead; with neither, 401."""

    username = fields.String(required=True, validate=validate.Length(1, 256))
    password = fields.String(required=True, validate=validate.Length(1, 1024))


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(1, 8192))


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(1, 1024))
    new_password = NewPassword(required=True)


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
