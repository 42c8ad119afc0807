"""The policy clock worker: inside ``serve`` it performs the transitions due each day (notices, grace, lapse,
free-look end, maturity), every ``interval`` seconds; ``lifeledger clock run`` performs them once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date

log = logging.getLogger(__name__)


class ClockWorker:
    """Runs ``run(today)`` every ``interval`` seconds on a daemon thread until stopped; a failure is logged and
    retried at the next interval (the transitions are idempotent, so nothing is done twice)."""

    def __init__(self, run: Callable[[date], dict[str, int]], today: Callable[[], date], *, interval: float) -> None:
        self._run = run
        self._today = today
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="policy-clock", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                counts = self._run(self._today())
                self.runs += 1
                if counts:
                    log.info("policy clock: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
            except Exception:  # the next run tries again; transitions are idempotent
                log.exception("policy clock run failed")
