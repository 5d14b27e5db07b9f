"""Two admins removing each other at the same instant leave at least one admin:
real gunicorn workers, one database connection each, on SQLite and PostgreSQL."""

import contextlib
import functools

import pytest
import sqlalchemy as sa

from bookstore import create_app
from bookstore.auth.models import User
from bookstore.extensions import db
from tests.reliability.servers import bearer, race

ROUNDS = 6


@contextlib.contextmanager
def _database(url):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        try:
            yield db.session
        finally:
            db.session.remove()
            db.engine.dispose()


def _set_admin(url, usernames, is_admin=True):
    with _database(url) as session:
        query = sa.update(User).values(is_admin=is_admin)
        if usernames is not None:
            query = query.where(User.username.in_(usernames))
        session.execute(query)
        session.commit()


def _active_admins(url) -> int:
    with _database(url) as session:
        return session.scalar(
            sa.select(sa.func.count()).where(User.is_admin, User.is_active)
        )


def _two_admins(server, url, round_):
    names = [f"boss{round_}a", f"boss{round_}b"]
    ids = [server.register(name).body["id"] for name in names]
    _set_admin(url, names)
    headers = [bearer(server.login(name)) for name in names]
    return ids, headers


def _remove(server, how, ids, headers, i):
    """Admin i removes the other admin (or, delete-themselves, themself)."""
    target = ids[i] if how == "delete-themselves" else ids[1 - i]
    path = f"/api/v1/users/{target}"
    if how == "demote":
        return server.call("PATCH", path, {"is_admin": False}, headers[i])
    if how == "disable":
        return server.call("PATCH", path, {"is_active": False}, headers[i])
    return server.call("DELETE", path, headers=headers[i])


@pytest.fixture
def server(gunicorn, served_database):
    return gunicorn(DATABASE_URL=served_database, GUNICORN_WORKERS="4")


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    ["demote", "disable", "delete-each-other", "delete-themselves"],
)
def test_two_admins_removing_admins_at_once_leave_one(server, served_database, how):
    for round_ in range(ROUNDS):
        ids, headers = _two_admins(server, served_database, round_)

        responses = race(2, functools.partial(_remove, server, how, ids, headers))

        statuses = sorted(r.status for r in responses)
        assert _active_admins(served_database) == 1, (how, round_, statuses)
        assert statuses[0] in (200, 204), statuses
        assert statuses[1] in (401, 403, 404, 409), statuses  # refused, not 5xx
        # the next round's pair are the only admins that can be removed
        _set_admin(served_database, None, is_admin=False)
