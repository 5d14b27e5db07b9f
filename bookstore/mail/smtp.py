"""SMTP delivery: SMTP_URL parsed once, one message per connection, errors sorted
into worth retrying (connection trouble, 4xx) and permanent (5xx)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from config import ConfigError

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class DeliveryError(Exception):
    """The message was not delivered; `permanent` says retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class SMTPSettings:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)  # never in a log or traceback
    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool  # smtp://…?starttls=true: upgrade before anything is sent
    timeout: float
    ca_file: str | None
    verify: bool

    @property
    def encrypted(self) -> bool:
        return self.implicit_tls or self.starttls

    def tls_context(self) -> ssl.SSLContext:
        """Verify the server's certificate (system CAs, or `ca_file`) unless
        verification was switched off explicitly (SMTP_TLS_VERIFY=false)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def parse_url(
    url: str, *, timeout: float, ca_file: str | None = None, verify: bool = True
) -> SMTPSettings:
    """Read `smtp://[user:pass@]host[:port][?starttls=true]` or `smtps://…`;
    raise ConfigError (naming no password) when it is malformed."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ConfigError("SMTP_URL is not a valid URL.") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(
            "SMTP_URL must look like smtp://[user:pass@]host:port or smtps://…"
        )
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError("SMTP_URL has an invalid port.") from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ConfigError(
            f"SMTP_URL has unknown options: {', '.join(sorted(unknown))}."
        )
    starttls = query.get("starttls", "false").lower()
    if starttls not in {"true", "false"}:
        raise ConfigError("SMTP_URL's starttls option must be true or false.")
    if parts.scheme == "smtps" and starttls == "true":
        raise ConfigError("SMTP_URL: smtps:// is TLS already; drop ?starttls=true.")
    return SMTPSettings(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=parts.scheme == "smtps",
        starttls=starttls == "true",
        timeout=timeout,
        ca_file=ca_file,
        verify=verify,
    )


def send(settings: SMTPSettings, message: EmailMessage) -> None:
    """Deliver `message` to the SMTP server; raise DeliveryError."""
    try:
        server = _connect(settings)
        try:
            if settings.starttls:
                # Never a silent downgrade: no STARTTLS offered is an error.
                server.starttls(context=settings.tls_context())
            if settings.username:
                server.login(settings.username, settings.password or "")
            server.send_message(message)
        finally:
            _close(server)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(
            f"recipient refused ({', '.join(map(str, codes))})",
            permanent=all(500 <= code < 600 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"{exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=500 <= exc.smtp_code < 600,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:  # e.g. no STARTTLS: configuration
        raise DeliveryError(str(exc), permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, TLS, reset
        raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from None


def _connect(settings: SMTPSettings) -> smtplib.SMTP:
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            context=settings.tls_context(),
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _close(server: smtplib.SMTP) -> None:
    """Say QUIT, ignoring failures: once DATA was accepted the message is the
    server's, and an error here must not make it look undelivered (a duplicate)."""
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]
