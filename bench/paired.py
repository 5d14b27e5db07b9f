"""Two checkouts timed in turn: before/after ratios on a busy machine.

    python -m bench.paired BEFORE_DIR [--after DIR] [--db pg] [scenario ...]

Each checkout runs in its own process with its own database, set up as
bench.inprocess does (production settings, the Redis limiter, the log line
on, stderr discarded while timing). The driver then asks them in turn for
short batches (-n requests, process CPU µs per request), switching which goes
first every round, so both see the same moments of the machine's load. It
prints, per scenario, the median of the rounds' after/before ratios (and the
range of the middle half), and each side's best and median batch.

BEFORE_DIR is a tree of the other commit, e.g.
`git archive main | tar -x -C /tmp/before`. Both run on this interpreter: the
working directory decides which `bookstore` a process imports.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from bench.inprocess import SCENARIOS

_CHILD = """
import sys, tempfile
from pathlib import Path
from bench import inprocess as ip

with tempfile.TemporaryDirectory(prefix="bench-paired-") as tmp, \\
        ip._database(sys.argv[1], Path(tmp)) as url:
    app = ip._app(url)
    with ip._stderr_to_null():
        environs = ip._requests(app)
        print("@ready", flush=True)
        for line in sys.stdin:
            name, n = line.split()
            print(f"@{ip._timer(app, environs[name], int(n))}", flush=True)
    from bookstore.extensions import db
    with app.app_context():
        db.engine.dispose()
"""


class Side:
    """One checkout's benchmark process."""

    def __init__(self, directory: Path, db: str, log) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, db],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self._answer()  # @ready

    def _answer(self) -> str:
        for line in self.process.stdout:
            if line.startswith("@"):
                return line[1:].strip()
        raise RuntimeError(f"the process ended (exit {self.process.wait()})")

    def time(self, scenario: str, n: int) -> float:
        self.process.stdin.write(f"{scenario} {n}\n")
        self.process.stdin.flush()
        return float(self._answer())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(60)


def _quartiles(values: list[float]) -> tuple[float, float]:
    low, _, high = statistics.quantiles(values, n=4)
    return low, high


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument(
        "--after", type=Path, default=Path(__file__).resolve().parent.parent
    )
    parser.add_argument("scenarios", nargs="*", default=["list", "get", "create"])
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("-n", type=int, default=200, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--log", type=Path, default=Path("/dev/null"))
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - (set(SCENARIOS) - {"bare"})  # bare: no app
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    with args.log.open("a") as log:
        sides = {
            "before": Side(args.before, args.db, log),
            "after": Side(args.after, args.db, log),
        }
        try:
            for scenario in args.scenarios:  # warm up
                for side in sides.values():
                    side.time(scenario, args.n)
            took = {(s, name): [] for s in args.scenarios for name in sides}
            for round_ in range(args.rounds):
                order = ["before", "after"][:: 1 if round_ % 2 == 0 else -1]
                for scenario in args.scenarios:
                    for name in order:
                        took[scenario, name].append(sides[name].time(scenario, args.n))
        finally:
            for side in sides.values():
                side.close()
    print(f"{args.db}: {args.rounds} rounds of {args.n} requests, CPU µs per request")
    for scenario in args.scenarios:
        before, after = took[scenario, "before"], took[scenario, "after"]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        low, high = _quartiles(ratios)
        print(
            f"{args.db:6} {scenario:8} after/before {statistics.median(ratios):.3f}"
            f" (middle half {low:.3f}-{high:.3f})"
            f"  before best {min(before):7.1f} median {statistics.median(before):7.1f}"
            f"  after best {min(after):7.1f} median {statistics.median(after):7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
