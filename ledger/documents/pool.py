"""Rendering e-policies off the serving process: a small pool of worker processes, so a PDF's ~10 ms of pure
Python runs on another core instead of holding the interpreter lock every request needs."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

from ledger.documents.epolicy import EPolicyView, render_epolicy


class RenderPool:
    """``render(view)`` gives the PDF bytes; with ``workers`` 0 it renders in the calling thread.

    The pool starts on first use (spawned processes: forking a threaded server is unsafe) and is shut down by
    ``close()``. Rendering is deterministic in any process, so the bytes do not depend on where they were made.
    """

    def __init__(self, *, workers: int) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def render(self, view: EPolicyView) -> bytes:
        if self.workers == 0:
            return render_epolicy(view)
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                                 mp_context=multiprocessing.get_context("spawn"))
            pool = self._pool
        return pool.submit(render_epolicy, view).result(timeout=60)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
