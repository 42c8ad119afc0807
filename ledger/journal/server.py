"""One journal writer for several serving processes: the serving process's side (``JournalServer``).

See ``ledger/journal/remote.py`` for the design and the wire format. Each worker's connection has a reader, which
queues what the worker sends for the writer, and a sender, which sends the outcomes back as they settle (several
to a frame) with the streams each committed batch moved.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import queue
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from ledger.errors import LedgerError
from ledger.journal.remote import HEADER, ErrorForm, error_form, receive_frame, unit_of
from ledger.journal.units import Receipt, Unit
from ledger.journal.writer import Journal
from ledger.peers import LocalServer, Thread

__all__ = ["SEND_TIMEOUT", "JournalServer"]

log = logging.getLogger(__name__)
SEND_TIMEOUT = 10.0  # seconds a worker may leave its answers unread before its connection is closed


class JournalServer(LocalServer):
    """Accepts worker processes on a Unix socket and queues their units for ``journal`` (started by the caller).

    Each connection has a reader, which queues what the worker sends, and a sender, which sends the outcomes back
    as they settle, several to a frame: the writer thread only hands an outcome to the sender, so a worker that
    stops reading never holds up the writer (after ``SEND_TIMEOUT`` seconds without progress its connection is
    closed, and its own side fails what it waits for). A connection that breaks loses only its answers: what was
    queued is written regardless, and the caller retries with the same events (a recorded event returns its
    original receipt).
    """

    what = "journal"

    def __init__(self, journal: Journal, *, address: Path) -> None:
        super().__init__(address=address)
        self._journal = journal
        self._peers: set[_Peer] = set()
        self._unlisten: Callable[[], None] = lambda: None

    def start(self) -> None:
        """Listen on ``address`` (its directory must exist and be the serving user's own)."""
        super().start()
        self._unlisten = self._journal.listen(self._broadcast)

    def stop(self) -> None:
        """Stop accepting, close every connection and remove the socket."""
        self._unlisten()
        super().stop()

    def admit(self, sock: socket.socket) -> list[Thread]:
        peer = _Peer(sock)
        self._peers.add(peer)
        return [(self._serve, "journal-server-peer", (peer,)), (peer.send_answers, "journal-server-answers", ())]

    def close_peers(self) -> None:
        with self._lock:
            peers, self._peers = list(self._peers), set()
        for peer in peers:
            peer.close()

    def _broadcast(self, streams: set[str]) -> None:
        """Tell every worker which streams a committed batch moved (for their live progress)."""
        with self._lock:
            peers = [] if self._closed else list(self._peers)
        for peer in peers:
            peer.notify(streams)

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
