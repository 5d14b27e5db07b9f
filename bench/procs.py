"""Server processes for the bench: gunicorn under one config, CPU and RSS from /proc."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

# One gunicorn configuration for every app and every target (the project's own
# gunicorn.conf.py, pinned by these variables). LOG_LEVEL is left at its
# default (INFO): Bookstore writes its per-request line, as deployed.
GUNICORN_ENV = {
    "GUNICORN_WORKERS": "2",
    "GUNICORN_THREADS": "1",
    "GUNICORN_WORKER_CLASS": "sync",
    "GUNICORN_TIMEOUT": "60",
    "SHUTDOWN_DRAIN_SECONDS": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, body=None, headers=None):
    """One HTTP request on a fresh connection; return (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class Server:
    """A gunicorn master with its workers, bound to a free loopback port."""

    def __init__(self, name: str, app: str, env: dict, logdir: Path, ready: str):
        self.name, self.app, self.ready = name, app, ready
        self.env = {**os.environ, **GUNICORN_ENV, **env}
        self.logfile = logdir / f"{name}.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.port = free_port()
        self.env["GUNICORN_BIND"] = f"127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "gunicorn.conf.py"),
        ]
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(
                [*command, self.app],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: stopped as one
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.logfile}")
            try:
                request(self.port, "GET", self.ready)
                if len(self.workers()) >= int(GUNICORN_ENV["GUNICORN_WORKERS"]):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer in {timeout}s; see {self.logfile}"
        )

    def workers(self) -> list[int]:
        """The master's child processes (the gunicorn workers)."""
        pid = self.proc.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            return sorted(int(p) for p in text.split())
        except OSError:
            return sorted(
                int(p)
                for p in os.listdir("/proc")
                if p.isdigit() and _ppid(int(p)) == pid
            )

    def cpu_ticks(self) -> dict[int, int]:
        """utime+stime (clock ticks) of each worker."""
        return process_ticks(self.workers())

    def rss_mib(self) -> dict[int, dict]:
        """RSS, PSS and USS (private) of each worker in MiB, from smaps_rollup."""
        memory = {}
        for pid in self.workers():
            figures = memory_mib(pid)
            if figures:
                memory[pid] = figures
        return memory

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def memory_mib(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private pages) of `pid` in MiB, from smaps_rollup;
    empty if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    kib = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            kib[name] = int(rest.split()[0])
    return {
        "rss": kib.get("Rss", 0) / 1024,
        "pss": kib.get("Pss", 0) / 1024,
        "uss": (kib.get("Private_Clean", 0) + kib.get("Private_Dirty", 0)) / 1024,
    }


def process_ticks(pids) -> dict[int, int]:
    """utime+stime (clock ticks) of each of `pids` still alive."""
    ticks = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[pid] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return ticks


class Backends:
    """The PostgreSQL server processes serving one database (same machine): the
    database's CPU per request, which runs outside the workers."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin_url, self.database = admin_url, database

    def ticks(self) -> dict[int, int]:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                    (self.database,),
                )
            ]
        return process_ticks(pids)


def cpu_ms(before: dict[int, int], after: dict[int, int]) -> tuple[float, bool]:
    """Worker CPU ms between two samples; False if the worker set changed."""
    same = set(before) == set(after)
    total = sum(after[p] - before.get(p, 0) for p in after)
    return total * 1000 / CLK_TCK, same
