"""Admin routes for system keys: register, rotate, revoke, list. Each change is a journal event."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.bodies import json_body, request_body
from api.deps import AdminPrincipal, KeysDep
from api.problems import responses
from api.routing import Router
from api.schemas import (
    KeyChangePublic,
    KeyCreate,
    KeyPublic,
    KeyRevoke,
    KeyRotate,
    KeyScopeChange,
    ReceiptPublic,
)
from ledger.log.encoding import unb64

router = Router(prefix="/v1/admin/keys", tags=["admin: system keys"],
                   responses=responses(401, 403, 404, 409, 422, 503))


@router.get("")
def list_keys(keys: KeysDep, _: AdminPrincipal, owner: str | None = None) -> list[KeyPublic]:
    """Every registered system key, optionally of one owner."""
    return [KeyPublic.of(k) for k in keys.registered(owner)]


@router.post("", status_code=201, openapi_extra=request_body(KeyCreate))
def register_key(keys: KeysDep, _: AdminPrincipal,
                 body: Annotated[KeyCreate, Depends(json_body(KeyCreate))]) -> KeyChangePublic:
    """Register a system's Ed25519 public key; the system may then sign events with it."""
    receipt = keys.register(key_id=body.key_id, owner=body.owner,
                                  public_key=unb64(body.public_key, field="public_key", length=32),
                                  scope=body.scope.to_scope())
    return KeyChangePublic(key=KeyPublic.of(keys.get(body.key_id)), receipt=ReceiptPublic.of(receipt))


@router.post("/{key_id}:rotate", status_code=201, openapi_extra=request_body(KeyRotate))
def rotate_key(keys: KeysDep, _: AdminPrincipal, key_id: str,
               body: Annotated[KeyRotate, Depends(json_body(KeyRotate))]) -> KeyChangePublic:
    """Retire ``key_id`` and register its successor for the same owner, in one journal event."""
    receipt = keys.rotate(old_key_id=key_id, key_id=body.key_id,
                                public_key=unb64(body.public_key, field="public_key", length=32),
                                scope=body.scope.to_scope() if body.scope is not None else None)
    return KeyChangePublic(key=KeyPublic.of(keys.get(body.key_id)), receipt=ReceiptPublic.of(receipt))


@router.post("/{key_id}:revoke", openapi_extra=request_body(KeyRevoke))
def revoke_key(keys: KeysDep, _: AdminPrincipal, key_id: str,
               body: Annotated[KeyRevoke, Depends(json_body(KeyRevoke))]) -> KeyChangePublic:
    """Revoke a key: events signed with it are refused from now on; earlier entries stay valid."""
    receipt = keys.revoke(key_id=key_id, reason=body.reason)
    return KeyChangePublic(key=KeyPublic.of(keys.get(key_id)), receipt=ReceiptPublic.of(receipt))


@router.post("/{key_id}:scope", openapi_extra=request_body(KeyScopeChange))
def change_scope(keys: KeysDep, _: AdminPrincipal, key_id: str,
                 body: Annotated[KeyScopeChange, Depends(json_body(KeyScopeChange))]) -> KeyChangePublic:
    """Change the event types and stream kinds an active key may write (recorded as a journal event)."""
    receipt = keys.change_scope(key_id=key_id, scope=body.scope.to_scope())
    return KeyChangePublic(key=KeyPublic.of(keys.get(key_id)), receipt=ReceiptPublic.of(receipt))
