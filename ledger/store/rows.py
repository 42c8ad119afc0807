"""Projection tables: created from the projectors' ``TableSpec``s, rebuilt, and read by key or filter.

Projection tables hold derived data, so they are not migrated: when a spec's shape changes (or a table is missing)
the table is dropped, created anew and refilled by replaying the journal. The fingerprint of the shape each table
was built with is kept in ``meta`` (``projection:<table>``). Outbox tables (work for the anchoring worker) are
the migrated tables of ``schema.py``; their rows are only ever inserted from here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import SQLAlchemyError

from ledger.store import schema as t
from ledger.store.database import storage_error
from ledger.store.readers import ReaderPool
from ledger.store.specs import Key, Row, TableSpec

_TYPES: dict[str, Any] = {"text": Text, "int": BigInteger, "bytes": LargeBinary, "bool": Boolean}
_CHUNK = 400
_PLAIN_KEYS = 16  # reads of at most this many keys go through the reader pool's plain SQL
_SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)  # the JSON functions are built in from 3.38


def _plain(row: Any) -> Row:
    return {name: (bytes(value) if isinstance(value, memoryview) else value) for name, value in row._mapping.items()}


class Replacement:
    """The log head held by ``RowStore.replacing()``: its size, and the tables replaced while it is held."""

    def __init__(self, store: RowStore, conn: Connection, size: int) -> None:
        self._store = store
        self._conn = conn
        self.size = size  # the log's length; no writer can change it until the transaction ends

    def replace(self, name: str, rows: Iterable[Row]) -> None:
        """Drop and create projection table ``name`` with ``rows`` and record its shape, in the held transaction."""
        if self._store.specs[name].outbox:
            raise ValueError(f"{name} is an outbox table: its rows are work for the anchoring worker, not a replay")
        self._store._replace(self._conn, name, rows)


class RowStore:
    """Reads and writes the projection tables of one database."""

    def __init__(self, engine: Engine, specs: Iterable[TableSpec], *, readers: ReaderPool | None = None) -> None:
        self.engine = engine
        # The small reads every request makes (a row by key, the rows with some column values) go through the
        # reader pool as plain SQL written once per shape: building and compiling a SQLAlchemy statement costs
        # more than the lookup itself. Larger or unusual reads take SQLAlchemy's way.
        self._readers = readers
        self._mark = "?" if engine.dialect.name == "sqlite" else "%s"
        self._plain_sql: dict[tuple[Any, ...], str] = {}
        self.metadata = MetaData()
        self.specs: dict[str, TableSpec] = {}
        self.tables: dict[str, Table] = {}
        for spec in specs:
            self.specs[spec.name] = spec
            if spec.outbox:
                self.tables[spec.name] = t.metadata.tables[spec.name]
                continue
            columns = [Column(c.name, _TYPES[c.type], nullable=c.nullable, primary_key=c.name in spec.key)
                       for c in spec.columns]
            indexes = [Index(f"ix_{spec.name}_{'_'.join(cols)}", *cols) for cols in spec.indexes]
            self.tables[spec.name] = Table(spec.name, self.metadata, *columns, *indexes)

    # -- shape -----------------------------------------------------------------------------------------------

    def stale(self) -> list[str]:
        """Projection tables that are missing or were built with another shape (they need a rebuild)."""
        try:
            with self.engine.connect() as conn:
                existing = set(inspect(conn).get_table_names())
                built = {row.key.removeprefix("projection:"): row.value for row in conn.execute(
                    select(t.meta).where(t.meta.c.key.like("projection:%")))}
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading the projection tables") from exc
        return [name for name, spec in self.specs.items()
                if not spec.outbox and (name not in existing or built.get(name) != spec.fingerprint())]

    def rebuild(self, name: str, rows: Iterable[Row]) -> None:
        """Drop and create table ``name`` and fill it with ``rows``, then record its shape; one transaction.

        It does not hold the log head: for a table derived from the journal, replay under ``replacing()``.
        """
        try:
            # BEGIN IMMEDIATE on SQLite: the drop reads the catalogue first (see Store.claim_meta).
            with self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
                self._replace(conn, name, rows)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing=f"rebuilding the projection table {name}") from exc

    @contextmanager
    def replacing(self) -> Iterator[Replacement]:
        """Hold the log head for a rebuild: yields its size, and replaces tables in the transaction holding it.

        The head is locked before its size is read (SQLite: ``BEGIN IMMEDIATE``, the database's one write lock;
        PostgreSQL: ``SELECT ... FOR UPDATE`` on the head row), so no writer, in this process or another, commits
        until the tables replaced here are committed with it: a writer waits (busy timeout, row lock), then
        appends after them. Replay the entries below ``size`` meanwhile (other connections may read them: SQLite
        in WAL mode and PostgreSQL both let them read what was committed), and keep the lock short: replay most
        of the log before taking it. Every table replaced and its recorded shape commit together, or none does
        (an exception in the block rolls all back). Raises ``StorageError`` for database failures.
        """
        try:
            with self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
                head = select(t.log_head.c.size).where(t.log_head.c.id == 1)
                if conn.dialect.name != "sqlite":
                    head = head.with_for_update()
                yield Replacement(self, conn, int(conn.execute(head).scalar_one()))
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="rebuilding projection tables") from exc

    def _replace(self, conn: Connection, name: str, rows: Iterable[Row]) -> None:
        table, spec = self.tables[name], self.specs[name]
        table.drop(conn, checkfirst=True)
        table.create(conn)
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 5000:
                conn.execute(insert(table), batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
        key = f"projection:{name}"
        conn.execute(delete(t.meta).where(t.meta.c.key == key))
        conn.execute(insert(t.meta).values(key=key, value=spec.fingerprint()))

    # -- reads -----------------------------------------------------------------------------------------------

    def read(self, name: str, keys: Sequence[Key]) -> dict[Key, Row]:
        """The rows of ``name`` with these primary keys (missing ones are absent), in few queries."""
        table, spec = self.tables[name], self.specs[name]
        found: dict[Key, Row] = {}
        if self._readers is not None and 0 < len(keys) <= _PLAIN_KEYS and not spec.outbox:
            sql = self._plain_sql.get((name, "keys", len(keys)))
            if sql is None:
                term = "(" + " AND ".join(f"{column} = {self._mark}" for column in spec.key) + ")"
                sql = self._plain_sql.setdefault((name, "keys", len(keys)),
                                                 f"{self._columns(name)} WHERE {' OR '.join([term] * len(keys))}")
            for plain in self._plain_rows(name, sql, [value for key in keys for value in key]):
                found[spec.key_of(plain)] = plain
            return found
        try:
            with self.engine.connect() as conn:
                for start in range(0, len(keys), _CHUNK):
                    for row in conn.execute(select(table).where(self._match(name, keys[start:start + _CHUNK]))):
                        plain = _plain(row)
                        found[spec.key_of(plain)] = plain
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing=f"reading {name}") from exc
        return found

    def select(self, name: str, *, where: Mapping[str, Any] | None = None, order_by: Sequence[str] = (),
               limit: int | None = None, between: tuple[str, Any, Any] | None = None) -> list[Row]:
        """Rows of ``name`` whose columns equal ``where``'s values (and, with ``between`` = (column, low, high),
        whose column lies in [low, high]), ordered and limited."""
        table = self.tables[name]
        conditions = dict(where or {})
        if self._readers is not None and between is None and not self.specs[name].outbox \
                and all(value is not None for value in conditions.values()):
            shape = (name, "select", tuple(conditions), tuple(order_by), limit is not None)
            sql = self._plain_sql.get(shape)
            if sql is None:
                for column in [*conditions, *(column.removeprefix("-") for column in order_by)]:
                    if column not in table.c:  # names from code only, checked before they reach SQL text
                        raise KeyError(column)
                sql = self._columns(name)
                if conditions:
                    sql += " WHERE " + " AND ".join(f"{column} = {self._mark}" for column in conditions)
                if order_by:
                    sql += " ORDER BY " + ", ".join(f"{column[1:]} DESC" if column.startswith("-") else column
                                                    for column in order_by)
                if limit is not None:
                    sql += f" LIMIT {self._mark}"
                sql = self._plain_sql.setdefault(shape, sql)
            return self._plain_rows(name, sql, [*conditions.values(), *([limit] if limit is not None else [])])
        query = select(table)
        for column, value in (where or {}).items():
            query = query.where(table.c[column] == value)
        if between is not None:
            column, low, high = between
            query = query.where(table.c[column] >= low).where(table.c[column] <= high)
        for column in order_by:
            query = query.order_by(table.c[column.lstrip("-")].desc() if column.startswith("-")
                                   else table.c[column])
        if limit is not None:
            query = query.limit(limit)
        try:
            with self.engine.connect() as conn:
                return [_plain(row) for row in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing=f"reading {name}") from exc

    def select_columns(self, name: str, columns: Sequence[str], *, where: Mapping[str, Any] | None = None,
                       between: tuple[str, Any, Any] | None = None) -> list[tuple[Any, ...]]:
        """The values of ``columns`` (text and int columns of projection table ``name``) of the rows matching
        ``where`` and ``between`` as ``select`` reads them, one tuple per row in the order of ``columns``, rows in
        no particular order: a narrow read of many rows, without a dict per row.

        On SQLite the database hands the rows over as one JSON array (``json_group_array``), read in one step: the
        sqlite3 driver lets go of the interpreter lock for every row it steps through, so a row-by-row read of
        100,000 rows takes seconds instead of a quarter of one whenever another thread of the process is busy
        (the anchoring worker with the embedded chain), and keeps that thread waiting for each row in turn. Text
        and integers come back as the driver gives them (JSON keeps both exactly); a SQLite without the JSON
        functions, or a result too long for one text, is read row by row. Raises ``ValueError`` for a column that
        is not a text or int column of ``name``, ``StorageError`` for database failures.
        """
        table, spec = self.tables[name], self.specs[name]
        kinds = {column.name: column.type for column in spec.columns}
        for column in columns:
            if kinds.get(column) not in ("text", "int"):
                raise ValueError(f"{column!r} is not a text or int column of {name}")
        chosen = [table.c[column] for column in columns]
        conditions = [table.c[column] == value for column, value in (where or {}).items()]
        if between is not None:
            column, low, high = between
            conditions += [table.c[column] >= low, table.c[column] <= high]
        if self.engine.dialect.name == "sqlite" and _SQLITE_JSON:
            try:
                with self.engine.connect() as conn:
                    text = conn.execute(select(func.json_group_array(func.json_array(*chosen))).where(
                        *conditions)).scalar_one()
                return [tuple(row) for row in json.loads(text)]
            except SQLAlchemyError:
                pass  # read row by row below, which reports a lasting failure
        try:
            with self.engine.connect() as conn:
                result = conn.execute(select(*chosen).where(*conditions))
                try:
                    # Text and BigInteger values need no conversion on SQLite or PostgreSQL, so the driver's
                    # tuples are the rows: no Row object per row (a third of the time of 100,000 rows).
                    return list(result.cursor.fetchall())
                finally:
                    result.close()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing=f"reading {name}") from exc

    def scan(self, name: str, *, chunk: int = 5000) -> Iterator[Row]:
        """Every row of ``name`` in primary-key order, read in chunks."""
        table, spec = self.tables[name], self.specs[name]
        columns = [table.c[column] for column in spec.key] if not spec.outbox else [table.c.id]
        after: tuple[Any, ...] | None = None
        while True:
            query = select(table).order_by(*columns).limit(chunk)
            if after is not None:
                query = query.where(tuple_(*columns) > tuple_(*after)) if len(columns) > 1 \
                    else query.where(columns[0] > after[0])
            try:
                with self.engine.connect() as conn:
                    rows = [_plain(row) for row in conn.execute(query)]
            except SQLAlchemyError as exc:
                raise storage_error(exc, doing=f"reading {name}") from exc
            if not rows:
                return
            yield from rows
            last = rows[-1]
            after = tuple(last[c.name] for c in columns)

    def _columns(self, name: str) -> str:
        return f"SELECT {', '.join(column.name for column in self.specs[name].columns)} FROM {name}"

    def _plain_rows(self, name: str, sql: str, params: Sequence[Any]) -> list[Row]:
        """Rows of a plain-SQL read of every column of ``name``, with the values SQLAlchemy's reads give (bytes,
        bools)."""
        assert self._readers is not None
        columns = self.specs[name].columns
        rows = []
        for values in self._readers.query(sql, params, doing=f"reading {name}"):
            row = {}
            for column, value in zip(columns, values, strict=True):
                if value is not None:
                    if column.type == "bool":
                        value = bool(value)
                    elif isinstance(value, memoryview):
                        value = bytes(value)
                row[column.name] = value
            rows.append(row)
        return rows

    def _match(self, name: str, keys: Sequence[Key]) -> Any:
        table, spec = self.tables[name], self.specs[name]
        if len(spec.key) == 1:
            return table.c[spec.key[0]].in_([key[0] for key in keys])
        # "(a = ? AND b = ?) OR ...": each term is a primary-key lookup (a row-value IN scans on SQLite).
        return or_(*(and_(*(table.c[column] == value for column, value in zip(spec.key, key, strict=True)))
                     for key in keys))
