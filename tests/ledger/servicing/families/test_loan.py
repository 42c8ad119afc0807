"""The loan family: policy loans within ratio x (cash value - debts), repayment oldest first and interest before
principal, and the automatic premium loan switch, on a whole-life policy priced and valued from the shipped tables.

The policy: whole life, 500,000, 20-year annual payment, a man of 40, effective 2020-03-01. Its premium is
326.27 per 10,000 a year (whole-life-v1-rates, M, 20-pay, age 40) = 16,313.50. Its cash value per 10,000 from
whole-life-v1-cash-values (M, 20-pay, age 40) is 726.22 at the end of policy year 4 and 1,048.10 at the end of
year 5; on 2024-09-01 (184 days into year 5) it is (726.22 + (1048.10 - 726.22) x 184 / 365) x 50.
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
from ledger.policies.state import PolicyState, with_changes
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import Operation, ServicingCatalog, default_catalog_path, load_catalog
from ledger.servicing.families import loan
from ledger.servicing.families.base import Context, Input

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG: ServicingCatalog = load_catalog(default_catalog_path())
FAMILY = loan.FAMILY
ON = date(2024, 9, 1)
CENT = Decimal("0.01")
# The cash value on ON, by hand from the table values quoted above.
CASH_VALUE = ((Decimal("726.22") + (Decimal("1048.10") - Decimal("726.22")) * 184 / 365) * 50).quantize(
    CENT, ROUND_HALF_UP)


def policy(*, paid_through: date = date(2024, 3, 1), product: str = "whole-life", **values: Any) -> PolicyState:
    """The whole-life policy above, with every annual due up to ``paid_through`` paid."""
    found = PRODUCTS.get(product)
    plan = {"sum_insured": {"amount": "500000", "currency": "CNY"}, "term_years": None, "payment_years": 20,
            "frequency": "annual"}
    state = dataclasses.replace(
        PolicyState(), status="InForce", plan=plan, effective_date=date(2020, 3, 1), installments=20,
        premium=_quote_json(found, _plan(found, plan), age=40, sex="M", occupation_class=1, extra=Decimal(0)),
        product={"id": found.id, "version": found.version, "digest": found.digest, "kind": found.kind},
        insured_age=40, insured_sex="M", occupation_class=1, policyholder="P1", insured="P1")
    paid = tuple(due.isoformat() for due in state.due_dates() if due <= paid_through)
    return dataclasses.replace(state, paid_dues=paid, **values)


def open_loan(principal: str, start: date, *, request_id: str = "r-1", rate: str = "0.05") -> dict[str, Any]:
    return {"request_id": request_id, "principal": {"amount": principal, "currency": "CNY"}, "rate": rate,
            "start": start.isoformat(), "due": add_months(start, 6).isoformat()}


def context(state: PolicyState, code: str, *, on: date = ON, operation: Operation | None = None,
            cash_value: Callable[[date], dict[str, Any]] | None = None) -> Context:
    product = PRODUCTS.get(state.product["id"])
    return Context(policy=state, product=product, operation=operation or CATALOG.get(code),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=on,
                   now=datetime(on.year, on.month, on.day, 9, tzinfo=UTC),
                   cash_value=cash_value or PolicyService._cash_value_of(state, product), requester="P1")


def refused(rule: str, ctx: Context, data: Input) -> Refused:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(ctx, data)
    assert caught.value.rule == rule
    return caught.value


def test_the_hand_computed_cash_value_is_the_services() -> None:
    assert Decimal("44424.14") == CASH_VALUE
    assert PolicyService._cash_value_of(policy(), PRODUCTS.get("whole-life"))(ON)["amount"]["amount"] == "44424.14"
    assert policy().premium["modal_premium"]["amount"] == str(Decimal("326.27") * 50)


# -- policy loan -----------------------------------------------------------------------------------------------

def test_a_loan_within_the_limit_joins_the_open_loans_and_is_paid_out() -> None:
    prepared = FAMILY.prepare(context(policy(), "policy_loan"), loan.PolicyLoan(amount="30000"))
    limit = (Decimal("0.80") * CASH_VALUE).quantize(CENT, ROUND_DOWN)  # 35,539.31
    assert limit == Decimal("35539.31")
    assert prepared.changes == {"loans": [{"request_id": "", "principal": {"amount": "30000.00", "currency": "CNY"},
                                           "rate": "0.05", "start": "2024-09-01", "due": "2025-03-01"}]}
    assert prepared.payout == {"amount": {"amount": "30000.00", "currency": "CNY"}, "pay_by": "2024-09-01",
                               "to": "policyholder"}
    assert prepared.facts == {"amount": {"amount": "30000.00", "currency": "CNY"}, "months": 6, "rate": "0.05",
                              "start": "2024-09-01", "due": "2025-03-01",
                              "limit": {"amount": str(limit), "currency": "CNY"}}
    assert prepared.amount is not None
    assert prepared.amount["value"] == {"amount": "30000.00", "currency": "CNY"}
    assert prepared.amount["formula"] == "loan_limit"
    inputs = prepared.amount["inputs"]
    assert inputs["cash_value"]["amount"]["amount"] == str(CASH_VALUE)
    assert inputs["cash_value"]["basis"]["cash_value_table"]["id"] == "whole-life-v1-cash-values"
    assert inputs["limit"]["amount"] == str(limit) and inputs["ratio"] == "0.80"
    assert Decimal(inputs["debts"]["total"]["amount"]) == 0
    assert prepared.amount["tables"]["cash_values"]["id"] == "whole-life-v1-cash-values"
    # the contract takes the change: the service fills in the request id
    assert with_changes(policy(), prepared.changes).loans[0]["principal"]["amount"] == "30000.00"


def test_a_loan_runs_from_the_day_it_is_paid_out_not_the_day_it_was_asked_for() -> None:
    """Asked for on 2024-09-01, the loan completes (confirmed, approved, its 24-hour cooling-off out) and is paid
    out on 2024-09-05: its interest and its six months run from that day; its limit is the request date's."""
    paid_out = date(2024, 9, 5)
    ctx = dataclasses.replace(context(policy(), "policy_loan", on=paid_out), request_date=ON)
    prepared = FAMILY.prepare(ctx, loan.PolicyLoan(amount="30000"))
    granted = prepared.changes["loans"][0]
    assert (granted["start"], granted["due"]) == ("2024-09-05", "2025-03-05")
    assert prepared.payout == {"amount": {"amount": "30000.00", "currency": "CNY"}, "pay_by": "2024-09-05",
                               "to": "policyholder"}
    assert prepared.amount is not None and prepared.amount["on"] == "2024-09-01"
    inputs = prepared.amount["inputs"]
    assert (inputs["start"], inputs["due"]) == ("2024-09-05", "2025-03-05")
    assert inputs["limit"]["amount"] == str((Decimal("0.80") * CASH_VALUE).quantize(CENT, ROUND_DOWN))
    lent = with_changes(policy(), prepared.changes)
    [owed] = loan.loans_owed(lent, date(2024, 10, 5))
    assert owed.days == 30  # not the 34 days from the request
    assert owed.interest.amount == (Decimal(30000) * Decimal("0.05") * 30 / 365).quantize(CENT, ROUND_HALF_UP)
    assert loan.loans_owed(lent, date(2024, 9, 3))[0].interest.amount == 0  # nothing before it is paid out


def test_open_loans_and_their_interest_lower_the_limit() -> None:
    state = policy(loans=(open_loan("10000.00", date(2024, 6, 1)),))
    interest = (Decimal("10000.00") * Decimal("0.05") * 92 / 365).quantize(CENT, ROUND_HALF_UP)  # 92 days: 126.03
    limit = (Decimal("0.80") * (CASH_VALUE - Decimal("10000.00") - interest)).quantize(CENT, ROUND_DOWN)
    assert limit == Decimal("27438.48")
    error = refused("ABOVE-LOAN-LIMIT", context(state, "policy_loan"), loan.PolicyLoan(amount=str(limit + CENT)))
    assert "27438.48" in str(error) and "27438.48" in error.zh and error.field == "input.amount"
    prepared = FAMILY.prepare(context(state, "policy_loan"), loan.PolicyLoan(amount=str(limit), months=3))
    assert prepared.changes["loans"][0] == open_loan("10000.00", date(2024, 6, 1))
    assert prepared.changes["loans"][1]["due"] == "2024-12-01"
    assert prepared.amount is not None
    owed = prepared.amount["inputs"]["debts"]["loans"][0]
    assert (owed["days"], owed["interest"]["amount"]) == (92, "126.03")


def test_premiums_in_arrears_are_debts() -> None:
    state = policy(paid_through=date(2023, 3, 1))  # the 2024-03-01 premium is unpaid on 2024-09-01
    limit = (Decimal("0.80") * (CASH_VALUE - Decimal("16313.50"))).quantize(CENT, ROUND_DOWN)
    assert limit == Decimal("22488.51")
    refused("ABOVE-LOAN-LIMIT", context(state, "policy_loan"), loan.PolicyLoan(amount="22488.52"))
    prepared = FAMILY.prepare(context(state, "policy_loan"), loan.PolicyLoan(amount="22488.51"))
    assert prepared.amount is not None
    assert prepared.amount["inputs"]["debts"]["arrears"]["dues"] == ["2024-03-01"]


def test_no_loan_when_debts_take_the_cash_value() -> None:
    state = policy(loans=(open_loan("44424.14", date(2024, 6, 1)),))
    error = refused("NO-LOAN-VALUE", context(state, "policy_loan"), loan.PolicyLoan(amount="1"))
    assert "nothing can be lent" in str(error)


def test_a_loan_runs_at_most_the_catalogs_months() -> None:
    refused("ABOVE-MAX-MONTHS", context(policy(), "policy_loan"), loan.PolicyLoan(amount="100", months=7))


def _with_interest_rate(code: str, rate: str) -> Operation:
    operation = CATALOG.get(code)
    parameters = operation.money.parameters.model_copy(update={"interest_rate": Decimal(rate)})
    return operation.model_copy(update={"money": operation.money.model_copy(update={"parameters": parameters})})


def test_the_products_loan_rate_comes_before_the_catalogs() -> None:
    operation = _with_interest_rate("policy_loan", "0.06")
    stated = policy(product="whole-life-participating")  # [servicing] loan_rate = "0.05"
    prepared = FAMILY.prepare(context(stated, "policy_loan", operation=operation), loan.PolicyLoan(amount="100"))
    assert prepared.facts["rate"] == "0.05"
    prepared = FAMILY.prepare(context(policy(), "policy_loan", operation=operation), loan.PolicyLoan(amount="100"))
    assert prepared.facts["rate"] == "0.06"


@pytest.mark.parametrize("amount", ["0", "-5", "1.234", "abc", 1.5, ""])
def test_a_loan_amount_is_a_positive_amount_in_fen(amount: object) -> None:
    with pytest.raises(ValidationError) as caught:
        loan.PolicyLoan.model_validate({"amount": amount})
    assert caught.value.errors()[0]["loc"] == ("amount",)


def test_a_loan_input_takes_no_other_field() -> None:
    with pytest.raises(ValidationError):
        loan.PolicyLoan.model_validate({"amount": "100", "rate": "0.01"})
    with pytest.raises(ValidationError):
        loan.PolicyLoan.model_validate({"amount": "100", "months": 0})


def _cash(amount: Decimal) -> Callable[[date], dict[str, Any]]:
    return lambda on: {"amount": {"amount": str(amount), "currency": "CNY"}, "basis": {"rule": "test"}}


cents = st.integers(min_value=1, max_value=10**9).map(lambda n: Decimal(n) / 100)


@settings(max_examples=200, deadline=None)
@given(cash=st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n) / 100),
       loans=st.lists(st.tuples(st.integers(min_value=1, max_value=10**8).map(lambda n: Decimal(n) / 100),
                                st.integers(min_value=0, max_value=400)), max_size=3),
       requested=cents)
def test_a_loan_never_exceeds_its_limit(cash: Decimal, loans: list[tuple[Decimal, int]], requested: Decimal) -> None:
    state = policy(loans=tuple(open_loan(str(principal), date.fromordinal(ON.toordinal() - days), request_id=f"r{i}")
                               for i, (principal, days) in enumerate(loans)))
    debts = sum((principal + (principal * Decimal("0.05") * days / 365).quantize(CENT, ROUND_HALF_UP)
                 for principal, days in loans), Decimal(0))
    exact = Decimal("0.80") * (cash - debts)
    ctx = context(state, "policy_loan", cash_value=_cash(cash))
    try:
        prepared = FAMILY.prepare(ctx, loan.PolicyLoan(amount=str(requested)))
    except Refused as error:
        assert error.rule in ("ABOVE-LOAN-LIMIT", "NO-LOAN-VALUE")
        assert requested > exact - CENT  # only a request above the limit (rounded down to the fen) is refused
        return
    granted = Decimal(prepared.changes["loans"][-1]["principal"]["amount"])
    assert granted == requested <= exact


# -- repayment -------------------------------------------------------------------------------------------------

# Two open loans on 2024-09-01, listed newest first: B (5,000 from 2024-08-01, 31 days) and A (10,000 from
# 2024-06-01, 92 days), both at 5%.
LOAN_A = open_loan("10000.00", date(2024, 6, 1), request_id="r-a")
LOAN_B = open_loan("5000.00", date(2024, 8, 1), request_id="r-b")
INTEREST_A = (Decimal("10000.00") * Decimal("0.05") * 92 / 365).quantize(CENT, ROUND_HALF_UP)  # 126.03
INTEREST_B = (Decimal("5000.00") * Decimal("0.05") * 31 / 365).quantize(CENT, ROUND_HALF_UP)  # 21.23
OWED = Decimal("15000.00") + INTEREST_A + INTEREST_B


def test_repaying_everything_closes_every_loan() -> None:
    assert (Decimal("126.03"), Decimal("21.23"), Decimal("15147.26")) == (INTEREST_A, INTEREST_B, OWED)
    state = policy(loans=(LOAN_B, LOAN_A))
    prepared = FAMILY.prepare(context(state, "loan_repayment"), loan.LoanRepayment())
    assert prepared.changes == {"loans": []}
    assert prepared.facts["amount"]["amount"] == str(OWED) and prepared.facts["closed"] == ["r-a", "r-b"]
    assert prepared.amount is not None and prepared.amount["value"]["amount"] == "15147.26"
    assert prepared.payout is None


def test_a_partial_repayment_pays_the_oldest_loan_and_interest_first() -> None:
    state = policy(loans=(LOAN_B, LOAN_A))
    prepared = FAMILY.prepare(context(state, "loan_repayment"), loan.LoanRepayment(amount="10200"))
    # A takes 126.03 interest + 10,000 principal; the 73.97 left pays B's 21.23 interest and 52.74 of its principal
    left_on_b = Decimal("5000.00") - (Decimal("10200") - Decimal("10000.00") - INTEREST_A - INTEREST_B)
    assert left_on_b == Decimal("4947.26")
    assert prepared.changes == {"loans": [{**LOAN_B, "principal": {"amount": "4947.26", "currency": "CNY"},
                                           "start": "2024-09-01"}]}
    assert prepared.facts["closed"] == ["r-a"]
    assert prepared.amount is not None
    applied = prepared.amount["inputs"]["applied"]
    assert [(a["interest"]["amount"], a["principal"]["amount"]) for a in applied] == \
        [("126.03", "10000.00"), ("21.23", "52.74")]


def test_a_repayment_below_the_interest_adds_the_rest_of_the_interest_to_the_principal() -> None:
    state = policy(loans=(LOAN_A, LOAN_B))
    prepared = FAMILY.prepare(context(state, "loan_repayment"), loan.LoanRepayment(amount="100"))
    assert prepared.changes == {"loans": [
        {**LOAN_A, "principal": {"amount": str(Decimal("10000.00") + INTEREST_A - 100), "currency": "CNY"},
         "start": "2024-09-01"}, LOAN_B]}


def test_a_partial_repayment_never_restarts_a_loan_before_its_payout() -> None:
    """Loan A is open; a repayment is asked for on 2024-09-01 while a new loan of 30,000 is still on its way (paid
    out on the 5th), and completes on the 6th with both loans on the contract. It closes A and pays part of the new
    loan, whose rest runs from its payout, not from the earlier request date (nothing had accrued before it)."""
    paid_out = date(2024, 9, 5)
    new = open_loan("30000.00", paid_out, request_id="r-new")
    state = policy(loans=(LOAN_A, new))
    ctx = dataclasses.replace(context(state, "loan_repayment", on=date(2024, 9, 6)), request_date=ON)
    prepared = FAMILY.prepare(ctx, loan.LoanRepayment(amount="20000"))
    rest = Decimal("30000.00") - (Decimal(20000) - Decimal("10000.00") - INTEREST_A)  # 20,126.03
    assert prepared.changes == {"loans": [{**new, "principal": {"amount": str(rest), "currency": "CNY"},
                                           "start": "2024-09-05"}]}
    assert prepared.facts["closed"] == ["r-a"]


def test_no_repayment_above_what_is_owed() -> None:
    state = policy(loans=(LOAN_A, LOAN_B))
    error = refused("ABOVE-AMOUNT-OWED", context(state, "loan_repayment"),
                    loan.LoanRepayment(amount=str(OWED + CENT)))
    assert "15147.26" in str(error) and error.field == "input.amount"
    refused("NOTHING-OWED", context(policy(), "loan_repayment"), loan.LoanRepayment())


# -- automatic premium loan ------------------------------------------------------------------------------------

def test_the_automatic_premium_loan_switches_on_and_off() -> None:
    prepared = FAMILY.prepare(context(policy(), "auto_premium_loan"), loan.AutoPremiumLoan(enabled=True))
    assert prepared.changes == {"auto_premium_loan": True} and prepared.amount is None
    assert prepared.facts == {"enabled": True, "ratio": "0.80", "rate": "0.05"}
    on = policy(auto_premium_loan=True)
    assert FAMILY.prepare(context(on, "auto_premium_loan"), loan.AutoPremiumLoan(enabled=False)).changes == \
        {"auto_premium_loan": False}
    refused("ALREADY-ON", context(on, "auto_premium_loan"), loan.AutoPremiumLoan(enabled=True))
    refused("ALREADY-OFF", context(policy(), "auto_premium_loan"), loan.AutoPremiumLoan(enabled=False))
    with pytest.raises(ValidationError):
        loan.AutoPremiumLoan.model_validate({"enabled": "yes"})


def test_every_operation_of_the_family_is_in_the_catalog() -> None:
    for code, model in FAMILY.inputs.items():
        assert CATALOG.get(code).family == FAMILY.name
        assert issubclass(model, Input)
