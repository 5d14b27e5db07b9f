"""Bounded background load: threads sending requests and recording every answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.reliability.servers import Response


@dataclass
class Outcome:
    label: str
    started: float
    response: Response


@dataclass
class Load:
    """`threads` × up to `per_thread` calls of `step(n, i) -> (label, Response)`."""

    step: Callable[[int, int], tuple[str, Response]]
    threads: int = 4
    per_thread: int = 100
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, args=(n,), daemon=True)
            for n in range(self.threads)
        ]

    def _run(self, n: int) -> None:
        for i in range(self.per_thread):
            if self._stop.is_set():
                return
            started = time.monotonic()
            label, response = self.step(n, i)
            with self._lock:
                self.outcomes.append(Outcome(label, started, response))

    def start(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def wait_for(self, count: int, *, since: float = 0.0, within: float = 90) -> None:
        """Wait until `count` calls that started after `since` have answered."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(self.after(since)) >= count:
                return
            if not any(w.is_alive() for w in self._workers):
                return
            time.sleep(0.05)

    def after(self, since: float) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.started >= since]

    def stop(self, within: float = 120) -> list[Outcome]:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=within)
        assert not any(w.is_alive() for w in self._workers), "load did not stop"
        return list(self.outcomes)
