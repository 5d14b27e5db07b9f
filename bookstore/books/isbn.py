"""Pure ISBN-10/13 check-digit validation and normalisation to ISBN-13."""

from __future__ import annotations

import re

# ASCII only: str.isdigit() would also accept Arabic-Indic or fullwidth digits.
_ISBN10 = re.compile(r"[0-9]{9}[0-9Xx]")
_ISBN13 = re.compile(r"97[89][0-9]{10}")
_SEPARATORS = re.compile(r"[- ]")
MAX_INPUT = 32  # 13 digits plus generous room for hyphens and spaces
# Between two digits, hyphens and spaces with no two alike side by side ("--"
# and "  " are refused, "- " is not).
_SEPARATOR = "(?:-(?: -)*(?: )?| (?:- )*-?)"
_ISBN10_SHAPE = f"[0-9](?:{_SEPARATOR}?[0-9]){{8}}{_SEPARATOR}?[0-9Xx]"
_ISBN13_SHAPE = f"9{_SEPARATOR}?7{_SEPARATOR}?[89](?:{_SEPARATOR}?[0-9]){{10}}"
# What to_isbn13 takes once stripped, but for the check digit (a regular
# expression, ECMA-262 and Python alike): the OpenAPI document's pattern for
# ISBNs. A test holds the two to each other.
SHAPE = f"(?:{_ISBN10_SHAPE}|{_ISBN13_SHAPE})"


class InvalidISBN(ValueError):
    """The text is not an ISBN-10 or ISBN-13 with a valid check digit."""


def isbn10_check_digit(first9: str) -> str:
    """The ISBN-10 check character ('0'-'9' or 'X') for nine digits."""
    remainder = sum((10 - i) * int(d) for i, d in enumerate(first9)) % 11
    check = (11 - remainder) % 11
    return "X" if check == 10 else str(check)


def isbn13_check_digit(first12: str) -> str:
    """The ISBN-13 (EAN-13) check digit for twelve digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def to_isbn13(text: str) -> str:
    """Return `text` (ISBN-10 or -13, hyphens/spaces allowed) as 13 digits.

    Raises InvalidISBN when the shape or the check digit is wrong.
    """
    if not isinstance(text, str) or len(text) > MAX_INPUT:
        raise InvalidISBN("Not a valid ISBN.")
    stripped = text.strip()
    if not stripped or stripped[0] in "- " or stripped[-1] in "- ":
        raise InvalidISBN("Not a valid ISBN.")
    if "--" in stripped or "  " in stripped:
        raise InvalidISBN("Not a valid ISBN.")
    digits = _SEPARATORS.sub("", stripped)
    if _ISBN10.fullmatch(digits):
        if isbn10_check_digit(digits[:9]) != digits[9].upper():
            raise InvalidISBN("Not a valid ISBN: the check digit is wrong.")
        body = "978" + digits[:9]
        return body + isbn13_check_digit(body)
    if _ISBN13.fullmatch(digits):
        if isbn13_check_digit(digits[:12]) != digits[12]:
            raise InvalidISBN("Not a valid ISBN: the check digit is wrong.")
        return digits
    raise InvalidISBN("Not a valid ISBN: give 10 or 13 digits (978/979 prefix).")
