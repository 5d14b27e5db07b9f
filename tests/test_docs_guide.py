"""docs/api.md and the served OpenAPI document name the same endpoints and codes."""

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
METHODS = {"get", "post", "put", "patch", "delete"}


def _section(title: str) -> str:
    text = GUIDE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


@pytest.fixture
def document(make_app):
    app = make_app(METRICS_ENABLED=True)  # /metrics is in the document when served
    return app.test_client().get("/api/v1/openapi.json").json


def test_every_documented_endpoint_is_served_and_every_served_one_documented(
    document,
):
    documented = set(
        re.findall(
            r"^\| `(GET|POST|PUT|PATCH|DELETE) (/\S*)` \|", _section("Endpoints"), re.M
        )
    )
    served = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }

    assert documented == served


def test_every_documented_error_code_is_in_the_document_and_back(document):
    table = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", _section("Errors"), re.M)
    documented = {code for _, code in table}
    problem = document["components"]["schemas"]["Problem"]["properties"]["code"]

    assert documented == set(problem["enum"])
    assert len(table) == len(documented)  # one row per code


def test_documented_statuses_match_the_errors_the_app_raises(document):
    from bookstore import errors

    table = dict(
        (code, int(status))
        for status, code in re.findall(
            r"^\| (\d{3}) \| `([a-z_]+)` \|", _section("Errors"), re.M
        )
    )

    for status, code in errors.HTTP_CODES.items():
        assert table[code] == status, code
