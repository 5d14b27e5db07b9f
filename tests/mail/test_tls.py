import ssl

import pytest
import trustme

from tests.mail.conftest import ask_reset, send_mail
from tests.mail.smtpd import SMTPServer

PASSWORD = "a long passphrase"


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls_server(ca):
    """Start a loopback SMTP server with a certificate from the throwaway CA."""
    servers = []

    def start(mode: str, **kwargs) -> SMTPServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server = SMTPServer(tls=mode, context=context, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _one_reset(make_app, **config) -> str:
    app = make_app(**config)
    client = app.test_client()
    client.post(
        "/api/v1/auth/register",
        json={"username": "alice", "password": PASSWORD, "email": "a@x.io"},
    )
    assert ask_reset(client, "a@x.io").status_code == 202
    return send_mail(app).strip()


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_with_the_configured_ca_delivers(make_app, tls_server, ca_file, mode):
    server = tls_server(mode)

    output = _one_reset(make_app, SMTP_URL=server.url(), SMTP_TLS_CA_FILE=ca_file)

    assert output == "sent: 1, pending: 0, failed: 0"
    assert len(server.wait_for(1)) == 1


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_an_untrusted_certificate_is_not_sent_to(make_app, tls_server, mode):
    server = tls_server(mode)

    output = _one_reset(make_app, SMTP_URL=server.url())

    assert output == "sent: 0, pending: 1, failed: 0"  # retried: the CA may be fixed
    assert server.messages == []


def test_verification_is_off_only_when_switched_off(make_app, tls_server):
    server = tls_server("implicit")

    output = _one_reset(make_app, SMTP_URL=server.url(), SMTP_TLS_VERIFY=False)

    assert output == "sent: 1, pending: 0, failed: 0"


@pytest.mark.parametrize(("password", "outcome"), [("s3cret", "sent"), ("x", "failed")])
def test_credentials_in_the_url_log_in_after_starttls(
    make_app, tls_server, ca_file, password, outcome
):
    server = tls_server("starttls", credentials=("mailer", "s3cret"))
    url = server.url(user="mailer", password=password)

    output = _one_reset(make_app, SMTP_URL=url, SMTP_TLS_CA_FILE=ca_file)

    assert f"{outcome}: 1" in output


def test_starttls_asked_of_a_server_without_it_sends_nothing_in_clear(
    make_app, smtp_server
):
    output = _one_reset(make_app, SMTP_URL=smtp_server.url() + "?starttls=true")

    assert output == "sent: 0, pending: 0, failed: 1"
    assert smtp_server.messages == []
