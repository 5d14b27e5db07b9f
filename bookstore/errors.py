"""The APIError family and the one renderer: every error leaves as problem+json."""

from __future__ import annotations

import functools
import logging
import sys
from http import HTTPStatus

import orjson
from flask import Flask, g, json
from limits.errors import StorageError
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from bookstore.extensions import db
from bookstore.response import APIResponse

log = logging.getLogger("bookstore.errors")

PROBLEM_MIMETYPE = "application/problem+json"

# API.md's error codes for the statuses Flask and Werkzeug raise themselves.
HTTP_CODES = {
    400: "bad_request",
    401: "missing_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
# Werkzeug's own descriptions name no library, but they are written for HTML pages;
# these read better in a JSON API.
HTTP_DETAILS = {
    404: "The requested resource was not found.",
    405: "The method is not allowed for this resource.",
    413: "The request body is larger than the server accepts.",
    415: "The request body must be JSON (Content-Type: application/json).",
    500: "The server failed to handle the request.",
}


def codes() -> list[str]:
    """Every `code` a problem document from the app can carry: the HTTP statuses'
    codes and those of the APIError family (the OpenAPI document's enum)."""
    found, classes = set(HTTP_CODES.values()), [APIError]
    while classes:
        cls = classes.pop()
        found.add(cls.code)
        classes.extend(cls.__subclasses__())
    return sorted(found)


class APIError(Exception):
    """An error the client can act on; rendered as an RFC 9457 problem document."""

    status, code = 400, "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        errors: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(detail)
        self.detail, self.errors, self.headers = detail, errors, headers or {}


class MalformedJSON(APIError):
    status, code = 400, "malformed_json"


class InvalidQuery(APIError):
    status, code = 400, "invalid_query"


class Unauthorized(APIError):
    """A 401; `challenge` is the RFC 6750 error name for WWW-Authenticate, if any."""

    status, code, challenge = 401, "invalid_credentials", None


class MissingToken(Unauthorized):
    code = "missing_token"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class Forbidden(APIError):
    status, code = 403, "forbidden"


class NotFound(APIError):
    status, code = 404, "not_found"


class Conflict(APIError):
    status, code = 409, "conflict"


class PreconditionFailed(APIError):
    status, code = 412, "precondition_failed"


class UnsupportedMediaType(APIError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(APIError):
    status, code = 422, "validation_error"


class RateLimited(APIError):
    status, code = 429, "rate_limited"


class ServiceUnavailable(APIError):
    status, code = 503, "service_unavailable"


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: dict | None = None,
    headers: dict | None = None,
    challenge: str | None = None,
) -> APIResponse:
    """Build an application/problem+json response (RFC 9457) with our extensions."""
    context = g._get_current_object()  # one context lookup: this runs per error
    body = {
        "type": "about:blank",
        "title": _PHRASES.get(status) or HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body["request_id"] = context.get("request_id")
    context.problem_code = code  # for the metrics hook (token rejections by code)
    if errors:
        data = json.dumps(body).encode()
        if len(errors) > MAX_ERRORS or len(data) > MAX_PROBLEM_BYTES:
            data = _bounded(body, errors)
    else:
        data = _plain_body(body)
    # content_type, not mimetype: the same header (no charset is added to
    # application/problem+json) without Werkzeug working that out per error.
    response = APIResponse(data, status=status, content_type=PROBLEM_MIMETYPE)
    if headers:
        response.headers.update(headers)
    if status == 401 and "www-authenticate" not in {k.lower() for k in headers or ()}:
        response.headers["WWW-Authenticate"] = _bearer_challenge(challenge, detail)
    return response


def _plain_body(body: dict) -> bytes:
    """`body` (text, numbers and None only) as the app's FastJSON writes it, with
    no trip through flask.json and current_app: most errors are of this kind."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # a lone surrogate: FastJSON's stdlib fallback
        return json.dumps(body).encode()


_PHRASES = {status.value: status.phrase for status in HTTPStatus}

# A problem document stays small whatever the request held (API.md): a body of
# 90,000 unknown fields must not come back as a 2.7 MB list of them.
MAX_ERRORS, MAX_PROBLEM_BYTES = 20, 16 * 1024
_MAX_KEY, _MAX_MESSAGE, _MAX_MESSAGES = 100, 300, 5


def _bounded(body: dict, errors: dict) -> bytes:
    """The problem document with at most MAX_ERRORS entries in `errors`, long
    names and messages cut, and entries dropped until it fits MAX_PROBLEM_BYTES."""
    kept = [(_clip(key, _MAX_KEY), _clip(value)) for key, value in _first(errors)]
    detail = body["detail"]
    while True:
        body["errors"] = dict(kept)
        if len(kept) < len(errors):
            body["detail"] = f"{detail} ({len(kept)} of {len(errors)} shown.)"
        data = json.dumps(body).encode()
        if len(data) <= MAX_PROBLEM_BYTES or not kept:
            return data
        kept.pop()


def _first(items: dict | list, limit: int = MAX_ERRORS) -> list:
    pairs = items.items() if isinstance(items, dict) else enumerate(items)
    return [pair for pair, _ in zip(pairs, range(limit), strict=False)]


def _clip(value, limit: int = _MAX_MESSAGE):
    """`value` (messages: text, lists, nested dicts) cut to a readable size."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        return {_clip(k, _MAX_KEY): _clip(v) for k, v in _first(value, _MAX_MESSAGES)}
    if isinstance(value, list | tuple):
        return [_clip(v) for _, v in _first(value, _MAX_MESSAGES)]
    return value if isinstance(value, int | float | bool | None) else str(value)


@functools.lru_cache(maxsize=64)  # a handful of fixed 401 details
def _bearer_challenge(error: str | None, description: str) -> str:
    """RFC 6750 challenge; error= only when the client presented a bad token."""
    if error is None:
        return 'Bearer realm="bookstore"'
    safe = description.replace("\\", "").replace('"', "'")
    return f'Bearer realm="bookstore", error="{error}", error_description="{safe}"'


def problem_for(exc: APIError) -> APIResponse:
    """The problem response for `exc`, as the error handler answers it raised."""
    return problem(
        exc.status,
        exc.code,
        exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        challenge=getattr(exc, "challenge", None),
    )


def _from_validation_error(exc: ValidationError) -> APIResponse:
    messages = exc.messages
    if not isinstance(messages, dict):  # a schema-level error with no field
        messages = {"_schema": messages}
    return problem(
        422,
        "validation_error",
        "The request body failed validation.",
        errors=messages,
    )


def _from_http_exception(exc: HTTPException) -> APIResponse:
    status = exc.code or 500
    # Keep Allow (405), Retry-After and the like; drop Werkzeug's Content-Type.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    detail = HTTP_DETAILS.get(status) or exc.description or HTTPStatus(status).phrase
    code = HTTP_CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    return problem(status, code, detail, headers=headers)


def _from_backend_down(exc: Exception, backend: str) -> APIResponse:
    log.error("backend unavailable: %s", type(exc).__name__, exc_info=exc)
    g.unavailable_backend = backend  # for the metrics hook
    return problem(
        503,
        "service_unavailable",
        "The service is temporarily unavailable; retry shortly.",
        headers={"Retry-After": "5"},
    )


def _from_unexpected(exc: Exception) -> APIResponse:
    if isinstance(exc, HTTPException):  # Flask routes these here too
        return _from_http_exception(exc)
    if isinstance(exc, RecursionError):  # JSON nested thousands deep
        return problem(400, "malformed_json", "The request body is not valid JSON.")
    if _is_store_down(exc):
        return _from_backend_down(exc, "rate_limit_store")
    if _is_database_down(exc):
        return _from_backend_down(exc, "database")
    log.exception("unhandled exception")
    return problem(500, "internal_error", HTTP_DETAILS[500])


def _is_database_down(exc: BaseException) -> bool:
    """The database cannot be reached, or did not answer in time."""
    if isinstance(exc, PoolTimeout | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _is_store_down(exc: BaseException) -> bool:
    """The rate-limit store cannot be reached, or did not answer in time."""
    if isinstance(exc, StorageError):  # limits' wrapper (limit_store_options)
        return True
    # redis is loaded only when a redis:// store is configured; importing it here
    # would put the client in every worker's memory (bench/README.md). Not
    # loaded: the error cannot be redis's.
    redis_errors = sys.modules.get("redis.exceptions")
    return redis_errors is not None and isinstance(
        exc, redis_errors.ConnectionError | redis_errors.TimeoutError
    )


def register(app: Flask) -> None:
    """Install the handlers that turn every error into a problem document."""
    app.register_error_handler(APIError, problem_for)
    app.register_error_handler(ValidationError, _from_validation_error)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_unexpected)
    # In place of Flask-SQLAlchemy's teardown, which removed the session a second
    # time (each removal asks the app context for the session's scope twice).
    funcs = app.teardown_appcontext_funcs
    funcs[:] = [func for func in funcs if func != db._teardown_session]
    app.teardown_appcontext(_end_session)


def _end_session(exc: BaseException | None) -> None:
    """Close the request's session; a connection that died after the response was
    built (its ROLLBACK fails) must not turn that response into a bare 500."""
    if not db.session.registry.has():  # no session: /healthz, a refused token
        return
    try:
        db.session.remove()
    except DBAPIError:
        log.warning("database connection lost while closing the session")
        db.session.registry.clear()  # the pool has invalidated the dead connection
