"""Schemathesis hooks for the contract run, in the suite and from the CLI.

What the OpenAPI document cannot say as JSON Schema it says in words; each rule
of that kind is written out here once, so that cases a client could not have
made (a made-up cursor, an ISBN with a wrong check digit) are not sent as
"valid". Everything else is generated from the document alone.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import string
from decimal import Decimal, InvalidOperation

import requests
import schemathesis
from hypothesis import strategies as st

from bookstore.books.isbn import isbn10_check_digit, isbn13_check_digit
from bookstore.security.passwords import MAX_PASSWORD, MIN_PASSWORD, is_common

API = "/api/v1"
PASSWORD = "contract run passphrase"
_serial = itertools.count(1)


def _isbn(digits: str, separators: list[str], lower_x: bool, padding: str) -> str:
    if len(digits) == 9:
        digits += isbn10_check_digit(digits)
        if lower_x:
            digits = digits.replace("X", "x")
    else:
        digits += isbn13_check_digit(digits)
    text = digits[0] + "".join(
        s + d for s, d in zip(separators[: len(digits) - 1], digits[1:], strict=True)
    )
    return padding + text + padding


# The `isbn` format: ISBN-10 or -13 with its check digit, hyphens or single
# spaces between digits, sometimes whitespace around (32 characters at most).
ISBNS = st.builds(
    _isbn,
    st.one_of(
        st.text(string.digits, min_size=9, max_size=9),
        st.builds(
            str.__add__,
            st.sampled_from(["978", "979"]),
            st.text(string.digits, min_size=9, max_size=9),
        ),
    ),
    st.lists(st.sampled_from(["", "", "-", " "]), min_size=12, max_size=12),
    st.booleans(),
    st.sampled_from(["", " "]),
)

# The `password` format of a password being set (register, change, reset): the
# policy's lengths, and no three characters in a row from the username alphabet
# [A-Za-z0-9_.-], so it is never the username nor mostly made of it; a letter
# or digit, then a symbol: never one repeated character nor a keyboard run. Any
# length (the schema's minLength and maxLength pick), with the ones at and just
# past the bounds often: coverage asks for those exactly.
_SYMBOLS = " !#$%&*+,/:;<=>?@[]^{|}~"


def _alternating(length: int) -> st.SearchStrategy[str]:
    pairs = st.tuples(
        st.sampled_from(string.ascii_letters + string.digits),
        st.sampled_from(_SYMBOLS),
    )
    size = (length + 1) // 2
    return st.lists(pairs, min_size=size, max_size=size).map(
        lambda chosen: "".join(a + b for a, b in chosen)[:length]
    )


PASSWORDS = (
    st.one_of(
        st.sampled_from(
            [MIN_PASSWORD + step for step in (-1, 0, 1)]
            + [MAX_PASSWORD + step for step in (-1, 0, 1)]
        ),
        st.integers(1, MAX_PASSWORD + 1),
    )
    .flatmap(_alternating)
    .filter(lambda password: not is_common(password))
)

schemathesis.openapi.format("isbn", ISBNS)
schemathesis.openapi.format("password", PASSWORDS)


@schemathesis.hook
def map_case(context, case):
    """Rules that JSON Schema cannot state (the descriptions do), applied to the
    cases generated as valid."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if case.operation.label == f"GET {API}/books" and case.query:
        _listing_rules(case)
    if case.operation.label == f"POST {API}/books" and case.headers:
        _one_key_per_body(case)
    return case


def _one_key_per_body(case) -> None:
    """A new request gets a new Idempotency-Key (the draft's rule): a key used
    with another body is 422. The generated key gets a suffix from the body, so
    a repeated body repeats its key (a replay) and another body never does."""
    key = case.headers.get("Idempotency-Key")
    if key is None:
        return
    suffix = "." + hashlib.sha256(repr(case.body).encode()).hexdigest()[:10]
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':  # a structured-field string
        key = f'"{key[1:-1][: 255 - len(suffix)]}{suffix}"'
    else:
        key = key[: 255 - len(suffix)] + suffix
    case.headers = {**case.headers, "Idempotency-Key": key}


def _listing_rules(case) -> None:
    query = dict(case.query)
    if "cursor" in query:
        # Only "" (start) can be made by a client; later cursors come from
        # next_cursor. A cursor and a page are never given together.
        query["cursor"] = ""
        query.pop("page", None)
    low, high = query.get("min_price"), query.get("max_price")
    if low is not None and high is not None and _decimal(low) > _decimal(high):
        query["min_price"], query["max_price"] = high, low
    case.query = query


def _decimal(text: str) -> Decimal:
    """The price's value; a string the document should not have allowed is
    left for the checks to report (as the smallest value: never swapped)."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("-Infinity")


def _post(context, path: str, body: dict) -> tuple[int, dict]:
    base = context.operation.schema.get_base_url()
    response = requests.post(base + path, json=body, timeout=30)
    return response.status_code, response.json()


@schemathesis.auth(refresh_interval=600)
class FreshUser:
    """A user of our own: logs in again after a 401, registers anew if it is gone.

    Generated cases log out, revoke sessions and delete the user (the API allows
    all three); the next case gets working credentials again.
    """

    username: str | None = None

    def get(self, case, context):
        if self.username is not None:
            status, body = _post(
                context,
                f"{API}/auth/login",
                {"username": self.username, "password": PASSWORD},
            )
            if status == 200:
                return body["access_token"]
        self.username = f"contract-{next(_serial)}-{secrets.token_hex(3)}"
        status, body = _post(
            context,
            f"{API}/auth/register",
            {"username": self.username, "password": PASSWORD},
        )
        assert status == 201, body
        status, body = _post(
            context,
            f"{API}/auth/login",
            {"username": self.username, "password": PASSWORD},
        )
        assert status == 200, body
        return body["access_token"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
