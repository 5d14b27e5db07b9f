"""Two `flask db upgrade` at once on PostgreSQL: one migrates, the other waits."""

import os
import secrets
import subprocess
import sys
import time

import psycopg
import pytest

from bookstore.extensions import MIGRATION_LOCK, MIGRATIONS
from bookstore.health import heads
from tests.databases import _conninfo, fresh_database
from tests.reliability.servers import ROOT

pytestmark = pytest.mark.slow

WAITING = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _upgrade(url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "BOOKSTORE_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url,
        "RATELIMIT_ENABLED": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_upgrades_take_turns(backend, tmp_path):
    if backend != "postgresql":
        pytest.skip("the migration lock is a PostgreSQL advisory lock")
    with fresh_database(backend, tmp_path) as url:
        with psycopg.connect(_conninfo(url), autocommit=True) as holder:
            # Hold the lock so both processes are certainly waiting at once,
            # then let them race for it.
            holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            upgrades = [_upgrade(url), _upgrade(url)]
            try:
                deadline = time.monotonic() + 60
                while holder.execute(WAITING).fetchone()[0] < 2:
                    assert time.monotonic() < deadline, "upgrades never waited"
                    assert all(p.poll() is None for p in upgrades), [
                        p.communicate()[0] for p in upgrades if p.poll() is not None
                    ]
                    time.sleep(0.1)
                holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                outputs = [p.communicate(timeout=120)[0] for p in upgrades]
            finally:
                for p in upgrades:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            version = holder.execute("SELECT version_num FROM alembic_version")
            versions = [row[0] for row in version]

    assert [p.returncode for p in upgrades] == [0, 0], outputs
    # One ran every migration; the other, once it had the lock, found none to run.
    assert sorted("Running upgrade  -> 0001" in out for out in outputs) == [
        False,
        True,
    ], outputs
    assert sum(out.count("Running upgrade") for out in outputs) == len(
        list((MIGRATIONS / "versions").glob("*.py"))
    )
    assert set(versions) == heads(MIGRATIONS / "versions")
