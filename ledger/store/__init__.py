"""The store: the only package that talks SQL. SQLite (WAL) by default, PostgreSQL by URL.

``Store`` reads and writes the journal (entries, tree nodes, sealed payloads, data keys, checkpoints) and commits a
writer's batch, projection rows included, in one transaction. ``store.rows`` holds the projection tables
(``ledger.store.rows``), ``ledger.store.anchors`` the anchoring outbox, ``ledger.store.readers`` the connections
kept for the hot reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ledger.errors import Conflict, NotFound, StorageError
from ledger.store import database
from ledger.store import schema as t
from ledger.store.database import storage_error
from ledger.store.locking import WriteLock
from ledger.store.readers import ReaderPool
from ledger.store.rows import RowStore
from ledger.store.session import HeadChanged, UniqueViolation, WriterSession
from ledger.store.specs import Changes, TableSpec

NodeId = tuple[int, int]


@dataclass(frozen=True)
class EntryRow:
    idx: int
    event_id: str
    stream: str
    seq: int
    type: str
    key_id: str
    recorded_at: str
    leaf: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class CheckpointRow:
    tree_size: int
    root: bytes
    note: str
    created_at: str


@dataclass
class Batch:
    """Everything one group commit writes, in one transaction."""

    expected_size: int
    entries: list[EntryRow] = field(default_factory=list)
    nodes: list[tuple[NodeId, bytes]] = field(default_factory=list)
    payloads: list[tuple[int, str, bytes]] = field(default_factory=list)
    personal: list[tuple[int, str, bytes]] = field(default_factory=list)  # sealed personal parts
    new_subject_keys: list[tuple[str, bytes, str]] = field(default_factory=list)
    erased: list[tuple[str, str]] = field(default_factory=list)  # (subject, time): data keys destroyed
    index: list[tuple[bytes, str, str]] = field(default_factory=list)  # party index rows: fingerprint, party, time
    changes: Changes = field(default_factory=Changes)


class HeadMoved(Conflict):
    """Another writer extended the log first; reload and try again."""


class Store:
    """Reads and writes the ledger's tables. Thread-safe: each call takes its own pooled connection."""

    def __init__(self, url: str, *, specs: Iterable[TableSpec] = (), read_only: bool = False) -> None:
        """Connect without touching the schema (``Store.open`` migrates); ``read_only`` never writes a byte (see
        ``database.create``): for auditing a copy."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = database.create(url, read_only=read_only)
        self._readers = ReaderPool(self.engine, is_sqlite=self.is_sqlite)  # for the hot reads (proofs, size)
        self.readers = self._readers
        self.rows = RowStore(self.engine, specs, readers=self._readers)
        self._mark = "?" if self.is_sqlite else "%s"
        # Writers to a SQLite file take turns on this lock (the journal writer and the domain's small writes, in
        # this process and in the other server processes on the file); PostgreSQL has row locks and needs none.
        self.write_lock: WriteLock | None = None
        if self.is_sqlite:
            path = database.sqlite_path(url)
            try:
                self.write_lock = WriteLock(Path(path) if path not in ("", ":memory:") and not read_only else None)
            except BaseException:
                self.close()
                raise

    @classmethod
    def open(cls, url: str, *, specs: Iterable[TableSpec] = ()) -> Store:
        """Connect and bring the schema up to date (Alembic migrations); ``specs`` are the projection tables."""
        store = cls(url, specs=specs)
        try:
            database.migrate(store.engine)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close the idle reader connections and the engine's pool; a read still running closes its own after."""
        self._readers.close()
        self.engine.dispose()
        if self.write_lock is not None:
            self.write_lock.close()

    # -- reads ---------------------------------------------------------------------------------------------

    def _read(self) -> Connection:
        return self.engine.connect()

    def size(self) -> int:
        return int(self._readers.query("SELECT size FROM log_head WHERE id = 1", ())[0][0])

    def revision(self) -> str | None:
        """The schema revision the database records (Alembic's), None if it records none (not a lifeledger
        database, or an empty one). Raises ``StorageError`` if it cannot be read."""
        try:
            with self._read() as conn:
                if "alembic_version" not in inspect(conn).get_table_names():
                    return None
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading the schema revision") from exc
        if len(rows) != 1:
            raise StorageError(f"the database records {len(rows)} schema revisions; a lifeledger database records one")
        return str(rows[0][0])

    def read_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """Fetch stored subtree hashes in one query; raise ``NotFound`` naming any missing node."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found: dict[NodeId, bytes] = {}
        mark = self._mark
        for start in range(0, len(wanted), 400):
            chunk = wanted[start : start + 400]
            # "(level = ? AND idx = ?) OR ...": each term is a primary-key lookup (a row-value IN would scan the
            # table on SQLite). Plain SQL on a pooled DBAPI connection: proofs are hot, and SQLAlchemy's pool and
            # statement handling cost more than the lookups themselves.
            terms = " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(chunk))
            params = [value for node in chunk for value in node]
            rows = self._readers.query(f"SELECT level, idx, hash FROM tree_nodes WHERE {terms}", params)
            found.update({(level, idx): bytes(digest) for level, idx, digest in rows})
        missing = [node for node in wanted if node not in found]
        if missing:
            raise NotFound(f"tree node(s) missing from the store: {missing[:5]}")
        return found

    def entry(self, idx: int) -> EntryRow:
        with self._read() as conn:
            row = conn.execute(select(t.entries).where(t.entries.c.idx == idx)).first()
        if row is None:
            raise NotFound(f"no entry at index {idx}", field="index")
        return _entry(row)

    def entry_by_event_id(self, event_id: str) -> EntryRow:
        with self._read() as conn:
            row = conn.execute(select(t.entries).where(t.entries.c.event_id == event_id)).first()
        if row is None:
            raise NotFound(f"no event with event_id {event_id!r}", field="event_id")
        return _entry(row)

    def entries_by_event_ids(self, event_ids: Sequence[str]) -> dict[str, EntryRow]:
        if not event_ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(select(t.entries).where(t.entries.c.event_id.in_(list(set(event_ids)))))
            return {row.event_id: _entry(row) for row in rows}

    def iter_entries(self, start: int = 0, end: int | None = None, *, chunk: int = 5000) -> Iterator[EntryRow]:
        """Entries in index order from ``start`` up to ``end`` (exclusive), read in chunks; no gap filling."""
        position = start
        while end is None or position < end:
            stop = position + chunk if end is None else min(position + chunk, end)
            with self._read() as conn:
                rows = conn.execute(
                    select(t.entries).where(t.entries.c.idx >= position, t.entries.c.idx < stop)
                    .order_by(t.entries.c.idx)
                ).all()
            if not rows and end is None:
                return
            yield from (_entry(row) for row in rows)
            position = stop

    def stream_entries(self, stream: str, *, after: int = 0) -> list[tuple[EntryRow, str, bytes]]:
        """A stream's entries after position ``after`` in ``seq`` order, each with its payload's subject and sealed
        bytes (one query; plain SQL on a pooled connection, as every workflow command starts with it)."""
        mark = self._mark
        rows = self._readers.query(
            "SELECT e.idx, e.event_id, e.stream, e.seq, e.type, e.key_id, e.recorded_at, e.leaf, e.leaf_hash, "
            f"p.subject, p.sealed FROM entries e JOIN payloads p ON p.idx = e.idx WHERE e.stream = {mark} "
            f"AND e.seq > {mark} ORDER BY e.seq", (stream, after))
        return [(EntryRow(idx=idx, event_id=event_id, stream=stream_, seq=seq, type=type_, key_id=key_id,
                          recorded_at=recorded_at, leaf=bytes(leaf), leaf_hash=bytes(leaf_hash)),
                 subject, bytes(sealed))
                for idx, event_id, stream_, seq, type_, key_id, recorded_at, leaf, leaf_hash, subject, sealed in rows]

    def count_rows(self, table: str) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.metadata.tables[table])).scalar_one())

    def iter_nodes(self) -> Iterator[tuple[NodeId, bytes]]:
        with self._read() as conn:
            for row in conn.execute(select(t.tree_nodes).order_by(t.tree_nodes.c.level, t.tree_nodes.c.idx)):
                yield (row.level, row.idx), bytes(row.hash)

    def payload(self, idx: int) -> tuple[str, bytes]:
        with self._read() as conn:
            row = conn.execute(select(t.payloads).where(t.payloads.c.idx == idx)).first()
        if row is None:
            raise NotFound(f"no payload for entry {idx}", field="index")
        return row.subject, bytes(row.sealed)

    def personal_part(self, idx: int) -> tuple[str, bytes] | None:
        """The sealed personal part of entry ``idx`` and its subject, if the entry has one."""
        rows = self._readers.query(f"SELECT subject, sealed FROM personal_payloads WHERE idx = {self._mark}", (idx,))
        return None if not rows else (rows[0][0], bytes(rows[0][1]))

    def iter_personal_parts(self, *, chunk: int = 5000) -> Iterator[tuple[int, str, bytes]]:
        """Every sealed personal part as (index, subject, sealed bytes) in index order."""
        return self._iter_sealed(t.personal_payloads, chunk)

    def iter_payloads(self, *, chunk: int = 5000) -> Iterator[tuple[int, str, bytes]]:
        """Every payload row as (index, subject, sealed bytes) in index order, read in chunks."""
        return self._iter_sealed(t.payloads, chunk)

    def _iter_sealed(self, table: Any, chunk: int) -> Iterator[tuple[int, str, bytes]]:
        after = -1
        while True:
            with self._read() as conn:
                rows = conn.execute(select(table).where(table.c.idx > after).order_by(table.c.idx)
                                    .limit(chunk)).all()
            if not rows:
                return
            yield from ((row.idx, row.subject, bytes(row.sealed)) for row in rows)
            after = rows[-1].idx

    def wrapped_keys(self, subjects: Sequence[str]) -> dict[str, bytes | None]:
        """Wrapped data keys by subject; an erased subject maps to None, an unknown one is absent."""
        if not subjects:
            return {}
        wanted = list(set(subjects))
        marks = ", ".join([self._mark] * len(wanted))
        rows = self._readers.query(f"SELECT subject, wrapped FROM subject_keys WHERE subject IN ({marks})", wanted)
        return {subject: (bytes(wrapped) if wrapped is not None else None) for subject, wrapped in rows}

    def count_sealed(self, subject: str) -> int:
        """How many payload rows and personal parts are sealed under ``subject``'s key."""
        with self._read() as conn:
            whole = conn.execute(select(func.count()).where(t.payloads.c.subject == subject)).scalar_one()
            parts = conn.execute(select(func.count()).where(t.personal_payloads.c.subject == subject)).scalar_one()
        return int(whole) + int(parts)

    def latest_checkpoint(self) -> CheckpointRow | None:
        with self._read() as conn:
            row = conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.tree_size.desc()).limit(1)).first()
        return _checkpoint(row) if row is not None else None

    def checkpoint(self, tree_size: int) -> CheckpointRow:
        with self._read() as conn:
            row = conn.execute(select(t.checkpoints).where(t.checkpoints.c.tree_size == tree_size)).first()
        if row is None:
            raise NotFound(f"no checkpoint of tree size {tree_size}", field="tree_size")
        return _checkpoint(row)

    def first_checkpoint_covering(self, index: int) -> CheckpointRow | None:
        """The earliest checkpoint whose tree includes entry ``index``."""
        with self._read() as conn:
            row = conn.execute(
                select(t.checkpoints).where(t.checkpoints.c.tree_size > index)
                .order_by(t.checkpoints.c.tree_size).limit(1)
            ).first()
        return _checkpoint(row) if row is not None else None

    def iter_checkpoints(self) -> Iterator[CheckpointRow]:
        with self._read() as conn:
            for row in conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.tree_size)):
                yield _checkpoint(row)

    def meta(self, key: str) -> str | None:
        """The value stored under ``key`` in ``meta``, None if there is none (read only)."""
        try:
            with self._read() as conn:
                value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise storage_error(exc) from exc
        return None if value is None else str(value)

    def claim_meta(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the value that is stored."""
        try:
            # BEGIN IMMEDIATE on SQLite: a transaction that reads before it writes cannot wait for another writer
            # once it has read (SQLite refuses at once with "database is locked"), so it takes the lock first.
            with self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
                row = conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).first()
                if row is not None:
                    return str(row.value)
                conn.execute(insert(t.meta).values(key=key, value=value))
                return value
        except IntegrityError:  # another process claimed it first
            with self._read() as conn:
                return str(conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar_one())
        except SQLAlchemyError as exc:
            raise storage_error(exc) from exc

    # -- writes --------------------------------------------------------------------------------------------

    def insert_checkpoint(self, row: CheckpointRow) -> bool:
        """Record a checkpoint; False if one of that size exists already (another process cut it)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.checkpoints).values(
                    tree_size=row.tree_size, root=row.root, note=row.note, created_at=row.created_at))
            return True
        except IntegrityError:
            return False
        except SQLAlchemyError as exc:
            raise storage_error(exc) from exc

    def writer_session(self) -> WriterSession:
        """A connection of its own for the writer thread (taken out of the pool), with the hot path's SQL."""
        try:
            raw = self.engine.raw_connection()
            raw.detach()  # it stays with the writer; the pool does not hand it to anyone else
            if not self.is_sqlite:
                raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]  # BEGIN/COMMIT are explicit
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="connecting the writer") from exc
        return WriterSession(raw, dialect=self.engine.dialect.name, specs=self.rows.specs, write_lock=self.write_lock)

    def commit_batch(self, batch: Batch) -> None:
        """Write a group commit atomically, or nothing (on a connection of its own).

        Raises ``HeadMoved`` if the log is no longer ``batch.expected_size`` long (another writer appended first;
        an erasure is an entry too, so a batch prepared before it fails here), ``StorageError`` for database
        failures (a unique key taken concurrently included; the details go to the log only).
        """
        session = self.writer_session()
        try:
            session.commit_batch(batch)
        except HeadChanged as exc:
            raise HeadMoved(exc.message) from exc
        except UniqueViolation as exc:
            raise storage_error(exc.__cause__ or exc, doing="appending a batch") from exc
        finally:
            session.close()


def _entry(row: Any) -> EntryRow:
    return EntryRow(idx=row.idx, event_id=row.event_id, stream=row.stream, seq=row.seq, type=row.type,
                    key_id=row.key_id, recorded_at=row.recorded_at, leaf=bytes(row.leaf),
                    leaf_hash=bytes(row.leaf_hash))


def _checkpoint(row: Any) -> CheckpointRow:
    return CheckpointRow(tree_size=row.tree_size, root=bytes(row.root), note=row.note, created_at=row.created_at)
