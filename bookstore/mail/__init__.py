"""Outgoing mail: an outbox in the database, delivered over SMTP by a sender
thread in each serving process (see docs/account-recovery.md)."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from bookstore.mail import smtp

log = logging.getLogger("bookstore.mail")


def register(app: Flask) -> None:
    """Check the mail settings (ConfigError when malformed), warn about unsafe
    ones, add the `flask mail` commands."""
    from bookstore.mail.cli import mail_cli

    cfg = app.config
    settings = None
    if cfg["SMTP_URL"]:
        settings = smtp.parse_url(
            cfg["SMTP_URL"],
            timeout=cfg["SMTP_TIMEOUT"],
            ca_file=cfg["SMTP_TLS_CA_FILE"],
            verify=cfg["SMTP_TLS_VERIFY"],
        )
    app.extensions["bookstore.mail"] = settings
    if cfg["ENV_NAME"] == "production":
        _warn_in_production(settings)
    app.cli.add_command(mail_cli)


def _warn_in_production(settings: smtp.SMTPSettings | None) -> None:
    if settings is None:
        log.warning(
            "SMTP_URL is not set: no mail can be sent, and the password-reset "
            "endpoints answer 503 until it is"
        )
        return
    if settings.encrypted and not settings.verify:
        log.warning(
            "SMTP_TLS_VERIFY=false: the mail server's certificate is not checked"
        )
    if (
        settings.username
        and not settings.encrypted
        and settings.host not in smtp.LOOPBACK
    ):
        log.warning("SMTP_URL sends a password without TLS to a remote host")


def settings() -> smtp.SMTPSettings | None:
    """The parsed SMTP_URL of the current app, or None when it is unset."""
    return current_app.extensions["bookstore.mail"]


def available(app: Flask | None = None) -> bool:
    """Whether mail can leave: an SMTP server, or a log outside production."""
    app = app or current_app
    return (
        app.extensions["bookstore.mail"] is not None
        or app.config["ENV_NAME"] != "production"
    )


def sender_domain() -> str:
    """The domain of MAIL_FROM, for Message-IDs."""
    return current_app.config["MAIL_FROM"].rpartition("@")[2] or "localhost"
