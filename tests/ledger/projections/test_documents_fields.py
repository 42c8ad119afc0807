"""The documents projector checks every fact it passes to the chain outbox, and who signed the event."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.app import Ledger
from ledger.errors import LedgerError, SignatureError, ValidationFailed
from ledger.log.encoding import MAX_EXACT_INTEGER, digest_str
from ledger.log.statements import EntryRecord, Statement
from ledger.projections.base import Fact, Key, Row
from ledger.projections.documents import OUTBOX, REGISTERED, REVOKED, SUPERSEDED, TABLE, DocumentsProjector, stream_of
from ledger.services.documents import Registration
from ledger.services.intake import Draft

LINEAGE = b"\x0d" * 32
HEX = "ab" * 32


def digest(n: int) -> bytes:
    return bytes([n]) * 32


class MemoryRows:
    """The projector's ``Rows`` over plain dicts, keyed as its table specs say."""

    def __init__(self) -> None:
        self.keys = {spec.name: spec.key for spec in DocumentsProjector.tables}
        self.tables: dict[str, dict[Key, Row]] = {name: {} for name in self.keys}

    def get(self, table: str, key: Key) -> Row | None:
        return self.tables[table].get(key)

    def put(self, table: str, row: Row) -> None:
        self.tables[table][tuple(row[name] for name in self.keys[table])] = dict(row)

    def delete(self, table: str, key: Key) -> None:
        self.tables[table].pop(key, None)


def fact(type: str, facts: dict[str, Any], *, key_id: str = "ledger", index: int = 1) -> Fact:
    statement = Statement(event_id=f"e-{index}", type=type, stream=stream_of(LINEAGE),
                          occurred_at="2026-01-01T00:00:00Z", payload_hash=bytes(32))
    record = EntryRecord(statement=statement, key_id=key_id, signature=bytes(64), seq=index,
                         recorded_at="2026-01-01T00:00:00.000000Z")
    return Fact(index=index, record=record, facts=facts)


def registration(n: int = 1, **changes: Any) -> dict[str, Any]:
    return {"digest": digest_str(digest(n)), "subject": digest_str(LINEAGE), "kind": 1, "version": 1, **changes}


BAD_FACTS = [
    (REGISTERED, registration(kind=True), "kind"),
    (REGISTERED, registration(kind=False), "kind"),
    (REGISTERED, registration(kind=256), "kind"),
    (REGISTERED, registration(kind=-1), "kind"),
    (REGISTERED, registration(kind="1"), "kind"),
    (REGISTERED, registration(kind=None), "kind"),
    (REGISTERED, {k: v for k, v in registration().items() if k != "kind"}, "kind"),
    (REGISTERED, registration(version=True), "version"),
    (REGISTERED, registration(version=0), "version"),
    (REGISTERED, registration(version=-5), "version"),
    (REGISTERED, registration(version="2"), "version"),
    (REGISTERED, registration(digest="sha256:" + HEX.upper()), "digest"),
    (REGISTERED, registration(digest="sha256:" + HEX[:-2] + " \n"), "digest"),
    (REGISTERED, registration(digest="sha256:" + HEX[:-2] + "\n\n"), "digest"),
    (REGISTERED, registration(digest=digest_str(bytes(32))), "digest"),
    (REGISTERED, registration(digest=HEX), "digest"),
    (REGISTERED, registration(subject="sha256:" + HEX[:-1]), "subject"),
    (REGISTERED, registration(subject="sha256:" + HEX + "0"), "subject"),
    (REGISTERED, registration(subject=7), "subject"),
    (REGISTERED, registration(subject=digest_str(bytes(32))), "subject"),
    (SUPERSEDED, {"digest": digest_str(digest(9)), "old_digest": digest_str(digest(1)), "version": True}, "version"),
    (SUPERSEDED, {"digest": digest_str(digest(9)), "old_digest": "sha256:" + HEX[:-2] + "  ", "version": 2},
     "old_digest"),
    (REVOKED, {"digest": digest_str(digest(1)), "reason_code": True}, "reason_code"),
    (REVOKED, {"digest": digest_str(digest(1)), "reason_code": 256}, "reason_code"),
    (REVOKED, {"digest": digest_str(digest(1)), "reason_code": "7"}, "reason_code"),
]


@pytest.mark.parametrize(("type", "facts", "field"), BAD_FACTS)
def test_bad_facts_are_refused_naming_the_field(type: str, facts: dict[str, Any], field: str) -> None:
    rows = MemoryRows()
    DocumentsProjector().apply(rows, fact(REGISTERED, registration(1)))
    before = {name: dict(table) for name, table in rows.tables.items()}
    with pytest.raises(ValidationFailed) as info:
        DocumentsProjector().apply(rows, fact(type, facts, index=2))
    assert info.value.field == field, info.value.message
    assert rows.tables == before


def test_versions_up_to_the_exact_integer_limit_are_taken() -> None:
    rows = MemoryRows()
    DocumentsProjector().apply(rows, fact(REGISTERED, registration(1, version=MAX_EXACT_INTEGER - 1, kind=255)))
    with pytest.raises(ValidationFailed, match=r"version must be an integer from 1 to 9007199254740991") as info:
        DocumentsProjector().apply(rows, fact(SUPERSEDED, {"digest": digest_str(digest(2)),
                                                           "old_digest": digest_str(digest(1)),
                                                           "version": MAX_EXACT_INTEGER + 1}, index=2))
    assert info.value.field == "version"
    DocumentsProjector().apply(rows, fact(SUPERSEDED, {"digest": digest_str(digest(2)),
                                                       "old_digest": digest_str(digest(1)),
                                                       "version": MAX_EXACT_INTEGER}, index=3))
    DocumentsProjector().apply(rows, fact(REVOKED, {"digest": digest_str(digest(2)), "reason_code": 0}, index=4))
    assert [row["op"] for row in rows.tables[OUTBOX].values()] == ["register", "supersede", "revoke"]
    assert rows.tables[TABLE][(digest(2),)]["version"] == MAX_EXACT_INTEGER
    assert rows.tables[TABLE][(digest(2),)]["kind"] == 255


@pytest.mark.parametrize(("type", "facts"), [(REGISTERED, registration(5)),
                                             (REVOKED, {"digest": digest_str(digest(1)), "reason_code": 1})])
def test_a_document_event_not_signed_by_the_ledger_is_refused(type: str, facts: dict[str, Any]) -> None:
    rows = MemoryRows()
    DocumentsProjector().apply(rows, fact(REGISTERED, registration(1)))
    before = {name: dict(table) for name, table in rows.tables.items()}
    with pytest.raises(SignatureError, match="signed by the ledger key") as info:
        DocumentsProjector().apply(rows, fact(type, facts, key_id="integrator-1", index=2))
    assert info.value.field == "key_id" and "'integrator-1'" in info.value.message
    assert rows.tables == before


@pytest.mark.parametrize(("type", "facts", "field"), [
    (REGISTERED, registration(7, kind=True), "kind"),
    (REGISTERED, registration(7, kind=300), "kind"),
    (REGISTERED, registration(7, version=False), "version"),
    (REGISTERED, registration(7, version=0), "version"),
    (REGISTERED, registration(7, subject="sha256:" + HEX[:-2] + "\n\n"), "subject"),
    (REVOKED, {"digest": digest_str(digest(1)), "reason_code": True}, "reason_code"),
])
def test_the_ledger_records_nothing_for_bad_facts(ledger: Ledger, type: str, facts: dict[str, Any],
                                                  field: str) -> None:
    """Through the writer: the unit is refused, nothing is recorded and no outbox row is queued."""
    ledger.documents.register([Registration(digest=digest(1), subject=LINEAGE, kind=1)])
    size, ops = ledger.log.size(), ledger.anchoring.jobs.unassigned_ops(limit=10)
    with pytest.raises(LedgerError) as info:
        ledger.intake.emit(Draft(type, stream_of(LINEAGE), facts))
    assert isinstance(info.value, ValidationFailed) and info.value.field == field, info.value
    assert ledger.log.size() == size
    assert ledger.anchoring.jobs.unassigned_ops(limit=10) == ops
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, [str(problem) for problem in report.problems]
