import pytest
import sqlalchemy as sa
from flask import Blueprint, jsonify

from bookstore.extensions import db
from bookstore.web import json_body

PROBLEM = "application/problem+json"


@pytest.fixture
def app(make_app):
    """The real app plus a probe blueprint that reaches each error path."""
    app = make_app()
    probe = Blueprint("probe", __name__)

    @probe.post("/echo")
    def echo():
        return jsonify(json_body())

    @probe.get("/boom")
    def boom():
        raise RuntimeError("secret internals at /srv/app.py")

    @probe.get("/db")
    def query():
        return {"n": db.session.scalar(sa.text("SELECT 1"))}

    app.register_blueprint(probe, url_prefix="/probe")
    return app


def assert_problem(response, status, code):
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_unknown_path_is_a_404_problem(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_unknown_path_outside_the_api_is_a_404_problem(client):
    assert_problem(client.get("/favicon.ico"), 404, "not_found")


def test_wrong_method_is_a_405_problem_with_allow(client):
    response = client.delete("/healthz")

    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}


def test_valid_json_object_passes(client):
    response = client.post("/probe/echo", json={"a": 1, "b": [1, 2]})

    assert response.status_code == 200
    assert response.json == {"a": 1, "b": [1, 2]}


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"{'single': 'quotes'}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1, "a": 2}',
        b"\xff\xfe garbage",
        b"",
    ],
)
def test_malformed_json_is_a_400_problem(client, body):
    response = client.post("/probe/echo", data=body, content_type="application/json")

    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_a_400_problem(client, body):
    response = client.post("/probe/echo", data=body, content_type="application/json")

    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
def test_deeply_nested_json_is_a_400_problem(client, depth):
    body = "[" * depth + "]" * depth

    response = client.post(
        "/probe/echo", data=f'{{"a": {body}}}', content_type="application/json"
    )

    assert response.status_code in (200, 400)  # 1,000 deep may still parse
    if depth > 1_000:
        assert_problem(response, 400, "malformed_json")


def test_non_json_body_is_a_415_problem(client):
    response = client.post("/probe/echo", data="a=1", content_type="text/plain")

    assert_problem(response, 415, "unsupported_media_type")


def test_form_body_is_a_415_problem(client):
    response = client.post("/probe/echo", data={"a": "1"})

    assert_problem(response, 415, "unsupported_media_type")


def test_body_over_one_mebibyte_is_a_413_problem(client):
    body = b'{"a": "' + b"x" * (1024 * 1024) + b'"}'

    response = client.post("/probe/echo", data=body, content_type="application/json")

    assert_problem(response, 413, "payload_too_large")


def test_unexpected_exception_is_a_500_problem_with_traceback_only_in_log(
    client, caplog
):
    response = client.get("/probe/boom")

    body = assert_problem(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "secret internals" not in text and "Traceback" not in text
    assert "RuntimeError" not in text and ".py" not in text
    assert "secret internals" in caplog.text
    assert body["detail"] == "The server failed to handle the request."


def test_database_unreachable_is_a_503_problem(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent/dir/x.sqlite3")
    probe = Blueprint("probe", __name__)
    probe.get("/db")(lambda: {"n": db.session.scalar(sa.text("SELECT 1"))})
    app.register_blueprint(probe, url_prefix="/probe")

    response = app.test_client().get("/probe/db")

    body = assert_problem(response, 503, "service_unavailable")
    assert "sqlite" not in response.get_data(as_text=True).lower()
    assert "nonexistent" not in body["detail"]
    assert response.headers["Retry-After"]


def test_the_same_process_serves_again_when_the_database_returns(make_app, tmp_path):
    folder = tmp_path / "later"
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'db.sqlite3'}")
    probe = Blueprint("probe", __name__)
    probe.get("/db")(lambda: {"n": db.session.scalar(sa.text("SELECT 1"))})
    app.register_blueprint(probe, url_prefix="/probe")
    client = app.test_client()
    assert client.get("/probe/db").status_code == 503

    folder.mkdir()

    assert client.get("/probe/db").json == {"n": 1}


def test_no_response_names_a_library(client):
    responses = [
        client.get("/nope"),
        client.delete("/healthz"),
        client.post("/probe/echo", data="{", content_type="application/json"),
        client.post("/probe/echo", data="x", content_type="text/plain"),
    ]

    for response in responses:
        text = response.get_data(as_text=True).lower()
        for word in ("werkzeug", "flask", "python", "sqlalchemy", "traceback"):
            assert word not in text
