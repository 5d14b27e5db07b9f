import logging
import uuid

import pytest

import config
from bookstore import create_app
from bookstore.extensions import db, limiter
from tests.mail.conftest import API, ask_reset, code_of, confirm, send_mail

STRONG_SECRET = "s" * 48


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example",
        "smtp://",
        "smtp://mail.example:99999",
        "smtp://mail.example?starttls=maybe",
        "smtps://mail.example?starttls=true",
        "smtp://mail.example?tls=yes",
    ],
)
def test_a_malformed_smtp_url_refuses_to_start(url):
    with pytest.raises(config.ConfigError, match="SMTP_URL"):
        create_app("testing", SMTP_URL=url)


def test_the_password_never_appears_in_the_refusal():
    with pytest.raises(config.ConfigError) as refused:
        create_app("testing", SMTP_URL="smtp://user:hunter2@mail.example:notaport")

    assert "hunter2" not in str(refused.value)


@pytest.fixture
def production(monkeypatch, database_url):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.delenv("SMTP_URL", raising=False)

    apps = []

    def build(**overrides):
        app = create_app(
            "production",
            SQLALCHEMY_DATABASE_URI=database_url,
            RATELIMIT_ENABLED=False,
            MAIL_SENDER_THREAD=False,  # no thread left behind: `mail send` delivers
            **overrides,
        )
        apps.append(app)
        return app

    yield build
    for app in apps:  # pooled connections closed, not left to the garbage collector
        with app.app_context():
            db.engine.dispose()


def test_production_without_smtp_answers_503_and_warns_at_start(production, caplog):
    with caplog.at_level(logging.WARNING, logger="bookstore.mail"):
        app = production()
    client = app.test_client()

    asked = ask_reset(client, "anyone@example.com")
    confirmed = confirm(client, "whatever")

    assert "SMTP_URL is not set" in caplog.text
    for response in (asked, confirmed):
        assert response.status_code == 503
        assert response.json["code"] == "service_unavailable"


def test_production_never_logs_the_code(
    production, smtp_server, caplog, capfd, make_app
):
    app = production(SMTP_URL=smtp_server.url())
    client = app.test_client()
    client.post(
        f"{API}/auth/register",
        json={"username": "alice", "password": "a long passphrase", "email": "a@x.io"},
    )

    with caplog.at_level(logging.DEBUG, logger="bookstore"):
        ask_reset(client, "a@x.io")
        send_mail(app)
        code = code_of(smtp_server.wait_for(1)[0])
        confirmed = confirm(client, code)

    assert confirmed.status_code == 200
    ours = [r for r in caplog.records if r.name.startswith("bookstore")]
    assert all(code not in str(vars(record)) for record in ours)
    assert code not in capfd.readouterr().err  # the JSON lines on stderr
    events = {record.msg for record in caplog.records}
    assert {"password_reset_requested", "password_reset_completed"} <= events


def test_development_without_smtp_logs_the_message(make_app, caplog):
    app = make_app(SMTP_URL=None)  # testing, like development, is not production
    client = app.test_client()
    client.post(
        f"{API}/auth/register",
        json={"username": "alice", "password": "a long passphrase", "email": "a@x.io"},
    )
    ask_reset(client, "a@x.io")

    with caplog.at_level(logging.INFO, logger="bookstore.mail"):
        output = send_mail(app)

    assert output.strip() == "sent: 1, pending: 0, failed: 0"
    code = caplog.text.split("Your reset code is:")[1].split()[0]
    assert confirm(client, code).status_code == 200


def test_the_link_is_built_from_public_url_never_from_the_host_header(
    make_app, smtp_server
):
    app = make_app(SMTP_URL=smtp_server.url(), PUBLIC_URL="https://shop.example/")
    client = app.test_client()
    client.post(
        f"{API}/auth/register",
        json={"username": "alice", "password": "a long passphrase", "email": "a@x.io"},
    )

    client.post(
        f"{API}/auth/password-reset",
        json={"email": "a@x.io"},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    send_mail(app)

    [message] = smtp_server.wait_for(1)
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert "https://shop.example/api/v1/auth/password-reset/confirm" in body
        assert "evil.example" not in body


@pytest.fixture
def limited(make_app, smtp_server):
    def build(**limits):
        limiter._key_prefix = None  # this test's counters under a prefix of its own
        app = make_app(
            SMTP_URL=smtp_server.url(),
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI="memory://",
            RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
            **limits,
        )
        return app

    return build


def _client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _assert_limited(response):
    assert response.status_code == 429
    assert response.json["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_requests_for_one_address_are_limited_whoever_asks(limited):
    app = limited(RATELIMIT_PASSWORD_RESET_PER_EMAIL="2/hour")
    client, other = _client_at(app, "10.9.0.1"), _client_at(app, "10.9.0.2")

    first = ask_reset(client, "victim@example.com")
    second = ask_reset(other, " VICTIM@example.com")
    third = ask_reset(client, "victim@Example.com")
    elsewhere = ask_reset(client, "someone.else@example.com")

    assert [first.status_code, second.status_code] == [202, 202]
    _assert_limited(third)
    assert elsewhere.status_code == 202


def test_requests_from_one_client_address_are_limited(limited):
    client = _client_at(limited(RATELIMIT_PASSWORD_RESET_PER_ADDRESS="3/hour"), "::1")

    answers = [ask_reset(client, f"user{i}@example.com") for i in range(4)]

    assert [a.status_code for a in answers[:3]] == [202] * 3
    _assert_limited(answers[3])


def test_confirmations_from_one_client_address_are_limited(limited):
    client = _client_at(limited(RATELIMIT_PASSWORD_RESET_CONFIRM="2/hour"), "::1")

    answers = [confirm(client, f"guess-{i}") for i in range(3)]

    assert [a.status_code for a in answers[:2]] == [400, 400]
    _assert_limited(answers[2])
