"""APIResponse hands the server its headers as Werkzeug's get_wsgi_headers would."""

from flask import Response
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from bookstore.response import APIResponse

_NAMES = [
    "Content-Type",
    "content-length",
    "Content-Length",
    "Location",
    "LOCATION",
    "Content-Location",
    "ETag",
    "Allow",
    "Content-Encoding",
    "Last-Modified",
    "Expires",
    "X-Anything",
]
_VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "12",
            "/a/b",
            "/ä?x=1",
            "http://h/π",
            "text/plain",
            "/api/v1/books/0b9c7a2e-4d1f-4c3b-9a8e-2f6d5c4b3a21",
            "//evil.example/x",
            "/a b",
            "/a%20b",
            "/x:y@z;p=1",
            "mailto:a@b",
            "/a#frag",
            "books/1",
            "/",
        ]
    ),
    # Any path-like text: ASCII punctuation, spaces, non-ASCII (never a control
    # character, which no header may carry).
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12).map(
        lambda text: "/" + text
    ),
)
_HEADERS = st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES), max_size=6)
_STATUSES = st.sampled_from(
    [100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 400, 401, 404, 503]
)
_BODIES = st.sampled_from(["bytes", "empty", "iterator"])


def _body(kind: str):
    if kind == "iterator":
        return iter([b"ab", b"c"])  # not a sequence: no length known in advance
    return b"" if kind == "empty" else b"payload"


@settings(max_examples=1000)
@given(
    status=_STATUSES,
    headers=_HEADERS,
    body=_BODIES,
    method=st.sampled_from(["GET", "HEAD"]),
    absolute=st.booleans(),
)
def test_the_servers_headers_are_werkzeugs(status, headers, body, method, absolute):
    environ = EnvironBuilder(path="/x", method=method).get_environ()
    slow = Response(_body(body), status=status, headers=headers)
    fast = APIResponse(_body(body), status=status, headers=headers)
    # Werkzeug's option to make Location absolute (off by default): honoured.
    slow.autocorrect_location_header = fast.autocorrect_location_header = absolute
    before = list(fast.headers.items())

    expected = slow.get_wsgi_headers(environ).to_wsgi_list()
    actual = fast.get_wsgi_headers(environ).to_wsgi_list()

    assert actual == expected
    assert list(fast.headers.items()) == before  # the response itself unchanged


def test_the_app_answers_with_its_response_class(app):
    assert app.response_class is APIResponse
