import re

import pytest
from openapi_spec_validator import validate

# HTML and asset routes of the docs page itself; everything else must be documented.
UNDOCUMENTED = {"swagger_ui.show"}


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def test_document_is_valid_openapi_3(document):
    validate(document)

    assert document["openapi"].startswith("3.")


def test_every_route_the_app_serves_is_documented(app, document):
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
    }

    assert served - documented == set()
    assert documented - served == set()


def test_bearer_security_scheme_and_problem_schema_are_declared(document):
    schemes = document["components"]["securitySchemes"]

    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code", "detail"} <= set(problem["required"])


def test_protected_operations_require_the_bearer_token(document):
    me = document["paths"]["/api/v1/users/me"]["get"]
    login = document["paths"]["/api/v1/auth/login"]["post"]

    assert {"bearerAuth": []} in me["security"]
    assert "401" in me["responses"]
    assert {"bearerAuth": []} not in login["security"]


def test_errors_are_documented_as_problem_documents(document):
    register = document["paths"]["/api/v1/auth/register"]["post"]

    for status in ("400", "409", "413", "415", "422", "429", "500", "503"):
        content = register["responses"][status]["content"]
        assert content["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_request_bodies_come_from_the_validating_schemas(document):
    register = document["components"]["schemas"]["Register"]

    assert set(register["required"]) == {"username", "password"}
    assert register["additionalProperties"] is False  # unknown fields are 422
    assert "password" not in document["components"]["schemas"]["User"]["properties"]


def test_lists_document_the_pagination_envelope_and_headers(document):
    users = document["paths"]["/api/v1/users"]["get"]
    ok = users["responses"]["200"]
    names = {p["name"] for p in users["parameters"] if p["in"] == "query"}

    assert {"page", "per_page"} <= names
    assert {"Link", "X-Total-Count"} <= set(ok["headers"])
    envelope = document["components"]["schemas"]["UserPage"]
    assert set(envelope["required"]) == {"items", "page", "per_page", "total", "pages"}


def test_summaries_come_from_view_docstrings(document):
    summary = document["paths"]["/api/v1/users/me"]["get"]["summary"]

    assert summary == "The caller's own user object."


def test_docs_page_is_served_from_bundled_assets(client):
    page = client.get("/api/v1/docs/")
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert page.status_code == 200
    assert "swagger-ui-bundle.js" in html
    assert assets and all(a.startswith("/api/v1/docs/") for a in assets)
    absolute = re.findall(r"https?://[^\s\"']+", html)
    assert all(url.startswith("http://localhost/") for url in absolute)  # own host
    for asset in assets:
        with client.get(asset) as response:  # streamed files: close them
            assert response.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/books", "post", {"409", "429"}),
        ("/api/v1/books/{book_id}", "put", {"429"}),
        ("/api/v1/books/{book_id}", "patch", {"429"}),
        ("/api/v1/books/{book_id}", "delete", {"429"}),
        ("/api/v1/users/{user_id}", "patch", {"409", "429"}),
        ("/api/v1/users/{user_id}", "delete", {"409", "429"}),
    ],
)
def test_write_limits_shelf_cap_and_last_admin_are_documented(
    document, path, method, statuses
):
    assert statuses <= set(document["paths"][path][method]["responses"])


def test_personal_access_tokens_have_a_scheme_listing_the_scopes(document):
    scheme = document["components"]["securitySchemes"]["personalAccessToken"]

    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert set(scheme["x-scopes"]) == {"books:read", "books:write", "profile:read"}


def test_each_operation_declares_the_scope_a_personal_access_token_needs(app, document):
    from bookstore.auth import scopes

    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        needed = scopes.needed(app.view_functions[rule.endpoint])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][path][method.lower()]
            accepts_pat = {"personalAccessToken": []} in operation["security"]
            assert accepts_pat == (needed is not None), (path, method)
            assert operation.get("x-required-scopes") == (
                [needed] if needed else None
            ), (path, method)
    books = document["paths"]["/api/v1/books"]
    assert books["get"]["x-required-scopes"] == ["books:read"]
    assert books["post"]["x-required-scopes"] == ["books:write"]
    assert "403" in document["paths"]["/api/v1/auth/tokens"]["post"]["responses"]


def test_no_query_parameter_is_prefilled_with_an_example(document):
    # Swagger UI's "Try it out" sends examples as values: an example price range
    # would hide a newcomer's books.
    prefilled = [
        (path, parameter["name"])
        for path, item in document["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
        and {"example", "examples"} & {*parameter, *parameter.get("schema", {})}
    ]

    assert prefilled == []
