"""System keys: register, rotate, change the scope of and revoke the keys systems sign with (journal events)."""

from __future__ import annotations

from typing import Any

from ledger.crypto.keys import LEDGER_KEY_ID, check_key_id, load_public_key
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.journal.units import Receipt
from ledger.log.encoding import b64
from ledger.log.identifiers import check_subject
from ledger.log.reserved import (
    KEY_REGISTERED,
    KEY_REVOKED,
    KEY_ROTATED,
    KEY_SCOPED,
    RESERVED_STREAM_KINDS,
    RESERVED_TYPE_PREFIXES,
)
from ledger.projections.scopes import KeyScope
from ledger.projections.system_keys import ACTIVE, TABLE, KeyState
from ledger.services.intake import Draft, IntakeService
from ledger.store.rows import RowStore


class KeyService:
    """Each change is a ``ledger.key.*`` event on the stream ``system:<owner>``, so key history is provable."""

    def __init__(self, rows: RowStore, intake: IntakeService) -> None:
        self._rows = rows
        self._intake = intake

    def register(self, *, key_id: str, owner: str, public_key: bytes, scope: KeyScope) -> Receipt:
        """Register a system's Ed25519 key with the event types and stream kinds it may write.

        Raises ``Conflict`` if the key id is taken, ``ValidationFailed`` for a malformed id or owner and
        ``WeakKeyError`` for a weak key.
        """
        _check_input(key_id=key_id, owner=owner, public_key=public_key)
        _check_scope(scope)
        return self._intake.emit(Draft(KEY_REGISTERED, f"system:{owner}", {
            "key_id": key_id, "owner": owner, "public_key": b64(public_key), "scope": scope.to_json()}))

    def rotate(self, *, old_key_id: str, key_id: str, public_key: bytes, scope: KeyScope | None = None) -> Receipt:
        """Retire ``old_key_id`` and register its successor in one event; the scope carries over unless a new one
        is given (the event records the successor's scope either way)."""
        old = self.get(old_key_id)
        _check_input(key_id=key_id, owner=old.owner, public_key=public_key)
        if scope is not None:
            _check_scope(scope)
        payload: dict[str, Any] = {"key_id": key_id, "owner": old.owner, "public_key": b64(public_key),
                                   "replaces": old_key_id}
        inherited = scope or old.scope
        if inherited is not None:
            payload["scope"] = inherited.to_json()
        return self._intake.emit(Draft(KEY_ROTATED, f"system:{old.owner}", payload))

    def change_scope(self, *, key_id: str, scope: KeyScope) -> Receipt:
        """Change what an active key may write."""
        _check_scope(scope)
        key = self.get(key_id)
        if key.status != ACTIVE:
            raise Conflict(f"key {key_id!r} is {key.status}; only an active key's scope can change", field="key_id")
        return self._intake.emit(Draft(KEY_SCOPED, f"system:{key.owner}",
                                       {"key_id": key_id, "scope": scope.to_json()}))

    def revoke(self, *, key_id: str, reason: str) -> Receipt:
        """Revoke a key: events it signs from now on are refused; earlier entries stay valid."""
        if not reason or len(reason) > 200:
            raise ValidationFailed("reason must be 1-200 characters", field="reason")
        key = self.get(key_id)
        return self._intake.emit(Draft(KEY_REVOKED, f"system:{key.owner}", {"key_id": key_id, "reason": reason}))

    def get(self, key_id: str) -> KeyState:
        """A registered key; raises ``NotFound``."""
        row = self._rows.read(TABLE, [(key_id,)]).get((key_id,))
        if row is None:
            raise NotFound(f"key {key_id!r} is not registered", field="key_id")
        return KeyState.from_row(row)

    def registered(self, owner: str | None = None) -> list[KeyState]:
        """Every registered key (of one owner), in order of registration."""
        rows = self._rows.select(TABLE, where={"owner": owner} if owner is not None else None,
                                 order_by=("registered_idx", "key_id"))
        return [KeyState.from_row(row) for row in rows]

    def unscoped(self) -> list[KeyState]:
        """Active keys with no scope recorded (registered before keys had scopes): each may write any event type
        on any stream until ``change_scope`` gives it one."""
        rows = self._rows.select(TABLE, where={"status": ACTIVE}, order_by=("registered_idx", "key_id"))
        return [key for key in map(KeyState.from_row, rows) if key.scope is None]


def _check_input(*, key_id: str, owner: str, public_key: bytes) -> None:
    check_key_id(key_id)
    if key_id == LEDGER_KEY_ID:
        raise ValidationFailed("key id 'ledger' is reserved", field="key_id")
    check_subject(owner, field="owner")
    load_public_key(public_key)


def _check_scope(scope: KeyScope) -> None:
    """Refuse a scope naming what only the ledger writes: intake would refuse those writes anyway, and a scope
    that seems to allow them misleads whoever reads the key's history."""
    for n, pattern in enumerate(scope.types):
        if pattern != "*" and any((pattern + ".").startswith(prefix) for prefix in RESERVED_TYPE_PREFIXES):
            raise ValidationFailed(f"scope.types[{n}] {pattern!r} names event types only the ledger writes "
                                   f"({', '.join(p + '*' for p in RESERVED_TYPE_PREFIXES)})", field="scope.types")
    for n, kind in enumerate(scope.streams):
        if kind in RESERVED_STREAM_KINDS:
            raise ValidationFailed(f"scope.streams[{n}] {kind!r} is a stream kind only the ledger writes "
                                   f"({', '.join(RESERVED_STREAM_KINDS)})", field="scope.streams")
