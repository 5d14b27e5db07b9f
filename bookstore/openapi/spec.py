"""Build the OpenAPI 3 document from the app's routes and the OPERATIONS table."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from flask import Flask
from marshmallow import Schema

from bookstore import errors
from bookstore.auth import scopes
from bookstore.openapi.operations import (
    BODY_ERRORS,
    COMMON_ERRORS,
    DESCRIPTIONS,
    OPERATIONS,
    PROXY_ERRORS,
    REQUEST_HEADERS,
    RESPONSE_HEADERS,
    SERVER_ERRORS,
    Op,
    ProblemSchema,
    cursor_page_of,
    page_of,
)

_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


class _Converter(OpenAPIConverter):
    """apispec's converter, taking each field's and schema's own word on what it
    accepts where marshmallow's validators do not say it all."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_attribute_function(_field_json_schema)

    def schema2jsonschema(self, schema) -> dict:
        jsonschema = super().schema2jsonschema(schema)
        cls = schema if isinstance(schema, type) else type(schema)
        return {**jsonschema, **getattr(cls, "json_schema_extra", {})}


def _field_json_schema(self, field, ret: dict, **kwargs) -> dict:
    """A field's json_schema(): its keys win, None removes a generic one."""
    declared = getattr(field, "json_schema", None)
    if declared is None:
        return {}
    extra = declared()
    for key in [key for key, value in extra.items() if value is None]:
        ret.pop(key, None)
    if "anyOf" in extra:  # the alternatives carry their own types
        ret.pop("type", None)
    # A description in the field's metadata comes first; the rule follows it.
    if "description" in extra and "description" in ret:
        extra["description"] = f"{ret['description']} {extra['description']}"
    return {key: value for key, value in extra.items() if value is not None}


class _Plugin(MarshmallowPlugin):
    Converter = _Converter


def build_spec(app: Flask) -> dict:
    """Generate the OpenAPI document for every documented route of `app`."""
    spec = APISpec(
        title="Bookstore API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[_Plugin(schema_name_resolver=_schema_name)],
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
    spec.components.security_scheme("personalAccessToken", _PAT_SCHEME)
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
    document = spec.to_dict()
    problem = document["components"]["schemas"]["Problem"]["properties"]["code"]
    # Every APIError subclass exists by now.
    problem["enum"] = sorted(
        {*errors.codes(), *SERVER_ERRORS.values(), *PROXY_ERRORS.values()}
    )
    return _ecma_patterns(document)


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
        needed = scopes.needed(view)
        if needed is not None:
            # OpenAPI 3.0 lets only oauth2 requirements list scopes, and Swagger UI
            # cannot take a pasted token for oauth2: a bearer scheme, the scope in
            # an extension and the description.
            operation["security"].append({"personalAccessToken": []})
            operation["x-required-scopes"] = [needed]
            operation["description"] = f"Personal access tokens need `{needed}`."
        else:
            operation["description"] = "Personal access tokens are refused here."
    elif op.basic_auth:
        operation["security"] = [{}, {"basicAuth": []}]
    else:
        operation["security"] = []
    if op.body is not None:
        operation["requestBody"] = {
            "required": not op.basic_auth,
            "content": {"application/json": {"schema": op.body}},
        }
        if op.basic_auth:  # OpenAPI cannot tie the body to the security scheme
            operation["requestBody"]["description"] = (
                "Required unless HTTP Basic credentials are sent (then it is "
                "ignored). With neither: 401 `invalid_credentials`."
            )
    return operation


_PAT_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "bks_ personal access token",
    "description": "A personal access token from POST /auth/tokens, limited to its "
    "scopes: "
    + "; ".join(f"`{name}`: {meaning}" for name, meaning in scopes.SCOPES.items())
    + " Each operation names the scope it needs in `x-required-scopes`.",
    "x-scopes": dict(scopes.SCOPES),
}


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
        description, schema = REQUEST_HEADERS[header]
        params.append(
            {
                "in": "header",
                "name": header,
                "required": False,
                "description": description,
                "schema": schema,
            }
        )
    return params


def _responses(op: Op) -> dict:
    success: dict = {"description": DESCRIPTIONS[op.status]}
    if op.response is not None:
        schema = op.response
        if op.list_of:
            schema = page_of(op.response, _list_name(op.response))
        if op.cursor:
            cursor_page = cursor_page_of(
                op.response, f"{_list_name(op.response)}Cursor"
            )
            schema = {"oneOf": [schema, cursor_page]}
        success["content"] = {"application/json": {"schema": schema}}
    if op.text:
        success["content"] = {"text/plain": {"schema": {"type": "string"}}}
    headers = {
        name: {"description": RESPONSE_HEADERS[name], "schema": {"type": "string"}}
        for name in op.response_headers
    }
    if op.list_of:
        headers["Link"] = {
            "description": "RFC 8288 first/prev/next/last links (cursor mode: "
            "next only); relative references unless PUBLIC_URL is set.",
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
        statuses |= {401, 403}  # 403: a personal access token out of its scope
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
