from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookstore.mail.smtp import parse_url
from config import ConfigError

hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){0,2}", fullmatch=True)
secrets_ = st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s)


@given(
    host=hosts,
    port=st.integers(1, 65535),
    user=secrets_,
    password=secrets_,
    mode=st.sampled_from(["smtp", "starttls", "smtps"]),
)
def test_every_well_formed_url_reads_back_what_it_says(
    host, port, user, password, mode
):
    scheme = "smtps" if mode == "smtps" else "smtp"
    query = "?starttls=true" if mode == "starttls" else ""
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}"
    url = f"{scheme}://{auth}@{host}:{port}{query}"

    settings = parse_url(url, timeout=10)

    assert (settings.host, settings.port) == (host, port)
    assert (settings.username, settings.password) == (user, password)
    assert settings.implicit_tls == (mode == "smtps")
    assert settings.starttls == (mode == "starttls")


@given(st.sampled_from(["", "smtp://", "smtps://"]), st.text(max_size=80))
def test_any_text_is_read_or_refused_with_a_config_error(prefix, text):
    try:
        parse_url(prefix + text, timeout=10)
    except ConfigError:
        pass


def test_an_unclosed_ipv6_bracket_is_a_config_error():
    with pytest.raises(ConfigError):
        parse_url("smtp://[::1", timeout=10)


def test_the_password_stays_out_of_the_settings_repr():
    assert "hunter2" not in repr(parse_url("smtp://u:hunter2@h", timeout=10))


@pytest.mark.parametrize(
    ("url", "port"), [("smtp://mail.example", 25), ("smtps://mail.example", 465)]
)
def test_default_ports(url, port):
    assert parse_url(url, timeout=10).port == port
