"""`flask mail status`, `send` and `purge`: the outbox for operators."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from bookstore import mail
from bookstore.mail import outbox, sender

mail_cli = AppGroup("mail", help="The mail outbox.")


@mail_cli.command("status")
def status() -> None:
    """Print how many messages are pending, sent and failed."""
    for state, count in outbox.counts().items():
        click.echo(f"{state}: {count}")


@mail_cli.command("send")
def send() -> None:
    """Deliver the messages due now (the serving processes do this by themselves)."""
    if not mail.available():
        raise click.ClickException("SMTP_URL is not set: no mail can be sent.")
    outcomes = sender.deliver_due(sender.worker_name())
    click.echo(", ".join(f"{state}: {count}" for state, count in outcomes.items()))


@mail_cli.command("purge")
@click.option("--days", default=30, show_default=True, type=click.IntRange(0))
def purge(days: int) -> None:
    """Delete messages sent or failed more than DAYS days ago (never pending ones)."""
    click.echo(f"Purged {outbox.purge(days)} sent or failed messages.")
