"""The writers' turn on a SQLite file: one lock for the threads of this process and the processes beside it.

SQLite lets one connection write at a time. A connection that finds the file locked waits in SQLite's busy
handler, which sleeps and polls with growing pauses (up to 100 ms each): with two server processes on one file,
a writer that arrives just after another began can sleep long after the file was free again. Here each writer
first takes its turn on a thread lock (the threads of one process) and then on an exclusive ``flock`` of a file
beside the database (the processes on the same data dir), and the kernel wakes the next one the moment the lock
is let go. Writers that do not take it (rare maintenance writes) still meet SQLite's own locking, so the lock is
about waiting well, never about correctness.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType

LOCK_SUFFIX = "-writer.lock"


class WriteLock:
    """A thread lock and, for a database file, an exclusive ``flock`` of ``<database>-writer.lock`` held with it.

    Use it as a context manager or with ``acquire``/``release`` (not re-entrant, like ``threading.Lock``).
    """

    def __init__(self, database: Path | None = None) -> None:
        self._threads = threading.Lock()
        self._fd: int | None = None
        self.path = None if database is None else database.with_name(database.name + LOCK_SUFFIX)
        if self.path is not None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self) -> bool:
        self._threads.acquire()
        fd = self._fd
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # waits without the interpreter lock
            except BaseException:
                self._threads.release()
                raise
        return True

    def release(self) -> None:
        fd = self._fd
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def locked(self) -> bool:
        return self._threads.locked()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def close(self) -> None:
        """Let go of the lock file (after the last write; a writer that still holds it keeps its turn)."""
        with self._threads:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
