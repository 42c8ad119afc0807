"""Idempotent commands: the first answer to a caller's ``Idempotency-Key`` is kept and given again to a retry."""

from __future__ import annotations

from ledger.clock import Clock
from ledger.errors import ValidationFailed
from ledger.log.encoding import sha256
from ledger.log.identifiers import utc_timestamp
from ledger.store.domain import DomainStore, Remembered

MAX_KEY = 128


class IdempotencyService:
    def __init__(self, store: DomainStore, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    @staticmethod
    def check_key(key: str) -> str:
        if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
            raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_KEY} printable ASCII characters",
                                   field="Idempotency-Key")
        return key

    def recall(self, *, principal: str, key: str, request: bytes) -> Remembered | None:
        """The answer given first to this key, or None; raises ``ValidationFailed`` if the key was used for
        another request (a different method, path or body)."""
        found = self._store.remembered(principal, self.check_key(key))
        if found is None:
            return None
        if found.request_hash != sha256(request):
            raise ValidationFailed("this Idempotency-Key was used for a different request; use a new key",
                                   field="Idempotency-Key")
        return found

    def keep(self, *, principal: str, key: str, request: bytes, status: int, body: bytes) -> Remembered:
        """Keep an answer (the first one kept wins if two requests race)."""
        return self._store.remember(principal, self.check_key(key),
                                    Remembered(sha256(request), status, body), at=utc_timestamp(self._clock.now()))
