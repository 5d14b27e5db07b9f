import threading
from concurrent.futures import ThreadPoolExecutor

from tests.books.conftest import BOOKS, book_body

LIMIT, SENT = 3, 12


def test_threads_racing_for_the_last_places_never_overfill_a_shelf(
    app, client, make_app, auth_headers
):
    racing = make_app(MAX_BOOKS_PER_USER=LIMIT, SECRET_KEY=app.config["SECRET_KEY"])
    barrier = threading.Barrier(SENT, timeout=30)

    @racing.before_request
    def wait_for_the_others():  # then all of them race to the shelf's last places
        barrier.wait()

    def create(_):
        racer = racing.test_client()  # a request, so a session, per thread
        return racer.post(BOOKS, json=book_body(), headers=auth_headers).status_code

    with ThreadPoolExecutor(SENT) as pool:
        statuses = sorted(pool.map(create, range(SENT)))

    listed = client.get(BOOKS, headers=auth_headers).json
    assert statuses == [201] * LIMIT + [409] * (SENT - LIMIT)
    assert listed["total"] == len(listed["items"]) == LIMIT
