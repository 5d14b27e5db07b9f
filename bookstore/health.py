"""Blueprint "health": liveness (/healthz) and readiness (/readyz)."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, current_app
from sqlalchemy.exc import DBAPIError

import serving
from bookstore.errors import ServiceUnavailable
from bookstore.extensions import MIGRATIONS, db, limiter

bp = Blueprint("health", __name__)
log = logging.getLogger("bookstore.health")


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. Touches nothing else."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers at the latest migration, and the shared
    rate-limit store answers (logins refuse to run without it).

    From SIGTERM on it answers 503, so a load balancer stops routing here."""
    if serving.draining():
        raise ServiceUnavailable("The service is shutting down.")
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            current = _schema_revisions(connection)
    except DBAPIError:
        log.warning("readiness: database unreachable", exc_info=True)
        raise ServiceUnavailable("The database is unreachable.") from None
    if current != _head_revisions():
        raise ServiceUnavailable("The database schema is not at the latest migration.")
    if not _limit_store_answers():
        log.warning("readiness: rate-limit store unreachable")
        raise ServiceUnavailable("The rate-limit store is unreachable.")
    return {"status": "ready"}


def _limit_store_answers() -> bool:
    config = current_app.config
    if not config["RATELIMIT_ENABLED"]:
        return True
    if config["RATELIMIT_STORAGE_URI"].startswith("memory:"):
        return True  # in-process: it answers if we do
    return limiter.storage.check()  # a ping, bounded by the store's socket timeout


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
    """The migration heads shipped with this code, read once per app.

    Read from the revision files directly: importing Alembic in every worker for
    this would cost more memory than the rest of the request path.
    """
    cache = current_app.extensions.setdefault("bookstore", {})
    if "heads" not in cache:
        cache["heads"] = heads(MIGRATIONS / "versions")
    return cache["heads"]


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*=\s*(.+)$", re.MULTILINE)


def heads(versions: Path) -> set[str]:
    """Revisions no other revision names as its down_revision."""
    revisions, parents = set(), set()
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(ast.literal_eval(found["revision"]))
            down = ast.literal_eval(found.get("down_revision", "None"))
            parents.update(down if isinstance(down, tuple | list) else [down])
    return revisions - parents
