"""The notices outbox: renewal, grace and suspension notices waiting for the messaging system."""

from __future__ import annotations

from typing import Any

from ledger.clock import Clock
from ledger.log.identifiers import utc_timestamp
from ledger.store.domain import DomainStore


class NoticeService:
    def __init__(self, store: DomainStore, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def pending(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Notices not yet delivered, oldest first (each names its journal index, channel and text)."""
        return self._store.notices(undelivered=True, limit=limit)

    def all(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        return self._store.notices(undelivered=False, limit=limit)

    def delivered(self, ids: list[int]) -> int:
        """Mark notices delivered (by the messaging system); returns how many changed."""
        return self._store.mark_delivered(ids, at=utc_timestamp(self._clock.now()))
