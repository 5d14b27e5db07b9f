import re
import threading

import pytest

from tests.mail.smtpd import SMTPServer

API = "/api/v1"
# The code in the plain-text body: the indented line after "Your reset code is:".
CODE = re.compile(r"Your reset code is:\s+(\S+)")


@pytest.fixture(autouse=True)
def no_sender_left_running():
    """A sender thread a test starts, it stops: a stray one outlives its database."""
    yield
    assert not [t for t in threading.enumerate() if t.name == "bookstore-mail-sender"]


@pytest.fixture
def smtp_server():
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(make_app, smtp_server):
    """The app of `client`, `register` and `login` here: it sends through the
    loopback SMTP server (no sender thread: tests deliver with `flask mail send`)."""
    return make_app(SMTP_URL=smtp_server.url(), MAIL_FROM="shop@bookstore.test")


@pytest.fixture
def mail_app(app):
    return app


@pytest.fixture
def mail_client(client):
    return client


def send_mail(app) -> str:
    """Run `flask mail send` once; return its output."""
    result = app.test_cli_runner().invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output
    return result.output


def mail_status(app) -> dict:
    """`flask mail status` as {state: count}."""
    result = app.test_cli_runner().invoke(args=["mail", "status"])
    assert result.exit_code == 0, result.output
    return {
        key: int(value)
        for key, value in (line.split(": ") for line in result.output.splitlines())
    }


def code_of(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return CODE.search(text).group(1)


def ask_reset(client, email: str):
    return client.post(f"{API}/auth/password-reset", json={"email": email})


def confirm(client, token: str, new_password: str = "a brand new passphrase"):
    return client.post(
        f"{API}/auth/password-reset/confirm",
        json={"token": token, "new_password": new_password},
    )
