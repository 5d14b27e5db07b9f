"""Marshmallow fields shared by the feature schemas."""

from __future__ import annotations

from marshmallow import fields

from bookstore.clock import isoformat


class UTCDateTime(fields.Field):
    """A timestamp on the wire: RFC 3339 in UTC with a Z, whatever the driver gave."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else isoformat(value)
