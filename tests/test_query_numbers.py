from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NUMERIC = [
    ("/api/v1/books", "page"),
    ("/api/v1/books", "per_page"),
    ("/api/v1/books", "min_price"),
    ("/api/v1/books", "max_price"),
    ("/api/v1/auth/sessions", "page"),
    ("/api/v1/auth/sessions", "per_page"),
    ("/api/v1/users", "page"),
    ("/api/v1/users", "per_page"),
]

# Digits int() and Decimal() accept that are not ASCII: "１", "٣", "७", ...
_unicode_digits = st.characters(categories=["Nd"]).filter(
    lambda c: c not in "0123456789"
)
# Numbers with at least one such digit, or spellings int() tolerates.
not_ascii_numbers = st.one_of(
    st.lists(st.sampled_from("123"), max_size=2).flatmap(
        lambda head: _unicode_digits.map(lambda d: "".join(head) + d)
    ),
    st.sampled_from(["1_0", " 1", "1 ", "+1", "0x1", "١", "１０", "²"]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=not_ascii_numbers, target=st.sampled_from(NUMERIC))
def test_numeric_query_parameters_take_ascii_digits_only(
    client, admin_headers, value, target
):
    path, name = target

    response = client.get(f"{path}?{name}={quote(value)}", headers=admin_headers)

    assert response.status_code == 400, (path, name, value)
    assert response.json["code"] == "invalid_query"
    assert name in response.json["errors"]


@pytest.mark.parametrize(("path", "name"), NUMERIC)
def test_ascii_digits_are_still_numbers(client, admin_headers, path, name):
    response = client.get(f"{path}?{name}=7", headers=admin_headers)

    assert response.status_code == 200
