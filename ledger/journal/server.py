"""One journal writer for several serving processes: the serving process's side (``JournalServer``).

See ``ledger/journal/remote.py`` for the design and the wire format. Each worker's connection has a reader, which
queues what the worker sends for the writer, and a sender, which sends the outcomes back as they settle (several
to a frame) with the streams each committed batch moved.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ledger.errors import LedgerError, StorageError
from ledger.journal.remote import HEADER, ErrorForm, error_form, receive_frame, unit_of
from ledger.journal.units import Receipt, Unit
from ledger.journal.writer import Journal

__all__ = ["SEND_TIMEOUT", "JournalServer"]

log = logging.getLogger(__name__)
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
SEND_TIMEOUT = 10.0  # seconds a worker may leave its answers unread before its connection is closed


class JournalServer:
    """Accepts worker processes on a Unix socket and queues their units for ``journal`` (started by the caller).

    Each connection has a reader, which queues what the worker sends, and a sender, which sends the outcomes back
    as they settle, several to a frame: the writer thread only hands an outcome to the sender, so a worker that
    stops reading never holds up the writer (after ``SEND_TIMEOUT`` seconds without progress its connection is
    closed, and its own side fails what it waits for). A connection that breaks loses only its answers: what was
    queued is written regardless, and the caller retries with the same events (a recorded event returns its
    original receipt).
    """

    def __init__(self, journal: Journal, *, address: Path) -> None:
        self._journal = journal
        self.address = address
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._peers: set[_Peer] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._unlisten: Callable[[], None] = lambda: None

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
        self._unlisten = self._journal.listen(self._broadcast)
        self._spawn(self._accept, "journal-server")

    def stop(self) -> None:
        """Stop accepting, close every connection and remove the socket."""
        self._unlisten()
        with self._lock:
            self._closed = True
            peers, self._peers = list(self._peers), set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
        for peer in peers:
            peer.close()
        for thread in self._threads:
            thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.address.unlink()

    def _broadcast(self, streams: set[str]) -> None:
        """Tell every worker which streams a committed batch moved (for their live progress)."""
        with self._lock:
            peers = [] if self._closed else list(self._peers)
        for peer in peers:
            peer.notify(streams)

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
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
                log.warning("accepting a journal connection failed: %s", exc)  # e.g. out of descriptors: go on
                time.sleep(0.1)
                continue
            try:
                _, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            except OSError:
                sock.close()
                continue
            with self._lock:
                refused = self._closed or uid != os.getuid()
                peer = None if refused else _Peer(sock)
                if peer is not None:
                    self._peers.add(peer)
            if peer is None:
                log.warning("refused a journal connection from uid %d", uid)
                sock.close()
                continue
            self._spawn(self._serve, "journal-server-peer", peer)
            self._spawn(peer.send_answers, "journal-server-answers")

    def _serve(self, peer: _Peer) -> None:
        reader = peer.sock.makefile("rb")
        try:
            while True:
                first, forms = receive_frame(reader)
                units = [unit_of(form) for form in forms]
                for number, unit in enumerate(units):
                    unit.outcome.when_done(peer.answer(first + number, unit))
                self._journal.queue_units(units)
        except Exception as exc:  # a broken or misbehaving peer: close its connection, keep serving the others
            if not isinstance(exc, EOFError):
                log.warning("a journal connection failed: %s: %s", type(exc).__name__, exc)
        finally:
            reader.close()
            peer.close()
            with self._lock:
                self._peers.discard(peer)


class _Peer:
    """One worker's connection: answers queue here from the writer thread and leave from a sender thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        # The kernel's send timeout, not the socket object's (which would make the reader's waits non-blocking):
        # a send that makes no progress for SEND_TIMEOUT seconds fails with EAGAIN.
        seconds = int(SEND_TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                        struct.pack("ll", seconds, int((SEND_TIMEOUT - seconds) * 1e6)))
        self._answers: queue.SimpleQueue[tuple[int, Unit] | set[str] | None] = queue.SimpleQueue()
        self._closed = False

    def answer(self, number: int, unit: Unit) -> Callable[[], None]:
        def settled() -> None:
            self._answers.put((number, unit))

        return settled

    def notify(self, streams: set[str]) -> None:
        self._answers.put(streams)

    def send_answers(self) -> None:
        """Send the settled outcomes and the moved streams, all that are waiting in one frame; stop at ``close`` or
        a failed send."""
        while True:
            batch = [self._answers.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._answers.get_nowait())
            if self._closed or any(item is None for item in batch):
                return  # closed: its worker fails what it waits for, nothing more is sent
            try:
                answers = [_answer_of(*item) for item in batch if isinstance(item, tuple)]
                streams = set().union(*(item for item in batch if isinstance(item, set)))
                data = pickle.dumps((answers, streams), protocol=pickle.HIGHEST_PROTOCOL)
                self.sock.sendall(HEADER.pack(len(data)) + data)
            except Exception as exc:  # gone, not reading for SEND_TIMEOUT s, or unsendable: drop the connection
                if not self._closed:
                    log.warning("dropping a journal connection whose answers could not be sent: %s", exc)
                self.close()
                return

    def close(self) -> None:
        self._closed = True
        self._answers.put(None)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _answer_of(number: int, unit: Unit) -> tuple[int, list[Receipt] | None, ErrorForm | None]:
    try:
        return number, unit.outcome.result(timeout=0), None
    except LedgerError as exc:
        return number, None, error_form(exc)
