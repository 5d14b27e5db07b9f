"""Marshmallow fields shared by the feature schemas."""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields

from bookstore.clock import isoformat

# C0/C1 controls (NUL included: PostgreSQL refuses it in text) and lone surrogates
# (JSON "\ud800" decodes to one; no database driver can encode it).
_FORBIDDEN_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# int() also takes "１" (any Unicode digit), "1_000", " 7 " and "+7": a query
# parameter is a number only when it is plain ASCII digits. 18 digits fit any
# 64-bit column, so int() never sees a long string either.
_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")


class UTCDateTime(fields.Field):
    """A timestamp on the wire: RFC 3339 in UTC with a Z, whatever the driver gave."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else isoformat(value)


class TrimmedText(fields.String):
    """A string trimmed of surrounding whitespace, with no control characters."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if _FORBIDDEN_TEXT.search(text):
            raise ValidationError(
                "Must not contain control characters or invalid Unicode."
            )
        return text


class ASCIIInteger(fields.Integer):
    """A non-negative integer written in ASCII digits only (query parameters)."""

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        if not isinstance(value, str) or not _ASCII_DIGITS.fullmatch(value):
            raise ValidationError("Must be a whole number in ASCII digits (0-9).")
        return super()._deserialize(value, attr, data, **kwargs)
