"""The store's reader pool (the proofs' hot reads), on a real SQLite file and a real PostgreSQL server.

Threads come and go (a server's worker threads do); the connections they read on must not: at most
``READERS_KEPT`` stay open between reads, one that failed is closed rather than reused, and ``close()`` leaves
nothing open, which on PostgreSQL is checked against the server's own list of backends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from ledger.errors import StorageError
from ledger.log import merkle
from ledger.settings import Settings
from ledger.store import Batch, EntryRow, Store
from ledger.store.readers import READERS_KEPT, READERS_MAX

pytestmark = pytest.mark.usefixtures("backend")

SIZE = 6


class Counted:
    """A reader connection that records whether it was closed, and can hold its first query at a gate."""

    def __init__(self, raw: Any, gate: threading.Barrier | threading.Event | None) -> None:
        self.raw = raw
        self.gate = gate
        self.closed = False

    @property
    def dbapi_connection(self) -> Any:
        return self.raw.dbapi_connection

    def cursor(self) -> Any:
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.wait(timeout=10)
        return self.raw.cursor()

    def close(self) -> None:
        self.closed = True
        self.raw.close()


class Readers:
    """Every reader connection a store opened, so a test can see which are still open."""

    def __init__(self) -> None:
        self.opened: list[Counted] = []
        self.gate: threading.Barrier | threading.Event | None = None
        self._lock = threading.Lock()

    def add(self, raw: Any) -> Counted:
        counted = Counted(raw, self.gate)
        with self._lock:
            self.opened.append(counted)
        return counted

    @property
    def still_open(self) -> list[Counted]:
        return [conn for conn in self.opened if not conn.closed]


# -- helpers ---------------------------------------------------------------------------------------------------


def grow(store: Store, count: int) -> dict[tuple[int, int], bytes]:
    """Append ``count`` entries with their leaf nodes; returns the nodes."""
    rows = []
    for idx in range(count):
        leaf = f"leaf-{idx}".encode()
        rows.append(EntryRow(idx=idx, event_id=f"evt-{idx}", stream="policy:p1", seq=idx + 1, type="policy.issued",
                             key_id="policy-admin-1", recorded_at="2025-01-01T00:00:00Z", leaf=leaf,
                             leaf_hash=merkle.leaf_hash(leaf)))
    nodes = {(0, row.idx): row.leaf_hash for row in rows}
    store.commit_batch(Batch(expected_size=0, entries=rows, nodes=list(nodes.items())))
    return nodes


def read_in_threads(store: Store, nodes: dict[tuple[int, int], bytes], count: int) -> None:
    """Start ``count`` threads that each read the size and the nodes once and end; wait for them all."""
    failures: list[BaseException] = []

    def read() -> None:
        try:
            assert store.size() == SIZE
            assert store.read_nodes(list(nodes)) == nodes
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)


def server_backends(store: Store) -> Callable[[], int] | None:
    """On PostgreSQL, a function counting the server's backends on the store's database (other than its own)."""
    if store.is_sqlite:
        return None
    engine = create_engine(store.url, poolclass=NullPool)

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND pid <> pg_backend_pid()")).scalar_one())

    return count


def settles_at(count: Callable[[], int], expected: int) -> int:
    """``count()`` once it equals ``expected``, or its last value after a few seconds (a backend exits a moment
    after its client hangs up)."""
    deadline = time.monotonic() + 10
    seen = count()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = count()
    return seen


# -- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings.resolved_database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def readers(store: Store, monkeypatch: pytest.MonkeyPatch) -> Readers:
    tracked = Readers()
    real = store._readers._connect
    monkeypatch.setattr(store._readers, "_connect", lambda: tracked.add(real()))
    return tracked


@pytest.fixture
def nodes(store: Store) -> dict[tuple[int, int], bytes]:
    return grow(store, SIZE)


# -- tests -----------------------------------------------------------------------------------------------------


def test_short_lived_threads_leave_at_most_the_bound_open(store: Store, readers: Readers,
                                                          nodes: dict[tuple[int, int], bytes]) -> None:
    backends = server_backends(store)
    engine_own = backends() if backends is not None else 0  # the engine's idle pool (migrations, the batch)
    crowd = 2 * READERS_KEPT
    readers.gate = threading.Barrier(crowd)  # all hold their connection at once: the pool must open `crowd`
    read_in_threads(store, nodes, crowd)
    readers.gate = None
    assert len(readers.opened) == crowd
    assert len(readers.still_open) == len(store._readers._idle) == READERS_KEPT  # the extra ones closed on return

    for _ in range(8):  # waves of short-lived threads, as a server's worker threads come and go
        read_in_threads(store, nodes, 8)
    assert len(readers.still_open) == len(store._readers._idle) <= READERS_KEPT
    assert {id(conn) for conn in store._readers._idle} == {id(conn) for conn in readers.still_open}
    if backends is not None:  # the server agrees: the idle readers and the engine's own idle pool, nothing else
        expected = engine_own + len(store._readers._idle)
        assert settles_at(backends, expected) == expected


def test_no_more_than_the_bound_read_at_once(store: Store, readers: Readers,
                                             nodes: dict[tuple[int, int], bytes]) -> None:
    """Threads beyond ``READERS_MAX`` wait for a reader to finish instead of opening a connection each (a server
    with many worker threads would otherwise open as many connections as it has threads reading)."""
    gate = threading.Event()
    readers.gate = gate  # each connection holds its first query until the gate opens
    crowd = READERS_MAX + 8
    runner = threading.Thread(target=read_in_threads, args=(store, nodes, crowd))
    runner.start()
    deadline = time.monotonic() + 10
    while len(readers.opened) < READERS_MAX and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the others had time to open more, if they could
    assert len(readers.opened) == READERS_MAX
    gate.set()
    runner.join(timeout=30)
    assert not runner.is_alive()


def test_a_failed_query_closes_its_connection_and_later_reads_work(store: Store, readers: Readers,
                                                                   nodes: dict[tuple[int, int], bytes]) -> None:
    assert store.size() == SIZE
    (pooled,) = store._readers._idle
    with pytest.raises(StorageError, match=r"reading the log failed in the database \(ref [0-9a-f]{12}\)"):
        store._readers.query("SELECT size FROM no_such_table", ())
    assert pooled.closed and not store._readers._idle  # closed, not given back: its state is unknown
    assert store.size() == SIZE
    assert store.read_nodes(list(nodes)) == nodes
    assert len(readers.opened) == 2 and len(readers.still_open) == 1


def test_connections_the_server_dropped_are_replaced_without_failing_a_read(
        store: Store, readers: Readers, nodes: dict[tuple[int, int], bytes]) -> None:
    readers.gate = threading.Barrier(3)
    read_in_threads(store, nodes, 3)
    readers.gate = None
    dropped = list(store._readers._idle)
    assert len(dropped) == 3
    if store.is_sqlite:
        for conn in dropped:
            conn.dbapi_connection.close()
    else:
        pids = [conn.dbapi_connection.info.backend_pid for conn in dropped]
        killer = create_engine(store.url, poolclass=NullPool)
        with killer.connect() as conn:
            assert conn.execute(text("SELECT bool_and(pg_terminate_backend(pid)) FROM unnest(:pids) AS pid"),
                                {"pids": pids}).scalar_one()
        killer.dispose()

    assert store.size() == SIZE  # the first pooled one fails; the others go with it and a new one answers
    assert store.read_nodes(list(nodes)) == nodes
    assert all(conn.closed for conn in dropped)
    assert len(store._readers._idle) == 1 and store._readers._idle[0] not in dropped


def test_a_read_on_a_broken_connection_is_refused_when_it_was_not_pooled(
        store: Store, readers: Readers, monkeypatch: pytest.MonkeyPatch) -> None:
    real = store._readers._connect

    def broken() -> Any:
        conn = real()
        conn.raw.dbapi_connection.close()
        return conn

    monkeypatch.setattr(store._readers, "_connect", broken)
    with pytest.raises(StorageError, match="reading the log failed"):  # a fresh connection is not retried
        store.size()
    assert len(readers.opened) == 1 and readers.opened[0].closed and not store._readers._idle
    monkeypatch.setattr(store._readers, "_connect", real)
    assert store.size() == 0


def test_close_leaves_nothing_open(store: Store, readers: Readers, nodes: dict[tuple[int, int], bytes]) -> None:
    readers.gate = threading.Barrier(4)
    read_in_threads(store, nodes, 4)
    backends = server_backends(store)
    release = threading.Event()
    store._readers._idle[-1].gate = release  # the next read takes this one and is still running when the store closes
    late = threading.Thread(target=store.size)
    late.start()
    while len(store._readers._idle) > 3:
        time.sleep(0.01)

    store.close()
    release.set()
    late.join(timeout=10)
    assert not late.is_alive()
    assert len(readers.opened) == 4 and not readers.still_open  # the late read closed its own on return
    assert not store._readers._idle
    if backends is not None:
        assert settles_at(backends, 0) == 0
