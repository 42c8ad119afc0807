"""api.workers: the serving process hands each TCP connection to the worker holding the fewest open connections,
keeps connections that arrive before any worker until one is up, and its workers serve what they are handed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.dispatch import Dispatcher
from api.workers import WorkerFailed, WorkerServer, serve_workers
from tests.api.cli.test_serve_workers import children
from tests.servers import serving


class FakeWorker:
    """A worker's end of the hand-off channel, driven by the test: it keeps what it is handed."""

    def __init__(self, address: Path) -> None:
        self.channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.channel.connect(str(address))
        self.held: list[socket.socket] = []

    def take(self, count: int, *, timeout: float = 5.0) -> list[socket.socket]:
        taken: list[socket.socket] = []
        self.channel.settimeout(timeout)
        while len(taken) < count:
            message, fds, _, _ = socket.recv_fds(self.channel, 16, 4)
            assert message == b"c"
            taken.extend(socket.socket(fileno=fd) for fd in fds)
        self.held.extend(taken)
        return taken

    def nothing_waiting(self) -> bool:
        self.channel.settimeout(0.2)
        try:
            socket.recv_fds(self.channel, 16, 4)
        except TimeoutError:
            return True
        return False

    def closed(self, count: int) -> None:
        for conn in self.held[:count]:
            conn.close()
        del self.held[:count]
        self.channel.send(b"-" * count)


@contextmanager
def dispatching(tmp_path: Path) -> Iterator[tuple[Dispatcher, int]]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = listener.getsockname()[1]
    dispatcher = Dispatcher(listener, address=tmp_path / "handoff.sock")
    dispatcher.start()
    try:
        yield dispatcher, port
    finally:
        dispatcher.stop()


def connect(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]


def loads(dispatcher: Dispatcher, expected: list[int]) -> None:
    """Wait until the dispatcher's open connections by worker are ``expected`` (sorted), or fail."""
    deadline = time.monotonic() + 5
    while sorted(load for _, load in dispatcher.load()) != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(load for _, load in dispatcher.load()) == expected, dispatcher.load()


def test_a_burst_of_connections_is_shared_evenly(tmp_path: Path) -> None:
    with dispatching(tmp_path) as (dispatcher, port):
        first, second = FakeWorker(dispatcher.address), FakeWorker(dispatcher.address)
        loads(dispatcher, [0, 0])
        clients = connect(port, 16)  # together, as keep-alive clients start
        first.take(8)
        second.take(8)
        assert first.nothing_waiting() and second.nothing_waiting()
        loads(dispatcher, [8, 8])
        # A handed descriptor is the client's own connection: its bytes arrive, and the answer goes back.
        clients[5].sendall(b"ping")
        (served,) = [conn for conn in first.held + second.held if readable(conn)]
        assert served.recv(4) == b"ping"
        served.sendall(b"pong")
        clients[5].settimeout(5)
        assert clients[5].recv(4) == b"pong"


def readable(conn: socket.socket) -> bool:
    conn.settimeout(0.5)
    try:
        return bool(conn.recv(4, socket.MSG_PEEK))
    except TimeoutError:
        return False


def test_the_next_connection_goes_to_the_worker_holding_fewest(tmp_path: Path) -> None:
    with dispatching(tmp_path) as (dispatcher, port):
        first, second = FakeWorker(dispatcher.address), FakeWorker(dispatcher.address)
        loads(dispatcher, [0, 0])
        clients = connect(port, 8)
        first.take(4)
        second.take(4)
        first.closed(3)  # the first worker now holds one, the second four
        loads(dispatcher, [1, 4])
        clients += connect(port, 3)
        first.take(3)
        assert second.nothing_waiting()
        loads(dispatcher, [4, 4])


def test_a_worker_that_leaves_gets_no_more_connections(tmp_path: Path) -> None:
    with dispatching(tmp_path) as (dispatcher, port):
        first, second = FakeWorker(dispatcher.address), FakeWorker(dispatcher.address)
        loads(dispatcher, [0, 0])
        connect(port, 2)
        first.take(1)
        second.take(1)
        second.channel.close()  # the worker ended: its connections with it
        loads(dispatcher, [1])
        connect(port, 5)
        first.take(5)
        loads(dispatcher, [6])


def test_connections_wait_for_the_first_worker(tmp_path: Path) -> None:
    with dispatching(tmp_path) as (dispatcher, port):
        early = connect(port, 3)  # queued by the kernel: nothing is accepted while no worker can take it
        time.sleep(0.3)
        worker = FakeWorker(dispatcher.address)
        worker.take(3)
        assert worker.nothing_waiting()
        early[0].sendall(b"x")
        assert sum(readable(conn) for conn in worker.held) == 1


def test_a_worker_that_stops_reading_gets_no_more_and_nothing_is_lost(tmp_path: Path) -> None:
    with dispatching(tmp_path) as (dispatcher, port):
        stuck = FakeWorker(dispatcher.address)  # never reads its channel: it fills up
        loads(dispatcher, [0])
        clients = connect(port, 300)
        deadline = time.monotonic() + 5
        held = -1
        while time.monotonic() < deadline:  # until the stuck worker's channel is full
            time.sleep(0.2)
            if dispatcher.load()[0][1] == held:
                break
            held = dispatcher.load()[0][1]
        assert 0 < held < 300
        reader = FakeWorker(dispatcher.address)
        reader.take(300 - held)  # the rest waited (in the kernel's queue or accepted) and now reach this one
        loads(dispatcher, sorted([held, 300 - held]))
        stuck.take(held)  # and what the stuck worker was sent is all there when it reads again
        assert len(clients) == 300


def test_stop_accepting_refuses_new_clients(tmp_path: Path) -> None:
    with dispatching(tmp_path) as (dispatcher, port):
        worker = FakeWorker(dispatcher.address)
        connect(port, 1)
        worker.take(1)
        dispatcher.stop_accepting()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)


def test_a_worker_whose_application_cannot_start_fails_the_server(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config("tests.api.no_such_module:app", log_level="critical")
    with pytest.raises(WorkerFailed, match="before it served"):
        serve_workers(config, count=1, listener=listener, directory=tmp_path)


def worker_connections(pid: int, port: int) -> int:
    """Established TCP connections to ``port`` held by process ``pid`` (read from /proc, no tools needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def test_serve_shares_keep_alive_clients_between_its_workers_and_replaces_one_that_dies(tmp_path: Path) -> None:
    with serving(tmp_path / "data", chain="none", WORKERS="2") as server:
        deadline = time.monotonic() + 60  # /healthz answered once one worker was up: wait for the second
        while server.log.read_text().count("Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        port = int(server.url.rsplit(":", 1)[1])
        clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(16)]
        try:
            assert all(client.get("/healthz").status_code == 200 for client in clients)  # 16 kept-alive sockets
            pids = children(server.process.pid)
            held = {pid: worker_connections(pid, port) for pid in pids}
            assert sorted(held.values())[-2:] == [8, 8], held
            victim = max(held, key=lambda pid: held[pid])
            subprocess.run(["kill", "-9", str(victim)], check=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                replaced = [pid for pid in children(server.process.pid) if pid not in pids]
                if replaced and httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                    break
                time.sleep(0.2)
            assert replaced, server.log.read_text()[-2000:]
            assert server.alive()
            assert "ended (exit code -9); starting another" in server.log.read_text()
        finally:
            for client in clients:
                client.close()


def test_close_reports_held_back_by_a_full_channel_wait_on_one_timer_and_all_arrive() -> None:
    """A worker whose channel to the serving process is full keeps counting closed connections, retries on one
    timer however many close meanwhile, and every report arrives once the channel drains."""

    async def run() -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        timers = 0
        call_later = loop.call_later

        def counted(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
            nonlocal timers
            timers += getattr(callback, "__self__", None) is server  # the server's, not asyncio.sleep's
            return call_later(delay, callback, *args)

        loop.call_later = counted  # type: ignore[method-assign]
        server = WorkerServer(uvicorn.Config("tests.api.no_such_module:app"), address="/nonexistent")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        server._channel = ours  # the channel the startup would have connected
        filler = 0
        while True:  # fill it, as a serving process that stopped reading would
            try:
                ours.send(b"x" * 64)
                filler += 1
            except BlockingIOError:
                break
        for _ in range(200):
            server.report_closed()
        theirs.setblocking(False)
        for _ in range(filler):  # the serving process reads again
            theirs.recv(64)
        await asyncio.sleep(0.3)
        received = b""
        with contextlib.suppress(BlockingIOError):
            while True:
                received += theirs.recv(65536)
        ours.close()
        theirs.close()
        return timers, received

    timers, received = asyncio.run(run())
    assert timers == 1
    assert received == b"-" * 200
