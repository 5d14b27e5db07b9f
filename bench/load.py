"""The load generator: wrk (Debian's package) in its own process, 16 connections.

If wrk cannot be had (not installed and no apt-get as root), a small asyncio
generator in a separate Python process stands in; the report says which ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONNECTIONS = 16


def ensure_wrk() -> str | None:
    """Path to wrk, installing Debian's package when root; None if unavailable."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_WRK"):
        return None if os.environ.get("BENCH_NO_WRK") else found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (apt-get)", file=sys.stderr)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, **quiet)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False, **quiet
        )
    return shutil.which("wrk")


def run(
    wrk: str | None, url: str, seconds: int, *, method="GET", body=None, headers=None
) -> dict:
    """Drive `url` for `seconds` with CONNECTIONS connections; return the summary."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        out = Path(tmp) / "summary.json"
        env = {
            **os.environ,
            "BENCH_METHOD": method,
            "BENCH_BODY": body or "",
            "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items()),
            "BENCH_OUT": str(out),
        }
        if wrk:
            command = [
                wrk,
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "-s",
                str(HERE / "wrk_report.lua"),
                url,
            ]
        else:
            command = [
                sys.executable,
                str(HERE / "pyload.py"),
                url,
                str(seconds),
                str(CONNECTIONS),
            ]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())
