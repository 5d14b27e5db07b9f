"""Prebuilt statements share one lambda's code: their identities keep them apart."""

import sqlalchemy as sa

from bookstore.extensions import db
from bookstore.statements import prebuilt


def test_prebuilt_statements_of_the_same_shape_run_their_own_sql(app):
    one = prebuilt(sa.select(sa.literal_column("1")))
    two = prebuilt(sa.select(sa.literal_column("2")))
    with app.app_context():
        assert db.session.execute(one).scalar() == 1
        assert db.session.execute(two).scalar() == 2
        assert db.session.execute(one).scalar() == 1  # from the compiled cache


def test_prebuilt_statements_take_their_values_at_execution(app):
    doubled = prebuilt(sa.select(sa.bindparam("n", type_=sa.Integer) * 2))
    with app.app_context():
        assert db.session.execute(doubled, {"n": 3}).scalar() == 6
        assert db.session.execute(doubled, {"n": 5}).scalar() == 10
