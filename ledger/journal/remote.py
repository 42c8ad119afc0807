"""One journal writer for several serving processes: the worker's side (``RemoteJournal``) and the wire format.

``lifeledger serve --workers N`` runs the journal writer in the serving supervisor, the process that starts and
outlives the HTTP workers, behind a ``JournalServer`` (``ledger/journal/server.py``); each worker appends through a
``RemoteJournal`` connected to it. A writer in every worker would work too (they take turns on the writers' lock),
but under load nearly every batch then finds that the other process appended while it was being placed and is
placed a second time, and each writer competes for its process's interpreter lock with the request threads while
the other process waits for the turn. One writer places every batch once, with a core's interpreter lock of its
own, in larger group commits.

The socket is a Unix socket in a directory only the serving user can enter (0700); the server also checks that
each peer runs as the same user (``SO_PEERCRED``). Frames are a 4-byte length and a pickle: the peer is the same
user's own process, trusted as much as the data dir it opens. A request frame is ``(first id, [unit, ...])``, an
answer frame ``([(id, receipts, error), ...], {stream, ...})``: the outcomes, and the streams the batches committed
since the last frame moved, whoever appended to them (``Journal.listen`` in every worker hears of them, which is
how live progress follows a change another worker made); ledger errors cross with their class and fields
(``StreamMoved`` keeps its stream and positions). A worker that loses the connection fails what it waits for at
once, and its next append connects again.
"""

from __future__ import annotations

import contextlib
import pickle
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ledger import errors
from ledger.errors import LedgerError, StorageError
from ledger.journal.units import Unit
from ledger.journal.writer import Journal
from ledger.store import Store

__all__ = ["RemoteJournal", "error_form", "error_of", "receive_frame", "unit_form", "unit_of"]

HEADER = struct.Struct("!I")
_MAX_FRAME = 512 * 1024 * 1024  # a batch of appends; anything larger is a broken peer
UnitForm = tuple[Any, ...]
ErrorForm = tuple[str, str, dict[str, Any]]


# -- frames and forms -----------------------------------------------------------------------------------------------


def receive_frame(reader: IO[bytes]) -> Any:
    """The next frame's value; ``EOFError`` when the peer has gone."""
    header = reader.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("the peer closed the journal socket")
    (size,) = HEADER.unpack(header)
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


# -- a worker's side ------------------------------------------------------------------------------------------------


class _Connection:
    """One connection to the journal server and the units waiting for their answers on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.waiting: dict[int, Unit] = {}
        self.broken: str | None = None
        self.receiver: threading.Thread | None = None


class RemoteJournal(Journal):
    """A ``Journal`` whose units are written by the journal server at ``address`` (see the module docstring).

    The checks that run before queuing (``append_many``'s) run here; the writer's own checks, placement and commit
    run in the serving process. ``appended`` counts this process's events; its ``batches`` stay 0 (the group
    commits are the serving process's). A unit waits on the connection it was sent on, and when that connection
    ends, for whatever reason, every unit waiting on it fails at once as "outcome unknown"; the next append
    connects again.
    """

    def __init__(self, store: Store, *, address: Path, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.address = address
        self._conn: _Connection | None = None
        self._lock = threading.Lock()  # the connection, its waiting units, the ids and each frame's send
        self._next = 0

    def start(self) -> None:
        """Connect to the journal server, or connect again if the connection was lost (every append starts the
        journal first, so an append after the serving process's writer came back reaches it). Raises
        ``StorageError`` if the server cannot be reached."""
        current = self._conn
        if (current is not None and current.broken is None and current.receiver is not None
                and current.receiver.is_alive() and self._checkers is not None):
            return  # connected: the request threads of a worker take no lock here on every append
        with self._start_lock:
            with self._lock:
                old = self._conn
            if old is not None and old.broken is None and old.receiver is not None and old.receiver.is_alive():
                return
            if old is not None:
                self._drop(old, "lost the journal writer of the serving process")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.address))
            except OSError as exc:
                sock.close()
                raise StorageError(f"cannot reach the journal writer of the serving process at {self.address}: "
                                   f"{exc.strerror or exc}") from exc
            conn = _Connection(sock)
            conn.receiver = threading.Thread(target=self._receive, args=(conn,), name="journal-remote", daemon=True)
            with self._lock:
                self._conn = conn
            conn.receiver.start()
            if self._checkers is None:
                self._checkers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="signature-check")

    def stop(self) -> None:
        with self._start_lock:
            with self._lock:
                conn, self._conn = self._conn, None
            if conn is not None:
                self._drop(conn, "the journal stopped before this append was answered")
                if conn.receiver is not None:
                    conn.receiver.join(timeout=5)
                conn.sock.close()
            if self._checkers is not None:
                self._checkers.shutdown(wait=False)
                self._checkers = None

    def queue_units(self, units: list[Unit]) -> None:
        failed: str | None = None
        with self._lock:
            conn = self._conn
            if conn is None or conn.broken is not None:
                refusal = StorageError(f"{conn.broken if conn is not None else 'the journal is not started'}; "
                                       f"nothing of this append was sent, so retry it")
                for unit in units:
                    unit.outcome.fail(refusal)
                return
            first = self._next
            self._next += len(units)
            for number, unit in enumerate(units):
                conn.waiting[first + number] = unit
            data = pickle.dumps((first, [unit_form(unit) for unit in units]), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                conn.sock.sendall(HEADER.pack(len(data)) + data)
            except OSError as exc:
                failed = f"lost the journal writer of the serving process ({exc.strerror or exc})"
        if failed is not None:
            self._drop(conn, failed)

    def _receive(self, conn: _Connection) -> None:
        """Settle each answered unit and hear which streams moved; when the connection ends, for whatever reason,
        fail every unit still waiting on it."""
        reader = conn.sock.makefile("rb")
        reason = "the connection ended"
        try:
            while True:
                answers, streams = receive_frame(reader)
                for number, receipts, error in answers:
                    with self._lock:
                        unit = conn.waiting.pop(number, None)
                    if unit is None:
                        continue
                    try:
                        if error is not None:
                            unit.outcome.fail(error_of(error))
                        else:
                            self.appended += len(receipts)
                            unit.outcome.settle(receipts)
                    except BaseException:
                        with self._lock:
                            conn.waiting[number] = unit  # failed below with the others (unless settled after all)
                        raise
                if streams:
                    self._committed(streams)
        except EOFError as exc:
            reason = str(exc)
        except Exception as exc:  # anything at all: the waiting units must hear of it
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            reader.close()
            self._drop(conn, f"lost the journal writer of the serving process ({reason})")
            conn.sock.close()  # nothing sends on a dropped connection: this thread was its last user

    def _drop(self, conn: _Connection, reason: str) -> None:
        """Mark ``conn`` broken (keeping the first reason), close it for sending and receiving, and fail every unit
        still waiting on it: its outcome is unknown (written or not), so its caller retries."""
        with self._lock:
            conn.broken = conn.broken or reason
            waiting, conn.waiting = list(conn.waiting.values()), {}
            broken = conn.broken
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        failure = StorageError(f"{broken}: whether the append was recorded is unknown, so retry it with the same "
                               f"events (a recorded event returns its original receipt)")
        for unit in waiting:
            if not unit.outcome.done():
                unit.outcome.fail(failure)
