"""Several worker processes behind one port: the serving process accepts every TCP connection and hands it to the
worker holding the fewest open connections.

With one listening socket shared by the workers, whichever worker wakes first accepts the whole burst waiting in
the queue: sixteen keep-alive clients that connect together all land on one worker (15 to 1 was measured) while
the other idles, and every request on the crowded worker waits behind fifteen. Here the serving process, which
runs the journal writer already, owns the listening socket. Each worker connects to a private Unix socket
(``SOCK_SEQPACKET``, in the same 0700 directory as the journal's socket, admitted by ``SO_PEERCRED``), receives
connections over it as file descriptors (``SCM_RIGHTS``) and reports each one it closes, so the serving process
knows how many each holds (the workers speak HTTP only: a WebSocket upgrade, whose connection would change
protocol unseen, is answered as plain HTTP). While no worker can take a connection (none started yet, or every
channel full) nothing is accepted: the kernel's queue holds new clients until one can.

The workers are uvicorn servers started with no listening socket of their own (:class:`WorkerServer`); the
serving process starts them, replaces one that dies while serving, stops them on SIGINT, SIGTERM or SIGHUP
(closing the listening socket first: new clients are refused, and those the kernel had queued but nobody accepted
are reset), and ends with an error if one's application fails to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import os
import resource
import selectors
import signal
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("uvicorn.error")

ACCEPTS_PER_WAKE = 64
PAUSE_SECONDS = 0.5  # how long accepting rests after the process ran out of descriptors
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
_CLOSED = b"-"  # a worker's report: one byte per connection it closed
# Send errors that mean the worker's end is gone; any other (a full buffer, too many descriptors in flight) means
# "not now", and the connection goes to another worker or waits.
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ECONNREFUSED)
_WOULD_BLOCK = (errno.EAGAIN, errno.EWOULDBLOCK)
REST_SECONDS = 0.1  # how long a worker whose channel refused a descriptor for want of resources is skipped
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class WorkerFailed(RuntimeError):
    """A worker process ended before it served (its application did not start), or the hand-off stopped."""


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

    def _accept_clients(self) -> None:
        for _turn in range(ACCEPTS_PER_WAKE):
            try:
                conn, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    self._pause(exc)
                    return
                continue  # ECONNABORTED and the like: that client is gone, the next may not be
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
                elif exc.errno in _WOULD_BLOCK:  # its channel is full: until it can be written again
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
        try:
            channel, _address = self._handoff.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno in _OUT_OF_DESCRIPTORS:
                self._pause(exc)
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
        worker.open = max(0, worker.open - report.count(_CLOSED))

    def _drop(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
            self._selector.unregister(worker.channel)
            worker.channel.close()


class WorkerServer(uvicorn.Server):
    """A uvicorn server with no listening socket: its connections arrive over the channel at ``address``."""

    def __init__(self, config: uvicorn.Config, *, address: str) -> None:
        super().__init__(config)
        self._address = address
        self._channel: socket.socket | None = None
        self._closed = 0
        self._retry: asyncio.TimerHandle | None = None
        self._taking: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the application's lifespan; no listener
        if self.should_exit:
            return
        server = self
        base: Any = self.config.http_protocol_class

        class Counted(base):  # type: ignore[misc]
            """uvicorn's HTTP protocol, telling the serving process when its connection closes."""

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                server.report_closed()

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = Counted(config=self.config, server_state=self.server_state,
                                             app_state=self.lifespan.state)
            return made

        self._protocol = protocol
        channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        channel.connect(self._address)
        channel.setblocking(False)
        self._channel = channel
        asyncio.get_running_loop().add_reader(channel.fileno(), self._adopt)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._close_channel()  # no more connections come this way; the open ones close below
        await super().shutdown(sockets=sockets)

    def report_closed(self) -> None:
        """Tell the serving process one connection closed (it hands the next one to the least loaded worker)."""
        self._closed += 1
        self._send_reports()

    def _send_reports(self) -> None:
        self._retry = None
        while self._closed and self._channel is not None:
            count = min(self._closed, 4096)
            try:
                self._channel.send(_CLOSED * count)
            except OSError as exc:
                if exc.errno in (*_WOULD_BLOCK, errno.ENOBUFS, errno.ENOMEM):  # behind: again shortly, once
                    if self._retry is None:
                        self._retry = asyncio.get_running_loop().call_later(0.05, self._send_reports)
                    return
                self._close_channel()  # the serving process is gone or dropped this worker: stop, to be replaced
                self.should_exit = True
                return
            self._closed -= count

    def _adopt(self) -> None:
        channel = self._channel
        if channel is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _flags, _address = socket.recv_fds(channel, 16, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the serving process is gone: stop, as if signalled
                self._close_channel()
                self.should_exit = True
                return
            if not fds:  # the descriptor did not arrive (this process is out of them): the client is gone
                self.report_closed()
            for fd in fds:
                conn = socket.socket(fileno=fd)
                if self.should_exit:
                    conn.close()
                    self.report_closed()
                    continue
                task = loop.create_task(self._take_up(conn))
                self._taking.add(task)  # held until done: the loop keeps only a weak reference
                task.add_done_callback(self._taking.discard)

    async def _take_up(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self._protocol, conn)
        except OSError:  # not taken up (the descriptor no longer a usable socket): counted as closed
            conn.close()
            self.report_closed()

    def _close_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            channel.close()


def _worker_main(config: uvicorn.Config, address: str) -> None:
    """A worker process: uvicorn's logging, then the server until it is told to stop.

    It leaves the serving process's process group, so that a Ctrl-C, a terminal's hang-up or a service manager's
    signal to the group reaches only the serving process, which stops accepting before it stops the workers; a
    worker whose serving process is gone sees its channel close and stops.
    """
    os.setpgrp()
    config.ws = "none"  # HTTP only, so that every connection's end is seen (see the module docstring)
    config.configure_logging()
    WorkerServer(config, address=address).run()


def serve_workers(config: uvicorn.Config, *, count: int, listener: socket.socket, directory: Path) -> None:
    """Serve ``listener`` with ``count`` worker processes running ``config``'s application, until SIGINT, SIGTERM
    or SIGHUP. A worker that dies while serving is replaced. Raises ``WorkerFailed`` if a worker's application
    fails to start (it exits with uvicorn's start-up failure codes before it ever connected) or the hand-off
    stops. ``directory`` is private to this user (0700): the hand-off socket is made there."""
    _more_descriptors()
    context = multiprocessing.get_context("spawn")
    dispatcher = Dispatcher(listener, address=directory / "handoff.sock")
    dispatcher.start()
    wake_read, wake_write = socket.socketpair()
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        with contextlib.suppress(OSError):
            wake_write.send(b"x")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def start() -> BaseProcess:
        process = context.Process(target=_worker_main, args=(config, str(dispatcher.address)),
                                  name="lifeledger-worker")
        process.start()
        log.info("Started worker process [%s]", process.pid)
        return process

    processes: list[BaseProcess] = []
    try:
        processes.extend(start() for _ in range(count))
        while not stopping.is_set():
            wait([process.sentinel for process in processes] + [wake_read], timeout=1.0)
            if not dispatcher.alive():
                raise WorkerFailed(f"the connection hand-off stopped: {dispatcher.failure!r}")
            for index, process in enumerate(processes):
                if process.is_alive() or stopping.is_set():
                    continue
                assert process.pid is not None
                if process.exitcode in _STARTUP_FAILURES and not dispatcher.served(process.pid):
                    raise WorkerFailed(f"worker process {process.pid} ended (exit code {process.exitcode}) "
                                       "before it served; its log above says why")
                log.warning("worker process [%s] ended (exit code %s); starting another", process.pid,
                            process.exitcode)
                processes[index] = start()
    finally:
        dispatcher.stop_accepting()  # new clients are refused, not accepted and dropped, while workers finish
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline = time.monotonic() + (config.timeout_graceful_shutdown or 30) + 5
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        dispatcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        wake_read.close()
        wake_write.close()


# What a uvicorn worker exits with when its application cannot be loaded or its lifespan fails (3), or when
# starting it raised (1).
_STARTUP_FAILURES = (1, 3)


def _more_descriptors() -> None:
    """Raise this process's soft limit on open files to the hard limit: every connection passes through it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
