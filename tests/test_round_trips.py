"""Round trips to PostgreSQL per request, counted on the wire by libpq's trace."""

import pytest
import sqlalchemy as sa
from psycopg import pq

from bookstore.extensions import db
from tests.conftest import bearer

API = "/api/v1"
BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Ace", "price": "9.99"}


class Wire:
    """Every protocol message the app's connections exchange, from their first
    checkout on (so a ping at checkout would be counted too)."""

    def __init__(self, engine, directory) -> None:
        self.engine, self.directory = engine, directory
        self.traces: dict[int, tuple] = {}  # connection -> (file, offset read)
        self.connections: dict[int, object] = {}
        sa.event.listen(engine, "checkout", self._trace)
        sa.event.listen(engine, "checkin", self._flush)

    def _trace(self, dbapi_connection, record, proxy) -> None:
        if id(dbapi_connection) in self.traces:
            return
        path = self.directory / f"trace-{len(self.traces)}.txt"
        trace = open(path, "w")  # noqa: SIM115 - open while libpq writes to it
        self.traces[id(dbapi_connection)] = (trace, path, 0)
        self.connections[id(dbapi_connection)] = dbapi_connection
        self._start(dbapi_connection, trace)

    def _start(self, dbapi_connection, trace) -> None:
        # libpq writes through its own buffered stream on this descriptor.
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(
            pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
        )

    def _flush(self, dbapi_connection, record) -> None:
        """At checkin: untrace() flushes libpq's stream; tracing goes on at once,
        so whatever happens at the next checkout (a ping) is seen too."""
        if dbapi_connection is None or id(dbapi_connection) not in self.traces:
            return
        dbapi_connection.pgconn.untrace()
        self._start(dbapi_connection, self.traces[id(dbapi_connection)][0])

    def close(self) -> None:
        sa.event.remove(self.engine, "checkout", self._trace)
        sa.event.remove(self.engine, "checkin", self._flush)
        self.engine.dispose()
        for trace, _, _ in self.traces.values():
            trace.close()

    def messages(self) -> list[tuple[str, str, str]]:
        """(direction F/B, message type, the rest) since the last call."""
        for connection in self.connections.values():  # a held one never checks in
            if not connection.closed:
                self._flush(connection, None)
        found = []
        for key, (trace, path, offset) in list(self.traces.items()):
            text = path.read_text()
            self.traces[key] = (trace, path, len(text))
            for line in text[offset:].splitlines():
                fields = line.split("\t")
                if len(fields) >= 3 and fields[0] in ("F", "B"):
                    found.append((fields[0], fields[2], " ".join(fields[3:])))
        return found


def round_trips(messages) -> int:
    """Times the client sent something and then waited for the server's answer."""
    trips, previous = 0, None
    for direction, _, _ in messages:
        if direction == "B" and previous == "F":
            trips += 1
        previous = direction
    return trips


def statements(messages) -> list[str]:
    """What the client ran: extended-protocol executions and simple queries."""
    return [
        rest
        for direction, kind, rest in messages
        if direction == "F" and kind in ("Execute", "Query")
    ]


def transaction_commands(messages) -> list[str]:
    queries = [rest.strip().strip('"') for d, k, rest in messages if k == "Query"]
    return [q for q in queries if q.split(" ")[0] in ("BEGIN", "COMMIT", "ROLLBACK")]


@pytest.fixture
def wire(backend, app, tmp_path):
    if backend != "postgresql":
        pytest.skip("counts PostgreSQL's wire protocol")
    with app.app_context():
        engine = db.engine
    watcher = Wire(engine, tmp_path)
    yield watcher
    watcher.close()


def _count(client, wire, method, path, headers, body=None, *, warm_up=3):
    for _ in range(warm_up):  # a new connection, statements not yet prepared
        client.open(path, method=method, headers=headers, json=body)
    wire.messages()
    response = client.open(path, method=method, headers=headers, json=body)
    return response, wire.messages()


def test_an_authenticated_list_is_one_round_trip(client, register, login, wire):
    register("alice")
    headers = bearer(login("alice"))
    for _ in range(3):
        client.post(f"{API}/books", json=BOOK | {"isbn": None}, headers=headers)

    response, messages = _count(client, wire, "GET", f"{API}/books", headers)

    assert response.status_code == 200 and response.json["total"] == 3
    assert round_trips(messages) == 1
    assert len(statements(messages)) == 1
    assert transaction_commands(messages) == []
    parsed = [rest for _, kind, rest in messages if kind == "Parse"]
    assert not parsed, "no Parse: the statement is prepared server-side"


def test_with_a_pool_of_one_a_list_is_still_one_round_trip(backend, make_app, tmp_path):
    # No connection is kept for reads then (reads.read_connection): the one the
    # list takes from the pool is in autocommit too, no BEGIN and ROLLBACK.
    if backend != "postgresql":
        pytest.skip("counts PostgreSQL's wire protocol")
    app = make_app(DB_POOL_SIZE=1)
    client = app.test_client()
    body = {"username": "alice", "password": "correct horse battery staple"}
    assert client.post(f"{API}/auth/register", json=body).status_code == 201
    headers = bearer(client.post(f"{API}/auth/login", json=body).json)
    client.post(f"{API}/books", json=BOOK | {"isbn": None}, headers=headers)
    with app.app_context():
        watcher = Wire(db.engine, tmp_path)
    try:
        response, messages = _count(client, watcher, "GET", f"{API}/books", headers)
    finally:
        watcher.close()

    assert response.status_code == 200 and response.json["total"] == 1
    assert round_trips(messages) == 1
    assert transaction_commands(messages) == []


def test_getting_a_book_is_one_round_trip(client, register, login, wire):
    register("alice")
    headers = bearer(login("alice"))
    created = client.post(f"{API}/books", json=BOOK, headers=headers)

    response, messages = _count(
        client, wire, "GET", f"{API}/books/{created.json['id']}", headers
    )

    assert response.status_code == 200
    assert round_trips(messages) == 1
    assert transaction_commands(messages) == []


def test_an_empty_shelf_and_a_revoked_session_are_still_right_in_one_statement(
    client, register, login, wire
):
    register("alice")
    pair = login("alice")
    headers = bearer(pair)

    empty, _ = _count(client, wire, "GET", f"{API}/books", headers)
    client.post(f"{API}/auth/logout", headers=headers)
    revoked = client.get(f"{API}/books", headers=headers)

    assert (empty.status_code, empty.json["total"], empty.json["items"]) == (200, 0, [])
    assert revoked.status_code == 401
    assert revoked.json["code"] == "token_revoked"


def test_a_create_is_one_round_trip(client, register, login, wire):
    register("alice")
    headers = bearer(login("alice"))

    response, messages = _count(
        client, wire, "POST", f"{API}/books", headers, BOOK | {"isbn": None}
    )

    assert response.status_code == 201
    assert round_trips(messages) == 1  # the session check and the INSERT
    assert len(statements(messages)) == 1
    assert transaction_commands(messages) == []


def test_an_idempotent_create_is_still_one_transaction(client, register, login, wire):
    register("alice")
    headers = bearer(login("alice"))

    response, messages = _count(
        client,
        wire,
        "POST",
        f"{API}/books",
        {**headers, "Idempotency-Key": "k-1"},
        BOOK | {"isbn": None},
        warm_up=0,
    )

    assert response.status_code == 201
    assert transaction_commands(messages)[-1] == "COMMIT"


@pytest.fixture
def reader(client, register, login):
    """Alice's shelf of `books` books, and a books:read personal access token."""
    from tests.auth.pats import mint, pat

    def make(books: int = 1) -> tuple[list[dict], dict]:
        register("alice")
        headers = bearer(login("alice"))
        shelf = [
            client.post(f"{API}/books", json=BOOK | {"isbn": None}, headers=headers)
            for _ in range(books)
        ]
        token = pat(mint(client, headers, scopes=["books:read"]))
        return [b.json for b in shelf], token

    return make


def test_a_list_with_a_personal_access_token_is_one_round_trip(client, reader, wire):
    _, token = reader(books=3)

    response, messages = _count(client, wire, "GET", f"{API}/books", token)

    assert response.status_code == 200 and response.json["total"] == 3
    assert round_trips(messages) == 1  # the token's check and the page
    assert len(statements(messages)) == 1
    assert transaction_commands(messages) == []


def test_getting_a_book_with_a_personal_access_token_is_one_round_trip(
    client, reader, wire
):
    [book], token = reader()

    response, messages = _count(client, wire, "GET", f"{API}/books/{book['id']}", token)

    assert response.json == book
    assert round_trips(messages) == 1
    assert transaction_commands(messages) == []


def test_an_expired_personal_access_token_is_refused_by_the_one_statement(
    app, client, reader, wire
):
    from bookstore import clock
    from bookstore.auth.pats.models import PersonalAccessToken

    _, token = reader()
    _count(client, wire, "GET", f"{API}/books", token)
    with app.app_context():
        db.session.execute(
            sa.update(PersonalAccessToken).values(expires_at=clock.utcnow())
        )
        db.session.commit()
    wire.messages()

    response = client.get(f"{API}/books", headers=token)
    messages = wire.messages()

    assert (response.status_code, response.json["code"]) == (401, "token_expired")
    assert len(statements(messages)) == 1  # the verdict came from the read's row


def test_a_personal_access_tokens_use_is_recorded_by_one_more_statement(
    client, reader, wire, monkeypatch
):
    from tests.auth.helpers import move_clock

    _, token = reader()
    _count(client, wire, "GET", f"{API}/books", token)
    move_clock(monkeypatch, 61)  # last_used_at is now over a minute old

    response = client.get(f"{API}/books", headers=token)
    messages = wire.messages()

    assert response.status_code == 200
    assert round_trips(messages) == 2  # the read with the check; then the UPDATE
    parsed = [rest for _, kind, rest in messages if kind == "Parse"]
    assert len(parsed) == 1 and "UPDATE personal_access_tokens" in parsed[0]
    assert transaction_commands(messages) == []


def test_a_search_is_planned_for_what_it_searches_every_time(
    client, register, login, wire
):
    register("alice")
    headers = bearer(login("alice"))
    for title in ("Dune", "Dune Messiah", "Emma"):
        client.post(f"{API}/books", json=BOOK | {"title": title}, headers=headers)

    # Past psycopg's prepare threshold and PostgreSQL's five custom plans, after
    # which a prepared statement may keep one generic plan for every pattern.
    response, messages = _count(
        client, wire, "GET", f"{API}/books?q=dune", headers, warm_up=8
    )

    assert response.status_code == 200 and response.json["total"] == 2
    assert round_trips(messages) == 2  # the session check, then the search
    parsed = [rest for _, kind, rest in messages if kind == "Parse"]
    # Sent with its text to an unnamed statement: planned with its pattern.
    assert [rest.split()[:2] for rest in parsed] == [['""', '"WITH']], parsed
