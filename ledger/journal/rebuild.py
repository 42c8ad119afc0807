"""Rebuilding projection tables by replaying the journal through their projectors (after a shape change)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ledger.errors import LedgerError
from ledger.journal.opening import Opener
from ledger.log.statements import EntryRecord
from ledger.projections.base import Fact
from ledger.projections.registry import Registry
from ledger.projections.rows import RowCache
from ledger.store import Store

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def rebuild(store: Store, registry: Registry, tables: Sequence[str], opener: Opener | None,
            progress: Progress | None = None) -> None:
    """Refill ``tables`` from the whole journal, each in one transaction.

    Entries a projector refuses on replay (which the writer would have refused too, such as a weak key in a log
    written before keys were checked) are skipped and logged; the audit names them. Without an ``opener`` (no
    master key) projectors that need facts get None.
    """
    projectors = registry.projectors_of(tables)
    if not projectors:
        return
    specs = {spec.name: spec for projector in projectors for spec in projector.tables}
    cache = RowCache(specs)
    total = store.size()
    for row in store.iter_entries(0, total):
        record = EntryRecord.from_leaf(row.leaf)
        handling = [p for p in projectors if p.handles(record.statement.type)]
        if handling:
            needs = opener is not None and any(p.needs_facts for p in handling)
            fact = Fact(index=row.idx, record=record, facts=opener.facts(row.idx) if needs and opener else None)
            cache.savepoint()
            try:
                for projector in handling:
                    projector.apply(cache, fact)
            except LedgerError as exc:
                cache.rollback()
                log.warning("rebuild: entry %d not folded into %s: %s", row.idx, ", ".join(tables), exc.message)
            else:
                cache.release()
        if progress is not None and (row.idx + 1) % 10_000 == 0:
            progress(row.idx + 1, total)
    for name in tables:
        store.rows.rebuild(name, cache.table(name).values())
    log.info("rebuilt projection tables %s from %d entries", ", ".join(tables), total)
