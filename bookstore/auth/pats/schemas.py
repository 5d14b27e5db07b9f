"""Wire formats of /auth/tokens."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from bookstore.auth.scopes import SCOPES
from bookstore.fields import TrimmedText, UTCDateTime

DAY = 86_400
MIN_EXPIRES_IN, MAX_EXPIRES_IN, DEFAULT_EXPIRES_IN = DAY, 366 * DAY, 90 * DAY


class TokenSchema(Schema):
    """A personal access token; `token` (its value) only in the 201 of its creation."""

    id = fields.UUID(attribute="public_id", dump_only=True)
    name = TrimmedText(
        required=True,
        validate=validate.Length(1, 100),
        metadata={"description": "1-100 characters after trimming; no controls."},
    )
    scopes = fields.List(
        fields.String(validate=validate.OneOf(sorted(SCOPES))),
        required=True,
        validate=validate.Length(1, len(SCOPES)),
        attribute="scope_list",
        data_key="scopes",
        metadata={"uniqueItems": True},  # _distinct
    )
    expires_in = fields.Integer(
        load_only=True,
        strict=True,
        load_default=DEFAULT_EXPIRES_IN,
        validate=validate.Range(MIN_EXPIRES_IN, MAX_EXPIRES_IN),
        metadata={"description": "Lifetime in seconds: 1 to 366 days, default 90."},
    )
    created_at = UTCDateTime(dump_only=True)
    expires_at = UTCDateTime(dump_only=True)
    last_used_at = UTCDateTime(dump_only=True, allow_none=True)

    @validates("scopes")
    def _distinct(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("Give each scope once.")


class CreatedTokenSchema(TokenSchema):
    token = fields.String(dump_only=True, metadata={"description": "Shown once."})
