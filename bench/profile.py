"""Profile a scenario's workers with py-spy while the load generator drives them."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")


def record(pids: list[int], seconds: int, outdir: Path, name: str):
    """Start py-spy on each pid for `seconds`; return the raw (collapsed) files."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    files, threads = [], []
    for pid in pids:
        out = outdir / f"{name}-{pid}.raw"
        command = [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "250",
            "--format",
            "raw",
            "--nolineno",
            "--full-filenames",
            "--gil",  # CPU in Python; a worker blocked in a syscall is not counted
            "-o",
            str(out),
        ]

        def _run(command=command):
            subprocess.run(
                command,
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        thread = threading.Thread(target=_run)
        thread.start()
        threads.append(thread)
        files.append(out)
    return files, threads


def _module(path: str) -> str:
    """A frame's package: the first folder after site-packages, or the project's."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/bookstore/" in path or path.startswith("bookstore/"):
        return "bookstore." + Path(path).stem
    if "python3" in path:
        return "stdlib:" + Path(path).stem
    return Path(path).stem


def summarize(files: list[Path], top: int = 18) -> dict:
    """Self time by package and function; inclusive time below Flask.wsgi_app."""
    self_fn, incl_fn, self_pkg = (collections.Counter() for _ in range(3))
    total = in_app = 0
    for file in files:
        if not file.exists():
            continue
        for line in file.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [f for f in stack.split(";") if _FRAME.match(f)]
            if not frames:
                continue
            total += n
            leaf = _FRAME.match(frames[-1])
            self_fn[f"{leaf['func']} ({_module(leaf['file'])})"] += n
            self_pkg[_module(leaf["file"])] += n
            funcs = [_FRAME.match(f)["func"] for f in frames]
            if "Flask.wsgi_app" not in funcs:
                continue  # gunicorn's own work: accept, parse, write, close
            in_app += n
            seen = set()
            for frame in frames[funcs.index("Flask.wsgi_app") + 1 :]:
                match = _FRAME.match(frame)
                key = f"{match['func']} ({_module(match['file'])})"
                if key not in seen:
                    seen.add(key)
                    incl_fn[key] += n

    def pct(counter):
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)]

    return {
        "samples": total,
        "in_flask_wsgi_app_pct": round(100 * in_app / total, 1) if total else 0,
        "self_by_package": pct(self_pkg),
        "self_by_function": pct(self_fn),
        "inclusive_by_function": pct(incl_fn),
    }
