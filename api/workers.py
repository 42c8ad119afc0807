"""Several worker processes behind one port: the serving process accepts every TCP connection and hands it to the
worker holding the fewest open connections.

With one listening socket shared by the workers, whichever worker wakes first accepts the whole burst waiting in
the queue: sixteen keep-alive clients that connect together all land on one worker (15 to 1 was measured) while
the other idles, and every request on the crowded worker waits behind fifteen. Here the serving process, which
runs the journal writer already, owns the listening socket. Each worker connects to a private Unix socket
(``SOCK_SEQPACKET``, in the same 0700 directory as the journal's socket, admitted by ``SO_PEERCRED``), receives
connections over it as file descriptors (``SCM_RIGHTS``) and reports each one it closes, so the serving process
knows exactly how many each holds. A connection that arrives before any worker is up waits for one (up to
``PARK_SECONDS``) instead of failing.

The workers are uvicorn servers started with no listening socket of their own (:class:`WorkerServer`); the
serving process starts them, replaces one that dies while serving, stops them on SIGINT or SIGTERM, and ends with
an error if one dies before it ever served.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("uvicorn.error")

PARK_SECONDS = 30.0  # how long a connection waits for a worker to start before it is closed
ACCEPTS_PER_WAKE = 64
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
_CLOSED = b"-"  # a worker's report: one byte per connection it closed


class WorkerFailed(RuntimeError):
    """A worker process ended before it served (its application did not start)."""


@dataclass(eq=False)
class _Worker:
    channel: socket.socket
    pid: int
    open: int = 0  # connections handed over and not yet reported closed
    handed: int = 0  # all connections handed over (breaks ties between equally loaded workers)


class Dispatcher:
    """Accepts the TCP connections of ``listener`` and hands each to the least loaded worker connected to the
    Unix socket at ``address`` (see the module docstring). Runs in one thread of its own."""

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
        self._workers: list[_Worker] = []
        self._parked: deque[tuple[socket.socket, float]] = deque()
        self._stopping = False
        self._seen: set[int] = set()  # pids of the workers that ever connected
        self._seen_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lifeledger-dispatch", daemon=True)

    def start(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ, self._accept_clients)
        self._selector.register(self._handoff, selectors.EVENT_READ, self._accept_worker)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._thread.start()

    def stop(self) -> None:
        """Stop handing out connections; close the listening socket, the workers' channels and parked connections."""
        self._stopping = True
        self._wake_write.send(b"x")
        self._thread.join(timeout=10)
        for sock in (self._listener, self._handoff, self._wake_read, self._wake_write,
                     *(worker.channel for worker in self._workers), *(conn for conn, _ in self._parked)):
            sock.close()
        self._selector.close()

    def served(self, pid: int) -> bool:
        """Whether the worker process ``pid`` ever connected (its application started)."""
        with self._seen_lock:
            return pid in self._seen

    def load(self) -> list[tuple[int, int]]:
        """(pid, open connections) of each connected worker (a snapshot, for tests and diagnostics)."""
        return [(worker.pid, worker.open) for worker in list(self._workers)]

    def _run(self) -> None:
        while not self._stopping:
            timeout = 1.0 if self._parked else None
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    self._wake_read.recv(64)
                    continue
                key.data(key.fileobj)
            self._expire_parked()

    def _accept_clients(self, _: Any) -> None:
        for _turn in range(ACCEPTS_PER_WAKE):
            try:
                conn, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: logged, and the queue is tried again on the next wake
                log.warning("accepting a connection failed: %s", exc)
                return
            self._place(conn)

    def _place(self, conn: socket.socket) -> None:
        while self._workers:
            worker = min(self._workers, key=lambda w: (w.open, w.handed))
            try:
                socket.send_fds(worker.channel, [b"c"], [conn.fileno()])
            except BlockingIOError:
                break  # the least loaded worker is not reading its channel: the connection waits
            except OSError:
                self._drop(worker)
                continue
            worker.open += 1
            worker.handed += 1
            conn.close()  # the worker holds its own descriptor now
            return
        self._parked.append((conn, time.monotonic() + PARK_SECONDS))

    def _accept_worker(self, _: Any) -> None:
        try:
            channel, _address = self._handoff.accept()
        except (BlockingIOError, InterruptedError):
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
        self._selector.register(channel, selectors.EVENT_READ, lambda _sock: self._hear(worker))
        parked, self._parked = self._parked, deque()
        for conn, _deadline in parked:
            self._place(conn)

    def _hear(self, worker: _Worker) -> None:
        try:
            report = worker.channel.recv(4096)
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

    def _expire_parked(self) -> None:
        if self._workers and self._parked:
            parked, self._parked = self._parked, deque()
            for conn, _deadline in parked:
                self._place(conn)
        now = time.monotonic()
        while self._parked and self._parked[0][1] <= now:
            conn, _deadline = self._parked.popleft()
            conn.close()


class WorkerServer(uvicorn.Server):
    """A uvicorn server with no listening socket: its connections arrive over the channel at ``address``."""

    def __init__(self, config: uvicorn.Config, *, address: str) -> None:
        super().__init__(config)
        self._address = address
        self._channel: socket.socket | None = None
        self._closed = 0
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
        if self._channel is None:
            return
        try:
            self._channel.send(_CLOSED * (self._closed + 1))
            self._closed = 0
        except BlockingIOError:
            self._closed += 1  # sent with the next report
        except OSError:
            self._close_channel()

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
        except OSError:  # the client left before the connection was taken up
            conn.close()
            self.report_closed()

    def _close_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            channel.close()


def _worker_main(config: uvicorn.Config, address: str) -> None:
    """A worker process: uvicorn's logging, then the server until it is told to stop."""
    config.configure_logging()
    WorkerServer(config, address=address).run()


def serve_workers(config: uvicorn.Config, *, count: int, listener: socket.socket, directory: Path) -> None:
    """Serve ``listener`` with ``count`` worker processes running ``config``'s application, until SIGINT or
    SIGTERM. A worker that dies while serving is replaced; raises ``WorkerFailed`` if one dies before it served.
    ``directory`` is private to this user (0700): the hand-off socket is made there."""
    context = multiprocessing.get_context("spawn")
    dispatcher = Dispatcher(listener, address=directory / "handoff.sock")
    dispatcher.start()
    wake_read, wake_write = socket.socketpair()
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        wake_write.send(b"x")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start() -> BaseProcess:
        process = context.Process(target=_worker_main, args=(config, str(dispatcher.address)),
                                  name="lifeledger-worker")
        process.start()
        log.info("Started worker process [%s]", process.pid)
        return process

    processes = [start() for _ in range(count)]
    try:
        while not stopping.is_set():
            wait([process.sentinel for process in processes] + [wake_read], timeout=None)
            for index, process in enumerate(processes):
                if process.is_alive() or stopping.is_set():
                    continue
                assert process.pid is not None
                if not dispatcher.served(process.pid):
                    raise WorkerFailed(f"worker process {process.pid} ended (exit code {process.exitcode}) "
                                       "before it served; its log above says why")
                log.warning("worker process [%s] ended (exit code %s); starting another", process.pid,
                            process.exitcode)
                processes[index] = start()
    finally:
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
        wake_read.close()
        wake_write.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
