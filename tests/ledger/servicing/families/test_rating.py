"""The rating family: an occupation change re-rated from the product's tables, the difference over the
installments still to fall due (either way), and a class the product does not cover refused.

The accident product (accident-v1-rates) charges per 10,000 a year, at ages 18-50: 1.00 in class 1, 2.00 in
class 3 (classes 5 and 6 are not covered); monthly installments are x 0.085. Whole life does not rate by class.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.errors import Refused
from ledger.kernel import Actor, Event
from ledger.money import Money
from ledger.policies import decide as policy_rules
from ledger.policies.service import PolicyService, _plan, _quote_json
from ledger.policies.state import MONTHS, PolicyState, evolve, with_changes
from ledger.products.catalog import Product, ProductCatalog, default_products_dir
from ledger.servicing.catalog import ServicingCatalog, default_catalog_path, load_catalog
from ledger.servicing.families import rating
from ledger.servicing.families.base import Context

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG: ServicingCatalog = load_catalog(default_catalog_path())
FAMILY = rating.FAMILY
ACCIDENT = PRODUCTS.get("accident")
WHOLE_LIFE = PRODUCTS.get("whole-life")
CENT = Decimal("0.01")
ON = date(2024, 5, 10)


def money(value: Decimal | str) -> dict[str, str]:
    amount = value if isinstance(value, str) else str(value.quantize(CENT, ROUND_HALF_UP))
    return {"amount": amount, "currency": "CNY"}


def policy(product: Product, *, occupation_class: int = 1, **values: Any) -> PolicyState:
    """Accident cover of 1,000,000 for a year paid monthly from 2024-01-01 (or whole life of 500,000, 20 years
    annual from 2020-03-01), for a man of 40, every due date up to 2024-05-01 paid."""
    if product.id == "accident":
        raw = {"sum_insured": money("1000000"), "term_years": 1, "payment_years": 1, "frequency": "monthly"}
        effective, installments = date(2024, 1, 1), 12
    else:
        raw = {"sum_insured": money("500000"), "term_years": None, "payment_years": 20, "frequency": "annual"}
        effective, installments = date(2020, 3, 1), 20
    assert installments * MONTHS[raw["frequency"]] in (12, 240)
    state = dataclasses.replace(
        PolicyState(), status="InForce", plan=raw, effective_date=effective, installments=installments,
        premium=_quote_json(product, _plan(product, raw), age=40, sex="M", occupation_class=occupation_class,
                            extra=Decimal(0)),
        product={"id": product.id, "version": product.version, "digest": product.digest, "kind": product.kind},
        insured_age=40, insured_sex="M", occupation_class=occupation_class, policyholder="P1", insured="P1")
    paid = tuple(due.isoformat() for due in state.due_dates() if due <= date(2024, 5, 1))
    return dataclasses.replace(state, paid_dues=paid, **values)


def context(state: PolicyState, product: Product, *, on: date = ON) -> Context:
    return Context(policy=state, product=product, operation=CATALOG.get("occupation_change"),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=on,
                   now=datetime(on.year, on.month, on.day, 9, tzinfo=UTC), cash_value=None, requester="P1")


def change(occupation_class: int, changed_on: str = "2024-05-05") -> rating.OccupationChange:
    return rating.OccupationChange.model_validate({"occupation_class": occupation_class, "changed_on": changed_on})


def refused(rule: str, ctx: Context, data: rating.OccupationChange) -> Refused:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(ctx, data)
    assert caught.value.rule == rule
    return caught.value


def test_a_riskier_occupation_costs_the_difference_over_the_installments_left() -> None:
    prepared = FAMILY.prepare(context(policy(ACCIDENT), ACCIDENT), change(3))
    before = (Decimal("1.00") * 100 * Decimal("0.085")).quantize(CENT, ROUND_HALF_UP)  # 100.00 a year: 8.50
    after = (Decimal("2.00") * 100 * Decimal("0.085")).quantize(CENT, ROUND_HALF_UP)  # 200.00 a year: 17.00
    remaining = 7  # June to December 2024 fall due after 2024-05-10
    assert prepared.facts == {"occupation_class": 3, "from_class": 1, "changed_on": "2024-05-05",
                              "premium": money(after)}
    assert prepared.amount is not None
    assert prepared.amount["value"] == money((after - before) * remaining)
    assert prepared.amount["value"] == money("59.50")
    assert prepared.amount["formula"] == "occupation_rerating"
    assert prepared.amount["inputs"]["installments"] == remaining
    assert prepared.amount["inputs"]["premium_before"] == money("8.50")
    assert prepared.changes["occupation_class"] == 3
    assert prepared.changes["premium"]["annual_premium"] == money("200.00")
    changed = with_changes(policy(ACCIDENT), prepared.changes)
    assert changed.occupation_class == 3 and changed.premium["modal_premium"] == money("17.00")


def test_a_safer_occupation_gives_the_difference_back() -> None:
    prepared = FAMILY.prepare(context(policy(ACCIDENT, occupation_class=3), ACCIDENT), change(1))
    assert prepared.amount is not None and prepared.amount["value"] == money("-59.50")
    assert prepared.changes["premium"]["modal_premium"] == money("8.50")


def pay_next(state: PolicyState) -> PolicyState:
    """The next installment paid on its due date as the payments system pays it: the modal premium due then,
    through the policies' own rules and fold."""
    due = state.next_due()
    assert due is not None
    now = datetime(due.year, due.month, due.day, 2, tzinfo=UTC)
    amount = Money.from_json(state.premium["modal_premium"]).rounded()
    [paid] = policy_rules.decide(state, policy_rules.Pay(amount=amount, payment_ref=f"PAY-{due}",
                                                         paid_at=f"{due}T02:00:00Z",
                                                         actor=Actor("system", "payments"), today=due), now)
    return evolve(state, Event(index=state.last_seq + 1, seq=state.last_seq + 1, type=paid.type,
                               event_id=f"e{due}", recorded_at=now, facts=dict(paid.facts)))


def test_after_a_re_rating_the_one_year_cash_value_counts_each_installment_at_what_was_paid_for_it() -> None:
    """January to May paid at class 1 (8.50 a month), re-rated to class 3 on 2024-05-10 (17.00), June paid at
    17.00: on 2024-06-15 the cash value is (5 x 8.50 + 17.00) x (1 - 30%) x (1 - 166 / 182), not 6 x 17.00 x ..."""
    state = dataclasses.replace(policy(ACCIDENT), paid_dues=())
    for _ in range(5):
        state = pay_next(state)
    assert state.paid_dues[-1] == "2024-05-01"
    re_rated = with_changes(state, FAMILY.prepare(context(state, ACCIDENT), change(3)).changes)
    assert re_rated.premium["modal_premium"] == money("17.00")
    june = pay_next(re_rated)
    value = PolicyService._cash_value_of(june, ACCIDENT)(date(2024, 6, 15))
    paid = Decimal("8.50") * 5 + Decimal("17.00")  # 59.50
    covered, elapsed = (date(2024, 7, 1) - date(2024, 1, 1)).days, (date(2024, 6, 15) - date(2024, 1, 1)).days
    assert (covered, elapsed) == (182, 166)
    assert value["amount"] == money(paid * Decimal("0.70") * (1 - Decimal(elapsed) / covered))  # 3.66, not 6.28
    inputs = value["basis"]["inputs"]
    assert inputs["premium"] == money("59.50")
    assert [item["premium"]["amount"] for item in inputs["premiums_paid"]] == ["8.50"] * 5 + ["17.00"]
    assert june.due_premiums["2024-06-01"] == money("17.00") and june.due_premiums["2024-05-01"] == money("8.50")


def test_whole_life_is_not_rated_by_occupation() -> None:
    prepared = FAMILY.prepare(context(policy(WHOLE_LIFE), WHOLE_LIFE, on=date(2024, 9, 1)), change(5))
    assert prepared.amount is not None and Decimal(prepared.amount["value"]["amount"]) == 0
    assert prepared.amount["inputs"]["installments"] == 15  # 2025-03-01 to 2039-03-01
    assert prepared.changes["occupation_class"] == 5
    assert prepared.changes["premium"]["modal_premium"] == policy(WHOLE_LIFE).premium["modal_premium"]


def test_an_uninsurable_class_is_refused_and_ends_nothing() -> None:
    error = refused("UNINSURABLE-CLASS", context(policy(ACCIDENT), ACCIDENT), change(5))
    assert "cash value" in str(error) and "现金价值" in error.zh and error.field == "input.occupation_class"
    refused("UNINSURABLE-CLASS", context(policy(WHOLE_LIFE), WHOLE_LIFE), change(6))


def test_occupation_change_refusals() -> None:
    refused("SAME-OCCUPATION-CLASS", context(policy(ACCIDENT), ACCIDENT), change(1))
    refused("CHANGED-AFTER-REQUEST", context(policy(ACCIDENT), ACCIDENT), change(3, "2024-05-11"))


@pytest.mark.parametrize("raw", [{"occupation_class": 7, "changed_on": "2024-05-05"},
                                 {"occupation_class": 0, "changed_on": "2024-05-05"},
                                 {"occupation_class": "3", "changed_on": "2024-05-05"},
                                 {"occupation_class": 3, "changed_on": "5 May"},
                                 {"occupation_class": 3}])
def test_the_input_is_a_class_1_to_6_and_a_date(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rating.OccupationChange.model_validate(raw)


def test_every_operation_of_the_family_is_in_the_catalog() -> None:
    for code in FAMILY.inputs:
        assert CATALOG.get(code).family == FAMILY.name


def test_a_re_rating_keeps_the_riders_installments_and_charges_only_the_base_difference() -> None:
    from ledger.servicing.families.plan import with_rider_installment

    plain = policy(ACCIDENT)
    rider = {"amount": "4.20", "currency": "CNY"}
    carrying = dataclasses.replace(plain, premium=with_rider_installment(plain.premium, Money.from_json(rider)),
                                   riders=({"product": {"id": "hospital-allowance"}},))
    without = FAMILY.prepare(context(plain, ACCIDENT), change(3))
    with_rider = FAMILY.prepare(context(carrying, ACCIDENT), change(3))
    assert with_rider.amount is not None and without.amount is not None
    assert with_rider.amount["value"] == without.amount["value"]  # the rider's share is not re-rated away
    base_after = Decimal(without.changes["premium"]["modal_premium"]["amount"])
    assert with_rider.changes["premium"]["modal_premium"] == money(base_after + Decimal("4.20"))
    assert with_rider.changes["premium"]["riders_modal_premium"] == money("4.20")
