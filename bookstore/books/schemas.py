"""Wire formats of the books endpoints: the book object and the listing query."""

from __future__ import annotations

import re
from decimal import Decimal

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from bookstore.books.cursors import MAX_CURSOR_LENGTH
from bookstore.books.isbn import MAX_INPUT as ISBN_MAX_INPUT
from bookstore.books.isbn import SHAPE as ISBN_SHAPE
from bookstore.books.isbn import InvalidISBN, to_isbn13
from bookstore.books.models import MAX_PRICE_CENTS, TEXT_MAX
from bookstore.books.queries import SORTS
from bookstore.fields import STRIPPED, TrimmedText, UTCDateTime
from bookstore.pagination import PageArgsSchema

CENT = Decimal("0.01")
MAX_PRICE = Decimal(MAX_PRICE_CENTS).scaleb(-2)
# Prices as strings: plain decimal notation, ASCII digits, nothing else. Decimal()
# itself would also take " 1 ", "1_000", "1e3", "NaN" and non-ASCII digits.
_DIGITS = 20  # at most, before the point and after it
_PRICE_TEXT = re.compile(rf"-?[0-9]{{1,{_DIGITS}}}(?:\.[0-9]{{1,{_DIGITS}}})?")
_TEXT_RULES = (
    "1-200 characters after trimming surrounding whitespace; no control characters."
)


def parse_price(value: object) -> Decimal:
    """Return `value` (JSON number or string) as an exact Decimal with 2 places.

    Raises ValidationError for floats, booleans, non-decimal text, values outside
    0..1,000,000 and more than two decimal places (9.990 is 9.99 and is fine).
    """
    if isinstance(value, str) and _PRICE_TEXT.fullmatch(value):
        amount = Decimal(value)
    elif isinstance(value, Decimal):  # a JSON number with a fraction or exponent
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    else:  # floats never get here from a request body (parse_float=Decimal)
        raise ValidationError('Not a valid price: give a number or a string "9.99".')
    if not amount.is_finite():
        raise ValidationError("Not a valid price.")
    # Compare before quantize: Decimal("1e999999999") must not be expanded.
    if not 0 <= amount <= MAX_PRICE:
        raise ValidationError(f"Must be between 0 and {MAX_PRICE:.0f}.")
    cents = amount.quantize(CENT)
    if cents != amount:
        raise ValidationError("At most 2 decimal places.")
    return abs(cents)  # abs: "-0.00" is 0.00


def price_text_pattern() -> str:
    """The ECMA-262 pattern of the strings parse_price takes: _PRICE_TEXT with a
    value from 0 to MAX_PRICE ("-0" too) and nothing but zeros past the cents.
    A test holds the two to each other."""
    whole = MAX_PRICE_CENTS // 100
    top = str(whole)
    # "Below the maximum" is "at most len(top) - 1 significant digits".
    if MAX_PRICE_CENTS % 100 or top != "1" + "0" * (len(top) - 1):
        raise ValueError("price_text_pattern needs a power of ten as MAX_PRICE")
    below = f"0{{0,{_DIGITS - len(top) + 1}}}[0-9]{{1,{len(top) - 1}}}"
    cents = f"(?:\\.[0-9]{{1,2}}0{{0,{_DIGITS - 2}}})?"
    zeros = f"(?:\\.0{{1,{_DIGITS}}})?"
    maximum = f"0{{0,{_DIGITS - len(top)}}}{top}{zeros}"
    return f"^(?:{below}{cents}|{maximum}|-0{{1,{_DIGITS}}}{zeros})$"


class Price(fields.Field):
    """Money: a JSON number or string in, a string with two places out."""

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        return parse_price(value)

    def _serialize(self, value, attr, obj, **kwargs) -> str | None:
        return None if value is None else format(value.quantize(CENT), "f")

    def json_schema(self) -> dict:
        # JSON numbers are read as exact decimals (never floats), so multipleOf
        # 0.01 means what it says.
        number = {
            "type": "number",
            "minimum": 0,
            "maximum": int(MAX_PRICE),
            "multipleOf": float(CENT),
        }
        return {"anyOf": [number, {"type": "string", "pattern": price_text_pattern()}]}


class QueryPrice(Price):
    """A price in a query string: text only."""

    def json_schema(self) -> dict:
        return {"type": "string", "pattern": price_text_pattern()}


class Text(TrimmedText):
    """Trimmed text of 1 to TEXT_MAX characters, with no control characters."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(1, TEXT_MAX))
        super().__init__(**kwargs)


class ISBN(fields.String):
    """ISBN-10 or -13 (hyphens and spaces allowed) in, ISBN-13 digits out."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return to_isbn13(text)
        except InvalidISBN as exc:
            raise ValidationError(str(exc)) from None

    def json_schema(self) -> dict:
        # The shape is a pattern; the check digit is not a regular language a
        # pattern can hold, so it is the `isbn` format's (in the description).
        return {
            "format": "isbn",
            "pattern": f"^[{STRIPPED}]*{ISBN_SHAPE}[{STRIPPED}]*$",
            "maxLength": ISBN_MAX_INPUT,
        }


class BookSchema(Schema):
    """The book object. POST and PUT load it whole; PATCH with partial=True."""

    id = fields.UUID(attribute="public_id", dump_only=True)
    title = Text(required=True, metadata={"description": _TEXT_RULES})
    author = Text(required=True, metadata={"description": _TEXT_RULES})
    publisher = Text(required=True, metadata={"description": _TEXT_RULES})
    price = Price(
        required=True,
        metadata={
            "example": "9.99",
            "description": "Exact decimal, 0 to 1000000, at most 2 decimal places "
            "(further zeros are fine): a JSON number or a string of ASCII digits "
            "with an optional point. Always returned as a string.",
        },
    )
    isbn = ISBN(
        allow_none=True,
        load_default=None,
        metadata={
            "example": "9780441013593",
            "description": "ISBN-10 or ISBN-13 with a valid check digit (the "
            "`isbn` format: the pattern gives the shape, the check digit is "
            "ISBN's own rule); hyphens and single spaces between digits and "
            "surrounding whitespace allowed; stored and returned as 13 digits. "
            "Unique per owner. Omitted in a PUT: cleared.",
        },
    )
    owner_id = fields.UUID(attribute="owner.public_id", dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class BookQuerySchema(PageArgsSchema):
    """`GET /books`: paging, an allowlisted sort, filters, and the admins' `owner`."""

    sort = fields.String(
        load_default="-created_at",
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "title, author, price or created_at; '-' for descending. "
            "Title and author sort case-insensitively; ties are broken by id."
        },
    )
    author = Text(metadata={"description": "Case-insensitive exact match."})
    publisher = Text(metadata={"description": "Case-insensitive exact match."})
    q = Text(
        metadata={
            "description": "Case-insensitive substring of the title or the author; "
            "% and _ are literal characters."
        }
    )
    # No examples on query parameters: Swagger UI's "Try it out" would send them as
    # filters, and a newcomer's books outside the example range would vanish.
    min_price = QueryPrice(
        metadata={"description": "Inclusive; not above max_price (else 400)."}
    )
    max_price = QueryPrice(metadata={"description": "Inclusive."})
    owner = fields.UUID(
        metadata={
            "description": "Admins only: list this user's books. Anyone else may "
            "name only themselves (another id is 403)."
        }
    )

    cursor = fields.String(
        validate=validate.Length(max=MAX_CURSOR_LENGTH),
        metadata={
            "description": "Cursor mode: empty to start, then the previous page's "
            "next_cursor, with the same sort and filters (else 400). The response "
            "then has next_cursor instead of page and pages. Not with page.",
            # Unpadded base64url (books.cursors): nothing else ever opens.
            "pattern": "^[A-Za-z0-9_-]*$",
        },
    )

    @validates_schema(pass_original=True)
    def _page_or_cursor(self, data, original_data, **kwargs):
        if "cursor" in original_data and "page" in original_data:
            raise ValidationError("Give either page or cursor, not both.", "cursor")

    @validates_schema
    def _price_bounds_in_order(self, data, **kwargs):
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ValidationError("Must not exceed max_price.", "min_price")
