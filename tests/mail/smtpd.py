"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.reliability.servers import free_port


class Recorder:
    """The server's handler: scripted refusals first, then accept and keep."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refusals: list[str] = []  # e.g. "451 4.3.0 Try later", used in order
        self.always_refuse: str | None = None
        self.refused = 0  # DATA commands answered with a refusal
        self.delay = 0.0  # seconds to think before answering DATA
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        refusal = self.always_refuse or (
            self.refusals.pop(0) if self.refusals else None
        )
        if refusal:
            self.refused += 1
            return refusal
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        with self.changed:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.changed.notify_all()
        return "250 2.0.0 OK"


class SMTPServer:
    """aiosmtpd on 127.0.0.1:`port`; `tls`: None, "starttls" or "implicit"."""

    def __init__(
        self,
        *,
        port: int | None = None,
        tls: str | None = None,
        context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ):
        self.port = port or free_port()
        self.recorder = Recorder()
        self.tls, self.context, self.credentials = tls, context, credentials
        self.controller: Controller | None = None

    def start(self) -> SMTPServer:
        kwargs: dict = {}
        if self.tls == "starttls":
            kwargs.update(tls_context=self.context, require_starttls=True)
        elif self.tls == "implicit":
            kwargs.update(ssl_context=self.context)
        if self.credentials:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self.controller = Controller(
            self.recorder, hostname="127.0.0.1", port=self.port, **kwargs
        )
        self.controller.start()
        return self

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        return AuthResult(success=ok, handled=False)  # False: answer 535 itself

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        """Block until `count` messages arrived (or fail after `timeout` s)."""
        deadline = time.monotonic() + timeout
        with self.recorder.changed:
            while len(self.recorder.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.recorder.messages)} of {count} arrived"
                self.recorder.changed.wait(left)
        return list(self.recorder.messages)

    def url(self, *, user: str | None = None, password: str | None = None) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        auth = f"{user}:{password}@" if user else ""
        query = "?starttls=true" if self.tls == "starttls" else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}{query}"
