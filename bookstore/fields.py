"""Marshmallow fields shared by the feature schemas.

A field whose wire rule is more than marshmallow's validators say (trimming,
controls, a policy) tells the OpenAPI document its exact JSON Schema through a
`json_schema()` method, next to the code that enforces the rule.
"""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, validate

from bookstore.clock import isoformat
from bookstore.security.passwords import MAX_PASSWORD, MIN_PASSWORD, POLICY_RULES

# C0/C1 controls, as the body of a character class (ECMA-262 and Python alike).
CONTROLS = r"\x00-\x1f\x7f-\x9f"
# What str.strip() removes (str.isspace()), as a class body; a test holds it to
# Python's own set.
STRIPPED = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Controls (NUL included: PostgreSQL refuses it in text) and lone surrogates
# (JSON "\ud800" decodes to one; no database driver can encode it).
_FORBIDDEN_TEXT = re.compile(rf"[{CONTROLS}\ud800-\udfff]")
# int() also takes "１" (any Unicode digit), "1_000", " 7 " and "+7": a query
# parameter is a number only when it is plain ASCII digits. 18 digits fit any
# 64-bit column, so int() never sees a long string either.
_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")


def trimmed_text_pattern(max_length: int) -> str:
    """The ECMA-262 pattern of what TrimmedText with Length(1, max_length) takes:
    1 to max_length characters once surrounding whitespace is trimmed, none of
    them a control character.

    A JSON Schema maxLength would count the whitespace the server trims, so the
    length is in the pattern. (Lone surrogates, refused too, are not Unicode
    text and have no place in a JSON Schema string.)
    """
    edge = f"[^{CONTROLS}{STRIPPED}]"  # a kept first or last character
    middle = "" if max_length < 2 else f"(?:[^{CONTROLS}]{{0,{max_length - 2}}}{edge})?"
    return f"^[{STRIPPED}]*{edge}{middle}[{STRIPPED}]*$"


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

    def json_schema(self) -> dict:
        """The pattern of its Length(1, n) validator; None drops the untrimmed
        minLength/maxLength the generic conversion would give."""
        (length,) = (v for v in self.validators if isinstance(v, validate.Length))
        if length.min != 1 or length.max is None or length.equal is not None:
            raise TypeError("TrimmedText documents Length(1, n) only.")
        pattern = trimmed_text_pattern(length.max)
        return {"pattern": pattern, "minLength": None, "maxLength": None}


class NewPassword(fields.String):
    """A password being set: the policy (bookstore.security.passwords) decides;
    the field bounds the work before it gets there."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(max=MAX_PASSWORD * 4))
        super().__init__(**kwargs)

    def json_schema(self) -> dict:
        # Lengths as the policy counts them (code points, as JSON Schema does);
        # the rest of the policy is not a JSON Schema: it is written out.
        return {
            "format": "password",
            "minLength": MIN_PASSWORD,
            "maxLength": MAX_PASSWORD,
            "description": POLICY_RULES,
        }


class ASCIIInteger(fields.Integer):
    """A non-negative integer written in ASCII digits only (query parameters)."""

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        if not isinstance(value, str) or not _ASCII_DIGITS.fullmatch(value):
            raise ValidationError("Must be a whole number in ASCII digits (0-9).")
        return super()._deserialize(value, attr, data, **kwargs)
