"""The plan family: a sum-assured decrease (its share of the cash value less the same share of debts, premium
re-quoted), and adding and removing the hospital-allowance rider, by hand from the shipped tables.

The base policy: whole life, 500,000, 20-year payment, a man of 40, effective 2020-03-01; premium 326.27 per
10,000 a year (whole-life-v1-rates) = 16,313.50; cash value per 10,000 (whole-life-v1-cash-values, M, 20-pay,
age 40) 726.22 at the end of policy year 4 and 1,048.10 of year 5. The rider (hospital-allowance-v1-rates): 36.00
a year per 100 of daily amount at ages 18-40, 50.40 at 41-50; monthly installments x 0.085; its cash value is
premium x (1 - 30%) x (1 - elapsed days / days paid for).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.errors import Refused
from ledger.policies.service import PolicyService, _plan, _quote_json
from ledger.policies.state import MONTHS, PolicyState, with_changes
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import ServicingCatalog, default_catalog_path, load_catalog
from ledger.servicing.families import plan
from ledger.servicing.families.base import Context, Input

PRODUCTS = ProductCatalog.load(default_products_dir())
ON_SALE = {product.id: product for product in PRODUCTS.current()}
CATALOG: ServicingCatalog = load_catalog(default_catalog_path())
FAMILY = plan.FAMILY
WHOLE_LIFE = PRODUCTS.get("whole-life")
RIDER = PRODUCTS.get("hospital-allowance")
ON = date(2024, 9, 1)  # 184 days into policy year 5
CENT = Decimal("0.01")
ANNUAL = Decimal("326.27") * 50
CASH_VALUE = ((Decimal("726.22") + (Decimal("1048.10") - Decimal("726.22")) * 184 / 365) * 50).quantize(
    CENT, ROUND_HALF_UP)


def money(value: Decimal | str) -> dict[str, str]:
    amount = value if isinstance(value, str) else str(value.quantize(CENT, ROUND_HALF_UP))
    return {"amount": amount, "currency": "CNY"}


def policy(*, paid_through: date = date(2024, 3, 1), frequency: str = "annual", **values: Any) -> PolicyState:
    base = {"sum_insured": money("500000"), "term_years": None, "payment_years": 20, "frequency": frequency}
    state = dataclasses.replace(
        PolicyState(), status="InForce", plan=base, effective_date=date(2020, 3, 1),
        installments=20 * 12 // MONTHS[frequency],
        premium=_quote_json(WHOLE_LIFE, _plan(WHOLE_LIFE, base), age=40, sex="M", occupation_class=1,
                            extra=Decimal(0)),
        product={"id": "whole-life", "version": 1, "digest": WHOLE_LIFE.digest, "kind": "whole_life"},
        insured_age=40, insured_sex="M", occupation_class=1, policyholder="P1", insured="P1")
    paid = tuple(due.isoformat() for due in state.due_dates() if due <= paid_through)
    return dataclasses.replace(state, paid_dues=paid, **values)


def context(state: PolicyState, code: str, *, on: date = ON) -> Context:
    return Context(policy=state, product=WHOLE_LIFE, operation=CATALOG.get(code),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=on,
                   now=datetime(on.year, on.month, on.day, 9, tzinfo=UTC),
                   cash_value=PolicyService._cash_value_of(state, WHOLE_LIFE), products=ON_SALE, requester="P1")


def refused(rule: str, ctx: Context, data: Input) -> Refused:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(ctx, data)
    assert caught.value.rule == rule
    return caught.value


# -- sum-assured decrease --------------------------------------------------------------------------------------

def test_a_decrease_pays_its_share_of_the_cash_value_and_lowers_the_premium() -> None:
    assert Decimal("44424.14") == CASH_VALUE
    prepared = FAMILY.prepare(context(policy(), "sum_assured_decrease"),
                              plan.SumAssuredDecrease(new_sum_insured="300000"))
    paid = CASH_VALUE * Decimal(200000) / Decimal(500000)  # 17,769.656
    assert money(paid) == money("17769.66")
    assert prepared.facts == {"new_sum_insured": money("300000.00"), "sum_insured": money("500000"),
                              "decrease": money("200000.00"), "paid": money(paid),
                              "premium": money(Decimal("326.27") * 30)}
    assert prepared.payout == {"amount": money("17769.66"), "pay_by": "2024-09-01", "to": "policyholder"}
    assert prepared.changes["plan"] == {"sum_insured": money("300000.00")}
    assert prepared.changes["premium"]["annual_premium"] == money("9788.10")
    assert prepared.amount is not None and prepared.amount["value"] == money("17769.66")
    assert prepared.amount["formula"] == "partial_surrender_value"
    assert prepared.amount["tables"]["cash_values"]["id"] == "whole-life-v1-cash-values"
    # the catalog's sum_assured_floor rule reads the new sum as Money JSON
    assert Decimal(prepared.facts["new_sum_insured"]["amount"]) == Decimal(300000)
    changed = with_changes(policy(), prepared.changes)
    assert changed.plan["sum_insured"] == money("300000.00") and changed.plan["payment_years"] == 20


def test_a_decrease_takes_the_same_share_of_debts() -> None:
    state = policy(paid_through=date(2023, 3, 1))  # the 2024-03-01 premium is unpaid
    prepared = FAMILY.prepare(context(state, "sum_assured_decrease"),
                              plan.SumAssuredDecrease(new_sum_insured="300000"))
    assert prepared.facts["paid"] == money((CASH_VALUE - ANNUAL) * Decimal("0.4"))
    assert prepared.facts["paid"] == money("11244.26")


def test_decrease_refusals() -> None:
    ctx = context(policy(), "sum_assured_decrease")
    refused("NOT-A-DECREASE", ctx, plan.SumAssuredDecrease(new_sum_insured="500000"))
    refused("NOT-A-DECREASE", ctx, plan.SumAssuredDecrease(new_sum_insured="600000"))
    refused("SUM-INSURED-STEP", ctx, plan.SumAssuredDecrease(new_sum_insured="305000"))
    error = refused("BELOW-PRODUCT-MINIMUM", ctx, plan.SumAssuredDecrease(new_sum_insured="40000"))
    assert "50000" in str(error)
    with pytest.raises(ValidationError):
        plan.SumAssuredDecrease.model_validate({"new_sum_insured": "-1"})


# -- rider add -------------------------------------------------------------------------------------------------

RIDER_ADD = {"rider": "hospital-allowance", "plan": {"sum_insured": "200", "term_years": 1, "payment_years": 1},
             "answers": {"smoker": False}}  # the declaration is the service's to underwrite; prepare keeps it out


def test_a_rider_is_priced_for_the_insureds_age_at_its_start_the_anniversary() -> None:
    on = date(2025, 2, 15)  # in policy year 5: the insured is 44, and 45 from the next anniversary, 2025-03-01
    prepared = FAMILY.prepare(context(policy(), "rider_add", on=on), plan.RiderAdd.model_validate(RIDER_ADD))
    premium = Decimal("50.40") * 200 / 100  # ages 41-50, per 100 of daily amount
    assert prepared.facts == {"rider": "hospital-allowance", "version": 1, "sum_insured": money("200.00"),
                              "from": "2025-03-01", "premium": money(premium)}
    assert prepared.amount is not None and prepared.amount["value"] == money("100.80")
    assert prepared.amount["formula"] == "rider_premium" and prepared.amount["inputs"]["age"] == 45
    assert prepared.payout is None
    [rider] = prepared.changes["riders"]
    assert rider["product"] == {"id": "hospital-allowance", "version": 1, "digest": RIDER.digest}
    assert rider["plan"] == {"sum_insured": money("200.00"), "term_years": 1, "payment_years": 1,
                             "frequency": "annual"}
    assert rider["from"] == "2025-03-01" and rider["premium"]["modal_premium"] == money("100.80")
    assert with_changes(policy(), prepared.changes).riders == (rider,)


def test_a_rider_is_paid_at_the_base_policys_frequency() -> None:
    state = policy(frequency="monthly", paid_through=date(2025, 2, 1))
    prepared = FAMILY.prepare(context(state, "rider_add", on=date(2025, 2, 15)),
                              plan.RiderAdd.model_validate(RIDER_ADD))
    assert prepared.facts["premium"] == money(Decimal("100.80") * Decimal("0.085"))  # 8.568
    assert prepared.facts["premium"] == money("8.57")
    quarterly = policy(frequency="quarterly", paid_through=date(2024, 12, 1))
    refused("FREQUENCY-NOT-OFFERED", context(quarterly, "rider_add", on=date(2025, 2, 15)),
            plan.RiderAdd.model_validate(RIDER_ADD))


def test_rider_add_refusals() -> None:
    ctx = context(policy(), "rider_add", on=date(2025, 2, 15))
    refused("NOT-A-RIDER", ctx, plan.RiderAdd.model_validate({**RIDER_ADD, "rider": "term-life"}))
    refused("RIDER-NOT-ON-SALE", ctx, plan.RiderAdd.model_validate({**RIDER_ADD, "rider": "dental-cover"}))
    attached = policy(riders=({"product": {"id": "hospital-allowance", "version": 1, "digest": RIDER.digest}},))
    refused("RIDER-ALREADY-ATTACHED", context(attached, "rider_add", on=date(2025, 2, 15)),
            plan.RiderAdd.model_validate(RIDER_ADD))
    old = policy(insured_age=57)  # 61 now: the rider is sold to 60
    refused("AGE-OUT-OF-RANGE", context(old, "rider_add", on=date(2025, 2, 15)),
            plan.RiderAdd.model_validate(RIDER_ADD))
    with pytest.raises(ValidationError):
        plan.RiderAdd.model_validate({**RIDER_ADD, "plan": {"sum_insured": "200", "term_years": "1",
                                                            "payment_years": 1}})


# -- rider remove ----------------------------------------------------------------------------------------------

def rider(*, frequency: str = "annual") -> dict[str, Any]:
    """The rider of 100 a day attached from 2024-03-01, priced at 43 (50.40 a year)."""
    raw = {"sum_insured": money("100.00"), "term_years": 1, "payment_years": 1, "frequency": frequency}
    return {"product": {"id": RIDER.id, "version": RIDER.version, "digest": RIDER.digest}, "plan": raw,
            "premium": _quote_json(RIDER, _plan(RIDER, raw), age=43, sex="M", occupation_class=1, extra=Decimal(0)),
            "from": "2024-03-01"}


def test_removing_a_rider_refunds_its_unearned_premium() -> None:
    other = {"product": {"id": "other-rider", "version": 1, "digest": "sha256:0"}, "from": "2024-03-01"}
    state = policy(riders=(rider(), other))
    prepared = FAMILY.prepare(context(state, "rider_remove"), plan.RiderRemove(rider="hospital-allowance"))
    refund = Decimal("50.40") * (1 - Decimal("0.30")) * (1 - Decimal(184) / 365)  # 184 of 365 days gone
    assert prepared.facts == {"rider": "hospital-allowance", "refund": money(refund)}
    assert prepared.facts["refund"] == money("17.50")
    assert prepared.payout == {"amount": money("17.50"), "pay_by": "2024-09-01", "to": "policyholder"}
    assert prepared.changes["riders"] == [other]
    base = Decimal(state.premium["modal_premium"]["amount"])
    assert prepared.changes["premium"]["modal_premium"] == money(base - Decimal("50.40"))  # its installment off
    assert prepared.amount is not None and prepared.amount["formula"] == "rider_cash_value"
    assert prepared.amount["inputs"]["covered_days"] == 365 and prepared.amount["inputs"]["elapsed_days"] == 184


def test_a_monthly_riders_refund_is_over_the_months_paid() -> None:
    state = policy(frequency="monthly", paid_through=date(2024, 8, 1), riders=(rider(frequency="monthly"),))
    prepared = FAMILY.prepare(context(state, "rider_remove", on=date(2024, 8, 20)),
                              plan.RiderRemove(rider="hospital-allowance"))
    installment = (Decimal("50.40") * Decimal("0.085")).quantize(CENT, ROUND_HALF_UP)  # 4.28
    # six installments (March to August) pay for 2024-03-01..2024-09-01 (184 days); 172 of them are gone
    refund = 6 * installment * (1 - Decimal("0.30")) * (1 - Decimal(172) / 184)
    assert prepared.facts["refund"] == money(refund)
    assert prepared.facts["refund"] == money("1.17")


def test_a_rider_in_arrears_refunds_nothing() -> None:
    # the August installment is unpaid: the paid months are used up, and the unpaid one is owed
    state = policy(frequency="monthly", paid_through=date(2024, 7, 1), riders=(rider(frequency="monthly"),))
    prepared = FAMILY.prepare(context(state, "rider_remove", on=date(2024, 8, 20)),
                              plan.RiderRemove(rider="hospital-allowance"))
    assert prepared.facts["refund"] == money("0.00")
    assert prepared.amount is not None and prepared.amount["inputs"]["unpaid"] == money("4.28")


def test_rider_remove_refusals() -> None:
    refused("RIDER-NOT-ATTACHED", context(policy(), "rider_remove"), plan.RiderRemove(rider="hospital-allowance"))
    stale = {**rider(), "product": {"id": RIDER.id, "version": 0, "digest": "sha256:old"}}
    refused("RIDER-VERSION-UNAVAILABLE", context(policy(riders=(stale,)), "rider_remove"),
            plan.RiderRemove(rider="hospital-allowance"))


def test_every_operation_of_the_family_is_in_the_catalog() -> None:
    for code in FAMILY.inputs:
        assert CATALOG.get(code).family == FAMILY.name


def test_a_rider_whose_anniversary_premium_is_paid_already_starts_with_the_next_due() -> None:
    monthly = policy(frequency="monthly", paid_through=date(2025, 3, 1))  # the 2025-03-01 due paid without it
    prepared = FAMILY.prepare(context(monthly, "rider_add", on=date(2025, 2, 15)),
                              plan.RiderAdd.model_validate(RIDER_ADD))
    assert prepared.facts["from"] == "2025-04-01"  # joins the first installment still to pay, never before
    assert prepared.amount is not None and prepared.amount["inputs"]["age"] == 45
    paid_up = policy(paid_through=date(2039, 3, 1))  # 20 annual premiums from 2020: all paid
    refused("NO-PREMIUM-DUE", context(paid_up, "rider_add", on=date(2025, 2, 15)),
            plan.RiderAdd.model_validate(RIDER_ADD))
