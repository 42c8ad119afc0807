"""One journal writer for several serving processes: worker processes queue their units over a local socket.

``lifeledger serve --workers N`` runs the journal writer in the serving supervisor, the process that starts and
outlives the HTTP workers, behind a ``JournalServer``; each worker appends through a ``RemoteJournal`` connected
to it. A writer in every worker would work too (they take turns on the writers' lock), but under load nearly every
batch then finds that the other process appended while it was being placed and is placed a second time, and each
writer competes for its process's interpreter lock with the request threads while the other process waits for the
turn. One writer places every batch once, with a core's interpreter lock of its own, in larger group commits.

The socket is a Unix socket in a directory only the serving user can enter (0700); the server also checks that
each peer runs as the same user (``SO_PEERCRED``). Frames are a 4-byte length and a pickle: the peer is the same
user's own process, trusted as much as the data dir it opens. A request frame is ``(first id, [unit, ...])``, each
answer frame ``(id, receipts, error)``; ledger errors cross with their class and fields (``StreamMoved`` keeps its
stream and positions).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ledger import errors
from ledger.errors import LedgerError, StorageError
from ledger.journal.units import Receipt, Unit
from ledger.journal.writer import Journal
from ledger.store import Store

__all__ = ["JournalServer", "RemoteJournal"]

log = logging.getLogger(__name__)
_HEADER = struct.Struct("!I")
_MAX_FRAME = 512 * 1024 * 1024  # a batch of appends; anything larger is a broken peer
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
UnitForm = tuple[Any, ...]
ErrorForm = tuple[str, str, dict[str, Any]]


# -- frames and forms -----------------------------------------------------------------------------------------------


def _send(sock: socket.socket, lock: threading.Lock, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(reader: IO[bytes]) -> Any:
    """The next frame's value; ``EOFError`` when the peer has gone."""
    header = reader.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the peer closed the journal socket")
    (size,) = _HEADER.unpack(header)
    if size > _MAX_FRAME:
        raise EOFError(f"a journal frame of {size} bytes is larger than any batch")
    data = reader.read(size)
    if len(data) < size:
        raise EOFError("the peer closed the journal socket in the middle of a frame")
    return pickle.loads(data)  # the peer is the same user's serving process (checked at accept)


def unit_form(unit: Unit) -> UnitForm:
    """What crosses the socket for a unit: everything but its outcome, which stays with the caller."""
    expected = dict(unit.expected) if unit.expected is not None else None
    return (unit.events, unit.owner, unit.group, expected, unit.signed_here, unit.index, unit.checked)


def unit_of(form: UnitForm) -> Unit:
    events, owner, group, expected, signed_here, index, checked = form
    return Unit(list(events), owner, group=group, expected=expected, signed_here=signed_here, index=tuple(index),
                checked=checked)


def error_form(exc: BaseException) -> ErrorForm:
    """A ledger error as (class name in ``ledger.errors``, message, fields); anything else as a storage error."""
    if isinstance(exc, LedgerError):
        for cls in type(exc).__mro__:
            if getattr(errors, cls.__name__, None) is cls:
                return cls.__name__, exc.message, dict(vars(exc))
    return "StorageError", f"the journal writer failed: {type(exc).__name__}", {}


def error_of(form: ErrorForm) -> LedgerError:
    """The error an ``error_form`` describes, with its fields, without calling its constructor."""
    name, message, fields = form
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, LedgerError)):
        cls = StorageError
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(fields)
    error.message = message
    error.field = fields.get("field")
    return error


# -- the writer's side ----------------------------------------------------------------------------------------------


class JournalServer:
    """Accepts worker processes on a Unix socket and queues their units for ``journal`` (started by the caller).

    Each unit's outcome goes back on its connection from the writer thread as soon as it settles. A connection
    that breaks loses only its answers: what was queued is written regardless, and the caller retries with the same
    events (a recorded event returns its original receipt).
    """

    def __init__(self, journal: Journal, *, address: Path) -> None:
        self._journal = journal
        self.address = address
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._peers: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False

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
        self._spawn(self._accept, "journal-server")

    def stop(self) -> None:
        """Stop accepting, close every connection and remove the socket."""
        with self._lock:
            self._closed = True
            peers, self._peers = list(self._peers), set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.address.unlink()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                peer, _ = self._listener.accept()
            except OSError:
                return  # stopped
            _, uid, _ = _PEERCRED.unpack(peer.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            with self._lock:
                refused = self._closed or uid != os.getuid()
                if not refused:
                    self._peers.add(peer)
            if refused:
                log.warning("refused a journal connection from uid %d", uid)
                peer.close()
                continue
            self._spawn(self._serve, "journal-server-peer", peer)

    def _serve(self, peer: socket.socket) -> None:
        lock = threading.Lock()
        reader = peer.makefile("rb")
        try:
            while True:
                first, forms = _receive(reader)
                units = [unit_of(form) for form in forms]
                for number, unit in enumerate(units):
                    unit.outcome.when_done(self._answer(peer, lock, first + number, unit))
                self._journal.queue_units(units)
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError) as exc:
            if not isinstance(exc, EOFError):
                log.warning("a journal connection failed: %s: %s", type(exc).__name__, exc)
        finally:
            reader.close()
            peer.close()
            with self._lock:
                self._peers.discard(peer)

    @staticmethod
    def _answer(peer: socket.socket, lock: threading.Lock, number: int, unit: Unit) -> Callable[[], None]:
        def answer() -> None:
            try:
                receipts = unit.outcome.result(timeout=0)
            except LedgerError as exc:
                message: tuple[int, list[Receipt] | None, ErrorForm | None] = (number, None, error_form(exc))
            else:
                message = (number, receipts, None)
            with contextlib.suppress(OSError):  # the worker went away: its caller learns of it there
                _send(peer, lock, message)

        return answer


# -- a worker's side ------------------------------------------------------------------------------------------------


class RemoteJournal(Journal):
    """A ``Journal`` whose units are written by the journal server at ``address`` (see the module docstring).

    The checks that run before queuing (``append_many``'s) run here; the writer's own checks, placement and commit
    run in the serving process. ``appended`` counts this process's events; its ``batches`` stay 0 (the group
    commits are the serving process's).
    """

    def __init__(self, store: Store, *, address: Path, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.address = address
        self._sock: socket.socket | None = None
        self._receiver: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._waiting: dict[int, Unit] = {}
        self._next = 0
        self._broken: str | None = None

    def start(self) -> None:
        with self._start_lock:
            if self._sock is not None:
                return
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.address))
            except OSError as exc:
                sock.close()
                raise StorageError(f"cannot reach the journal writer of the serving process at {self.address}: "
                                   f"{exc.strerror or exc}") from exc
            self._sock, self._broken = sock, None
            self._receiver = threading.Thread(target=self._receive, args=(sock,), name="journal-remote",
                                              daemon=True)
            self._receiver.start()
            if self._checkers is None:
                self._checkers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="signature-check")

    def stop(self) -> None:
        with self._start_lock:
            sock, self._sock = self._sock, None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                if self._receiver is not None:
                    self._receiver.join(timeout=5)
                sock.close()
            if self._checkers is not None:
                self._checkers.shutdown(wait=False)
                self._checkers = None
            self._lose("the journal stopped before this append was answered")

    def queue_units(self, units: list[Unit]) -> None:
        with self._send_lock:
            sock, broken = self._sock, self._broken
            if sock is None or broken is not None:
                failure = StorageError(f"{broken or 'the journal is not started'}; nothing of this append was "
                                       f"sent, so retry it")
                for unit in units:
                    unit.outcome.fail(failure)
                return
            first = self._next
            self._next += len(units)
            for number, unit in enumerate(units):
                self._waiting[first + number] = unit
            data = pickle.dumps((first, [unit_form(unit) for unit in units]), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                sock.sendall(_HEADER.pack(len(data)) + data)
            except OSError as exc:
                self._broken = f"lost the journal writer of the serving process ({exc.strerror or exc})"
        if self._broken is not None:
            self._lose(self._broken)

    def _receive(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        try:
            while True:
                number, receipts, error = _receive(reader)
                with self._send_lock:
                    unit = self._waiting.pop(number, None)
                if unit is None:
                    continue
                if error is not None:
                    unit.outcome.fail(error_of(error))
                else:
                    self.appended += len(receipts)
                    unit.outcome.settle(receipts)
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError) as exc:
            reason = exc if isinstance(exc, EOFError) else f"{type(exc).__name__}: {exc}"
            with self._send_lock:
                self._broken = self._broken or f"lost the journal writer of the serving process ({reason})"
                broken = self._broken
            self._lose(broken)
        finally:
            reader.close()

    def _lose(self, reason: str) -> None:
        """Fail every unit still waiting: its outcome is unknown (written or not), so its caller retries."""
        with self._send_lock:
            waiting, self._waiting = list(self._waiting.values()), {}
        failure = StorageError(f"{reason}: whether the append was recorded is unknown, so retry it with the same "
                               f"events (a recorded event returns its original receipt)")
        for unit in waiting:
            if not unit.outcome.done():
                unit.outcome.fail(failure)
