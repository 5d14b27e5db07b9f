import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import config
from bookstore import create_app, reads
from bookstore.extensions import db

STRONG_SECRET = "9f0c2b7e4d1a8c3f6e5b0a9d7c2e4f1b3a6d8c0e2f4a6b8d"


def test_healthz_answers_ok_without_touching_the_database(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent/dir/x.sqlite3")

    response = app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_every_response_carries_security_headers(client):
    response = client.get("/healthz")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Server" not in response.headers


def test_error_responses_carry_security_headers_too(client):
    response = client.get("/nowhere")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]


def test_a_request_gives_its_connection_back_when_it_ends(app, client, auth_headers):
    response = client.get("/api/v1/users/me", headers=auth_headers)
    healthz = client.get("/healthz")

    assert (response.status_code, healthz.status_code) == (200, 200)
    with app.app_context():  # only the thread's read connection stays out
        assert db.engine.pool.checkedout() == int(reads.holds(db.engine))
        assert not db.session.registry.has()


def test_request_id_is_generated_when_absent(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert first and second and first != second


def test_sane_client_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123.x:y_z"})

    assert response.headers["X-Request-ID"] == "abc-123.x:y_z"


@pytest.mark.parametrize(
    "hostile", ["a" * 129, "has space", "new\\nline", "<script>", "ünïcode"]
)
def test_insane_client_request_id_is_replaced(client, hostile):
    response = client.get("/healthz", headers={"X-Request-ID": hostile})

    assert response.headers["X-Request-ID"] != hostile
    assert len(response.headers["X-Request-ID"]) == 32


def test_request_id_appears_in_error_body(client):
    response = client.get("/nowhere", headers={"X-Request-ID": "trace-me"})

    assert response.json["request_id"] == "trace-me"


def test_one_json_log_line_per_request(client, capfd):
    client.get(
        "/healthz?secret=1",
        headers={"X-Request-ID": "log-me", "Authorization": "Bearer sekrit"},
    )

    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    requests = [line for line in lines if line.get("logger") == "bookstore.request"]
    assert len(requests) == 1
    line = requests[0]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["request_id"] == "log-me"
    assert line["duration_ms"] >= 0
    assert line["user_id"] is None
    assert "sekrit" not in json.dumps(lines) and "secret=1" not in json.dumps(lines)


def test_the_request_line_is_what_the_json_formatter_writes(monkeypatch, capfd):
    from bookstore import logs

    fields = {
        "method": "GET",
        "path": "/api/v1/books/\u00e9t\u00e9",
        "status": 200,
        "duration_ms": 1.25,
        "request_id": "r1",
        "user_id": "6a1f0a3e-0000-4000-8000-000000000000",
    }
    for now in (1764547200.0, 1764547200.9995, 1764547259.0004, 1764547299.999999):
        monkeypatch.setattr(logs.time, "time", lambda now=now: now)
        record = logging.makeLogRecord(
            {
                "name": "bookstore.request",
                "msg": "request",
                "levelno": logging.INFO,
                "levelname": "INFO",
                "created": now,
                **fields,
            }
        )

        logs.log_request(**fields)

        written = capfd.readouterr().err
        assert written.count("\n") == 1 and written.endswith("\n")
        expected = json.loads(logs.JSONFormatter().format(record))
        assert list(json.loads(written).items()) == list(expected.items())


def test_the_request_line_follows_the_log_level(client, capfd):
    logging.getLogger("bookstore").setLevel(logging.WARNING)
    try:
        client.get("/healthz")
    finally:
        logging.getLogger("bookstore").setLevel(logging.INFO)

    assert "bookstore.request" not in capfd.readouterr().err


def test_log_lines_are_json_with_the_request_fields():
    from bookstore.logs import JSONFormatter

    record = logging.makeLogRecord(
        {
            "name": "bookstore.request",
            "msg": "request",
            "levelno": 20,
            "levelname": "INFO",
            "status": 200,
            "request_id": "r1",
        }
    )

    line = json.loads(JSONFormatter().format(record))

    assert line["msg"] == "request"
    assert line["status"] == 200 and line["request_id"] == "r1"
    assert line["level"] == "info"


def test_log_level_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")

    create_app("testing")

    assert logging.getLogger("bookstore").level == logging.WARNING
    logging.getLogger("bookstore").setLevel(logging.INFO)


def test_cors_is_off_by_default(client):
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_allows_only_configured_origins(make_app):
    app = make_app(CORS_ORIGINS=["https://shop.example"])
    client = app.test_client()

    allowed = client.options(
        "/api/v1/books",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "GET",
        },
    )
    refused = client.get("/api/v1/books", headers={"Origin": "https://evil.example"})

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "SECRET_KEY is not set"),
        ("", "SECRET_KEY is not set"),
        ("short-secret", "too short"),
        ("change-me", "example value"),
    ],
)
def test_production_refuses_a_weak_secret(monkeypatch, secret, message):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    if secret is not None:
        monkeypatch.setenv("SECRET_KEY", secret)

    with pytest.raises(config.ConfigError, match=message):
        create_app("production")


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        ("change-me", r"JWT_PREVIOUS_SECRETS \(entry 1\) is an example value"),
        (f"{STRONG_SECRET[::-1]}, short-old-key", r"\(entry 2\) is too short"),
        (f"{STRONG_SECRET[::-1]},CHANGEME", r"\(entry 2\) is an example value"),
    ],
)
def test_production_refuses_a_weak_previous_secret(monkeypatch, previous, message):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("JWT_PREVIOUS_SECRETS", previous)

    with pytest.raises(config.ConfigError, match=message) as refused:
        create_app("production")

    assert "short-old-key" not in str(refused.value)  # never echo a secret


def test_production_starts_with_strong_previous_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("JWT_PREVIOUS_SECRETS", f"{STRONG_SECRET[::-1]},{'b' * 40}")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")

    app = create_app("production")

    assert len(app.config["JWT_PREVIOUS_SECRETS"]) == 2


def test_production_starts_with_a_strong_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")

    app = create_app("production")

    assert app.config["ENV_NAME"] == "production"
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_development_generates_a_random_secret(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)

    first, second = create_app("development"), create_app("development")

    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]


def test_unknown_environment_is_refused():
    with pytest.raises(config.ConfigError, match="BOOKSTORE_ENV"):
        create_app("staging")


@pytest.mark.parametrize(
    ("name", "value"), [("JWT_ACCESS_TTL", "soon"), ("RATELIMIT_ENABLED", "maybe")]
)
def test_malformed_settings_are_refused_by_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)

    with pytest.raises(config.ConfigError, match=name):
        create_app("testing")


def test_flask_command_exits_non_zero_naming_the_secret(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "BOOKSTORE_ENV": "production",
        "SECRET_KEY": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
    }

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_ensure_sync_answers_as_flask_does_each_time(make_app):
    # The answer is remembered per function; async functions still go to Flask's
    # async_to_sync (which needs the 'async' extra, not installed here).
    from flask import Flask

    app = make_app()

    def view():
        return "ok"

    async def async_view():
        return "ok"

    for _ in range(2):
        assert app.ensure_sync(view) is view
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(async_view)
        with pytest.raises(RuntimeError, match="async"):
            Flask.ensure_sync(app, async_view)


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/api/v1/books", "/api/v1/auth/login", "/api/v1/docs/", "/nowhere"],
)
def test_a_requests_blueprints_are_flasks_own(app, path):
    from flask import Request, request

    with app.test_request_context(path):
        remembered = request.blueprints

        assert remembered == Request.blueprints.fget(request)
        assert request.blueprints is remembered


def test_the_shared_null_session_refuses_every_write(app):
    from flask import session

    for _ in range(2):
        with app.test_request_context("/healthz"):
            with pytest.raises(RuntimeError):
                session["user"] = "someone"
            with pytest.raises(RuntimeError):
                session.setdefault("user", "someone")
            assert dict(session) == {}
