import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bookstore.auth import accounts, sessions
from tests.conftest import PASSWORD, bearer
from tests.reliability.servers import free_port

API = "/api/v1"
TOKEN = "scrape-" + "x" * 40


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(scrape: dict, name: str, **labels) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in scrape.items() if n == name and wanted <= set(lab))


@pytest.fixture
def metered(make_app):
    app = make_app(METRICS_ENABLED=True)
    client = app.test_client()

    def scrape() -> dict:
        response = client.get("/metrics")
        assert response.status_code == 200
        return samples(response.get_data(as_text=True))

    return app, client, scrape


def test_metrics_are_off_by_default(client):
    response = client.get("/metrics")

    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_metrics_are_prometheus_text(metered):
    _, client, _ = metered

    response = client.get("/metrics")

    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "bookstore_http_requests",
        "bookstore_http_request_duration_seconds",
        "bookstore_logins",
        "bookstore_token_rejections",
        "bookstore_rate_limit_hits",
        "bookstore_backend_errors",
    } <= names


def test_requests_are_counted_by_method_route_template_and_status(metered):
    app, client, scrape = metered
    with app.app_context():
        user = accounts.register_user(username="alice", password=PASSWORD)
        headers = bearer(
            {"access_token": sessions.start_session(user, user_agent="t").access_token}
        )
    ids = [
        "0b7e3c1e-4a8e-4c1a-9a43-1f4c1f7d2b10",
        "5a1d1f5e-9c3b-4e0b-8a7c-2e6f0b3d4c21",
    ]
    before = scrape()

    for book_id in ids:
        client.get(f"{API}/books/{book_id}", headers=headers)
    client.get(f"{API}/no/such/{ids[0]}")
    client.open(f"{API}/books", method="BREW")

    after = scrape()
    name = "bookstore_http_requests_total"
    route = "/api/v1/books/<uuid:book_id>"

    def delta(**labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta(method="GET", route=route, status="404") == 2
    assert delta(route="unmatched", status="404") == 1
    assert delta(method="OTHER", status="405") == 1
    # the template, never the raw path: no label value holds an id
    assert not any(book_id in str(key) for key in after for book_id in ids)
    count = "bookstore_http_request_duration_seconds_count"
    assert total(after, count, route=route) - total(before, count, route=route) == 2


def test_logins_token_rejections_and_limits_are_counted(make_app):
    app = make_app(
        METRICS_ENABLED=True, RATELIMIT_ENABLED=True, RATELIMIT_REGISTER="1/hour"
    )
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    before = samples(client.get("/metrics").text)

    client.post(f"{API}/auth/register", json={"username": "bob", "password": PASSWORD})
    client.post(f"{API}/auth/register", json={"username": "eve", "password": PASSWORD})
    client.post(f"{API}/auth/login", json={"username": "bob", "password": PASSWORD})
    client.post(f"{API}/auth/login", json={"username": "bob", "password": "wrong!!!"})
    client.post(f"{API}/auth/login", json={"username": "bob", "password": "wrong!!!"})
    client.get(f"{API}/users/me")
    client.get(f"{API}/users/me", headers={"Authorization": "Bearer not.a.jwt"})

    after = samples(client.get("/metrics").text)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("bookstore_logins_total", outcome="success") == 1
    assert delta("bookstore_logins_total", outcome="failure") == 2
    assert delta("bookstore_token_rejections_total", code="missing_token") == 1
    assert delta("bookstore_token_rejections_total", code="invalid_token") == 1
    hits = "bookstore_rate_limit_hits_total"
    assert delta(hits, route="/api/v1/auth/register") == 1


def test_backend_errors_are_counted_by_backend(make_app):
    closed = free_port()  # nothing listens there
    app = make_app(
        METRICS_ENABLED=True,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed}/0",
    )
    client = app.test_client()
    before = samples(client.get("/metrics").text)

    login = client.post(f"{API}/auth/login", json={"username": "a", "password": "b"})

    after = samples(client.get("/metrics").text)
    name = "bookstore_backend_errors_total"
    assert login.status_code == 503
    assert (
        total(after, name, backend="rate_limit_store")
        - total(before, name, backend="rate_limit_store")
        == 1
    )
    assert (
        total(after, "bookstore_logins_total", outcome="unavailable")
        - total(before, "bookstore_logins_total", outcome="unavailable")
        == 1
    )


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_token"),
        ("Basic c2NyYXBlOng=", "missing_token"),
        ("Bearer wrong", "invalid_token"),
        (f"Bearer {TOKEN}x", "invalid_token"),
    ],
)
def test_metrics_token_is_required_when_configured(make_app, authorization, code):
    client = make_app(METRICS_ENABLED=True, METRICS_TOKEN=TOKEN).test_client()
    headers = {"Authorization": authorization} if authorization else {}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.json["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.get_data(as_text=True)


def test_metrics_token_opens_the_metrics(make_app):
    client = make_app(METRICS_ENABLED=True, METRICS_TOKEN=TOKEN).test_client()

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert re.search(r"^bookstore_http_requests_total\{", response.text, re.M)


def test_metrics_endpoint_is_documented_when_served(make_app):
    client = make_app(METRICS_ENABLED=True).test_client()

    document = client.get(f"{API}/openapi.json").json

    assert (
        "text/plain"
        in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    )
