import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = [
    "username",
    "password",
    "email",
    "title",
    "author",
    "publisher",
    "price",
    "isbn",
    "refresh_token",
    "current_password",
    "new_password",
    "is_admin",
    "is_active",
]
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\ud800",
            "\udfff",
            "\u202e",
            "\ufeff",
            "ℌ",
            "Ａ" * 300,
            "9" * 5000,
            "-0",
            "1e999",
            "NaN",
            "0x10",
            " ",
            "../../etc",
            "' OR 1=1 --",
        ]
    ),
)
HOSTILE_NUMBER = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([2**63, -(2**63) - 1, 2**31, 10**400, 1e308, 5e-324]),
)
SCALAR = st.one_of(st.none(), st.booleans(), HOSTILE_NUMBER, HOSTILE_TEXT)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(HOSTILE_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
BODY = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), VALUE, max_size=6).map(json.dumps),
    VALUE.map(json.dumps),
    st.sampled_from(
        [
            "[" * 5000 + "]" * 5000,  # deep nesting
            '{"a":' * 3000 + "1" + "}" * 3000,
            '{"username": "x", "username": "admin"}',  # duplicate keys
            '{"price": NaN}',
            '{"price": Infinity}',
            '{"title": "\\u0000"}',
            '{"title": "\\ud800"}',
            "",
            "{",
            '"just a string"',
            "x" * (2 * 1024 * 1024),  # 2 MB
            '{"title": "' + "t" * (2 * 1024 * 1024) + '"}',
        ]
    ),
)
QUERY_KEYS = [
    "page",
    "per_page",
    "sort",
    "author",
    "publisher",
    "q",
    "min_price",
    "max_price",
    "owner",
    "limit",
]
QUERY = st.dictionaries(
    st.sampled_from(QUERY_KEYS),
    st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER.map(str)),
    max_size=4,
)
HEADER_VALUE = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.sampled_from(
        ['"x"', "*", 'W/"1"', '"' + "e" * 9000 + '"', "Bearer", "Basic ###"]
    ),
)
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
            "X-Request-ID",
            "Authorization",
            "x-access-tokens",
            "Content-Type",
        ]
    ),
    HEADER_VALUE,
    max_size=3,
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _paths(app) -> list[str]:
    """Every route, with path parameters filled in by placeholders."""
    paths = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "{}").replace(
                f"<uuid:{argument}>", "{}"
            )
        paths.append(path)
    return sorted(set(paths))


ID = st.one_of(
    st.uuids().map(str),
    st.sampled_from(["1", "0", "-1", str(2**64), "%00", "a" * 500, "null"]),
)


@pytest.mark.slow
@settings(
    max_examples=800,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_input_makes_any_endpoint_answer_5xx(client, app, hostile_headers, data):
    path = data.draw(st.sampled_from(_paths(app)))
    path = path.replace("{}", data.draw(ID))
    method = data.draw(st.sampled_from(METHODS))
    headers = {
        **data.draw(st.sampled_from([{}, hostile_headers])),
        **data.draw(HEADERS),
    }
    headers.setdefault("Content-Type", "application/json")
    body = data.draw(BODY) if method in ("POST", "PUT", "PATCH") else None

    response = client.open(
        path, method=method, data=body, headers=headers, query_string=_query(data)
    )

    assert response.status_code < 500, (method, path, response.get_data()[:300])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


def _query(data) -> str:
    """The query string as raw bytes would arrive: lone surrogates as invalid UTF-8."""
    return "&".join(
        f"{key}={quote(str(value).encode('utf-8', 'surrogatepass'))}"
        for key, value in data.draw(QUERY).items()
    )


@pytest.fixture
def hostile_headers(auth_headers):
    return auth_headers
