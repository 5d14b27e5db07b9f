"""Wire formats of user management."""

from __future__ import annotations

from typing import ClassVar

from marshmallow import Schema, ValidationError, fields, validates_schema


class StrictBoolean(fields.Boolean):
    """Only JSON true and false: no "yes", 1 or "false" strings."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class UserPatchSchema(Schema):
    json_schema_extra: ClassVar[dict] = {"minProperties": 1}  # _not_empty

    is_admin = StrictBoolean()
    is_active = StrictBoolean()

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Give is_admin and/or is_active.", "_schema")
