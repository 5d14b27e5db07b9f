"""The served OpenAPI document accepts exactly what the validators accept.

Each property runs strings (or numbers) through the document's schema, read as
a client reads it (jsonschema_rs: ECMA-262 patterns, exact multipleOf), and
through the server's own validator, and asserts the two agree.
"""

import json
import string
import sys
from decimal import Decimal

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from bookstore import create_app
from bookstore.auth.schemas import RegisterSchema
from bookstore.books.isbn import InvalidISBN, to_isbn13
from bookstore.books.schemas import BookQuerySchema, BookSchema, parse_price
from bookstore.errors import APIError
from bookstore.fields import STRIPPED
from bookstore.security.passwords import MAX_PASSWORD, MIN_PASSWORD
from bookstore.users.schemas import UserPatchSchema

PROPERTY = settings(max_examples=400, derandomize=True, database=None, deadline=None)
WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
# Characters near every edge of the text rules: whitespace the server trims,
# controls it refuses, ASCII, and letters from further away.
TEXTY = st.text(
    st.sampled_from(WHITESPACE + "\x00\x01\x1f\x7f\x9f\u200b\ufeffaZ9 -_é漢😀"),
    max_size=12,
)


@pytest.fixture(scope="module")
def document():
    return create_app("testing").test_client().get("/api/v1/openapi.json").json


def _validator(schema: dict):
    """A client's view of one schema of the document (OpenAPI 3.0 ~ draft 4)."""
    schema = {k: v for k, v in schema.items() if k not in ("nullable", "example")}
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True)


def _property(document, component: str, name: str):
    return _validator(document["components"]["schemas"][component]["properties"][name])


def _query(document, path: str, name: str):
    parameters = document["paths"][path]["get"]["parameters"]
    (schema,) = (p["schema"] for p in parameters if p.get("name") == name)
    return _validator(schema)


def _loads(schema, data: dict) -> bool:
    try:
        schema.load(data)
    except ValidationError:
        return False
    return True


def test_the_whitespace_class_is_what_str_strip_removes():
    import re

    assert re.findall(f"[{STRIPPED}]", WHITESPACE) == list(WHITESPACE)
    assert sum(
        1 for c in range(sys.maxunicode + 1) if re.match(f"[{STRIPPED}]", chr(c))
    ) == len(WHITESPACE)


@PROPERTY
@given(core=TEXTY, padding=st.sampled_from(["", " ", "\u3000", "\x1c\n"]))
@example(core="x" * 200, padding=" ")
@example(core="x" * 201, padding="")
@example(core="a\nb", padding="")
def test_book_text_fields_are_what_the_document_says(document, core, padding):
    text = padding + core + padding
    title = _property(document, "Book", "title")
    query = _query(document, "/api/v1/books", "q")

    accepted = _loads(BookSchema(partial=True), {"title": text})

    assert title.is_valid(text) == accepted
    assert query.is_valid(text) == _loads(BookQuerySchema(), {"q": text}) == accepted


@PROPERTY
@given(core=TEXTY, padding=st.sampled_from(["", " ", "\t"]))
@example(core="n" * 100, padding=" ")
@example(core="n" * 101, padding="")
def test_token_names_are_what_the_document_says(document, core, padding):
    from bookstore.auth.pats.schemas import TokenSchema

    name = padding + core + padding

    accepted = _loads(TokenSchema(partial=True), {"name": name})

    assert _property(document, "Token", "name").is_valid(name) == accepted


PRICE_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{0,22})?", fullmatch=True),
    st.text(st.sampled_from("0123456789.-+e_ "), max_size=10),
)


@PROPERTY
@given(text=PRICE_TEXT)
@example(text="1000000.000")
@example(text="1000000.01")
@example(text="-0.00")
@example(text="-0.01")
@example(text="0" * 14 + "999999.99" + "0" * 18)
@example(text="0" * 15 + "999999.99")
@example(text="9.990")
@example(text="9.991")
def test_prices_as_text_are_what_the_document_says(document, text):
    body = _property(document, "Book", "price")
    query = _query(document, "/api/v1/books", "min_price")
    try:
        parse_price(text)
    except ValidationError:
        accepted = False
    else:
        accepted = True

    assert body.is_valid(text) == accepted
    assert query.is_valid(text) == accepted


@PROPERTY
@given(
    amount=st.decimals(
        min_value=-2, max_value=2_000_000, places=3, allow_nan=False
    ).map(str)
    | st.integers(-5, 2_000_000).map(str)
    | st.sampled_from(["1e2", "1E+6", "1.0e6", "1e-2", "0.005", "1000000.001"])
)
def test_prices_as_json_numbers_are_what_the_document_says(document, amount):
    price = _property(document, "Book", "price")
    try:
        parse_price(json.loads(amount, parse_float=Decimal))  # as a body is read
    except ValidationError:
        accepted = False
    else:
        accepted = True

    assert price.is_valid(json.loads(amount)) == accepted


def _isbns():
    digits = st.text(string.digits, min_size=8, max_size=14)
    separated = st.lists(
        st.sampled_from(list(string.digits) + ["-", " ", "X", "x", "- ", "--"]),
        min_size=8,
        max_size=20,
    ).map("".join)
    return st.one_of(digits, separated, st.text("0123456789Xx- \t\n", max_size=34))


@PROPERTY
@given(text=_isbns(), padding=st.sampled_from(["", " ", "\n"]))
@example(text="978-0-441-01359-3", padding="")
@example(text="0-441-01359-X", padding=" ")
@example(text="978 - 0441013593", padding="")
@example(text="978--0441013593", padding="")
@example(text="9-7-8-0-4-4-1-0-1-3-5-9-3", padding="   ")
def test_isbns_are_what_the_document_says_but_for_the_check_digit(
    document, text, padding
):
    isbn = padding + text + padding
    try:
        to_isbn13(isbn)
    except InvalidISBN as exc:
        shape_ok = "check digit" in str(exc)
    else:
        shape_ok = True

    assert _property(document, "Book", "isbn").is_valid(isbn) == shape_ok


def _keys():
    printable = st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8
    )
    return st.one_of(
        printable,
        printable.map(lambda key: f'"{key}"'),
        st.text(st.sampled_from(' "\\a\t\xa0\x85'), max_size=6),
        st.integers(250, 258).map(lambda n: "k" * n),
        st.integers(250, 258).map(lambda n: '"' + "k" * n + '"'),
    )


@PROPERTY
@given(key=_keys())
@example(key='""')
@example(key='" "')
@example(key='"a"b"')
@example(key='"a')
@example(key='"')
def test_idempotency_keys_are_what_the_document_says(document, key):
    from bookstore.books.idempotency import parse_key

    parameters = document["paths"]["/api/v1/books"]["post"]["parameters"]
    (schema,) = (p["schema"] for p in parameters if p["name"] == "Idempotency-Key")
    try:
        parse_key(key)
    except APIError:
        accepted = False
    else:
        accepted = True

    assert _validator(schema).is_valid(key) == accepted


@pytest.mark.parametrize(
    "length", [MIN_PASSWORD - 1, MIN_PASSWORD, MAX_PASSWORD, MAX_PASSWORD + 1]
)
@pytest.mark.parametrize(
    "component", ["Register", "PasswordChange", "PasswordResetConfirm"]
)
def test_new_passwords_have_the_policys_lengths(document, component, length):
    from bookstore.security.passwords import policy_errors

    name = "password" if component == "Register" else "new_password"
    password = ("a!b#c$d%" * 20)[:length]

    valid = _property(document, component, name).is_valid(password)

    assert valid == (policy_errors(password, None) == [])


@pytest.mark.parametrize("email", ["", "   ", "\u3000", None, "a@example.com"])
def test_a_blank_email_is_valid_in_the_document_as_at_the_server(document, email):
    schema = document["components"]["schemas"]["Register"]["properties"]["email"]
    body = {"username": "alice", "password": "a!b#c$d%", "email": email}

    assert email is None or _validator(schema).is_valid(email)
    assert _loads(RegisterSchema(), body)


def test_an_empty_user_patch_is_invalid_in_the_document_as_at_the_server(document):
    patch = _validator(document["components"]["schemas"]["UserPatch"])

    assert not patch.is_valid({}) and not _loads(UserPatchSchema(), {})
    assert patch.is_valid({"is_active": False}) and _loads(
        UserPatchSchema(), {"is_active": False}
    )


def test_repeated_scopes_are_invalid_in_the_document_as_at_the_server(document):
    from bookstore.auth.pats.schemas import TokenSchema

    scopes = _property(document, "Token", "scopes")
    body = {"name": "ci", "scopes": ["books:read", "books:read"]}

    assert not scopes.is_valid(body["scopes"]) and not _loads(TokenSchema(), body)
