"""The writer's own connection: the hot path of every append in plain SQL on one DBAPI connection.

Every event a person waits for is one group commit, so the writer's per-transaction cost is what matters. Building
and compiling SQLAlchemy expressions per batch cost several times the commit itself; here the statements are text
written once per dialect, run with ``executemany`` on a connection the writer keeps. Everything else (reads by the
services, migrations, table creation) goes through SQLAlchemy as usual.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ledger.errors import StorageError
from ledger.store.database import storage_error
from ledger.store.locking import WriteLock
from ledger.store.specs import Changes, Key, Row, TableSpec

if TYPE_CHECKING:
    from ledger.store import Batch

_CHUNK = 400


class UniqueViolation(StorageError):
    """A unique key was taken (an event id recorded before, most often): redo the batch checking for it."""


class HeadChanged(StorageError):
    """The log head is not where the batch was prepared: another writer appended first."""


class WriterSession:
    """One DBAPI connection in autocommit mode, with explicit transactions, used by the writer thread only."""

    def __init__(self, raw: Any, *, dialect: str, specs: Mapping[str, TableSpec],
                 write_lock: WriteLock | None = None) -> None:
        self._raw = raw
        # SQLite has one writer at a time: holding the writers' turn (this process's threads and the other
        # processes on the file) around the transaction makes the other writers (uploads, idempotency keys, one-time
        # codes, another server process) queue here instead of spinning in SQLite's busy handler, whose backoff
        # sleeps grow to 100 ms.
        self._write_lock = write_lock
        self._holding = False  # the turn is held by ``turn`` around a commit (and a placing again before it)
        self._sqlite = dialect == "sqlite"
        self._p = "?" if self._sqlite else "%s"
        self._specs = specs
        self._begin = "BEGIN IMMEDIATE" if self._sqlite else "BEGIN"
        p = self._p
        self._insert = {
            "entries": self._insert_sql("entries", ("idx", "event_id", "stream", "seq", "type", "key_id",
                                                    "recorded_at", "leaf", "leaf_hash")),
            "tree_nodes": self._insert_sql("tree_nodes", ("level", "idx", "hash")),
            "subject_keys": self._insert_sql("subject_keys", ("subject", "wrapped", "created_at")),
            "payloads": self._insert_sql("payloads", ("idx", "subject", "sealed")),
            "personal_payloads": self._insert_sql("personal_payloads", ("idx", "subject", "sealed")),
        }
        self._head = f"UPDATE log_head SET size = {p} WHERE id = 1 AND size = {p}"
        self._index = self._insert_sql("party_index", ("fingerprint", "party_id", "created_at"))
        self._erase = f"UPDATE subject_keys SET wrapped = NULL, erased_at = {p} WHERE subject = {p}"
        self._upserts = {name: self._upsert_sql(spec) for name, spec in specs.items() if not spec.outbox}
        self._deletes = {name: self._delete_sql(spec) for name, spec in specs.items() if not spec.outbox}
        self._outbox = {name: self._insert_sql(name, tuple(c.name for c in spec.columns))
                        for name, spec in specs.items() if spec.outbox}

    def _is_unique_violation(self, exc: BaseException) -> bool:
        """A unique or primary key taken (not a NOT NULL or CHECK failure, which is a bug to report as such)."""
        if self._sqlite:
            import sqlite3

            return isinstance(exc, sqlite3.IntegrityError) and getattr(exc, "sqlite_errorname", "") in (
                "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
        import psycopg

        return isinstance(exc, psycopg.errors.UniqueViolation)

    # -- SQL text ------------------------------------------------------------------------------------------

    def _insert_sql(self, table: str, columns: Sequence[str]) -> str:
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([self._p] * len(columns))})"

    def _upsert_sql(self, spec: TableSpec) -> str:
        names = [c.name for c in spec.columns]
        updates = [f"{name} = excluded.{name}" for name in names if name not in spec.key]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        return f"{self._insert_sql(spec.name, names)} ON CONFLICT ({', '.join(spec.key)}) {action}"

    def _delete_sql(self, spec: TableSpec) -> str:
        return f"DELETE FROM {spec.name} WHERE " + " AND ".join(f"{name} = {self._p}" for name in spec.key)

    # -- reads (outside a transaction) ---------------------------------------------------------------------

    def read_rows(self, table: str, keys: Sequence[Key]) -> dict[Key, Row]:
        """Projection rows by primary key."""
        spec = self._specs[table]
        names = [c.name for c in spec.columns]
        bools = [c.name for c in spec.columns if c.type == "bool"]
        found: dict[Key, Row] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            if len(spec.key) == 1:
                where = f"{spec.key[0]} IN ({', '.join([self._p] * len(chunk))})"
                params: list[Any] = [key[0] for key in chunk]
            else:
                term = "(" + " AND ".join(f"{name} = {self._p}" for name in spec.key) + ")"
                where = " OR ".join([term] * len(chunk))
                params = [value for key in chunk for value in key]
            for values in self._query(f"SELECT {', '.join(names)} FROM {table} WHERE {where}", params):
                row = {name: bytes(v) if isinstance(v, memoryview) else v for name, v in zip(names, values,
                                                                                             strict=True)}
                for name in bools:
                    if row[name] is not None:
                        row[name] = bool(row[name])
                found[spec.key_of(row)] = row
        return found

    def wrapped_keys(self, subjects: Sequence[str]) -> dict[str, bytes | None]:
        """Wrapped data keys by subject; an erased subject maps to None, an unknown one is absent."""
        found: dict[str, bytes | None] = {}
        for start in range(0, len(subjects), _CHUNK):
            chunk = list(subjects[start:start + _CHUNK])
            sql = f"SELECT subject, wrapped FROM subject_keys WHERE subject IN ({', '.join([self._p] * len(chunk))})"
            for subject, wrapped in self._query(sql, chunk):
                found[subject] = None if wrapped is None else bytes(wrapped)
        return found

    def indexed(self, fingerprints: Sequence[bytes]) -> set[bytes]:
        """The fingerprints the party index holds already."""
        found: set[bytes] = set()
        for start in range(0, len(fingerprints), _CHUNK):
            chunk = list(fingerprints[start:start + _CHUNK])
            sql = f"SELECT fingerprint FROM party_index WHERE fingerprint IN ({', '.join([self._p] * len(chunk))})"
            found.update(bytes(row[0]) for row in self._query(sql, chunk))
        return found

    def recorded_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(event_ids), _CHUNK):
            chunk = list(event_ids[start:start + _CHUNK])
            sql = f"SELECT event_id FROM entries WHERE event_id IN ({', '.join([self._p] * len(chunk))})"
            found.update(row[0] for row in self._query(sql, chunk))
        return found

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            cursor = self._raw.cursor()
            try:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except Exception as exc:
            raise storage_error(exc, doing="reading for the writer") from exc

    def head(self) -> int:
        """The log's size as committed."""
        return int(self._query("SELECT size FROM log_head WHERE id = 1", ())[0][0])

    # -- the transaction -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def turn(self) -> Iterator[bool]:
        """Hold the writers' turn on a SQLite file around a batch's commit; yields whether a turn is held (False
        on PostgreSQL, whose writers meet at the head's compare-and-set).

        The writer places a batch without the turn (the process's small writes go on meanwhile), then takes it,
        reads ``head`` and, if another process appended in between, places the batch again before committing,
        still holding it: no batch is refused at the head and placed again after a pause (what happened to the
        slower of two processes writing at once).
        """
        if self._write_lock is None:
            yield False
            return
        with self._write_lock:
            self._holding = True
            try:
                yield True
            finally:
                self._holding = False

    def commit(self, *, expected_size: int, new_size: int, entries: Sequence[tuple[Any, ...]],
               nodes: Sequence[tuple[int, int, bytes]], subject_keys: Sequence[tuple[str, bytes, str]],
               payloads: Sequence[tuple[int, str, bytes]], personal: Sequence[tuple[int, str, bytes]],
               erased: Sequence[tuple[str, str]], changes: Changes,
               index: Sequence[tuple[bytes, str, str]] = ()) -> None:
        """Move the head from ``expected_size`` to ``new_size`` and write everything, in one transaction.

        ``erased`` names (subject, time) pairs whose data keys are destroyed in the same transaction as the
        entries that record their erasure, so a batch prepared by another writer before the erasure fails on the
        head and is placed again, and then refused. ``index`` adds (fingerprint, party id, time) rows to the party
        index, each fingerprint new (the writer checked; one indexed meanwhile by another writer is a unique key
        taken). Raises ``HeadChanged`` if the head is elsewhere,
        ``UniqueViolation`` if a unique key is taken, ``StorageError`` for anything else; nothing is written then.
        """
        cursor = self._raw.cursor()
        held = None if self._holding else self._write_lock
        if held is not None:
            held.acquire()
        try:
            cursor.execute(self._begin)
            try:
                cursor.execute(self._head, (new_size, expected_size))
                if cursor.rowcount != 1:
                    raise HeadChanged("the log was extended by another writer")
                for table, rows in (("entries", entries), ("tree_nodes", nodes), ("subject_keys", subject_keys),
                                    ("payloads", payloads), ("personal_payloads", personal)):
                    if rows:
                        cursor.executemany(self._insert[table], rows)
                if erased:
                    cursor.executemany(self._erase, [(at, subject) for subject, at in erased])
                if index:  # plain inserts: a fingerprint another process indexed first fails the batch
                    cursor.executemany(self._index, index)
                self._write_changes(cursor, changes)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        except HeadChanged:
            raise
        except Exception as exc:
            if self._is_unique_violation(exc):
                # Expected now and then (a retried event whose first attempt landed): the writer looks it up.
                raise UniqueViolation("a unique key was taken while appending") from exc
            raise storage_error(exc, doing="appending a batch") from exc
        finally:
            if held is not None:
                held.release()
            cursor.close()

    def commit_batch(self, batch: Batch) -> None:
        """``commit`` for a prepared ``Batch``."""
        self.commit(expected_size=batch.expected_size, new_size=batch.expected_size + len(batch.entries),
                    entries=[(e.idx, e.event_id, e.stream, e.seq, e.type, e.key_id, e.recorded_at, e.leaf,
                              e.leaf_hash) for e in batch.entries],
                    nodes=[(level, idx, digest) for (level, idx), digest in batch.nodes],
                    subject_keys=batch.new_subject_keys, payloads=batch.payloads, personal=batch.personal,
                    erased=batch.erased, changes=batch.changes, index=batch.index)

    def _write_changes(self, cursor: Any, changes: Changes) -> None:
        for name, rows in changes.rows.items():
            spec = self._specs[name]
            gone = [key for key, row in rows.items() if row is None]
            if gone:
                cursor.executemany(self._deletes[name], gone)
            present = [tuple(row[c.name] for c in spec.columns) for row in rows.values() if row is not None]
            if present:
                cursor.executemany(self._upserts[name], present)
        for name, appended in changes.outbox.items():
            spec = self._specs[name]
            cursor.executemany(self._outbox[name], [tuple(row[c.name] for c in spec.columns) for row in appended])

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection: nothing left to save
            self._raw.close()
