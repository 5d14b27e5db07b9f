"""The OpenAPI 3 document (/api/v1/openapi.json) and Swagger UI (/api/v1/docs).

The document is built from the same marshmallow schemas that validate requests
(operations.py lists each endpoint's HTTP facts; spec.py builds the document).
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app
from flask_swagger_ui import get_swaggerui_blueprint

API = "/api/v1"
DOCS_URL, SPEC_URL = f"{API}/docs", f"{API}/openapi.json"

docs_bp = Blueprint("openapi", __name__)


@docs_bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3 document of this API."""
    # apispec loads on first use: a worker that never serves the document
    # does not carry it.
    from bookstore.openapi.spec import build_spec

    cache = current_app.extensions.setdefault("bookstore", {})
    if "openapi" not in cache:  # the routes do not change after start-up
        cache["openapi"] = build_spec(current_app)
    return cache["openapi"]


# Swagger UI's assets come from the flask-swagger-ui package: no CDN, works offline.
swagger_bp = get_swaggerui_blueprint(
    DOCS_URL,
    SPEC_URL,
    config={
        "app_name": "Bookstore API",
        "validatorUrl": None,  # the default would call validator.swagger.io
        "persistAuthorization": False,
        "displayRequestDuration": True,
    },
)

# The page's bootstrap script is inline (the package's template), so the docs relax
# script-src for 'self' plus inline; the JSON API keeps default-src 'none'.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@swagger_bp.after_request
def _docs_csp(response):
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def register(app: Flask) -> None:
    """Serve the document and the docs page under /api/v1."""
    app.register_blueprint(docs_bp, url_prefix=API)
    app.register_blueprint(swagger_bp)
