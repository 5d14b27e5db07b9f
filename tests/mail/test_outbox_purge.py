"""`flask mail purge`: messages sent or failed leave the outbox after DAYS days;
pending ones stay whatever their age."""

from tests.auth.helpers import move_clock
from tests.mail.conftest import ask_reset, mail_status, send_mail

DAY = 24 * 3600


def _purge(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["mail", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _ask(client, register, name: str) -> None:
    register(name, email=f"{name}@example.com")
    assert ask_reset(client, f"{name}@example.com").status_code == 202


def test_purge_deletes_finished_messages_past_the_cutoff_and_no_pending_one(
    mail_app, mail_client, smtp_server, register, monkeypatch
):
    # Day 0: one message sent, one left pending until its code has expired.
    _ask(mail_client, register, "alice")
    send_mail(mail_app)
    _ask(mail_client, register, "bob")
    # Day 20: bob's fails (expired) at the next send; one sent, one pending.
    move_clock(monkeypatch, 20 * DAY)
    _ask(mail_client, register, "carol")
    send_mail(mail_app)
    _ask(mail_client, register, "dave")
    smtp_server.wait_for(2)
    assert mail_status(mail_app) == {"pending": 1, "sent": 2, "failed": 1}

    move_clock(monkeypatch, 40 * DAY)  # day 0's are 40 days old, day 20's 20
    first = _purge(mail_app)
    after_first = mail_status(mail_app)
    everything = _purge(mail_app, "--days", "0")

    assert first == "Purged 2 sent or failed messages."
    assert after_first == {"pending": 1, "sent": 1, "failed": 0}
    assert everything == "Purged 1 sent or failed messages."
    assert mail_status(mail_app) == {"pending": 1, "sent": 0, "failed": 0}


def test_purge_refuses_a_negative_number_of_days(mail_app):
    result = mail_app.test_cli_runner().invoke(args=["mail", "purge", "--days", "-1"])

    assert result.exit_code == 2
    assert "-1 is not in the range x>=0" in result.output
