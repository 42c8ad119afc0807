"""The projector registry: which projectors fold which event types, and the tables they need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ledger.log.statements import Statement
from ledger.projections.base import Fact, Key, Projector, Rows, TableSpec
from ledger.projections.documents import DocumentsProjector
from ledger.projections.streams import StreamsProjector
from ledger.projections.system_keys import SystemKeysProjector


def core_projectors() -> list[Projector]:
    """The log's own projections: stream positions, system keys, the document registry and its chain outbox."""
    return [StreamsProjector(), SystemKeysProjector(), DocumentsProjector()]


class Registry:
    """Every registered projector, in order; the writer folds each entry through the ones that handle its type."""

    def __init__(self, projectors: Sequence[Projector]) -> None:
        self.projectors = list(projectors)
        self.specs: dict[str, TableSpec] = {}
        for projector in self.projectors:
            for spec in projector.tables:
                if spec.name in self.specs:
                    raise ValueError(f"table {spec.name} is declared by two projectors")
                self.specs[spec.name] = spec
        self._by_type: dict[str, list[Projector]] = {}

    def for_type(self, type: str) -> list[Projector]:
        found = self._by_type.get(type)
        if found is None:
            found = self._by_type[type] = [p for p in self.projectors if p.handles(type)]
        return found

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        for projector in self.for_type(statement.type):
            yield from projector.prefetch(statement, facts)

    def apply(self, rows: Rows, fact: Fact) -> None:
        """Fold one entry through every projector that handles its type (raises what a projector refuses)."""
        for projector in self.for_type(fact.type):
            projector.apply(rows, fact)

    def tables(self, *, outbox: bool = False) -> list[TableSpec]:
        return [spec for spec in self.specs.values() if spec.outbox == outbox]

    def projectors_of(self, tables: Iterable[str]) -> list[Projector]:
        """The projectors that own any of ``tables`` (to rebuild them)."""
        wanted = set(tables)
        return [p for p in self.projectors if any(spec.name in wanted for spec in p.tables)]
