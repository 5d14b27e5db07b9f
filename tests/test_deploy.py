"""The shipped deploy/ files agree with the app's and gunicorn's settings."""

import configparser
import os
import re
import runpy

import pytest

import config
from bookstore.openapi.operations import PROXY_ERRORS
from bookstore.openapi.spec import build_spec
from tests.reliability.servers import ROOT

DEPLOY = ROOT / "deploy"


def _gunicorn_defaults(monkeypatch) -> dict:
    for name in list(os.environ):
        if name.startswith("GUNICORN_"):
            monkeypatch.delenv(name)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def _unit() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(DEPLOY / "bookstore.service")
    return parser["Service"]


def _nginx(directive: str) -> str:
    text = (DEPLOY / "nginx-bookstore.conf").read_text()
    return re.search(rf"^\s*{directive}\s+([^;]+);", text, re.MULTILINE).group(1)


def test_every_problem_nginx_answers_is_in_the_openapi_document(app):
    text = (DEPLOY / "nginx-bookstore.conf").read_text()
    answered = {
        (int(status), code)
        for status, code in re.findall(
            r"return (\d{3}) '\{[^']*\"status\":\1,\"code\":\"([a-z_]+)\"", text
        )
    }
    with app.app_context():
        document = build_spec(app)
    enum = document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]

    assert len(answered) >= 10  # the pattern still finds nginx's problems
    assert answered == set(PROXY_ERRORS.items())
    assert set(PROXY_ERRORS.values()) <= set(enum)


def test_systemd_stops_only_the_master_and_waits_for_the_drain(monkeypatch):
    monkeypatch.delenv("SHUTDOWN_DRAIN_SECONDS", raising=False)
    unit = _unit()
    drain = config.ProductionConfig().SHUTDOWN_DRAIN_SECONDS
    graceful = _gunicorn_defaults(monkeypatch)["graceful_timeout"]

    assert unit["ExecStart"].endswith("/gunicorn wsgi:app")
    assert unit["KillSignal"] == "SIGTERM"
    assert unit["KillMode"] == "mixed"  # workers are the master's to stop
    assert int(unit["TimeoutStopSec"]) > drain + graceful
    assert "TRUSTED_PROXY_HOPS=1" in unit["Environment"].split()


def test_nginx_limits_match_the_app_and_gunicorn(monkeypatch):
    monkeypatch.delenv("MAX_CONTENT_LENGTH", raising=False)
    settings = _gunicorn_defaults(monkeypatch)

    assert _nginx("client_max_body_size") == "1m"
    assert config.ProductionConfig().MAX_CONTENT_LENGTH == 1024 * 1024
    assert int(_nginx("proxy_read_timeout").rstrip("s")) > settings["timeout"]
    assert _nginx("proxy_set_header X-Forwarded-For") == "$remote_addr"


@pytest.mark.parametrize(
    ("env", "expected"), [("production", 5), ("development", 0), ("testing", 0)]
)
def test_shutdown_drain_defaults(monkeypatch, env, expected):
    monkeypatch.delenv("SHUTDOWN_DRAIN_SECONDS", raising=False)

    assert config.for_env(env).SHUTDOWN_DRAIN_SECONDS == expected


def test_shutdown_drain_is_validated(monkeypatch):
    monkeypatch.setenv("SHUTDOWN_DRAIN_SECONDS", "soon")

    with pytest.raises(config.ConfigError, match="SHUTDOWN_DRAIN_SECONDS"):
        config.for_env("production")
