"""The system keys projection: every registered key, its owner, scope and life, folded from the key events.

Key events are the ledger's own (``ledger.key.*``, signed by the ledger key, payloads under the ledger's subject,
which is never erased). A key is valid from the entry after its registration up to the entry that retires or
revokes it; the writer and the audit ask this projection whether a key may sign an entry at a given position.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ledger.crypto.keys import LEDGER_KEY_ID, check_key_id, load_public_key
from ledger.errors import Conflict, Forbidden, SignatureError, ValidationFailed
from ledger.log.encoding import unb64
from ledger.log.reserved import KEY_EVENTS, KEY_REVOKED, KEY_ROTATED, KEY_SCOPED
from ledger.log.statements import Statement
from ledger.projections.base import Column, Fact, Key, Row, Rows, TableSpec
from ledger.projections.scopes import KeyScope

TABLE = "system_keys"
ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"


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

    def to_row(self) -> Row:
        row = dict(self.__dict__)
        row["scope"] = None if self.scope is None else json.dumps(self.scope.to_json(), sort_keys=True)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> KeyState:
        scope = None if row["scope"] is None else _scope(row["scope"])
        return cls(**{**row, "scope": scope})


@functools.lru_cache(maxsize=1024)
def _scope(text: str) -> KeyScope:
    """A stored scope parsed once: the writer reads a key's row for every event it signs."""
    return KeyScope.from_json(json.loads(text))


class SystemKeysProjector:
    needs_facts: ClassVar[bool] = True
    name: ClassVar[str] = "system_keys"
    tables: ClassVar[tuple[TableSpec, ...]] = (TableSpec(TABLE, (
        Column("key_id", "text"), Column("owner", "text"), Column("public_key", "bytes"), Column("status", "text"),
        Column("registered_idx", "int"), Column("registered_at", "text"), Column("ended_idx", "int", nullable=True),
        Column("ended_at", "text", nullable=True), Column("reason", "text", nullable=True),
        Column("scope", "text", nullable=True),
    ), key=("key_id",), indexes=(("owner",),)),)

    def handles(self, type: str) -> bool:
        return type in KEY_EVENTS

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        names = ("key_id", "replaces")
        return [(TABLE, (str(facts[name]),)) for name in names if facts is not None and name in facts]

    def apply(self, rows: Rows, fact: Fact) -> None:
        """Fold one key event; raises ``Conflict`` (or ``SignatureError``) for one the key state does not allow."""
        record, payload = fact.record, fact.facts
        if record.key_id != LEDGER_KEY_ID:
            raise SignatureError(f"{record.statement.type} must be signed by the ledger key", field="key_id")
        if payload is None:
            raise ValidationFailed(f"entry {fact.index}: a key event needs its payload to be replayed")
        kind, at = record.statement.type, record.recorded_at
        if kind in (KEY_SCOPED, KEY_REVOKED):
            state = key_state(rows, str(payload["key_id"]))
            if state is None or state.status == REVOKED or (kind == KEY_SCOPED and state.status != ACTIVE):
                raise Conflict(f"key {payload['key_id']!r} is not an active key", field="key_id")
            if kind == KEY_SCOPED:
                state = replace(state, scope=KeyScope.from_json(payload["scope"]))
            else:
                state = replace(state, status=REVOKED, ended_idx=fact.index, ended_at=at, reason=payload.get("reason"))
            rows.put(TABLE, state.to_row())
            return
        key_id = check_key_id(payload["key_id"])
        if key_id == LEDGER_KEY_ID or key_state(rows, key_id) is not None:
            raise Conflict(f"key id {key_id!r} is already taken", field="key_id")
        public_key = unb64(payload["public_key"], field="public_key", length=32)
        load_public_key(public_key)  # refuses weak keys
        owner = payload["owner"]
        scope = KeyScope.from_json(payload["scope"]) if "scope" in payload else None
        if kind == KEY_ROTATED:
            old = key_state(rows, str(payload["replaces"]))
            if old is None or old.status != ACTIVE or old.owner != owner:
                raise Conflict(f"key {payload['replaces']!r} is not an active key of {owner!r}", field="replaces")
            rows.put(TABLE, replace(old, status=RETIRED, ended_idx=fact.index, ended_at=at,
                                    reason=f"rotated to {key_id}").to_row())
            if "scope" not in payload:
                scope = old.scope
        rows.put(TABLE, KeyState(key_id=key_id, owner=owner, public_key=public_key, status=ACTIVE,
                                 registered_idx=fact.index, registered_at=at, scope=scope).to_row())


def key_state(rows: Rows, key_id: str) -> KeyState | None:
    row = rows.get(TABLE, (key_id,))
    return None if row is None else KeyState.from_row(row)


def signing_key(rows: Rows, *, key_id: str, owner: str | None = None) -> bytes:
    """Public key of an active system key, optionally checking its owner.

    Raises ``SignatureError`` if the key is unknown, retired or revoked, or belongs to another owner.
    """
    state = key_state(rows, key_id)
    if state is None:
        raise SignatureError(f"key {key_id!r} is not registered", field="key_id")
    if state.status != ACTIVE:
        raise SignatureError(f"key {key_id!r} is {state.status} since entry {state.ended_idx}", field="key_id")
    if owner is not None and state.owner != owner:
        raise SignatureError(f"key {key_id!r} does not belong to {owner!r}", field="key_id")
    return state.public_key


def check_scope(rows: Rows, *, key_id: str, type: str, stream: str) -> None:
    """Raise ``Forbidden`` naming the key's scope unless it may write ``type`` on ``stream``."""
    state = key_state(rows, key_id)
    if state is not None and not state.allows(type=type, stream=stream):
        raise Forbidden(f"key {key_id!r} may write {state.describe_scope()}; not {type!r} on {stream!r}",
                        field="statement.type")
