"""The write limit counts in Redis with one script call on a held connection:
held to limits' own moving window (hit() per limit, in turn)."""

import os
import uuid

import pytest
import redis

from bookstore import write_limits
from bookstore.extensions import limiter
from tests.books.test_write_limits import _limited_app

REDIS_URL = os.environ.get("TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs TEST_REDIS_URL")


def _ids(app):
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    return (prefix, write_limits.SCOPE, str(uuid.uuid4()))


def _reference(items, ids):
    for index, item in enumerate(items):
        if not limiter.limiter.hit(item, *ids):
            return index
    return None


@pytest.mark.parametrize("spec", ["3/minute", "3/minute;5/hour", "5/minute;3/hour"])
def test_the_script_counts_and_refuses_as_limits_does(make_app, spec):
    app = _limited_app(make_app, REDIS_URL, RATELIMIT_WRITES_PER_USER=spec)

    with app.app_context():
        items = write_limits._limits()
        ours, theirs = _ids(app), _ids(app)
        for _ in range(7):
            assert write_limits._acquire(items, ours) == _reference(items, theirs)
            for item in items:
                mine = limiter.limiter.get_window_stats(item, *ours)
                reference = limiter.limiter.get_window_stats(item, *theirs)
                assert mine.remaining == reference.remaining
                assert abs(mine.reset_time - reference.reset_time) < 2


def test_a_flushed_script_is_loaded_again(make_app):
    app = _limited_app(make_app, REDIS_URL, RATELIMIT_WRITES_PER_USER="3/minute")

    with app.app_context():
        items, ids = write_limits._limits(), _ids(app)
        write_limits._acquire(items, ids)
        redis.Redis.from_url(REDIS_URL).script_flush()
        write_limits._acquire(items, ids)
        stats = limiter.limiter.get_window_stats(items[0], *ids)

    assert stats.remaining == 1


def test_a_dropped_connection_is_replaced_and_the_hit_counted(make_app):
    app = _limited_app(make_app, REDIS_URL, RATELIMIT_WRITES_PER_USER="3/minute")

    with app.app_context():
        items, ids = write_limits._limits(), _ids(app)
        write_limits._acquire(items, ids)
        held = write_limits._connection(limiter.limiter.storage)
        held.send_command("CLIENT", "ID")
        client_id = held.read_response()
        redis.Redis.from_url(REDIS_URL).client_kill_filter(_id=client_id)
        write_limits._acquire(items, ids)
        stats = limiter.limiter.get_window_stats(items[0], *ids)

    assert stats.remaining == 1
