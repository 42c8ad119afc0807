"""The writers' turn on a SQLite file: one lock for the threads of this process and the processes beside it.

SQLite lets one connection write at a time. A connection that finds the file locked waits in SQLite's busy
handler, which sleeps and polls with growing pauses (up to 100 ms each): with two server processes on one file,
a writer that arrives just after another began can sleep long after the file was free again. Here each writer
first takes its turn on a thread lock (the threads of one process) and then on an exclusive ``flock`` of a file
beside the database (the processes on the same data dir), polled with pauses of at most ``MAX_PAUSE``.

A second file beside it, the door (``<database>-writer.door``), keeps one busy writer from shutting the others
out: a writer takes the door, then the turn, and lets the door go. A process that wants one write while another
takes the turn back to back (the serving process's journal writer under load) holds the door while it waits, so
the busy one cannot take the turn again before it; without the door its polls had to fall in the microseconds
between two turns, and a one-time code or an idempotency record waited up to seconds. Against two or more busy
writers the door only shortens the wait (waiters polling the door are not served in order). The door is waited
for at most ``DOOR_PATIENCE`` (a waiter stopped at the door then costs the others that much, not ``PATIENCE``),
and where it cannot be created (a data dir this user may not write) the turn is taken without it. Writers
that do not take it (rare maintenance writes) still meet SQLite's own locking, so the lock is about waiting well,
never about correctness: after ``PATIENCE`` seconds (a process stopped while holding it, say) a writer goes on
without the file's lock and SQLite's busy timeout decides, as it would without this lock.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

from ledger.errors import ConfigurationError

LOCK_SUFFIX = "-writer.lock"
DOOR_SUFFIX = "-writer.door"
PATIENCE = 10.0  # seconds, as SQLite's busy timeout: the door and the turn together
DOOR_PATIENCE = 0.5  # seconds at most at the door, which only orders the waiters
MAX_PAUSE = 0.002  # the longest pause between two looks at a lock another process holds

log = logging.getLogger(__name__)


class WriteLock:
    """A thread lock and, for a database file, an exclusive ``flock`` of ``<database>-writer.lock`` held with it,
    taken through the door ``<database>-writer.door`` (see the module docstring).

    Use it as a context manager or with ``acquire``/``release`` (not re-entrant, like ``threading.Lock``).
    Raises ``ConfigurationError`` if the lock file cannot be opened, or the door for another reason than this user
    not being allowed to create it.
    """

    def __init__(self, database: Path | None = None) -> None:
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._door: int | None = None
        self._flocked = False
        self.path = None if database is None else database.with_name(database.name + LOCK_SUFFIX)
        self.door_path = None if database is None else database.with_name(database.name + DOOR_SUFFIX)
        if self.path is not None and self.door_path is not None:
            self._fd = _open(self.path)
            try:
                self._door = _open(self.door_path)
            except ConfigurationError as exc:
                if getattr(exc.__cause__, "errno", None) not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    os.close(self._fd)
                    raise
                log.info("%s: the writers' turn is taken without its door", exc.message)
            except BaseException:
                os.close(self._fd)
                raise
            # a store never closed leaks no descriptor
            self._closer = weakref.finalize(self, _close_all, self._fd, self._door)

    def acquire(self) -> bool:
        self._threads.acquire()
        fd, door = self._fd, self._door
        if fd is not None:
            deadline = time.monotonic() + PATIENCE
            try:
                at_door = door is not None and _flock(
                    door, self.door_path, deadline=min(deadline, time.monotonic() + DOOR_PATIENCE),
                    what="the writers' door", then="waiting for the turn without it")
                try:
                    self._flocked = _flock(fd, self.path, deadline=deadline, what="the writers' lock",
                                           then="writing without it")
                finally:
                    if at_door and door is not None:
                        fcntl.flock(door, fcntl.LOCK_UN)
            except BaseException:
                self._threads.release()
                raise
        return True

    def release(self) -> None:
        fd, flocked = self._fd, self._flocked
        self._flocked = False
        try:
            if fd is not None and flocked:
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
        """Let go of the lock file (after the last write; waits up to ``PATIENCE`` for a writer holding it, and
        leaves the descriptor to be closed with the object if one still does)."""
        if not self._threads.acquire(timeout=PATIENCE):
            log.warning("a writer still holds the writers' lock %s; its file is closed when the store is freed",
                        self.path)
            return
        try:
            self._fd = self._door = None
            if self.path is not None:
                self._closer()
        finally:
            self._threads.release()


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot open the writers' lock file {path}: {exc.strerror or exc}") from exc


def _close_all(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def _flock(fd: int, path: Path | None, *, deadline: float, what: str, then: str) -> bool:
    """Take the file's exclusive lock, looking again after pauses of at most ``MAX_PAUSE``; True once taken, False
    at ``deadline`` (a ``time.monotonic()`` value; for the turn, SQLite's own locking then decides)."""
    pause, started = 0.0001, time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            log.warning("another process held %s %s for %.1f s; %s", what, path, time.monotonic() - started, then)
            return False
        time.sleep(pause)
        pause = min(pause * 2, MAX_PAUSE)
