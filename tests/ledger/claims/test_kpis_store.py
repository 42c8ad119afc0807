"""The claims KPIs from the store, on SQLite and PostgreSQL: the projection keeps each moment's epoch microseconds
beside its text, ``select_columns`` reads chosen columns as tuples (on SQLite through one JSON array, or row by
row) with the values the driver gives, and ``ClaimsService.kpis`` (the columns) gives exactly the figures ``kpis``
gives from the whole rows of claims the real app recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import Ledger
from ledger.claims import projection as proj
from ledger.claims.kpis import KPI_COLUMNS, epoch_micros, kpis
from ledger.clock import FixedClock
from ledger.log.identifiers import parse_timestamp
from ledger.services.readmodels import ReadModels
from ledger.settings import Settings
from ledger.store import rows as rows_module
from ledger.store.rows import RowStore
from ledger.store.specs import Column, TableSpec
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.servicing_helpers import START

pytestmark = pytest.mark.usefixtures("backend")
STEMS = ("reported", "complete", "decided", "paid")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def recorded(settings: Settings, clock: FixedClock) -> Iterator[tuple[Ledger, dict[str, str]]]:
    """A ledger with two claims the real app recorded: one paid 31 h after its invoice completed it (moments with
    odd microseconds), one reported without its documents; and their ids ("paid", "waiting")."""
    ledger = Ledger.open(settings, clock=clock)
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            systems = register_systems(client, ledger)
            no_sample(ledger)
            policy_no = medical_policy(client, ledger, clock)
            reported = report(client, ledger, policy_no, documents=CUSTOMER_DOCS)
            assert reported.status_code == 201, reported.text
            paid = reported.json()
            clock.set(clock.now() + timedelta(hours=2, microseconds=123_457))
            invoiced = post_invoice(client, ledger, systems, paid)  # complete, assessed, approved automatically
            assert invoiced.status_code == 200 and invoiced.json()["status"] == "payment_pending", invoiced.text
            clock.set(clock.now() + timedelta(hours=31))
            assert settle(client, ledger, systems, paid["claim_id"]).status_code == 200
            clock.set(clock.now() + timedelta(minutes=5, microseconds=1))
            waiting = report(client, ledger, medical_policy(client, ledger, clock))
            assert waiting.status_code == 201 and waiting.json()["status"] == "awaiting_documents", waiting.text
            yield ledger, {"paid": paid["claim_id"], "waiting": waiting.json()["claim_id"]}
    finally:
        ledger.close()


def test_the_projection_keeps_each_moments_epoch_microseconds(recorded: tuple[Ledger, dict[str, str]]) -> None:
    ledger, ids = recorded
    rows = {row["claim_id"]: row for row in ledger.store.rows.select(proj.CLAIMS)}
    assert set(rows) == set(ids.values())
    for row in rows.values():
        for stem in STEMS:
            text = row[f"{stem}_at"]
            assert row[f"{stem}_us"] == (None if text is None else epoch_micros(parse_timestamp(text, field=stem)))
    paid = rows[ids["paid"]]
    assert paid["complete_us"] % 1_000_000 == 123_457 and paid["paid_us"] - paid["complete_us"] == 31 * 3600 * 10**6
    assert rows[ids["waiting"]]["complete_us"] is None and rows[ids["waiting"]]["reported_us"] > paid["paid_us"]


def test_select_columns_reads_tuples_of_the_columns_asked(recorded: tuple[Ledger, dict[str, str]]) -> None:
    ledger, ids = recorded
    read = ReadModels(ledger.store.rows)
    whole = {row["claim_id"]: row for row in ledger.store.rows.select(proj.CLAIMS)}
    paid = whole[ids["paid"]]
    everything = read.select_columns(proj.CLAIMS, ("claim_id", "paid_us", "status", "paid_idx"))
    assert sorted(everything) == sorted((row["claim_id"], row["paid_us"], row["status"], row["paid_idx"])
                                        for row in whole.values())
    assert all(type(found) is tuple for found in everything)
    assert read.select_columns(proj.CLAIMS, ("claim_id", "complete_us"), where={"complete_us": None}) == [
        (ids["waiting"], None)]
    # between is inclusive at both ends, on the integer moments
    moment = paid["complete_us"]
    assert read.select_columns(proj.CLAIMS, ("claim_id",), between=("complete_us", moment, moment)) == [(ids["paid"],)]
    assert read.select_columns(proj.CLAIMS, ("claim_id",), between=("complete_us", moment + 1, moment + 10)) == []
    with pytest.raises(ValueError, match="nope"):
        read.select_columns(proj.CLAIMS, ("claim_id", "nope"))


EDGES = TableSpec("kpi_edges", (Column("name", "text"), Column("note", "text", nullable=True),
                                Column("big", "int", nullable=True)), key=("name",))
EDGE_ROWS: list[dict[str, Any]] = [
    {"name": "quotes", "note": 'say "hi" \\ back/slash', "big": 2**63 - 1},
    {"name": "control", "note": "tab\tnew\nline \x01 end", "big": -(2**63)},
    {"name": "unicode", "note": "王五 ünïcødé 保单 😀", "big": 0},
    {"name": "empty", "note": "", "big": None},
    {"name": "null", "note": None, "big": 2**53 + 1},  # past what a JSON double holds exactly
    {"name": "json", "note": "[1, {\"a\": null}]", "big": -1},
]


@pytest.mark.parametrize("json_read", [True, False])
def test_select_columns_gives_the_values_the_driver_gives(recorded: tuple[Ledger, dict[str, str]], json_read: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, _ = recorded
    if not json_read:  # SQLite reads one JSON array unless told the database has no JSON functions
        monkeypatch.setattr(rows_module, "_SQLITE_JSON", False)
    store = RowStore(ledger.store.rows.engine, [EDGES])
    store.rebuild(EDGES.name, EDGE_ROWS)
    found = store.select_columns(EDGES.name, ("big", "note", "name"))
    assert sorted(found, key=lambda row: row[2]) == sorted(
        ((row["big"], row["note"], row["name"]) for row in EDGE_ROWS), key=lambda row: row[2])
    assert all(type(row) is tuple and type(row[0]) in (int, type(None)) for row in found)
    assert store.select_columns(EDGES.name, ("name",), between=("big", -1, 0)) in ([("unicode",), ("json",)],
                                                                                  [("json",), ("unicode",)])
    assert store.select_columns(EDGES.name, ("name",), where={"note": None}) == [("null",)]
    assert store.select_columns(EDGES.name, ("name",), where={"name": "none such"}) == []
    claims = ledger.store.rows
    every = [column.name for column in claims.specs[proj.CLAIMS].columns]
    assert sorted(claims.select_columns(proj.CLAIMS, every)) == sorted(
        tuple(row[column] for column in every) for row in claims.select(proj.CLAIMS))


def test_the_service_figures_are_those_of_the_whole_rows(recorded: tuple[Ledger, dict[str, str]]) -> None:
    ledger, ids = recorded
    service = ledger.claims
    start, end = START.date(), service.today()
    figures = service.kpis(start=start, end=end)
    whole = ledger.store.rows.select(proj.CLAIMS)
    assert figures == {"from": start.isoformat(), "to": end.isoformat(), "rules": service.rules.cite(),
                       **kpis(whole, calendar=ledger.calendar, rules=service.rules.clock_rules(), start=start,
                              end=end)}
    by_id = {row["claim_id"]: row for row in whole}
    paid, waiting = by_id[ids["paid"]], by_id[ids["waiting"]]
    assert figures["claims"]["entries"]["indices"] == sorted([paid["reported_idx"], waiting["reported_idx"]])
    pay = figures["time_to_pay"]["medical"]
    assert (pay["count"], pay["median_hours"], pay["entries"]["indices"]) == (
        1, 31.0, sorted([paid["complete_idx"], paid["paid_idx"]]))
    assert figures["automation_rate"]["count"] == figures["automation_rate"]["of"] == 1
    # a period after both claims counts neither; one holding only the waiting claim's report counts it alone
    assert service.kpis(start=end + timedelta(days=1), end=end + timedelta(days=9))["claims"]["count"] == 0
    later = service.kpis(start=end, end=end)["claims"]["entries"]["indices"]
    assert later == [waiting["reported_idx"]]


def test_the_kpi_columns_are_the_claims_tables() -> None:
    spec = next(table for table in proj.ClaimsProjector.tables if table.name == proj.CLAIMS)
    kinds = {column.name: column.type for column in spec.columns}
    assert all(kinds.get(column) in ("text", "int") for column in KPI_COLUMNS)
    assert all(kinds[f"{stem}_us"] == "int" for stem in STEMS)
