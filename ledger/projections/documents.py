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

from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.log.catalog import EventType
from ledger.log.encoding import parse_digest
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
        """Fold one document event; raises ``Conflict`` or ``NotFound`` for one the registry would refuse."""
        facts = fact.facts
        if facts is None:
            raise ValidationFailed(f"entry {fact.index}: a document event needs its facts to be replayed")
        digest = parse_digest(facts["digest"], field="digest")
        existing = rows.get(TABLE, (digest,))
        outbox: dict[str, Any] = {"idx": fact.index, "digest": digest, "subject": None, "kind": None,
                                  "version": None, "old_digest": None, "reason_code": None,
                                  "created_at": fact.record.recorded_at}
        if fact.type == REVOKED:
            if existing is None:
                raise NotFound(f"document {digest.hex()} is not registered", field="digest")
            if existing["status"] == "revoked":
                raise Conflict(f"document {digest.hex()} is already revoked", field="digest")
            rows.put(TABLE, {**existing, "status": "revoked", "reason_code": facts["reason_code"],
                             "changed_idx": fact.index})
            rows.put(OUTBOX, {**outbox, "op": "revoke", "reason_code": facts["reason_code"]})
            return
        if existing is not None:
            raise Conflict(f"digest {digest.hex()} is already registered or queued", field="digest")
        version = int(facts["version"])
        if fact.type == REGISTERED:
            subject, kind = parse_digest(facts["subject"], field="subject"), int(facts["kind"])
            rows.put(OUTBOX, {**outbox, "op": "register", "subject": subject, "kind": kind, "version": version})
        else:
            old_digest = parse_digest(facts["old_digest"], field="old_digest")
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


def document(rows: Rows, digest: bytes) -> dict[str, Any] | None:
    return rows.get(TABLE, (digest,))
