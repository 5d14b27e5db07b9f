"""The sender: claims due outbox rows and delivers them; one thread per process.

A thread in each serving process needs no second process to deploy or to forget:
`gunicorn wsgi:app` starts one per worker as it boots (gunicorn.conf.py), any
server starts one at its first enqueue, and the request that enqueues wakes it.
The claims make any number of them safe together.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from email.message import EmailMessage
from email.utils import formatdate

import sqlalchemy as sa
from flask import Flask, current_app

from bookstore import clock, mail
from bookstore.mail import outbox, smtp

log = logging.getLogger("bookstore.mail")
BATCH = 5  # claimed at a time: small, so several senders share a burst


def _message(row: sa.Row) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = row.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    if row.request_id:
        message["X-Request-ID"] = row.request_id
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


def _transmit(message: EmailMessage) -> None:
    settings = mail.settings()
    if settings is not None:
        smtp.send(settings, message)
    elif current_app.config["ENV_NAME"] != "production":
        # Development without SMTP_URL: the message goes to the log (code and all).
        text = message.get_body(("plain",)).get_content()
        log.info("mail not sent (no SMTP_URL), to %s:\n%s", message["To"], text)
    else:
        raise smtp.DeliveryError("SMTP_URL is not set", permanent=False)


def deliver(row: sa.Row, worker: str) -> str:
    """Attempt one claimed message; record and return its new state."""
    cfg = current_app.config
    fields = {"outbox_id": row.id, "message_id": row.message_id}
    if row.expires_at is not None and clock.as_utc(row.expires_at) <= clock.utcnow():
        outbox.mark_failed(row.id, worker, "expired before delivery")
        log.warning("mail expired undelivered", extra=fields)
        return "failed"
    try:
        message = _message(row)
    except (TypeError, ValueError) as exc:  # e.g. a line break in an address
        outbox.mark_failed(row.id, worker, f"unsendable: {exc}")
        log.error("mail unsendable: %s", exc, extra=fields)
        return "failed"
    try:
        _transmit(message)
    except smtp.DeliveryError as exc:
        if exc.permanent or row.attempts >= cfg["MAIL_MAX_ATTEMPTS"]:
            outbox.mark_failed(row.id, worker, str(exc))
            log.error(
                "mail failed: %s", exc, extra={**fields, "attempts": row.attempts}
            )
            return "failed"
        delay = outbox.retry_delay(row.attempts, cfg["MAIL_RETRY_BASE"])
        outbox.mark_retry(row.id, worker, str(exc), delay=delay)
        log.warning("mail deferred: %s", exc, extra={**fields, "retry_in_s": delay})
        return "pending"
    if not outbox.mark_sent(row.id, worker):
        log.warning("mail sent after its claim lapsed", extra=fields)
    return "sent"


def deliver_due(worker: str) -> dict[str, int]:
    """Deliver every message due now (claiming BATCH at a time); count outcomes."""
    outcomes = {"sent": 0, "pending": 0, "failed": 0}
    while outbox.any_due():
        rows = outbox.claim(
            worker, limit=BATCH, timeout=current_app.config["SMTP_TIMEOUT"]
        )
        if not rows:
            break  # another sender took them
        for row in rows:
            outcomes[deliver(row, worker)] += 1
    return outcomes


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[-64:]


class Sender(threading.Thread):
    """Loop: deliver what is due; sleep until woken or MAIL_POLL_INTERVAL passes."""

    def __init__(self, app: Flask):
        super().__init__(name="bookstore-mail-sender", daemon=True)
        self.app, self.wakeup, self.stopping = app, threading.Event(), threading.Event()

    def run(self) -> None:
        worker = worker_name()
        poll = self.app.config["MAIL_POLL_INTERVAL"]
        while not self.stopping.is_set():
            self.wakeup.clear()
            try:
                with self.app.app_context():
                    deliver_due(worker)
            except Exception:  # the database is down, say: keep the thread alive
                log.warning("mail sender pass failed; retrying", exc_info=True)
            self.wakeup.wait(poll)

    def stop(self, timeout: float | None = None) -> None:
        """Finish the message in hand, then end (an interrupted send would be
        retried after its lease: a possible duplicate)."""
        self.stopping.set()
        self.wakeup.set()
        self.join(timeout)


_lock = threading.Lock()


def start(app: Flask) -> Sender | None:
    """This process's sender for `app`, started if needed; None when disabled."""
    if not app.config["MAIL_SENDER_THREAD"]:
        return None
    if not mail.available(app):
        return None
    with _lock:
        running = app.extensions.get("bookstore.mail.sender")
        # A forked child inherits the dict but not the thread: pid tells them apart.
        if running is not None and running[0] == os.getpid() and running[1].is_alive():
            return running[1]
        sender = Sender(app)
        sender.start()
        app.extensions["bookstore.mail.sender"] = (os.getpid(), sender)
        atexit.register(sender.stop, app.config["SMTP_TIMEOUT"] * 2)
        return sender


def wake(app: Flask) -> None:
    """Tell this process's sender that a message is waiting (starting it if need be)."""
    sender = start(app)
    if sender is not None:
        sender.wakeup.set()


def stop(app: Flask) -> None:
    """Stop this process's sender for `app`, if it runs."""
    running = app.extensions.pop("bookstore.mail.sender", None)
    if running is not None and running[0] == os.getpid():
        running[1].stop(app.config["SMTP_TIMEOUT"] * 2)
