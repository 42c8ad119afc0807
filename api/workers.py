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

The workers are uvicorn servers started with no listening socket of their own (:class:`WorkerServer`, here); the
hand-off itself is ``api.dispatch``. The serving process starts the workers, replaces one that dies while
serving, stops them on SIGINT, SIGTERM or SIGHUP (closing the listening socket first: new clients are refused, and
those the kernel had queued but nobody accepted are reset), and ends with an error if one's application fails to
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import os
import resource
import signal
import socket
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client import multiprocess

from api.dispatch import CLOSED, WOULD_BLOCK, Dispatcher
from api.metrics import MULTIPROCESS

log = logging.getLogger("uvicorn.error")


class WorkerFailed(RuntimeError):
    """A worker process ended before it served (its application did not start), or the hand-off stopped."""


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

    def _retry_reports(self) -> None:
        self._retry = None
        self._send_reports()

    def _send_reports(self) -> None:
        while self._closed and self._channel is not None:
            count = min(self._closed, 4096)
            try:
                self._channel.send(CLOSED * count)
            except OSError as exc:
                if exc.errno in (*WOULD_BLOCK, errno.ENOBUFS, errno.ENOMEM):  # behind: again shortly, once
                    if self._retry is None:
                        self._retry = asyncio.get_running_loop().call_later(0.05, self._retry_reports)
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
                _forget_metrics(process.pid)
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


def _forget_metrics(pid: int) -> None:
    """Drop an ended worker's gauges from what ``/metrics`` adds up (its counters stay: they only grow)."""
    if os.environ.get(MULTIPROCESS):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


# What a uvicorn worker exits with when its application cannot be loaded or its lifespan fails (3), or when
# starting it raised (1).
_STARTUP_FAILURES = (1, 3)


def _more_descriptors() -> None:
    """Raise this process's soft limit on open files to the hard limit: every connection passes through it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
