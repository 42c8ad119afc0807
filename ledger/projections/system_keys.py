"""Projections: the current state derived from journal entries, applied the same way on append and on replay."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ledger.crypto.keys import LEDGER_KEY_ID, check_key_id, load_public_key
from ledger.errors import Conflict, Forbidden, SignatureError, ValidationFailed
from ledger.log.encoding import unb64
from ledger.log.statements import EntryRecord
from ledger.projections.scopes import KeyScope

KEY_REGISTERED = "ledger.key.registered"
KEY_ROTATED = "ledger.key.rotated"
KEY_REVOKED = "ledger.key.revoked"
KEY_SCOPED = "ledger.key.scope_changed"
KEY_EVENTS = (KEY_REGISTERED, KEY_ROTATED, KEY_REVOKED, KEY_SCOPED)
SUBJECT_ERASED = "ledger.subject.erased"  # payload {"subject": ...}; the subject's data key is destroyed after it

ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"


@dataclass(frozen=True)
class StreamState:
    stream: str
    last_seq: int
    last_idx: int


@dataclass(frozen=True)
class KeyState:
    """A registered system key and its life: active, then retired (by rotation) or revoked."""

    key_id: str
    owner: str
    public_key: bytes
    status: str
    registered_idx: int
    registered_at: str
    ended_idx: int | None = None
    ended_at: str | None = None
    reason: str | None = None
    scope: KeyScope | None = None  # None: registered before keys had scopes, so it may write anything

    def allows(self, *, type: str, stream: str) -> bool:
        return self.scope is None or self.scope.allows(type=type, stream=stream)

    def describe_scope(self) -> str:
        return "any event (registered before keys had scopes)" if self.scope is None else self.scope.describe()


@dataclass
class Projection:
    """A working set of projection rows; ``dirty_*`` name what ``apply`` changed since it was loaded."""

    streams: dict[str, StreamState] = field(default_factory=dict)
    keys: dict[str, KeyState] = field(default_factory=dict)
    dirty_streams: set[str] = field(default_factory=set)
    dirty_keys: set[str] = field(default_factory=set)

    def next_seq(self, stream: str) -> int:
        state = self.streams.get(stream)
        return 1 if state is None else state.last_seq + 1

    def check_scope(self, *, key_id: str, type: str, stream: str) -> None:
        """Raise ``Forbidden`` naming the key's scope unless it may write ``type`` on ``stream``."""
        state = self.keys.get(key_id)
        if state is not None and not state.allows(type=type, stream=stream):
            raise Forbidden(f"key {key_id!r} may write {state.describe_scope()}; not {type!r} on {stream!r}",
                            field="statement.type")

    def signing_key(self, *, key_id: str, owner: str | None = None) -> bytes:
        """Public key of an active system key, optionally checking its owner.

        Raises ``SignatureError`` if the key is unknown, retired or revoked, or belongs to another owner.
        """
        state = self.keys.get(key_id)
        if state is None:
            raise SignatureError(f"key {key_id!r} is not registered", field="key_id")
        if state.status != ACTIVE:
            raise SignatureError(f"key {key_id!r} is {state.status} since entry {state.ended_idx}", field="key_id")
        if owner is not None and state.owner != owner:
            raise SignatureError(f"key {key_id!r} does not belong to {owner!r}", field="key_id")
        return state.public_key

    def apply(self, *, index: int, record: EntryRecord, payload: dict[str, Any] | None) -> None:
        """Fold one entry into the state; on error nothing is changed.

        ``payload`` may be None only for entries that are not key events. Raises ``Conflict`` for a key event
        that the current key state does not allow.
        """
        if record.statement.type in KEY_EVENTS:
            if record.key_id != LEDGER_KEY_ID:
                raise SignatureError(f"{record.statement.type} must be signed by the ledger key", field="key_id")
            if payload is None:
                raise ValidationFailed(f"entry {index}: a key event needs its payload to be replayed")
            self._apply_key_event(index=index, record=record, payload=payload)
        stream = record.statement.stream
        self.streams[stream] = StreamState(stream=stream, last_seq=record.seq, last_idx=index)
        self.dirty_streams.add(stream)

    def _apply_key_event(self, *, index: int, record: EntryRecord, payload: dict[str, Any]) -> None:
        kind = record.statement.type
        if kind == KEY_SCOPED:
            state = self.keys.get(payload["key_id"])
            if state is None or state.status != ACTIVE:
                raise Conflict(f"key {payload['key_id']!r} is not an active key", field="key_id")
            self._put(replace(state, scope=KeyScope.from_json(payload["scope"])))
            return
        if kind == KEY_REVOKED:
            key_id = payload["key_id"]
            state = self.keys.get(key_id)
            if state is None or state.status == REVOKED:
                raise Conflict(f"key {key_id!r} is not registered or already revoked", field="key_id")
            self._put(replace(state, status=REVOKED, ended_idx=index, ended_at=record.recorded_at,
                              reason=payload.get("reason")))
            return
        key_id = check_key_id(payload["key_id"])
        if key_id in self.keys or key_id == LEDGER_KEY_ID:
            raise Conflict(f"key id {key_id!r} is already taken", field="key_id")
        public_key = unb64(payload["public_key"], field="public_key", length=32)
        load_public_key(public_key)
        owner = payload["owner"]
        scope = KeyScope.from_json(payload["scope"]) if "scope" in payload else None
        if kind == KEY_ROTATED:
            old = self.keys.get(payload["replaces"])
            if old is None or old.status != ACTIVE or old.owner != owner:
                raise Conflict(f"key {payload['replaces']!r} is not an active key of {owner!r}", field="replaces")
            self._put(replace(old, status=RETIRED, ended_idx=index, ended_at=record.recorded_at,
                              reason=f"rotated to {key_id}"))
            if "scope" not in payload:
                scope = old.scope
        self._put(KeyState(key_id=key_id, owner=owner, public_key=public_key, status=ACTIVE,
                           registered_idx=index, registered_at=record.recorded_at, scope=scope))

    def _put(self, state: KeyState) -> None:
        self.keys[state.key_id] = state
        self.dirty_keys.add(state.key_id)
