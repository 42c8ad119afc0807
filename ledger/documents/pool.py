"""Rendering e-policies off the serving process: a small pool of worker processes, so a PDF's ~10 ms of pure
Python runs on another core instead of holding the interpreter lock every request needs."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ledger import cooperative
from ledger.documents.epolicy import EPolicyView, render_epolicy

log = logging.getLogger(__name__)
RENDER_TIMEOUT = 60.0


class RenderPool:
    """``render(view)`` gives the PDF bytes; with ``workers`` 0 it renders in the calling thread.

    The pool starts on first use (spawned processes: forking a threaded server is unsafe) and is shut down by
    ``close()``. Rendering is deterministic in any process, so the bytes do not depend on where they were made:
    if the pool breaks (a worker killed) or a render times out, the pool is started afresh next time and this
    render is done in the calling thread, so a payment never waits on a dead worker. A program that opens a
    ledger with workers needs the ``if __name__ == "__main__":`` idiom (spawned workers import the main module).
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
        try:
            future = pool.submit(render_epolicy, view)
            if cooperative.on_loop():  # a command on the event loop: serve other requests while the PDF renders
                return cooperative.wait(asyncio.wait_for(asyncio.wrap_future(future), RENDER_TIMEOUT))
            return future.result(timeout=RENDER_TIMEOUT)
        except (BrokenProcessPool, TimeoutError, CancelledError, OSError, RuntimeError) as exc:
            log.warning("the e-policy render pool failed (%s); starting it afresh, rendering this one here", exc)
            with self._lock:
                retire = self._pool is pool
                if retire:
                    self._pool = None
            if retire:
                # Other threads' renders on the old pool finish or fail on their own (each falls back here); a
                # worker that hangs is stopped so it does not outlive its pool.
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
                pool.shutdown(wait=False, cancel_futures=False)
            return render_epolicy(view)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
