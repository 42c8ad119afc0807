"""A Unix socket server for this user's own processes: ``serve --workers`` reaches its workers through them (the
journal writer's, ``ledger.journal.server``; the embedded chain's, ``ledger.anchoring.sharing``)."""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from ledger.errors import StorageError

__all__ = ["PEERCRED", "LocalServer"]

log = logging.getLogger(__name__)
PEERCRED = struct.Struct("3i")  # SO_PEERCRED: pid, uid, gid
Thread = tuple[Callable[..., None], str, tuple[object, ...]]  # what a thread runs, its name, the arguments


class LocalServer(abc.ABC):
    """Listens on a Unix stream socket at ``address`` (in a directory only this user can enter) and admits
    connections from this user's processes only (``SO_PEERCRED``).

    A subclass names itself in ``what`` and implements :meth:`admit`, which records a new connection (it runs under
    ``_lock``, after a check that the server is not closed) and says which threads serve it; :meth:`close_peers`
    closes what it recorded when the server stops.
    """

    what = "local"

    def __init__(self, *, address: Path) -> None:
        self.address = address
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @abc.abstractmethod
    def admit(self, sock: socket.socket) -> list[Thread]:
        """Record the admitted connection ``sock`` and return the threads that serve it."""

    @abc.abstractmethod
    def close_peers(self) -> None:
        """Close every connection :meth:`admit` recorded (called once ``_closed`` is set)."""

    def start(self) -> None:
        """Listen on ``address`` (its directory must exist and be the serving user's own)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                self.address.unlink()
            listener.bind(str(self.address))
            os.chmod(self.address, 0o600)
            listener.listen(64)
        except OSError as exc:
            listener.close()
            raise StorageError(f"cannot listen for worker processes on {self.address}: {exc.strerror or exc}") from exc
        self._listener = listener
        self.spawn(self._accept, f"{self.what}-server")

    def stop(self) -> None:
        """Stop accepting, close every connection, wait for the threads serving them and remove the socket."""
        with self._lock:
            self._closed = True
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
        self.close_peers()
        for thread in self._threads:
            thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.address.unlink()

    def spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError as exc:
                if self._closed:
                    return
                log.warning("accepting a %s connection failed: %s", self.what, exc)  # e.g. out of descriptors
                threading.Event().wait(0.1)
                continue
            try:
                _, uid, _ = PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size))
            except OSError:
                sock.close()
                continue
            with self._lock:
                threads = self.admit(sock) if not self._closed and uid == os.getuid() else None
            if threads is None:
                if not self._closed:
                    log.warning("refused a %s connection from uid %d", self.what, uid)
                sock.close()
                continue
            for target, name, args in threads:
                self.spawn(target, name, *args)
