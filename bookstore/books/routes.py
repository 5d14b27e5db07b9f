"""Blueprint "books": the caller's books, /books and /books/<id>."""

from __future__ import annotations

import uuid

import click
from flask import Blueprint, Response, json, request, url_for

from bookstore import memo, pagination
from bookstore.auth.guards import (
    current_caller,
    current_viewer,
    session_check_in_statement,
    token_required,
)
from bookstore.auth.scopes import BOOKS_READ, BOOKS_WRITE, scope
from bookstore.books import counts, creates, idempotency, listing, services
from bookstore.books.models import Book, NewBook, book_etag
from bookstore.books.output import dump_book, dump_books
from bookstore.books.schemas import BookQuerySchema, BookSchema
from bookstore.web import json_body
from bookstore.write_limits import write_limited

bp = Blueprint("books", __name__, cli_group="books")

book_schema = BookSchema()
book_patch_schema = BookSchema(partial=True)
book_query_schema = BookQuerySchema()


def _dump(book: Book | NewBook) -> dict:
    """The book; its owner's public id without a query when that is the caller."""
    caller = current_caller()
    return dump_book(
        book, str(caller.public_id) if book.owner_id == caller.id else None
    )


def _book_response(book: Book, status: int = 200) -> Response:
    """The book with its ETag; revalidate (no-cache) before reusing a stored copy."""
    return _respond(_dump(book), book.etag, status)


def _respond(body: dict, etag: str, status: int = 200) -> Response:
    response = Response(json.dumps(body), status, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _if_match():
    """The If-Match header parsed, or None when the client sent none (optional)."""
    return request.if_match if "If-Match" in request.headers else None


# The script root (SCRIPT_NAME) -> url_for's path to a book, minus the id.
LOCATIONS, LOCATIONS_CACHE_SIZE = "books.locations", 16
_ANY_ID = uuid.UUID(int=0)


def _location(book_id: uuid.UUID) -> str:
    """url_for(".get_book", book_id=book_id), the URL map's build done once
    per script root (the id is the path's last segment, as str() writes it);
    tests/books/test_location.py holds the two together."""
    prefixes = memo.cache(LOCATIONS, LOCATIONS_CACHE_SIZE)
    prefix = prefixes.get(request.script_root)
    if prefix is None:
        built = url_for(".get_book", book_id=_ANY_ID)
        prefix = prefixes.remember(
            request.script_root, built.removesuffix(str(_ANY_ID))
        )
    return prefix + str(book_id)


def _render_created(book: NewBook) -> idempotency.StoredResponse:
    return idempotency.StoredResponse(
        status=201,
        body=json.dumps(_dump(book)),
        headers={
            "Location": _location(book.public_id),
            "ETag": f'"{book.etag}"',
        },
    )


def _send(stored: idempotency.StoredResponse) -> Response:
    response = Response(stored.body, stored.status, mimetype="application/json")
    response.headers.update(stored.headers)
    response.headers["Cache-Control"] = "private, no-cache"
    if stored.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("")
@scope(BOOKS_WRITE)
@token_required
@write_limited
@session_check_in_statement  # creates.create_book runs or settles the check
def create_book():
    """Add a book to the caller's shelf; an Idempotency-Key makes retries safe."""
    key = idempotency.parse_key(request.headers.get(idempotency.HEADER))
    created = creates.create_book(
        json_body(), load=book_schema.load, render=_render_created, idempotency_key=key
    )
    return _send(created)


@bp.get("")
@scope(BOOKS_READ)
@token_required
def list_books():
    """The caller's books (admins: any user's with `owner`), paginated and sorted."""
    shelf = listing.list_books(
        current_viewer(), **pagination.parse_args(book_query_schema)
    )
    return pagination.respond(
        shelf.page, lambda rows: dump_books(rows, shelf.owner_public_id)
    )


@bp.get("/<uuid:book_id>")
@scope(BOOKS_READ)
@token_required
def get_book(book_id):
    """One book the caller may see; If-None-Match gives 304."""
    book = services.read_visible_book(book_id)  # a row, as the listing's
    etag = book_etag(book.id, book.version)
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
        response.set_etag(etag)
        return response
    (body,) = dump_books([book], services.owner_public_id(book))
    return _respond(body, etag)


@bp.put("/<uuid:book_id>")
@scope(BOOKS_WRITE)
@token_required
@write_limited
def replace_book(book_id):
    """Replace every field of one of the caller's books (If-Match honoured)."""
    fields = book_schema.load(json_body())
    book = services.replace_book(
        current_caller(), book_id, fields, if_match=_if_match()
    )
    return _book_response(book)


@bp.patch("/<uuid:book_id>")
@scope(BOOKS_WRITE)
@token_required
@write_limited
def update_book(book_id):
    """Change some fields of one of the caller's books (If-Match honoured)."""
    fields = book_patch_schema.load(json_body())
    book = services.update_book(current_caller(), book_id, fields, if_match=_if_match())
    return _book_response(book)


@bp.delete("/<uuid:book_id>")
@scope(BOOKS_WRITE)
@token_required
@write_limited
def delete_book(book_id):
    """Delete one of the caller's books (If-Match honoured)."""
    services.delete_book(current_caller(), book_id, if_match=_if_match())
    return "", 204


@bp.cli.command("purge-idempotency-keys")
def purge_idempotency_keys():
    """Delete Idempotency-Key records older than 24 hours."""
    click.echo(f"Purged {idempotency.purge_expired()} expired idempotency keys.")


@bp.cli.command("recount")
@click.option("--check", is_flag=True, help="Report drift only; exit 1 if any.")
def recount_books(check):
    """Recompute the per-owner book counts, reporting any that had drifted."""
    drift = counts.find_drift() if check else counts.recount()
    for owner in drift:
        click.echo(f"owner {owner.owner}: stored {owner.stored}, actual {owner.actual}")
    verb = "found" if check else "repaired"
    click.echo(f"{len(drift)} drifted book counts {verb}.")
    if check and drift:
        raise SystemExit(1)
