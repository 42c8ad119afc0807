"""The ledger service: one object that owns the store, keys, journal writer and checkpointer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ledger import merkle
from ledger.checkpoints import Checkpointer
from ledger.encoding import b64, canonical_json
from ledger.errors import NotFound, ValidationFailed
from ledger.journal import Journal, Receipt
from ledger.keys import LEDGER_KEY_ID, LocalKeys, check_key_id, load_public_key
from ledger.note import NoteSigner
from ledger.projections import KEY_REGISTERED, KEY_REVOKED, KEY_ROTATED, KeyState
from ledger.sealing import OpenedPayload, unseal, unwrap_key
from ledger.settings import Settings
from ledger.statements import SUBJECT, SignedEvent, sign_event, utc_timestamp
from ledger.store import CheckpointRow, EntryRow, Store

LEDGER_SUBJECT = "ledger"


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    hashes: list[bytes]


@dataclass(frozen=True)
class FullReceipt:
    """A receipt with, once a checkpoint covers the entry, that signed checkpoint and the inclusion proof."""

    receipt: Receipt
    leaf: bytes
    checkpoint: CheckpointRow | None
    proof: InclusionProof | None


class Ledger:
    """The service core. Create with ``Ledger.open(settings)``; call ``close()`` when done."""

    def __init__(self, settings: Settings, store: Store, keys: LocalKeys) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.note_signer = NoteSigner(settings.origin, keys.ledger.private_key)
        self.journal = Journal(store, master_key=keys.master_key, ledger_public_key=keys.ledger.public_key,
                               batch_max=settings.batch_max)
        self.checkpointer = Checkpointer(store, signer=self.note_signer, origin=settings.origin,
                                         interval=settings.checkpoint_interval)

    @classmethod
    def open(cls, settings: Settings) -> Ledger:
        """Open (creating if needed) the data dir, keys and database at the newest schema."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings, Store.open(settings.resolved_database_url), LocalKeys.load_or_create(settings.data_dir))

    def start(self) -> None:
        """Start the background writer and the periodic checkpointer."""
        self.journal.start()
        self.checkpointer.start()

    def close(self) -> None:
        self.checkpointer.stop()
        self.journal.stop()
        self.store.close()

    # -- appending -----------------------------------------------------------------------------------------

    def append(self, event: SignedEvent, *, owner: str) -> Receipt:
        """Append an event signed by one of ``owner``'s registered keys; see ``Journal.submit`` for errors."""
        return self.journal.append(event, owner=owner)

    def append_many(self, events: list[SignedEvent], *, owner: str) -> list[Receipt | Exception]:
        return list(self.journal.append_many(events, owner=owner))

    def emit(self, *, type: str, stream: str, payload: dict[str, Any], data_subject: str = LEDGER_SUBJECT,
             event_id: str | None = None) -> Receipt:
        """Append an event the ledger itself originates, signed with the ledger key."""
        event = sign_event(key=self.keys.ledger, event_id=event_id or f"ll-{uuid.uuid4()}", type=type,
                           stream=stream, payload=payload, data_subject=data_subject)
        return self.journal.append(event, owner=None)

    # -- system keys ---------------------------------------------------------------------------------------

    def register_key(self, *, key_id: str, owner: str, public_key: bytes) -> Receipt:
        """Register a system's Ed25519 key (a journal event). Raises ``Conflict`` if the key id is taken."""
        self._check_key_input(key_id=key_id, owner=owner, public_key=public_key)
        return self.emit(type=KEY_REGISTERED, stream=f"system:{owner}",
                         payload={"key_id": key_id, "owner": owner, "public_key": b64(public_key)})

    def rotate_key(self, *, old_key_id: str, key_id: str, public_key: bytes) -> Receipt:
        """Retire ``old_key_id`` and register its successor in one journal event."""
        old = self.system_key(old_key_id)
        self._check_key_input(key_id=key_id, owner=old.owner, public_key=public_key)
        return self.emit(type=KEY_ROTATED, stream=f"system:{old.owner}",
                         payload={"key_id": key_id, "owner": old.owner, "public_key": b64(public_key),
                                  "replaces": old_key_id})

    def revoke_key(self, *, key_id: str, reason: str) -> Receipt:
        """Revoke a key: events it signs from now on are refused; earlier entries stay valid."""
        if not reason or len(reason) > 200:
            raise ValidationFailed("reason must be 1-200 characters", field="reason")
        key = self.system_key(key_id)
        return self.emit(type=KEY_REVOKED, stream=f"system:{key.owner}",
                         payload={"key_id": key_id, "reason": reason})

    def system_key(self, key_id: str) -> KeyState:
        projection = self.store.load_projection(streams=[], key_ids=[key_id])
        if key_id not in projection.keys:
            raise NotFound(f"key {key_id!r} is not registered", field="key_id")
        return projection.keys[key_id]

    def system_keys(self, owner: str | None = None) -> list[KeyState]:
        return self.store.system_keys(owner)

    @staticmethod
    def _check_key_input(*, key_id: str, owner: str, public_key: bytes) -> None:
        check_key_id(key_id)
        if key_id == LEDGER_KEY_ID:
            raise ValidationFailed("key id 'ledger' is reserved", field="key_id")
        if not isinstance(owner, str) or not SUBJECT.match(owner):
            raise ValidationFailed("owner must be 1-128 characters of A-Z a-z 0-9 . _ : -", field="owner")
        load_public_key(public_key)

    # -- reading the log -----------------------------------------------------------------------------------

    def size(self) -> int:
        return self.store.size()

    def entry(self, index: int) -> EntryRow:
        return self.store.entry(index)

    def latest_checkpoint(self) -> CheckpointRow | None:
        return self.store.latest_checkpoint()

    def checkpoint_now(self) -> CheckpointRow | None:
        return self.checkpointer.cut()

    def inclusion_proof(self, *, index: int, tree_size: int) -> InclusionProof:
        """Inclusion proof of entry ``index`` in the tree of ``tree_size`` entries (from stored nodes)."""
        self._check_size(tree_size, field="tree_size")
        if not 0 <= index < tree_size:
            raise ValidationFailed(f"index must be in [0, {tree_size}) for tree_size {tree_size}", field="index")
        return InclusionProof(index, tree_size, merkle.inclusion_proof(index, tree_size, self.store.read_nodes))

    def consistency_proof(self, *, first: int, second: int) -> ConsistencyProof:
        """Consistency proof between the trees of ``first`` and ``second`` entries (0 < first <= second)."""
        self._check_size(second, field="second")
        if not 0 < first <= second:
            raise ValidationFailed("first must satisfy 0 < first <= second", field="first")
        return ConsistencyProof(first, second, merkle.consistency_proof(first, second, self.store.read_nodes))

    def tree_root(self, tree_size: int) -> bytes:
        self._check_size(tree_size, field="tree_size")
        return merkle.tree_root(tree_size, self.store.read_nodes)

    def _check_size(self, tree_size: int, *, field: str) -> None:
        size = self.store.size()
        if not 0 < tree_size <= size:
            raise ValidationFailed(f"{field} must be in [1, {size}] (the log has {size} entries)", field=field)

    def event_owner(self, event_id: str) -> str | None:
        """The system whose key signed an event (None for the ledger's own). Raises ``NotFound``."""
        row = self.store.entry_by_event_id(event_id)
        if row.key_id == LEDGER_KEY_ID:
            return None
        return self.system_key(row.key_id).owner

    def receipt(self, event_id: str, *, wait: float = 0.0) -> FullReceipt:
        """The receipt of a recorded event, with a signed checkpoint and inclusion proof once one covers it.

        ``wait`` seconds are spent waiting for a covering checkpoint if none exists yet.
        """
        row = self.store.entry_by_event_id(event_id)
        checkpoint = self.store.first_checkpoint_covering(row.idx)
        if checkpoint is None and wait > 0:
            checkpoint = self.checkpointer.wait_for(row.idx + 1, timeout=wait)
        proof = None
        if checkpoint is not None:
            proof = self.inclusion_proof(index=row.idx, tree_size=checkpoint.tree_size)
        return FullReceipt(receipt=Receipt.of(row), leaf=row.leaf, checkpoint=checkpoint, proof=proof)

    # -- payloads and erasure ------------------------------------------------------------------------------

    def open_payload(self, index: int) -> OpenedPayload:
        """Decrypt the payload of entry ``index``; raises ``ErasedError`` if its subject was erased."""
        subject, sealed = self.store.payload(index)
        wrapped = self.store.wrapped_keys([subject]).get(subject)
        data_key = None if wrapped is None else unwrap_key(master_key=self.keys.master_key, subject=subject,
                                                           wrapped=wrapped)
        return unseal(data_key=data_key, index=index, sealed=sealed)

    def erase_subject(self, subject: str) -> int:
        """Destroy a data subject's key: its payloads become unreadable, every proof still verifies."""
        if subject == LEDGER_SUBJECT:
            raise ValidationFailed("the ledger's own subject cannot be erased", field="subject")
        erased = self.store.erase_subject(subject, at=utc_timestamp())
        self.journal.forget_data_key(subject)
        return erased

    def key_history(self) -> list[dict[str, Any]]:
        """Every key event with its payload and salt, so anyone can check it against its journal leaf."""
        history = []
        for key in self.store.system_keys():
            history.append({"key_id": key.key_id, "owner": key.owner, "public_key": b64(key.public_key),
                            "status": key.status, "registered_index": key.registered_idx,
                            "registered_at": key.registered_at, "ended_index": key.ended_idx,
                            "ended_at": key.ended_at, "reason": key.reason})
        return history

    def key_event_evidence(self, index: int) -> dict[str, Any]:
        """Payload and salt of a key event, which anyone may check against the leaf's payload_hash."""
        row = self.entry(index)
        if not row.type.startswith("ledger.key."):
            raise NotFound(f"entry {index} is not a key event", field="index")
        opened = self.open_payload(index)
        return {"index": index, "payload": opened.payload, "salt": b64(opened.salt),
                "payload_canonical": b64(canonical_json(opened.payload))}
