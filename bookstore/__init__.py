"""Bookstore: a JSON web API for a bookstore, with token authentication."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

import config
from bookstore import (
    auth,
    books,
    cli,
    errors,
    health,
    hooks,
    logs,
    mail,
    memo,
    metrics,
    openapi,
    recovery,
    users,
)
from bookstore.auth.pats.routes import bp as tokens_bp
from bookstore.extensions import (
    db,
    drop_idle_limit_hook,
    engine_options,
    init_migrations,
    limit_hooks_only_when_checked,
    limit_store_options,
    limiter,
)
from bookstore.response import APIResponse
from bookstore.web import APIRequest, FastJSON, NoSessions

API = "/api/v1"
EXPOSED_HEADERS = [
    "ETag",
    "Link",
    "Location",
    "Retry-After",
    "X-Request-ID",
    "X-Total-Count",
]


class Bookstore(Flask):
    """Flask, deciding once per view or hook whether it is async, not per call.

    Flask asks inspect.iscoroutinefunction() of every hook and the view on every
    request, a visible share of a short request such as a 401. Its docs invite
    overriding ensure_sync; the answer for a given function never changes.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Views and hooks: a fixed, small set. Held here too: this runs per call.
        self._sync = memo.cache("flask.ensure_sync", 1024, app=self)

    def ensure_sync(self, func):
        synced = self._sync.get(func)
        if synced is None:
            synced = self._sync.remember(func, super().ensure_sync(func))
        return synced


def create_app(env: str | None = None, **overrides) -> Flask:
    """Build an app for `env` (default: $BOOKSTORE_ENV, else "development")."""
    app = Bookstore(__name__, instance_relative_config=True, static_folder=None)
    app.request_class = APIRequest
    app.response_class = APIResponse
    app.json = FastJSON(app)
    app.session_interface = NoSessions()
    app.config.from_object(config.for_env(env))
    app.config.update(overrides)
    config.check(app.config)  # refuses to start on a weak production SECRET_KEY
    _database(app)
    logs.configure(app.config["LOG_LEVEL"])

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.driver == "psycopg":
            # Imported for PostgreSQL only: psycopg would cost a SQLite worker
            # about 9 MiB of memory (bench/README.md, "Worker memory").
            from bookstore import deadline

            deadline.register(app, db.engine)
    init_migrations(app)
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS",
        limit_store_options(app.config["RATELIMIT_STORAGE_URI"]),
    )
    limiter.init_app(app)
    errors.register(app)
    hooks.register(app)
    metrics.register(app)
    app.register_blueprint(auth.bp, url_prefix=f"{API}/auth")
    app.register_blueprint(tokens_bp, url_prefix=f"{API}/auth/tokens")
    app.register_blueprint(recovery.bp, url_prefix=f"{API}/auth")
    app.register_blueprint(users.bp, url_prefix=f"{API}/users")
    app.register_blueprint(books.bp, url_prefix=f"{API}/books")
    app.register_blueprint(health.bp)
    openapi.register(app)
    cli.register(app)
    mail.register(app)
    drop_idle_limit_hook(app)  # after every route and its limits are registered
    limit_hooks_only_when_checked(app)
    if app.config["CORS_ORIGINS"]:
        CORS(
            app,
            resources={f"{API}/*": {"origins": app.config["CORS_ORIGINS"]}},
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def _database(app: Flask) -> None:
    """Default to a SQLite file in the instance folder; set engine options."""
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        path = Path(app.instance_path) / "bookstore.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config),
    )
