"""Alembic environment: runs inside the Flask app, on its engine and metadata."""

import logging
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

from bookstore.books.search import comparing, include_object
from bookstore.extensions import MIGRATION_LOCK

config = context.config
# Keep the app's loggers alive: fileConfig would otherwise disable them.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url",
    target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%"),
)


def run_migrations_offline():
    """Emit SQL for the migrations without a database connection."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_db.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on the app's engine."""

    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    # The search indexes (trigram GIN, FTS5) are DDL outside the models' metadata.
    conf_args.setdefault("include_object", include_object)

    with target_db.engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_db.metadata, **conf_args
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                _wait_for_other_migrators(connection)
            with comparing():  # `flask db migrate` and `check` compare
                context.run_migrations()


def _wait_for_other_migrators(connection):
    """Take the migration lock for this transaction; wait while another process
    holds it. Alembic reads the schema's version after this, so a process that
    waited finds the work done and does nothing."""
    # A migration is an operator's command, not a request: no request deadline
    # on the wait or on the DDL (for this transaction only).
    connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
    connection.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
    )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
