"""An upload of a file another subject owns, stored while that subject is erased, on PostgreSQL: whichever of the
two takes the file's row first, the upload answered as stored is kept. (SQLite takes whole write transactions one
at a time, so the two never interleave there.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection

from ledger.store import Store
from ledger.store import schema as t
from ledger.store.domain import DomainStore, Upload
from tests.conftest import fresh_pg_database

FILE = b"\x11" * 32


def upload(subject: str, at: str) -> Upload:
    return Upload(FILE, subject, "application/pdf", 8, b"%PDF-1.4", at)


class Paused(DomainStore):
    """The real store, where the thread named ``pause_in`` stops at one point of its transaction until let go:
    ``put`` once the file's row is held, before its owner is added; ``erase`` once the files are locked, before
    anything is deleted."""

    def __init__(self, store: Store, pause_in: str) -> None:
        super().__init__(store.engine)
        self.pause_in = pause_in
        self.reached = threading.Event()
        self.go = threading.Event()

    def _pause(self, name: str) -> None:
        if threading.current_thread().name == name == self.pause_in:
            self.reached.set()
            assert self.go.wait(10)

    def _insert_or_ignore(self, table: Any, key: list[str]) -> Any:
        if table is t.upload_owners:
            self._pause("put")
        return super()._insert_or_ignore(table, key)

    def _lock_uploads(self, conn: Connection, digests: Any) -> set[bytes]:
        locked = super()._lock_uploads(conn, digests)
        self._pause("erase")
        return locked


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    opened = Store.open(fresh_pg_database(postgres_url))
    try:
        yield opened
    finally:
        opened.close()


def race(domain: Paused, first: str, *, uploader: str = "B") -> list[int]:
    """Start ``first`` ("put" by ``uploader``, or "erase" of A), let it reach its pause, start the other, give it
    time to reach the file's row, then let the first go on; returns what the erasure returned."""
    erased: list[int] = []
    work = {"put": lambda: domain.put_upload(upload(uploader, "2026-01-01T00:00:01Z")),
            "erase": lambda: erased.append(domain.delete_uploads("A"))}
    second = "erase" if first == "put" else "put"
    threads = {name: threading.Thread(target=work[name], name=name) for name in work}
    threads[first].start()
    assert domain.reached.wait(10)
    threads[second].start()
    time.sleep(0.3)  # the second reaches the file's row and waits for its lock
    domain.go.set()
    for thread in threads.values():
        thread.join(10)
        assert not thread.is_alive()
    return erased


@pytest.mark.parametrize("first", ["put", "erase"])
def test_an_upload_stored_beside_an_erasure_of_another_owner_is_kept(store: Store, first: str) -> None:
    domain = Paused(store, pause_in=first)
    domain.put_upload(upload("A", "2026-01-01T00:00:00Z"))
    erased = race(domain, first)
    # put first: B owns the file when the erasure deletes, so it stays; erase first: the file goes, and the
    # upload waiting on its row stores it again
    assert erased == ([0] if first == "put" else [1])
    assert domain.upload(FILE) is not None
    assert domain.upload_owned(FILE, {"B"}) and not domain.upload_owned(FILE, {"A"})


def test_an_erased_subject_sending_its_own_file_again_meanwhile_neither_deadlocks_nor_keeps_it(store: Store) -> None:
    domain = Paused(store, pause_in="put")
    domain.put_upload(upload("A", "2026-01-01T00:00:00Z"))
    assert race(domain, "put", uploader="A") == [1]  # the upload came first: the erasure, after it, takes the file
    assert domain.upload(FILE) is None


def test_a_file_only_the_erased_subject_owns_is_deleted(store: Store) -> None:
    domain = DomainStore(store.engine)
    domain.put_upload(upload("A", "2026-01-01T00:00:00Z"))
    assert domain.delete_uploads("A") == 1
    assert domain.upload(FILE) is None
