"""Proof material for one document digest: what the public verification page checks in the browser.

Whoever asks by a SHA-256 learns where that document stands (genuine, superseded, revoked or unknown) and
everything needed to check that answer without trusting the service: the journal entry that registered the
digest, the one that changed its status, and for a version brought in by a supersession the entries of its
lineage back to the registration that named its kind, each with its leaf, its payload opening (salt, payload,
data subject) and its inclusion proof in the latest signed checkpoint; the verifier key; and, once a checkpoint
covering them is anchored on chain, that anchored checkpoint, the consistency proof from it to the latest one and
the anchoring transaction. Document events hold no personal data (their subject is a salted commitment and their
payload is sealed under the ledger's own subject), so their openings may go to anyone who asks by digest (digests
are public on chain anyway); nothing here is found by policy number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.errors import Conflict, NotFound, VerificationError
from ledger.journal.opening import Opened
from ledger.log.encoding import parse_digest
from ledger.services.anchoring import AnchorService
from ledger.services.documents import DocumentRecord, DocumentService
from ledger.services.log import ConsistencyProof, InclusionProof, LogService
from ledger.store import CheckpointRow
from ledger.store.anchors import AnchorJob

__all__ = ["AnchorEvidence", "DocumentFacts", "DocumentProof", "DocumentProofService", "EntryEvidence"]

# An e-policy version is registered in the group of the contract event that issued it, right after that event;
# a group holds a few events more (a payment, parties), so the streams of this many entries before the
# registration are what the facts are looked up by.
GROUP_LOOKBACK = 4
# A public request waits at most this long for the periodic checkpointer to cover a just-recorded entry.
CHECKPOINT_WAIT = 2.0
_ATTEMPTS = 3  # reads of the registry row that must agree with the facts read between them
# The most versions a lineage is followed back through (an e-policy gets a new version per servicing change).
MAX_LINEAGE = 1000


class DocumentFacts(Protocol):
    """What the domain says about a digest (``PolicyService.document_status``)."""

    def document_status(self, digest: str, *, recorded_with: Sequence[str] = ()) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EntryEvidence:
    """One journal entry about the document: its leaf, the opening of its payload commitment, and its inclusion
    proof in the latest signed checkpoint (None while no checkpoint covers it yet)."""

    index: int
    leaf: bytes
    recorded_at: str
    salt: bytes
    payload: Any
    data_subject: str
    inclusion: InclusionProof | None


@dataclass(frozen=True)
class AnchorEvidence:
    """The anchored checkpoint that covers the document's entries, the consistency proof from its tree to the
    latest checkpoint's, and the transaction that put its root on chain."""

    checkpoint: CheckpointRow
    consistency: ConsistencyProof
    job: AnchorJob


@dataclass(frozen=True)
class DocumentProof:
    """Everything the verification page needs about one digest.

    ``status`` is the domain's answer (``DocumentFacts.document_status``). For an unknown digest every other
    field but ``vkey`` is None (``lineage`` empty). ``status_change`` is the entry that superseded or revoked the
    document; ``lineage`` the entries that brought in the versions before this one, oldest first: empty when the
    registration is a ``document.registered`` (it names the kind itself), else starting with the lineage's
    ``document.registered`` and going on with each ``document.superseded`` up to the one before ``registration``.
    ``anchor`` is None until a confirmed on-chain anchor covers the registration.
    """

    status: dict[str, Any]
    vkey: str
    checkpoint: CheckpointRow | None
    registration: EntryEvidence | None
    status_change: EntryEvidence | None
    anchor: AnchorEvidence | None
    lineage: tuple[EntryEvidence, ...] = ()


class DocumentProofService:
    """Reads the log, the anchors, the document registry and payload openings; never writes."""

    def __init__(self, *, log: LogService, anchoring: AnchorService, documents: DocumentService,
                 open_payload: Callable[[int], Opened], facts: DocumentFacts,
                 checkpoint_wait: float = CHECKPOINT_WAIT) -> None:
        self._log = log
        self._anchoring = anchoring
        self._documents = documents
        self._open = open_payload
        self._facts = facts
        self._wait = checkpoint_wait

    def status(self, digest: str) -> dict[str, Any]:
        """The domain's answer for ``digest``, with the policy facts found through the registration's group.

        Requires ``sha256:<64 lowercase hex>``; raises ``ValidationFailed`` naming ``digest`` otherwise.
        """
        return self._status(digest)[0]

    def proof(self, digest: str) -> DocumentProof:
        """The status of ``digest`` and its proof material (see ``DocumentProof``).

        Requires ``sha256:<64 lowercase hex>`` (``ValidationFailed`` naming ``digest`` otherwise). Waits up to
        ``checkpoint_wait`` seconds for a checkpoint covering the document's entries. Raises
        ``VerificationError`` if the registry names an entry that is not the document event it should be (a
        store that disagrees with its own journal) or a lineage longer than ``MAX_LINEAGE`` versions or going
        forward in the journal, ``Conflict`` if the document's status changed at every read, ``ErasedError`` if
        the ledger's own subject key is missing.
        """
        status, record = self._status(digest)
        if record is None:
            return DocumentProof(status=status, vkey=self._log.vkey, checkpoint=None, registration=None,
                                 status_change=None, anchor=None)
        indices = [record.registered_idx]
        if record.status != "issued":
            indices.append(record.changed_idx)
        anchored = self._anchored(indices)
        checkpoint = self._checkpoint_covering(max(indices))
        entries = [self._evidence(index, checkpoint) for index in indices]
        for entry in entries:
            self._check_names(entry, digest)
        anchor = None
        if anchored is not None and checkpoint is not None:
            job, anchored_checkpoint = anchored
            first, second = anchored_checkpoint.tree_size, checkpoint.tree_size
            consistency = (self._log.consistency_proof(first=first, second=second) if first < second
                           else ConsistencyProof(first, second, []))
            anchor = AnchorEvidence(checkpoint=anchored_checkpoint, consistency=consistency, job=job)
        return DocumentProof(status=status, vkey=self._log.vkey, checkpoint=checkpoint, registration=entries[0],
                             status_change=entries[1] if len(entries) > 1 else None, anchor=anchor,
                             lineage=self._lineage(entries[0], checkpoint))

    # -- reading ---------------------------------------------------------------------------------------------

    def _status(self, digest: str) -> tuple[dict[str, Any], DocumentRecord | None]:
        """The facts' answer and the registry row it was read with (None for an unknown digest); the row is read
        before and after, so a status change in between cannot pair one state's answer with another's entries."""
        raw = parse_digest(digest, field="digest")
        for _ in range(_ATTEMPTS):
            try:
                before = self._documents.get(raw)
            except NotFound:
                return self._facts.document_status(digest), None
            status = self._facts.document_status(digest, recorded_with=self._group_streams(before.registered_idx))
            after = self._documents.get(raw)
            if after == before:
                return status, before
        raise Conflict(f"document {digest} kept changing while it was read; ask again", field="digest")

    def _group_streams(self, index: int) -> list[str]:
        """The streams of the entries just before entry ``index``, nearest first."""
        return [self._log.entry(i).stream for i in range(index - 1, max(-1, index - 1 - GROUP_LOOKBACK), -1)]

    def _anchored(self, indices: Sequence[int]) -> tuple[AnchorJob, CheckpointRow] | None:
        """The smallest confirmed anchor covering all of ``indices``, else the one covering the first (the
        registration) alone; None while none is confirmed."""
        for index in sorted({max(indices), indices[0]}, reverse=True):
            try:
                proof = self._anchoring.proof(index)
            except NotFound:
                continue
            return proof.anchored, proof.anchored_checkpoint
        return None

    def _checkpoint_covering(self, index: int) -> CheckpointRow | None:
        """The latest signed checkpoint, once one covers entry ``index`` (waiting a little for it); else the
        latest there is (None for an empty log)."""
        latest = self._log.latest_checkpoint()
        if (latest is None or latest.tree_size <= index) and self._wait > 0:
            self._log.receipt(self._log.entry(index).event_id, wait=self._wait)
            latest = self._log.latest_checkpoint()
        return latest

    def _lineage(self, registration: EntryEvidence, checkpoint: CheckpointRow | None) -> tuple[EntryEvidence, ...]:
        """The entries that brought in the versions before ``registration``, oldest first (see ``DocumentProof``):
        each supersession's ``old_digest`` is looked up in the registry and its registration entry taken, until a
        ``document.registered``."""
        found: list[EntryEvidence] = []
        entry = registration
        while isinstance(entry.payload, dict) and isinstance(entry.payload.get("old_digest"), str):
            if len(found) >= MAX_LINEAGE:
                raise VerificationError(f"document {registration.payload.get('digest')} has a lineage of more than "
                                        f"{MAX_LINEAGE} versions", field="digest")
            older = entry.payload["old_digest"]
            index = self._documents.get(parse_digest(older, field="old_digest")).registered_idx
            if index >= entry.index:
                raise VerificationError(f"entry {entry.index} supersedes {older}, registered by the later entry "
                                        f"{index}", field="digest")
            entry = self._evidence(index, checkpoint)
            if not isinstance(entry.payload, dict) or entry.payload.get("digest") != older:
                raise VerificationError(f"entry {index} does not register document {older}", field="digest")
            found.append(entry)
        return tuple(reversed(found))

    def _evidence(self, index: int, checkpoint: CheckpointRow | None) -> EntryEvidence:
        row = self._log.entry(index)
        subjects = self._log.subjects_of(index)
        if len(subjects) != 1:
            raise VerificationError(f"entry {index} is sealed under {len(subjects)} subjects; a document event is "
                                    f"sealed under one", field="index")
        opened = self._open(index)
        inclusion = (self._log.inclusion_proof(index=index, tree_size=checkpoint.tree_size)
                     if checkpoint is not None and checkpoint.tree_size > index else None)
        return EntryEvidence(index=index, leaf=row.leaf, recorded_at=row.recorded_at, salt=opened.salt,
                             payload=opened.payload, data_subject=next(iter(subjects)), inclusion=inclusion)

    @staticmethod
    def _check_names(entry: EntryEvidence, digest: str) -> None:
        """Refuse to hand out an opening that does not name ``digest`` (the registry pointed at another entry)."""
        payload = entry.payload
        if not isinstance(payload, dict) or digest not in (payload.get("digest"), payload.get("old_digest")):
            raise VerificationError(f"entry {entry.index} does not name document {digest}", field="digest")
