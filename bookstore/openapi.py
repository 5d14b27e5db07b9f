"""The OpenAPI 3 document (/api/v1/openapi.json) and Swagger UI (/api/v1/docs).

The document is built from the same marshmallow schemas that validate requests. Each
endpoint's HTTP facts (body, query, response, statuses, auth) are listed once in
OPERATIONS; a test checks that every route the app serves appears there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app
from flask_swagger_ui import get_swaggerui_blueprint
from marshmallow import INCLUDE, Schema, fields

from bookstore.auth import schemas as auth_schemas
from bookstore.books.schemas import BookQuerySchema, BookSchema
from bookstore.pagination import PageArgsSchema
from bookstore.users import schemas as users_schemas

API = "/api/v1"
DOCS_URL, SPEC_URL = f"{API}/docs", f"{API}/openapi.json"


class ProblemSchema(Schema):
    """RFC 9457 problem document, with the API's `code` and `request_id`."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"example": "validation_error"})
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "Field name to list of messages (422 only)."},
    )
    request_id = fields.String(required=True, allow_none=True)


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class JWKSchema(Schema):
    kty = fields.String(required=True)
    kid = fields.String(required=True)
    alg = fields.String()
    use = fields.String()
    crv = fields.String()
    x = fields.String()
    y = fields.String()
    n = fields.String()
    e = fields.String()


class JWKSSchema(Schema):
    keys = fields.List(fields.Nested(JWKSchema), required=True)


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """The pagination envelope around `item` as a named schema."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
            "pages": fields.Integer(required=True),
        },
        name=name,
    )


@dataclass(frozen=True)
class Op:
    """What the document says about one endpoint."""

    response: type[Schema] | None = None  # None: no body (204/304)
    status: int = 200
    body: type[Schema] | Schema | None = None
    query: type[Schema] | None = None
    auth: bool = True
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()  # request headers from REQUEST_HEADERS
    response_headers: tuple[str, ...] = ()  # from RESPONSE_HEADERS
    list_of: bool = False  # response is a paginated envelope of `response`
    basic_auth: bool = False  # also accepts HTTP Basic credentials
    tags: tuple[str, ...] = field(default=())


TokenPair = auth_schemas.TokenPairSchema
User = auth_schemas.UserSchema
OPERATIONS: dict[str, Op] = {
    "health.healthz": Op(HealthSchema, auth=False),
    "health.readyz": Op(HealthSchema, auth=False, errors=(503,)),
    "auth.register": Op(
        User,
        201,
        auth_schemas.RegisterSchema,
        auth=False,
        errors=(409, 429),
        response_headers=("Location",),
    ),
    "auth.login": Op(
        TokenPair,
        body=auth_schemas.LoginSchema,
        auth=False,
        errors=(401, 429),
        basic_auth=True,
    ),
    "auth.refresh": Op(
        TokenPair, body=auth_schemas.RefreshSchema, auth=False, errors=(401, 429)
    ),
    "auth.logout": Op(None, 204),
    "auth.logout_all": Op(None, 204),
    "auth.list_sessions": Op(
        auth_schemas.SessionSchema, query=PageArgsSchema, list_of=True
    ),
    "auth.delete_session": Op(None, 204, errors=(404,)),
    "auth.jwks": Op(JWKSSchema, auth=False),
    "users.get_me": Op(User),
    "users.change_password": Op(
        TokenPair, body=auth_schemas.PasswordChangeSchema, errors=(429,)
    ),
    "users.list_users": Op(User, query=PageArgsSchema, list_of=True, errors=(403,)),
    "users.get_user": Op(User, errors=(404,)),
    "users.update_user": Op(
        User, body=users_schemas.UserPatchSchema, errors=(403, 404, 409)
    ),
    "users.delete_user": Op(None, 204, errors=(404,)),
    "books.create_book": Op(
        BookSchema,
        201,
        BookSchema,
        errors=(409,),
        headers=("Idempotency-Key",),
        response_headers=("Location", "ETag"),
    ),
    "books.list_books": Op(
        BookSchema, query=BookQuerySchema, list_of=True, errors=(403,)
    ),
    "books.get_book": Op(
        BookSchema,
        errors=(404,),
        headers=("If-None-Match",),
        response_headers=("ETag",),
    ),
    "books.replace_book": Op(
        BookSchema,
        body=BookSchema,
        errors=(403, 404, 409, 412),
        headers=("If-Match",),
        response_headers=("ETag",),
    ),
    "books.update_book": Op(
        BookSchema,
        body=BookSchema(partial=True),
        errors=(403, 404, 409, 412),
        headers=("If-Match",),
        response_headers=("ETag",),
    ),
    "books.delete_book": Op(None, 204, errors=(403, 404, 412), headers=("If-Match",)),
}

REQUEST_HEADERS = {
    "If-Match": "Apply only if the resource's current ETag matches (else 412).",
    "If-None-Match": "Answer 304 if the resource's current ETag matches.",
    "Idempotency-Key": "Retry-safe create: the same key and body within 24 h "
    "return the original response; a different body with the key is 422.",
}
RESPONSE_HEADERS = {
    "Location": "URL of the created resource.",
    "ETag": "Entity tag of the returned representation.",
}
# Statuses any endpoint may answer besides its own.
COMMON_ERRORS = (500, 503)
BODY_ERRORS = (400, 413, 415, 422)
DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Malformed JSON or query (`malformed_json`, `invalid_query`)",
    401: "Missing, invalid, expired or revoked token, or bad credentials",
    403: "Authenticated but not allowed (`forbidden`), e.g. a non-admin's `owner=`, "
    "or an admin writing another user's book",
    404: "No such resource, or not yours (`not_found`)",
    409: "Uniqueness conflict (`conflict`)",
    412: "If-Match does not match the current ETag (`precondition_failed`)",
    413: "Body too large (`payload_too_large`)",
    415: "Body is not application/json (`unsupported_media_type`)",
    422: "Body failed validation (`validation_error`)",
    429: "Rate limited (`rate_limited`); see Retry-After",
    500: "Unexpected failure (`internal_error`)",
    503: "Database or another backend unavailable (`service_unavailable`)",
}
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def build_spec(app: Flask) -> dict:
    """Generate the OpenAPI document for every documented route of `app`."""
    spec = APISpec(
        title="Bookstore API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={
            "description": "A JSON API for a bookstore with token authentication. "
            "Errors are RFC 9457 problem documents (application/problem+json)."
        },
    )
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.security_scheme(
        "accessTokenHeader",
        {
            "type": "apiKey",
            "in": "header",
            "name": "x-access-tokens",
            "description": "The original tutorial's header; same tokens.",
        },
    )
    spec.components.security_scheme("basicAuth", {"type": "http", "scheme": "basic"})
    spec.components.schema("Problem", schema=ProblemSchema)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = OPERATIONS.get(rule.endpoint)
        if op is None:
            continue
        path = _PATH_PARAM.sub(r"{\2}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                app, rule, op, method
            )
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return _ecma_patterns(spec.to_dict())


def _ecma_patterns(node):
    """Rewrite Python's end anchor \\Z (used with re.match) as ECMA-262's ^…$."""
    if isinstance(node, dict):
        return {
            key: (
                f"^{value.removeprefix('^')[:-2]}$"
                if key == "pattern" and isinstance(value, str) and value.endswith("\\Z")
                else _ecma_patterns(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_ecma_patterns(item) for item in node]
    return node


def _operation(app: Flask, rule, op: Op, method: str) -> dict:
    view = app.view_functions[rule.endpoint]
    summary = (view.__doc__ or rule.endpoint).strip().splitlines()[0]
    operation: dict = {
        "operationId": rule.endpoint.replace(".", "_") + "_" + method.lower(),
        "summary": summary,
        "tags": list(op.tags) or [rule.endpoint.split(".")[0]],
        "parameters": _parameters(rule, op),
        "responses": _responses(op),
    }
    if op.auth:
        operation["security"] = [{"bearerAuth": []}, {"accessTokenHeader": []}]
    elif op.basic_auth:
        operation["security"] = [{}, {"basicAuth": []}]
    else:
        operation["security"] = []
    if op.body is not None:
        operation["requestBody"] = {
            "required": not op.basic_auth,
            "content": {"application/json": {"schema": op.body}},
        }
    return operation


def _parameters(rule, op: Op) -> list:
    params: list = []
    for converter, name in _PATH_PARAM.findall(rule.rule):
        schema = {"type": "string"}
        if converter == "uuid":
            schema["format"] = "uuid"
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    if op.query is not None:
        params.append({"in": "query", "schema": op.query})
    for header in op.headers:
        params.append(
            {
                "in": "header",
                "name": header,
                "required": False,
                "description": REQUEST_HEADERS[header],
                "schema": {"type": "string"},
            }
        )
    return params


def _responses(op: Op) -> dict:
    success: dict = {"description": DESCRIPTIONS[op.status]}
    if op.response is not None:
        schema = op.response
        if op.list_of:
            schema = page_of(op.response, _list_name(op.response))
        success["content"] = {"application/json": {"schema": schema}}
    headers = {
        name: {"description": RESPONSE_HEADERS[name], "schema": {"type": "string"}}
        for name in op.response_headers
    }
    if op.list_of:
        headers["Link"] = {
            "description": "RFC 8288 first/prev/next/last links.",
            "schema": {"type": "string"},
        }
        headers["X-Total-Count"] = {
            "description": "Total items in the list.",
            "schema": {"type": "integer"},
        }
    if headers:
        success["headers"] = headers
    responses: dict = {str(op.status): success}
    statuses = set(op.errors) | set(COMMON_ERRORS)
    if op.auth:
        statuses.add(401)
    if op.body is not None:
        statuses |= set(BODY_ERRORS)
    if op.query is not None:
        statuses.add(400)
    if "If-None-Match" in op.headers:
        responses["304"] = {"description": DESCRIPTIONS[304]}
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": DESCRIPTIONS[status],
            "content": {"application/problem+json": {"schema": "Problem"}},
        }
    return responses


def _schema_name(schema: type[Schema] | Schema) -> str:
    """Component name: the class name without "Schema"; partial variants "…Patch"."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    partial = not isinstance(schema, type) and schema.partial
    return f"{name}Patch" if partial else name


def _list_name(item: type[Schema]) -> str:
    return item.__name__.removesuffix("Schema") + "Page"


docs_bp = Blueprint("openapi", __name__)


@docs_bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3 document of this API."""
    cache = current_app.extensions.setdefault("bookstore", {})
    if "openapi" not in cache:  # the routes do not change after start-up
        cache["openapi"] = build_spec(current_app)
    return cache["openapi"]


class OpenAPIDocumentSchema(Schema):
    class Meta:
        unknown = INCLUDE  # documents the top of the document, not all of it

    openapi = fields.String(required=True, metadata={"example": "3.0.3"})
    info = fields.Dict(required=True)
    paths = fields.Dict(required=True)


OPERATIONS["openapi.openapi_document"] = Op(OpenAPIDocumentSchema, auth=False)

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
