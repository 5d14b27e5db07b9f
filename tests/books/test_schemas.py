from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from bookstore.books.schemas import BookQuerySchema, BookSchema, parse_price
from bookstore.web import StrictJSON

cents = st.integers(min_value=0, max_value=100_000_000)


def _text(cents_value: int) -> str:
    return f"{cents_value // 100}.{cents_value % 100:02d}"


# No deadline: a busy CI machine must not turn one slow example into a failure.
@settings(deadline=None)
@given(cents)
def test_every_price_in_range_round_trips_exactly_as_string_and_number(value):
    text = _text(value)
    as_json_number = StrictJSON.loads(text)  # what the request parser hands over

    assert parse_price(text) == Decimal(value).scaleb(-2)
    assert parse_price(as_json_number) == Decimal(value).scaleb(-2)
    assert BookSchema().dump({"price": parse_price(text)})["price"] == text


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=1_000_000))
def test_whole_numbers_are_prices(value):
    assert parse_price(value) == Decimal(value)
    assert parse_price(str(value)) == Decimal(value)


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=10**18))
def test_prices_above_a_million_are_refused(excess):
    for value in (1_000_000 + excess, str(1_000_000 + excess)):
        with pytest.raises(ValidationError, match="between 0 and 1000000"):
            parse_price(value)


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=10**12))
def test_negative_prices_are_refused(value):
    with pytest.raises(ValidationError):
        parse_price(-value)
    with pytest.raises(ValidationError):
        parse_price(f"-{value}")


@settings(deadline=None)
@given(cents, st.integers(min_value=1, max_value=9), st.integers(1, 8))
def test_a_third_significant_decimal_place_is_refused(value, digit, zeros):
    text = _text(min(value, 99_999_999)) + "0" * (zeros - 1) + str(digit)

    with pytest.raises(ValidationError, match="2 decimal places"):
        parse_price(text)
    with pytest.raises(ValidationError, match="2 decimal places"):
        parse_price(StrictJSON.loads(text))


@settings(deadline=None)
@given(st.text(max_size=30))
def test_any_string_is_an_exact_price_or_refused_never_a_crash(text):
    try:
        price = parse_price(text)
    except ValidationError:
        return
    assert isinstance(price, Decimal)
    assert 0 <= price <= 1_000_000
    assert price == price.quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        9.99,  # a float never gets this far from HTTP, and is refused if it does
        [],
        {},
        "",
        " 9.99",
        "9.99 ",
        "+9.99",
        "9.",
        ".99",
        "9,99",
        "1_000",
        "1e2",
        "1E2",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "0x10",
        "٩.٩٩",  # Arabic-Indic digits: Decimal() would take them
        "９.９９",
        "9.99\x00",
    ],
)
def test_values_that_are_not_plain_decimal_prices_are_refused(value):
    with pytest.raises(ValidationError):
        parse_price(value)


@pytest.mark.parametrize(
    ("json_number", "expected"),
    [
        ("9.990", Decimal("9.99")),  # trailing zeros do not count as places
        ("1e2", Decimal("100.00")),
        ("0.5e1", Decimal("5.00")),
        ("1E+6", Decimal("1000000.00")),
        ("-0", Decimal("0.00")),
        ("-0.00", Decimal("0.00")),
    ],
)
def test_json_numbers_are_taken_at_their_exact_value(json_number, expected):
    price = parse_price(StrictJSON.loads(json_number))

    assert price == expected
    assert str(price) == str(expected)


@pytest.mark.parametrize(
    "json_number", ["1e999999999", "1e-999999999", "1E+7", "0.001", "1e-3"]
)
def test_json_numbers_with_extreme_exponents_are_refused_without_expanding(
    json_number,
):
    with pytest.raises(ValidationError):
        parse_price(StrictJSON.loads(json_number))


def test_text_fields_are_trimmed_and_isbn_normalised():
    loaded = BookSchema().load(
        {
            "title": "  Dune\u3000",
            "author": "\tFrank Herbert\n",
            "publisher": " Chilton ",
            "price": "9.99",
            "isbn": "0-441-01359-7",
        }
    )

    assert loaded == {
        "title": "Dune",
        "author": "Frank Herbert",
        "publisher": "Chilton",
        "price": Decimal("9.99"),
        "isbn": "9780441013593",
    }


@settings(deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
        min_size=1,
        max_size=200,
    )
)
def test_any_printable_title_of_1_to_200_characters_is_accepted(title):
    title = title.strip()
    if not title:
        return
    loaded = BookSchema(partial=True).load({"title": title})

    assert loaded["title"] == title


@settings(deadline=None)
@given(st.text(min_size=0, max_size=5), st.characters(categories=("Cc", "Cs")))
def test_a_control_character_anywhere_inside_is_refused(prefix, control):
    title = f"a{prefix}{control}b"

    with pytest.raises(ValidationError) as caught:
        BookSchema(partial=True).load({"title": title})

    assert "title" in caught.value.messages


def test_query_schema_refuses_unknown_parameters_and_bad_sorts():
    with pytest.raises(ValidationError) as caught:
        BookQuerySchema().load({"sort": "password_hash", "color": "red"})

    assert set(caught.value.messages) == {"sort", "color"}


@pytest.mark.parametrize(
    ("price", "isbn"),
    [
        ("0", None),
        ("0.05", "0-441-01359-7"),
        ("9.99", None),
        ("12.3", None),
        ("1000000", "9780306406157"),
        (7, None),
    ],
)
def test_fast_dump_matches_the_schema(app, client, auth_headers, price, isbn):
    from bookstore.books.models import Book
    from bookstore.books.queries import LISTED_COLUMNS
    from bookstore.books.schemas import BookSchema, dump_book, dump_books
    from bookstore.extensions import db

    response = client.post(
        "/api/v1/books",
        json={
            "title": " Dune ",
            "author": "Frank Herbert",
            "publisher": "Ace",
            "price": price,
            "isbn": isbn,
        },
        headers=auth_headers,
    )
    assert response.status_code == 201

    with app.app_context():
        books = list(db.session.scalars(sa.select(Book)))
        expected = BookSchema(many=True).dump(books)

        assert [dump_book(book) for book in books] == expected
        rows = db.session.execute(sa.select(*LISTED_COLUMNS)).all()
        assert dump_books(rows, str(books[0].owner.public_id)) == expected
    assert response.json == expected[0]
    # The listing serializes rows, not ORM objects: the same output.
    assert client.get("/api/v1/books", headers=auth_headers).json["items"] == expected
