"""Loan family: policy loans against the cash value, their repayment, and the automatic premium loan switch.

A policy loan is a lien, not a new contract version: the loan joins the policy's open loans (principal, yearly
rate, start and due dates) and accrues simple interest, actual/365, from its start: the day it is paid out, which
is the day the request completes (after review, confirmation and cooling-off), not the day it was asked for. What
may be lent is
``ratio x (cash value - debts)``, the debts being every open loan's principal and interest to the request date and
the premiums of due dates already past and unpaid. The same debts are deducted from every payout, so this module
also holds the reading of a policy's cash value and debts that the cash and plan families use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, PlainSerializer, StrictBool, WithJsonSchema

from ledger.clock import add_months
from ledger.errors import ValidationFailed
from ledger.money import CENT, Money, parse_decimal, round_cent
from ledger.policies.state import PolicyState
from ledger.servicing.catalog import LoanTerms, PremiumLoanTerms
from ledger.servicing.families.base import (
    Context,
    Input,
    Person,
    Prepared,
    amount_record,
    days_between,
    refuse,
    simple_interest,
)

__all__ = ["FAMILY", "Amount", "AutoPremiumLoan", "CashValueOn", "Debts", "Loan", "LoanOwed", "LoanRepayment",
           "PolicyLoan", "cash_value_on", "debts_on", "loan_rate", "loans_owed", "ratio_limit", "unpaid_dues"]

MAX_AMOUNT = Decimal(10) ** 12  # no request moves this much; a bound on the input alone
MONTHS_CAP = 120  # a bound on the input alone; the catalog's max_months is the limit a loan is held to


def _amount(value: object) -> Decimal:
    try:
        parsed = parse_decimal(value, field="amount")
    except ValidationFailed as exc:
        raise ValueError(exc.message) from exc
    if not 0 < parsed < MAX_AMOUNT or parsed != round_cent(parsed):
        raise ValueError(f"must be an amount above 0 in yuan with at most 2 decimals, such as \"5000.00\", "
                         f"got {value!r}")
    return parsed


# An amount of money asked for: a decimal string (or int) above 0 with at most two decimals; never a float.
Amount = Annotated[Decimal, BeforeValidator(_amount), PlainSerializer(str, return_type=str), WithJsonSchema(
    {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$",
     "description": "an amount in CNY above 0 with at most 2 decimals, e.g. \"5000.00\""})]


class PolicyLoan(Input):
    amount: Amount
    months: int | None = Field(default=None, ge=1, le=MONTHS_CAP, strict=True)  # None: the catalog's max_months


class LoanRepayment(Input):
    amount: Amount | None = None  # None: everything owed on the request date


class AutoPremiumLoan(Input):
    enabled: StrictBool


# -- what a policy owes and is worth on a day ------------------------------------------------------------------

@dataclass(frozen=True)
class LoanOwed:
    """One open loan on a day: its principal and yearly rate, and the simple interest of the days since its start."""

    index: int  # its place in the policy's list of open loans
    loan: Mapping[str, Any]  # as the policy keeps it
    principal: Money
    rate: Decimal
    start: date
    days: int
    interest: Money

    @property
    def owed(self) -> Money:
        return self.principal + self.interest

    def to_json(self) -> dict[str, Any]:
        return {"request_id": self.loan.get("request_id", ""), "principal": self.principal.to_json(),
                "rate": str(self.rate), "start": self.start.isoformat(), "due": self.loan.get("due"),
                "days": self.days, "interest": self.interest.to_json(), "owed": self.owed.to_json()}


def loans_owed(policy: PolicyState, on: date) -> tuple[LoanOwed, ...]:
    """The policy's open loans with the interest accrued to ``on``, oldest first (by start, then as listed)."""
    owed = []
    for index, loan in enumerate(policy.loans):
        principal = Money.from_json(loan["principal"], field=f"loans[{index}].principal")
        rate = parse_decimal(loan["rate"], field=f"loans[{index}].rate")
        start = date.fromisoformat(loan["start"])
        days = days_between(start, on)
        owed.append(LoanOwed(index=index, loan=loan, principal=principal, rate=rate, start=start, days=days,
                             interest=simple_interest(principal, rate=rate, days=days)))
    return tuple(sorted(owed, key=lambda item: (item.start, item.index)))


def unpaid_dues(policy: PolicyState, *, before: date) -> tuple[date, ...]:
    """Premium due dates before ``before`` neither paid nor waived (the premiums in arrears)."""
    settled = set(policy.paid_dues) | set(policy.waived_dues)
    return tuple(due for due in policy.due_dates() if due < before and due.isoformat() not in settled)


@dataclass(frozen=True)
class Debts:
    """What the policyholder owes on a day: open loans with their interest, and premiums in arrears."""

    loans: tuple[LoanOwed, ...]
    arrears_dues: tuple[date, ...]
    modal_premium: Money

    @property
    def arrears(self) -> Money:
        return self.modal_premium * len(self.arrears_dues)

    @property
    def loan_principal(self) -> Money:
        return sum((loan.principal for loan in self.loans), Money.zero(self.modal_premium.currency))

    @property
    def loan_interest(self) -> Money:
        return sum((loan.interest for loan in self.loans), Money.zero(self.modal_premium.currency))

    @property
    def total(self) -> Money:
        return self.loan_principal + self.loan_interest + self.arrears

    def to_json(self) -> dict[str, Any]:
        return {"loans": [loan.to_json() for loan in self.loans],
                "arrears": {"dues": [due.isoformat() for due in self.arrears_dues],
                            "modal_premium": self.modal_premium.to_json(), "amount": self.arrears.to_json()},
                "total": self.total.to_json()}


def debts_on(policy: PolicyState, on: date) -> Debts:
    """The policy's debts on ``on``: each open loan's principal and interest to ``on``, and the modal premium of
    each due date before ``on`` left unpaid."""
    modal = Money.from_json(policy.premium["modal_premium"], field="premium.modal_premium").rounded()
    return Debts(loans=loans_owed(policy, on), arrears_dues=unpaid_dues(policy, before=on), modal_premium=modal)


@dataclass(frozen=True)
class CashValueOn:
    """The policy's cash value on the request date, as the service computed it: the amount and its basis."""

    amount: Money
    record: Mapping[str, Any]  # {"amount": Money json, "basis": {...}}

    def tables(self) -> dict[str, Any]:
        """The cash-value table the amount was read from (id and digest), for ``amount_record``; {} if none."""
        basis = self.record.get("basis") or {}
        table = basis.get("cash_value_table")
        return {"cash_values": table} if table else {}


def cash_value_on(ctx: Context) -> CashValueOn:
    """The cash value on ``ctx.on``; zero (with a basis saying so) for a product without one."""
    if ctx.cash_value is None:
        zero = Money.zero(ctx.product.currency)
        return CashValueOn(amount=zero, record={"amount": zero.to_json(), "basis": {"rule": "no cash value"}})
    record = ctx.cash_value(ctx.on)
    return CashValueOn(amount=Money.from_json(record["amount"], field="cash_value.amount"), record=record)


def ratio_limit(ratio: Decimal, *, cash_value: Money, debts: Money) -> Money:
    """``ratio x (cash value - debts)`` rounded DOWN to the fen, so what is granted never exceeds the ratio's
    share (negative when the debts exceed the cash value)."""
    value = ratio * (cash_value.amount - debts.amount)
    return Money(value.quantize(CENT, rounding=ROUND_DOWN), cash_value.currency)


def loan_rate(ctx: Context) -> Decimal:
    """The yearly policy-loan rate: the product's (its ``[servicing]`` loan_rate), else the operation's
    ``interest_rate``. Requires an operation whose money parameters are loan terms."""
    terms = getattr(ctx.product.definition, "servicing", None)
    stated = getattr(terms, "loan_rate", None)
    if stated is not None:
        return Decimal(stated)
    parameters = ctx.operation.money.parameters
    assert isinstance(parameters, PremiumLoanTerms), f"{ctx.operation.code} has no loan terms"
    return parameters.interest_rate


# -- the family ------------------------------------------------------------------------------------------------

class Loan:
    name: ClassVar[str] = "loan"
    inputs: ClassVar[Mapping[str, type[Input]]] = {
        "policy_loan": PolicyLoan, "loan_repayment": LoanRepayment, "auto_premium_loan": AutoPremiumLoan}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """What the request records and changes; see each operation's method for its refusals."""
        if isinstance(data, PolicyLoan):
            return self._loan(ctx, data)
        if isinstance(data, LoanRepayment):
            return self._repayment(ctx, data)
        assert isinstance(data, AutoPremiumLoan)
        return self._automatic(ctx, data)

    @staticmethod
    def _loan(ctx: Context, data: PolicyLoan) -> Prepared:
        """A new loan of ``amount`` for ``months``, limited on the request date; it starts (interest runs, and its
        ``months`` count) on ``ctx.today``, the day it is prepared: at completion, the day the loan takes effect
        on the contract and is paid out (a submission's quote shows it starting that day). Refuses
        ABOVE-MAX-MONTHS, NO-LOAN-VALUE (the limit is not above zero) and ABOVE-LOAN-LIMIT."""
        terms = ctx.operation.money.parameters
        assert isinstance(terms, LoanTerms), f"{ctx.operation.code} has no loan terms"
        months = terms.max_months if data.months is None else data.months
        if months > terms.max_months:
            raise refuse("ABOVE-MAX-MONTHS", f"a policy loan runs for at most {terms.max_months} months, got {months}",
                         f"每笔保单贷款期限最长{terms.max_months}个月，申请为{months}个月", field="input.months")
        on, currency = ctx.on, ctx.product.currency
        cash = cash_value_on(ctx)
        debts = debts_on(ctx.policy, on)
        limit = ratio_limit(terms.ratio, cash_value=cash.amount, debts=debts.total)
        basis_en = f"{terms.ratio} x (cash value {cash.amount.amount} - debts {debts.total.amount})"
        if limit.amount <= 0:
            raise refuse("NO-LOAN-VALUE", f"nothing can be lent on {on}: {basis_en} is {limit.amount} {currency}",
                         f"截至{on}无可贷金额：{terms.ratio} x（现金价值 {cash.amount.amount} - 欠款 "
                         f"{debts.total.amount}）= {limit.amount} 元", field="input.amount")
        requested = Money(data.amount, currency).rounded()
        if limit < requested:
            raise refuse("ABOVE-LOAN-LIMIT", f"the most that can be lent on {on} is {limit.amount} {currency} "
                         f"({basis_en}); asked for {requested.amount}",
                         f"截至{on}最高可贷 {limit.amount} 元（{terms.ratio} x（现金价值 {cash.amount.amount} - 欠款 "
                         f"{debts.total.amount}）），申请金额为 {requested.amount} 元", field="input.amount")
        rate = loan_rate(ctx)
        start = max(ctx.today, on)  # paid out when the request completes: interest runs from then, not from `on`
        due = add_months(start, months)
        # "request_id" is the id of the request being prepared, which the service fills in ("" here).
        loan = {"request_id": "", "principal": requested.to_json(), "rate": str(rate), "start": start.isoformat(),
                "due": due.isoformat()}
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=requested, inputs={
            "cash_value": cash.record, "debts": debts.to_json(), "ratio": terms.ratio, "limit": limit,
            "requested": requested, "rate": rate, "months": months, "max_months": terms.max_months, "start": start,
            "due": due}, tables=cash.tables())
        return Prepared(
            facts={"amount": requested.to_json(), "months": months, "rate": str(rate), "start": start.isoformat(),
                   "due": due.isoformat(), "limit": limit.to_json()},
            amount=amount, changes={"loans": [*(dict(item) for item in ctx.policy.loans), loan]},
            payout={"amount": requested.to_json(), "pay_by": start.isoformat(), "to": "policyholder"})

    @staticmethod
    def _repayment(ctx: Context, data: LoanRepayment) -> Prepared:
        """Repay ``amount`` (default: all owed), oldest loan first and each loan's interest before its principal.
        A loan paid off leaves the list; a loan partly repaid is left owing the rest of its principal and interest
        as its new principal from the request date, or from its own start if it is paid out later (its due date
        unchanged). Refuses NOTHING-OWED and ABOVE-AMOUNT-OWED."""
        on, currency = ctx.on, ctx.product.currency
        owed = loans_owed(ctx.policy, on)
        total = sum((item.owed for item in owed), Money.zero(currency))
        if total.amount <= 0:
            raise refuse("NOTHING-OWED", "the policy has no loan to repay", "保单无待偿还的贷款", field="input.amount")
        paying = total if data.amount is None else Money(data.amount, currency).rounded()
        if total < paying:
            raise refuse("ABOVE-AMOUNT-OWED", f"{total.amount} {currency} is owed on {on} (principal and interest); "
                         f"asked to repay {paying.amount}", f"截至{on}贷款本息合计 {total.amount} 元，还款金额 "
                         f"{paying.amount} 元超出欠款", field="input.amount")
        left = paying.amount
        kept: dict[int, dict[str, Any] | None] = {}
        applied = []
        for item in owed:
            if left <= 0:
                break
            interest = min(left, item.interest.amount)
            principal = min(left - interest, item.principal.amount)
            left -= interest + principal
            rest = item.owed.amount - interest - principal
            kept[item.index] = None if rest == 0 else {
                **item.loan, "principal": Money(rest, currency).to_json(), "start": max(on, item.start).isoformat()}
            applied.append({"request_id": item.loan.get("request_id", ""), "interest": Money(interest, currency),
                            "principal": Money(principal, currency), "closed": rest == 0,
                            "left": Money(rest, currency)})
        loans = [dict(loan) if index not in kept else kept[index] for index, loan in enumerate(ctx.policy.loans)]
        remaining = [loan for loan in loans if loan is not None]
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=paying, inputs={
            "loans": [item.to_json() for item in owed], "owed": total, "repaid": paying, "applied": applied})
        return Prepared(
            facts={"amount": paying.to_json(), "owed": total.to_json(),
                   "closed": [entry["request_id"] for entry in applied if entry["closed"]],
                   "open_loans": len(remaining)},
            amount=amount, changes={"loans": remaining})

    @staticmethod
    def _automatic(ctx: Context, data: AutoPremiumLoan) -> Prepared:
        """Turn the automatic premium loan on or off; refuses ALREADY-ON and ALREADY-OFF."""
        if data.enabled == ctx.policy.auto_premium_loan:
            if data.enabled:
                raise refuse("ALREADY-ON", "the automatic premium loan is already on", "自动垫交保费已开通",
                             field="input.enabled")
            raise refuse("ALREADY-OFF", "the automatic premium loan is already off", "自动垫交保费未开通",
                         field="input.enabled")
        terms = ctx.operation.money.parameters
        assert isinstance(terms, PremiumLoanTerms), f"{ctx.operation.code} has no premium-loan terms"
        return Prepared(facts={"enabled": data.enabled, "ratio": str(terms.ratio), "rate": str(loan_rate(ctx))},
                        changes={"auto_premium_loan": data.enabled})


FAMILY = Loan()
