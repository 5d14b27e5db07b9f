"""Account recovery finds accounts by email in any case, through an index on
lower(email), not by reading every row of users: on the schema the tests build
from the models and on the one the migrations build (0008)."""

import flask_migrate

from bookstore import create_app
from bookstore.extensions import db
from bookstore.recovery.services import ACCOUNTS_BY_EMAIL
from tests.databases import fresh_database


def _plan(statement) -> str:
    """The database's plan for `statement`, with sequential scans priced out on
    PostgreSQL (a few rows: it would rightly read them all)."""
    connection = db.session.connection()
    sql = str(
        statement.params(email="Alice@Example.com").compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {sql}").all()
    else:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
    db.session.rollback()
    return "\n".join(str(row[-1]) for row in rows)


def test_the_lookup_uses_the_lower_email_index(app):
    with app.app_context():
        plan = _plan(ACCOUNTS_BY_EMAIL)

    assert "ix_users_email_lower" in plan, plan


def test_the_migrations_create_the_lower_email_index(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            flask_migrate.upgrade()
            plan = _plan(ACCOUNTS_BY_EMAIL)
            db.engine.dispose()

    assert "ix_users_email_lower" in plan, plan
