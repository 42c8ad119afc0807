"""Recomputes every amount and automatic decision a claim's stream records, from that stream's facts alone.

``claim.assessed`` records the benefit calculation line by line (``ledger.claims.assessment``: each line its
formula and every input as a string) and the automatic-approval record (``ledger.claims.evaluation``: the sample
draw, the rate, the seed, the threshold). ``claim.decided`` records the amount approved against the assessed net,
and ``claim.payment.instructed`` what is to be paid. ``verify_claim`` folds a claim's stream and, with no product
catalog, rule file, clock or other claim, checks that:

- each line's amount is its formula over its recorded inputs (hospital allowance, medical reimbursement, lump sum
  with its grade share and premium refund, total disability for the grades it pays), the formula is one that
  answers the claim's type, each intermediate the line states (days, deductible left, limit left, the ratio that
  applies with or without social insurance, the policy year from the effective date) is what its own inputs give,
  a lump sum's loss is the interval after the group's last payout, and the inputs the claim's own entries state
  (loss date, invoice totals, stays, disability grade, date of death) are the ones the line used;
- each deduction is its formula over its recorded inputs: the unpaid premium is the unpaid dues (on or before the
  loss date) at the modal premium, the policy loans each loan's principal plus simple interest for the days from
  its start to the assessment (actual/365, half-up to 0.01); benefit, deductions, refund and net add up;
- the sample draw is ``sample_draw(seed, claim id)`` and eligible, sampled and approved follow from the track, the
  net, the threshold and the rate; an automatic decision follows an approved automatic record only, for its net;
- a decision's amount is the assessed net (approve), less than it with the adjustment's reason (partial), above
  it only with a recorded adjustment and reason, or zero (decline);
- the benefit instructions are the approved amount less what was instructed and not failed before (advances,
  and a benefit paid before the claim was reopened), a failed payment is instructed again for
  the same kind and amount after the payee's new account, and what is instructed and not failed never exceeds
  the approval (an advance, with everything instructed and not failed before it, never exceeds the assessed net).

Product parameters (the ratios, the deductible, the daily amount, the sum insured, a grade's share, a payout
interval) are read as the line records them, as the servicing recomputation reads a table entry: the assessment
cites the product and rule versions they come from. So are the policy's facts (its effective date, the unpaid due
dates, the modal premium, each loan's principal, rate and start: the policy stream's), what earlier claims used
(``*_before`` and the group's last payout: another claim's stream) and the sample's rate and seed (recorded beside
the draw; the rules they come from are cited by digest). A total-disability line pays grade 1 only
(``paid_grades`` is ``1``), as the calculator does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from ledger.claims import events as ev
from ledger.claims.evaluation import sample_draw
from ledger.claims.model import merged_stays, stay_days
from ledger.clock import add_months
from ledger.errors import ValidationFailed, VerificationError
from ledger.money import parse_decimal, round_cent

__all__ = ["ALLOWANCE", "ALLOWANCE_BILLED", "LUMP_SUM", "LUMP_SUM_SHARE", "MEDICAL", "POLICY_LOANS",
           "TOTAL_DISABILITY", "UNPAID_PREMIUM", "ClaimFacts", "ClaimMismatch", "Recorded", "RecordedEvent",
           "verify_assessment", "verify_automatic", "verify_claim"]

# The formulas ``ledger.claims.assessment`` records, as it spells them.
ALLOWANCE = "min(sum(merged stay days - deductible_days), max_days - days_paid_before) x daily_amount"
# the same before overlapping stays were merged: each distinct (admission, discharge) of the bills was a stay
ALLOWANCE_BILLED = "min(sum(stay days - deductible_days), max_days - days_paid_before) x daily_amount"
MEDICAL = "min(max(eligible - social_insurance_paid - deductible_left, 0) x ratio, limit_left)"
LUMP_SUM = "sum_insured x ratio"
LUMP_SUM_SHARE = "sum_insured x ratio x share(grade)"
TOTAL_DISABILITY = "sum_insured x ratio if grade in paid_grades, else 0"
UNPAID_PREMIUM = "count(unpaid_dues) x modal_premium"
POLICY_LOANS = "sum(principal + round_half_up(principal x rate x days / 365, 0.01)) over loans"
DEDUCTION_KINDS = ("unpaid_premium", "policy_loans")
TOTAL_DISABILITY_GRADES = (1,)  # total disability (全残) is grade 1 of JR/T 0083-2013
ZERO = Decimal(0)


class RecordedEvent(Protocol):
    """One entry of a claim's stream as a fold reads it (``ledger.kernel.Event`` is one)."""

    @property
    def index(self) -> int: ...

    @property
    def type(self) -> str: ...

    @property
    def facts(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Recorded:
    """An entry's position, type and facts (None: its payload could not be read)."""

    index: int
    type: str
    facts: Mapping[str, Any] | None


@dataclass(frozen=True)
class ClaimFacts:
    """What the claim's own entries state that an assessment reads: the claim type and cause (empty: not checked),
    the loss date, the invoices received (their facts) and the latest keyed medical facts."""

    loss_date: date | None = None
    claim_type: str = ""
    cause: str = ""
    invoices: tuple[Mapping[str, Any], ...] = ()
    medical: Mapping[str, Any] = field(default_factory=dict)


class ClaimMismatch(VerificationError):
    """A claim entry whose recorded amount or decision does not recompute: ``index`` and ``type`` name the entry,
    ``what`` says what differs, ``checked`` counts the records recomputed up to and including it."""

    def __init__(self, what: str, *, index: int, type: str, checked: int) -> None:
        super().__init__(f"entry {index} ({type}): {what}")
        self.what = what
        self.index = index
        self.type = type
        self.checked = checked


# -- reading recorded values ---------------------------------------------------------------------------------------

def _get(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise VerificationError(f"{where}.{key} is not recorded: it cannot be recomputed")
    return data[key]


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise VerificationError(f"{where} is not an object: {value!r}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise VerificationError(f"{where} is not a list: {value!r}")
    return value


def _decimal(value: object, where: str) -> Decimal:
    if not isinstance(value, str):
        raise VerificationError(f"{where} is malformed: {value!r} (a decimal string)")
    try:
        return parse_decimal(value, field=where)
    except (ValidationFailed, InvalidOperation):
        raise VerificationError(f"{where} is malformed: {value!r}") from None


def _whole(value: object, where: str) -> int:
    """A whole number recorded as an int, or as the string of one (line inputs are strings)."""
    if isinstance(value, bool):
        raise VerificationError(f"{where} is not a whole number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise VerificationError(f"{where} is not a whole number: {value!r}")


def _day(value: object, where: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise VerificationError(f"{where} is not a date: {value!r}")


def _days(value: object, where: str) -> list[date]:
    if not isinstance(value, str):
        raise VerificationError(f"{where} is not a comma-separated list of dates: {value!r}")
    return [_day(part, where) for part in value.split(",")] if value else []


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise VerificationError(f"{where} is not true or false: {value!r}")
    return value


def _money(value: object, where: str) -> tuple[Decimal, str]:
    """A recorded ``{"amount", "currency"}``."""
    data = _mapping(value, where)
    currency = _get(data, "currency", where)
    if not isinstance(currency, str):
        raise VerificationError(f"{where}.currency is malformed: {currency!r}")
    return _decimal(_get(data, "amount", where), f"{where}.amount"), currency


def _same(what: str, recorded: object, recomputed: object) -> None:
    if recorded != recomputed:  # Decimals compare by value (2.5 == 2.50)
        raise VerificationError(f"{what} is recorded as {_shown(recorded)} but recomputes to {_shown(recomputed)}")


def _holds(condition: bool, message: str) -> None:
    if not condition:
        raise VerificationError(message)


def _shown(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return str(value) if isinstance(value, Decimal | int | str | date) else repr(value)


def _cents(amount: Decimal, where: str) -> None:
    _holds(amount == round_cent(amount), f"{where} {amount} is not a whole number of cents")


def _share(value: Decimal, where: str) -> None:
    _holds(ZERO < value <= 1, f"{where} {value} is not within (0, 1]")


# -- the assessment's lines ---------------------------------------------------------------------------------------

@dataclass
class _Totals:
    """What the lines add to the assessment's own totals."""

    days_paid: int = 0
    deductible_used: Decimal = ZERO
    refund: Decimal = ZERO
    lump_sums: int = 0
    modal_premium: Decimal | None = None  # a death line's
    refunded_dues: tuple[date, ...] = ()


def _allowance(inputs: Mapping[str, Any], where: str, claim: ClaimFacts | None, totals: _Totals, *,
               merged: bool = True) -> Decimal:
    """(each stay's days - deductible days, not below 0) summed, within the days left in the policy year, times
    the daily amount; a stay's days are discharge - admission, at least 1. The stays are the bills' distinct
    (admission, discharge) dates merged where they overlap or one begins the day another ends (``merged``;
    before that rule, each distinct pair was a stay, ``ALLOWANCE_BILLED``)."""
    raw_stays = _get(inputs, "stays", where)
    if not isinstance(raw_stays, str):
        raise VerificationError(f"{where}.stays is malformed: {raw_stays!r}")
    stays = []
    for part in raw_stays.split(",") if raw_stays else []:
        admitted, _, discharged = part.partition("/")
        start, end = _day(admitted, f"{where}.stays"), _day(discharged, f"{where}.stays")
        _holds(start <= end, f"{where}.stays: {part} is discharged before it is admitted")
        stays.append((start, end))
    _holds(stays == sorted(set(stays)), f"{where}.stays {raw_stays} is not sorted with each stay once")
    if claim is not None:
        invoiced = sorted({(_day(i["admitted"], f"{where}.stays"), _day(i["discharged"], f"{where}.stays"))
                           for i in claim.invoices if i.get("admitted") and i.get("discharged")})
        _same(f"{where}.stays (the stays of the claim's invoices)", [f"{a}/{d}" for a, d in stays],
              [f"{a}/{d}" for a, d in invoiced])
    if merged:
        joined = merged_stays(stays)
        _same(f"{where}.merged_stays (the stays merged where they overlap or touch)",
              _get(inputs, "merged_stays", where), ",".join(f"{a}/{d}" for a, d in joined))
        stays = joined
    lengths = [stay_days(start, end) for start, end in stays]
    deductible_days = _whole(_get(inputs, "deductible_days", where), f"{where}.deductible_days")
    max_days = _whole(_get(inputs, "max_days", where), f"{where}.max_days")
    before = _whole(_get(inputs, "days_paid_before", where), f"{where}.days_paid_before")
    _holds(deductible_days >= 0 and max_days > 0 and before >= 0,
           f"{where}: deductible_days, max_days and days_paid_before must be whole numbers >= 0 (max_days > 0)")
    _same(f"{where}.stay_days", _whole(_get(inputs, "stay_days", where), f"{where}.stay_days"), sum(lengths))
    payable = sum(max(days - deductible_days, 0) for days in lengths)
    _same(f"{where}.payable_days", _whole(_get(inputs, "payable_days", where), f"{where}.payable_days"), payable)
    days = min(payable, max(max_days - before, 0))
    _same(f"{where}.days", _whole(_get(inputs, "days", where), f"{where}.days"), days)
    _policy_year(inputs, where, claim)
    totals.days_paid += days
    return days * _decimal(_get(inputs, "daily_amount", where), f"{where}.daily_amount")


def _medical(inputs: Mapping[str, Any], where: str, claim: ClaimFacts | None, totals: _Totals) -> Decimal:
    """(eligible - social insurance paid - deductible left, not below 0) x ratio, within the limit left; the
    deductible used is what the eligible expenses net of social insurance took of the deductible left."""
    eligible = _decimal(_get(inputs, "eligible", where), f"{where}.eligible")
    social = _decimal(_get(inputs, "social_insurance_paid", where), f"{where}.social_insurance_paid")
    if claim is not None:
        total, paid = ZERO, ZERO
        for invoice in claim.invoices:
            named = f"invoice {invoice.get('invoice_no')}"
            total += _decimal(_get(invoice, "total", named), f"{named}.total") - \
                _decimal(_get(invoice, "ineligible", named), f"{named}.ineligible")
            paid += _decimal(_get(invoice, "social_insurance_paid", named), f"{named}.social_insurance_paid")
        _same(f"{where}.eligible (total - ineligible of the claim's invoices)", eligible, total)
        _same(f"{where}.social_insurance_paid (of the claim's invoices)", social, paid)
    deductible = _decimal(_get(inputs, "deductible", where), f"{where}.deductible")
    used_before = _decimal(_get(inputs, "deductible_used_before", where), f"{where}.deductible_used_before")
    left = max(deductible - used_before, ZERO)
    _same(f"{where}.deductible_left", _decimal(_get(inputs, "deductible_left", where), f"{where}.deductible_left"),
          left)
    limit = _decimal(_get(inputs, "annual_limit", where), f"{where}.annual_limit")
    paid_before = _decimal(_get(inputs, "paid_before", where), f"{where}.paid_before")
    limit_left = max(limit - paid_before, ZERO)
    _same(f"{where}.limit_left", _decimal(_get(inputs, "limit_left", where), f"{where}.limit_left"), limit_left)
    ratio = _decimal(_get(inputs, "ratio", where), f"{where}.ratio")
    with_social = _decimal(_get(inputs, "ratio_with_social_insurance", where),
                           f"{where}.ratio_with_social_insurance")
    without_social = _decimal(_get(inputs, "ratio_without_social_insurance", where),
                              f"{where}.ratio_without_social_insurance")
    _share(with_social, f"{where}.ratio_with_social_insurance")
    _share(without_social, f"{where}.ratio_without_social_insurance")
    basis = "with_social_insurance" if social > 0 else "without_social_insurance"
    _same(f"{where}.ratio_basis (social_insurance_paid {social} {'>' if social > 0 else '<='} 0)",
          _get(inputs, "ratio_basis", where), basis)
    _same(f"{where}.ratio (ratio_{basis})", ratio, with_social if social > 0 else without_social)
    _holds(min(eligible, social, deductible, used_before, limit, paid_before) >= 0,
           f"{where}: amounts must not be negative")
    _policy_year(inputs, where, claim)
    totals.deductible_used += min(max(eligible - social, ZERO), left)
    return min(max(eligible - social - left, ZERO) * ratio, limit_left)


def _lump_sum(inputs: Mapping[str, Any], where: str, claim: ClaimFacts | None, totals: _Totals, *,
              rule: Literal["plain", "share", "total"]) -> Decimal:
    """sum insured x ratio (``rule`` "share": x the grade's share for an accidental disability; "total": a total
    disability, 0 for a grade it does not pay), the loss the payout interval after the group's last payout. A death
    line refunds the modal premium of each due paid after death."""
    totals.lump_sums += 1
    sum_insured = _decimal(_get(inputs, "sum_insured", where), f"{where}.sum_insured")
    ratio = _decimal(_get(inputs, "ratio", where), f"{where}.ratio")
    _share(ratio, f"{where}.ratio")
    _holds(sum_insured >= 0, f"{where}.sum_insured {sum_insured} is negative")
    before = _whole(_get(inputs, "payouts_before", where), f"{where}.payouts_before")
    most = _whole(_get(inputs, "max_payouts", where), f"{where}.max_payouts")
    _holds(0 <= before < most, f"{where}: payouts_before {before} leaves no payout of max_payouts {most}")
    _interval(inputs, where, claim, before)
    amount = sum_insured * ratio
    if rule == "plain":
        _holds("grade" not in inputs, f"{where}: a disability grade under formula {LUMP_SUM!r}: a disability line "
               f"is {TOTAL_DISABILITY!r} or {LUMP_SUM_SHARE!r}")
    else:
        grade = _whole(_get(inputs, "grade", where), f"{where}.grade")
        _holds(1 <= grade <= 10, f"{where}.grade {grade} is not a disability grade 1..10")
        if claim is not None:
            _same(f"{where}.grade (the claim's keyed disability_grade)", grade, claim.medical.get("disability_grade"))
        if rule == "share":
            grade_share = _decimal(_get(inputs, "share", where), f"{where}.share")
            _share(grade_share, f"{where}.share")
            amount *= grade_share
        else:
            raw = _get(inputs, "paid_grades", where)
            grades = [_whole(part, f"{where}.paid_grades") for part in raw.split(",")] if isinstance(raw, str) \
                else None
            _same(f"{where}.paid_grades (total disability is grade 1 only)", grades, list(TOTAL_DISABILITY_GRADES))
            if grade not in TOTAL_DISABILITY_GRADES:
                amount = ZERO
    if "death_date" in inputs:
        died = _day(_get(inputs, "death_date", where), f"{where}.death_date")
        if claim is not None:
            keyed = claim.medical.get("death_date")
            _same(f"{where}.death_date (the claim's keyed death_date, else its loss date)", died,
                  _day(keyed, "medical.death_date") if keyed else claim.loss_date)
        dues = _days(_get(inputs, "refunded_dues", where), f"{where}.refunded_dues")
        early = [due for due in dues if not due > died]
        _holds(not early, f"{where}.refunded_dues holds {_shown(early)}, not after the death on {died}")
        _holds(dues == sorted(set(dues)), f"{where}.refunded_dues is not sorted with each due once")
        modal = _decimal(_get(inputs, "modal_premium", where), f"{where}.modal_premium")
        _holds(modal >= 0, f"{where}.modal_premium {modal} is negative")
        totals.modal_premium, totals.refunded_dues = modal, tuple(dues)
        if round_cent(amount) > 0:
            totals.refund = round_cent(len(dues) * modal)
    return amount


def _interval(inputs: Mapping[str, Any], where: str, claim: ClaimFacts | None, before: int) -> None:
    """The loss is ``interval_days`` or more after the loss of the group's last payout (none: no payout yet)."""
    interval = _whole(_get(inputs, "interval_days", where), f"{where}.interval_days")
    _holds(interval >= 0, f"{where}.interval_days {interval} is negative")
    loss = _day(_get(inputs, "loss_date", where), f"{where}.loss_date")
    if claim is not None and claim.loss_date is not None:
        _same(f"{where}.loss_date (the claim's loss date)", loss, claim.loss_date)
    raw = _get(inputs, "last_payout_loss_date", where)
    last = None if raw == "" else _day(raw, f"{where}.last_payout_loss_date")
    _holds(before == 0 or last is not None, f"{where}: payouts_before {before} with no last_payout_loss_date")
    if last is not None and interval:
        _holds((loss - last).days >= interval, f"{where}: the loss on {loss} is {(loss - last).days} days after "
               f"the last payout's loss on {last} (last_payout_loss_date), within interval_days {interval}")


def _anniversary(effective: date, day: date) -> date:
    """The anniversary of ``effective`` on or before ``day`` (Feb 29 falls on Feb 28)."""
    years = day.year - effective.year
    start = add_months(effective, 12 * years)
    return start if start <= day else add_months(effective, 12 * (years - 1))


def _policy_year(inputs: Mapping[str, Any], where: str, claim: ClaimFacts | None) -> None:
    """The policy year is the anniversary of the effective date on or before the first admission of the claim's
    invoices (else its loss date); with no claim facts, an anniversary of the effective date."""
    start = _day(_get(inputs, "policy_year_start", where), f"{where}.policy_year_start")
    effective = _day(_get(inputs, "effective_date", where), f"{where}.effective_date")
    admitted = [_day(i["admitted"], "invoice.admitted") for i in claim.invoices if i.get("admitted")] \
        if claim is not None else []
    first = min(admitted, default=claim.loss_date if claim is not None else None)
    if first is None:
        _same(f"{where}.policy_year_start (an anniversary of effective_date {effective})", start,
              _anniversary(effective, start))
    else:
        _same(f"{where}.policy_year_start (the anniversary of effective_date {effective} on or before {first})",
              start, _anniversary(effective, first))


_LINES: Mapping[str, Callable[[Mapping[str, Any], str, ClaimFacts | None, _Totals], Decimal]] = {
    ALLOWANCE: _allowance,
    ALLOWANCE_BILLED: lambda inputs, where, claim, totals: _allowance(inputs, where, claim, totals, merged=False),
    MEDICAL: _medical,
    LUMP_SUM: lambda inputs, where, claim, totals: _lump_sum(inputs, where, claim, totals, rule="plain"),
    LUMP_SUM_SHARE: lambda inputs, where, claim, totals: _lump_sum(inputs, where, claim, totals, rule="share"),
    TOTAL_DISABILITY: lambda inputs, where, claim, totals: _lump_sum(inputs, where, claim, totals, rule="total"),
}


def _formulas_for(claim: ClaimFacts) -> tuple[str, ...]:
    """The formulas that answer the claim's type: a disability by accident may be total or graded, an accident
    with a date of death is an accidental death."""
    if claim.claim_type == "disability":
        return (TOTAL_DISABILITY, LUMP_SUM_SHARE) if claim.cause == "accident" else (TOTAL_DISABILITY,)
    if claim.claim_type == "accident":
        return (LUMP_SUM,) if claim.medical.get("death_date") else (LUMP_SUM_SHARE,)
    return {"medical": (MEDICAL,), "hospital_allowance": (ALLOWANCE, ALLOWANCE_BILLED),
            "critical_illness": (LUMP_SUM,), "death": (LUMP_SUM,)}.get(claim.claim_type, ())


def _unpaid_premium(inputs: Mapping[str, Any], where: str, claim: ClaimFacts | None, totals: _Totals) -> Decimal:
    """The modal premium of each due unpaid on the loss date (none of them a due refunded after death)."""
    dues = _days(_get(inputs, "unpaid_dues", where), f"{where}.unpaid_dues")
    _holds(dues == sorted(set(dues)), f"{where}.unpaid_dues is not sorted with each due once")
    if claim is not None and claim.loss_date is not None:
        late = [due for due in dues if due > claim.loss_date]
        _holds(not late, f"{where}.unpaid_dues holds {_shown(late)}, after the loss on {claim.loss_date}")
    both = sorted(set(dues) & set(totals.refunded_dues))
    _holds(not both, f"{where}.unpaid_dues holds {_shown(both)}, refunded as paid after death")
    modal = _decimal(_get(inputs, "modal_premium", where), f"{where}.modal_premium")
    _holds(modal >= 0, f"{where}.modal_premium {modal} is negative")
    if totals.modal_premium is not None:
        _same(f"{where}.modal_premium (the death line's modal_premium)", modal, totals.modal_premium)
    return len(dues) * modal


def _policy_loans(inputs: Mapping[str, Any], where: str, claim: ClaimFacts | None, totals: _Totals) -> Decimal:
    """Each loan's principal plus simple interest for the days from its start to the assessment (actual/365,
    half-up to 0.01), all loans as of one day, on or after the loss date."""
    owed = ZERO
    as_of: date | None = None
    for n, raw in enumerate(_list(_get(inputs, "loans", where), f"{where}.loans")):
        named = f"{where}.loans[{n}]"
        loan = _mapping(raw, named)
        principal = _decimal(_get(loan, "principal", named), f"{named}.principal")
        rate = _decimal(_get(loan, "rate", named), f"{named}.rate")
        _holds(principal > 0 and rate >= 0, f"{named}: principal {principal} must be above 0 and rate {rate} not "
               f"negative")
        start = _day(_get(loan, "start", named), f"{named}.start")
        day = _day(_get(loan, "as_of", named), f"{named}.as_of")
        if as_of is None:
            as_of = day
            if claim is not None and claim.loss_date is not None:
                _holds(day >= claim.loss_date, f"{named}.as_of {day} is before the loss on {claim.loss_date}")
        _same(f"{named}.as_of (the as_of of loans[0])", day, as_of)
        days = max(0, (day - start).days)
        _same(f"{named}.days (from start {start} to as_of {day})", _whole(_get(loan, "days", named), f"{named}.days"),
              days)
        interest = round_cent(principal * rate * days / Decimal(365))
        _same(f"{named}.interest (principal x rate x days / 365)",
              _decimal(_get(loan, "interest", named), f"{named}.interest"), interest)
        owed += principal + interest
    return owed


_DEDUCTIONS: Mapping[str, tuple[str, Callable[[Mapping[str, Any], str, ClaimFacts | None, _Totals], Decimal]]] = {
    "unpaid_premium": (UNPAID_PREMIUM, _unpaid_premium),
    "policy_loans": (POLICY_LOANS, _policy_loans),
}


def verify_assessment(record: Mapping[str, Any], *, claim: ClaimFacts | None = None) -> Decimal:
    """Recompute an assessment as ``Assessment.to_json`` wrote it: every line's amount from its formula and
    inputs (rounded half-up to the cent), the benefit (the sum of the lines), the premium refund, the deductions
    and the net ``max(benefit + refund - deductions, 0)``, and the totals later claims read (coverages paid, days
    paid, deductible used). With ``claim``, the inputs the claim's own entries state are checked against them.

    Returns the net. Raises ``VerificationError`` naming the field that differs, is malformed or is not recorded,
    or a formula this recomputation does not know.
    """
    currency = _get(record, "currency", "assessment")
    if not isinstance(currency, str):
        raise VerificationError(f"assessment.currency is malformed: {currency!r}")
    totals = _Totals()
    paid: list[str] = []
    benefit = ZERO
    for n, raw in enumerate(_list(_get(record, "lines", "assessment"), "assessment.lines")):
        line = _mapping(raw, f"lines[{n}]")
        code = _get(line, "coverage", f"lines[{n}]")
        where = f"lines[{n}] ({code})"
        formula = _get(line, "formula", where)
        recompute = _LINES.get(formula) if isinstance(formula, str) else None
        if recompute is None:
            raise VerificationError(f"{where}: cannot be recomputed: no recomputation of formula {formula!r}")
        if claim is not None and claim.claim_type:
            allowed = _formulas_for(claim)
            _holds(formula in allowed, f"{where}: formula {formula!r} does not answer a {claim.claim_type} claim "
                   f"(cause {claim.cause or 'not recorded'}): {_shown(list(allowed))}")
        inputs = _mapping(_get(line, "inputs", where), f"{where}.inputs")
        amount = round_cent(recompute(inputs, f"{where}.inputs", claim, totals))
        _same(f"{where}.amount ({formula})", _decimal(_get(line, "amount", where), f"{where}.amount"), amount)
        if amount > 0:
            paid.append(str(code))
        benefit += amount
    _holds(totals.lump_sums <= 1, f"assessment.lines holds {totals.lump_sums} lump sums: a claim pays one")
    _same("assessment.benefit (the sum of the lines)", _decimal(_get(record, "benefit", "assessment"),
                                                                  "assessment.benefit"), round_cent(benefit))
    _same("assessment.refund (the premiums of the dues paid after death)",
          _decimal(_get(record, "refund", "assessment"), "assessment.refund"), totals.refund)
    taken, kinds = ZERO, []
    for n, raw in enumerate(_list(_get(record, "deductions", "assessment"), "assessment.deductions")):
        deduction = _mapping(raw, f"deductions[{n}]")
        kind = _get(deduction, "kind", f"deductions[{n}]")
        amount = _decimal(_get(deduction, "amount", f"deductions[{n}]"), f"deductions[{n}].amount")
        _holds(kind in DEDUCTION_KINDS and kind not in kinds, f"deductions[{n}].kind {kind!r} is not one of "
               f"{list(DEDUCTION_KINDS)}, each once")
        where = f"deductions[{n}] ({kind})"
        expected, recompute_deduction = _DEDUCTIONS[str(kind)]
        formula = _get(deduction, "formula", where)
        _same(f"{where}.formula", formula, expected)
        owed = round_cent(recompute_deduction(_mapping(_get(deduction, "inputs", where), f"{where}.inputs"),
                                              f"{where}.inputs", claim, totals))
        _same(f"{where}.amount ({formula})", amount, owed)
        _holds(amount > 0, f"deductions[{n}].amount {amount} is not above 0")
        kinds.append(kind)
        taken += amount
    net = round_cent(max(round_cent(benefit) + totals.refund - taken, ZERO))
    _same("assessment.net (max(benefit + refund - deductions, 0))",
          _decimal(_get(record, "net", "assessment"), "assessment.net"), net)
    _same("assessment.coverages (the lines paying more than 0)", _get(record, "coverages", "assessment"), paid)
    _same("assessment.days_paid (the allowance days of the lines)", _get(record, "days_paid", "assessment"),
          totals.days_paid)
    _same("assessment.deductible_used (what the medical lines took of the deductible left)",
          _decimal(_get(record, "deductible_used", "assessment"), "assessment.deductible_used"),
          totals.deductible_used)
    return net


# -- the automatic approval ---------------------------------------------------------------------------------------

def verify_automatic(automatic: Mapping[str, Any], *, claim_id: str, track: str, net: Decimal, flags: int,
                     payable: bool) -> bool:
    """Recompute the automatic-approval record of an assessment: the draw is ``sample_draw(seed, claim_id)``,
    eligible is a fast-track claim whose net is above 0 and at most the threshold (a fast-track claim has no flag
    and passed its first review), sampled is an eligible claim drawn below the rate, approved an eligible claim
    not sampled.

    Returns whether it approved the claim. Raises ``VerificationError`` naming the field that differs.
    """
    where = "automatic"
    eligible = _bool(_get(automatic, "eligible", where), "automatic.eligible")
    sampled = _bool(_get(automatic, "sampled", where), "automatic.sampled")
    approved = _bool(_get(automatic, "approved", where), "automatic.approved")
    seed = _get(automatic, "seed", where)
    if not isinstance(seed, str):
        raise VerificationError(f"automatic.seed is malformed: {seed!r}")
    draw = _decimal(_get(automatic, "draw", where), "automatic.draw")
    rate = _decimal(_get(automatic, "rate", where), "automatic.rate")
    threshold = _decimal(_get(automatic, "threshold", where), "automatic.threshold")
    _holds(ZERO <= rate <= 1, f"automatic.rate {rate} is not within [0, 1]")
    _same(f"automatic.draw (sample_draw(seed, {claim_id}))", draw, sample_draw(seed, claim_id))
    if track == "fast":
        _holds(flags == 0 and payable, f"track is fast with {flags} flag(s) and a first review that "
               f"{'passed' if payable else 'failed'}: the fast track has neither")
    _same(f"automatic.eligible (track {track}, net {net}, threshold {threshold})", eligible,
          track == "fast" and ZERO < net <= threshold)
    _same(f"automatic.sampled (eligible and draw {draw} < rate {rate})", sampled, eligible and draw < rate)
    _same("automatic.approved (eligible and not sampled)", approved, eligible and not sampled)
    return approved


# -- the claim's stream -------------------------------------------------------------------------------------------

@dataclass
class _Payment:
    kind: str
    amount: Decimal
    index: int
    status: str = "instructed"  # instructed | paid | failed
    replaced: bool = False  # a failed payment instructed again


@dataclass
class _Claim:
    """The fold of the facts the checks need."""

    claim_id: str = ""
    loss_date: date | None = None
    claim_type: str = ""
    cause: str = ""
    invoices: list[Mapping[str, Any]] = field(default_factory=list)
    medical: Mapping[str, Any] = field(default_factory=dict)
    net: Decimal | None = None  # the latest assessment's net
    currency: str = ""
    automatic_due: int | None = None  # the entry of an automatic approval whose decision is still to come
    approved: Decimal | None = None  # the decision in force approves this (None: none, declined, reopened)
    owed: tuple[Decimal, int] | None = None  # the instruction a decision still owes, and the decision's entry
    payments: dict[str, _Payment] = field(default_factory=dict)
    account_changed: bool = False  # a new account since the latest failed payment
    checked: int = 0

    def live(self, kind: str) -> Decimal:
        """What is instructed or paid, not failed, of one kind."""
        return sum((p.amount for p in self.payments.values() if p.kind == kind and p.status != "failed"), ZERO)


def verify_claim(events: Iterable[RecordedEvent]) -> int:
    """Verify a claim's stream, oldest entry first (see the module docstring): every assessment, automatic
    approval, decision and payment instruction it records is recomputed from the stream's own facts.

    Returns how many records holding an amount were recomputed (each assessment, decision and instruction).
    Raises ``ClaimMismatch`` naming the entry and what differs (a field that does not recompute, is malformed or
    is not recorded, an entry whose facts cannot be read).
    """
    claim = _Claim()
    for event in events:
        try:
            _step(claim, event)
        except ClaimMismatch:
            raise
        except VerificationError as exc:
            raise ClaimMismatch(exc.message, index=event.index, type=event.type, checked=claim.checked) from None
    if claim.owed is not None:
        amount, index = claim.owed
        raise ClaimMismatch(f"the approval's payment of {amount} is never instructed", index=index, type=ev.DECIDED,
                            checked=claim.checked)
    if claim.automatic_due is not None:
        raise ClaimMismatch("the automatic approval is not followed by its decision", index=claim.automatic_due,
                            type=ev.ASSESSED, checked=claim.checked)
    return claim.checked


def _step(claim: _Claim, event: RecordedEvent) -> None:
    facts = event.facts
    if facts is None:
        raise VerificationError("the entry's facts cannot be read, so the claim's amounts cannot be recomputed")
    if event.type == ev.REPORTED:
        claim.claim_id = str(_get(facts, "claim_id", "facts"))
        claim.loss_date = _day(_get(facts, "loss_date", "facts"), "loss_date")
        claim.claim_type = str(_get(facts, "claim_type", "facts"))
        claim.cause = str(_get(facts, "cause", "facts"))
        return
    _holds(facts.get("claim_id") == claim.claim_id, f"claim_id {facts.get('claim_id')!r} is not the claim "
           f"{claim.claim_id!r} this stream reported")
    if claim.automatic_due is not None and event.type not in (ev.HANDLER_ASSIGNED, ev.DECIDED):
        raise VerificationError(f"the automatic approval of entry {claim.automatic_due} is not followed by its "
                                f"decision")
    if claim.owed is not None and event.type != ev.PAYMENT_INSTRUCTED:
        raise VerificationError(f"the approval of entry {claim.owed[1]} owes an instruction of {claim.owed[0]}, "
                                f"and none follows it")
    handlers: Mapping[str, Callable[[_Claim, Mapping[str, Any], int], None]] = {
        ev.INVOICE_RECEIVED: _invoice, ev.MEDICAL_RECORDED: _medical_facts, ev.ASSESSED: _assessed,
        ev.DECIDED: _decided, ev.PAYMENT_INSTRUCTED: _instructed, ev.PAYMENT_SETTLED: _settled,
        ev.ACCOUNT_CHANGED: _account, ev.REOPENED: _reopened, ev.APPEALED: _reopened}
    handler = handlers.get(event.type)
    if handler is not None:
        handler(claim, facts, event.index)


def _invoice(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    claim.invoices.append(facts)


def _medical_facts(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    claim.medical = facts


def _assessed(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    claim.checked += 1
    record = _mapping(_get(facts, "assessment", "facts"), "assessment")
    net = verify_assessment(record, claim=ClaimFacts(loss_date=claim.loss_date, claim_type=claim.claim_type,
                                                     cause=claim.cause, invoices=tuple(claim.invoices),
                                                     medical=claim.medical))
    _same("versions (the assessment's own versions)", _get(facts, "versions", "facts"),
          _get(record, "versions", "assessment"))
    review = _mapping(_get(facts, "review", "facts"), "review")
    track = _get(facts, "track", "facts")
    _holds(track in ("fast", "standard", "major"), f"track {track!r} is not fast, standard or major")
    approved = verify_automatic(_mapping(_get(facts, "automatic", "facts"), "automatic"), claim_id=claim.claim_id,
                                track=str(track), net=net, flags=len(_list(_get(facts, "flags", "facts"), "flags")),
                                payable=_bool(_get(review, "payable", "review"), "review.payable"))
    claim.net, claim.currency = net, str(record["currency"])
    claim.automatic_due = index if approved else None


def _decided(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    """The amount of a decision against the assessed net, and the instruction it owes."""
    claim.checked += 1
    if claim.net is None:
        raise VerificationError("a decision with no assessment before it")
    net = claim.net
    amount, currency = _money(_get(facts, "amount", "facts"), "amount")
    assessed, assessed_currency = _money(_get(facts, "assessed", "facts"), "assessed")
    _same("assessed (the latest assessment's net)", (assessed, assessed_currency), (net, claim.currency))
    _same("amount.currency", currency, claim.currency)
    _holds(amount >= 0, f"amount {amount} is negative")
    _cents(amount, "amount")
    outcome = _get(facts, "outcome", "facts")
    adjustment = _get(facts, "adjustment", "facts")
    automatic = _bool(_get(facts, "automatic", "facts"), "automatic")
    if automatic:
        _holds(claim.automatic_due is not None, "an automatic decision with no approved automatic record of the "
               "latest assessment")
        _same("outcome of an automatic decision", outcome, "approve")
        _same("amount of an automatic approval (the assessed net)", amount, net)
        _holds(adjustment is None, "an automatic approval records an adjustment")
        claim.automatic_due = None
        advance = claim.live("advance") + claim.live("benefit")
        _same("paid_before (what was instructed and not failed before)",
              _decimal(_get(facts, "paid_before", "facts"), "paid_before"), advance)
    else:
        _holds(claim.automatic_due is None, f"the automatic approval of entry {claim.automatic_due} is decided by "
               f"a person")
        by = _get(facts, "by", "facts")
        _holds(isinstance(by, str) and bool(by), "by: a person's decision names them")
        advance = ZERO
        if outcome != "decline":
            advance = _decimal(_get(facts, "paid_before", "facts"), "paid_before")
            _same("paid_before (what was instructed and not failed before)", advance,
                  claim.live("advance") + claim.live("benefit"))
        _decision(outcome, amount, net, adjustment)
    claim.approved = amount if outcome in ("approve", "partial") else None
    owed = amount - advance if claim.approved is not None else ZERO
    claim.owed = (owed, index) if owed > 0 else None


def _decision(outcome: object, amount: Decimal, net: Decimal, adjustment: object) -> None:
    """A person's decision: decline pays 0; approve pays the net, or with a recorded adjustment more; partial
    pays less than the net with the adjustment's reason."""
    if outcome == "decline":
        _same("amount of a decline", amount, ZERO)
        _holds(adjustment is None, "a decline records an adjustment")
        return
    _holds(outcome in ("approve", "partial"), f"outcome {outcome!r} is not approve, partial or decline")
    if adjustment is None:
        _holds(outcome == "approve", "a partial approval records no adjustment with its reason")
        _same("amount of an approval (the assessed net)", amount, net)
        return
    change = _mapping(adjustment, "adjustment")
    _same("adjustment.from (the assessed net)", _money(_get(change, "from", "adjustment"), "adjustment.from")[0], net)
    _same("adjustment.to (the amount approved)", _money(_get(change, "to", "adjustment"), "adjustment.to")[0],
          amount)
    reason = _get(change, "reason", "adjustment")
    _holds(isinstance(reason, str) and bool(reason.strip()), "adjustment.reason: an adjustment gives its reason")
    if outcome == "partial":
        _holds(amount < net, f"a partial approval of {amount} is not below the assessed net {net}")
    else:
        _holds(amount >= net, f"an approval of {amount} is below the assessed net {net}: that is a partial one")


def _instructed(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    """An instruction is the one a decision owes, a failed payment instructed again to a new account, or an
    advance on an undecided claim; what is instructed and not failed stays within the approval."""
    claim.checked += 1
    payment_id = _get(facts, "payment_id", "facts")
    kind = _get(facts, "kind", "facts")
    amount, currency = _money(_get(facts, "amount", "facts"), "amount")
    _holds(isinstance(payment_id, str) and payment_id not in claim.payments,
           f"payment_id {payment_id!r} is instructed twice")
    _holds(kind in ("benefit", "advance"), f"kind {kind!r} is not benefit or advance")
    _same("amount.currency", currency, claim.currency or currency)
    _holds(amount > 0, f"amount {amount} is not above 0")
    _cents(amount, "amount")
    failed = [p for p in claim.payments.values() if p.status == "failed" and not p.replaced]
    if claim.owed is not None:
        owed, decided = claim.owed
        _same(f"kind of the instruction entry {decided} owes", kind, "benefit")
        _same(f"amount (the approval of entry {decided} less what was paid before)", amount, owed)
        claim.owed = None
    elif failed and claim.account_changed:
        again = failed[-1]
        _same(f"kind (the failed payment of entry {again.index} instructed again)", kind, again.kind)
        _same(f"amount (the failed payment of entry {again.index} instructed again)", amount, again.amount)
        again.replaced = True
        claim.account_changed = False
    elif kind == "advance":
        _holds(claim.approved is None, "an advance on a claim whose amount is decided")
        if claim.net is not None:
            # a benefit paid before a reopening counts too, for an advance checked against the policy's cover
            # (one with cover_seen); one recorded before that rule is held to the advances alone
            advances = claim.live("advance") + amount
            benefit = claim.live("benefit") if "cover_seen" in facts else ZERO
            _holds(advances + benefit <= claim.net, f"advances of {advances}"
                   f"{f' with {benefit} paid before the reopening' if benefit else ''} exceed the assessed net "
                   f"{claim.net}")
    else:
        raise VerificationError(f"a benefit payment of {amount} that no approval owes and no failed payment "
                                f"explains")
    claim.payments[payment_id] = _Payment(kind=str(kind), amount=amount, index=index)
    if claim.approved is not None:
        live = claim.live("advance") + claim.live("benefit")
        _holds(live <= claim.approved, f"payments instructed and not failed ({live}) exceed the approved amount "
               f"{claim.approved}")


def _settled(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    payment_id = _get(facts, "payment_id", "facts")
    status = _get(facts, "status", "facts")
    held = claim.payments.get(payment_id) if isinstance(payment_id, str) else None
    if held is None:
        raise VerificationError(f"payment_id {payment_id!r} was never instructed")
    _holds(held.status == "instructed", f"payment {payment_id} is settled twice")
    _holds(status in ("paid", "failed"), f"status {status!r} is not paid or failed")
    held.status = str(status)
    if status == "failed":
        claim.account_changed = False


def _account(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    claim.account_changed = any(p.status == "failed" and not p.replaced for p in claim.payments.values())


def _reopened(claim: _Claim, facts: Mapping[str, Any], index: int) -> None:
    claim.approved = None  # decided again (after new documents, or by the appeal's handler)
