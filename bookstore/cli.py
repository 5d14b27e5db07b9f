"""Flask CLI commands: `flask create-admin`, `flask purge-sessions`, and the rest
registered here (`import-legacy`, `demo`)."""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import with_appcontext

from bookstore import demo, legacy
from bookstore.auth import accounts, sessions
from bookstore.errors import APIError
from bookstore.extensions import db
from bookstore.logs import audit


@click.command("create-admin")
@click.argument("username")
@click.option(
    "--promote",
    is_flag=True,
    help="If USERNAME exists, make that user an admin (their password is kept).",
)
@with_appcontext  # plain click commands added to app.cli get no app context
def create_admin(username: str, promote: bool) -> None:
    """Create an admin USERNAME (password from $BOOKSTORE_ADMIN_PASSWORD, else a
    hidden prompt, twice).

    An existing USERNAME (any case) is refused, nothing changed, unless --promote:
    whoever registered the name first must not become admin by accident.
    """
    user = accounts.find_user(username)
    if user is not None:
        _promote(user, username, promote)
        return
    password = os.environ.get("BOOKSTORE_ADMIN_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    try:
        user = accounts.register_user(
            username=username, password=password, is_admin=True
        )
    except APIError as exc:  # policy, or the name was registered meanwhile
        messages = "; ".join(
            f"{field}: {' '.join(msgs)}" for field, msgs in (exc.errors or {}).items()
        )
        raise click.ClickException(messages or exc.detail) from None
    audit("admin_created", user_id=str(user.public_id))
    click.echo(f"Admin {user.username!r} created (id {user.public_id}).")


def _promote(user, requested: str, promote: bool) -> None:
    if not promote:
        raise click.ClickException(
            f"A user {user.username!r} already exists (names are compared "
            f"case-insensitively with {requested!r}); nothing was changed. Run "
            "again with --promote to make that user an admin (their password is "
            "kept)."
        )
    if user.is_admin:
        click.echo(f"{user.username!r} is already an admin (id {user.public_id}).")
        return
    user.is_admin = True
    db.session.commit()
    audit("admin_promoted", user_id=str(user.public_id))
    note = "" if user.is_active else " The account is disabled: enable it to use it."
    click.echo(f"Admin {user.username!r} promoted (id {user.public_id}).{note}")


@click.command("purge-sessions")
@with_appcontext
def purge_sessions() -> None:
    """Delete expired and revoked login sessions."""
    click.echo(f"Purged {sessions.purge_sessions()} sessions.")


def register(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(purge_sessions)
    app.cli.add_command(legacy.import_legacy)
    app.cli.add_command(demo.demo)
