import pytest

from tests.auth.helpers import me, move_clock, refresh, set_active
from tests.conftest import PASSWORD
from tests.mail.conftest import (
    API,
    ask_reset,
    code_of,
    confirm,
    mail_status,
    send_mail,
)

NEW_PASSWORD = "a brand new passphrase"


def _reset_code(client, app, smtp_server, email="alice@example.com") -> str:
    assert ask_reset(client, email).status_code == 202
    send_mail(app)
    return code_of(smtp_server.wait_for(len(smtp_server.messages) or 1)[-1])


def test_the_message_arrives_and_its_code_works_once(
    mail_app, mail_client, smtp_server, register, login
):
    register("alice", email="alice@example.com")
    old = login("alice")
    assert me(mail_client, old).status_code == 200

    response = ask_reset(mail_client, "alice@example.com")
    assert mail_status(mail_app) == {"pending": 1, "sent": 0, "failed": 0}
    send_mail(mail_app)
    [message] = smtp_server.wait_for(1)
    first = confirm(mail_client, code_of(message))
    again = confirm(mail_client, code_of(message))

    assert response.status_code == 202
    assert response.json == {}
    assert message["From"] == "shop@bookstore.test"
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Reset your Bookstore password"
    assert message["Message-ID"].endswith("@bookstore.test>")
    assert message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert smtp_server.recorder.envelopes == [
        ("shop@bookstore.test", ["alice@example.com"])
    ]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    request_id = response.headers["X-Request-ID"]
    for body in (text, html):
        assert "alice" in body
        assert code_of(message) in body
        assert "30 minutes" in body
        assert request_id in body
        assert "/api/v1/auth/password-reset/confirm" in body
    assert first.status_code == 200
    assert set(first.json) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert first.headers["Cache-Control"] == "no-store"
    assert again.status_code == 400
    assert again.json["code"] == "invalid_reset_token"
    assert me(mail_client, old).status_code == 401  # every old session revoked
    assert refresh(mail_client, old).status_code == 401
    assert me(mail_client, first.json).status_code == 200
    assert login("alice", NEW_PASSWORD)["access_token"]
    assert mail_status(mail_app) == {"pending": 0, "sent": 1, "failed": 0}


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    mail_app, mail_client, smtp_server, register
):
    register("alice", email="alice@example.com")

    response = ask_reset(mail_client, "nobody@example.com")
    send_mail(mail_app)

    assert response.status_code == 202
    assert response.json == {}
    assert mail_status(mail_app) == {"pending": 0, "sent": 0, "failed": 0}
    assert smtp_server.messages == []


def test_every_active_account_with_the_address_gets_one_message_any_case(
    mail_app, mail_client, smtp_server, register
):
    register("alice", email="Alice@Example.COM")
    register("alice2", email="alice@example.com")
    register("gone", email="ALICE@example.com")
    set_active(mail_app, "gone", False)

    ask_reset(mail_client, "  aLiCe@example.com ")
    send_mail(mail_app)

    messages = smtp_server.wait_for(2)
    assert sorted(m["To"] for m in messages) == [
        "Alice@Example.COM",
        "alice@example.com",
    ]
    texts = [m.get_body(("plain",)).get_content() for m in messages]
    assert sum("Hello alice," in t for t in texts) == 1
    assert sum("Hello alice2," in t for t in texts) == 1
    assert not any("gone" in t for t in texts)
    assert len({code_of(m) for m in messages}) == 2


def test_an_expired_code_is_refused(mail_app, mail_client, smtp_server, register):
    register("alice", email="alice@example.com")
    code = _reset_code(mail_client, mail_app, smtp_server)

    with pytest.MonkeyPatch.context() as patch:
        move_clock(patch, 1801)
        response = confirm(mail_client, code)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_reset_token"


def test_a_code_from_before_a_password_change_is_refused(
    mail_app, mail_client, smtp_server, register, login
):
    register("alice", email="alice@example.com")
    code = _reset_code(mail_client, mail_app, smtp_server)
    changed = mail_client.put(
        f"{API}/users/me/password",
        json={"current_password": PASSWORD, "new_password": "changed in between"},
        headers={"Authorization": f"Bearer {login('alice')['access_token']}"},
    )

    response = confirm(mail_client, code)

    assert changed.status_code == 200
    assert response.status_code == 400
    assert response.json["code"] == "invalid_reset_token"
    assert login("alice", "changed in between")


def test_a_second_code_dies_when_the_first_one_is_spent(
    mail_app, mail_client, smtp_server, register
):
    register("alice", email="alice@example.com")
    first = _reset_code(mail_client, mail_app, smtp_server)
    ask_reset(mail_client, "alice@example.com")
    send_mail(mail_app)
    second = code_of(smtp_server.wait_for(2)[-1])

    assert confirm(mail_client, first).status_code == 200
    assert confirm(mail_client, second, "yet another passphrase").status_code == 400


def test_the_register_policy_applies_and_a_refused_password_keeps_the_code(
    mail_app, mail_client, smtp_server, register
):
    register("alice", email="alice@example.com")
    code = _reset_code(mail_client, mail_app, smtp_server)

    weak = confirm(mail_client, code, "password")
    short = confirm(mail_client, code, "short")
    good = confirm(mail_client, code)

    assert weak.status_code == 422
    assert "new_password" in weak.json["errors"]
    assert short.status_code == 422
    assert good.status_code == 200


@pytest.mark.parametrize(
    "token", ["", "x", "not-a-code-at-all-" * 3, "\x00", "\ud800", "a" * 5000]
)
def test_an_unknown_or_malformed_code_is_invalid_reset_token(mail_client, token):
    response = confirm(mail_client, token)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_reset_token"


@pytest.mark.parametrize(
    "body", [{}, {"token": 5, "new_password": "x" * 10}, {"token": "x"}]
)
def test_a_confirmation_body_of_the_wrong_shape_is_422(mail_client, body):
    response = mail_client.post(f"{API}/auth/password-reset/confirm", json=body)

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"


@pytest.mark.parametrize(
    "body",
    [{}, {"email": ""}, {"email": 5}, {"email": "a@b.c", "username": "alice"}],
)
def test_a_malformed_request_is_422(mail_client, body):
    response = mail_client.post(f"{API}/auth/password-reset", json=body)

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"


@pytest.mark.parametrize("email", ["a\x00@example.com", "\ud800@example.com"])
def test_hostile_addresses_are_answered_like_any_other(mail_client, email):
    response = ask_reset(mail_client, email)

    assert response.status_code == 202
    assert response.json == {}
