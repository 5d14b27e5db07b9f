"""Wire formats of the account-recovery endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from bookstore.fields import NewPassword


class PasswordResetRequestSchema(Schema):
    # Any string up to a mailbox's length: an address nobody has is answered
    # like any other, so there is nothing to gain from a stricter check.
    email = fields.String(required=True, validate=validate.Length(1, 254))


class PasswordResetConfirmSchema(Schema):
    # Any string: a malformed code is "invalid_reset_token" (400), like an unknown one.
    token = fields.String(required=True)
    new_password = NewPassword(required=True)  # register's policy, in services


class EmptySchema(Schema):
    """The 202 body: an empty object, whatever the address."""
