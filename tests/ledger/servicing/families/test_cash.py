"""The cash family: partial withdrawal (fee by policy year, limit, the sum assured lowered onto the product's grid
and re-quoted) and surrender (cash value - debts + refundable premium, never negative), by hand from the shipped
tables.

The policy: whole life, 500,000, 20-year payment, a man of 40, effective 2020-03-01; premium 326.27 per 10,000 a
year (whole-life-v1-rates) = 16,313.50 (monthly: x 0.09 = 1,468.22). Cash value per 10,000 (whole-life-v1-cash-
values, M, 20-pay, age 40): 50.29 at the end of policy year 1, 726.22 of year 4, 1,048.10 of year 5, 1,429.40 of
year 6; within a year on the straight line over 365 days from the previous year end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.clock import add_months
from ledger.errors import Refused
from ledger.policies.service import PolicyService, _plan, _quote_json
from ledger.policies.state import MONTHS, PolicyState, with_changes
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import ServicingCatalog, default_catalog_path, load_catalog
from ledger.servicing.families import cash
from ledger.servicing.families.base import Context, Input

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG: ServicingCatalog = load_catalog(default_catalog_path())
FAMILY = cash.FAMILY
WHOLE_LIFE = PRODUCTS.get("whole-life")
ON = date(2024, 9, 1)  # 184 days into policy year 5
CENT = Decimal("0.01")
ANNUAL = Decimal("326.27") * 50
CASH_VALUE = ((Decimal("726.22") + (Decimal("1048.10") - Decimal("726.22")) * 184 / 365) * 50).quantize(
    CENT, ROUND_HALF_UP)


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def cny(value: Decimal) -> dict[str, str]:
    """An amount as the journal shows it: rounded half-up to the fen."""
    return money(str(value.quantize(CENT, ROUND_HALF_UP)))


def policy(*, paid_through: date = date(2024, 3, 1), frequency: str = "annual", payment_years: int = 20,
           sum_insured: str = "500000", **values: Any) -> PolicyState:
    """The whole-life policy above, with every due up to ``paid_through`` paid."""
    plan = {"sum_insured": money(sum_insured), "term_years": None, "payment_years": payment_years,
            "frequency": frequency}
    state = dataclasses.replace(
        PolicyState(), status="InForce", plan=plan, effective_date=date(2020, 3, 1),
        installments=payment_years * 12 // MONTHS[frequency],
        premium=_quote_json(WHOLE_LIFE, _plan(WHOLE_LIFE, plan), age=40, sex="M", occupation_class=1,
                            extra=Decimal(0)),
        product={"id": "whole-life", "version": 1, "digest": WHOLE_LIFE.digest, "kind": "whole_life"},
        insured_age=40, insured_sex="M", occupation_class=1, policyholder="P1", insured="P1")
    paid = tuple(due.isoformat() for due in state.due_dates() if due <= paid_through)
    return dataclasses.replace(state, paid_dues=paid, **values)


def context(state: PolicyState, code: str, *, on: date = ON,
            cash_value: Callable[[date], dict[str, Any]] | None = None) -> Context:
    return Context(policy=state, product=WHOLE_LIFE, operation=CATALOG.get(code),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=on,
                   now=datetime(on.year, on.month, on.day, 9, tzinfo=UTC),
                   cash_value=cash_value or PolicyService._cash_value_of(state, WHOLE_LIFE), requester="P1")


def refused(rule: str, ctx: Context, data: Input) -> Refused:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(ctx, data)
    assert caught.value.rule == rule
    return caught.value


def open_loan(principal: str, start: date) -> dict[str, Any]:
    return {"request_id": "r-1", "principal": money(principal), "rate": "0.05", "start": start.isoformat(),
            "due": add_months(start, 6).isoformat()}


# -- partial withdrawal ----------------------------------------------------------------------------------------

def test_a_withdrawal_pays_the_amount_less_the_years_fee_and_lowers_the_sum_assured() -> None:
    assert Decimal("44424.14") == CASH_VALUE and Decimal("16313.50") == ANNUAL
    prepared = FAMILY.prepare(context(policy(), "partial_withdrawal"), cash.PartialWithdrawal(amount="10000"))
    fee = Decimal("10000.00") * Decimal("0.01")  # policy year 5: fees_by_policy_year[4]
    proportional = Decimal(500000) * (1 - Decimal("10000.00") / CASH_VALUE)  # 387,448.58...
    assert Decimal(380000) <= proportional < Decimal(390000)  # onto the grid 50,000 + k x 10,000: 380,000
    assert prepared.facts == {"amount": money("10000.00"), "fee": money("100.00"),
                              "paid": cny(Decimal("10000.00") - fee), "new_sum_insured": money("380000.00"),
                              "premium": cny(Decimal("326.27") * 38)}
    assert prepared.payout == {"amount": money("9900.00"), "pay_by": "2024-09-01", "to": "policyholder"}
    assert prepared.changes["plan"] == {"sum_insured": money("380000.00")}
    assert prepared.changes["premium"]["annual_premium"] == money("12398.26")
    assert prepared.amount is not None
    assert prepared.amount["value"] == money("9900.00")
    assert prepared.amount["inputs"]["limit"] == cny((Decimal("0.80") * CASH_VALUE).quantize(CENT, ROUND_DOWN))
    assert prepared.amount["inputs"]["policy_year"] == 5 and prepared.amount["inputs"]["fee_rate"] == "0.01"
    changed = with_changes(policy(), prepared.changes)
    assert changed.plan["sum_insured"] == money("380000.00") and changed.premium["modal_premium"] == \
        money("12398.26")


def test_the_first_years_fee_is_three_percent() -> None:
    on = date(2020, 12, 1)  # 275 days into policy year 1
    value = (Decimal("50.29") * 275 / 365 * 50).quantize(CENT, ROUND_HALF_UP)
    assert value == Decimal("1894.49")
    prepared = FAMILY.prepare(context(policy(paid_through=date(2020, 3, 1)), "partial_withdrawal", on=on),
                              cash.PartialWithdrawal(amount="1000"))
    assert prepared.facts["fee"] == cny(Decimal("1000.00") * Decimal("0.03"))
    assert prepared.facts["paid"] == money("970.00")
    # 500,000 x (1 - 1000 / 1894.49) = 236,074.61... onto the grid: 230,000
    assert prepared.facts["new_sum_insured"] == money("230000.00")


def test_no_fee_after_the_listed_years() -> None:
    on = date(2026, 3, 1)  # the start of policy year 7: the value at the end of year 6
    value = Decimal("1429.40") * 50
    prepared = FAMILY.prepare(context(policy(paid_through=on), "partial_withdrawal", on=on),
                              cash.PartialWithdrawal(amount="20000"))
    assert prepared.facts["fee"] == money("0.00") and prepared.facts["paid"] == money("20000.00")
    proportional = Decimal(500000) * (1 - Decimal(20000) / value)  # 360,081.15...
    assert Decimal(360000) <= proportional < Decimal(370000)
    assert prepared.facts["new_sum_insured"] == money("360000.00")
    assert prepared.facts["premium"] == cny(Decimal("326.27") * 36)


def test_withdrawal_refusals() -> None:
    ctx = context(policy(), "partial_withdrawal")
    refused("BELOW-MINIMUM", ctx, cash.PartialWithdrawal(amount="999.99"))
    limit = (Decimal("0.80") * CASH_VALUE).quantize(CENT, ROUND_DOWN)
    error = refused("ABOVE-WITHDRAWAL-LIMIT", ctx, cash.PartialWithdrawal(amount=str(limit + CENT)))
    assert str(limit) in str(error) and str(limit) in error.zh
    # 60,000 of cover: 60,000 x (1 - 1000 / cash value) falls below the product's 50,000
    small = policy(sum_insured="60000")
    refused("BELOW-PRODUCT-MINIMUM", context(small, "partial_withdrawal"), cash.PartialWithdrawal(amount="1000"))


def _cash(amount: Decimal) -> Callable[[date], dict[str, Any]]:
    return lambda on: {"amount": money(str(amount)), "basis": {"rule": "test"}}


@settings(max_examples=150, deadline=None)
@given(value=st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n) / 100),
       requested=st.integers(min_value=1, max_value=10**9).map(lambda n: Decimal(n) / 100),
       on=st.dates(min_value=date(2020, 3, 1), max_value=date(2029, 12, 31)))
def test_a_withdrawal_pays_between_zero_and_its_limit(value: Decimal, requested: Decimal, on: date) -> None:
    state = policy(paid_through=on, sum_insured="5000000")
    try:
        prepared = FAMILY.prepare(context(state, "partial_withdrawal", on=on, cash_value=_cash(value)),
                                  cash.PartialWithdrawal(amount=str(requested)))
    except Refused as error:
        assert error.rule in ("BELOW-MINIMUM", "ABOVE-WITHDRAWAL-LIMIT", "BELOW-PRODUCT-MINIMUM")
        return
    paid = Decimal(prepared.payout["amount"]["amount"]) if prepared.payout else Decimal(-1)
    assert 0 <= paid <= requested <= Decimal("0.80") * value


def test_a_withdrawal_amount_is_validated() -> None:
    with pytest.raises(ValidationError):
        cash.PartialWithdrawal.model_validate({"amount": 1000.0})
    with pytest.raises(ValidationError):
        cash.PartialWithdrawal.model_validate({})


# -- surrender -------------------------------------------------------------------------------------------------

def test_a_surrender_pays_the_cash_value_and_the_unearned_premium() -> None:
    prepared = FAMILY.prepare(context(policy(), "surrender"), cash.Surrender(reason="moving abroad"))
    # paid to 2025-03-01: 181 of the installment's 365 days are after the request date
    value = (CASH_VALUE + ANNUAL * 181 / 365).quantize(CENT, ROUND_HALF_UP)
    assert value == Decimal("52513.85")
    assert prepared.facts == {"value": money("52513.85"), "pay_by": "2024-10-01"}
    assert prepared.details == {"reason": "moving abroad"}
    assert prepared.payout == {"amount": money("52513.85"), "pay_by": "2024-10-01", "to": "policyholder"}
    assert prepared.changes == {"status": "Surrendered", "loans": []}
    assert prepared.amount is not None and prepared.amount["value"] == money("52513.85")
    refundable = prepared.amount["inputs"]["refundable_premium"]
    assert refundable["days"] == 181 and refundable["installment"]["days"] == 365
    assert prepared.amount["formula"] == "surrender_value"


def test_a_surrender_refunds_nothing_of_an_installment_a_premium_holiday_waived() -> None:
    """The 2024-03-01 installment was waived, not paid: the days of it after the request date are not a refund."""
    waived = policy(paid_through=date(2023, 3, 1), waived_dues=("2024-03-01",))
    assert waived.next_due() == date(2025, 3, 1)  # settled for the schedule, but never paid
    prepared = FAMILY.prepare(context(waived, "surrender"), cash.Surrender())
    refundable = prepared.amount["inputs"]["refundable_premium"] if prepared.amount else {}
    assert Decimal(refundable["amount"]["amount"]) == 0
    assert prepared.facts["value"] == cny(CASH_VALUE)  # the cash value alone
    paid = FAMILY.prepare(context(policy(), "surrender"), cash.Surrender())  # the same installment paid
    assert Decimal(paid.facts["value"]["amount"]) == (CASH_VALUE + ANNUAL * 181 / 365).quantize(CENT, ROUND_HALF_UP)


def test_a_month_end_schedule_refunds_the_installment_to_its_next_due_date_only() -> None:
    """Effective Jan 31: the installment of Feb 29, 2024 runs to Mar 31 (the next due date), 31 days, not to Mar 29."""
    state = dataclasses.replace(policy(frequency="monthly"), effective_date=date(2020, 1, 31))
    state = dataclasses.replace(state, paid_dues=tuple(due.isoformat() for due in state.due_dates()
                                                       if due <= date(2024, 2, 29)))
    refund = cash.refundable_premium(state, date(2024, 2, 29))
    assert refund.inputs["installment"] == {"start": date(2024, 2, 29), "end": date(2024, 3, 31), "days": 31}
    assert refund.inputs["paid_to"] == date(2024, 3, 31) and refund.inputs["days"] == 31
    assert refund.amount == refund.inputs["modal_premium"]  # the whole installment, never more


def test_a_surrender_deducts_arrears_loans_and_interest() -> None:
    state = policy(paid_through=date(2023, 3, 1), loans=(open_loan("10000.00", date(2024, 6, 1)),))
    prepared = FAMILY.prepare(context(state, "surrender"), cash.Surrender())
    interest = (Decimal("10000.00") * Decimal("0.05") * 92 / 365).quantize(CENT, ROUND_HALF_UP)
    value = CASH_VALUE - ANNUAL - Decimal("10000.00") - interest  # nothing is paid beyond the request date
    assert value == Decimal("17984.61")
    assert prepared.facts["value"] == cny(value)
    assert prepared.details == {}


def test_a_monthly_payers_refund_is_the_unearned_part_of_the_month() -> None:
    on = date(2024, 9, 15)  # 198 days into policy year 5; paid to 2024-10-01
    state = policy(paid_through=date(2024, 9, 1), frequency="monthly")
    assert state.premium["modal_premium"] == cny(ANNUAL * Decimal("0.09"))
    prepared = FAMILY.prepare(context(state, "surrender", on=on), cash.Surrender())
    value = (Decimal("726.22") + (Decimal("1048.10") - Decimal("726.22")) * 198 / 365) * 50
    expected = (value.quantize(CENT, ROUND_HALF_UP) + Decimal("1468.22") * 16 / 30).quantize(CENT, ROUND_HALF_UP)
    assert prepared.facts["value"] == cny(expected)


def test_a_single_premium_has_nothing_refundable() -> None:
    state = policy(payment_years=1, paid_through=date(2020, 3, 1))
    assert cash.refundable_premium(state, ON).amount.amount == 0
    assert cash.refundable_premium(policy(), date(2040, 6, 1)).amount.amount == 0  # past the payment term
    assert cash.refundable_premium(policy(), ON).amount.amount == ANNUAL * 181 / 365


def test_a_surrender_is_never_below_zero() -> None:
    state = policy(loans=(open_loan("60000.00", date(2024, 6, 1)),))
    prepared = FAMILY.prepare(context(state, "surrender"), cash.Surrender())
    assert prepared.facts["value"] == money("0.00") and prepared.payout is not None


@settings(max_examples=150, deadline=None)
@given(value=st.integers(min_value=0, max_value=10**8).map(lambda n: Decimal(n) / 100),
       loans=st.lists(st.integers(min_value=1, max_value=10**8).map(lambda n: Decimal(n) / 100), max_size=3),
       paid_years=st.integers(min_value=0, max_value=19),
       on=st.dates(min_value=date(2020, 3, 1), max_value=date(2045, 12, 31)))
def test_a_surrender_value_is_never_negative(value: Decimal, loans: list[Decimal], paid_years: int,
                                             on: date) -> None:
    state = policy(paid_through=add_months(date(2020, 3, 1), 12 * paid_years),
                   loans=tuple(open_loan(str(principal), min(on, date(2024, 1, 1))) for principal in loans))
    prepared = FAMILY.prepare(context(state, "surrender", on=on, cash_value=_cash(value)), cash.Surrender())
    assert prepared.payout is not None
    paid = Decimal(prepared.payout["amount"]["amount"])
    assert paid >= 0
    assert paid <= (value + cash.refundable_premium(state, on).amount.amount).quantize(CENT, ROUND_HALF_UP)


def test_every_operation_of_the_family_is_in_the_catalog() -> None:
    for code in FAMILY.inputs:
        assert CATALOG.get(code).family == FAMILY.name
