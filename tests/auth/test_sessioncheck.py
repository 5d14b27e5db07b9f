"""The session check riding on a read: held to the check alone and the read alone."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from bookstore import clock
from bookstore.auth import sessioncheck
from bookstore.auth.guards import token_required
from bookstore.auth.models import AuthSession, User
from bookstore.books import listing, queries
from bookstore.books.models import Book
from bookstore.errors import NotFound
from bookstore.extensions import db
from bookstore.security.tokens import TokenExpired, TokenRevoked
from tests.conftest import bearer

API = "/api/v1"


def _claims(app, pair):
    from bookstore.security import tokens

    with app.test_request_context():
        return tokens.decode(pair["access_token"], tokens.ACCESS)


def _outcome(run):
    try:
        return run()
    except TokenRevoked:
        return "revoked"
    except TokenExpired:
        return "expired"


@pytest.mark.parametrize("sort", queries.SORTS)
@pytest.mark.parametrize("page", [1, 2, 4])
def test_a_page_with_the_check_is_the_page_alone(
    app, client, register, login, sort, page
):
    register("alice")
    pair = login("alice")
    for i in range(45):
        book = {"title": f"T{i % 7}", "author": f"A{i % 5}", "publisher": "P"}
        client.post(
            f"{API}/books", json={**book, "price": f"{i % 9}.50"}, headers=bearer(pair)
        )
    claims = _claims(app, pair)
    params = {"limit": 20, "offset": (page - 1) * 20}
    guarded = listing._UNFILTERED_PAGE[sort]

    with app.test_request_context():
        g.read_only = True
        sessioncheck.defer(claims["sub"], claims["sid"])
        combined = [tuple(row)[:9] for row in guarded.rows(params)]
        caller = sessioncheck.settle().user
        alone = db.session.execute(guarded.plain, {**params, "owner_id": caller.id})
        alone = [tuple(row) for row in alone]

    assert combined == alone
    assert len(alone) == {1: 20, 2: 20, 4: 0}[page]


@pytest.mark.parametrize(
    "change", ["alive", "revoked", "expired", "disabled", "other_subject"]
)
def test_the_check_in_a_read_decides_as_the_check_alone(app, register, login, change):
    register("alice")
    bob = register("bobby")
    claims = _claims(app, login("alice"))
    subject = bob["id"] if change == "other_subject" else claims["sub"]
    with app.app_context():
        sid = uuid.UUID(claims["sid"])
        if change == "revoked":
            db.session.execute(
                sa.update(AuthSession)
                .where(AuthSession.public_id == sid)
                .values(revoked_at=clock.utcnow())
            )
        if change == "expired":
            db.session.execute(
                sa.update(AuthSession)
                .where(AuthSession.public_id == sid)
                .values(expires_at=clock.utcnow() - timedelta(seconds=1))
            )
        if change == "disabled":
            db.session.execute(
                sa.update(User).where(User.username == "alice").values(is_active=False)
            )
        db.session.commit()

    def combined():
        g.read_only = True
        sessioncheck.defer(subject, claims["sid"])
        listing._UNFILTERED_PAGE["title"].rows({"limit": 20, "offset": 0})
        return sessioncheck.settle()

    with app.test_request_context():
        via_read = _outcome(combined)
    with app.test_request_context():
        alone = _outcome(lambda: sessioncheck.check_now(subject, claims["sid"]))

    assert via_read == alone
    assert alone == {"alive": alone, "expired": "expired"}.get(change, "revoked")
    assert (alone in {"revoked", "expired"}) == (change != "alive")


def test_a_read_only_view_that_reads_nothing_or_fails_still_checks_the_session(
    app, client, register, login
):
    @app.get("/_test/reads-nothing")
    @token_required
    def reads_nothing():
        return {"ok": True}

    @app.get("/_test/not-found")
    @token_required
    def not_found():
        raise NotFound("Nothing here.")

    register("alice")
    headers = bearer(login("alice"))
    alive = [client.get(p, headers=headers) for p in ("/_test/reads-nothing",)]
    client.post(f"{API}/auth/logout", headers=headers)

    nothing = client.get("/_test/reads-nothing", headers=headers)
    failing = client.get("/_test/not-found", headers=headers)

    assert alive[0].status_code == 200
    assert (nothing.status_code, nothing.json["code"]) == (401, "token_revoked")
    assert (failing.status_code, failing.json["code"]) == (401, "token_revoked")


@pytest.mark.parametrize("change", ["revoked", "expired", "disabled"])
def test_a_create_with_a_dead_session_is_401_and_writes_nothing(
    app, client, register, login, change
):
    register("alice")
    pair = login("alice")
    claims = _claims(app, pair)
    with app.app_context():
        sid = uuid.UUID(claims["sid"])
        sessions = sa.update(AuthSession).where(AuthSession.public_id == sid)
        db.session.execute(
            {
                "revoked": sessions.values(revoked_at=clock.utcnow()),
                "expired": sessions.values(
                    expires_at=clock.utcnow() - timedelta(seconds=1)
                ),
                "disabled": sa.update(User)
                .where(User.username == "alice")
                .values(is_active=False),
            }[change]
        )
        db.session.commit()

    response = client.post(
        f"{API}/books",
        json={"title": "Dune", "author": "F", "publisher": "P", "price": "1.00"},
        headers=bearer(pair),
    )

    assert response.status_code == 401
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Book)) == 0
