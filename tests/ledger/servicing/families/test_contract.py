"""The contract family: the reinstatement amount (back premiums with simple interest at the product's rate, or the
policy's accepted quote) and the free-look refund (premiums paid less the fee, no interest), by hand.

The policy: whole life, 500,000, 20-year annual payment, a man of 40, effective 2020-03-01; premium 326.27 per
10,000 a year (whole-life-v1-rates) = 16,313.50 (monthly: x 0.09 = 1,468.22); reinstatement interest 2.1%.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.money import Money
from ledger.policies.service import _plan, _quote_json
from ledger.policies.state import MONTHS, PolicyState, with_changes
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import Operation, ServicingCatalog, default_catalog_path, load_catalog
from ledger.servicing.families import contract
from ledger.servicing.families.base import Context

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG: ServicingCatalog = load_catalog(default_catalog_path())
FAMILY = contract.FAMILY
WHOLE_LIFE = PRODUCTS.get("whole-life")
CENT = Decimal("0.01")
ANNUAL = Decimal("326.27") * 50
ANSWERS = contract.Reinstatement(answers={"height_cm": 175, "weight_kg": 70, "hospitalised": False})


def money(value: Decimal | str) -> dict[str, str]:
    amount = value if isinstance(value, str) else str(value.quantize(CENT, ROUND_HALF_UP))
    return {"amount": amount, "currency": "CNY"}


def policy(*, paid_through: date, frequency: str = "annual", **values: Any) -> PolicyState:
    plan = {"sum_insured": money("500000"), "term_years": None, "payment_years": 20, "frequency": frequency}
    state = dataclasses.replace(
        PolicyState(), status="InForce", plan=plan, effective_date=date(2020, 3, 1),
        installments=20 * 12 // MONTHS[frequency],
        premium=_quote_json(WHOLE_LIFE, _plan(WHOLE_LIFE, plan), age=40, sex="M", occupation_class=1,
                            extra=Decimal(0)),
        product={"id": "whole-life", "version": 1, "digest": WHOLE_LIFE.digest, "kind": "whole_life"},
        insured_age=40, insured_sex="M", occupation_class=1, policyholder="P1", insured="P1")
    paid = tuple(due.isoformat() for due in state.due_dates() if due <= paid_through)
    return dataclasses.replace(state, paid_dues=paid, **values)


def context(state: PolicyState, code: str, *, on: date, operation: Operation | None = None) -> Context:
    return Context(policy=state, product=WHOLE_LIFE, operation=operation or CATALOG.get(code),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=on,
                   now=datetime(on.year, on.month, on.day, 9, tzinfo=UTC), cash_value=None, requester="P1")


# -- reinstatement ---------------------------------------------------------------------------------------------

def suspended(**values: Any) -> PolicyState:
    """Lapsed after the 2024-03-01 premium went unpaid."""
    return policy(paid_through=date(2023, 3, 1), status="Suspended", lapsed_on=date(2024, 4, 30),
                  reinstate_until=date(2026, 4, 30), **values)


def test_reinstatement_is_the_back_premium_with_simple_interest() -> None:
    prepared = FAMILY.prepare(context(suspended(), "reinstatement", on=date(2024, 9, 1)), ANSWERS)
    interest = (ANNUAL * Decimal("0.021") * 184 / 365).quantize(CENT, ROUND_HALF_UP)  # 2024-03-01 + 184 days
    assert interest == Decimal("172.70")
    assert prepared.facts == {"overdue": 1, "dues": ["2024-03-01"], "total": money(ANNUAL + interest)}
    assert prepared.facts["total"] == money("16486.20")
    assert prepared.changes == {} and prepared.payout is None
    assert prepared.amount is not None
    assert prepared.amount["formula"] == "reinstatement_amount"
    assert prepared.amount["inputs"]["interest_rate"] == "0.021"
    assert prepared.amount["inputs"]["dues"] == [{"due": "2024-03-01", "days": 184}]
    assert "height_cm" not in repr(prepared.facts) and prepared.details == {}


def test_each_unpaid_due_date_up_to_the_request_date_counts_with_its_own_days() -> None:
    prepared = FAMILY.prepare(context(suspended(), "reinstatement", on=date(2025, 4, 1)), ANSWERS)
    days = 396 + 31  # from 2024-03-01 and from 2025-03-01
    interest = (ANNUAL * Decimal("0.021") * days / 365).quantize(CENT, ROUND_HALF_UP)
    assert prepared.facts["overdue"] == 2
    assert prepared.facts["total"] == money(2 * ANNUAL + interest)


def test_the_accepted_reinstatement_quote_is_the_amount_while_it_holds() -> None:
    quote = {"accepted": True, "dues": ["2024-03-01"], "overdue": money("16313.50"), "interest": money("150.00"),
             "total": money("16463.50"), "interest_rate": "0.021", "on": "2024-08-01", "valid_until": "2025-02-28"}
    state = suspended(reinstatement=quote)
    prepared = FAMILY.prepare(context(state, "reinstatement", on=date(2024, 9, 1)), ANSWERS)
    assert prepared.facts == {"overdue": 1, "dues": ["2024-03-01"], "total": money("16463.50")}
    assert prepared.amount is not None and prepared.amount["value"] == money("16463.50")
    # past its valid_until the amount is computed afresh on the request date
    later = FAMILY.prepare(context(state, "reinstatement", on=date(2025, 3, 5)), ANSWERS)
    assert later.facts["overdue"] == 2 and later.facts["total"] != money("16463.50")


def test_reinstatement_needs_a_health_declaration() -> None:
    with pytest.raises(ValidationError) as caught:
        contract.Reinstatement.model_validate({"answers": {}})
    assert caught.value.errors()[0]["loc"] == ("answers",)
    with pytest.raises(ValidationError):
        contract.Reinstatement.model_validate({})


# -- free-look cancellation ------------------------------------------------------------------------------------

def test_a_free_look_cancellation_refunds_the_premiums_paid() -> None:
    state = policy(paid_through=date(2020, 3, 1), status="FreeLook")
    prepared = FAMILY.prepare(context(state, "free_look_cancellation", on=date(2020, 3, 10)),
                              contract.FreeLookCancellation())
    assert prepared.facts == {"refund": money(ANNUAL), "premiums_paid": 1}
    assert prepared.payout == {"amount": money("16313.50"), "pay_by": "2020-03-10", "to": "policyholder"}
    assert prepared.changes == {"status": "Cancelled"}
    assert with_changes(state, prepared.changes).status == "Cancelled"
    assert prepared.amount is not None and prepared.amount["formula"] == "free_look_refund"


def test_the_free_look_fee_is_kept_and_monthly_payers_get_what_they_paid() -> None:
    operation = CATALOG.get("free_look_cancellation")
    parameters = operation.money.parameters.model_copy(update={"fee": Money.of("50.00")})
    charged = operation.model_copy(update={"money": operation.money.model_copy(update={"parameters": parameters})})
    monthly = policy(paid_through=date(2020, 4, 1), frequency="monthly", status="FreeLook")  # two installments
    modal = (ANNUAL * Decimal("0.09")).quantize(CENT, ROUND_HALF_UP)
    assert modal == Decimal("1468.22")
    prepared = FAMILY.prepare(context(monthly, "free_look_cancellation", on=date(2020, 4, 2), operation=charged),
                              contract.FreeLookCancellation())
    assert prepared.facts == {"refund": money(2 * modal - 50), "premiums_paid": 2}


def test_every_operation_of_the_family_is_in_the_catalog() -> None:
    for code in FAMILY.inputs:
        assert CATALOG.get(code).family == FAMILY.name
