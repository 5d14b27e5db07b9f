"""The floor under a PostgreSQL request: the bare ceiling plus one round trip.

The bare-Flask ceiling's endpoint (bench/bare_app.py, the same JSON), which
first runs one prepared statement on PostgreSQL through libpq directly
(psycopg's `pgconn`): Bookstore's own list or get statement, with its session
check, for a seeded user. No auth, pool, cursor, row loading or hooks: what is
left is the round trip itself (the client's and the server's work, the kernel
on both sides). How close an app can come to the ceiling with one round trip
per request on this machine; bench/floor.py drives it.

The same for a create (`POST /floor/create`): the JSON body read, Bookstore's
own one-statement create (the session check, the room check and the INSERT, in
autocommit: a commit per request) with a fresh public id, and a 201 with the
book. `POST /floor/create_limited` also runs the per-user write limit's Redis
script first, on a held connection, as Bookstore does at its defaults: the two
round trips a create cannot do without. `POST /floor/insert` runs the INSERT
alone (no session or room check), for what the checks cost the server.

    FLOOR_DSN          libpq connection string of the bench's database
    FLOOR_STATEMENTS   JSON {name: [sql with $n, [text parameters], rows, fresh]}
                       (fresh: the parameter numbers given a new uuid4 per request)
    FLOOR_REDIS_URL    the write limit's Redis, for create_limited
    FLOOR_LIMIT        JSON [keys, args] of the write limit's script (its
                       arguments but the first, the time)
"""

from __future__ import annotations

import json
import os
import time
import uuid

import psycopg
import redis
from flask import Flask, jsonify, request

from bench.bare_app import PAYLOAD

# Imported with the app (gunicorn preloads it), not by each worker's first write.
from bookstore.write_limits import _ACQUIRE_ALL_SHA, ACQUIRE_ALL

app = Flask(__name__)
STATEMENTS = json.loads(os.environ.get("FLOOR_STATEMENTS", "{}"))
LIMIT_KEYS, LIMIT_ARGS = json.loads(os.environ.get("FLOOR_LIMIT", "[[], []]"))
_connection: psycopg.Connection | None = None
_redis = None


def _pgconn():
    global _connection
    if _connection is None:  # in the worker, after the fork
        _connection = psycopg.connect(os.environ["FLOOR_DSN"], autocommit=True)
        for name, (sql, *_) in STATEMENTS.items():
            result = _connection.pgconn.prepare(name.encode(), sql.encode())
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                raise RuntimeError(result.error_message.decode())
    return _connection.pgconn


def _run(name: str, last: bytes | None = None):
    """Run statement `name`; an error response unless it found what Bookstore
    finds (the statement must do the same work: its rows, and `last` in the
    first row's last column), else None."""
    _, params, rows, fresh = STATEMENTS[name]
    values = [None if p is None else p.encode() for p in params]
    for index in fresh:
        values[index] = str(uuid.uuid4()).encode()
    result = _pgconn().exec_prepared(name.encode(), values)
    if result.ntuples != rows or (
        last is not None and result.get_value(0, result.nfields - 1) != last
    ):
        return {"error": result.error_message.decode(), "rows": result.ntuples}, 500
    return None


@app.get("/floor/<name>")
def floor(name: str):
    return _run(name) or jsonify(PAYLOAD)


def _write_limit() -> None:
    """The write limit's script (bookstore/write_limits.py) on a held connection."""
    global _redis
    if _redis is None:  # in the worker, after the fork
        client = redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])
        _redis = client.connection_pool.make_connection()
        _redis.send_command("SCRIPT", "LOAD", ACQUIRE_ALL)
        _redis.read_response()
    _redis.send_command(
        "EVALSHA",
        _ACQUIRE_ALL_SHA,
        len(LIMIT_KEYS),
        *LIMIT_KEYS,
        time.time(),
        *LIMIT_ARGS,
    )
    if _redis.read_response() != 0:
        raise RuntimeError("the write limit refused")


@app.post("/floor/<name>")
def floor_create(name: str):
    if name == "create_limited":
        _write_limit()
    body = request.get_json()
    if name == "insert":  # the INSERT alone: no session or room check
        failed = _run("insert")
    else:
        failed = _run("create", last=b"1")  # one book inserted
    if failed:
        return failed
    book = {**body, "id": str(uuid.uuid4()), "isbn": None, "owner_id": "x" * 36}
    return jsonify(book), 201
