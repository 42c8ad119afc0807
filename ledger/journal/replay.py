"""Replaying journal entries through projectors, each projector under its own savepoint (rebuilds and the audit).

The writer refuses whole entries, so in a log it wrote no projector refuses an entry on replay. Older logs hold
entries that today's projectors refuse (a weak key registered before keys were checked): such an entry is still
in the log with its position and ``seq``, so only the projector that refuses it leaves it out, and every other
projector folds it as the writer did. The rebuild and the audit replay through this one fold, so what a rebuild
writes is what the audit compares the stored tables with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import LedgerError
from ledger.projections.base import Fact, Projector
from ledger.projections.registry import Registry
from ledger.projections.rows import RowCache

# What a projector raises when it refuses an entry: a ``LedgerError``, or (as the writer treats them) the errors of
# a projector choking on facts it did not expect.
_REFUSALS = (LedgerError, KeyError, TypeError, ValueError)


@dataclass(frozen=True)
class Refusal:
    """One projector's refusal to fold one entry on replay: its rows stay as they were before the entry."""

    index: int
    projector: str
    message: str


class Replay:
    """An in-memory fold of the journal through ``projectors``, from empty tables.

    ``rows`` holds the replayed tables (``rows.table(name)``, ``rows.outbox(name)``) and is what the projectors
    read between entries (stream positions, key states).
    """

    def __init__(self, projectors: Sequence[Projector]) -> None:
        self._registry = Registry(projectors)  # raises ValueError if two projectors declare one table
        self.rows = RowCache(self._registry.specs)

    @property
    def projectors(self) -> list[Projector]:
        return self._registry.projectors

    def handling(self, type: str) -> list[Projector]:
        """The projectors that fold entries of ``type``, in registration order."""
        return self._registry.for_type(type)

    def needs_facts(self, type: str) -> bool:
        """Whether any projector folding ``type`` reads facts (so a rebuild opens the payload only then)."""
        return any(projector.needs_facts for projector in self.handling(type))

    def fold(self, fact: Fact) -> list[Refusal]:
        """Fold one entry through every projector that handles its type, each under its own savepoint.

        A projector that refuses the entry has its own changes for it undone; the others keep theirs. Returns
        the refusals (empty when every projector folded the entry); never raises what a projector refuses.
        """
        refusals: list[Refusal] = []
        rows = self.rows
        for projector in self.handling(fact.type):
            rows.savepoint()
            try:
                projector.apply(rows, fact)
            except _REFUSALS as exc:
                rows.rollback()
                message = exc.message if isinstance(exc, LedgerError) else (
                    f"the event's facts do not fit its type: {type(exc).__name__}: {exc}")
                refusals.append(Refusal(index=fact.index, projector=projector.name, message=message))
            else:
                rows.release()
        return refusals
