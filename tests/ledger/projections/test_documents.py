"""Documents through the journal: every digest the chain will see is backed by a leaf, and the audit proves it."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, insert, update

from ledger.app import Ledger
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.log.statements import EntryRecord
from ledger.services.documents import Registration
from ledger.store import schema as t

pytestmark = pytest.mark.usefixtures("backend")
LINEAGE = b"\x0a" * 32


def digest(n: int) -> bytes:
    return bytes([n]) * 32


def registered(ledger: Ledger) -> Ledger:
    ledger.documents.register([Registration(digest=digest(n), subject=LINEAGE, kind=1) for n in (1, 2, 3)])
    ledger.documents.supersede(old_digest=digest(1), new_digest=digest(4), version=2)
    ledger.documents.revoke(digest=digest(2), reason_code=7)
    ledger.log.checkpoint_now()
    return ledger


def test_operations_are_events_and_the_outbox_rows_they_wrote(ledger: Ledger) -> None:
    registered(ledger)
    ops = ledger.anchoring.jobs.unassigned_ops(limit=10)
    assert [(op.op, op.digest) for op in ops] == [("register", digest(1)), ("register", digest(2)),
                                                 ("register", digest(3)), ("supersede", digest(4)),
                                                 ("revoke", digest(2))]
    types = {"register": "document.registered", "supersede": "document.superseded", "revoke": "document.revoked"}
    for op in ops:
        assert op.idx is not None
        entry = ledger.log.entry(op.idx)
        assert entry.type == types[op.op]
        assert EntryRecord.from_leaf(entry.leaf).statement.stream == "document:" + LINEAGE.hex()
    assert ops[3].old_digest == digest(1) and ops[3].version == 2 and ops[4].reason_code == 7
    assert ledger.documents.get(digest(1)).status == "superseded"
    assert ledger.documents.get(digest(1)).superseded_by == digest(4)
    assert ledger.documents.get(digest(4)).kind == 1 and ledger.documents.get(digest(4)).version == 2
    assert ledger.documents.get(digest(2)).status == "revoked"
    report = ledger.audit.verify()
    assert report.ok, [str(p) for p in report.problems]
    assert {"documents", "document_ops"} <= set(report.projections)


def test_the_registry_rules_are_kept_before_anything_is_recorded(ledger: Ledger) -> None:
    registered(ledger)
    size = ledger.log.size()
    with pytest.raises(Conflict, match="already registered"):
        ledger.documents.register([Registration(digest=digest(3), subject=LINEAGE, kind=1)])
    with pytest.raises(Conflict, match="is superseded; only an issued document"):
        ledger.documents.supersede(old_digest=digest(1), new_digest=digest(9), version=3)
    with pytest.raises(Conflict, match="not above version 2"):
        ledger.documents.supersede(old_digest=digest(4), new_digest=digest(9), version=2)
    with pytest.raises(Conflict, match="already revoked"):
        ledger.documents.revoke(digest=digest(2), reason_code=1)
    with pytest.raises(NotFound):
        ledger.documents.revoke(digest=digest(99), reason_code=1)
    with pytest.raises(ValidationFailed, match=r"registrations\[0\]\.subject"):
        ledger.documents.register([Registration(digest=digest(20), subject=bytes(32), kind=1)])
    with pytest.raises(ValidationFailed, match="kind"):
        ledger.documents.register([Registration(digest=digest(20), subject=LINEAGE, kind=256)])
    assert ledger.log.size() == size


@pytest.mark.parametrize(("tamper", "where", "what"), [
    ("forged", "document_ops[6]", "row is not backed by any journal entry"),
    ("deleted", "document_ops[idx=", "row written by this entry is missing"),
    ("edited", "document_ops[2]", "row differs from what entry"),
])
def test_an_outbox_row_without_its_leaf_is_named(ledger: Ledger, tamper: str, where: str, what: str) -> None:
    """A digest slipped into the outbox (it would reach the chain) or taken out of it is an audit failure."""
    registered(ledger)
    with ledger.store.engine.begin() as conn:
        if tamper == "forged":
            conn.execute(insert(t.document_ops).values(op="register", digest=digest(66), subject=LINEAGE, kind=1,
                                                       version=1, created_at="2026-11-24T10:00:00.000000Z"))
        elif tamper == "deleted":
            conn.execute(delete(t.document_ops).where(t.document_ops.c.id == 3))
        else:
            conn.execute(update(t.document_ops).where(t.document_ops.c.id == 2).values(digest=digest(77)))
    problems = [str(p) for p in ledger.audit.verify().problems]
    assert len(problems) == 1 and problems[0].startswith(where) and what in problems[0], problems
