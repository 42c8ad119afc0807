"""Recomputes a servicing amount from the record the journal keeps of it, and from nothing else.

A servicing request records each amount it moves (``amount_record`` in ``families/base.py``): the value, the
formula, the catalog operation's money ``parameters``, every ``input`` the family used and the versions behind
them. ``recompute`` takes such a record alone (no product catalog, table, clock or policy) and redoes the
family's arithmetic with the same rounding points: cash values from the table entry or one-year rule they were
read with, debts from each loan's principal, rate and days, premiums from their rate-table inputs, then the
formula itself. Every intermediate a record states (a limit, a fee, a debt total, a premium) is checked against
its recomputation on the way, and the invariants of the formula (a loan within its limit, a withdrawal between its
minimum and limit, a reinstatement paid with what was quoted) are checked too.

Records of an earlier version of the amounts rule are recomputed as that version computed them (v1: a loan
started on its request date; v2: on the day it was paid out). A partial withdrawal's sum assured falls in
proportion to the cash value taken, onto the product's grid, under both.

Table entries are where recomputation stops: a cash-value ``table_value`` or a premium ``rate`` is read as
recorded (the record cites the table by id and digest). An input the arithmetic needs that the record lacks makes
the amount not recomputable: ``VerificationError("<formula>: cannot be recomputed: input <path> is not recorded")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, TypeVar

from ledger.clock import add_months
from ledger.errors import ValidationFailed, VerificationError
from ledger.money import CENT, Money, parse_decimal, round_cent

__all__ = ["AMOUNT_RULE", "AMOUNT_RULES", "CASH_VALUE_RULES", "FORMULAS", "PREMIUM_RULE", "Recomputed", "explain",
           "recompute", "verify_amount"]

# The versions of the rules this module recomputes; a record citing another version is not recomputed.
# Version 2 of the amounts rule changed only the policy loan: it starts on the day it is paid out (its request's
# completion, recorded as inputs.start), where v1 started it on its request date.
VERSION = 2  # of the amounts rule that amounts are recorded under now
AMOUNT_RULE = {"name": "servicing-amounts", "version": VERSION}
AMOUNT_RULES = ({"name": "servicing-amounts", "version": 1}, AMOUNT_RULE)  # what records may cite
PREMIUM_RULE = {"name": "premium-from-rate-table", "version": 1}
CASH_VALUE_RULES = {"table": {"name": "cash-value-table-linear", "version": 1},
                    "unearned_premium": {"name": "one-year-unearned-premium", "version": 1}}
NO_CASH_VALUE = "no cash value"  # the basis a product without a cash value records
YEAR_DAYS = Decimal(365)  # simple interest is actual/365
HUNDRED = Decimal(100)
T = TypeVar("T")


@dataclass(frozen=True)
class Recomputed:
    """An amount recomputed from its record: ``value`` (what the record's value must be) and the amounts
    recomputed on the way (``parts``: cash_value, debts, limit, fee, ...), each already checked against the record."""

    formula: str
    value: Money
    parts: Mapping[str, Money] = field(default_factory=dict)


class _Reader:
    """One mapping of a record, read by path: a missing key is an input not recorded, a malformed one a mismatch."""

    def __init__(self, formula: str, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise VerificationError(f"{formula}: {path or 'the record'} is not an object: {data!r}")
        self.formula, self.data, self.path = formula, data, path

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise VerificationError(f"{self.formula}: cannot be recomputed: input {self._at(key)} is not recorded")
        return self.data[key]

    def sub(self, key: str) -> _Reader:
        return _Reader(self.formula, self.raw(key), self._at(key))

    def each(self, key: str) -> list[_Reader]:
        items = self.raw(key)
        if not isinstance(items, list):
            raise VerificationError(f"{self.formula}: {self._at(key)} is not a list: {items!r}")
        return [_Reader(self.formula, item, f"{self._at(key)}[{n}]") for n, item in enumerate(items)]

    def _parsed(self, key: str, parse: Callable[[Any], T], *, many: bool = False) -> T:
        value = self.raw(key)
        try:
            if many and not isinstance(value, list):
                raise TypeError("not a list")
            return parse(value)
        except (ValidationFailed, ValueError, TypeError, InvalidOperation):
            raise VerificationError(f"{self.formula}: {self._at(key)} is malformed: {value!r}") from None

    def money(self, key: str) -> Money:
        return self._parsed(key, Money.from_json)

    def decimal(self, key: str) -> Decimal:
        return self._parsed(key, lambda value: parse_decimal(value, field=key))

    def decimals(self, key: str) -> list[Decimal]:
        return self._parsed(key, lambda values: [parse_decimal(value, field=key) for value in values], many=True)

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise VerificationError(f"{self.formula}: {self._at(key)} is not a whole number: {value!r}")
        return value

    def day(self, key: str) -> date:
        return self._parsed(key, date.fromisoformat)

    def days(self, key: str) -> list[date]:
        return self._parsed(key, lambda values: [date.fromisoformat(value) for value in values], many=True)


class _Check:
    """The checks of one formula under one version of the amounts rule: each failure names the formula and what
    disagreed."""

    def __init__(self, formula: str, version: int = VERSION) -> None:
        self.formula, self.version = formula, version

    def same(self, what: str, recorded: object, recomputed: object) -> None:
        if recorded != recomputed:  # Money and Decimal compare by value (2.5 == 2.50)
            raise VerificationError(f"{self.formula}: {what} is recorded as {_shown(recorded)} but recomputes to "
                                    f"{_shown(recomputed)}")

    def holds(self, condition: bool, message: str) -> None:
        if not condition:
            raise VerificationError(f"{self.formula}: {message}")


def _shown(value: object) -> str:
    return str(value) if isinstance(value, Money | Decimal | int | str) else repr(value)


def _days(start: date, end: date) -> int:
    return max(0, (end - start).days)


def _limit(ratio: Decimal, cash_value: Money, debts: Money) -> Money:
    """ratio x (cash value - debts), rounded DOWN to the fen (what is granted never exceeds the ratio's share)."""
    return Money((ratio * (cash_value.amount - debts.amount)).quantize(CENT, rounding=ROUND_DOWN), cash_value.currency)


# -- what several formulas share: cash value, debts, a premium quote -------------------------------------------

def _cash_value(check: _Check, record: _Reader) -> Money:
    """The cash value a record states, recomputed from its basis: table entry x sum insured / rate_per, or the
    one-year rule premium x (1 - expense ratio) x (1 - elapsed days / term days) (the premium being the
    installments paid, where they are listed), each rounded half-up."""
    stated = record.money("amount")
    basis = record.sub("basis")
    rule = basis.raw("rule")
    if rule == NO_CASH_VALUE:
        check.same(f"{record.path}.amount", stated, Money.zero(stated.currency))
        return stated
    inputs = record.sub("inputs") if record.has("inputs") else basis.sub("inputs")
    if rule == CASH_VALUE_RULES["table"]:
        plan = inputs.sub("plan")
        value = inputs.decimal("table_value") * plan.money("sum_insured").amount / inputs.decimal("rate_per")
        computed = Money(value, plan.money("sum_insured").currency).rounded()
    elif rule == CASH_VALUE_RULES["unearned_premium"]:
        elapsed, days = inputs.integer("elapsed_days"), inputs.integer("term_days")
        check.holds(0 <= elapsed <= days and days > 0, f"{inputs.path}: elapsed_days {elapsed} is not within "
                    f"0..term_days {days}")
        paid = inputs.money("premium")
        if inputs.has("premiums_paid"):  # each installment at what was paid for it
            listed = sum((item.money("premium") for item in inputs.each("premiums_paid")), Money.zero(paid.currency))
            check.same(f"{inputs.path}.premium (the installments paid)", paid, listed)
        premium = paid * (1 - inputs.decimal("expense_ratio"))
        computed = (premium * (1 - Decimal(elapsed) / days)).rounded()
    else:
        raise VerificationError(f"{check.formula}: cannot be recomputed: cash-value rule {rule!r} is not one this "
                                f"recomputation knows")
    check.same(f"{record.path}.amount", stated, computed)
    return computed


def _cash_value_plan(check: _Check, record: _Reader, sum_insured: Money) -> None:
    """A cash value read from the table is for the policy's sum insured (a one-year rule's is for its premium)."""
    basis = record.sub("basis")
    if basis.raw("rule") == CASH_VALUE_RULES["table"]:
        plan = basis.sub("inputs").sub("plan")
        check.same(f"{plan.path}.sum_insured", plan.money("sum_insured"), sum_insured)


def _cash_value_tables(check: _Check, record: _Reader, cash_value: _Reader) -> None:
    """The record cites the cash-value table its cash value was read from (or none)."""
    basis, tables = cash_value.sub("basis"), record.sub("tables")
    cited = basis.raw("cash_value_table") if basis.has("cash_value_table") else None
    check.same("tables.cash_values", tables.raw("cash_values") if tables.has("cash_values") else None, cited)


def _interest(principal: Money, rate: Decimal, days: int) -> Money:
    """principal x rate x days / 365, rounded half-up to the fen."""
    return Money(round_cent(principal.amount * rate * Decimal(days) / YEAR_DAYS), principal.currency)


def _loan(check: _Check, loan: _Reader, on: date) -> tuple[Money, Money]:
    """One open loan's principal and interest to ``on``, each checked against what the loan records."""
    principal, rate, start = loan.money("principal"), loan.decimal("rate"), loan.day("start")
    days = loan.integer("days")
    check.same(f"{loan.path}.days", days, _days(start, on))
    interest = _interest(principal, rate, days)
    check.same(f"{loan.path}.interest", loan.money("interest"), interest)
    check.same(f"{loan.path}.owed", loan.money("owed"), principal + interest)
    return principal, interest


def _debts(check: _Check, debts: _Reader, on: date) -> Money:
    """Open loans with their interest to ``on`` plus the modal premium of each due date before ``on`` unpaid."""
    arrears = debts.sub("arrears")
    modal = arrears.money("modal_premium")
    total = Money.zero(modal.currency)
    for loan in debts.each("loans"):
        principal, interest = _loan(check, loan, on)
        total = total + principal + interest
    dues = arrears.days("dues")
    late = [due.isoformat() for due in dues if not due < on]
    check.holds(not late, f"{arrears.path}.dues holds {late}, not before the request date {on}")
    owed = modal * len(dues)
    check.same(f"{arrears.path}.amount", arrears.money("amount"), owed)
    total = total + owed
    check.same(f"{debts.path}.total", debts.money("total"), total)
    return total


def _premium(check: _Check, quote: _Reader) -> Money:
    """The modal premium of a quote, from its rate-table inputs: annual = rate x sum insured / rate_per x (1 +
    extra %) x each option factor, rounded; modal = annual x modal factor, rounded."""
    basis = quote.sub("basis")
    rule = basis.raw("rule")
    if rule != PREMIUM_RULE:
        raise VerificationError(f"{check.formula}: cannot be recomputed: premium rule {rule!r} is not one this "
                                f"recomputation knows")
    inputs = quote.sub("inputs")
    sum_insured = inputs.sub("plan").money("sum_insured")
    extra = inputs.decimal("extra_premium_pct")
    check.same(f"{quote.path}.extra_premium_pct", quote.decimal("extra_premium_pct"), extra)
    annual = inputs.decimal("rate") * sum_insured.amount / inputs.decimal("rate_per") * (1 + extra / HUNDRED)
    factors = inputs.sub("option_factors")
    for code in factors.data:
        annual *= factors.decimal(str(code))
    annual_premium = Money(annual, sum_insured.currency).rounded()
    check.same(f"{quote.path}.annual_premium", quote.money("annual_premium"), annual_premium)
    modal = (annual_premium * inputs.decimal("modal_factor")).rounded()
    if quote.has("riders_modal_premium"):  # a policy's premium: the base plus its riders' installments
        modal = (modal + quote.money("riders_modal_premium")).rounded()
    check.same(f"{quote.path}.modal_premium", quote.money("modal_premium"), modal)
    return modal


# -- the formulas ----------------------------------------------------------------------------------------------

def _loan_limit(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """The amount lent: at most ratio x (cash value - debts), rounded down, for at most max_months months."""
    ratio, max_months = params.decimal("ratio"), params.integer("max_months")
    check.same("inputs.ratio", inputs.decimal("ratio"), ratio)
    check.same("inputs.max_months", inputs.integer("max_months"), max_months)
    cash = _cash_value(check, inputs.sub("cash_value"))
    debts = _debts(check, inputs.sub("debts"), on)
    limit = _limit(ratio, cash, debts)
    check.same("inputs.limit", inputs.money("limit"), limit)
    lent = inputs.money("requested")
    check.same("inputs.requested (in fen)", lent, lent.rounded())
    check.holds(limit.amount > 0, f"nothing could be lent: the limit recomputes to {limit}")
    check.holds(lent <= limit, f"the amount lent {lent} is above the limit {limit} ({ratio} x (cash value {cash} - "
                f"debts {debts}))")
    months = inputs.integer("months")
    check.holds(1 <= months <= max_months, f"inputs.months {months} is not within 1..{max_months}")
    # v2: the loan runs from the day it is paid out (its completion), on or after the request date; v1: from it
    start = inputs.day("start") if check.version >= 2 else on
    check.holds(start >= on, f"inputs.start {start} is before the request date {on}")
    check.same("inputs.due", inputs.day("due"), add_months(start, months))
    return Recomputed(check.formula, lent, {"cash_value": cash, "debts": debts, "limit": limit})


def _loan_repayment(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """The amount repaid (at most everything owed), applied oldest loan first, each loan's interest first."""
    loans = inputs.each("loans")
    starts = [loan.day("start") for loan in loans]
    check.holds(starts == sorted(starts), "inputs.loans are not oldest first")
    owed = [_loan(check, loan, on) for loan in loans]
    repaid = inputs.money("repaid")
    total = sum((principal + interest for principal, interest in owed), Money.zero(repaid.currency))
    check.same("inputs.owed", inputs.money("owed"), total)
    check.holds(total.amount > 0, "nothing was owed")
    check.holds(repaid.amount > 0 and repaid <= total, f"the amount repaid {repaid} is not above 0 and at most the "
                f"{total} owed")
    applied = inputs.each("applied")
    left, n = repaid.amount, 0
    for loan, (principal, interest) in zip(loans, owed, strict=True):
        if left <= 0:
            break
        check.holds(n < len(applied), f"the repayment reaches {loan.path} but inputs.applied stops before it")
        on_interest = min(left, interest.amount)
        on_principal = min(left - on_interest, principal.amount)
        left -= on_interest + on_principal
        rest = (principal + interest).amount - on_interest - on_principal
        entry = applied[n]
        check.same(f"{entry.path}.request_id", entry.raw("request_id"), loan.raw("request_id"))
        check.same(f"{entry.path}.interest", entry.money("interest"), Money(on_interest, repaid.currency))
        check.same(f"{entry.path}.principal", entry.money("principal"), Money(on_principal, repaid.currency))
        check.same(f"{entry.path}.left", entry.money("left"), Money(rest, repaid.currency))
        check.same(f"{entry.path}.closed", entry.raw("closed"), rest == 0)
        n += 1
    check.same("the number of loans repaid (inputs.applied)", len(applied), n)
    return Recomputed(check.formula, repaid.rounded(), {"owed": total})


def _partial_withdrawal(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """paid = amount - amount x the policy year's fee (rounded); min_amount <= amount <= max_ratio x (cash value -
    debts); the sum assured drops in proportion to the cash value taken (v1 and v2 alike)."""
    max_ratio, minimum = params.decimal("max_ratio"), params.money("min_amount")
    check.same("inputs.max_ratio", inputs.decimal("max_ratio"), max_ratio)
    check.same("inputs.min_amount", inputs.money("min_amount"), minimum)
    record = inputs.sub("cash_value")
    cash = _cash_value(check, record)
    debts = _debts(check, inputs.sub("debts"), on)
    limit = _limit(max_ratio, cash, debts)
    check.same("inputs.limit", inputs.money("limit"), limit)
    requested = inputs.money("requested")
    check.holds(minimum <= requested and requested <= limit, f"the amount withdrawn {requested} is not within "
                f"{minimum}..{limit}")
    year = inputs.integer("policy_year")
    basis = record.sub("basis")
    if basis.raw("rule") == CASH_VALUE_RULES["table"]:  # the cash value was read in the same policy year
        check.same("inputs.policy_year", year, (basis.sub("inputs") if basis.has("inputs") else
                                                record.sub("inputs")).integer("policy_year"))
    fees = params.decimals("fees_by_policy_year")
    check.holds(year >= 1, f"inputs.policy_year {year} is not a policy year")
    rate = fees[year - 1] if year <= len(fees) else params.decimal("fee_after")
    check.same("inputs.fee_rate", inputs.decimal("fee_rate"), rate)
    fee = (requested * rate).rounded()
    check.same("inputs.fee", inputs.money("fee"), fee)
    current = inputs.money("sum_insured")
    _cash_value_plan(check, record, current)
    proportional = current.amount * (1 - requested.amount / cash.amount)
    check.same("inputs.sum_insured_proportional", inputs.decimal("sum_insured_proportional"), proportional)
    new, step = inputs.money("new_sum_insured"), inputs.money("sum_insured_step")
    # the grid's minimum is not recorded: the new sum can only be bounded, within one step below the proportion
    check.holds(proportional - step.amount < new.amount <= proportional, f"inputs.new_sum_insured {new} is not "
                f"within one step ({step}) below the proportional sum {proportional}")
    return Recomputed(check.formula, (requested - fee).rounded(), {"cash_value": cash, "debts": debts,
                                                                    "limit": limit, "fee": fee})


def _surrender_value(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """cash value - debts + refundable premium (modal premium x days from the request date to the paid-to date /
    days of the installment holding it), not below 0."""
    cash = _cash_value(check, inputs.sub("cash_value"))
    debts = _debts(check, inputs.sub("debts"), on)
    refund = inputs.sub("refundable_premium")
    modal, stated = refund.money("modal_premium"), refund.money("amount")
    if refund.has("days"):
        paid_to, installment = refund.day("paid_to"), refund.sub("installment")
        start, end, period = installment.day("start"), installment.day("end"), installment.integer("days")
        check.holds(start <= on < paid_to, f"the request date {on} is not within the installment from {start} paid "
                    f"to {paid_to}")
        check.same("inputs.refundable_premium.days", refund.integer("days"), _days(on, paid_to))
        check.same("inputs.refundable_premium.installment.days", period, _days(start, end))
        refundable = Money(modal.amount * Decimal(refund.integer("days")) / Decimal(period), modal.currency)
    else:  # a single premium, or nothing paid beyond the request date
        refundable = Money.zero(modal.currency)
    check.same("inputs.refundable_premium.amount", stated, refundable)
    value = Money(max(Decimal(0), (cash - debts + refundable).amount), cash.currency)
    return Recomputed(check.formula, value.rounded(), {"cash_value": cash, "debts": debts,
                                                       "refundable_premium": refundable})


def _free_look_refund(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """modal premium x premiums paid - the catalog's fee, not below 0, without interest."""
    fee = params.money("fee")
    check.same("inputs.fee", inputs.money("fee"), fee)
    modal = inputs.money("modal_premium")
    paid = modal * len(inputs.days("paid_dues"))
    check.same("inputs.premiums_paid", inputs.money("premiums_paid"), paid)
    return Recomputed(check.formula, Money(max(Decimal(0), (paid - fee).amount), modal.currency).rounded(),
                      {"premiums_paid": paid})


def _partial_surrender_value(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """(cash value - debts) x decrease / sum assured, not below 0."""
    cash = _cash_value(check, inputs.sub("cash_value"))
    debts = _debts(check, inputs.sub("debts"), on)
    current, new = inputs.money("sum_insured"), inputs.money("new_sum_insured")
    _cash_value_plan(check, inputs.sub("cash_value"), current)
    check.holds(new < current, f"the new sum assured {new} is not below {current}")
    decrease = current - new
    check.same("inputs.decrease", inputs.money("decrease"), decrease)
    paid = Money(max(Decimal(0), (cash.amount - debts.amount) * (decrease.amount / current.amount)), cash.currency)
    return Recomputed(check.formula, paid.rounded(), {"cash_value": cash, "debts": debts})


def _rider_premium(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """The rider's first installment: its modal premium from its rate-table quote for the insured's age now."""
    quote = inputs.sub("premium")
    modal = _premium(check, quote)
    given, plan = quote.sub("inputs"), inputs.sub("plan")
    for key in ("age", "sex", "occupation_class"):
        check.same(f"inputs.premium.inputs.{key}", given.raw(key), inputs.raw(key))
    quoted = given.sub("plan")
    check.same("inputs.premium.inputs.plan.sum_insured", quoted.money("sum_insured"), plan.money("sum_insured"))
    for key in ("term_years", "payment_years", "frequency"):
        check.same(f"inputs.premium.inputs.plan.{key}", quoted.raw(key), plan.raw(key))
    check.same("inputs.premium.frequency", quote.raw("frequency"), plan.raw("frequency"))
    check.same("inputs.premium.basis.product", quote.sub("basis").raw("product"), inputs.raw("rider"))
    check.same("inputs.premium.inputs.extra_premium_pct", given.decimal("extra_premium_pct"), Decimal(0))
    return Recomputed(check.formula, modal, {"modal_premium": modal})


def _rider_cash_value(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """The rider's cash value - its installments due and unpaid, not below 0."""
    installment, start = inputs.money("installment"), inputs.day("from")
    paid_dues, unpaid_dues = inputs.days("paid_dues"), inputs.days("unpaid_dues")
    check.same("inputs.premium_paid", inputs.money("premium_paid"), installment * len(paid_dues))
    unpaid = installment * len(unpaid_dues)
    check.same("inputs.unpaid", inputs.money("unpaid"), unpaid)
    late = [due.isoformat() for due in unpaid_dues if due > on]
    check.holds(not late, f"inputs.unpaid_dues holds {late}, after the request date {on}")
    covered = inputs.integer("covered_days")
    check.same("inputs.covered_days", covered, max(_days(start, inputs.day("paid_to")), 1))
    check.same("inputs.elapsed_days", inputs.integer("elapsed_days"), min(_days(start, on), covered))
    record = inputs.sub("cash_value")
    cash = _cash_value(check, record)
    # the rider's one-year rule over what was paid for it and the days that paid for
    rule = record.sub("inputs")
    check.same("inputs.cash_value.inputs.premium", rule.money("premium"), inputs.money("premium_paid"))
    check.same("inputs.cash_value.inputs.term_days", rule.integer("term_days"), covered)
    check.same("inputs.cash_value.inputs.elapsed_days", rule.integer("elapsed_days"), inputs.integer("elapsed_days"))
    check.same("inputs.cash_value.basis.product", record.sub("basis").raw("product"), inputs.raw("rider"))
    value = Money(max(Decimal(0), (cash - unpaid).amount), cash.currency)
    return Recomputed(check.formula, value.rounded(), {"cash_value": cash, "unpaid": unpaid})


def _occupation_rerating(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """(premium at the new class - premium before) x installments falling due after the request date."""
    quote = inputs.sub("quote")
    after = _premium(check, quote)
    check.same("inputs.premium_after", inputs.money("premium_after"), after)
    check.same("inputs.quote.inputs.occupation_class", quote.sub("inputs").raw("occupation_class"),
               inputs.raw("occupation_class"))
    check.holds(inputs.raw("occupation_class") != inputs.raw("from_class"), "the occupation class is unchanged")
    remaining = inputs.days("remaining_dues")
    early = [due.isoformat() for due in remaining if not due > on]
    check.holds(not early, f"inputs.remaining_dues holds {early}, not after the request date {on}")
    check.same("inputs.installments", inputs.integer("installments"), len(remaining))
    before = inputs.money("premium_before")
    return Recomputed(check.formula, ((after - before) * len(remaining)).rounded(), {"premium_after": after})


def _reinstatement_amount(check: _Check, params: _Reader, inputs: _Reader, on: date) -> Recomputed:
    """Premiums overdue + simple interest at the reinstatement rate from each due date (actual/365, rounded once);
    or, once paid, the payment that reinstated the policy, which must be what was quoted."""
    if inputs.has("payment"):
        paid, quoted = inputs.sub("payment").money("amount"), inputs.money("quoted")
        check.same("the payment that reinstated the policy", paid.rounded(), quoted)
        return Recomputed(check.formula, paid.rounded(), {"quoted": quoted})
    overdue, rate = inputs.money("overdue"), inputs.decimal("interest_rate")
    if inputs.has("quoted_on"):  # the policy's accepted reinstatement quote, while it held
        quoted_on = inputs.day("quoted_on")
        until = quoted_on if inputs.raw("valid_until") is None else inputs.day("valid_until")
        check.holds(on <= until, f"the quote of {quoted_on} no longer held on {on}")
        dues = inputs.days("dues")
        check.holds(all(due <= quoted_on for due in dues), f"inputs.dues are not all on or before {quoted_on}")
        days = [_days(due, quoted_on) for due in dues]
        # the modal premium is not recorded on its own here: it is the overdue total over the dues
        modal = Money(overdue.amount / len(dues), overdue.currency) if dues else Money.zero(overdue.currency)
        check.same("inputs.overdue (a whole number of modal premiums)", overdue, modal.rounded() * len(dues))
    else:
        modal = inputs.money("modal_premium")
        days = []
        for entry in inputs.each("dues"):
            due = entry.day("due")
            check.holds(due <= on, f"{entry.path}.due {due} is after the request date {on}")
            check.same(f"{entry.path}.days", entry.integer("days"), _days(due, on))
            days.append(_days(due, on))
        check.same("inputs.overdue", overdue, modal * len(days))
    interest = Money(modal.amount * rate * Decimal(sum(days)) / YEAR_DAYS, modal.currency).rounded()
    check.same("inputs.interest", inputs.money("interest"), interest)
    return Recomputed(check.formula, (overdue + interest).rounded(), {"overdue": overdue, "interest": interest})


# Every formula that moves money, by the name the catalog gives it.
FORMULAS: Mapping[str, Callable[[_Check, _Reader, _Reader, date], Recomputed]] = {
    "loan_limit": _loan_limit, "loan_repayment": _loan_repayment, "partial_withdrawal": _partial_withdrawal,
    "surrender_value": _surrender_value, "free_look_refund": _free_look_refund,
    "partial_surrender_value": _partial_surrender_value, "rider_premium": _rider_premium,
    "rider_cash_value": _rider_cash_value, "occupation_rerating": _occupation_rerating,
    "reinstatement_amount": _reinstatement_amount}


# -- the public API --------------------------------------------------------------------------------------------

def explain(record: Mapping[str, Any]) -> Recomputed:
    """Recompute an amount record (as ``amount_record`` writes it, read back from the journal) from its own
    ``inputs``, ``parameters`` and ``on`` alone, checking every intermediate and invariant it states.

    Requires a record citing rule servicing-amounts v1 or v2 (``AMOUNT_RULES``) and one of ``FORMULAS``. Raises
    ``VerificationError`` naming the formula: an intermediate that does not recompute, a broken invariant (a loan
    above its limit, ...), a malformed field, an unknown formula or rule version, or "cannot be recomputed: input X
    is not recorded".
    """
    formula = _Reader("amount", record, "").raw("formula")
    if not isinstance(formula, str) or formula not in FORMULAS:
        raise VerificationError(f"{formula}: cannot be recomputed: no recomputation of formula {formula!r}")
    reader = _Reader(formula, record, "")
    rule = reader.raw("rule")
    if rule not in AMOUNT_RULES:
        raise VerificationError(f"{formula}: cannot be recomputed: rule {rule!r} is not one of {list(AMOUNT_RULES)}")
    check = _Check(formula, rule["version"])
    inputs = reader.sub("inputs")
    try:
        result = FORMULAS[formula](check, reader.sub("parameters"), inputs, reader.day("on"))
    except ValueError as exc:  # amounts in two currencies
        raise VerificationError(f"{formula}: {exc}") from None
    if inputs.has("cash_value"):
        _cash_value_tables(check, reader, inputs.sub("cash_value"))
    return result


def recompute(record: Mapping[str, Any]) -> Money:
    """The value an amount record must hold, recomputed from its own inputs and parameters (see ``explain``,
    whose ``VerificationError`` it raises)."""
    return explain(record).value


def verify_amount(record: Mapping[str, Any]) -> None:
    """Return None if the record's ``value`` is what its inputs recompute to; raise ``VerificationError`` naming
    the formula otherwise (or whatever ``explain`` raises: a record that cannot be recomputed does not pass)."""
    recomputed = explain(record)
    stated = _Reader(recomputed.formula, record, "").money("value")
    _Check(recomputed.formula).same("value", stated, recomputed.value)
