"""The rows a batch works on: loaded once, changed in memory with savepoints, handed to the store as one change set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ledger.projections.base import Changes, Key, Row, TableSpec

Loader = Callable[[str, list[Key]], Mapping[Key, Row]]
_ABSENT = object()  # "this key had no change before the savepoint"


@dataclass
class _Mark:
    undo: list[tuple[str, Key, object]] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)


class RowCache:
    """Implements ``Rows`` for the writer (rows loaded from the store on demand) and for a replay (``load`` None:
    every row is in memory from an empty start).

    ``savepoint()`` / ``rollback()`` / ``release()`` let the writer undo what one refused entry or group wrote,
    so a refusal leaves the batch's other entries and their rows intact.
    """

    def __init__(self, specs: Mapping[str, TableSpec], load: Loader | None = None) -> None:
        self._specs = specs
        self._load = load
        self._known: dict[str, dict[Key, Row | None]] = {name: {} for name in specs}
        self._changed: dict[str, dict[Key, Row | None]] = {name: {} for name in specs}
        self._outbox: dict[str, list[Row]] = {}
        self._marks: list[_Mark] = []

    # -- Rows ------------------------------------------------------------------------------------------------

    def get(self, table: str, key: Key) -> Row | None:
        changed = self._changed[table]
        if key in changed:
            row = changed[key]
        else:
            known = self._known[table]
            if key not in known:
                self.prefetch([(table, key)])
            row = known[key]
        return None if row is None else dict(row)

    def put(self, table: str, row: Row) -> None:
        spec = self._specs[table]
        if spec.outbox:
            if self._marks:
                self._marks[-1].outbox.setdefault(table, len(self._outbox.get(table, [])))
            self._outbox.setdefault(table, []).append(dict(row))
            return
        self._set(table, spec.key_of(row), dict(row))

    def delete(self, table: str, key: Key) -> None:
        self._set(table, key, None)

    def _set(self, table: str, key: Key, row: Row | None) -> None:
        changed = self._changed[table]
        if self._marks:
            self._marks[-1].undo.append((table, key, changed.get(key, _ABSENT)))
        changed[key] = row

    # -- loading ---------------------------------------------------------------------------------------------

    def prefetch(self, wanted: Iterable[tuple[str, Key]]) -> None:
        """Load the named rows not yet known, one query per table."""
        missing: dict[str, list[Key]] = {}
        for table, key in wanted:
            if key not in self._known[table] and key not in self._changed[table]:
                missing.setdefault(table, []).append(key)
        for table, keys in missing.items():
            found = self._load(table, list(dict.fromkeys(keys))) if self._load is not None else {}
            known = self._known[table]
            for key in keys:
                known[key] = found.get(key)

    # -- savepoints ------------------------------------------------------------------------------------------

    def savepoint(self) -> None:
        self._marks.append(_Mark())

    def rollback(self) -> None:
        """Undo every change since the last savepoint."""
        mark = self._marks.pop()
        for table, key, previous in reversed(mark.undo):
            if previous is _ABSENT:
                self._changed[table].pop(key, None)
            else:
                self._changed[table][key] = previous  # type: ignore[assignment]
        for table, length in mark.outbox.items():
            del self._outbox[table][length:]

    def release(self) -> None:
        """Keep the changes since the last savepoint (folding them into the savepoint before it, if any)."""
        mark = self._marks.pop()
        if self._marks:
            outer = self._marks[-1]
            outer.undo.extend(mark.undo)
            for table, length in mark.outbox.items():
                outer.outbox.setdefault(table, length)

    # -- results ---------------------------------------------------------------------------------------------

    def changes(self) -> Changes:
        """What the batch changed, for the store to write in the batch's transaction."""
        return Changes(rows={table: dict(rows) for table, rows in self._changed.items() if rows},
                       outbox={table: list(rows) for table, rows in self._outbox.items() if rows})

    def settle(self) -> None:
        """After the changes were committed: they become the known state, and the outbox is emptied."""
        for table, rows in self._changed.items():
            self._known[table].update(rows)
            rows.clear()
        self._outbox.clear()

    def table(self, name: str) -> dict[Key, Row]:
        """Every known row of a table with its changes applied (for a replay, which holds them all)."""
        rows = {key: row for key, row in self._known[name].items() if row is not None}
        for key, row in self._changed[name].items():
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row
        return rows

    def size(self) -> int:
        """How many rows are held (to bound a cache kept between batches)."""
        return sum(len(rows) for rows in self._known.values())

    def outbox(self, name: str) -> list[Row]:
        return list(self._outbox.get(name, []))
