"""Flask CLI commands: `flask create-admin`, `flask purge-sessions`, and the rest
registered here (`import-legacy`, `demo`)."""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import with_appcontext

from bookstore import demo, legacy
from bookstore.auth import services
from bookstore.errors import APIError
from bookstore.extensions import db
from bookstore.logs import audit


@click.command("create-admin")
@click.argument("username")
@with_appcontext  # plain click commands added to app.cli get no app context
def create_admin(username: str) -> None:
    """Create an admin USERNAME, or promote an existing user to admin.

    The password comes from $BOOKSTORE_ADMIN_PASSWORD, else a hidden prompt (twice).
    An existing user keeps their password.
    """
    user = services.find_user(username)
    if user is None:
        password = os.environ.get("BOOKSTORE_ADMIN_PASSWORD") or click.prompt(
            "Password", hide_input=True, confirmation_prompt=True
        )
        try:
            user = services.register_user(username=username, password=password)
        except APIError as exc:
            messages = "; ".join(
                f"{field}: {' '.join(msgs)}"
                for field, msgs in (exc.errors or {}).items()
            )
            raise click.ClickException(messages or exc.detail) from None
        action = "created"
    else:
        action = "promoted"
    user.is_admin = True
    db.session.commit()
    audit("admin_" + action, user_id=str(user.public_id))
    click.echo(f"Admin {user.username!r} {action} (id {user.public_id}).")


@click.command("purge-sessions")
@with_appcontext
def purge_sessions() -> None:
    """Delete expired and revoked login sessions."""
    click.echo(f"Purged {services.purge_sessions()} sessions.")


def register(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(purge_sessions)
    app.cli.add_command(legacy.import_legacy)
    app.cli.add_command(demo.demo)
