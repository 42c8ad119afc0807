"""Documents: register digests (e-policies, claim documents) and their supersessions and revocations.

Each operation is a ``document.*`` journal event signed by the ledger; the documents projection writes the chain
outbox row in the same transaction, so nothing reaches the chain that is not in the log. A call's events are
appended all or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import NotFound, ValidationFailed
from ledger.journal.units import Receipt
from ledger.log.encoding import digest_str
from ledger.projections.documents import REGISTERED, REVOKED, SUPERSEDED, TABLE, stream_of
from ledger.services.intake import Draft, IntakeService
from ledger.store.domain import ChainRegistration, DomainStore
from ledger.store.rows import RowStore

MAX_UINT64 = 2**64 - 1


@dataclass(frozen=True)
class Registration:
    """A document to register: its digest, the salted commitment to whom it concerns, a kind and a version.

    ``subject`` is a salted commitment (never personal data): it names the document's lineage, all of whose
    versions share it. ``kind`` is 0-255 (issuer-defined), ``version`` at least 1.
    """

    digest: bytes
    subject: bytes
    kind: int
    version: int = 1


@dataclass(frozen=True)
class DocumentRecord:
    digest: bytes
    subject: bytes
    kind: int
    version: int
    status: str  # issued | superseded | revoked
    superseded_by: bytes | None
    reason_code: int | None
    registered_idx: int
    changed_idx: int


class DocumentService:
    def __init__(self, rows: RowStore, intake: IntakeService, domain: DomainStore) -> None:
        self._rows = rows
        self._intake = intake
        self._domain = domain

    def chain(self, digest: bytes) -> list[ChainRegistration]:
        """The chain transactions that carried operations on ``digest`` (queued ones have no transaction yet)."""
        return self._domain.chain_registrations(digest)

    def register(self, registrations: Sequence[Registration]) -> list[Receipt]:
        """Register documents, all or none. Raises ``ValidationFailed`` naming the bad item, ``Conflict`` for a
        digest registered before (or twice here)."""
        if not registrations:
            raise ValidationFailed("nothing to register", field="registrations")
        digests = [r.digest for r in registrations]
        if len(set(digests)) != len(digests):
            raise ValidationFailed("the same digest is registered twice in one call", field="digest")
        drafts = []
        for n, item in enumerate(registrations):
            _check_digest(item.digest, f"registrations[{n}].digest")
            _check_digest(item.subject, f"registrations[{n}].subject")
            if not 0 <= item.kind <= 255:
                raise ValidationFailed(f"registrations[{n}].kind must be 0-255", field="kind")
            if not 1 <= item.version <= MAX_UINT64:
                raise ValidationFailed(f"registrations[{n}].version must be a positive integer", field="version")
            drafts.append(Draft(REGISTERED, stream_of(item.subject), {
                "digest": digest_str(item.digest), "subject": digest_str(item.subject), "kind": item.kind,
                "version": item.version}))
        return self._intake.emit_all(drafts)

    def supersede(self, *, old_digest: bytes, new_digest: bytes, version: int) -> Receipt:
        """Replace an issued document by a newer version (same lineage, kind carried over)."""
        _check_digest(old_digest, "old_digest")
        _check_digest(new_digest, "new_digest")
        if not 2 <= version <= MAX_UINT64:
            raise ValidationFailed("version must be an integer above the first version (1)", field="version")
        old = self.get(old_digest)
        return self._intake.emit(Draft(SUPERSEDED, stream_of(old.subject), {
            "digest": digest_str(new_digest), "old_digest": digest_str(old_digest), "version": version}))

    def revoke(self, *, digest: bytes, reason_code: int) -> Receipt:
        """Revoke a registered document for an issuer-defined reason code (0-255)."""
        _check_digest(digest, "digest")
        if not 0 <= reason_code <= 255:
            raise ValidationFailed("reason_code must be 0-255", field="reason_code")
        record = self.get(digest)
        return self._intake.emit(Draft(REVOKED, stream_of(record.subject), {
            "digest": digest_str(digest), "reason_code": reason_code}))

    def get(self, digest: bytes) -> DocumentRecord:
        """A registered document's status as the journal records it; raises ``NotFound``."""
        row = self._rows.read(TABLE, [(digest,)]).get((digest,))
        if row is None:
            raise NotFound(f"document {digest.hex()} is not registered", field="digest")
        return DocumentRecord(**row)


def _check_digest(value: bytes, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32 or not any(value):
        raise ValidationFailed(f"{field} must be 32 non-zero bytes", field=field)
