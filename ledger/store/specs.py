"""Projection tables in store-neutral terms: what a projector declares, and the change sets the writer commits.

Projectors describe their tables with these (no SQL); ``ledger.store.rows`` turns them into tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
    worker): its rows are written once, are not compared with a replay, and survive a rebuild. ``revision`` is
    raised when what the projector writes into the same columns changes: the table is then rebuilt too.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    outbox: bool = False
    revision: int = 0

    def key_of(self, row: Mapping[str, Any]) -> Key:
        return tuple(row[name] for name in self.key)

    def fingerprint(self) -> str:
        """A short text that changes whenever the table's shape does (the store rebuilds the table then)."""
        columns = ",".join(f"{c.name}:{c.type}{'?' if c.nullable else ''}" for c in self.columns)
        indexes = ";".join("+".join(index) for index in self.indexes)
        shape = f"{self.name}({columns})key({'+'.join(self.key)})idx({indexes})"
        return f"{shape}rev({self.revision})" if self.revision else shape  # revision 0: as before revisions


@dataclass
class Changes:
    """The rows a batch changed, by table and key (None: deleted), and the outbox rows it appended."""

    rows: dict[str, dict[Key, Row | None]] = field(default_factory=dict)
    outbox: dict[str, list[Row]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows) or bool(self.outbox)
