"""The serving process's side of ``serve --workers``: accept TCP connections and hand each to the worker holding the
fewest open connections, as a file descriptor over the worker's private channel (see ``api.workers``).

It accepts only while some worker can take a connection: otherwise the kernel's queue holds new connections (a
worker starting, every worker busy or being replaced), and nothing is accepted only to be dropped. A worker's
channel that would block is skipped until it can be written; one that refuses a descriptor for want of resources
rests a moment; one whose end is gone is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("uvicorn.error")

ACCEPTS_PER_WAKE = 64
PAUSE_SECONDS = 0.5  # how long accepting rests after the process ran out of descriptors
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
CLOSED = b"-"  # a worker's report: one byte per connection it closed
# Send errors that mean the worker's end is gone; any other (a full buffer, too many descriptors in flight) means
# "not now", and the connection goes to another worker or waits.
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ECONNREFUSED)
WOULD_BLOCK = (errno.EAGAIN, errno.EWOULDBLOCK)
REST_SECONDS = 0.1  # how long a worker whose channel refused a descriptor for want of resources is skipped
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass(eq=False)
class _Worker:
    channel: socket.socket
    pid: int
    open: int = 0  # connections handed over and not yet reported closed
    handed: int = 0  # all connections handed over (breaks ties between equally loaded workers)
    full: bool = False  # its channel would block: skipped until it can be written again
    resting_until: float = 0.0  # its channel refused a descriptor for want of resources: skipped until then


class Dispatcher:
    """Accepts the TCP connections of ``listener`` and hands each to the least loaded worker connected to the
    Unix socket at ``address`` (see the module docstring). Runs in one thread of its own.

    It accepts only while some worker can take a connection: otherwise the kernel's queue holds new connections
    (a worker starting, every worker busy or being replaced), and nothing is accepted only to be dropped.
    """

    def __init__(self, listener: socket.socket, *, address: Path) -> None:
        self._listener = listener
        self._listener.setblocking(False)
        self.address = address
        self._handoff = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._handoff.bind(str(address))
        self._handoff.listen(64)
        self._handoff.setblocking(False)
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._listening: set[socket.socket] = set()
        self._workers: list[_Worker] = []
        self._waiting: deque[socket.socket] = deque()  # accepted, not yet handed to a worker
        self._paused_until = 0.0
        self._stopping = False
        self._closing = threading.Event()  # stop accepting: the listener is to be closed
        self._closed = threading.Event()
        self.failure: BaseException | None = None
        self._seen: set[int] = set()  # pids of the workers that ever connected
        self._seen_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lifeledger-dispatch", daemon=True)

    def start(self) -> None:
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._settle()
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop_accepting(self) -> None:
        """Close the listening socket, so that new clients are refused (and may retry) instead of accepted and
        dropped while the workers shut down; connections already handed over are the workers' to finish."""
        self._closing.set()
        self._wake()
        if self._thread.is_alive():
            self._closed.wait(timeout=10)
        if not self._thread.is_alive() and not self._closed.is_set():  # no thread left to do it
            self._listener.close()
            self._closed.set()

    def stop(self) -> None:
        """Stop handing out connections; close the listening socket, the workers' channels and waiting connections."""
        self._stopping = True
        self._closing.set()
        self._wake()
        self._thread.join(timeout=10)
        for sock in (self._listener, self._handoff, self._wake_read, self._wake_write,
                     *(worker.channel for worker in self._workers), *self._waiting):
            sock.close()
        self._selector.close()

    def served(self, pid: int) -> bool:
        """Whether the worker process ``pid`` ever connected (its application started)."""
        with self._seen_lock:
            return pid in self._seen

    def load(self) -> list[tuple[int, int]]:
        """(pid, open connections) of each connected worker (a snapshot, for tests and diagnostics)."""
        return [(worker.pid, worker.open) for worker in list(self._workers)]

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, mask in self._selector.select(self._timeout()):
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            self._wake_read.recv(64)
                        continue
                    key.data(mask)
                self._settle()
        except BaseException as exc:  # serve_workers sees the thread gone and stops the server with this
            self.failure = exc
            log.exception("the connection hand-off stopped")
            raise

    def _timeout(self) -> float | None:
        """Until the pause or a worker's rest ends (None: until something happens)."""
        ends = [until for until in (self._paused_until, *(w.resting_until for w in self._workers)) if until]
        return max(0.0, min(ends) - time.monotonic()) if ends else None

    def _settle(self) -> None:
        """Hand over what waits, then listen on the sockets whose connections can be taken now."""
        now = time.monotonic()
        for worker in self._workers:
            if worker.resting_until and now >= worker.resting_until:
                worker.resting_until = 0.0
        while self._waiting and self._hand(self._waiting[0]):
            self._waiting.popleft()
        if self._closing.is_set() and not self._closed.is_set():
            self._listen(self._listener, False)
            self._listener.close()
            self._closed.set()
        if self._paused_until and time.monotonic() >= self._paused_until:
            self._paused_until = 0.0
        rested = not self._paused_until
        self._listen(self._handoff, rested)
        self._listen(self._listener, rested and not self._closing.is_set() and not self._waiting
                     and any(self._takes(worker) for worker in self._workers))

    def _listen(self, sock: socket.socket, on: bool) -> None:
        if on and sock not in self._listening:
            handler = self._accept_clients if sock is self._listener else self._accept_worker
            self._selector.register(sock, selectors.EVENT_READ, lambda _mask: handler())
            self._listening.add(sock)
        elif not on and sock in self._listening:
            self._selector.unregister(sock)
            self._listening.discard(sock)

    def _pause(self, exc: OSError) -> None:
        log.warning("accepting connections rests %.1f s: %s", PAUSE_SECONDS, exc)
        self._paused_until = time.monotonic() + PAUSE_SECONDS

    def _accepted(self, sock: socket.socket) -> socket.socket | None:
        """The next connection waiting on ``sock``, or None: none waits, it was gone before it was taken
        (ECONNABORTED: the selector wakes again for the next), or this process is out of descriptors (then
        accepting rests)."""
        try:
            conn, _address = sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno in _OUT_OF_DESCRIPTORS:
                self._pause(exc)
            return None
        return conn

    def _accept_clients(self) -> None:
        for _turn in range(ACCEPTS_PER_WAKE):
            conn = self._accepted(self._listener)
            if conn is None:
                return
            self._waiting.append(conn)
            if not self._hand(conn):
                return  # no worker can take it now: it waits, and accepting waits with it
            self._waiting.pop()

    def _hand(self, conn: socket.socket) -> bool:
        """Send ``conn`` to the least loaded worker that can take it; False if none can now."""
        for worker in sorted(filter(self._takes, self._workers), key=lambda w: (w.open, w.handed)):
            try:
                socket.send_fds(worker.channel, [b"c"], [conn.fileno()])
            except OSError as exc:
                if exc.errno in _GONE:
                    self._drop(worker)
                elif exc.errno in WOULD_BLOCK:  # its channel is full: until it can be written again
                    worker.full = True
                    self._selector.modify(worker.channel, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                          self._on_channel(worker))
                else:  # too many descriptors in flight, no buffer memory: the channel stays writable, so rest
                    worker.resting_until = time.monotonic() + REST_SECONDS
                continue
            worker.open += 1
            worker.handed += 1
            conn.close()  # the worker holds its own descriptor now
            return True
        return False

    @staticmethod
    def _takes(worker: _Worker) -> bool:
        return not worker.full and not worker.resting_until

    def _on_channel(self, worker: _Worker) -> Callable[[int], None]:
        def ready(mask: int) -> None:
            if mask & selectors.EVENT_WRITE and worker.full:
                worker.full = False
                self._selector.modify(worker.channel, selectors.EVENT_READ, self._on_channel(worker))
            if mask & selectors.EVENT_READ:
                self._hear(worker)

        return ready

    def _accept_worker(self) -> None:
        channel = self._accepted(self._handoff)
        if channel is None:
            return
        pid, uid, _gid = _PEERCRED.unpack(channel.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             _PEERCRED.size))
        if uid != os.getuid():
            log.warning("refused a worker channel from uid %d", uid)
            channel.close()
            return
        channel.setblocking(False)
        worker = _Worker(channel=channel, pid=pid)
        self._workers.append(worker)
        with self._seen_lock:
            self._seen.add(pid)
        self._selector.register(channel, selectors.EVENT_READ, self._on_channel(worker))

    def _hear(self, worker: _Worker) -> None:
        try:
            report = worker.channel.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            report = b""
        if not report:  # the worker ended: its connections ended with it
            self._drop(worker)
            return
        worker.open = max(0, worker.open - report.count(CLOSED))

    def _drop(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
            self._selector.unregister(worker.channel)
            worker.channel.close()
