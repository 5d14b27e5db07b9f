"""Blueprint "tokens": the caller's personal access tokens, /auth/tokens."""

from __future__ import annotations

import click
from flask import Blueprint, current_app, url_for

from bookstore import pagination
from bookstore.auth.guards import current_caller, token_required
from bookstore.auth.pats import services
from bookstore.auth.pats.schemas import CreatedTokenSchema, TokenSchema
from bookstore.auth.scopes import login_only
from bookstore.web import json_body, no_store

bp = Blueprint("tokens", __name__, cli_group="tokens")

token_schema = TokenSchema()
tokens_schema = TokenSchema(many=True)
created_token_schema = CreatedTokenSchema()
page_args_schema = pagination.PageArgsSchema()


@bp.post("")
@login_only  # a token must not mint tokens: a leaked one could outlive itself
@token_required
def create_token():
    """Mint a personal access token; its value is in this response only."""
    fields = token_schema.load(json_body())
    token, secret = services.create_token(
        current_caller().id,
        name=fields["name"],
        scopes=fields["scope_list"],
        expires_in=fields["expires_in"],
    )
    response = current_app.json.response(
        created_token_schema.dump(token) | {"token": secret}
    )
    response.status_code = 201
    response.headers["Location"] = url_for(".get_token", token_id=token.public_id)
    return no_store(response)


@bp.get("")
@login_only
@token_required
def list_tokens():
    """The caller's live personal access tokens, newest first (no values)."""
    args = pagination.parse_args(page_args_schema)
    page = pagination.paginate(services.list_tokens(current_caller().id), **args)
    return pagination.respond(page, tokens_schema.dump)


@bp.get("/<uuid:token_id>")
@login_only
@token_required
def get_token(token_id):
    """One of the caller's live personal access tokens; someone else's is 404."""
    return token_schema.dump(services.get_own_token(current_caller().id, token_id))


@bp.delete("/<uuid:token_id>")
@login_only
@token_required
def delete_token(token_id):
    """Revoke one of the caller's personal access tokens; it stops working now."""
    caller = current_caller()
    services.revoke_token(caller.id, caller.public_id, token_id)
    return "", 204


@bp.cli.command("purge")
@click.option("--days", default=30, show_default=True, type=click.IntRange(0))
def purge(days: int):
    """Delete personal access tokens expired or revoked more than DAYS days ago."""
    click.echo(f"Purged {services.purge_tokens(days)} personal access tokens.")
