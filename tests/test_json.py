"""Responses are encoded by orjson with Flask's rules; the stdlib takes the rest."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from flask.json.provider import DefaultJSONProvider
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(),  # includes lone surrogates: the stdlib fallback
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


# The app fixture is shared by the examples: nothing here changes it.
_EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_EXAMPLES
@given(value=_JSON)
def test_any_value_encodes_as_flasks_own_provider_would(app, value):
    fast = app.json.dumps(value)
    plain = DefaultJSONProvider(app).dumps(value)

    assert json.loads(fast) == json.loads(plain)
    assert list(_keys(json.loads(fast))) == list(_keys(json.loads(plain)))  # order


def _keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def test_integer_keys_from_marshmallow_list_errors_encode(app):
    value = {"errors": {"tags": {0: ["Not a valid string."], 3: ["Too long."]}}}

    assert json.loads(app.json.dumps(value)) == json.loads(
        DefaultJSONProvider(app).dumps(value)
    )


def test_flasks_types_keep_flasks_spelling(app):
    value = {
        "when": datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        "price": Decimal("9.99"),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
    }

    assert json.loads(app.json.dumps(value)) == json.loads(
        DefaultJSONProvider(app).dumps(value)
    )


def test_a_field_named_with_a_lone_surrogate_is_a_422_not_a_500(client, auth_headers):
    response = client.post(
        "/api/v1/books",
        data='{"title": "Dune", "author": "F", "publisher": "A", "price": "1", '
        '"\\ud800": 1}',
        content_type="application/json",
        headers=auth_headers,
    )

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"


@_EXAMPLES
@given(value=_JSON)
def test_a_returned_dict_encodes_as_flasks_own_provider_would(app, value):
    """Views returning a dict go through Flask's response(): compact, one newline."""
    with app.app_context():
        fast = app.json.response(value).get_data(as_text=True)
        plain = DefaultJSONProvider(app).response(value).get_data(as_text=True)

    assert fast.endswith("\n") and fast.count("\n") == plain.count("\n") == 1
    assert json.loads(fast) == json.loads(plain)
    assert list(_keys(json.loads(fast))) == list(_keys(json.loads(plain)))  # order
    # Compact: the stdlib's compact form, non-ASCII as UTF-8 (orjson) or escaped
    # (the stdlib's fallback, for lone surrogates and huge integers).
    unescaped = json.dumps(
        json.loads(fast), separators=(",", ":"), ensure_ascii=False, sort_keys=True
    )
    assert fast[:-1] in (unescaped, plain[:-1])


def test_healthz_body_is_unchanged(client):
    assert client.get("/healthz").data == b'{"status":"ok"}\n'
