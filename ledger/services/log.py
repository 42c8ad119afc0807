"""Reading the log: entries, checkpoints, inclusion and consistency proofs, receipts, and who an entry belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.crypto.keys import LEDGER_KEY_ID
from ledger.errors import NotFound, ValidationFailed
from ledger.journal.checkpoints import Checkpointer
from ledger.journal.opening import Opener
from ledger.journal.units import Receipt
from ledger.log import merkle
from ledger.log.note import NoteSigner
from ledger.log.reserved import KEY_EVENTS, LEDGER_SUBJECT
from ledger.projections.system_keys import KeyState
from ledger.store import CheckpointRow, EntryRow, Store


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


@dataclass(frozen=True)
class KeyEventEvidence:
    """A key event's opening, which anyone may check against its leaf's payload commitment."""

    index: int
    leaf: bytes
    payload: dict[str, Any]
    salt: bytes
    payload_canonical: bytes
    data_subject: str = LEDGER_SUBJECT


class LogService:
    """What the public log API and receipts read; never writes."""

    def __init__(self, store: Store, *, checkpointer: Checkpointer, signer: NoteSigner, opener: Opener,
                 origin: str) -> None:
        self._store = store
        self._checkpointer = checkpointer
        self._opener = opener
        self.signer = signer
        self.origin = origin

    @property
    def vkey(self) -> str:
        """The checkpoint verifier key (C2SP vkey)."""
        return self.signer.vkey

    def size(self) -> int:
        return self._store.size()

    def entry(self, index: int) -> EntryRow:
        """Entry ``index``; raises ``NotFound``."""
        return self._store.entry(index)

    def latest_checkpoint(self) -> CheckpointRow | None:
        return self._store.latest_checkpoint()

    def checkpoint(self, tree_size: int) -> CheckpointRow:
        return self._store.checkpoint(tree_size)

    def first_checkpoint_covering(self, index: int) -> CheckpointRow | None:
        return self._store.first_checkpoint_covering(index)

    def checkpoint_now(self) -> CheckpointRow | None:
        """Cut a checkpoint if the log grew; the latest one (None while the log is empty)."""
        return self._checkpointer.cut()

    def latest_covering(self, index: int) -> CheckpointRow:
        """The latest signed checkpoint, cut now if none covers entry ``index`` yet (proofs of a trail or bundle
        are given in it). Raises ``NotFound`` if even a new one cannot (an index beyond the log)."""
        checkpoint = self.latest_checkpoint()
        if checkpoint is None or checkpoint.tree_size <= index:
            checkpoint = self.checkpoint_now()
        if checkpoint is None or checkpoint.tree_size <= index:
            raise NotFound(f"no checkpoint covers entry {index} (the log has {self.size()} entries)",
                           field="index")
        return checkpoint

    def inclusion_proof(self, *, index: int, tree_size: int) -> InclusionProof:
        """Inclusion proof of entry ``index`` in the tree of ``tree_size`` entries (from stored nodes)."""
        self._check_size(tree_size, field="tree_size")
        if not 0 <= index < tree_size:
            raise ValidationFailed(f"index must be in [0, {tree_size}) for tree_size {tree_size}", field="index")
        return InclusionProof(index, tree_size, merkle.inclusion_proof(index, tree_size, self._store.read_nodes))

    def consistency_proof(self, *, first: int, second: int) -> ConsistencyProof:
        """Consistency proof between the trees of ``first`` and ``second`` entries (0 < first <= second)."""
        self._check_size(second, field="second")
        if not 0 < first <= second:
            raise ValidationFailed("first must satisfy 0 < first <= second", field="first")
        return ConsistencyProof(first, second, merkle.consistency_proof(first, second, self._store.read_nodes))

    def tree_root(self, tree_size: int) -> bytes:
        self._check_size(tree_size, field="tree_size")
        return merkle.tree_root(tree_size, self._store.read_nodes)

    def _check_size(self, tree_size: int, *, field: str) -> None:
        size = self._store.size()
        if not 0 < tree_size <= size:
            raise ValidationFailed(f"{field} must be in [1, {size}] (the log has {size} entries)", field=field)

    # -- whose entry -----------------------------------------------------------------------------------------

    def index_of(self, event_id: str) -> int:
        """The journal index of a recorded event. Raises ``NotFound``."""
        return self._store.entry_by_event_id(event_id).idx

    def signer_of(self, index: int) -> str | None:
        """The system whose key signed entry ``index`` (None for the ledger's own). Raises ``NotFound``."""
        row = self._store.entry(index)
        if row.key_id == LEDGER_KEY_ID:
            return None
        found = self._store.rows.read("system_keys", [(row.key_id,)]).get((row.key_id,))
        return None if found is None else KeyState.from_row(found).owner

    def subjects_of(self, index: int) -> set[str]:
        """The data subjects whose keys seal entry ``index``'s payload and personal part (never on the log)."""
        subject, _ = self._store.payload(index)
        personal = self._store.personal_part(index)
        return {subject} | ({personal[0]} if personal is not None else set())

    # -- receipts and evidence -------------------------------------------------------------------------------

    def receipt(self, event_id: str, *, wait: float = 0.0) -> FullReceipt:
        """The receipt of a recorded event, with a signed checkpoint and inclusion proof once one covers it.

        ``wait`` seconds are spent waiting for a covering checkpoint if none exists yet.
        """
        row = self._store.entry_by_event_id(event_id)
        checkpoint = self._store.first_checkpoint_covering(row.idx)
        if checkpoint is None and wait > 0:
            checkpoint = self._checkpointer.wait_for(row.idx + 1, timeout=wait)
        proof = None
        if checkpoint is not None:
            proof = self.inclusion_proof(index=row.idx, tree_size=checkpoint.tree_size)
        return FullReceipt(receipt=Receipt.of(row), leaf=row.leaf, checkpoint=checkpoint, proof=proof)

    def key_event_evidence(self, index: int) -> KeyEventEvidence:
        """Leaf, payload and salt of a key event (key history is public: it holds no personal data)."""
        row = self.entry(index)
        if row.type not in KEY_EVENTS:
            raise NotFound(f"entry {index} is not a key event", field="index")
        opened = self._opener.payload(index)
        return KeyEventEvidence(index=index, leaf=row.leaf, payload=opened.payload, salt=opened.salt,
                                payload_canonical=opened.payload_bytes)
