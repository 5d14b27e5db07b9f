"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import os
import sys

import config
from bookstore import create_app

try:
    app = create_app(os.environ.get("BOOKSTORE_ENV", "production"))
except config.ConfigError as exc:
    print(f"bookstore: refusing to start: {exc}", file=sys.stderr)
    # 4 is gunicorn's "app failed to load": the arbiter stops instead of respawning
    # workers forever; `flask` commands exit non-zero with the message above.
    raise SystemExit(4) from None
