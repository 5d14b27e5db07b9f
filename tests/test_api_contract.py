"""A bounded, deterministic schemathesis run: the API honours its OpenAPI document."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bookstore import create_app
from tests.conftest import PASSWORD, bearer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _operations() -> list[tuple[str, str]]:
    """(path, method) of every documented operation, read at collection time."""
    document = create_app("testing").test_client().get("/api/v1/openapi.json").json
    return [(path, method) for path, ops in document["paths"].items() for method in ops]


@pytest.fixture
def fresh_headers(client, register):
    """Headers of a newly logged-in user: cases may log out or revoke sessions."""
    register("fuzzer")

    def headers() -> dict:
        response = client.post(
            "/api/v1/auth/login", json={"username": "fuzzer", "password": PASSWORD}
        )
        return bearer(response.json)

    return headers


@pytest.mark.parametrize(("path", "method"), _operations())
def test_api_honours_its_document(app, fresh_headers, path, method):
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][
        method.upper()
    ]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,  # the same cases every run: CI is reproducible
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case):
        case.call_and_validate(headers=fresh_headers(), checks=CHECKS)

    check()
