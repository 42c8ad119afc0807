"""The streams projection: each stream's last sequence number and entry, which the writer checks ``seq`` against."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ledger.log.statements import Statement
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec

TABLE = "streams"


class StreamsProjector:
    needs_facts: ClassVar[bool] = False
    name: ClassVar[str] = "streams"
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec(TABLE, (Column("stream", "text"), Column("last_seq", "int"), Column("last_idx", "int")),
                  key=("stream",)),
    )

    def handles(self, type: str) -> bool:
        return True

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        return [(TABLE, (statement.stream,))]

    def apply(self, rows: Rows, fact: Fact) -> None:
        rows.put(TABLE, {"stream": fact.statement.stream, "last_seq": fact.record.seq, "last_idx": fact.index})


def last_seq(rows: Rows, stream: str) -> int:
    """The stream's last sequence number (0 for a stream with no entries yet)."""
    row = rows.get(TABLE, (stream,))
    return 0 if row is None else int(row["last_seq"])
