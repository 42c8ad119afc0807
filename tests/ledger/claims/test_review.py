"""The first review on the shipped products and questionnaire: each check passing and failing, and nondisclosure."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.claims.diagnoses import DiagnosisTable
from ledger.claims.model import Claim, Cover, History, Interval, Invoice, Medical
from ledger.claims.review import Check, Review, StatutoryTerms, first_review
from ledger.errors import ValidationFailed
from ledger.policies.rules.questionnaire import Questionnaire, load_questionnaire
from ledger.policies.rules.samples import CLEAN
from ledger.products.catalog import Product, ProductCatalog, default_products_dir

EFFECTIVE = date(2022, 1, 10)
APPLIED = date(2022, 1, 2)
LOSS = date(2024, 6, 1)
ON = date(2024, 6, 10)


@pytest.fixture(scope="module")
def catalog() -> ProductCatalog:
    return ProductCatalog.load(default_products_dir())


@pytest.fixture(scope="module")
def health() -> Questionnaire:
    return load_questionnaire(default_products_dir() / "questionnaires" / "health.toml")


@pytest.fixture(scope="module")
def table() -> DiagnosisTable:
    return DiagnosisTable.load()


@pytest.fixture(scope="module")
def underwriting_exclusions() -> dict[str, dict[str, str]]:
    with (default_products_dir() / "underwriting" / "standard.toml").open("rb") as handle:
        found = tomllib.load(handle)["exclusions"]
    return {code: {"code": code, **text} for code, text in found.items()}


def make_cover(product: Product, health: Questionnaire, **changes: Any) -> Cover:
    base = Cover(policy_no="P-1", application_id="A-1", product_id=product.id, product_version=product.version,
                 kind=product.kind, currency="CNY", sum_insured=Decimal("500000"), status="InForce",
                 effective_date=EFFECTIVE, issued_on=EFFECTIVE, end_date=None, application_date=APPLIED,
                 insured="PTY-1", questionnaire={"id": health.id, "version": health.version, "digest": health.digest})
    return replace(base, **changes)


def make_claim(**changes: Any) -> Claim:
    base = Claim(claim_id="CLM-1", policy_no="P-1", claim_type="death", cause="illness", loss_date=LOSS,
                 reported_at=datetime(2024, 6, 3, 9, tzinfo=UTC),
                 medical=Medical(diagnoses=("I63.9",), death_cause="illness", death_date=LOSS))
    return replace(base, **changes)


def review(product: Product, cover: Cover, claim: Claim, *, health: Questionnaire | None, table: DiagnosisTable,
           declaration: Any = CLEAN, on: date = ON, terms: StatutoryTerms | None = None) -> Review:
    return first_review(product=product, cover=cover, claim=claim, declaration=declaration, questionnaire=health,
                        diagnoses=table, on=on, terms=terms)


def check(result: Review, code: str) -> Check:
    found = [c for c in result.checks if c.code == code]
    assert len(found) == 1, [c.code for c in result.checks]
    return found[0]


@pytest.fixture
def term_life(catalog: ProductCatalog) -> Product:
    return catalog.get("term-life", 1)


def test_a_clean_claim_passes_every_check(term_life: Product, health: Questionnaire, table: DiagnosisTable) -> None:
    result = review(term_life, make_cover(term_life, health), make_claim(), health=health, table=table)
    assert [c.code for c in result.checks] == ["IN-FORCE", "WAITING-PERIOD", "EXCLUSION", "SUICIDE",
                                               "NONDISCLOSURE", "INCONTESTABILITY"]
    assert all(c.passed for c in result.checks)
    assert result.payable and result.declines == () and result.flags == ()
    facts = result.to_json()
    assert facts["payable"] is True and len(facts["checks"]) == 6
    assert all(isinstance(value, str) for c in result.checks for value in c.inputs.values())
    assert all(c.en and c.zh and c.rule and c.clause for c in result.checks)


# -- IN-FORCE ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("loss", "end", "passed"), [
    (EFFECTIVE, None, True), (EFFECTIVE - timedelta(days=1), None, False),
    (date(2032, 1, 9), date(2032, 1, 10), True), (date(2032, 1, 10), date(2032, 1, 10), False),
])
def test_in_force_runs_from_the_effective_date_to_before_the_end(term_life: Product, health: Questionnaire,
                                                                  table: DiagnosisTable, loss: date,
                                                                  end: date | None, passed: bool) -> None:
    claim = make_claim(loss_date=loss, medical=Medical(death_cause="accident", death_date=loss), cause="accident")
    result = review(term_life, make_cover(term_life, health, end_date=end), claim, health=health, table=table)
    found = check(result, "IN-FORCE")
    assert found.passed is passed
    assert result.payable is passed
    if not passed:
        assert result.declines == (found,) and found.blocks


@pytest.mark.parametrize(("loss", "suspension", "passed"), [
    (date(2024, 5, 31), Interval(date(2024, 3, 1), date(2024, 5, 31)), False),
    (date(2024, 3, 1), Interval(date(2024, 3, 1), date(2024, 5, 31)), False),
    (date(2024, 6, 1), Interval(date(2024, 3, 1), date(2024, 5, 31)), True),
    (date(2024, 2, 29), Interval(date(2024, 3, 1), date(2024, 5, 31)), True),
    (date(2030, 1, 1), Interval(date(2024, 3, 1)), False),  # still suspended
])
def test_no_cover_inside_a_suspension(term_life: Product, health: Questionnaire, table: DiagnosisTable, loss: date,
                                      suspension: Interval, passed: bool) -> None:
    cover = make_cover(term_life, health, suspensions=(suspension,))
    claim = make_claim(loss_date=loss, medical=Medical(death_cause="illness", death_date=loss))
    found = check(review(term_life, cover, claim, health=health, table=table), "IN-FORCE")
    assert found.passed is passed
    if not passed:
        assert found.clause == "IL 37" and "suspended" in found.en and "效力中止" in found.zh


def test_grace_counts_as_in_force(term_life: Product, health: Questionnaire, table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health, status="Grace", grace=Interval(date(2024, 5, 11), date(2024, 7, 9)),
                       unpaid_premium=Decimal("1540.00"))
    result = review(term_life, cover, make_claim(), health=health, table=table)
    found = check(result, "IN-FORCE")
    assert found.passed and found.clause == "IL 36"
    assert "grace period" in found.en and "1540.00" in found.en and "宽限期" in found.zh
    assert result.payable


# -- WAITING-PERIOD ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("product_id", "claim_type", "days", "passed"), [
    ("critical-illness", "critical_illness", 89, False), ("critical-illness", "critical_illness", 90, True),
    ("term-life", "death", 89, False), ("term-life", "death", 90, True),
    ("hospital-allowance", "hospital_allowance", 29, False), ("hospital-allowance", "hospital_allowance", 30, True),
    ("medical", "medical", 0, False),
])
def test_the_waiting_period_runs_from_the_effective_date(catalog: ProductCatalog, health: Questionnaire,
                                                         table: DiagnosisTable, product_id: str, claim_type: str,
                                                         days: int, passed: bool) -> None:
    product = catalog.get(product_id, 1)
    claim = make_claim(claim_type=claim_type, loss_date=EFFECTIVE + timedelta(days=days),
                       medical=Medical(diagnoses=("C34.1",), death_cause="illness"))
    result = review(product, make_cover(product, health), claim, health=health, table=table)
    found = check(result, "WAITING-PERIOD")
    assert found.passed is passed
    assert found.inputs["waiting_period_days"] == str(product.waiting_period_days)
    if not passed:
        assert found.blocks and not result.payable
        assert f"{product.waiting_period_days}-day waiting period from the effective date" in found.en


def test_the_waiting_period_restarts_at_reinstatement(catalog: ProductCatalog, health: Questionnaire,
                                                      table: DiagnosisTable) -> None:
    product = catalog.get("critical-illness", 1)
    claim = make_claim(claim_type="critical_illness", medical=Medical(diagnoses=("C34.1",)))
    inside = make_cover(product, health, reinstated_on=LOSS - timedelta(days=89))
    found = check(review(product, inside, claim, health=health, table=table), "WAITING-PERIOD")
    assert not found.passed
    assert "from reinstatement" in found.en and "复效" in found.zh
    assert found.inputs["start"] == (LOSS - timedelta(days=89)).isoformat()
    after = make_cover(product, health, reinstated_on=LOSS - timedelta(days=90))
    assert check(review(product, after, claim, health=health, table=table), "WAITING-PERIOD").passed


def test_a_loss_before_a_later_lapse_is_judged_by_the_contract_as_it_stood_then(
        catalog: ProductCatalog, health: Questionnaire, table: DiagnosisTable) -> None:
    """Diagnosed while in force, lapsed and reinstated after: no waiting period restarted by that reinstatement."""
    product = catalog.get("critical-illness", 1)
    lapse = Interval(LOSS + timedelta(days=44), LOSS + timedelta(days=91))
    back = LOSS + timedelta(days=92)
    cover = make_cover(product, health, reinstated_on=back, suspensions=(lapse,))
    claim = make_claim(claim_type="critical_illness", medical=Medical(diagnoses=("C34.1",)))
    result = review(product, cover, claim, health=health, table=table, on=back + timedelta(days=9))
    assert check(result, "IN-FORCE").passed
    found = check(result, "WAITING-PERIOD")
    assert found.passed and "from the effective date" in found.en, found.en
    later = make_claim(claim_type="critical_illness", medical=Medical(diagnoses=("C34.1",)),
                       loss_date=back + timedelta(days=5))
    again = check(review(product, cover, later, health=health, table=table, on=back + timedelta(days=9)),
                  "WAITING-PERIOD")
    assert not again.passed and again.inputs["start"] == back.isoformat()  # a loss after it: restarted


def test_an_accident_is_exempt_when_the_waiting_period_covers_illness(term_life: Product, health: Questionnaire,
                                                                      table: DiagnosisTable) -> None:
    assert term_life.definition.waiting_period_covers == "illness"
    loss = EFFECTIVE + timedelta(days=10)
    accident = make_claim(cause="accident", loss_date=loss, medical=Medical(death_cause="accident"))
    found = check(review(term_life, make_cover(term_life, health), accident, health=health, table=table),
                  "WAITING-PERIOD")
    assert found.passed and "accident" in found.en
    illness = make_claim(loss_date=loss, medical=Medical(death_cause="illness"))
    assert not check(review(term_life, make_cover(term_life, health), illness, health=health, table=table),
                     "WAITING-PERIOD").passed


def test_the_accident_product_has_no_waiting_period(catalog: ProductCatalog, health: Questionnaire,
                                                    table: DiagnosisTable) -> None:
    product = catalog.get("accident", 1)
    claim = make_claim(claim_type="accident", cause="accident", loss_date=EFFECTIVE,
                       medical=Medical(death_cause="accident"))
    found = check(review(product, make_cover(product, health), claim, health=health, table=table), "WAITING-PERIOD")
    assert found.passed and found.en == "The product has no waiting period."


def test_a_coverage_without_a_waiting_period_is_skipped(health: Questionnaire, table: DiagnosisTable) -> None:
    catalog = ProductCatalog.load(default_products_dir())
    raw = catalog.get("term-life", 1).definition.model_dump(mode="json")
    raw["version"] = 2
    raw["coverages"] = [{**c, "waiting_period_applies": c["code"] != "DEATH"} for c in raw["coverages"]]
    product = catalog.publish(raw)
    cover = make_cover(product, health)
    death = make_claim(loss_date=EFFECTIVE + timedelta(days=10))
    found = check(review(product, cover, death, health=health, table=table), "WAITING-PERIOD")
    assert found.passed and found.inputs["coverages"] == "DEATH"
    disability = make_claim(claim_type="disability", loss_date=EFFECTIVE + timedelta(days=10),
                            medical=Medical(disability_grade=1))
    found = check(review(product, cover, disability, health=health, table=table), "WAITING-PERIOD")
    assert not found.passed and found.inputs["coverages"] == "TOTAL-DISABILITY"


# -- EXCLUSION -----------------------------------------------------------------------------------------------

def test_an_underwriting_exclusion_matches_the_claims_diagnosis(catalog: ProductCatalog, health: Questionnaire,
                                                                table: DiagnosisTable,
                                                                underwriting_exclusions: dict[str, Any]) -> None:
    product = catalog.get("critical-illness", 1)
    cover = make_cover(product, health, exclusions=(underwriting_exclusions["THYROID"],))
    claim = make_claim(claim_type="critical_illness", medical=Medical(diagnoses=("C73.x01",)))
    result = review(product, cover, claim, health=health, table=table)
    found = check(result, "EXCLUSION")
    assert not found.passed and found.blocks and found.clause == "THYROID"
    assert found.inputs["source"] == "underwriting"
    assert underwriting_exclusions["THYROID"]["en"] in found.en and underwriting_exclusions["THYROID"]["zh"] in found.zh
    assert result.declines == (found,)
    other = replace(claim, medical=Medical(diagnoses=("C34.1",)))
    assert check(review(product, cover, other, health=health, table=table), "EXCLUSION").passed
    without = make_cover(product, health)
    assert check(review(product, without, claim, health=health, table=table), "EXCLUSION").passed


def test_an_exclusion_matches_an_invoices_diagnosis(catalog: ProductCatalog, health: Questionnaire,
                                                    table: DiagnosisTable,
                                                    underwriting_exclusions: dict[str, Any]) -> None:
    product = catalog.get("hospital-allowance", 1)
    cover = make_cover(product, health, exclusions=(underwriting_exclusions["LIVER"],))
    invoice = Invoice(invoice_no="INV-1", hospital="H-1", admitted=LOSS, discharged=LOSS + timedelta(days=6),
                      total=Decimal("9000"), ineligible=Decimal(0), social_insurance_paid=Decimal(0),
                      diagnoses=("B18.1",))
    claim = make_claim(claim_type="hospital_allowance", invoices=(invoice,), medical=Medical())
    assert check(review(product, cover, claim, health=health, table=table), "EXCLUSION").clause == "LIVER"


def test_exclusion_facts_match_product_and_underwriting_exclusions(term_life: Product, health: Questionnaire,
                                                                   table: DiagnosisTable,
                                                                   underwriting_exclusions: dict[str, Any]) -> None:
    cover = make_cover(term_life, health, exclusions=(underwriting_exclusions["HAZARDOUS-PURSUIT"],))
    claim = make_claim(cause="accident", exclusion_facts=("DRUNK-OR-UNLICENSED-DRIVING", "HAZARDOUS-PURSUIT"),
                       medical=Medical(death_cause="accident"))
    result = review(term_life, cover, claim, health=health, table=table)
    found = [c for c in result.checks if c.code == "EXCLUSION"]
    assert [(c.clause, c.inputs["source"], c.passed) for c in found] == [
        ("DRUNK-OR-UNLICENSED-DRIVING", "product", False), ("HAZARDOUS-PURSUIT", "underwriting", False)]
    clause = next(e for e in term_life.definition.exclusions if e.code == "DRUNK-OR-UNLICENSED-DRIVING")
    assert clause.en in found[0].en
    assert len(result.declines) == 2
    unknown = replace(claim, exclusion_facts=("NOT-A-CLAUSE",))
    passed = check(review(term_life, make_cover(term_life, health), unknown, health=health, table=table),
                   "EXCLUSION")
    assert passed.passed and "NOT-A-CLAUSE" in passed.en


# -- SUICIDE -------------------------------------------------------------------------------------------------

def suicide(died: date) -> Claim:
    return make_claim(loss_date=died, medical=Medical(death_cause="suicide", death_date=died))


def test_suicide_within_two_years_of_formation_is_not_payable(term_life: Product, health: Questionnaire,
                                                              table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health)
    result = review(term_life, cover, suicide(date(2024, 1, 9)), health=health, table=table, on=date(2024, 1, 20))
    found = check(result, "SUICIDE")
    assert not found.passed and found.blocks and found.clause == "IL 44"
    assert "cash value is refunded" in found.en and "退还现金价值" in found.zh
    assert not result.payable
    after = review(term_life, cover, suicide(date(2024, 1, 10)), health=health, table=table, on=date(2024, 1, 20))
    assert check(after, "SUICIDE").passed and after.payable


def test_suicide_clock_restarts_at_reinstatement(term_life: Product, health: Questionnaire,
                                                 table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health, reinstated_on=date(2023, 3, 1))
    found = check(review(term_life, cover, suicide(LOSS), health=health, table=table), "SUICIDE")
    assert not found.passed and "reinstatement" in found.en and found.inputs["until"] == "2025-03-01"
    assert check(review(term_life, cover, suicide(date(2025, 3, 1)), health=health, table=table,
                        on=date(2025, 3, 5)), "SUICIDE").passed


def test_the_suicide_period_comes_from_the_terms(term_life: Product, health: Questionnaire,
                                                 table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health)
    longer = StatutoryTerms(suicide_years=3)
    assert not check(review(term_life, cover, suicide(LOSS), health=health, table=table, terms=longer),
                     "SUICIDE").passed


# -- NONDISCLOSURE and INCONTESTABILITY ----------------------------------------------------------------------

def with_history(*items: History, **changes: Any) -> Claim:
    return make_claim(medical=Medical(diagnoses=("C34.1",), death_cause="illness", history=items), **changes)


def test_a_declared_no_contradicted_by_earlier_records_raises_a_flag(term_life: Product, health: Questionnaire,
                                                                     table: DiagnosisTable) -> None:
    claim = with_history(History(code="C50.9", since=APPLIED - timedelta(days=1), source_index=31))
    result = review(term_life, make_cover(term_life, health), claim, health=health, table=table,
                    on=date(2023, 6, 1), declaration={**CLEAN})
    assert len(result.flags) == 1
    flag = result.flags[0]
    tumour = health.by_id["tumour"]
    assert flag.rule == "NONDISCLOSURE" and flag.version == table.version
    assert flag.evidence == (31,) and flag.action == "investigate"
    assert flag.personal["question"] == {"id": "tumour", "zh": tumour.text.zh, "en": tumour.text.en}
    assert flag.personal["answer"] == {"value": False, "zh": "否", "en": "no"}
    assert flag.personal["conditions"] == [{"code": "C50.9", "since": "2022-01-01", "group": "MALIGNANT-NEOPLASM"}]
    facts = str(flag.to_json())
    assert "tumour" in facts and "NONDISCLOSURE" in facts
    assert tumour.text.en not in facts and "C50" not in facts and "MALIGNANT" not in facts
    assert "does not by itself make the claim unpayable" in flag.en
    nondisclosure = check(result, "NONDISCLOSURE")
    assert not nondisclosure.passed and not nondisclosure.blocks and nondisclosure.inputs["questions"] == "tumour"
    assert result.payable and result.declines == ()
    assert "C50" not in str(result.to_json())


def test_no_flag_for_a_condition_after_the_application_or_a_yes(term_life: Product, health: Questionnaire,
                                                                 table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health)
    later = with_history(History(code="C50.9", since=APPLIED, source_index=31))
    assert review(term_life, cover, later, health=health, table=table).flags == ()
    earlier = with_history(History(code="C50.9", since=APPLIED - timedelta(days=400), source_index=31))
    declared = {**CLEAN, "tumour": True, "tumour_kind": "benign"}
    assert review(term_life, cover, earlier, health=health, table=table, declaration=declared).flags == ()
    not_asked = {key: value for key, value in CLEAN.items() if key != "tumour"}
    assert review(term_life, cover, earlier, health=health, table=table, declaration=not_asked).flags == ()
    no_question = with_history(History(code="J18.9", since=APPLIED - timedelta(days=40), source_index=32))
    result = review(term_life, cover, no_question, health=health, table=table)
    assert result.flags == () and check(result, "NONDISCLOSURE").passed


def test_a_question_about_recent_years_looks_back_only_that_far(term_life: Product, health: Questionnaire,
                                                                 table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health)
    recent = with_history(History(code="I21.0", since=APPLIED - timedelta(days=730), source_index=41))
    assert [f.personal["question"]["id"] for f in review(term_life, cover, recent, health=health,
                                                         table=table).flags] == ["hospital_or_surgery", "heart"]
    old = with_history(History(code="I21.0", since=APPLIED - timedelta(days=731), source_index=41))
    assert [f.personal["question"]["id"] for f in review(term_life, cover, old, health=health,
                                                         table=table).flags] == ["heart"]


def test_incontestability_within_and_after_two_years(term_life: Product, health: Questionnaire,
                                                     table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health)
    claim = with_history(History(code="E11.9", since=APPLIED - timedelta(days=100), source_index=51))
    within = review(term_life, cover, claim, health=health, table=table, on=date(2024, 1, 9))
    found = check(within, "INCONTESTABILITY")
    assert not found.passed and not found.blocks and found.clause == "IL 16"
    assert found.inputs["contestable_until"] == "2024-01-10" and "may rescind" in found.en
    assert within.flags[0].action == "investigate" and within.payable
    after = review(term_life, cover, claim, health=health, table=table, on=date(2024, 1, 10))
    found = check(after, "INCONTESTABILITY")
    assert found.passed and "can no longer be rescinded" in found.en and "information only" in found.en
    assert after.flags[0].action == "pay" and "information only" in after.flags[0].en
    assert not check(after, "NONDISCLOSURE").passed and after.payable
    clean = review(term_life, cover, make_claim(), health=health, table=table, on=date(2023, 1, 9))
    assert check(clean, "INCONTESTABILITY").passed


# -- inputs --------------------------------------------------------------------------------------------------

def test_wrong_inputs_are_refused(catalog: ProductCatalog, term_life: Product, health: Questionnaire,
                                  table: DiagnosisTable) -> None:
    cover = make_cover(term_life, health)
    with pytest.raises(ValidationFailed, match="product: the cover is on term-life v1, got whole-life v1"):
        review(catalog.get("whole-life", 1), cover, make_claim(), health=health, table=table)
    other = replace(cover, questionnaire={"id": "health", "version": 1, "digest": "sha256:" + "0" * 64})
    with pytest.raises(ValidationFailed, match="questionnaire: the declaration was made on health v1"):
        review(term_life, other, make_claim(), health=health, table=table)
    with pytest.raises(ValidationFailed, match="questionnaire: the declaration's questionnaire is needed"):
        review(term_life, cover, make_claim(), health=None, table=table)
    result = review(term_life, replace(cover, questionnaire={}), make_claim(), health=None, table=table,
                    declaration={})
    assert check(result, "NONDISCLOSURE").passed
