import sqlalchemy as sa

from bookstore.demo import BOOKS, DEFAULT_PASSWORD
from bookstore.extensions import db

API = "/api/v1"


def _login(client, password=DEFAULT_PASSWORD):
    return client.post(
        f"{API}/auth/login", json={"username": "demo", "password": password}
    )


def test_demo_creates_a_user_with_a_shelf_of_books(runner, client):
    result = runner.invoke(args=["demo"])

    token = _login(client).json["access_token"]
    listed = client.get(
        f"{API}/books?per_page=100", headers={"Authorization": f"Bearer {token}"}
    )
    assert result.exit_code == 0, result.output
    assert f"{len(BOOKS)} books added" in result.output
    assert listed.status_code == 200
    assert listed.json["total"] == len(BOOKS) >= 24
    assert {book["title"] for book in listed.json["items"]} == {b[0] for b in BOOKS}


def test_demo_is_idempotent(app, runner):
    runner.invoke(args=["demo"])

    again = runner.invoke(args=["demo"])

    assert again.exit_code == 0, again.output
    assert "0 books added" in again.output
    with app.app_context():
        total = db.session.scalar(sa.text("SELECT count(*) FROM books"))
    assert total == len(BOOKS)


def test_demo_takes_its_password_from_the_environment_and_does_not_print_it(
    runner, client
):
    result = runner.invoke(
        args=["demo"], env={"BOOKSTORE_DEMO_PASSWORD": "my own demo pass"}
    )

    assert result.exit_code == 0, result.output
    assert "my own demo pass" not in result.output
    assert _login(client, "my own demo pass").status_code == 200


def test_demo_never_writes_to_someone_elses_demo_account(app, runner, register):
    register("demo", "a stranger's password")

    result = runner.invoke(args=["demo"])

    assert result.exit_code == 1
    assert "another password" in result.output
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM books")) == 0


def test_demo_is_refused_in_production(make_app):
    app = make_app(
        ENV_NAME="production", PASSWORD_HASH_MEMORY_KIB=19456, PASSWORD_HASH_TIME_COST=2
    )

    result = app.test_cli_runner().invoke(args=["demo"])

    assert result.exit_code == 1
    assert "refused in production" in result.output


def test_make_demo_fills_the_database_make_run_serves(tmp_path):
    """The README's quick start: `make demo` beside `make run` (both in the
    development configuration; a bare `flask --app wsgi` is production)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    database = tmp_path / "demo.sqlite3"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{database}",
    }
    make = ["make", "-s", "-o", "install", f"BIN={Path(sys.executable).parent}"]
    root = Path(__file__).resolve().parent.parent

    first = subprocess.run([*make, "demo"], cwd=root, env=env, capture_output=True)
    again = subprocess.run([*make, "demo"], cwd=root, env=env, capture_output=True)

    assert first.returncode == 0, first.stderr.decode()
    assert f"{len(BOOKS)} books added" in first.stdout.decode()
    assert again.returncode == 0 and "0 books added" in again.stdout.decode()
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        owners = connection.execute(
            sa.text(
                "SELECT u.username, count(b.id) FROM users u"
                " JOIN books b ON b.owner_id = u.id GROUP BY u.username"
            )
        ).all()
    engine.dispose()
    assert owners == [("demo", len(BOOKS))]
