"""Read models for the domain packages: projection rows by key or by column values (no SQL above the store)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ledger.projections.base import Key, Row
from ledger.store.rows import RowStore


class ReadModels:
    """Reads the projection tables the writer keeps (they are derived from facts and may lag nothing: a row is
    written in the transaction of the event behind it)."""

    def __init__(self, rows: RowStore) -> None:
        self._rows = rows

    def get(self, table: str, key: Key) -> Row | None:
        return self._rows.read(table, [key]).get(key)

    def get_many(self, table: str, keys: Sequence[Key]) -> dict[Key, Row]:
        """The rows with these keys (missing ones absent), in as few queries as the store can (one for up to 16)."""
        unique = list(dict.fromkeys(keys))
        return self._rows.read(table, unique) if unique else {}

    def select(self, table: str, *, where: Mapping[str, Any] | None = None, order_by: Sequence[str] = (),
               limit: int | None = None, between: tuple[str, Any, Any] | None = None) -> list[Row]:
        return self._rows.select(table, where=where, order_by=order_by, limit=limit, between=between)

    def select_columns(self, table: str, columns: Sequence[str], *, where: Mapping[str, Any] | None = None,
                       between: tuple[str, Any, Any] | None = None) -> list[tuple[Any, ...]]:
        """Only ``columns`` (text or int) of the matching rows, as tuples in that order (see
        ``RowStore.select_columns``)."""
        return self._rows.select_columns(table, columns, where=where, between=between)
