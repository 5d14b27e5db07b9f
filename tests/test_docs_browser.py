"""Swagger UI in a real headless Chromium (Debian's package), driven by Playwright."""

import os
import shutil
from urllib.parse import urlsplit

import pytest

from tests.conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these Chromium phones home at start-up; the machine's network refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]

pytestmark = pytest.mark.slow


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live_server(app):
    with serving(app, threaded=True) as url:
        yield url


def _try_list_books(page):
    """Try out GET /books; return its block and the response status cell."""
    block = page.locator("#operations-books-books_list_books_get")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status")
    status.first.wait_for(timeout=30_000)
    return block, status


def test_docs_work_offline_and_try_it_out_lists_books(
    browser, live_server, client, auth_headers
):
    created = client.post(
        "/api/v1/books",
        json={
            "title": "Dune",
            "author": "Frank Herbert",
            "publisher": "Chilton Books",
            "price": "25.00",  # outside any example price range
        },
        headers=auth_headers,
    )
    assert created.status_code == 201
    token = auth_headers["Authorization"].removeprefix("Bearer ")
    requested: list[str] = []
    page = browser.new_page()
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server}/api/v1/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)
    operations = page.locator(".opblock").count()
    page.click("button.authorize")
    modal = page.locator(".modal-ux")
    modal.locator("input").first.fill(token)  # bearerAuth is the first scheme
    modal.locator("button.authorize").first.click()
    modal.locator("button.btn-done").first.click()
    block, status = _try_list_books(page)

    assert operations >= 20
    assert status.first.inner_text().strip().startswith("200")
    listed = block.locator(".live-responses-table").inner_text()
    assert "Dune" in listed and "25.00" in listed
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {urlsplit(live_server).netloc}  # nothing left localhost
    assert any(url.endswith("/api/v1/openapi.json") for url in requested)


def test_docs_page_lists_operations_without_a_token(browser, live_server):
    page = browser.new_page()

    page.goto(f"{live_server}/api/v1/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)

    text = page.locator("#swagger-ui").inner_text()
    assert "/api/v1/auth/login" in text
    assert "/api/v1/books" in text


def test_swagger_ui_authorizes_with_a_personal_access_token(
    browser, live_server, client, auth_headers
):
    client.post(
        "/api/v1/books",
        json={"title": "Dune", "author": "F. H.", "publisher": "C", "price": "9.99"},
        headers=auth_headers,
    )
    token = client.post(
        "/api/v1/auth/tokens",
        json={"name": "docs", "scopes": ["books:read"]},
        headers=auth_headers,
    ).json["token"]
    page = browser.new_page()

    page.goto(f"{live_server}/api/v1/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)
    page.click("button.authorize")
    scheme = page.locator(".modal-ux .auth-container").filter(
        has_text="personalAccessToken"
    )
    scheme.locator("input").fill(token)
    scheme.locator("button.authorize").click()
    page.locator(".modal-ux button.btn-done").first.click()
    block, status = _try_list_books(page)

    assert status.first.inner_text().strip().startswith("200")
    assert "Dune" in block.locator(".live-responses-table").inner_text()
    assert "books:read" in block.inner_text()  # the operation names its scope
