import os
import subprocess
import sys
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bookstore import create_app
from bookstore.books.search import comparing, include_object
from bookstore.extensions import db
from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_database(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        yield url


def _differences(app) -> list:
    with db.engine.connect() as connection, comparing():
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": include_object},
        )
        return compare_metadata(context, db.metadata)


def _tables(app) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_gives_exactly_the_models_schema(empty_database):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        flask_migrate.upgrade()

        assert _differences(app) == []
        db.engine.dispose()


def test_downgrade_to_base_and_upgrade_again(empty_database):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        flask_migrate.upgrade()

        flask_migrate.downgrade(revision="base")
        assert _tables(app) <= {"alembic_version"}

        flask_migrate.upgrade()
        assert {"users", "books"} <= _tables(app)
        assert _differences(app) == []
        db.engine.dispose()


def test_readyz_is_503_before_migration_and_200_after(empty_database):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    client = app.test_client()

    before = client.get("/readyz")
    with app.app_context():
        flask_migrate.upgrade()
    after = client.get("/readyz")

    assert before.status_code == 503
    assert before.json["code"] == "service_unavailable"
    assert "migration" in before.json["detail"]
    assert after.status_code == 200
    assert after.json == {"status": "ready"}
    with app.app_context():
        db.engine.dispose()


def test_readyz_is_503_when_the_database_is_unreachable():
    app = create_app(
        "testing", SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent/dir/db.sqlite3"
    )

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["detail"] == "The database is unreachable."


def test_flask_db_upgrade_command_on_an_empty_database(empty_database):
    env = {**os.environ, "BOOKSTORE_ENV": "development", "DATABASE_URL": empty_database}

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        assert _differences(app) == []
        db.engine.dispose()


def test_readyz_reads_the_same_heads_as_alembic():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bookstore.extensions import MIGRATIONS
    from bookstore.health import heads

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    assert heads(MIGRATIONS / "versions") == set(
        ScriptDirectory.from_config(config).get_heads()
    )
    assert len(heads(MIGRATIONS / "versions")) == 1
