import sqlalchemy as sa

from bookstore.auth.models import AuthSession, User
from bookstore.extensions import db
from tests.auth.helpers import API, move_clock
from tests.conftest import PASSWORD

ADMIN_PASSWORD = "a long admin passphrase"


def _user(app, username):
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        db.session.expunge_all()
        return user


def _create_admin(runner, username, *, password=None, input=None):
    return runner.invoke(
        args=["create-admin", username],
        env={"BOOKSTORE_ADMIN_PASSWORD": password},
        input=input,
    )


def test_create_admin_takes_the_password_from_the_environment(app, runner, client):
    result = _create_admin(runner, "boss", password=ADMIN_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "created" in result.output
    assert ADMIN_PASSWORD not in result.output
    assert _user(app, "boss").is_admin
    login = client.post(
        f"{API}/auth/login", json={"username": "boss", "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200


def test_create_admin_prompts_twice_without_echo(app, runner):
    result = _create_admin(runner, "boss", input=f"{ADMIN_PASSWORD}\n" * 2)

    assert result.exit_code == 0, result.output
    assert "Password:" in result.output
    assert "Repeat for confirmation:" in result.output
    assert ADMIN_PASSWORD not in result.output
    assert _user(app, "boss").is_admin


def test_create_admin_refuses_mismatched_prompts(app, runner):
    result = _create_admin(runner, "boss", input="first passphrase\nsecond one!\n")

    assert result.exit_code != 0
    assert "do not match" in result.output
    assert _user(app, "boss") is None


def _create_admin_promote(runner, username, *, password=None):
    return runner.invoke(
        args=["create-admin", "--promote", username],
        env={"BOOKSTORE_ADMIN_PASSWORD": password},
    )


def _login_status(client, username, password):
    response = client.post(
        f"{API}/auth/login", json={"username": username, "password": password}
    )
    return response.status_code


def test_create_admin_refuses_a_name_someone_registered_first_changing_nothing(
    app, runner, client, register
):
    register("Admin", "the attacker's passphrase")  # squatted before the operator

    result = _create_admin(runner, "admin", password=ADMIN_PASSWORD)

    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "--promote" in result.output
    squatter = _user(app, "Admin")
    assert not squatter.is_admin
    assert _login_status(client, "admin", ADMIN_PASSWORD) == 401
    assert _login_status(client, "Admin", "the attacker's passphrase") == 200


def test_create_admin_refuses_an_existing_name_without_prompting(app, runner, user):
    result = _create_admin(runner, "ALICE", input=f"{ADMIN_PASSWORD}\n" * 2)

    assert result.exit_code == 1
    assert "Password:" not in result.output
    assert not _user(app, "alice").is_admin


def test_create_admin_promote_makes_the_existing_user_admin_keeping_their_password(
    app, runner, client, user
):
    result = _create_admin_promote(runner, "ALICE", password=ADMIN_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "promoted" in result.output
    assert _user(app, "alice").is_admin
    assert _login_status(client, "alice", PASSWORD) == 200
    assert _login_status(client, "alice", ADMIN_PASSWORD) == 401


def test_create_admin_promote_on_an_admin_changes_nothing(app, runner, admin):
    result = _create_admin_promote(runner, "root-admin")

    assert result.exit_code == 0, result.output
    assert "already an admin" in result.output
    assert _user(app, "root-admin").is_admin


def test_create_admin_promote_creates_a_name_nobody_has(app, runner):
    result = _create_admin_promote(runner, "boss", password=ADMIN_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "created" in result.output
    assert _user(app, "boss").is_admin


def test_create_admin_refuses_a_weak_password_with_a_clear_message(app, runner):
    result = _create_admin(runner, "boss", password="password")

    assert result.exit_code != 0
    assert "password" in result.output
    assert "common" in result.output or "Length" in result.output
    assert _user(app, "boss") is None


def test_create_admin_refuses_an_invalid_username(app, runner):
    result = _create_admin(runner, "bad name!", password=ADMIN_PASSWORD)

    assert result.exit_code != 0
    assert "username" in result.output
    assert _user(app, "bad name!") is None


def test_purge_sessions_deletes_expired_and_revoked_sessions(
    app, runner, client, user, login, monkeypatch
):
    kept, revoked = login("alice"), login("alice")
    client.post(
        f"{API}/auth/logout",
        headers={"Authorization": f"Bearer {revoked['access_token']}"},
    )
    move_clock(monkeypatch, 60)

    result = runner.invoke(args=["purge-sessions"])

    assert result.exit_code == 0, result.output
    assert "Purged 1 sessions" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuthSession.id))) == 1
    response = client.get(
        f"{API}/users/me", headers={"Authorization": f"Bearer {kept['access_token']}"}
    )
    assert response.status_code == 200


def test_purge_sessions_deletes_sessions_past_their_refresh_lifetime(
    app, runner, user, login, monkeypatch
):
    login("alice")
    move_clock(monkeypatch, 15 * 24 * 3600)

    result = runner.invoke(args=["purge-sessions"])

    assert "Purged 1 sessions" in result.output
