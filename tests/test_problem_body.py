"""A problem without `errors` is encoded by orjson directly: held to the app's
own JSON provider (FastJSON, itself held to Flask's in test_json.py)."""

from http import HTTPStatus

from flask import g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookstore.errors import problem

_EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_EXAMPLES
@given(
    status=st.sampled_from([400, 401, 404, 405, 413, 415, 429, 500, 503]),
    code=st.text(max_size=20),
    detail=st.text(),  # includes non-ASCII and lone surrogates
    request_id=st.none() | st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True),
)
def test_a_problem_body_is_what_the_apps_json_provider_writes(
    app, status, code, detail, request_id
):
    with app.test_request_context():
        if request_id is not None:
            g.request_id = request_id
        response = problem(status, code, detail)
        expected = app.json.dumps(
            {
                "type": "about:blank",
                "title": HTTPStatus(status).phrase,
                "status": status,
                "code": code,
                "detail": detail,
                "request_id": request_id,
            }
        )

    assert response.get_data() == expected.encode()
