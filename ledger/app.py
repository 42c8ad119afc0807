"""The ledger service: one object that owns the store, keys, journal writer and checkpointer."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.crypto.keys import LEDGER_KEY_ID, LocalKeys, check_key_id, load_public_key
from ledger.crypto.sealing import OpenedPayload, unseal, unwrap_key
from ledger.errors import ConfigurationError, Conflict, NotFound, ValidationFailed
from ledger.journal.checkpoints import Checkpointer
from ledger.journal.writer import Journal, Receipt
from ledger.log import merkle
from ledger.log.encoding import b64
from ledger.log.note import NoteSigner
from ledger.log.statements import LEDGER_SUBJECT, SignedEvent, check_subject, sign_event, utc_timestamp
from ledger.projections.scopes import KeyScope
from ledger.projections.system_keys import (
    KEY_REGISTERED,
    KEY_REVOKED,
    KEY_ROTATED,
    KEY_SCOPED,
    SUBJECT_ERASED,
    KeyState,
)
from ledger.settings import Settings
from ledger.store import CheckpointRow, EntryRow, Store
from ledger.store.anchors import CHECKPOINT, AnchorJob, AnchorStore

if TYPE_CHECKING:
    from ledger.anchoring.worker import Anchorer



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
class AnchorProof:
    """Why entry ``index`` is covered by a root anchored on chain.

    ``inclusion`` proves the entry in its first checkpoint; ``consistency`` proves that checkpoint's tree is a
    prefix of the anchored one; ``anchored_inclusion`` proves the entry directly in the anchored tree.
    """

    index: int
    leaf: bytes
    leaf_hash: bytes
    checkpoint: CheckpointRow
    inclusion: InclusionProof
    anchored: AnchorJob
    anchored_checkpoint: CheckpointRow
    consistency: ConsistencyProof
    anchored_inclusion: InclusionProof


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
                               batch_max=settings.batch_max, max_skew=settings.max_clock_skew)
        self.checkpointer = Checkpointer(store, signer=self.note_signer, origin=settings.origin,
                                         interval=settings.checkpoint_interval)
        self.anchors = AnchorStore(store.engine)
        self.anchorer: Anchorer | None = None
        if settings.chain_url != "none":
            from ledger.anchoring.worker import Anchorer  # the only path into web3

            self.anchorer = Anchorer(store, settings=settings)

    @classmethod
    def open(cls, settings: Settings) -> Ledger:
        """Open (creating if needed) the data dir, keys and database at the newest schema.

        Raises ``ConfigurationError`` if the database belongs to a ledger with other keys or another origin
        (say, a second host that was not given the first host's ``keys`` directory).
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store.open(settings.resolved_database_url)
        try:
            keys = LocalKeys.load_or_create(settings.data_dir)
            _claim_identity(store, keys, settings)
        except BaseException:
            store.close()
            raise
        return cls(settings, store, keys)

    def start(self, *, anchoring: bool = True) -> None:
        """Start the background writer, the periodic checkpointer and (if configured) the anchoring worker."""
        self.journal.start()
        self.checkpointer.start()
        if anchoring and self.anchorer is not None:
            self.anchorer.start()

    def close(self) -> None:
        if self.anchorer is not None:
            self.anchorer.close()
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

    def register_key(self, *, key_id: str, owner: str, public_key: bytes, scope: KeyScope) -> Receipt:
        """Register a system's Ed25519 key with the event types and stream kinds it may write (a journal event).

        Raises ``Conflict`` if the key id is taken, ``ValidationFailed`` for a malformed id, owner or key.
        """
        self._check_key_input(key_id=key_id, owner=owner, public_key=public_key)
        return self.emit(type=KEY_REGISTERED, stream=f"system:{owner}",
                         payload={"key_id": key_id, "owner": owner, "public_key": b64(public_key),
                                  "scope": scope.to_json()})

    def rotate_key(self, *, old_key_id: str, key_id: str, public_key: bytes, scope: KeyScope | None = None,
                   ) -> Receipt:
        """Retire ``old_key_id`` and register its successor in one journal event; the scope carries over unless
        a new one is given (the event records the successor's scope either way)."""
        old = self.system_key(old_key_id)
        self._check_key_input(key_id=key_id, owner=old.owner, public_key=public_key)
        payload: dict[str, Any] = {"key_id": key_id, "owner": old.owner, "public_key": b64(public_key),
                                   "replaces": old_key_id}
        inherited = scope or old.scope
        if inherited is not None:
            payload["scope"] = inherited.to_json()
        return self.emit(type=KEY_ROTATED, stream=f"system:{old.owner}", payload=payload)

    def change_key_scope(self, *, key_id: str, scope: KeyScope) -> Receipt:
        """Change what an active key may write (a journal event, so scope history is provable)."""
        key = self.system_key(key_id)
        if key.status != "active":
            raise Conflict(f"key {key_id!r} is {key.status}; only an active key's scope can change", field="key_id")
        return self.emit(type=KEY_SCOPED, stream=f"system:{key.owner}",
                         payload={"key_id": key_id, "scope": scope.to_json()})

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
        check_subject(owner, field="owner")
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

    def signer_of(self, index: int) -> str | None:
        """The system whose key signed entry ``index`` (None for the ledger's own). Raises ``NotFound``."""
        row = self.store.entry(index)
        if row.key_id == LEDGER_KEY_ID:
            return None
        return self.system_key(row.key_id).owner

    def subject_of(self, index: int) -> str:
        """The data subject whose key seals entry ``index``'s payload (never on the public log)."""
        subject, _ = self.store.payload(index)
        return subject

    def index_of(self, event_id: str) -> int:
        """The journal index of a recorded event. Raises ``NotFound``."""
        return self.store.entry_by_event_id(event_id).idx

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

    # -- anchoring -----------------------------------------------------------------------------------------

    def anchor_proof(self, index: int) -> AnchorProof:
        """Proofs that entry ``index`` is covered by a confirmed on-chain anchor. Raises ``NotFound``."""
        row = self.entry(index)
        anchored = self.anchors.confirmed_anchor_covering(index, contract=self._current_anchor_contract())
        if anchored is None or anchored.tree_size is None:
            raise NotFound(f"entry {index} is not yet covered by a confirmed anchor; see /v1/log/anchors",
                           field="index")
        first = self.store.first_checkpoint_covering(index)
        assert first is not None  # an anchored checkpoint covers it, so some checkpoint does
        first_size = first.tree_size
        consistency = (self.consistency_proof(first=first_size, second=anchored.tree_size)
                       if first_size < anchored.tree_size else ConsistencyProof(first_size, first_size, []))
        return AnchorProof(index=index, leaf=row.leaf, leaf_hash=row.leaf_hash, checkpoint=first,
                           inclusion=self.inclusion_proof(index=index, tree_size=first_size), anchored=anchored,
                           anchored_checkpoint=self.store.checkpoint(anchored.tree_size), consistency=consistency,
                           anchored_inclusion=self.inclusion_proof(index=index, tree_size=anchored.tree_size))

    def anchor_status(self, *, limit: int = 20) -> dict[str, Any]:
        """What is anchored where: configuration, the latest confirmed anchor, lag, and recent jobs."""
        size = self.store.size()
        jobs = self.anchors.recent_jobs(kind=CHECKPOINT, limit=limit)
        chain_id = self.anchorer.expected_chain_id() if self.anchorer is not None else None
        if chain_id is None and jobs:
            chain_id = jobs[0].chain_id
        latest = self.anchors.largest_confirmed(contract=self._current_anchor_contract())
        return {
            "configured": self.anchorer is not None,
            "chain": _safe_url(self.settings.chain_url),
            "chain_id": chain_id,
            "contracts": self.anchors.deployment(chain_id) if chain_id is not None else {},
            "log_size": size,
            "anchored_tree_size": latest.tree_size if latest else 0,
            "lag": size - (latest.tree_size or 0 if latest else 0),
            "last_error": self.anchorer.last_error if self.anchorer is not None else None,
            "jobs": self.anchors.count_jobs(),
            "anchors": jobs,
        }

    def _current_anchor_contract(self) -> str | None:
        """Address of the LedgerAnchor that anchors go to on the configured chain, if one is recorded."""
        chain_id = self.anchorer.expected_chain_id() if self.anchorer is not None else None
        if chain_id is not None:
            return self.anchors.deployment(chain_id).get("LedgerAnchor")
        return self.anchors.current_contract("LedgerAnchor")

    def queue_documents(self, registrations: list[dict[str, Any]]) -> list[int]:
        """Queue document digests to register on chain: each ``{digest, subject, kind, version}``.

        ``digest`` and ``subject`` are 32 bytes (``subject`` a salted commitment, never personal data),
        ``kind`` 0-255 and ``version`` at least 1. Raises ``ValidationFailed`` naming the bad item.
        """
        ops = []
        for n, item in enumerate(registrations):
            digest, subject = item.get("digest"), item.get("subject")
            kind, version = item.get("kind"), item.get("version")
            if not isinstance(digest, bytes) or len(digest) != 32 or not any(digest):
                raise ValidationFailed(f"registrations[{n}].digest must be 32 non-zero bytes", field="digest")
            if not isinstance(subject, bytes) or len(subject) != 32 or not any(subject):
                raise ValidationFailed(f"registrations[{n}].subject must be a 32-byte commitment", field="subject")
            if not isinstance(kind, int) or not 0 <= kind <= 255:
                raise ValidationFailed(f"registrations[{n}].kind must be 0-255", field="kind")
            if not isinstance(version, int) or not 1 <= version < 2**64:
                raise ValidationFailed(f"registrations[{n}].version must be a positive integer", field="version")
            ops.append({"op": "register", "digest": digest, "subject": subject, "kind": kind, "version": version})
        return self.anchors.queue_document_ops(ops, at=utc_timestamp())

    def queue_supersede(self, *, old_digest: bytes, new_digest: bytes, version: int) -> int:
        """Queue replacing a registered document by a newer version."""
        for name, value in (("old_digest", old_digest), ("new_digest", new_digest)):
            if len(value) != 32 or not any(value):
                raise ValidationFailed(f"{name} must be 32 non-zero bytes", field=name)
        if not isinstance(version, int) or not 2 <= version < 2**64:
            raise ValidationFailed("version must be an integer above the first version (1)", field="version")
        return self.anchors.queue_document_ops(
            [{"op": "supersede", "digest": new_digest, "old_digest": old_digest, "version": version}],
            at=utc_timestamp())[0]

    def queue_revoke(self, *, digest: bytes, reason_code: int) -> int:
        """Queue revoking a registered document for an issuer-defined reason code (0-255)."""
        if len(digest) != 32 or not any(digest):
            raise ValidationFailed("digest must be 32 non-zero bytes", field="digest")
        if not isinstance(reason_code, int) or not 0 <= reason_code <= 255:
            raise ValidationFailed("reason_code must be 0-255", field="reason_code")
        return self.anchors.queue_document_ops([{"op": "revoke", "digest": digest, "reason_code": reason_code}],
                                               at=utc_timestamp())[0]

    # -- payloads and erasure ------------------------------------------------------------------------------

    def open_payload(self, index: int) -> OpenedPayload:
        """Decrypt the payload of entry ``index``; raises ``ErasedError`` if its subject was erased."""
        subject, sealed = self.store.payload(index)
        wrapped = self.store.wrapped_keys([subject]).get(subject)
        data_key = None if wrapped is None else unwrap_key(master_key=self.keys.master_key, subject=subject,
                                                           wrapped=wrapped)
        return unseal(data_key=data_key, index=index, subject=subject, sealed=sealed)

    def erase_subject(self, subject: str) -> int:
        """Destroy a data subject's key: its payloads become unreadable, every proof still verifies.

        The erasure is first recorded in the journal (``ledger.subject.erased``, its payload sealed under the
        ledger's own key), so an audit can tell a lawful erasure from a key that went missing. Returns how many
        payloads became unreadable. Raises ``NotFound`` if the subject has no key (unknown or already erased).
        """
        if subject == LEDGER_SUBJECT:
            raise ValidationFailed("the ledger's own subject cannot be erased", field="subject")
        if self.store.wrapped_keys([subject]).get(subject) is None:
            raise NotFound(f"data subject {subject!r} has no key to erase", field="subject")
        self.emit(type=SUBJECT_ERASED, stream="ledger:erasures", payload={"subject": subject})
        erased = self.store.erase_subject(subject, at=utc_timestamp())
        self.journal.forget_data_key(subject)
        return erased

    def key_event_evidence(self, index: int) -> dict[str, Any]:
        """Payload and salt of a key event, which anyone may check against the leaf's payload_hash."""
        row = self.entry(index)
        if not row.type.startswith("ledger.key."):
            raise NotFound(f"entry {index} is not a key event", field="index")
        opened = self.open_payload(index)
        return {"index": index, "payload": opened.payload, "salt": b64(opened.salt), "data_subject": LEDGER_SUBJECT,
                "payload_canonical": b64(opened.payload_bytes)}


def _safe_url(url: str) -> str:
    """A chain URL cut to scheme, host and port (user info, path and query may hold API keys)."""
    from urllib.parse import urlsplit

    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def _claim_identity(store: Store, keys: LocalKeys, settings: Settings) -> None:
    """Bind the database to this ledger's checkpoint key and payload master key on first use; check after."""
    vkey = NoteSigner(settings.origin, keys.ledger.private_key).vkey
    stored = store.claim_meta("checkpoint_vkey", vkey)
    if stored != vkey:
        raise ConfigurationError(
            f"this database belongs to the ledger with checkpoint key {stored}, but {settings.data_dir / 'keys'} "
            f"and origin {settings.origin!r} make {vkey}: give every host the same keys directory and origin")
    check = hmac.new(keys.master_key, b"lifeledger payload master key", hashlib.sha256).hexdigest()
    if store.claim_meta("master_key_check", check) != check:
        raise ConfigurationError(f"the payload master key in {settings.data_dir / 'keys'} is not the one this "
                                 f"database's payloads are sealed with: give every host the same keys directory")
