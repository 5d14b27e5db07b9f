"""Gunicorn settings, each overridable from the environment (`gunicorn wsgi:app`)."""

import gc
import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

from gunicorn import util as gunicorn_util

import serving
from config import read_dotenv  # `config` itself is a gunicorn setting's name

# The one rule for .env (config.read_dotenv): only development reads it. gunicorn
# serves production unless BOOKSTORE_ENV says otherwise, so the GUNICORN_* lines of
# a .env apply to `BOOKSTORE_ENV=development gunicorn wsgi:app` only.
read_dotenv(os.environ.get("BOOKSTORE_ENV", "production").strip().lower())


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _flag(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    if raw:
        print(
            f"bookstore: refusing to start: {name} must be true or false, got {raw!r}.",
            file=sys.stderr,
        )
        raise SystemExit(4)  # as wsgi.py: gunicorn's "app failed to load"
    return default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8))
threads = _int("GUNICORN_THREADS", 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or (
    "gthread" if threads > 1 else "sync"
)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# A bearer JWT with its header is a few KB; leave room without inviting abuse.
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 16384)
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
# The app logs one JSON line per request itself; gunicorn's access log would repeat it.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The master imports the app once and forks the workers from it: they share its
# memory pages until one writes to a page (copy-on-write), so each worker costs
# about 20 MiB less (bench/README.md, "Worker memory"). A HUP then restarts the
# workers from the code already loaded: deploy new code with a restart.
# GUNICORN_PRELOAD=false: each worker imports the app itself.
preload_app = _flag("GUNICORN_PRELOAD", True)


# --- Telling the app what it runs under (config.check, bookstore/metrics) ---
# With METRICS_ENABLED every worker writes its counts to files in one directory
# (prometheus-client's multiprocess mode) and a scrape sums them, so /metrics
# reports the whole server whichever worker answers. The variable must be set
# before a worker imports prometheus_client, hence here, in the master.
_metrics = _flag("METRICS_ENABLED", False)
_METRICS_TMP_PREFIX = "bookstore-metrics-"
if _metrics and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix=_METRICS_TMP_PREFIX
    )


def nworkers_changed(server, new_value, old_value):
    """In the master, before the app is loaded (preloaded or in each worker), and
    again when TTIN/TTOU change the count: the app and the workers read it from
    the environment."""
    # The app refuses per-process (memory://) rate limits under several workers;
    # only gunicorn knows how many there are, command-line flags included.
    os.environ["BOOKSTORE_WORKERS"] = str(new_value)


def on_starting(server):
    """In the master, before any worker exists (and after a preloaded app)."""
    if _metrics:
        # Files left by an earlier run would be added to this run's counts.
        directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    """A worker died (any way): its counters stay, its live gauges go."""
    if _metrics:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Master, last thing: the drain flag, and the metrics directory if it is the
    temporary one made above."""
    serving.on_exit(server)
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ".")
    if directory.parent == Path(tempfile.gettempdir()) and directory.name.startswith(
        _METRICS_TMP_PREFIX
    ):
        shutil.rmtree(directory, ignore_errors=True)


# Graceful drain after SIGTERM (SHUTDOWN_DRAIN_SECONDS), and gunicorn's own error
# responses as problem+json: see serving.py.
when_ready = serving.when_ready
worker_exit = serving.worker_exit
# gunicorn has no setting for its error pages; its workers write them all through
# this one function.
gunicorn_util.write_error = serving.problem_error


def pre_fork(server, worker):
    """In the master, just before each fork. With the app preloaded, its objects
    are moved out of the garbage collector's reach: a collection in a worker
    would otherwise write to, and so copy, every page that holds one."""
    if server.cfg.preload_app:
        gc.freeze()


def post_worker_init(worker):
    """In the worker, the app loaded, before the first request."""
    extensions = getattr(worker.wsgi, "extensions", {})
    if worker.cfg.preload_app and "sqlalchemy" in extensions:
        # A connection opened by the master must stay the master's: SQLAlchemy's
        # rule for a forked process is to forget its pool's connections without
        # closing them (dispose(close=False)). The master opens none today.
        with worker.wsgi.app_context():
            for engine in extensions["sqlalchemy"].engines.values():
                engine.dispose(close=False)
    # The worker's mail sender (docs/account-recovery.md).
    if "bookstore.mail" in extensions:
        from bookstore.mail import sender

        sender.start(worker.wsgi)
