"""The floor under a PostgreSQL read: the bare ceiling plus one round trip.

The bare-Flask ceiling's endpoint (bench/bare_app.py, the same JSON), which
first runs one prepared statement on PostgreSQL through libpq directly
(psycopg's `pgconn`): Bookstore's own list or get statement, with its session
check, for a seeded user. No auth, pool, cursor, row loading or hooks: what is
left is the round trip itself (the client's and the server's work, the kernel
on both sides). How close an app can come to the ceiling with one round trip
per request on this machine; bench/floor.py drives it.

    FLOOR_DSN          libpq connection string of the bench's database
    FLOOR_STATEMENTS   JSON {name: [sql with $n, [text parameters], rows]}
"""

from __future__ import annotations

import json
import os

import psycopg
from flask import Flask, jsonify

from bench.bare_app import PAYLOAD

app = Flask(__name__)
STATEMENTS = json.loads(os.environ.get("FLOOR_STATEMENTS", "{}"))
_connection: psycopg.Connection | None = None


def _pgconn():
    global _connection
    if _connection is None:  # in the worker, after the fork
        _connection = psycopg.connect(os.environ["FLOOR_DSN"], autocommit=True)
        for name, (sql, _, _) in STATEMENTS.items():
            result = _connection.pgconn.prepare(name.encode(), sql.encode())
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                raise RuntimeError(result.error_message.decode())
    return _connection.pgconn


@app.get("/floor/<name>")
def floor(name: str):
    _, params, rows = STATEMENTS[name]
    result = _pgconn().exec_prepared(name.encode(), [p.encode() for p in params])
    if result.ntuples != rows:  # the statement must find what Bookstore finds
        return {"error": result.error_message.decode(), "rows": result.ntuples}, 500
    return jsonify(PAYLOAD)
