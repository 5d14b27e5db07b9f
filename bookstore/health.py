"""Blueprint "health": liveness (/healthz) and readiness (/readyz)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app
from flask_migrate import Migrate
from sqlalchemy.exc import DBAPIError

from bookstore.errors import ServiceUnavailable
from bookstore.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger("bookstore.health")


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. Touches nothing else."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers and its schema is at the latest migration."""
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            current = _schema_revisions(connection)
    except DBAPIError:
        log.warning("readiness: database unreachable", exc_info=True)
        raise ServiceUnavailable("The database is unreachable.") from None
    if current != _head_revisions():
        raise ServiceUnavailable("The database schema is not at the latest migration.")
    return {"status": "ready"}


def _schema_revisions(connection: sa.Connection) -> set[str]:
    try:
        with connection.begin_nested():
            rows = connection.execute(
                sa.text("SELECT version_num FROM alembic_version")
            )
            return {row[0] for row in rows}
    except DBAPIError:  # no alembic_version table: never migrated
        return set()


def _head_revisions() -> set[str]:
    """The migration heads shipped with this code, read once per app."""
    cache = current_app.extensions.setdefault("bookstore", {})
    if "heads" not in cache:
        migrate: Migrate = current_app.extensions["migrate"].migrate
        config = migrate.get_config()
        cache["heads"] = set(ScriptDirectory.from_config(config).get_heads())
    return cache["heads"]
