import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import sqlalchemy as sa

from bookstore.auth.identity import Caller
from bookstore.auth.models import User
from bookstore.books import services
from bookstore.books.models import SHELF_TOTAL
from bookstore.errors import Conflict
from bookstore.extensions import db

LIMIT, SENT = 3, 12
FIELDS = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton"}


def test_threads_racing_for_the_last_places_never_overfill_a_shelf(make_app, user):
    app = make_app(MAX_BOOKS_PER_USER=LIMIT)
    with app.app_context():
        row = db.session.execute(
            sa.select(User.id, User.public_id).where(User.username == "alice")
        ).one()
    owner = Caller(row.id, row.public_id, False)
    barrier = threading.Barrier(SENT, timeout=30)

    def create(_):
        with app.app_context():  # a session, and so a connection, per thread
            barrier.wait()
            try:
                services.create_book(owner, price=Decimal("1.00"), **FIELDS)
                return 201
            except Conflict:
                return 409

    with ThreadPoolExecutor(SENT) as pool:
        statuses = sorted(pool.map(create, range(SENT)))

    with app.app_context():
        total = db.session.scalar(SHELF_TOTAL, {"owner_id": owner.id})
    assert statuses == [201] * LIMIT + [409] * (SENT - LIMIT)
    assert total == LIMIT
