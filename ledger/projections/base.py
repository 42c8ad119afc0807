"""The projector protocol: what a projection declares (its tables) and how it folds one journal entry into rows.

A projector is data in, rows out. It sees an entry's statement, its position and time, and the *facts* of its
payload: the business fields an event type declares (never personal data, which is sealed apart and may be
erased), so folding the journal again after an erasure gives the same rows. It reads and writes only through
:class:`Rows`, so it never speaks SQL; the store creates its tables from :class:`TableSpec` and the writer
commits its rows in the same transaction as the entries that produced them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ledger.errors import SignatureError
from ledger.log.reserved import LEDGER_KEY_ID
from ledger.log.statements import EntryRecord, Statement
from ledger.store.specs import Changes, Column, ColumnType, Key, Row, TableSpec

__all__ = ["Changes", "Column", "ColumnType", "Fact", "Key", "Projector", "Row", "Rows", "TableSpec"]

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

    def workflow_facts(self, prefix: str) -> Mapping[str, Any] | None:
        """The facts of a workflow's own event: None for an entry on a stream outside ``prefix`` (a system's event
        that shares a type name) or without readable facts; raises ``SignatureError`` for an entry on the
        workflow's streams that the ledger's key did not sign (only the workflows write there)."""
        if not self.statement.stream.startswith(prefix):
            return None
        if self.record.key_id != LEDGER_KEY_ID:
            raise SignatureError(f"{self.type} is written only by the ledger's workflows, not by "
                                 f"{self.record.key_id!r}", field="key_id")
        return self.facts


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
