"""Signed checkpoints: cut a C2SP signed tree head whenever the log has grown, on a timer and on demand."""

from __future__ import annotations

import logging
import threading

from ledger.clock import Periodic
from ledger.log import merkle
from ledger.log.checkpoint import Checkpoint
from ledger.log.identifiers import utc_timestamp
from ledger.log.note import NoteSigner
from ledger.store import CheckpointRow, Store

log = logging.getLogger(__name__)


class Checkpointer:
    """Cuts checkpoints; every one is kept. Callers can wait until a checkpoint covers a given size."""

    def __init__(self, store: Store, *, signer: NoteSigner, origin: str, interval: float) -> None:
        self._store = store
        self._signer = signer
        self._origin = origin
        self._interval = interval
        self._cut_lock = threading.Lock()
        self._covered = threading.Condition()
        self._rounds = Periodic("checkpointer", interval, self.cut)

    def cut(self) -> CheckpointRow | None:
        """Sign a checkpoint of the current tree if it is larger than the latest one; return the latest.

        Returns None only while the log is empty.
        """
        with self._cut_lock:
            latest = self._store.latest_checkpoint()
            size = self._store.size()
            if size == 0 or (latest is not None and latest.tree_size >= size):
                return latest
            root = merkle.tree_root(size, self._store.read_nodes)
            note = self._signer.sign(Checkpoint(origin=self._origin, size=size, root=root).body())
            row = CheckpointRow(tree_size=size, root=root, note=note, created_at=utc_timestamp())
            if not self._store.insert_checkpoint(row):  # another process cut the same size first
                row = self._store.checkpoint(size)
        with self._covered:
            self._covered.notify_all()
        return row

    def wait_for(self, size: int, *, timeout: float) -> CheckpointRow | None:
        """Block until a checkpoint of at least ``size`` entries exists, or ``timeout`` seconds pass."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            with self._covered:
                while True:
                    latest = self._store.latest_checkpoint()
                    if latest is not None and latest.tree_size >= size:
                        return latest
                    if deadline.is_set():
                        return None
                    self._covered.wait(timeout=min(self._interval, timeout))
        finally:
            timer.cancel()

    def start(self) -> None:
        """Cut a checkpoint every interval on a thread of its own (a failed cut is logged and tried again)."""
        self._rounds.start()

    def stop(self) -> None:
        self._rounds.stop()
