"""Whole-log audit: a clean log passes; every kind of tampering with the database is detected and named."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, insert, select, update

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.journal.audit import AuditReport, audit
from ledger.log.note import NoteVerifier
from ledger.log.statements import EntryRecord, sign_event
from ledger.store import schema as t

pytestmark = pytest.mark.usefixtures("backend")


def run_audit(ledger: Ledger) -> AuditReport:
    return audit(ledger.store, verifier=NoteVerifier.from_vkey(ledger.log.vkey),
                 ledger_public_key=ledger.secrets.ledger.public_key, origin=ledger.settings.origin,
                 master_key=ledger.secrets.master_key)


@pytest.fixture
def filled(ledger: Ledger, system_key: SigningKey) -> Ledger:
    ledger.checkpointer.stop()  # checkpoints are cut by hand here, at 11, 21 and 31 entries
    for n in range(30):
        event = sign_event(key=system_key, event_id=f"e{n}", type="policy.issued", stream=f"policy:p{n % 4}",
                           payload={"n": n}, data_subject=f"customer:c{n % 3}")
        ledger.intake.append(event, owner="policy-admin")
        if n % 10 == 9:
            ledger.log.checkpoint_now()
    return ledger


def table(ledger: Ledger, name: str):  # type: ignore[no-untyped-def]
    """A projection table (created from its projector's spec, not declared in the schema module)."""
    return ledger.store.rows.tables[name]


def sql(ledger: Ledger, statement) -> None:  # type: ignore[no-untyped-def]
    with ledger.store.engine.begin() as conn:
        conn.execute(statement)


def test_clean_log_passes(filled: Ledger) -> None:
    report = run_audit(filled)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.payloads_checked) == (31, 3, 31)


def test_erased_subject_still_verifies(filled: Ledger) -> None:
    filled.subjects.erase("customer:c1")
    report = run_audit(filled)
    assert report.ok, report.problems
    assert report.payloads_erased == 10


def test_a_row_sealed_for_a_subject_after_its_erasure_is_named(filled: Ledger, system_key: SigningKey) -> None:
    """Nothing is recorded for an erased subject: a later entry whose payload row is filed under it is named."""
    filled.subjects.erase("customer:c1")
    later = filled.intake.append(sign_event(key=system_key, event_id="after", type="policy.issued",
                                            stream="policy:p9", payload={"n": 99}, data_subject="customer:c2"),
                                 owner="policy-admin")
    sql(filled, update(t.payloads).where(t.payloads.c.idx == later.index).values(subject="customer:c1"))
    problems = [str(p) for p in run_audit(filled).problems]
    assert any(p.startswith(f"entries[{later.index}]") and "after its erasure" in p for p in problems), problems


def _leaf_with(ledger: Ledger, index: int, **changes: object) -> bytes:
    body = EntryRecord.from_leaf(ledger.log.entry(index).leaf).to_json()
    body.update(changes)
    from ledger.log.encoding import canonical_json

    return canonical_json(body)


def _swap(ledger: Ledger) -> None:
    a, b = ledger.log.entry(5), ledger.log.entry(6)
    for target, source in ((5, b), (6, a)):
        sql(ledger, update(t.entries).where(t.entries.c.idx == target).values(
            event_id=f"tmp-{target}", leaf=source.leaf, leaf_hash=source.leaf_hash))
    for target, source in ((5, b), (6, a)):
        sql(ledger, update(t.entries).where(t.entries.c.idx == target).values(event_id=source.event_id))


TAMPERING: dict[str, tuple[Callable[[Ledger], None], str]] = {
    "leaf edited": (lambda lg: sql(lg, update(t.entries).where(t.entries.c.idx == 7).values(
        leaf=_leaf_with(lg, 7, recorded_at="2020-01-01T00:00:00.000000Z"))), "entries[7]"),
    "leaf hash edited": (lambda lg: sql(lg, update(t.entries).where(t.entries.c.idx == 3).values(
        leaf_hash=bytes(32))), "entries[3]"),
    "row deleted": (lambda lg: sql(lg, delete(t.entries).where(t.entries.c.idx == 12)), "entries[12]"),
    "last row deleted": (lambda lg: sql(lg, delete(t.entries).where(t.entries.c.idx == 30)), "entries[30]"),
    "rows reordered": (_swap, "entries[5]"),
    "row inserted": (lambda lg: sql(lg, insert(t.entries).values(
        idx=31, event_id="forged", stream="policy:p9", seq=1, type="policy.issued", key_id="policy-admin-1",
        recorded_at="2026-01-01T00:00:00.000000Z", leaf=lg.log.entry(30).leaf, leaf_hash=lg.log.entry(30).leaf_hash)),
                     "log_head"),
    "tree node edited": (lambda lg: sql(lg, update(t.tree_nodes).where(t.tree_nodes.c.level == 2,
                                                                      t.tree_nodes.c.idx == 1).values(
        hash=bytes(32))), "tree_nodes[2,1]"),
    "checkpoint root edited": (lambda lg: sql(lg, update(t.checkpoints).where(t.checkpoints.c.tree_size == 21)
                                              .values(root=bytes(32))), "checkpoints[size=21]"),
    "checkpoint note edited": (lambda lg: sql(lg, update(t.checkpoints).where(t.checkpoints.c.tree_size == 11)
                                              .values(note=lg.store.checkpoint(11).note.replace("\n11\n", "\n10\n"))),
                               "checkpoints[size=11]"),
    "payload swapped": (lambda lg: sql(lg, update(t.payloads).where(t.payloads.c.idx == 4).values(
        sealed=lg.store.payload(8)[1])), "payloads[4]"),
    "projection edited": (lambda lg: sql(lg, update(table(lg, "streams")).where(
        table(lg, "streams").c.stream == "policy:p1").values(last_seq=99)), "streams[policy:p1]"),
    "key projection edited": (lambda lg: sql(lg, update(table(lg, "system_keys")).values(status="revoked")),
                              "system_keys[policy-admin-1]"),
    "column edited": (lambda lg: sql(lg, update(t.entries).where(t.entries.c.idx == 9).values(stream="policy:x")),
                      "entries[9]"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_detected_and_named(filled: Ledger, case: str) -> None:
    tamper, where = TAMPERING[case]
    tamper(filled)
    report = run_audit(filled)
    assert not report.ok
    assert any(p.where == where for p in report.problems), [str(p) for p in report.problems]


def test_head_rows_match(filled: Ledger) -> None:
    with filled.store.engine.connect() as conn:
        assert conn.execute(select(t.log_head.c.size)).scalar_one() == 31


def _rewrite_history(ledger: Ledger, index: int = 7, recorded_at: str | None = None) -> None:
    """Re-date entry ``index`` (by default to its predecessor's time) and rebuild everything that depends on
    it: leaf hash, tree nodes, checkpoints. The result is consistent with itself."""
    from ledger.log import merkle

    stamp = recorded_at or ledger.log.entry(index - 1).recorded_at
    assert stamp != ledger.log.entry(index).recorded_at
    sql(ledger, update(t.entries).where(t.entries.c.idx == index).values(
        leaf=_leaf_with(ledger, index, recorded_at=stamp), recorded_at=stamp))
    row = ledger.log.entry(index)
    sql(ledger, update(t.entries).where(t.entries.c.idx == index).values(leaf_hash=merkle.leaf_hash(row.leaf)))
    sql(ledger, delete(t.tree_nodes))
    _frontier, nodes = merkle.Frontier.empty().extend([ledger.log.entry(i).leaf_hash for i in range(ledger.log.size())])
    with ledger.store.engine.begin() as conn:
        conn.execute(insert(t.tree_nodes), [{"level": n[0], "idx": n[1], "hash": h} for n, h in nodes])
    sql(ledger, delete(t.checkpoints))
    ledger.log.checkpoint_now()


def test_rewritten_history_with_fresh_checkpoints_is_caught_by_a_trusted_root(filled: Ledger) -> None:
    trusted = filled.log.latest_checkpoint()
    assert trusted is not None
    _rewrite_history(filled)
    assert run_audit(filled).ok  # consistent with itself: only an outside root can tell
    report = audit(filled.store, verifier=NoteVerifier.from_vkey(filled.log.vkey),
                   ledger_public_key=filled.secrets.ledger.public_key, origin=filled.settings.origin,
                   master_key=filled.secrets.master_key, trusted_roots={31: ("saved checkpoint", trusted.root)})
    assert [str(p) for p in report.problems] == [
        "trusted[size=31]: saved checkpoint: root differs from the root recomputed from the leaves"]


def test_a_log_without_any_checkpoint_fails(filled: Ledger) -> None:
    sql(filled, delete(t.checkpoints))
    assert [str(p) for p in run_audit(filled).problems] == [
        "checkpoints: none: no signed checkpoint covers any of the 31 entries"]


@pytest.mark.parametrize(("tamper", "where"), [
    (lambda lg: sql(lg, delete(t.subject_keys).where(t.subject_keys.c.subject == "customer:c0")),
     "subject_keys[customer:c0]"),
    (lambda lg: sql(lg, update(t.payloads).where(t.payloads.c.idx == 4).values(subject="nobody")),
     "subject_keys[nobody]"),
    (lambda lg: sql(lg, update(t.subject_keys).where(t.subject_keys.c.subject == "customer:c2").values(
        wrapped=None, erased_at="2026-01-01T00:00:00Z")), "subject_keys[customer:c2]"),
])
def test_keys_destroyed_without_a_recorded_erasure_are_named(filled: Ledger, tamper, where: str) -> None:  # type: ignore[no-untyped-def]
    tamper(filled)
    report = run_audit(filled)
    assert any(p.where == where for p in report.problems), [str(p) for p in report.problems]


def test_erasure_is_recorded_in_the_journal(filled: Ledger) -> None:
    size = filled.log.size()
    filled.subjects.erase("customer:c1")
    entry = filled.log.entry(size)
    assert (entry.type, entry.stream) == ("ledger.subject.erased", "ledger:erasures")
    assert b"customer:c1" not in entry.leaf  # who was erased is not on the public log
    assert filled.subjects.open_payload(size).payload == {"subject": "customer:c1"}


def test_audit_without_the_master_key_replays_keys_from_published_evidence(filled: Ledger) -> None:
    filled.keys.revoke(key_id="policy-admin-1", reason="rotated out")
    key_events = [i for i in range(filled.log.size()) if filled.log.entry(i).type.startswith("ledger.key.")]
    evidence = {}
    for index in key_events:
        published = filled.log.key_event_evidence(index)
        evidence[index] = (published.salt, published.payload)

    def outside(key_evidence):  # type: ignore[no-untyped-def]
        return audit(filled.store, verifier=NoteVerifier.from_vkey(filled.log.vkey),
                     ledger_public_key=filled.secrets.ledger.public_key, origin=filled.settings.origin,
                     key_evidence=key_evidence)

    report = outside(evidence)
    assert report.ok, [str(p) for p in report.problems]
    assert report.payloads_checked == 0  # sealed payloads stay unread without the master key
    assert report.projections == ["streams", "system_keys"]  # the documents projection needs sealed facts
    forged = dict(evidence)
    salt, payload = forged[key_events[0]]
    forged[key_events[0]] = (salt, {**payload, "owner": "someone-else"})
    assert [p.what for p in outside(forged).problems][:1] == [
        "published key event payload does not match the leaf's payload_hash"]
