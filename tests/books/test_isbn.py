import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookstore.books.isbn import (
    InvalidISBN,
    isbn10_check_digit,
    isbn13_check_digit,
    to_isbn13,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
nine = st.text(alphabet="0123456789", min_size=9, max_size=9)
twelve = st.tuples(
    st.sampled_from(["978", "979"]), st.text("0123456789", min_size=9, max_size=9)
).map("".join)


def _is_valid_isbn13(text: str) -> bool:
    weights = [1, 3] * 6 + [1]
    return (
        len(text) == 13
        and sum(int(d) * w for d, w in zip(text, weights, strict=True)) % 10 == 0
    )


@pytest.mark.parametrize(
    ("given_isbn", "expected"),
    [
        ("9780441013593", "9780441013593"),
        ("978-0-441-01359-3", "9780441013593"),
        ("978 0 441 01359 3", "9780441013593"),
        ("0441013597", "9780441013593"),
        ("0-441-01359-7", "9780441013593"),
        ("  0-441-01359-7  ", "9780441013593"),
        ("080442957X", "9780804429573"),
        ("080442957x", "9780804429573"),
        ("979-10-90636-07-1", "9791090636071"),
    ],
)
def test_valid_isbns_normalise_to_isbn13(given_isbn, expected):
    assert to_isbn13(given_isbn) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "9780441013594",  # wrong check digit
        "0441013598",  # wrong ISBN-10 check digit
        "978044101359",  # 12 digits
        "97804410135933",  # 14 digits
        "1234567890123",  # EAN-13 but not a 978/979 ISBN
        "X441013597",  # X only as the last ISBN-10 character
        "978044101359X",
        "٩٧٨٠٤٤١٠١٣٥٩٣",  # Arabic-Indic digits
        "９７８０４４１０１３５９３",  # fullwidth digits
        "978–0–441–01359–3",  # en dashes
        "-9780441013593",
        "9780441013593-",
        "978--0441013593",
        "978\t0441013593",
        "ISBN 9780441013593",
        "9" * 100,
    ],
)
def test_invalid_isbns_are_refused(bad):
    with pytest.raises(InvalidISBN):
        to_isbn13(bad)


# No deadline: a busy CI machine must not turn one slow example into a failure.
@settings(deadline=None)
@given(nine)
def test_every_isbn10_with_its_check_digit_becomes_a_valid_isbn13(first9):
    isbn10 = first9 + isbn10_check_digit(first9)

    isbn13 = to_isbn13(isbn10)

    assert isbn13.startswith("978")
    assert isbn13[3:12] == first9
    assert _is_valid_isbn13(isbn13)


@settings(deadline=None)
@given(nine, st.sampled_from("0123456789X"))
def test_an_isbn10_with_any_other_check_character_is_refused(first9, check):
    if check == isbn10_check_digit(first9):
        return
    with pytest.raises(InvalidISBN):
        to_isbn13(first9 + check)


@settings(deadline=None)
@given(twelve)
def test_every_isbn13_with_its_check_digit_is_kept(first12):
    isbn13 = first12 + isbn13_check_digit(first12)

    assert to_isbn13(isbn13) == isbn13
    assert _is_valid_isbn13(isbn13)


@settings(deadline=None)
@given(twelve, digits)
def test_an_isbn13_with_any_other_check_digit_is_refused(first12, check):
    if check == isbn13_check_digit(first12):
        return
    with pytest.raises(InvalidISBN):
        to_isbn13(first12 + check)


@settings(deadline=None)
@given(twelve, st.lists(st.sampled_from(["-", " "]), min_size=12, max_size=12))
def test_single_hyphens_and_spaces_between_digits_are_ignored(first12, separators):
    isbn13 = first12 + isbn13_check_digit(first12)
    spaced = "".join(d + s for d, s in zip(isbn13, separators + [""], strict=True))

    assert to_isbn13(spaced) == isbn13


@settings(deadline=None)
@given(st.text(max_size=40))
def test_any_text_either_normalises_to_a_valid_isbn13_or_is_refused(text):
    try:
        result = to_isbn13(text)
    except InvalidISBN:
        return
    assert _is_valid_isbn13(result)
    assert result[:3] in ("978", "979")
