import threading
import time

import pytest
import sqlalchemy as sa

from bookstore.extensions import db
from bookstore.mail import outbox, sender
from bookstore.mail.models import OutboxMessage
from tests.auth.helpers import move_clock
from tests.mail.conftest import ask_reset, code_of, confirm, send_mail
from tests.mail.smtpd import SMTPServer


def _status(app) -> str:
    return app.test_cli_runner().invoke(args=["mail", "status"]).output.split()


@pytest.fixture
def down_server():
    """An SMTP server whose port is chosen but which is not listening yet."""
    server = SMTPServer()
    yield server
    server.stop()


@pytest.fixture
def alice(register):
    return register("alice", email="alice@example.com")


def test_a_server_down_at_request_time_delays_nothing_and_gets_the_message_later(
    make_app, down_server, monkeypatch
):
    app = make_app(SMTP_URL=down_server.url())
    client = app.test_client()
    client.post(
        "/api/v1/auth/register",
        json={"username": "alice", "password": "a long passphrase", "email": "a@x.io"},
    )

    started = time.monotonic()
    response = ask_reset(client, "a@x.io")
    elapsed = time.monotonic() - started
    first = send_mail(app)
    down_server.start()
    too_early = send_mail(app)
    move_clock(monkeypatch, 11)  # the first retry is due 10 s after the failure
    later = send_mail(app)

    assert response.status_code == 202
    assert elapsed < 1
    assert first.strip() == "sent: 0, pending: 1, failed: 0"
    assert too_early.strip() == "sent: 0, pending: 0, failed: 0"
    assert later.strip() == "sent: 1, pending: 0, failed: 0"
    [message] = down_server.wait_for(1)
    assert confirm(client, code_of(message)).status_code == 200


def test_refusals_are_retried_on_a_doubling_schedule(
    app, client, smtp_server, alice, monkeypatch
):
    smtp_server.recorder.refusals = ["451 4.3.0 Try again later"] * 3
    ask_reset(client, "alice@example.com")
    attempts_at = []
    for second in range(0, 80):
        move_clock(monkeypatch, second)
        before = smtp_server.recorder.refused + len(smtp_server.messages)
        send_mail(app)
        if smtp_server.recorder.refused + len(smtp_server.messages) > before:
            attempts_at.append(second)

    assert attempts_at == [0, 10, 30, 70]  # waits of 10, 20, 40 s
    assert len(smtp_server.messages) == 1


def test_a_permanent_refusal_fails_at_once(
    app, client, smtp_server, alice, monkeypatch
):
    smtp_server.recorder.always_refuse = "550 5.1.1 No such mailbox"
    ask_reset(client, "alice@example.com")

    first = send_mail(app)
    move_clock(monkeypatch, 3600)
    later = send_mail(app)

    assert first.strip() == "sent: 0, pending: 0, failed: 1"
    assert later.strip() == "sent: 0, pending: 0, failed: 0"
    assert smtp_server.recorder.refused == 1
    assert _status(app) == ["pending:", "0", "sent:", "0", "failed:", "1"]


def test_temporary_refusals_fail_after_the_last_attempt(
    make_app, smtp_server, monkeypatch
):
    app = make_app(SMTP_URL=smtp_server.url(), MAIL_MAX_ATTEMPTS=3)
    client = app.test_client()
    client.post(
        "/api/v1/auth/register",
        json={"username": "alice", "password": "a long passphrase", "email": "a@x.io"},
    )
    smtp_server.recorder.always_refuse = "421 4.7.0 Busy"
    ask_reset(client, "a@x.io")

    for hour in range(5):
        move_clock(monkeypatch, hour * 60)
        send_mail(app)

    assert smtp_server.recorder.refused == 3
    assert _status(app) == ["pending:", "0", "sent:", "0", "failed:", "1"]


def test_a_message_whose_code_expired_is_not_sent(
    app, client, down_server, alice, monkeypatch
):
    ask_reset(client, "alice@example.com")

    move_clock(monkeypatch, 1801)
    down_server.start()
    output = send_mail(app)

    assert output.strip() == "sent: 0, pending: 0, failed: 1"
    assert down_server.messages == []


def test_a_crashed_senders_claim_is_taken_over_after_its_lease(
    app, client, smtp_server, alice, monkeypatch
):
    ask_reset(client, "alice@example.com")
    with app.app_context():
        assert (
            len(outbox.claim("crashed-worker", limit=5, timeout=10)) == 1
        )  # and never finishes

    during_lease = send_mail(app)
    move_clock(monkeypatch, 121)  # the lease: 12 x SMTP_TIMEOUT (10 s)
    after_lease = send_mail(app)

    assert during_lease.strip() == "sent: 0, pending: 0, failed: 0"
    assert after_lease.strip() == "sent: 1, pending: 0, failed: 0"
    assert len(smtp_server.wait_for(1)) == 1


def test_the_code_leaves_the_outbox_once_sent(app, client, smtp_server, alice):
    ask_reset(client, "alice@example.com")
    send_mail(app)
    code = code_of(smtp_server.wait_for(1)[0])

    with app.app_context():
        rows = db.session.execute(sa.select(OutboxMessage)).scalars().all()
        stored = " ".join(
            str(getattr(row, column.key))
            for row in rows
            for column in OutboxMessage.__table__.columns
        )

    assert code not in stored


def test_concurrent_senders_deliver_each_message_exactly_once(
    make_app, smtp_server, app
):
    smtp_server.recorder.delay = 0.005  # a server that thinks: senders overlap
    with app.app_context():
        for i in range(60):
            outbox.enqueue(
                recipient=f"user{i}@example.com",
                subject="s",
                text_body="t",
                html_body="<p>h</p>",
                sender_domain="bookstore.test",
            )
        db.session.commit()
    instances = [make_app(SMTP_URL=smtp_server.url()) for _ in range(4)]
    barrier = threading.Barrier(len(instances))

    def run(index: int, instance) -> None:
        with instance.app_context():
            barrier.wait()
            sender.deliver_due(f"worker-{index}")

    threads = [
        threading.Thread(target=run, args=(i, instance))
        for i, instance in enumerate(instances)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    received = [m["Message-ID"] for m in smtp_server.wait_for(60)]
    time.sleep(0.2)  # a late duplicate would show now
    assert len(smtp_server.messages) == 60
    assert len(set(received)) == 60
    assert _status(app) == ["pending:", "0", "sent:", "60", "failed:", "0"]


def test_the_sender_thread_delivers_by_itself_once_the_server_is_up(
    make_app, down_server
):
    app = make_app(
        SMTP_URL=down_server.url(),
        MAIL_SENDER_THREAD=True,
        MAIL_RETRY_BASE=1,
        MAIL_POLL_INTERVAL=1,
    )
    client = app.test_client()
    client.post(
        "/api/v1/auth/register",
        json={"username": "alice", "password": "a long passphrase", "email": "a@x.io"},
    )
    try:
        started = time.monotonic()
        response = ask_reset(client, "a@x.io")
        elapsed = time.monotonic() - started
        time.sleep(1.5)  # the first attempt fails: nobody listens
        down_server.start()
        [message] = down_server.wait_for(1, timeout=30)
    finally:
        sender.stop(app)

    assert response.status_code == 202
    assert elapsed < 1
    assert confirm(client, code_of(message)).status_code == 200


def test_a_line_break_in_a_stored_address_injects_no_header(
    app, client, smtp_server, alice
):
    hostile = "alice@example.com\r\nBcc: victim@example.org"
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE users SET email = :email"), {"email": hostile}
        )
        db.session.commit()

    ask_reset(client, hostile)
    output = send_mail(app)

    assert output.strip() == "sent: 0, pending: 0, failed: 1"
    assert smtp_server.messages == []
