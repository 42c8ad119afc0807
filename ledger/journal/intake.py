"""What an event must pass before it is queued for the writer: shape, time, declared fields, payload, signature.

These checks need no write lock, so they run on the caller's thread (or the signature-check pool) and a bad
event never costs the writer anything. What depends on the log's current state (stream position, a key revoked a
moment ago, a key's scope, an erased subject) is checked again by the writer as it places the event.
"""

from __future__ import annotations

from datetime import datetime

from ledger.clock import Clock
from ledger.crypto.keys import LEDGER_KEY_ID
from ledger.errors import SignatureError, ValidationFailed
from ledger.log.catalog import Catalog
from ledger.log.identifiers import parse_timestamp
from ledger.log.reserved import RESERVED_STREAM_KINDS, RESERVED_SUBJECTS, RESERVED_TYPE_PREFIXES
from ledger.log.statements import STATEMENT_VERSION, SignedEvent
from ledger.projections.system_keys import KeyState
from ledger.store.rows import RowStore

TABLE = "system_keys"


class Intake:
    """Checks events against the intake rules; caches system public keys (key ids are never reused)."""

    def __init__(self, rows: RowStore, *, catalog: Catalog, ledger_public_key: bytes, clock: Clock,
                 max_skew: float) -> None:
        self._rows = rows
        self._catalog = catalog
        self._ledger_public_key = ledger_public_key
        self._clock = clock
        self._max_skew = max_skew
        self._key_cache: dict[str, tuple[str, bytes]] = {}

    def check(self, event: SignedEvent, *, owner: str | None, signature: bool = True) -> None:
        """Raise ``ValidationFailed`` or ``SignatureError`` naming the first rule ``event`` breaks.

        ``owner`` is the posting system (its key must belong to it), or None for the ledger's own events.
        ``signature`` False skips verifying the signature: only for an event the ledger signed in this process.
        """
        internal = owner is None
        statement = event.statement
        if statement.type.startswith(RESERVED_TYPE_PREFIXES) and not internal:
            prefixes = " or ".join(repr(prefix) for prefix in RESERVED_TYPE_PREFIXES)
            raise ValidationFailed(f"event type {statement.type!r} is reserved: types starting with {prefixes} are "
                                   f"written only by the ledger", field="statement.type")
        if (event.key_id == LEDGER_KEY_ID) != internal:
            raise SignatureError("only the ledger signs with the 'ledger' key", field="key_id")
        if not internal:
            if statement.stream.split(":", 1)[0] in RESERVED_STREAM_KINDS:
                raise ValidationFailed(f"streams of kind {', '.join(RESERVED_STREAM_KINDS)} are written only by "
                                       f"the ledger", field="statement.stream")
            for subject in (event.data_subject, event.personal.data_subject if event.personal else None):
                if subject in RESERVED_SUBJECTS:
                    raise ValidationFailed(f"data_subject {subject!r} is reserved for the ledger's own events",
                                           field="data_subject")
        self._check_time(statement.occurred_at)
        if statement.version < STATEMENT_VERSION:
            raise ValidationFailed(f"statement.v must be {STATEMENT_VERSION}: new events commit to their data subject "
                                   f"(payload_hash = SHA-256(salt || JCS({{data_subject, payload}})))",
                                   field="statement.v")
        self._catalog.check(event)
        event.check_payload()
        public_key = self._ledger_public_key if internal else self._public_key(event.key_id, owner=owner)
        if signature or not internal:
            event.check_signature(public_key)

    def _check_time(self, occurred_at: str) -> None:
        occurred: datetime = parse_timestamp(occurred_at, field="statement.occurred_at")
        ahead = (occurred - self._clock.now()).total_seconds()
        if ahead > self._max_skew:
            raise ValidationFailed(f"statement.occurred_at is {ahead:.0f} s ahead of the ledger's clock; events "
                                   f"cannot have happened later than now (allowed skew {self._max_skew:g} s)",
                                   field="statement.occurred_at")

    def _public_key(self, key_id: str, *, owner: str | None) -> bytes:
        """A system key's public key, from a cache: key ids are never reused, so a key's bytes never change.

        Only the first use reads the store (and refuses unknown keys at once); whether the key is still active,
        and may write this event, is checked again by the writer for every event.
        """
        cached = self._key_cache.get(key_id)
        if cached is None:
            row = self._rows.read(TABLE, [(key_id,)]).get((key_id,))
            if row is None:
                raise SignatureError(f"key {key_id!r} is not registered", field="key_id")
            state = KeyState.from_row(row)
            if state.status != "active":
                raise SignatureError(f"key {key_id!r} is {state.status} since entry {state.ended_idx}",
                                     field="key_id")
            cached = self._key_cache[key_id] = (state.owner, state.public_key)
        if cached[0] != owner:
            raise SignatureError(f"key {key_id!r} does not belong to {owner!r}", field="key_id")
        return cached[1]
