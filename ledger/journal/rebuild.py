"""Rebuilding projection tables by replaying the journal through their projectors (after a shape change)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from ledger.journal.opening import Opener
from ledger.journal.replay import Replay
from ledger.log.statements import EntryRecord
from ledger.projections.base import Fact
from ledger.projections.registry import Registry
from ledger.store import Store

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]

PROGRESS_EVERY = 10_000  # entries between calls of the progress callback
LOG_EVERY = 100_000  # entries between progress lines in the log


def rebuild(store: Store, registry: Registry, tables: Sequence[str], opener: Opener | None,
            progress: Progress | None = None, *, log_every: int = LOG_EVERY) -> None:
    """Refill ``tables`` from the whole journal, all in one transaction that holds the log head.

    Writers may append meanwhile, here or in other processes. Most of the log is replayed first without a lock;
    then the head is locked (``RowStore.replacing``), the entries appended since are replayed, and every table is
    replaced in the transaction holding the lock, so the tables are the fold of exactly the entries below the
    head, and writers wait for them and append after (a writer's compare-and-set on the head cannot pass it).

    Each projector folds each entry under its own savepoint (``ledger.journal.replay``): an entry one projector
    refuses on replay (which the writer would have refused too, such as a weak key in a log written before keys
    were checked) is left out of that projector's tables only, and logged; the audit names it. Without an
    ``opener`` (no master key) projectors that need facts get None. Logs progress at INFO every ``log_every``
    entries and at the end, and calls ``progress(done, total)`` every ``PROGRESS_EVERY`` entries. Raises
    ``StorageError`` if the database fails (nothing is replaced then).
    """
    projectors = registry.projectors_of(tables)
    if not projectors:
        return
    _Rebuild(store, Replay(projectors), tables, opener, progress=progress, log_every=log_every).run()


class _Rebuild:
    def __init__(self, store: Store, replay: Replay, tables: Sequence[str], opener: Opener | None, *,
                 progress: Progress | None, log_every: int) -> None:
        self.store = store
        self.replay = replay
        self.tables = list(tables)
        self.opener = opener
        self.progress = progress
        self.log_every = log_every
        self.names = ", ".join(self.tables)
        self.started = time.monotonic()
        self.done = 0  # entries folded so far

    def run(self) -> None:
        self._fold_up_to(self.store.size())  # the bulk of the log, without holding anything
        with self.store.rows.replacing() as head:
            self._fold_up_to(head.size)  # what was appended meanwhile; writers wait from here on
            for name in self.tables:
                head.replace(name, self.replay.rows.table(name).values())
        log.info("rebuilt projection tables %s from %d entries in %.1fs", self.names, self.done,
                 time.monotonic() - self.started)

    def _fold_up_to(self, total: int) -> None:
        replay, opener = self.replay, self.opener
        for row in self.store.iter_entries(self.done, total):
            record = EntryRecord.from_leaf(row.leaf)
            if replay.handling(record.statement.type):
                needs = opener is not None and replay.needs_facts(record.statement.type)
                facts = opener.facts(row.idx) if needs and opener is not None else None
                for refusal in replay.fold(Fact(index=row.idx, record=record, facts=facts)):
                    log.warning("rebuild: entry %d not folded into %s's tables: %s", refusal.index,
                                refusal.projector, refusal.message)
            self.done = row.idx + 1
            if self.progress is not None and self.done % PROGRESS_EVERY == 0:
                self.progress(self.done, total)
            if self.done % self.log_every == 0:
                log.info("rebuilding %s: %d of %d entries replayed (%.1fs)", self.names, self.done, total,
                         time.monotonic() - self.started)
