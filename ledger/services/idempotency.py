"""Idempotent commands: the first answer to a caller's ``Idempotency-Key`` is kept and given again to a retry."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from ledger.clock import Clock
from ledger.errors import Conflict, ValidationFailed
from ledger.log.encoding import sha256
from ledger.log.identifiers import utc_timestamp
from ledger.store.domain import DomainStore, Remembered

MAX_KEY = 128


class IdempotencyService:
    """Keys per caller. A claim whose request failed in a way that may have recorded something is held for
    ``LEASE`` seconds (retries get 409), then may be claimed again. Request fingerprints are keyed hashes: the
    bodies they stand for (health answers among them) cannot be recovered by hashing guesses."""

    LEASE = 300.0

    def __init__(self, store: DomainStore, *, clock: Clock, key: bytes = b"") -> None:
        self._store = store
        self._clock = clock
        self._key = key

    def _fingerprint(self, request: bytes) -> bytes:
        return hmac.new(self._key, request, hashlib.sha256).digest() if self._key else sha256(request)

    @staticmethod
    def check_key(key: str) -> str:
        if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
            raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_KEY} printable ASCII characters",
                                   field="Idempotency-Key")
        return key

    def claim(self, *, principal: str, key: str, request: bytes) -> Remembered | None:
        """Claim the key for this request, or return the answer given first to it.

        Raises ``ValidationFailed`` if the key was used for another request (another method, path or body) and
        ``Conflict`` while the first request with this key is still running.
        """
        digest = self._fingerprint(request)
        now = self._clock.now()
        held = self._store.reserve(principal, self.check_key(key), digest, at=utc_timestamp(now),
                                   stale_before=utc_timestamp(now - timedelta(seconds=self.LEASE)))
        if held is None:
            return None
        if held.request_hash != digest:
            raise ValidationFailed("this Idempotency-Key was used for a different request; use a new key",
                                   field="Idempotency-Key")
        if held.status == 0:
            raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly",
                           field="Idempotency-Key")
        return held

    def keep(self, *, principal: str, key: str, status: int, body: bytes) -> None:
        """Keep the answer of a claimed key."""
        self._store.settle(principal, key, status=status, body=body)

    def release(self, *, principal: str, key: str) -> None:
        """Give a claimed key back after its request failed, so a fixed retry may use it."""
        self._store.release(principal, key)
