import statistics
import threading
import time

import pytest

import config
from tests.mail.conftest import ask_reset, code_of, confirm, send_mail


@pytest.mark.slow
def test_known_and_unknown_addresses_take_comparable_time(make_app, smtp_server):
    floor = config.ProductionConfig().PASSWORD_RESET_MIN_RESPONSE_MS  # the default
    client = make_app(
        SMTP_URL=smtp_server.url(), PASSWORD_RESET_MIN_RESPONSE_MS=floor
    ).test_client()
    client.post(
        "/api/v1/auth/register",
        json={
            "username": "alice",
            "password": "a long passphrase",
            "email": "alice@example.com",
        },
    )
    ask_reset(client, "warm@example.com")  # first-request costs out of the way
    timings: dict[str, list[float]] = {"known": [], "unknown": []}

    for i in range(25):  # interleaved: drift in machine load hits both alike
        for kind, email in (("known", "alice@example.com"), ("unknown", f"n{i}@x.io")):
            started = time.perf_counter()
            response = ask_reset(client, email)
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 202
            assert response.json == {}

    known = statistics.median(timings["known"])
    unknown = statistics.median(timings["unknown"])
    print(f"median known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert abs(known - unknown) <= 0.2 * min(known, unknown)


def test_two_concurrent_confirms_with_one_code_let_exactly_one_through(
    app, make_app, client, register, smtp_server
):
    register("alice", email="alice@example.com")
    ask_reset(client, "alice@example.com")
    send_mail(app)
    code = code_of(smtp_server.wait_for(1)[0])
    clients = [
        make_app(SECRET_KEY=app.config["SECRET_KEY"]).test_client() for _ in "ab"
    ]
    barrier = threading.Barrier(2)
    answers = []

    def run(other, password):
        barrier.wait()
        answers.append(confirm(other, code, password))

    threads = [
        threading.Thread(target=run, args=(other, f"racing passphrase {i}"))
        for i, other in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(a.status_code for a in answers) == [200, 400]
    [loser] = [a for a in answers if a.status_code == 400]
    assert loser.json["code"] == "invalid_reset_token"
