"""HTTP helpers shared by the blueprints: strict JSON bodies and cache headers."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cached_property

import orjson
from flask import Request, Response, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SessionInterface
from werkzeug.exceptions import RequestEntityTooLarge

from bookstore.errors import MalformedJSON, UnsupportedMediaType, ValidationFailed


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    # Two parsers reading {"a": 1, "a": 2} differently is how checks get bypassed.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in JSON object")
    return result


class StrictJSON:
    """Request-body JSON decoder: exact decimals, no NaN, no duplicate keys."""

    @staticmethod
    def loads(data: str | bytes) -> object:
        return json.loads(
            data,
            parse_float=Decimal,  # prices never pass through a binary float
            parse_constant=_reject_constant,
            object_pairs_hook=_reject_duplicates,
        )


class APIRequest(Request):
    """Flask's Request with JSON errors that are problems, not HTML pages."""

    @cached_property
    def blueprints(self) -> list[str]:
        # Flask works this out from url_rule on each of its four or five reads
        # a request; url_rule is set once, when the request context is pushed,
        # before anything reads this.
        return super().blueprints

    @property
    def json_module(self):
        return StrictJSON

    @json_module.setter
    def json_module(self, value) -> None:
        """Flask assigns app.json here per request; bodies keep the strict decoder."""

    def on_json_loading_failed(self, e: ValueError | None):
        if e is None:
            raise UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json)."
            )
        raise MalformedJSON("The request body is not valid JSON.")

    def get_data(self, cache=True, as_text=False, parse_form_data=False):
        data = super().get_data(cache=cache, parse_form_data=parse_form_data)
        limit = self.max_content_length
        # Without Content-Length (chunked), Werkzeug stops reading at the limit and
        # returns what it read: a body past it would be parsed cut short (400).
        # One more byte from the server's stream tells the two apart: 413. The
        # verdict is kept: a second read (the login limit's key) gets it too.
        if limit is not None and self.content_length is None and len(data) >= limit:
            if "bookstore.too_large" not in self.environ:
                self.environ["bookstore.too_large"] = bool(
                    self.environ["wsgi.input"].read(1)
                )
            if self.environ["bookstore.too_large"]:
                raise RequestEntityTooLarge()
        return data.decode(errors="replace") if as_text else data

    def get_json(self, force=False, silent=False, cache=True):
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:  # nested thousands deep; plain Flask answers 500
            raise MalformedJSON("The request body is nested too deeply.") from None


# No request body has more than a handful of fields; past this many, validation
# stops before building a message for each unknown one.
MAX_BODY_FIELDS = 64


def json_body() -> dict:
    """Return the request's JSON object; raise 415 if not JSON, 400 if not an
    object, 422 if it has more than MAX_BODY_FIELDS members."""
    body = request.get_json()
    if not isinstance(body, dict):
        raise MalformedJSON("The request body must be a JSON object.")
    if len(body) > MAX_BODY_FIELDS:
        raise ValidationFailed(
            "The request body failed validation.",
            errors={"_schema": [f"At most {MAX_BODY_FIELDS} fields are accepted."]},
        )
    return body


def no_store(response: Response) -> Response:
    """Mark a response that carries tokens or secrets as never cacheable."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


class NoSessions(SessionInterface):
    """No cookie sessions: the API authenticates every request by token.

    Flask's default interface would parse and sign a cookie session per request.
    Every request shares one null session: it refuses every write, so there is
    nothing in it to share, and making one was a dict and a closure per request.
    """

    _null = SessionInterface.null_session_class()

    def open_session(self, app, request):
        return self._null

    def save_session(self, app, session, response) -> None:
        return None


_COMPACT = {"separators": (",", ":")}


class FastJSON(DefaultJSONProvider):
    """Flask's JSON provider with orjson encoding responses.

    The stdlib's encoder was a visible share of a listing's CPU (figures:
    bench/README.md). Output keeps Flask's rules: keys sorted when
    `sort_keys` is set, dates, Decimals and dataclasses through Flask's default;
    non-ASCII is written as UTF-8 rather than escaped. Parsing request bodies is
    StrictJSON's, unchanged. Whatever orjson refuses is left to the stdlib.
    """

    _OPTIONS = (
        orjson.OPT_NON_STR_KEYS  # marshmallow keys list errors by index
        | orjson.OPT_PASSTHROUGH_DATETIME  # to Flask's default (HTTP dates)
        | orjson.OPT_PASSTHROUGH_DATACLASS
    )

    def dumps(self, obj, **kwargs) -> str:
        # Flask's response() (a view returning a dict: /healthz) asks for the
        # compact separators, which are orjson's own.
        if kwargs and kwargs != _COMPACT:  # no orjson equivalent: the stdlib
            return super().dumps(obj, **kwargs)
        option = self._OPTIONS | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)
        try:
            return orjson.dumps(obj, default=self.default, option=option).decode()
        except orjson.JSONEncodeError:
            # A lone surrogate echoed from a client's input (a field name in
            # `errors`), an integer past 64 bits: the stdlib escapes or writes it.
            return super().dumps(obj, **kwargs)
