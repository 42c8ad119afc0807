"""The document registry projection: every document digest and its status, and the chain outbox rows behind it.

Documents are registered, superseded and revoked through ``document.*`` events on the stream
``document:<subject commitment hex>`` (one stream per document lineage: all versions of one e-policy). The
projector keeps the status of every digest and appends each operation to ``document_ops``, the outbox the
anchoring worker sends to the chain, in the same transaction as the event; so every digest on chain is backed by
a journal leaf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ledger.errors import Conflict, NotFound, SignatureError, ValidationFailed
from ledger.log.catalog import EventType
from ledger.log.encoding import MAX_EXACT_INTEGER, parse_digest
from ledger.log.reserved import LEDGER_KEY_ID
from ledger.log.statements import Statement
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec

REGISTERED, SUPERSEDED, REVOKED = "document.registered", "document.superseded", "document.revoked"
TYPES = (
    EventType(REGISTERED, frozenset({"digest", "subject", "kind", "version"})),
    EventType(SUPERSEDED, frozenset({"digest", "old_digest", "version"})),
    EventType(REVOKED, frozenset({"digest", "reason_code"})),
)
TABLE, OUTBOX = "documents", "document_ops"
ISSUED = "issued"  # the status names of DocumentRegistry: issued (valid), superseded, revoked
MAX_BYTE = 255  # kind and reason_code are uint8 on chain


def stream_of(subject: bytes) -> str:
    """The stream of a document lineage, named by its 32-byte subject commitment."""
    return f"document:{subject.hex()}"


class DocumentsProjector:
    needs_facts: ClassVar[bool] = True
    name: ClassVar[str] = "documents"
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec(TABLE, (
            Column("digest", "bytes"), Column("subject", "bytes"), Column("kind", "int"), Column("version", "int"),
            Column("status", "text"), Column("superseded_by", "bytes", nullable=True),
            Column("reason_code", "int", nullable=True), Column("registered_idx", "int"),
            Column("changed_idx", "int"),
        ), key=("digest",), indexes=(("subject",),)),
        # The anchoring outbox (alembic-managed, written here, assigned to chain jobs by the worker).
        TableSpec(OUTBOX, (
            Column("idx", "int"), Column("op", "text"), Column("digest", "bytes"), Column("subject", "bytes", True),
            Column("kind", "int", True), Column("version", "int", True), Column("old_digest", "bytes", True),
            Column("reason_code", "int", True), Column("created_at", "text"),
        ), key=("idx",), outbox=True),
    )

    def handles(self, type: str) -> bool:
        return type in (REGISTERED, SUPERSEDED, REVOKED)

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        if facts is None:
            return []
        return [(TABLE, (parse_digest(facts[name], field=name),)) for name in ("digest", "old_digest")
                if name in facts]

    def apply(self, rows: Rows, fact: Fact) -> None:
        """Fold one document event; raises ``Conflict`` or ``NotFound`` for one the registry would refuse.

        Refuses (``SignatureError``) an event not signed by the ledger's key, and (``ValidationFailed`` naming
        the field) facts the chain could not take: digests and subjects that are not ``sha256:`` and 64
        lowercase hex digits of a non-zero value, ``kind`` and ``reason_code`` outside 0-255, ``version``
        outside 1 to 2^53-1; integers must be JSON integers (``true`` is not 1).
        """
        if fact.record.key_id != LEDGER_KEY_ID:
            raise SignatureError(f"{fact.type} is written only by the ledger and must be signed by the ledger key, "
                                 f"not {fact.record.key_id!r}", field="key_id")
        facts = fact.facts
        if facts is None:
            raise ValidationFailed(f"entry {fact.index}: a document event needs its facts to be replayed")
        digest = _digest(facts, "digest")
        outbox: dict[str, Any] = {"idx": fact.index, "digest": digest, "subject": None, "kind": None,
                                  "version": None, "old_digest": None, "reason_code": None,
                                  "created_at": fact.record.recorded_at}
        if fact.type == REVOKED:
            _revoke(rows, fact.index, digest, _integer(facts, "reason_code", MAX_BYTE, low=0), outbox)
            return
        version = _integer(facts, "version", MAX_EXACT_INTEGER, low=1)
        if fact.type == REGISTERED:
            subject, kind = _digest(facts, "subject"), _integer(facts, "kind", MAX_BYTE, low=0)
            _unused(rows, digest)
            rows.put(OUTBOX, {**outbox, "op": "register", "subject": subject, "kind": kind, "version": version})
        else:
            old_digest = _digest(facts, "old_digest")
            _unused(rows, digest)
            old = rows.get(TABLE, (old_digest,))
            if old is None:
                raise NotFound(f"document {old_digest.hex()} is not registered", field="old_digest")
            if old["status"] != ISSUED:
                raise Conflict(f"document {old_digest.hex()} is {old['status']}; only an issued document can be "
                               f"superseded", field="old_digest")
            if version <= old["version"]:
                raise Conflict(f"version {version} is not above version {old['version']} of the document it "
                               f"supersedes", field="version")
            subject, kind = old["subject"], old["kind"]
            rows.put(TABLE, {**old, "status": "superseded", "superseded_by": digest, "changed_idx": fact.index})
            rows.put(OUTBOX, {**outbox, "op": "supersede", "old_digest": old_digest, "version": version})
        rows.put(TABLE, {"digest": digest, "subject": subject, "kind": kind, "version": version, "status": ISSUED,
                         "superseded_by": None, "reason_code": None, "registered_idx": fact.index,
                         "changed_idx": fact.index})


def _revoke(rows: Rows, index: int, digest: bytes, reason_code: int, outbox: dict[str, Any]) -> None:
    existing = rows.get(TABLE, (digest,))
    if existing is None:
        raise NotFound(f"document {digest.hex()} is not registered", field="digest")
    if existing["status"] == "revoked":
        raise Conflict(f"document {digest.hex()} is already revoked", field="digest")
    rows.put(TABLE, {**existing, "status": "revoked", "reason_code": reason_code, "changed_idx": index})
    rows.put(OUTBOX, {**outbox, "op": "revoke", "reason_code": reason_code})


def _unused(rows: Rows, digest: bytes) -> None:
    if rows.get(TABLE, (digest,)) is not None:
        raise Conflict(f"digest {digest.hex()} is already registered or queued", field="digest")


def document(rows: Rows, digest: bytes) -> dict[str, Any] | None:
    return rows.get(TABLE, (digest,))


def _digest(facts: Mapping[str, Any], name: str) -> bytes:
    """The 32 bytes of digest fact ``name``: present, ``sha256:<64 lowercase hex>``, not all zeros."""
    if name not in facts:
        raise ValidationFailed(f"a document event needs {name!r}", field=name)
    value = parse_digest(facts[name], field=name)
    if not any(value):
        raise ValidationFailed(f"{name} must not be all zeros (the document registry refuses it)", field=name)
    return value


def _integer(facts: Mapping[str, Any], name: str, high: int, *, low: int) -> int:
    """Integer fact ``name``: present, a JSON integer (not a boolean, float or string), from ``low`` to ``high``."""
    if name not in facts:
        raise ValidationFailed(f"a document event needs {name!r}", field=name)
    value = facts[name]
    if type(value) is not int:
        raise ValidationFailed(f"{name} must be an integer from {low} to {high}, got {type(value).__name__}",
                               field=name)
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be an integer from {low} to {high}, got {value}", field=name)
    return value
