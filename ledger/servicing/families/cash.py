"""Cash family: taking part of the cash value out (partial withdrawal) and ending the contract for it (surrender).

Both pay the policyholder from the cash value on the request date after the policy's debts (open loans with their
interest, premiums in arrears). A withdrawal lowers the sum assured in proportion to the cash value taken and
re-quotes the premium; a surrender ends the contract, clears its loans and gives back the part of the current
installment paid for the time after the request date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from pydantic import Field

from ledger.clock import add_months
from ledger.money import Money
from ledger.policies import state as st
from ledger.servicing.catalog import SurrenderTerms, WithdrawalTerms
from ledger.servicing.eligibility import policy_years
from ledger.servicing.families.base import Context, Input, Person, Prepared, amount_record, days_between, refuse
from ledger.servicing.families.loan import Amount, cash_value_on, debts_on, ratio_limit
from ledger.servicing.families.plan import policy_plan, requote

__all__ = ["FAMILY", "Cash", "PartialWithdrawal", "Refundable", "Surrender", "refundable_premium"]


class PartialWithdrawal(Input):
    amount: Amount


class Surrender(Input):
    reason: str | None = Field(default=None, max_length=500)


@dataclass(frozen=True)
class Refundable:
    """The part of the premiums paid that buys cover after a day: the current installment's unearned days."""

    amount: Money
    inputs: Mapping[str, Any]


def refundable_premium(policy: st.PolicyState, on: date) -> Refundable:
    """The premium paid for the time after ``on``: modal premium x days from ``on`` to the paid-to date / days of
    the installment period holding ``on``.

    The paid-to date is the first due date after the installment holding ``on`` that was not paid, or the end of
    the last installment's period once the payment term is paid. Nothing is refundable for a single premium (it
    pays for the whole term, which the cash value already holds), when premiums are not paid beyond ``on``, or
    when the installment holding ``on`` was not paid: a premium waived by a premium holiday was never paid, so
    none of it is refunded.
    """
    modal = Money.from_json(policy.premium["modal_premium"], field="premium.modal_premium").rounded()
    dues = policy.due_dates()
    months = st.MONTHS[policy.plan["frequency"]]
    if len(dues) <= 1:
        return Refundable(Money.zero(modal.currency), {"modal_premium": modal, "installments": len(dues),
                                                       "note": "single premium: nothing refundable"})
    paid = set(policy.paid_dues)
    started = [due for due in dues if due <= on]
    start = started[-1] if started else None
    unpaid = [due for due in dues if (start is None or due >= start) and due.isoformat() not in paid]
    # Period ends counted from the effective date, as the schedule's due dates are (Jan 31 + 1 month is Feb 28/29,
    # + 2 months Mar 31), never from a due date that was clamped to a month's end.
    term_end = add_months(dues[0], len(dues) * months)
    paid_to = unpaid[0] if unpaid else term_end
    if start is None or paid_to <= on:
        return Refundable(Money.zero(modal.currency), {"modal_premium": modal, "paid_to": paid_to,
                                                       "note": "no premium paid beyond the request date"})
    end = add_months(dues[0], (dues.index(start) + 1) * months)
    days, period = days_between(on, paid_to), days_between(start, end)
    amount = Money(modal.amount * Decimal(days) / Decimal(period), modal.currency)
    return Refundable(amount, {"modal_premium": modal, "paid_to": paid_to, "days": days,
                               "installment": {"start": start, "end": end, "days": period}})


def _grid_floor(value: Decimal, *, minimum: Decimal, step: Decimal) -> Decimal:
    """The largest sum on the product's grid (``minimum + k x step``) at or below ``value``."""
    return minimum + ((value - minimum) / step).to_integral_value(rounding=ROUND_FLOOR) * step


class Cash:
    name: ClassVar[str] = "cash"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"partial_withdrawal": PartialWithdrawal, "surrender": Surrender}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """What the request records and changes; see each operation's method for its refusals."""
        if isinstance(data, PartialWithdrawal):
            return self._withdrawal(ctx, data)
        assert isinstance(data, Surrender)
        return self._surrender(ctx, data)

    @staticmethod
    def _withdrawal(ctx: Context, data: PartialWithdrawal) -> Prepared:
        """Withdraw ``amount``: paid = amount - amount x the policy year's fee; the sum assured becomes
        sum assured x (1 - amount / cash value), rounded down onto the product's grid (minimum + k x step) so the
        plan stays one the product prices; the premium is re-quoted for it. Refuses BELOW-MINIMUM,
        ABOVE-WITHDRAWAL-LIMIT (max_ratio x (cash value - debts)) and BELOW-PRODUCT-MINIMUM."""
        terms = ctx.operation.money.parameters
        assert isinstance(terms, WithdrawalTerms), f"{ctx.operation.code} has no withdrawal terms"
        on, currency = ctx.on, ctx.product.currency
        requested = Money(data.amount, currency).rounded()
        if requested < terms.min_amount:
            raise refuse("BELOW-MINIMUM", f"the smallest withdrawal is {terms.min_amount.amount}, got "
                         f"{requested.amount}", f"部分领取最低金额为 {terms.min_amount.amount} 元，申请为 "
                         f"{requested.amount} 元", field="input.amount")
        cash = cash_value_on(ctx)
        debts = debts_on(ctx.policy, on)
        limit = ratio_limit(terms.max_ratio, cash_value=cash.amount, debts=debts.total)
        if limit < requested:
            raise refuse("ABOVE-WITHDRAWAL-LIMIT", f"the most that can be withdrawn on {on} is "
                         f"{max(limit.amount, Decimal(0))} {currency} ({terms.max_ratio} x (cash value "
                         f"{cash.amount.amount} - debts {debts.total.amount})); asked for {requested.amount}",
                         f"截至{on}最多可领取 {max(limit.amount, Decimal(0))} 元（{terms.max_ratio} x（现金价值 "
                         f"{cash.amount.amount} - 欠款 {debts.total.amount}）），申请金额为 {requested.amount} 元",
                         field="input.amount")
        year = policy_years(ctx.policy, on) + 1
        fees = terms.fees_by_policy_year
        fee_rate = fees[year - 1] if year <= len(fees) else terms.fee_after
        fee = (requested * fee_rate).rounded()
        paid = requested - fee
        rules = ctx.product.definition.eligibility
        current = policy_plan(ctx.policy, ctx.product).sum_insured
        proportional = current.amount * (1 - requested.amount / cash.amount.amount)
        if proportional < rules.sum_insured_min.amount:
            raise refuse("BELOW-PRODUCT-MINIMUM", f"the sum assured would drop to {proportional:.2f}, below the "
                         f"product's smallest {rules.sum_insured_min.amount}",
                         f"领取后保额将降至 {proportional:.2f} 元，低于产品最低保额 {rules.sum_insured_min.amount} 元",
                         field="input.amount")
        new = Money(_grid_floor(proportional, minimum=rules.sum_insured_min.amount,
                                step=rules.sum_insured_step.amount), currency).rounded()
        premium = requote(ctx, sum_insured=new)
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=paid, inputs={
            "cash_value": cash.record, "debts": debts.to_json(), "max_ratio": terms.max_ratio, "limit": limit,
            "min_amount": terms.min_amount, "requested": requested, "policy_year": year, "fee_rate": fee_rate,
            "fee": fee, "sum_insured": current, "sum_insured_proportional": proportional,
            "sum_insured_step": rules.sum_insured_step, "new_sum_insured": new}, tables=cash.tables())
        return Prepared(
            facts={"amount": requested.to_json(), "fee": fee.to_json(), "paid": paid.to_json(),
                   "new_sum_insured": new.to_json(), "premium": premium["modal_premium"]},
            amount=amount, changes={"plan": {"sum_insured": new.to_json()}, "premium": premium},
            payout={"amount": paid.to_json(), "pay_by": on.isoformat(), "to": "policyholder"})

    @staticmethod
    def _surrender(ctx: Context, data: Surrender) -> Prepared:
        """End the contract for: cash value - premiums in arrears - loans - loan interest + refundable premium,
        not below 0, paid within the catalog's pay_within_days. Refuses nothing (the catalog's rules decide)."""
        terms = ctx.operation.money.parameters
        assert isinstance(terms, SurrenderTerms), f"{ctx.operation.code} has no surrender terms"
        on, currency = ctx.on, ctx.product.currency
        cash = cash_value_on(ctx)
        debts = debts_on(ctx.policy, on)
        refundable = refundable_premium(ctx.policy, on)
        value = Money(max(Decimal(0), (cash.amount - debts.total + refundable.amount).amount), currency)
        pay = value.rounded()
        pay_by = on + timedelta(days=terms.pay_within_days)
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=value, inputs={
            "cash_value": cash.record, "debts": debts.to_json(), "refundable_premium": {
                "amount": refundable.amount, **refundable.inputs}}, tables=cash.tables())
        return Prepared(
            facts={"value": pay.to_json(), "pay_by": pay_by.isoformat()},
            details={"reason": data.reason} if data.reason else {},
            amount=amount, changes={"status": st.SURRENDERED, "loans": []},
            payout={"amount": pay.to_json(), "pay_by": pay_by.isoformat(), "to": "policyholder"})


FAMILY = Cash()
