"""Servicing amounts recomputed from their records alone: every formula's record, as its family prepares it on a
real product and as the journal gives it back (canonical JSON), recomputes to its value; a tampered input, rate,
parameter or value fails naming the formula and what disagreed; an input not recorded says so.

The policy: whole life, 500,000, 20-year payment, a man of 40, effective 2020-03-01; 16,313.50 a year (1,468.22 a
month); on 2024-09-01 its cash value is 44,424.14 (whole-life-v1-cash-values). Loans run at 5 % a year, actual/365.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.clock import add_months
from ledger.errors import Refused, VerificationError
from ledger.log.encoding import canonical_json
from ledger.money import Money
from ledger.policies.service import PolicyService, _plan, _quote_json
from ledger.policies.state import MONTHS, PolicyState
from ledger.products import pricing
from ledger.products.catalog import Product, ProductCatalog, default_products_dir
from ledger.servicing import catalog as servicing_catalog
from ledger.servicing import recompute as module
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.families import base, cash, contract, loan, plan, rating
from ledger.servicing.families.base import Context, Input
from ledger.servicing.recompute import explain, recompute, verify_amount

PRODUCTS = ProductCatalog.load(default_products_dir())
ON_SALE = {product.id: product for product in PRODUCTS.current()}
CATALOG = load_catalog(default_catalog_path())
WHOLE_LIFE, RIDER, ACCIDENT = PRODUCTS.get("whole-life"), PRODUCTS.get("hospital-allowance"), PRODUCTS.get("accident")
ON = date(2024, 9, 1)  # 184 days into policy year 5
Record = dict[str, Any]


def cny(amount: str) -> Money:
    return Money.of(amount)


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def policy(*, paid_through: date = date(2024, 3, 1), frequency: str = "annual", product: Product = WHOLE_LIFE,
           extra: int = 0, **values: Any) -> PolicyState:
    """The whole-life policy above with every due up to ``paid_through`` paid (accident: 1,000,000 for 2024, paid
    monthly), its premium ``extra`` % above the standard one."""
    if product is ACCIDENT:
        raw = {"sum_insured": money("1000000"), "term_years": 1, "payment_years": 1, "frequency": "monthly"}
        effective, installments = date(2024, 1, 1), 12
    else:
        raw = {"sum_insured": money("500000"), "term_years": None, "payment_years": 20, "frequency": frequency}
        effective, installments = date(2020, 3, 1), 20 * 12 // MONTHS[frequency]
    state = dataclasses.replace(
        PolicyState(), status="InForce", plan=raw, effective_date=effective, installments=installments,
        premium=_quote_json(product, _plan(product, raw), age=40, sex="M", occupation_class=1,
                            extra=Decimal(extra)),
        product={"id": product.id, "version": product.version, "digest": product.digest, "kind": product.kind},
        insured_age=40, insured_sex="M", occupation_class=1, policyholder="P1", insured="P1")
    paid = tuple(due.isoformat() for due in state.due_dates() if due <= paid_through)
    return dataclasses.replace(state, paid_dues=paid, **values)


def prepared(family: base.Family, state: PolicyState, code: str, data: Input, *, on: date = ON,
             today: date | None = None) -> Record:
    """The amount ``family`` records for ``data`` asked for on ``on`` and prepared ``today`` (default: that day),
    as the journal gives it back (canonical JSON)."""
    product = PRODUCTS.get(state.product["id"])
    today = today or on
    ctx = Context(policy=state, product=product, operation=CATALOG.get(code),
                  catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=today,
                  now=datetime(today.year, today.month, today.day, 9, tzinfo=UTC), request_date=on,
                  cash_value=PolicyService._cash_value_of(state, product),
                  products=ON_SALE, requester="P1")
    amount = family.prepare(ctx, data).amount
    assert amount is not None
    record: Record = json.loads(canonical_json(dict(amount)))
    return record


def open_loan(principal: str, start: date, request_id: str = "r-1") -> dict[str, Any]:
    return {"request_id": request_id, "principal": money(principal), "rate": "0.05", "start": start.isoformat(),
            "due": add_months(start, 6).isoformat()}


def rider_attached() -> dict[str, Any]:
    """The rider of 100 a day attached from 2024-03-01, priced at 43 (50.40 a year)."""
    raw = {"sum_insured": money("100.00"), "term_years": 1, "payment_years": 1, "frequency": "annual"}
    return {"product": {"id": RIDER.id, "version": RIDER.version, "digest": RIDER.digest}, "plan": raw,
            "premium": _quote_json(RIDER, _plan(RIDER, raw), age=43, sex="M", occupation_class=1, extra=Decimal(0)),
            "from": "2024-03-01"}


def suspended(**values: Any) -> PolicyState:
    return policy(paid_through=date(2023, 3, 1), status="Suspended", lapsed_on=date(2024, 4, 30),
                  reinstate_until=date(2026, 4, 30), **values)


ANSWERS = contract.Reinstatement(answers={"height_cm": 175, "weight_kg": 70, "hospitalised": False})
# The policy's own reinstatement quote of 2024-08-01: 16,313.50 overdue 153 days at 2.1 %: 143.60 of interest.
POLICY_QUOTE = {"accepted": True, "dues": ["2024-03-01"], "overdue": money("16313.50"), "interest": money("143.60"),
                "total": money("16457.10"), "interest_rate": "0.021", "on": "2024-08-01", "valid_until": "2025-02-28"}


def paid_reinstatement() -> Record:
    """A reinstatement completed by its payment: the quote with the payment's amount and the payment as inputs."""
    quote = prepared(contract.FAMILY, suspended(), "reinstatement", ANSWERS)
    payment = {"amount": quote["value"], "payment_ref": "R-1", "paid_at": "2024-09-02T01:00:00Z", "index": 41}
    record: Record = json.loads(canonical_json({**quote, "value": payment["amount"],
                                                "inputs": {"quoted": quote["value"], "payment": payment}}))
    return record


# Each formula's record and what it recomputes to, worked by hand.
RECORDS: dict[str, tuple[Callable[[], Record], str]] = {
    # limit 0.80 x (44,424.14 - (5,000 + 126.03 interest for 184 days + 16,313.50 in arrears)), rounded down
    "loan_limit": (lambda: prepared(loan.FAMILY, policy(paid_through=date(2023, 3, 1), loans=(
        open_loan("5000", date(2024, 3, 1)),)), "policy_loan", loan.PolicyLoan(amount=Decimal(10000))), "10000.00"),
    "loan_repayment": (lambda: prepared(loan.FAMILY, policy(loans=(
        open_loan("5000", date(2024, 3, 1)), open_loan("3000", date(2024, 6, 1), "r-2"))), "loan_repayment",
        loan.LoanRepayment(amount=Decimal(5200))), "5200.00"),
    "partial_withdrawal": (lambda: prepared(cash.FAMILY, policy(), "partial_withdrawal",
                                            cash.PartialWithdrawal(amount=Decimal(10000))), "9900.00"),
    # monthly, paid to 2024-10-01, surrendered 2024-09-11 with a loan of 2,000 open since 2024-03-01
    "surrender_value": (lambda: prepared(cash.FAMILY, policy(frequency="monthly", paid_through=date(2024, 9, 1),
                                                             loans=(open_loan("2000", date(2024, 3, 1)),)),
                                         "surrender", cash.Surrender(), on=date(2024, 9, 11)), "43790.73"),
    # one-year accident cover paid January to May at 8.50: 42.50 x 70% x (1 - 130 / 152) + 8.50 x 22 / 31
    "surrender_value/one_year": (lambda: prepared(cash.FAMILY, policy(product=ACCIDENT, paid_through=date(2024, 5, 1)),
                                                  "surrender", cash.Surrender(), on=date(2024, 5, 10)), "10.34"),
    "free_look_refund": (lambda: prepared(contract.FAMILY, policy(paid_through=date(2020, 3, 1), status="FreeLook"),
                                          "free_look_cancellation", contract.FreeLookCancellation(),
                                          on=date(2020, 3, 10)), "16313.50"),
    # (44,424.14 - 2,050.41 owed on a loan of 2,000) x 200,000 / 500,000
    "partial_surrender_value": (lambda: prepared(plan.FAMILY, policy(loans=(open_loan("2000", date(2024, 3, 1)),)),
                                                 "sum_assured_decrease",
                                                 plan.SumAssuredDecrease(new_sum_insured=Decimal(300000))), "16949.49"),
    "rider_premium": (lambda: prepared(plan.FAMILY, policy(), "rider_add", plan.RiderAdd.model_validate(
        {"rider": "hospital-allowance", "plan": {"sum_insured": "100", "term_years": 1, "payment_years": 1},
         "answers": {"smoker": False}})),
        "50.40"),
    # 50.40 x (1 - 30 %) x (1 - 184 / 365)
    "rider_cash_value": (lambda: prepared(plan.FAMILY, policy(riders=(rider_attached(),)), "rider_remove",
                                          plan.RiderRemove(rider="hospital-allowance")), "17.50"),
    # (17.00 - 8.50) x the 7 monthly installments after 2024-05-10
    "occupation_rerating": (lambda: prepared(rating.FAMILY, policy(product=ACCIDENT, paid_through=date(2024, 5, 1)),
                                             "occupation_change", rating.OccupationChange.model_validate(
                                                 {"occupation_class": 3, "changed_on": "2024-05-05"}),
                                             on=date(2024, 5, 10)), "59.50"),
    # whole life is not rated by occupation; its quote with 25 % extra is 20,391.875 a year, rounded before the
    # monthly factor: 20,391.88 x 0.09 = 1,835.27 either way
    "occupation_rerating/extra": (lambda: prepared(rating.FAMILY, policy(frequency="monthly", extra=25),
                                                   "occupation_change", rating.OccupationChange.model_validate(
                                                       {"occupation_class": 2, "changed_on": "2024-08-30"})),
                                  "0.00"),
    # 16,313.50 + 16,313.50 x 2.1 % x 184 / 365
    "reinstatement_amount": (lambda: prepared(contract.FAMILY, suspended(), "reinstatement", ANSWERS), "16486.20"),
    "reinstatement_amount/quoted": (lambda: prepared(contract.FAMILY, suspended(reinstatement=POLICY_QUOTE),
                                                     "reinstatement", ANSWERS), "16457.10"),
    "reinstatement_amount/paid": (paid_reinstatement, "16486.20"),
}


def record_of(case: str) -> Record:
    return RECORDS[case][0]()


def tampered(record: Record, path: str, value: Any) -> Record:
    """A deep copy of ``record`` with the value at the dotted ``path`` (list items by number) replaced."""
    copied = copy.deepcopy(record)
    *parents, last = path.split(".")
    node: Any = copied
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return copied


def fails(record: Record, *fragments: str) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_amount(record)
    for fragment in fragments:
        assert fragment in caught.value.message
    return caught.value.message


# -- every formula recomputes --------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(RECORDS))
def test_each_formulas_record_recomputes_to_its_value(case: str) -> None:
    record = record_of(case)
    expected = RECORDS[case][1]
    assert record["value"] == money(expected)  # the family's value is the hand-worked one
    assert recompute(record) == cny(expected)
    verify_amount(record)


def test_the_formulas_recomputed_are_every_catalog_formula_that_moves_money() -> None:
    moving = {name for name, (direction, _) in servicing_catalog.FORMULAS.items() if direction != "none"}
    assert set(module.FORMULAS) == moving == {case.split("/")[0] for case in RECORDS}


def test_the_rule_versions_recomputed_are_the_ones_the_code_cites() -> None:
    assert module.AMOUNT_RULE == base.AMOUNT_RULE
    assert module.PREMIUM_RULE == pricing.PREMIUM_RULE
    assert module.CASH_VALUE_RULES == pricing.CASH_VALUE_RULES
    assert module.AMOUNT_RULES[-1] == module.AMOUNT_RULE and [rule["version"] for rule in module.AMOUNT_RULES] == [1, 2]


def test_the_recomputation_reads_no_catalog_table_clock_or_store() -> None:
    source = Path(module.__file__).read_text(encoding="utf-8")
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert {name for name in imported if name and name.startswith("ledger")} == {
        "ledger.clock", "ledger.errors", "ledger.money"}
    assert "from ledger.clock import add_months" in source  # a calendar sum, not a clock


# -- intermediates, worked by hand ---------------------------------------------------------------------------

def test_a_loan_is_checked_against_its_limit_recomputed_from_cash_value_and_debts() -> None:
    result = explain(record_of("loan_limit"))
    debts = Decimal(5000) + Decimal("126.03") + Decimal("16313.50")  # 5,000 x 5 % x 184 / 365 = 126.027
    assert result.parts == {"cash_value": cny("44424.14"), "debts": Money(debts),
                            "limit": cny("18387.68")}  # 0.80 x 22,984.61 = 18,387.688, rounded down
    assert result.value == cny("10000.00") and result.value <= result.parts["limit"]


def test_a_loan_above_its_recomputed_limit_fails_even_if_its_value_is_consistent() -> None:
    record = record_of("loan_limit")
    over = tampered(tampered(record, "inputs.requested", money("18387.69")), "value", money("18387.69"))
    fails(over, "loan_limit:", "above the limit 18387.68")
    stated = tampered(over, "inputs.limit", money("18387.69"))  # claiming a higher limit does not help
    fails(stated, "loan_limit: inputs.limit is recorded as 18387.69 CNY but recomputes to 18387.68 CNY")


def test_repayment_and_withdrawal_intermediates() -> None:
    repaid = explain(record_of("loan_repayment"))
    assert repaid.parts == {"owed": cny("8163.84")}  # 5,126.03 + 3,037.81 (3,000 x 5 % x 92 / 365)
    withdrawn = explain(record_of("partial_withdrawal"))
    assert withdrawn.parts["fee"] == cny("100.00")  # policy year 5: 1 %
    assert withdrawn.parts["limit"] == cny("35539.31")  # 0.80 x 44,424.14, rounded down


def test_a_loan_runs_from_the_day_it_is_paid_out_on_or_after_its_request_date() -> None:
    record = prepared(loan.FAMILY, policy(), "policy_loan", loan.PolicyLoan(amount=Decimal(10000)),
                      today=date(2024, 9, 4))  # asked for on 2024-09-01, completed and paid out on the 4th
    assert (record["on"], record["inputs"]["start"], record["inputs"]["due"]) == \
        ("2024-09-01", "2024-09-04", "2025-03-04")
    verify_amount(record)
    fails(tampered(record, "inputs.due", "2025-03-01"), "loan_limit: inputs.due is recorded as", "2025, 3, 4")
    fails(tampered(tampered(record, "inputs.start", "2024-08-31"), "inputs.due", "2025-02-28"),
          "loan_limit: inputs.start 2024-08-31 is before the request date 2024-09-01")


def test_a_withdrawal_recomputes_by_the_proportional_rule_under_either_version() -> None:
    """v2 changed only when a loan starts: a withdrawal's sum assured falls in proportion to the cash value taken,
    onto the grid below, in records of v1 and v2 alike (500,000 x (1 - 10,000 / 44,424.14) = 387,448.58...:
    380,000); a sum lowered by the amount withdrawn (490,000) is refused under both."""
    record = record_of("partial_withdrawal")
    assert record["rule"] == base.AMOUNT_RULE == {"name": "servicing-amounts", "version": 2}
    assert record["inputs"]["new_sum_insured"] == money("380000.00")
    for version in (1, 2):
        written = tampered(record, "rule", {"name": "servicing-amounts", "version": version})
        verify_amount(written)
        fails(tampered(written, "inputs.new_sum_insured", money("490000.00")), "partial_withdrawal: inputs."
              "new_sum_insured 490000.00 CNY is not within one step")


def test_records_of_the_first_amounts_rule_still_recompute_as_it_computed_them() -> None:
    """Version 1 started a loan on its request date; its records, as that version wrote them (no start), verify as
    v1 and not as v2."""
    v1 = {"name": "servicing-amounts", "version": 1}
    lent = copy.deepcopy(record_of("loan_limit"))
    del lent["inputs"]["start"]  # v1 recorded none: the loan started on the request date
    lent["rule"] = v1
    verify_amount(lent)
    fails(tampered(lent, "rule", base.AMOUNT_RULE), "loan_limit: cannot be recomputed: input inputs.start is not "
          "recorded")
    fails(tampered(lent, "inputs.due", "2025-03-04"), "loan_limit: inputs.due is recorded as")


def test_a_surrender_refunds_the_unearned_days_of_the_installment() -> None:
    result = explain(record_of("surrender_value"))
    assert result.parts["refundable_premium"] == Money(Decimal("1468.22") * 20 / 30)  # 20 of 30 days unused
    assert result.parts["debts"] == cny("2053.15")  # 2,000 + 2,000 x 5 % x 194 / 365


def test_a_premium_is_rounded_a_year_before_its_modal_factor() -> None:
    record = record_of("occupation_rerating/extra")
    assert record["inputs"]["quote"]["annual_premium"] == money("20391.88")
    assert explain(record).parts == {"premium_after": cny("1835.27")}
    fails(tampered(record, "inputs.quote.annual_premium", money("20391.875")),
          "inputs.quote.annual_premium is recorded as 20391.875 CNY but recomputes to 20391.88 CNY")


# -- tampering -------------------------------------------------------------------------------------------------

TAMPERED = [
    ("loan_limit", "inputs.cash_value.amount", money("44424.15"), "inputs.cash_value.amount is recorded as 44424.15"),
    ("loan_limit", "inputs.cash_value.basis.inputs.table_value", "900", "inputs.cash_value.amount is recorded"),
    ("loan_limit", "parameters.ratio", "0.90", "inputs.ratio"),
    ("loan_limit", "inputs.debts.loans.0.rate", "0.06", "inputs.debts.loans[0].interest"),
    ("loan_limit", "inputs.debts.arrears.dues", [], "inputs.debts.arrears.amount"),
    ("loan_limit", "on", "2024-09-02", "inputs.debts.loans[0].days"),
    ("loan_repayment", "inputs.applied.0.interest", money("0.00"), "inputs.applied[0].interest"),
    ("loan_repayment", "inputs.loans.1.principal", money("3001.00"), "inputs.loans[1].interest"),
    ("partial_withdrawal", "parameters.fees_by_policy_year.4", "0.02", "inputs.fee_rate is recorded as 0.01"),
    ("partial_withdrawal", "inputs.fee_rate", "0", "inputs.fee_rate"),
    ("partial_withdrawal", "inputs.policy_year", 6, "inputs.policy_year"),
    ("surrender_value", "inputs.refundable_premium.days", 25, "inputs.refundable_premium.days"),
    ("surrender_value", "inputs.refundable_premium.modal_premium", money("1500.00"), "refundable_premium.amount"),
    ("free_look_refund", "parameters.fee", money("50.00"), "inputs.fee"),
    ("partial_surrender_value", "inputs.decrease", money("300000.00"), "inputs.decrease"),
    ("partial_surrender_value", "inputs.sum_insured", money("600000.00"), "sum_insured"),
    ("rider_premium", "inputs.premium.inputs.rate", "36.00", "inputs.premium.annual_premium"),
    ("rider_premium", "inputs.age", 41, "inputs.premium.inputs.age"),
    ("rider_cash_value", "inputs.cash_value.inputs.expense_ratio", "0.20", "inputs.cash_value.amount"),
    ("rider_cash_value", "inputs.elapsed_days", 150, "inputs.elapsed_days"),
    ("occupation_rerating", "inputs.premium_before", money("8.00"), "value is recorded as 59.50"),
    ("occupation_rerating", "inputs.quote.inputs.rate", "3.00", "inputs.quote.annual_premium"),
    ("reinstatement_amount", "inputs.interest_rate", "0.03", "inputs.interest"),
    ("reinstatement_amount", "inputs.dues.0.days", 180, "inputs.dues[0].days"),
    ("reinstatement_amount/quoted", "inputs.quoted_on", "2024-07-01", "inputs.interest"),
    ("reinstatement_amount/paid", "inputs.payment.amount", money("16000.00"), "the payment that reinstated"),
    ("loan_limit", "value", money("10000.01"), "value is recorded as 10000.01 CNY but recomputes to 10000.00 CNY"),
    ("surrender_value/one_year", "inputs.cash_value.basis.inputs.premiums_paid.4.premium", money("17.00"),
     "inputs.cash_value.basis.inputs.premium (the installments paid)"),
]


@pytest.mark.parametrize(("case", "path", "value", "message"), TAMPERED,
                         ids=[f"{case}:{path}" for case, path, _, _ in TAMPERED])
def test_a_tampered_record_fails_naming_the_formula_and_what_disagreed(case: str, path: str, value: Any,
                                                                       message: str) -> None:
    formula = case.split("/")[0]
    fails(tampered(record_of(case), path, value), f"{formula}: ", message)


def numbers(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Every decimal string under ``node`` (amounts, rates, table values) with its dotted path."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from numbers(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from numbers(value, (*path, str(index)))
    elif isinstance(node, str):
        try:
            Decimal(node)
        except InvalidOperation:
            return
        yield ".".join(path), node


# Numbers a record holds that its amount does not turn on, and why (by formula, or by case).
UNUSED = {
    ("loan_limit", "inputs.rate"): "the new loan's rate: what it will cost, not how much is lent",
    ("loan_limit", "parameters.interest_rate"): "the same, where the product states no rate",
    ("partial_withdrawal", "inputs.debts.arrears.modal_premium.amount"): "no premium in arrears to multiply",
    ("partial_withdrawal", "inputs.sum_insured_step.amount"): "the new sum assured's grid, not the amount paid",
    ("partial_withdrawal", "parameters.fee_after"): "the fee after the schedule; this is policy year 5",
    **{("partial_withdrawal", f"parameters.fees_by_policy_year.{n}"): "another policy year's fee" for n in range(4)},
    ("surrender_value", "inputs.debts.arrears.modal_premium.amount"): "no premium in arrears to multiply",
    ("surrender_value/one_year", "inputs.cash_value.basis.inputs.plan.sum_insured.amount"): "the one-year rule is on "
                                                                                             "the premiums paid",
    ("partial_surrender_value", "inputs.debts.arrears.modal_premium.amount"): "no premium in arrears to multiply",
    ("rider_cash_value", "inputs.cash_value.inputs.plan.sum_insured.amount"): "the one-year rule is on the premium",
}


@pytest.mark.parametrize("case", sorted(RECORDS))
def test_every_number_the_amount_turns_on_is_checked(case: str) -> None:
    """Each decimal of the inputs and parameters, doubled plus one, fails the verification (but those listed in
    ``UNUSED``, which pass untouched)."""
    record = record_of(case)
    formula = case.split("/")[0]
    for path, value in numbers({"inputs": record["inputs"], "parameters": record["parameters"]}):
        changed = tampered(record, path, str(Decimal(value) * 2 + 1))
        if (formula, path) in UNUSED or (case, path) in UNUSED:
            verify_amount(changed)
        else:
            fails(changed, f"{formula}: ")


# -- what cannot be recomputed ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "path"), [
    ("loan_limit", "inputs.debts"), ("loan_limit", "parameters.ratio"), ("partial_withdrawal", "inputs.fee_rate"),
    ("rider_cash_value", "inputs.cash_value.basis"), ("surrender_value", "inputs.cash_value.basis.inputs"),
    ("occupation_rerating", "inputs.quote.inputs.modal_factor"), ("reinstatement_amount", "inputs.interest_rate")])
def test_an_input_not_recorded_makes_the_amount_not_recomputable(case: str, path: str) -> None:
    record = copy.deepcopy(record_of(case))
    *parents, last = path.split(".")
    node = record
    for key in parents:
        node = node[key]
    del node[last]
    fails(record, f"{case}: cannot be recomputed: input {path} is not recorded")


def test_an_unknown_formula_or_rule_version_is_not_recomputed() -> None:
    record = record_of("loan_limit")
    fails(tampered(record, "formula", "loan_limit_v2"), "cannot be recomputed: no recomputation of formula")
    fails(tampered(record, "rule", {"name": "servicing-amounts", "version": 3}), "loan_limit: cannot be recomputed")
    fails(tampered(record, "inputs.cash_value.basis.rule", {"name": "cash-value-table-linear", "version": 2}),
          "loan_limit: cannot be recomputed: cash-value rule")
    fails(tampered(record_of("rider_premium"), "inputs.premium.basis.rule", {"name": "x", "version": 1}),
          "rider_premium: cannot be recomputed: premium rule")


def test_malformed_fields_and_mixed_currencies_fail_as_verification_errors() -> None:
    record = record_of("loan_limit")
    fails(tampered(record, "inputs.limit", "18387.68"), "loan_limit: inputs.limit is malformed")
    fails(tampered(record, "on", "2024-13-01"), "loan_limit: on is malformed")
    fails(tampered(record, "inputs.debts.loans", {}), "loan_limit: inputs.debts.loans is not a list")
    fails(tampered(record, "inputs.months", "6"), "loan_limit: inputs.months is not a whole number")
    fails(tampered(record, "inputs.debts.arrears.modal_premium", {"amount": "16313.50", "currency": "USD"}),
          "loan_limit: cannot combine")


def test_recompute_gives_the_value_and_verify_compares_the_recorded_one() -> None:
    record = tampered(record_of("partial_withdrawal"), "value", money("9999.00"))
    assert recompute(record) == cny("9900.00")
    fails(record, "partial_withdrawal: value is recorded as 9999.00 CNY but recomputes to 9900.00 CNY")


# -- any withdrawal and surrender the family prepares recomputes ----------------------------------------------

@settings(max_examples=40, deadline=None)
@given(day=st.integers(min_value=0, max_value=3000), fen=st.integers(min_value=100_000, max_value=3_000_000),
       loan_days=st.integers(min_value=0, max_value=400), monthly=st.booleans())
def test_any_withdrawal_and_surrender_recompute(day: int, fen: int, loan_days: int, monthly: bool) -> None:
    on = date(2020, 6, 1) + timedelta(days=day)
    loans = (open_loan("1234.56", on - timedelta(days=loan_days)),)
    state = policy(frequency="monthly" if monthly else "annual", paid_through=on, loans=loans)
    verify_amount(prepared(cash.FAMILY, state, "surrender", cash.Surrender(), on=on))
    try:
        record = prepared(cash.FAMILY, policy(frequency="monthly" if monthly else "annual", paid_through=on),
                          "partial_withdrawal", cash.PartialWithdrawal(amount=Decimal(fen) / 100), on=on)
    except Refused:
        return  # above the limit, or the sum assured would fall below the product's
    verify_amount(record)
