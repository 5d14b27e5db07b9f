"""Small helpers shared by the auth tests: moving the clock, disabling users."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bookstore import clock
from bookstore.auth.models import AuthSession, User
from bookstore.extensions import db

API = "/api/v1"


REAL_UTCNOW = clock.utcnow


def move_clock(monkeypatch, seconds: float) -> None:
    """Move the app's clock `seconds` ahead of the real one."""
    monkeypatch.setattr(
        clock, "utcnow", lambda: REAL_UTCNOW() + timedelta(seconds=seconds)
    )


def set_active(app, username: str, active: bool) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(User).where(User.username == username).values(is_active=active)
        )
        db.session.commit()


def stored_hash(app, username: str) -> str:
    with app.app_context():
        return db.session.scalar(
            sa.select(User.password_hash).where(User.username == username)
        )


def set_hash(app, username: str, password_hash: str) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(User)
            .where(User.username == username)
            .values(password_hash=password_hash)
        )
        db.session.commit()


def session_rows(app) -> list[AuthSession]:
    with app.app_context():
        rows = db.session.scalars(sa.select(AuthSession)).all()
        db.session.expunge_all()
        return rows


def refresh(client, pair: dict):
    return client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )


def me(client, pair_or_token):
    token = (
        pair_or_token["access_token"]
        if isinstance(pair_or_token, dict)
        else pair_or_token
    )
    return client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})
