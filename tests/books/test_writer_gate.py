"""On SQLite a create queues behind the host's other writers on a kernel lock
(locks.WriterGate) instead of SQLite's sleeping busy handler; SQLite's own
write lock still decides."""

import fcntl
import os
import sqlite3
import threading
import time

import pytest

from bookstore.extensions import db
from bookstore.locks import WriterGate
from tests.books.conftest import BOOKS, book_body
from tests.conftest import bearer


@pytest.fixture
def sqlite_path(app, backend):
    if backend != "sqlite":
        pytest.skip("the gate is SQLite's")
    with app.app_context():
        return db.engine.url.database


def _create_in_thread(app, headers, body, answers):
    def create():
        answers.append(app.test_client().post(BOOKS, json=body, headers=headers))

    thread = threading.Thread(target=create)
    thread.start()
    return thread


def test_a_create_waits_for_another_process_holding_the_gate(
    app, sqlite_path, register, login
):
    register("alice")
    headers = bearer(login("alice"))
    answers = []
    # Another process's hold: its own open file, as a second worker's.
    other = os.open(f"{sqlite_path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        thread = _create_in_thread(app, headers, book_body(), answers)
        thread.join(0.5)
        assert thread.is_alive() and answers == []  # queued, not polling SQLite
        fcntl.flock(other, fcntl.LOCK_UN)
        thread.join(10)
    finally:
        os.close(other)
    assert [answer.status_code for answer in answers] == [201]


def test_the_wait_at_the_gate_counts_against_the_busy_timeout(make_app, backend):
    """A lock taken outside the gate (another program's transaction) and a
    queue at the gate: the create still answers 503 after the timeout in all,
    not the gate's wait plus a full busy timeout."""
    if backend != "sqlite":
        pytest.skip("the gate is SQLite's")
    timeout = 2  # DATABASE_STATEMENT_TIMEOUT; API.md allows one second more
    app = make_app(DATABASE_STATEMENT_TIMEOUT=timeout)
    client = app.test_client()
    body = {"username": "alice", "password": "correct horse battery staple 9"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    token = client.post("/api/v1/auth/login", json=body).json["access_token"]
    with app.app_context():
        path = db.engine.url.database
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held throughout
    queue_ahead = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(queue_ahead, fcntl.LOCK_EX)  # a writer ahead at the gate
    release = threading.Timer(1.5, fcntl.flock, (queue_ahead, fcntl.LOCK_UN))
    release.start()
    try:
        started = time.monotonic()
        answer = client.post(
            BOOKS, json=book_body(), headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = time.monotonic() - started
    finally:
        release.join()
        os.close(queue_ahead)
        holder.rollback()
        holder.close()
    assert answer.status_code == 503, answer.json
    assert 1.4 <= elapsed <= timeout + 1
    # The busy timeout is the configured one again for the next write.
    started = time.monotonic()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, holder.rollback)
    release.start()
    try:
        answer = client.post(
            BOOKS, json=book_body(), headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        release.join()
        holder.close()
    assert answer.status_code == 201, answer.json
    assert time.monotonic() - started >= 0.9


def test_threads_of_one_process_take_turns(tmp_path):
    gate = WriterGate(str(tmp_path / "db.sqlite3"))
    inside, overlapped = [], []

    def write():
        with gate.held():
            inside.append(1)
            overlapped.append(len(inside) > 1)
            threading.Event().wait(0.01)
            inside.pop()

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert overlapped == [False] * 8


def test_a_forked_child_opens_its_own_file(tmp_path):
    """flock belongs to the open file: a child sharing its parent's would
    pass the gate while the parent holds it."""
    gate = WriterGate(str(tmp_path / "db.sqlite3"))
    with gate.held():
        pass  # the parent's file is open
    read, write = os.pipe()
    with gate.held():
        pid = os.fork()
        if pid == 0:  # the child: must block until the parent lets go
            os.close(read)
            try:
                flags = fcntl.LOCK_EX | fcntl.LOCK_NB
                fcntl.flock(gate._fd(), flags)
                os.write(write, b"passed")
            except BlockingIOError:
                os.write(write, b"blocked")
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        assert os.read(read, 16) == b"blocked"
        os.close(read)


def test_an_unopened_database_in_memory_has_no_gate(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        db.create_all()
    client = app.test_client()
    body = {"username": "mem", "password": "correct horse battery staple 9"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    token = client.post("/api/v1/auth/login", json=body).json["access_token"]
    answer = client.post(
        BOOKS, json=book_body(), headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 201
