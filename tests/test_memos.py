import json
import secrets
from datetime import timedelta

from bookstore import clock, memo, pagination
from bookstore.auth.pats import guard as pat_guard
from bookstore.auth.pats import value
from bookstore.security import tokens
from tests.auth.helpers import API, me, move_clock
from tests.auth.pats import TOKENS, mint, pat
from tests.conftest import bearer
from tests.security.forge import b64, claims_of, header_of

BOOKS = f"{API}/books"


def _memo(app, name: str) -> dict:
    return app.extensions.get(memo.EXTENSION, {}).get(name, {})


def _forged(token: str, i: int) -> str:
    """Our token's header and claims, with a signature of our key it never had."""
    head, payload, _ = token.split(".")
    if i % 2:  # a header of its own too, still naming our key
        header = {**header_of(token), "x": i}
        head = b64(json.dumps(header).encode())
    return f"{head}.{payload}.{b64(secrets.token_bytes(32))}"


def test_a_full_memo_is_emptied_before_its_next_entry():
    kept = memo.Memo(3)

    for key in "abcd":
        kept.remember(key, key.upper())

    assert kept == {"d": "D"}


def test_forged_tokens_never_enter_the_token_memos(app, client, auth_headers):
    genuine = auth_headers["Authorization"].removeprefix("Bearer ")
    assert client.get(BOOKS, headers=auth_headers).status_code == 200

    refused = {
        client.get(BOOKS, headers=bearer({"access_token": _forged(genuine, i)})).json[
            "code"
        ]
        for i in range(2000)
    }

    assert refused == {"invalid_token"}
    assert list(_memo(app, tokens.VERIFIED)) == [genuine]
    assert list(_memo(app, tokens.HEADERS)) == [genuine.partition(".")[0]]


def test_the_verified_token_memo_stays_within_its_bound(app, client, login, user):
    claims = claims_of(login("alice")["access_token"])
    with app.app_context():
        issued = [
            tokens.issue(
                tokens.ACCESS,
                subject=claims["sub"],
                session_id=claims["sid"],
                expires_at=clock.utcnow() + timedelta(minutes=5),
            )
            for _ in range(tokens.VERIFIED_CACHE_SIZE + 100)
        ]

    statuses = {me(client, token).status_code for token in issued}

    assert statuses == {200}
    kept = _memo(app, tokens.VERIFIED)
    assert 0 < len(kept) <= tokens.VERIFIED_CACHE_SIZE
    assert issued[-1] in kept


def test_a_remembered_token_is_refused_once_it_expires(
    app, client, login, user, monkeypatch
):
    pair = login("alice")
    assert me(client, pair).status_code == 200
    assert pair["access_token"] in _memo(app, tokens.VERIFIED)

    move_clock(monkeypatch, app.config["JWT_ACCESS_TTL"] + app.config["JWT_LEEWAY"])
    response = me(client, pair)

    assert (response.status_code, response.json["code"]) == (401, "token_expired")


def test_a_remembered_token_is_refused_once_its_session_is_revoked(
    app, client, auth_headers
):
    assert client.get(BOOKS, headers=auth_headers).status_code == 200

    client.post(f"{API}/auth/logout", headers=auth_headers)
    response = client.get(BOOKS, headers=auth_headers)

    assert (response.status_code, response.json["code"]) == (401, "token_revoked")


def test_expired_and_wrong_type_tokens_are_never_remembered(
    app, client, login, user, monkeypatch
):
    pair = login("alice")

    wrong_type = me(client, pair["refresh_token"])
    move_clock(monkeypatch, app.config["JWT_ACCESS_TTL"] + app.config["JWT_LEEWAY"])
    expired = me(client, pair)

    assert (wrong_type.status_code, wrong_type.json["code"]) == (401, "invalid_token")
    assert (expired.status_code, expired.json["code"]) == (401, "token_expired")
    assert _memo(app, tokens.VERIFIED) == {}


def test_two_apps_never_share_memos_and_a_key_rotation_is_picked_up(make_app):
    old_secret, new_secret = secrets.token_hex(32), secrets.token_hex(32)
    first = make_app(SECRET_KEY=old_secret)
    client = first.test_client()
    credentials = {"username": "alice", "password": "correct horse battery staple"}
    client.post(f"{API}/auth/register", json=credentials)
    pair = client.post(f"{API}/auth/login", json=credentials).json
    assert me(client, pair).status_code == 200  # remembered by the first app

    other = make_app(SECRET_KEY=new_secret)  # same database: the session is live
    rotated = make_app(SECRET_KEY=new_secret, JWT_PREVIOUS_SECRETS=[old_secret])
    refused = me(other.test_client(), pair)
    accepted = me(rotated.test_client(), pair)

    assert (refused.status_code, refused.json["code"]) == (401, "invalid_token")
    assert accepted.status_code == 200
    assert _memo(other, tokens.VERIFIED) == {}
    assert list(_memo(rotated, tokens.VERIFIED)) == [pair["access_token"]]


def test_the_query_argument_memo_keeps_successes_only_within_its_bound(
    app, client, auth_headers
):
    malformed = {
        client.get(f"{BOOKS}?page=0&x={i}", headers=auth_headers).status_code
        for i in range(100)
    }
    assert malformed == {400}
    assert _memo(app, pagination.LOADED) == {}

    pages = {
        client.get(f"{BOOKS}?page={page}", headers=auth_headers).status_code
        for page in range(1, pagination.LOADED_CACHE_SIZE + 101)
    }

    assert pages == {200}
    assert 0 < len(_memo(app, pagination.LOADED)) <= pagination.LOADED_CACHE_SIZE


def test_the_pat_digest_memo_skips_malformed_tokens_within_its_bound(app, client):
    typo = value.mint()[:-1] + "0"
    unknown = [value.mint() for _ in range(pat_guard.DIGEST_CACHE_SIZE + 100)]

    refused = {client.get(BOOKS, headers=pat(typo)).json["code"]} | {
        client.get(BOOKS, headers=pat(token)).json["code"] for token in unknown
    }

    assert refused == {"invalid_token"}
    kept = _memo(app, pat_guard.DIGESTS)
    assert typo not in kept
    assert 0 < len(kept) <= pat_guard.DIGEST_CACHE_SIZE


def test_a_remembered_pat_is_refused_once_deleted(app, client, auth_headers):
    body = mint(client, auth_headers, scopes=["books:read"])
    assert client.get(BOOKS, headers=pat(body)).status_code == 200
    assert body["token"] in _memo(app, pat_guard.DIGESTS)

    client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
    response = client.get(BOOKS, headers=pat(body))

    assert (response.status_code, response.json["code"]) == (401, "token_revoked")
