"""A real nginx running the shipped site file (deploy/), on loopback, for the tests."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.reliability.servers import ROOT, free_port

SITE = ROOT / "deploy" / "nginx-bookstore.conf"

# The only lines of the shipped site a test run changes: where it listens, where
# gunicorn is, the certificate. Each must occur exactly once.
SHIPPED_LISTEN = "    listen 443 ssl http2;\n    listen [::]:443 ssl http2;\n"
SHIPPED_UPSTREAM = "server 127.0.0.1:8000;"
SHIPPED_CERT = "/etc/ssl/certs/bookstore.pem"
SHIPPED_KEY = "/etc/ssl/private/bookstore.key"

MAIN = """\
daemon off;
worker_processes 1;
{user}
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {home}/access.log;
    client_body_temp_path {home}/body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
    include {home}/bookstore.conf;
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def render_site(port: int, upstream_port: int, cert: Path, key: Path) -> str:
    text = SITE.read_text()
    for old, new in (
        (SHIPPED_LISTEN, f"    listen 127.0.0.1:{port} ssl http2;\n"),
        (SHIPPED_UPSTREAM, f"server 127.0.0.1:{upstream_port};"),
        (SHIPPED_CERT, str(cert)),
        (SHIPPED_KEY, str(key)),
    ):
        if text.count(old) != 1:
            raise AssertionError(f"{SITE.name} no longer has exactly one {old!r}")
        text = text.replace(old, new)
    return text


def self_signed(home: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = home / "cert.pem", home / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    elapsed: float


class Nginx:
    """nginx in the foreground with its own prefix, pid, logs and temp dirs."""

    def __init__(self, home: Path, upstream_port: int):
        self.home = home
        self.port = free_port()
        home.mkdir(parents=True, exist_ok=True)
        cert, key = self_signed(home)
        self.tls = ssl.create_default_context(cafile=str(cert))
        (home / "bookstore.conf").write_text(
            render_site(self.port, upstream_port, cert, key)
        )
        # As root nginx would hand its workers to "nobody", who cannot enter a
        # pytest tmp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        (home / "nginx.conf").write_text(MAIN.format(home=home, user=user))
        self.process: subprocess.Popen | None = None

    def start(self, ready_within: float = 20) -> Nginx:
        with open(self.home / "stderr.log", "ab") as stderr:
            self.process = subprocess.Popen(
                [
                    nginx_binary(),
                    "-p",
                    str(self.home),
                    "-c",
                    str(self.home / "nginx.conf"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx not up in {ready_within}s:\n{self.errors()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # nginx: SIGTERM is a fast shutdown
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)

    def errors(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in (self.home / "stderr.log", self.home / "error.log")
            if path.exists()
        )

    def connect(self, source: str = "127.0.0.1", timeout: float = 30) -> ssl.SSLSocket:
        raw = socket.create_connection(
            ("127.0.0.1", self.port), timeout, source_address=(source, 0)
        )
        return self.tls.wrap_socket(raw, server_hostname="127.0.0.1")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
        source: str = "127.0.0.1",
        timeout: float = 30,
    ) -> Answer:
        started = time.monotonic()
        conn = http.client.HTTPSConnection(
            "127.0.0.1",
            self.port,
            timeout=timeout,
            context=self.tls,
            source_address=(source, 0),
        )
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
                time.monotonic() - started,
            )
        finally:
            conn.close()

    def raw(self, data: bytes, then: bytes = b"") -> Answer:
        """Send `data` as it is (malformed requests), then `then`, which nginx
        may refuse to read to the end; read the one answer."""
        started = time.monotonic()
        with self.connect() as sock:
            sock.sendall(data)
            try:
                sock.sendall(then)
            except OSError:
                pass  # refused mid-body: the answer is already waiting
            response = http.client.HTTPResponse(sock)
            response.begin()
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
                time.monotonic() - started,
            )
