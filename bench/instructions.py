"""Instructions per request (valgrind's callgrind): bench.inprocess's scenarios,
counted, not timed.

On a machine shared with other work, CPU time wanders by ±20 % between runs;
an instruction count does not (±0.5 %). Counting runs only around the timed
loop (setup runs uninstrumented). Needs valgrind (apt-get install valgrind).

    python -m bench.instructions [--db pg] [-n 300] [scenario ...]

To compare two commits, run it in a checkout of each (the scenarios import
`bookstore` from the current directory).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import inprocess


def _child(db: str, n: int, scenarios: list[str], sync: Path) -> None:
    """Set up as bench.inprocess does, then run each scenario `n` times between
    two handshakes with the parent (which switches counting on and off)."""

    def handshake(word: str) -> None:
        print(word, flush=True)
        while not sync.exists():
            time.sleep(0.05)
        sync.unlink()

    with (
        tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp,
        inprocess._database(db, Path(tmp)) as url,
    ):
        app = inprocess._app(url)
        with inprocess._stderr_to_null():
            environs = inprocess._requests(app)
            for name in scenarios:
                inprocess._timer(app, environs[name], 100)  # warm up
            for name in scenarios:
                handshake(f"START {name}")
                inprocess._timer(app, environs[name], n)
                handshake(f"STOP {name}")
        from bookstore.extensions import db as sqldb

        with app.app_context():
            sqldb.engine.dispose()


def _count(db: str, n: int, scenarios: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as work:
        sync = Path(work) / "go"
        child = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={work}/out.%p",
                sys.executable,
                "-m",
                "bench.instructions",
                "--child",
                str(sync),
                "--db",
                db,
                "-n",
                str(n),
                *scenarios,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

        def control(*args: str) -> None:
            subprocess.run(
                ["callgrind_control", *args, str(child.pid)],
                check=True,
                capture_output=True,
            )

        counts = {}
        for line in child.stdout:
            word, _, name = line.strip().partition(" ")
            if word == "START":
                control("--instr=on")
                control("--zero")
            elif word == "STOP":
                control(f"--dump={name}")
                control("--instr=off")
                dump = max(Path(work).glob("out.*"), key=os.path.getmtime)
                total = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.M)
                counts[name] = int(total[1]) / n
            else:
                continue
            sync.touch()
        if child.wait() != 0:
            raise SystemExit(f"the counted run failed (exit {child.returncode})")
        return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=["healthz", "list"])
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("-n", type=int, default=300, help="requests counted")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.db, args.n, args.scenarios, args.child)
        return 0
    for name, count in _count(args.db, args.n, args.scenarios).items():
        print(f"{args.db:6} {name:14} {count:12,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
