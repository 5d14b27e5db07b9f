"""What the OpenAPI document says about each endpoint, and the schemas it adds.

Request and response schemas are the features' own marshmallow schemas; this table
adds the HTTP facts (status, errors, headers, auth). A test checks that every route
the app serves has an entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import INCLUDE, Schema, fields

from bookstore.auth import schemas as auth_schemas
from bookstore.auth.pats import schemas as pat_schemas
from bookstore.books.schemas import BookQuerySchema, BookSchema
from bookstore.fields import STRIPPED
from bookstore.pagination import PageArgsSchema
from bookstore.recovery import schemas as recovery_schemas
from bookstore.users import schemas as users_schemas


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
        metadata={
            "description": "Field name to list of messages (422 only); at most "
            "20 entries, and the whole document at most 16 KiB."
        },
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


def cursor_page_of(item: type[Schema], name: str) -> type[Schema]:
    """The cursor-mode envelope around `item` as a named schema."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
            "next_cursor": fields.String(
                required=True,
                allow_none=True,
                metadata={
                    "description": "Pass as `cursor` (with the same sort and "
                    "filters) for the next page; null on the last page."
                },
            ),
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
    cursor: bool = False  # list_of, and cursor mode answers the cursor envelope
    basic_auth: bool = False  # also accepts HTTP Basic credentials
    text: bool = False  # the body is plain text (Prometheus exposition), not JSON
    tags: tuple[str, ...] = field(default=())


TokenPair = auth_schemas.TokenPairSchema
User = auth_schemas.UserSchema
OPERATIONS: dict[str, Op] = {
    "health.healthz": Op(HealthSchema, auth=False),
    "health.readyz": Op(HealthSchema, auth=False, errors=(503,)),
    # Served only with METRICS_ENABLED; the Bearer token is METRICS_TOKEN, not a JWT.
    "metrics.metrics": Op(auth=False, errors=(401,), text=True),
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
    "tokens.create_token": Op(
        pat_schemas.CreatedTokenSchema,
        201,
        pat_schemas.TokenSchema,
        errors=(409,),
        response_headers=("Location",),
    ),
    "tokens.list_tokens": Op(
        pat_schemas.TokenSchema, query=PageArgsSchema, list_of=True
    ),
    "tokens.get_token": Op(pat_schemas.TokenSchema, errors=(404,)),
    "tokens.delete_token": Op(None, 204, errors=(404,)),
    "recovery.request_password_reset": Op(
        recovery_schemas.EmptySchema,
        202,
        recovery_schemas.PasswordResetRequestSchema,
        auth=False,
        errors=(429,),
        tags=("auth",),
    ),
    "recovery.confirm_password_reset": Op(
        TokenPair,
        body=recovery_schemas.PasswordResetConfirmSchema,
        auth=False,
        errors=(429,),
        tags=("auth",),
    ),
    "users.get_me": Op(User),
    "users.change_password": Op(
        TokenPair, body=auth_schemas.PasswordChangeSchema, errors=(429,)
    ),
    "users.list_users": Op(User, query=PageArgsSchema, list_of=True, errors=(403,)),
    "users.get_user": Op(User, errors=(404,)),
    "users.update_user": Op(
        User, body=users_schemas.UserPatchSchema, errors=(403, 404, 409, 429)
    ),
    "users.delete_user": Op(None, 204, errors=(403, 404, 409, 429)),
    "books.create_book": Op(
        BookSchema,
        201,
        BookSchema,
        errors=(409, 429),
        headers=("Idempotency-Key",),
        response_headers=("Location", "ETag"),
    ),
    "books.list_books": Op(
        BookSchema, query=BookQuerySchema, list_of=True, cursor=True, errors=(403,)
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
        errors=(403, 404, 409, 412, 429),
        headers=("If-Match",),
        response_headers=("ETag",),
    ),
    "books.update_book": Op(
        BookSchema,
        body=BookSchema(partial=True),
        errors=(403, 404, 409, 412, 429),
        headers=("If-Match",),
        response_headers=("ETag",),
    ),
    "books.delete_book": Op(
        None, 204, errors=(403, 404, 412, 429), headers=("If-Match",)
    ),
}

# RFC 9110 entity-tags: "*", or a list of (possibly weak) quoted tags.
_ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_ENTITY_TAGS = rf"^(?:\*|{_ENTITY_TAG}(?:[ \t]*,[ \t]*{_ENTITY_TAG})*)$"
# books.idempotency.parse_key's rule: after trimming, 1-255 printable ASCII
# characters, not all spaces, or the same inside the quotes of a structured-field
# string (which then holds no quote or backslash). A test holds the two together.
_PRINTABLE, _VISIBLE = r"\x20-\x7e", r"\x21-\x7e"
_IDEMPOTENCY_KEY = (
    f"^[{STRIPPED}]*(?:"
    f"[{_VISIBLE}]"
    rf"|[\x21\x23-\x7e][{_PRINTABLE}]{{0,253}}[{_VISIBLE}]"
    rf'|"[{_PRINTABLE}]{{0,253}}[\x21\x23-\x7e]'
    r'|"(?! *")[\x20\x21\x23-\x5b\x5d-\x7e]{1,255}"'
    f")[{STRIPPED}]*$"
)
REQUEST_HEADERS = {
    "If-Match": (
        "Apply only if the resource's current ETag matches (else 412): `*` or "
        "a comma-separated list of entity tags.",
        {"type": "string", "pattern": _ENTITY_TAGS},
    ),
    "If-None-Match": (
        "Answer 304 if the resource's current ETag matches.",
        {"type": "string"},
    ),
    "Idempotency-Key": (
        "Retry-safe create: the same key and body within 24 h return the "
        "original response; a different body with the key is 422. 1-255 "
        "printable ASCII characters, not all spaces (else 400), bare or as a "
        'structured-field string ("...").',
        {"type": "string", "pattern": _IDEMPOTENCY_KEY},
    ),
}
RESPONSE_HEADERS = {
    "Location": "URL of the created resource.",
    "ETag": "Entity tag of the returned representation.",
}
# Refusals by the HTTP server in front of the app (gunicorn, or nginx before it),
# whatever the operation: a request line or a header past its limits.
SERVER_ERRORS = {414: "uri_too_long", 431: "request_header_fields_too_large"}
# The problems nginx itself answers in the deployment shipped in deploy/
# (nginx-bookstore.conf: malformed or slow requests, gunicorn down or too slow):
# their codes belong to the Problem schema's enum too. tests/test_deploy.py
# holds this to the file.
PROXY_ERRORS = {
    400: "bad_request",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
    505: "http_version_not_supported",
}
# Statuses any endpoint may answer besides its own.
COMMON_ERRORS = (*SERVER_ERRORS, 500, 503)
BODY_ERRORS = (400, 413, 415, 422)
DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    304: "Not Modified",
    400: "Malformed JSON, query or header (`malformed_json`, `invalid_query`, "
    "`bad_request`), or a password-reset code that is unknown, used or expired "
    "(`invalid_reset_token`)",
    401: "Missing, invalid, expired or revoked token, or bad credentials",
    403: "Authenticated but not allowed (`forbidden`), e.g. a non-admin's `owner=`, "
    "or an admin writing another user's book; or a personal access token without "
    "the scope this operation needs (`insufficient_scope`)",
    404: "No such resource, or not yours (`not_found`)",
    409: "Conflict (`conflict`): a uniqueness violation, a full shelf "
    "(MAX_BOOKS_PER_USER), or removing the last active admin",
    412: "If-Match does not match the current ETag (`precondition_failed`)",
    413: "Body too large (`payload_too_large`)",
    414: "Request line (path and query) too long for the server (`uri_too_long`)",
    415: "Body is not application/json (`unsupported_media_type`)",
    422: "Body failed validation (`validation_error`)",
    429: "Rate limited (`rate_limited`; writes: per user); see Retry-After",
    431: "A request header too large for the server "
    "(`request_header_fields_too_large`)",
    500: "Unexpected failure (`internal_error`)",
    503: "Database or another backend unavailable, or mail not configured for "
    "account recovery (`service_unavailable`)",
}


class OpenAPIDocumentSchema(Schema):
    class Meta:
        unknown = INCLUDE  # documents the top of the document, not all of it

    openapi = fields.String(required=True, metadata={"example": "3.0.3"})
    info = fields.Dict(required=True)
    paths = fields.Dict(required=True)


OPERATIONS["openapi.openapi_document"] = Op(OpenAPIDocumentSchema, auth=False)
