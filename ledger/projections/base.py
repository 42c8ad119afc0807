"""The projector protocol: what a projection declares (its tables) and how it folds one journal entry into rows.

A projector is data in, rows out. It sees an entry's statement, its position and time, and the *facts* of its
payload: the business fields an event type declares (never personal data, which is sealed apart and may be
erased), so folding the journal again after an erasure gives the same rows. It reads and writes only through
:class:`Rows`, so it never speaks SQL; the store creates its tables from :class:`TableSpec` and the writer
commits its rows in the same transaction as the entries that produced them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from ledger.log.statements import EntryRecord, Statement

ColumnType = Literal["text", "int", "bytes", "bool"]
Key = tuple[Any, ...]
Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A projection table: columns, primary key and secondary indexes, in store-neutral terms.

    ``outbox`` marks a table the projector only appends to (work for another process, such as the anchoring
    worker): its rows are written once, are not compared with a replay, and survive a rebuild.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    outbox: bool = False

    def key_of(self, row: Mapping[str, Any]) -> Key:
        return tuple(row[name] for name in self.key)

    def fingerprint(self) -> str:
        """A short text that changes whenever the table's shape does (the store rebuilds the table then)."""
        columns = ",".join(f"{c.name}:{c.type}{'?' if c.nullable else ''}" for c in self.columns)
        indexes = ";".join("+".join(index) for index in self.indexes)
        return f"{self.name}({columns})key({'+'.join(self.key)})idx({indexes})"


@dataclass(frozen=True)
class Fact:
    """One journal entry as a projector sees it: position, record, and the facts of its payload.

    ``facts`` is None when the payload could not be read (an entry whose whole payload was sealed under a
    person who has since been erased); projectors that need facts must declare event types whose facts are
    sealed under a subject that is never erased.
    """

    index: int
    record: EntryRecord
    facts: Mapping[str, Any] | None

    @property
    def statement(self) -> Statement:
        return self.record.statement

    @property
    def type(self) -> str:
        return self.record.statement.type


class Rows(Protocol):
    """A projector's view of the rows of one batch: reads see the batch's earlier writes."""

    def get(self, table: str, key: Key) -> Row | None: ...

    def put(self, table: str, row: Row) -> None: ...

    def delete(self, table: str, key: Key) -> None: ...


class Projector(Protocol):
    """Folds journal entries of the types it handles into the rows of its tables.

    ``apply`` may raise a ``LedgerError`` to refuse an entry the current state does not allow (a key id taken
    twice, a document registered twice): the writer then records nothing of that entry (or of its group).
    ``prefetch`` names the rows ``apply`` will read, so the writer can load a batch's rows in one query per table.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[TableSpec, ...]]
    needs_facts: ClassVar[bool]  # False for projectors that fold only the statement (no payload read on replay)

    def handles(self, type: str) -> bool: ...

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]: ...

    def apply(self, rows: Rows, fact: Fact) -> None: ...


@dataclass
class Changes:
    """The rows a batch changed, by table and key (None: deleted), and the outbox rows it appended."""

    rows: dict[str, dict[Key, Row | None]] = field(default_factory=dict)
    outbox: dict[str, list[Row]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows) or bool(self.outbox)
