"""Projections through the registry: one module and one line to add, facts only, the same after an erasure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import pytest
from sqlalchemy import delete

from ledger.app import EVENT_TYPES, Ledger
from ledger.errors import ErasedError, ValidationFailed
from ledger.log.catalog import EventType
from ledger.log.statements import Statement
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec
from ledger.projections.registry import core_projectors
from ledger.services.intake import Draft
from ledger.settings import Settings
from ledger.store import schema as t

pytestmark = pytest.mark.usefixtures("backend")

VISIT = EventType("clinic.visit", facts=frozenset({"plan", "amount", "party"}),
                  personal=frozenset({"name", "diagnosis"}))


class VisitTotals:
    """A resource's projection as it would be written: one module, its table, its fold."""

    name: ClassVar[str] = "visit_totals"
    needs_facts: ClassVar[bool] = True
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec("visit_totals", (Column("plan", "text"), Column("visits", "int"), Column("amount", "int"),
                                   Column("parties", "text")), key=("plan",)),)
    seen: ClassVar[list[Mapping[str, Any] | None]] = []

    def handles(self, type: str) -> bool:
        return type == VISIT.name

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        return [("visit_totals", (facts["plan"],))] if facts else []

    def apply(self, rows: Rows, fact: Fact) -> None:
        VisitTotals.seen.append(fact.facts)
        assert fact.facts is not None
        plan = fact.facts["plan"]
        row = rows.get("visit_totals", (plan,)) or {"plan": plan, "visits": 0, "amount": 0, "parties": ""}
        parties = sorted({*filter(None, row["parties"].split(",")), fact.facts["party"]})
        rows.put("visit_totals", {"plan": plan, "visits": row["visits"] + 1,
                                  "amount": row["amount"] + fact.facts["amount"], "parties": ",".join(parties)})


@pytest.fixture
def clinic(settings: Settings) -> Iterator[Ledger]:
    """A ledger with the visit projection registered (the one line) and its event type declared."""
    opened = Ledger.open(settings, projectors=[*core_projectors(), VisitTotals()], event_types=[*EVENT_TYPES, VISIT])
    opened.start()
    try:
        yield opened
    finally:
        opened.close()


def visit(ledger: Ledger, n: int, party: str, plan: str = "MED-1") -> int:
    receipt = ledger.intake.emit(Draft(VISIT.name, f"visit:v{n}", {
        "plan": plan, "amount": 100 * n, "party": party, "name": f"Patient {n}", "diagnosis": "J18.9"},
        data_subject=f"visit:v{n}", personal_subject=party))
    return receipt.index


def totals(ledger: Ledger) -> list[dict[str, Any]]:
    return ledger.store.rows.select("visit_totals", order_by=("plan",))


def test_a_projector_reads_facts_never_personal_fields(clinic: Ledger) -> None:
    VisitTotals.seen.clear()
    index = visit(clinic, 1, "party:alice")
    assert VisitTotals.seen == [{"plan": "MED-1", "amount": 100, "party": "party:alice"}]
    facts = clinic.subjects.open_payload(index).payload
    assert set(facts) == {"plan", "amount", "party", "personal"} and facts["personal"].startswith("sha256:")
    personal = clinic.subjects.open_personal(index)
    assert personal is not None and personal.payload == {"name": "Patient 1", "diagnosis": "J18.9"}
    assert clinic.log.subjects_of(index) == {"visit:v1", "party:alice"}


def test_undeclared_fields_are_refused_by_name(clinic: Ledger) -> None:
    with pytest.raises(ValidationFailed, match="declares no field 'phone'") as refused:
        clinic.intake.emit(Draft(VISIT.name, "visit:v9", {"plan": "MED-1", "amount": 1, "party": "party:x",
                                                          "phone": "555"}, personal_subject="party:x"))
    assert refused.value.field == "payload.phone"
    with pytest.raises(ValidationFailed, match="name the person's subject"):
        clinic.intake.emit(Draft(VISIT.name, "visit:v9", {"plan": "MED-1", "amount": 1, "party": "party:x",
                                                          "name": "X"}))


def test_erasing_a_person_leaves_every_projection_as_a_replay_rebuilds_it(clinic: Ledger) -> None:
    indexes = [visit(clinic, n, party) for n, party in enumerate(["party:alice", "party:bob", "party:alice"], 1)]
    before = totals(clinic)
    assert before == [{"plan": "MED-1", "visits": 3, "amount": 600, "parties": "party:alice,party:bob"}]
    assert clinic.subjects.erase("party:alice") == 2  # exactly alice's two personal parts
    with pytest.raises(ErasedError):
        clinic.subjects.open_personal(indexes[0])
    assert clinic.subjects.open_personal(indexes[1]) is not None  # bob's are untouched
    assert clinic.subjects.open_payload(indexes[0]).payload["amount"] == 100  # the facts are too
    clinic.log.checkpoint_now()
    report = clinic.audit.verify()
    assert report.ok, [str(p) for p in report.problems]
    assert "visit_totals" in report.projections and report.payloads_erased == 2
    # Replay from scratch: drop the table's recorded shape, so the next open rebuilds it from the journal.
    with clinic.store.engine.begin() as conn:
        conn.execute(delete(t.meta).where(t.meta.c.key == "projection:visit_totals"))
    assert clinic.store.rows.stale() == ["visit_totals"]
    settings = clinic.settings
    clinic.close()
    reopened = Ledger.open(settings, projectors=[*core_projectors(), VisitTotals()],
                           event_types=[*EVENT_TYPES, VISIT])
    try:
        assert totals(reopened) == before
        assert reopened.store.rows.stale() == []
    finally:
        reopened.close()


def test_adding_a_projection_to_a_running_log_builds_it_from_the_journal(settings: Settings) -> None:
    plain = Ledger.open(settings, event_types=[*EVENT_TYPES, VISIT])
    plain.start()
    try:
        for n, party in enumerate(["party:a", "party:b"], 1):
            visit(plain, n, party, plan=f"PLAN-{n}")
    finally:
        plain.close()
    extended = Ledger.open(settings, projectors=[*core_projectors(), VisitTotals()], event_types=[*EVENT_TYPES, VISIT])
    try:
        assert [(row["plan"], row["visits"]) for row in totals(extended)] == [("PLAN-1", 1), ("PLAN-2", 1)]
        assert extended.audit.verify().projections == ["streams", "system_keys", "documents", "document_ops",
                                                       "visit_totals"]
    finally:
        extended.close()


def test_a_table_whose_shape_changed_is_rebuilt(clinic: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    visit(clinic, 1, "party:a")
    settings = clinic.settings
    clinic.close()
    wider = TableSpec("visit_totals", (*VisitTotals.tables[0].columns, Column("note", "text", nullable=True)),
                      key=("plan",))
    monkeypatch.setattr(VisitTotals, "tables", (wider,))
    reopened = Ledger.open(settings, projectors=[*core_projectors(), VisitTotals()],
                           event_types=[*EVENT_TYPES, VISIT])
    try:
        assert totals(reopened) == [{"plan": "MED-1", "visits": 1, "amount": 100, "parties": "party:a",
                                     "note": None}]
    finally:
        reopened.close()


def test_the_audit_names_a_projection_row_the_journal_does_not_support(clinic: Ledger) -> None:
    visit(clinic, 1, "party:a")
    table = clinic.store.rows.tables["visit_totals"]
    with clinic.store.engine.begin() as conn:
        conn.execute(table.update().values(amount=1_000_000))
    clinic.log.checkpoint_now()
    problems = [str(p) for p in clinic.audit.verify().problems]
    assert problems == ["visit_totals[MED-1]: projection row differs from the replay"]
