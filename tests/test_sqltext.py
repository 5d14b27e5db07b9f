"""The database renders ids and timestamps exactly as the Python code would."""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookstore.clock import isoformat
from bookstore.extensions import db
from bookstore.sqltext import RFC3339, UUIDText

_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_SETTINGS
@given(
    moment=st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
    )
)
def test_timestamps_render_as_rfc3339_utc_with_a_z(app, moment):
    value = moment.replace(tzinfo=UTC)
    with app.app_context():
        rendered = db.session.scalar(
            sa.select(RFC3339(sa.literal(value, sa.DateTime(timezone=True))))
        )
    assert rendered == isoformat(value)


@_SETTINGS
@given(value=st.uuids())
def test_uuids_render_as_canonical_text(app, value):
    with app.app_context():
        rendered = db.session.scalar(sa.select(UUIDText(sa.literal(value, sa.Uuid()))))
    assert rendered == str(value)


def test_stored_columns_render_like_their_python_values(app, client, auth_headers):
    from bookstore.books.models import Book

    response = client.post(
        "/api/v1/books",
        json={"title": "Dune", "author": "F. Herbert", "publisher": "Ace", "price": 1},
        headers=auth_headers,
    )
    assert response.status_code == 201
    with app.app_context():
        book = db.session.scalar(sa.select(Book))
        row = db.session.execute(
            sa.select(UUIDText(Book.public_id), RFC3339(Book.created_at)).where(
                Book.id == book.id
            )
        ).one()
    assert tuple(row) == (str(book.public_id), isoformat(book.created_at))
    assert isinstance(book.public_id, uuid.UUID)
