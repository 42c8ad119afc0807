"""The benefit calculator: what one claim pays under its product version, line by line, with the inputs of each.

Pure: it reads the product, the cover, the claim and the earlier claims it is given, and nothing else. Whether the
claim is payable at all (cover in force on the loss date, waiting periods, exclusions) is the first review's
question, not this module's. Amounts are ``Decimal`` in the cover's currency, each line rounded half-up to 0.01.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from ledger.claims.model import CLAIM_TYPES, Claim, Cover, LoanOwed, Prior, Versions, merged_stays, stay_days
from ledger.clock import add_months
from ledger.errors import ValidationFailed
from ledger.money import parse_decimal, round_cent
from ledger.products.catalog import Product
from ledger.products.coverages import Coverage, DailyAllowance, LumpSum, PremiumWaiver, Reimbursement

__all__ = ["ILLNESS_GROUPS", "SETTLED", "Assessment", "Deduction", "DeductionInput", "Line", "assess",
           "coverages_for", "policy_year_start"]

ILLNESS_GROUPS = ("severe", "moderate", "mild")
# Earlier claims whose benefit was approved (awaiting payment, payment to retry, paid) or that were closed count
# against limits, deductibles and payout counts, and so does one reopened after it paid (what it paid, also once
# declined: the money went out); open, undecided and declined ones that paid nothing do not.
SETTLED = ("payment_pending", "payment_failed", "paid", "closed")
_DEATH_GROUPS = ("death", "accidental_death")
_LINE_KEYS = ("coverage", "formula", "inputs", "amount")
_DEDUCTION_KEYS = ("kind", "formula", "inputs", "amount")
_LOAN_KEYS = ("principal", "rate", "start", "as_of", "days", "interest")
# The formulas recorded beside the lines' own (``ledger.claims.recompute`` spells them the same way).
_TOTAL_DISABILITY = "sum_insured x ratio if grade in paid_grades, else 0"
_TOTAL_DISABILITY_GRADES = (1,)  # total disability (全残) is grade 1 of JR/T 0083-2013
_UNPAID_PREMIUM = "count(unpaid_dues) x modal_premium"
_POLICY_LOANS = "sum(principal + round_half_up(principal x rate x days / 365, 0.01)) over loans"
_T = TypeVar("_T")
_KEYS = ("currency", "lines", "benefit", "deductions", "refund", "net", "coverages", "ends_cover", "waiver",
         "deductible_used", "days_paid", "notes", "versions")


@dataclass(frozen=True)
class Line:
    """One benefit line: which coverage paid what, by which formula, from which inputs (amount rounded to 0.01)."""

    coverage: str
    formula: str
    inputs: dict[str, str]
    amount: Decimal


DeductionInput = str | list[dict[str, str]]


@dataclass(frozen=True)
class Deduction:
    """An amount taken off the payout first (DOMAIN §3), by its formula from its inputs: ``unpaid_premium``
    (``unpaid_dues`` comma-separated, ``modal_premium``) or ``policy_loans`` (``loans``: each loan's principal,
    rate, start, as_of, days and interest, all strings)."""

    kind: str
    formula: str
    inputs: dict[str, DeductionInput]
    amount: Decimal


@dataclass(frozen=True)
class Assessment:
    """What a claim pays: the benefit lines, the premium refund, the deductions and the net payout, with the facts
    later claims need (coverages paid, deductible used, days paid) and the versions that produced it."""

    currency: str
    lines: tuple[Line, ...]
    benefit: Decimal
    deductions: tuple[Deduction, ...]
    refund: Decimal
    net: Decimal
    coverages: tuple[str, ...]
    ends_cover: bool
    waiver: bool
    deductible_used: Decimal
    days_paid: int
    notes: tuple[str, ...]
    versions: Versions

    def __post_init__(self) -> None:
        if self.benefit != sum((line.amount for line in self.lines), Decimal(0)):
            raise ValidationFailed(f"benefit {self.benefit} is not the sum of its lines", field="benefit")
        taken = sum((deduction.amount for deduction in self.deductions), Decimal(0))
        if self.net != round_cent(max(self.benefit + self.refund - taken, Decimal(0))):
            raise ValidationFailed(f"net {self.net} is not max(benefit + refund - deductions, 0)", field="net")

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (decimals as strings) that ``from_json`` reads back exactly."""
        return {"currency": self.currency,
                "lines": [{"coverage": line.coverage, "formula": line.formula, "inputs": dict(line.inputs),
                           "amount": str(line.amount)} for line in self.lines],
                "benefit": str(self.benefit),
                "deductions": [{"kind": d.kind, "formula": d.formula, "inputs": _copied(d.inputs),
                                "amount": str(d.amount)} for d in self.deductions],
                "refund": str(self.refund), "net": str(self.net), "coverages": list(self.coverages),
                "ends_cover": self.ends_cover, "waiver": self.waiver, "deductible_used": str(self.deductible_used),
                "days_paid": self.days_paid, "notes": list(self.notes), "versions": self.versions.to_json()}

    @classmethod
    def from_json(cls, value: object) -> Assessment:
        """Read what ``to_json`` wrote; raises ``ValidationFailed`` naming the field that is missing or malformed,
        or whose totals do not add up."""
        obj = _object(value, _KEYS, where="assessment")
        lines = []
        for n, raw in enumerate(_typed(obj["lines"], list, "lines")):
            item = _object(raw, _LINE_KEYS, where=f"lines[{n}]")
            inputs = _typed(item["inputs"], dict, f"lines[{n}].inputs")
            if not all(isinstance(v, str) for v in inputs.values()):
                raise ValidationFailed(f"lines[{n}].inputs: values must be strings", field=f"lines[{n}].inputs")
            lines.append(Line(coverage=_typed(item["coverage"], str, f"lines[{n}].coverage"),
                              formula=_typed(item["formula"], str, f"lines[{n}].formula"), inputs=dict(inputs),
                              amount=_decimal(item["amount"], f"lines[{n}].amount")))
        deductions = []
        for n, raw in enumerate(_typed(obj["deductions"], list, "deductions")):
            item = _object(raw, _DEDUCTION_KEYS, where=f"deductions[{n}]")
            deductions.append(Deduction(kind=_typed(item["kind"], str, f"deductions[{n}].kind"),
                                        formula=_typed(item["formula"], str, f"deductions[{n}].formula"),
                                        inputs=_deduction_inputs(item["inputs"], f"deductions[{n}].inputs"),
                                        amount=_decimal(item["amount"], f"deductions[{n}].amount")))
        versions = _typed(obj["versions"], dict, "versions")
        if not {"product", "rules"} <= set(versions) <= {"product", "rules", "fraud", "diagnoses"}:
            raise ValidationFailed(f"versions: needs product and rules (fraud, diagnoses optional), not "
                                   f"{sorted(versions)}", field="versions")
        if isinstance(obj["days_paid"], bool):
            raise ValidationFailed("days_paid must be an integer", field="days_paid")
        return cls(currency=_typed(obj["currency"], str, "currency"), lines=tuple(lines),
                   benefit=_decimal(obj["benefit"], "benefit"), deductions=tuple(deductions),
                   refund=_decimal(obj["refund"], "refund"), net=_decimal(obj["net"], "net"),
                   coverages=tuple(_typed(c, str, "coverages") for c in _typed(obj["coverages"], list, "coverages")),
                   ends_cover=_typed(obj["ends_cover"], bool, "ends_cover"),
                   waiver=_typed(obj["waiver"], bool, "waiver"),
                   deductible_used=_decimal(obj["deductible_used"], "deductible_used"),
                   days_paid=_typed(obj["days_paid"], int, "days_paid"),
                   notes=tuple(_typed(n, str, "notes") for n in _typed(obj["notes"], list, "notes")),
                   versions=Versions(product=_typed(versions["product"], dict, "versions.product"),
                                     rules=_typed(versions["rules"], dict, "versions.rules"),
                                     fraud=versions.get("fraud"), diagnoses=versions.get("diagnoses")))


def _copied(inputs: Mapping[str, DeductionInput]) -> dict[str, DeductionInput]:
    return {k: v if isinstance(v, str) else [dict(item) for item in v] for k, v in inputs.items()}


def _deduction_inputs(value: object, where: str) -> dict[str, DeductionInput]:
    """A deduction's inputs: strings, and for ``loans`` a list of objects with the loan keys, their values
    strings."""
    inputs = _typed(value, dict, where)
    out: dict[str, DeductionInput] = {}
    for key, item in inputs.items():
        if isinstance(item, str):
            out[key] = item
            continue
        if key != "loans":
            raise ValidationFailed(f"{where}.{key} must be a string, not {item!r}", field=f"{where}.{key}")
        loans = []
        for n, loan in enumerate(_typed(item, list, f"{where}.loans")):
            entry = _object(loan, _LOAN_KEYS, where=f"{where}.loans[{n}]")
            if not all(isinstance(v, str) for v in entry.values()):
                raise ValidationFailed(f"{where}.loans[{n}]: values must be strings", field=f"{where}.loans[{n}]")
            loans.append(dict(entry))
        out[key] = loans
    return out


def _object(value: object, keys: tuple[str, ...], *, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(keys):
        found = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise ValidationFailed(f"{where} must be an object with the keys {list(keys)}, not {found}", field=where)
    return value


def _typed(value: object, kind: type[_T], where: str) -> _T:
    if not isinstance(value, kind):
        raise ValidationFailed(f"{where} must be a {kind.__name__}, not {value!r}", field=where)
    return value


def _decimal(value: object, where: str) -> Decimal:
    return parse_decimal(_typed(value, str, where), field=where)


def policy_year_start(effective: date, day: date) -> date:
    """The anniversary of ``effective`` that starts the policy year containing ``day`` (Feb 29 falls on Feb 28)."""
    years = day.year - effective.year
    start = add_months(effective, 12 * years)
    return start if start <= day else add_months(effective, 12 * (years - 1))


def _lump_groups(claim_type: str, cause: str) -> tuple[str, ...]:
    """The lump-sum groups that answer a claim type, in the order they are tried (medical, allowance: none)."""
    if claim_type not in CLAIM_TYPES:
        raise ValidationFailed(f"claim_type must be one of {list(CLAIM_TYPES)}, not {claim_type!r}",
                               field="claim_type")
    accident = cause == "accident"
    return {"critical_illness": ILLNESS_GROUPS,
            "death": ("accidental_death", "death") if accident else ("death",),
            "disability": ("total_disability", "accidental_disability") if accident else ("total_disability",),
            "accident": ("accidental_death", "accidental_disability")}.get(claim_type, ())


def coverages_for(product: Product, *, claim_type: str, cause: str, options: Sequence[str]) -> list[Coverage]:
    """The product's coverages that can answer a claim of ``claim_type`` (empty: the product does not cover it),
    in the order they are tried; option-gated coverages only with their option in ``options``. A death by accident
    is answered by accidental death where the product has it, else by the death benefit. Raises
    ``ValidationFailed`` for an unknown claim type."""
    groups = _lump_groups(claim_type, cause)
    offered = [c for c in product.definition.coverages if c.option is None or c.option in options]
    if claim_type == "medical":
        return [c for c in offered if isinstance(c.benefit, Reimbursement)]
    if claim_type == "hospital_allowance":
        return [c for c in offered if isinstance(c.benefit, DailyAllowance)]
    found = [c for g in groups for c in offered if _group(c) == g]
    if claim_type == "death" and found:
        return [c for c in found if _group(c) == _group(found[0])]
    return found


def most_payable(product: Product, cover: Cover, *, claim_type: str, cause: str) -> Decimal:
    """The most a claim of ``claim_type`` can pay under ``cover`` before any assessment: a reimbursement's annual
    limit, an allowance's ``max_days`` x the daily amount, each summed (a claim may pay several such lines), and
    the largest lump sum (a claim pays one); a premium waiver pays no money. What an advance on a claim not yet
    assessed may not exceed."""
    lines, lumps = Decimal(0), [Decimal(0)]
    for coverage in coverages_for(product, claim_type=claim_type, cause=cause, options=cover.options):
        benefit = coverage.benefit
        if isinstance(benefit, Reimbursement):
            lines += cover.sum_insured
        elif isinstance(benefit, DailyAllowance):
            lines += cover.sum_insured * benefit.max_days
        elif isinstance(benefit, LumpSum):
            lumps.append(cover.sum_insured * parse_decimal(benefit.ratio, field="ratio"))
    return round_cent(lines + max(lumps))


def _group(coverage: Coverage) -> str | None:
    return coverage.benefit.group if isinstance(coverage.benefit, LumpSum) else None


@dataclass
class _Draft:
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)
    ends_cover: bool = False
    deductible_used: Decimal = Decimal(0)
    days_paid: int = 0
    refund: Decimal = Decimal(0)

    def add(self, code: str, formula: str, inputs: Mapping[str, object], amount: Decimal) -> Decimal:
        rounded = round_cent(amount)
        self.lines.append(Line(code, formula, {k: str(v) for k, v in inputs.items()}, rounded))
        if rounded > 0:
            self.paid.append(code)
        return rounded


def assess(*, product: Product, cover: Cover, claim: Claim, prior: Sequence[Prior], versions: Versions,
           disability_shares: Mapping[int, Decimal]) -> Assessment:
    """What ``claim`` pays under ``product`` (the version ``cover`` was issued on), given the earlier claims of the
    insured (``prior``: only settled claims of the same policy count) and the disability grade shares (grade ->
    share of the sum insured, JR/T 0083-2013). A claim the product does not cover pays nothing, with a note.

    Raises ``ValidationFailed`` when the inputs do not belong together (product, cover, claim and ``versions``;
    the cover's unpaid premium and loans not the totals of its unpaid dues and loan details), an invoice's amounts
    are impossible, or a fact the benefit needs is missing (illness group, disability grade and its share).
    """
    cited = {key: versions.product.get(key) for key in ("id", "version", "digest")}
    if cited != {"id": product.id, "version": product.version, "digest": product.digest}:
        raise ValidationFailed(f"versions.product {cited} does not name product {product.id} v{product.version} "
                               f"({product.digest})", field="versions.product")
    if (cover.product_id, cover.product_version) != (product.id, product.version) or cover.currency != \
            product.currency:
        raise ValidationFailed(f"cover {cover.policy_no} is on {cover.product_id} v{cover.product_version} in "
                               f"{cover.currency}, not {product.id} v{product.version}", field="cover.product_id")
    if claim.policy_no != cover.policy_no:
        raise ValidationFailed(f"claim {claim.claim_id} is on policy {claim.policy_no}, not {cover.policy_no}",
                               field="claim.policy_no")
    for invoice in claim.invoices:
        if min(invoice.total, invoice.ineligible, invoice.social_insurance_paid) < 0 or \
                invoice.ineligible > invoice.total:
            raise ValidationFailed(f"invoice {invoice.invoice_no}: amounts must be >= 0 with ineligible <= total",
                                   field="claim.invoices")
    _check_debts(cover)
    settled = [p for p in prior if p.policy_no == cover.policy_no and (p.status.lower() in SETTLED or p.paid > 0)]
    candidates = coverages_for(product, claim_type=claim.claim_type, cause=claim.cause, options=cover.options)
    draft = _Draft()
    if not candidates:
        draft.notes.append(f"{product.id} v{product.version} does not cover a {claim.claim_type} claim "
                           f"(cause {claim.cause})")
    for coverage in candidates:
        if isinstance(coverage.benefit, DailyAllowance):
            _allowance(draft, coverage.code, coverage.benefit, cover, claim, settled)
        elif isinstance(coverage.benefit, Reimbursement):
            _medical(draft, coverage.code, coverage.benefit, cover, claim, settled)
    if candidates and isinstance(candidates[0].benefit, LumpSum):
        _lump_sum(draft, candidates, cover, claim, settled, disability_shares)
    waiver = any(isinstance(c.benefit, PremiumWaiver) and (c.option is None or c.option in cover.options)
                 and set(c.benefit.triggers) & set(draft.paid) for c in product.definition.coverages)
    deductions = _deductions(cover)
    benefit = round_cent(sum((line.amount for line in draft.lines), Decimal(0)))
    taken = sum((d.amount for d in deductions), Decimal(0))
    return Assessment(currency=cover.currency, lines=tuple(draft.lines), benefit=benefit, deductions=deductions,
                      refund=draft.refund, net=round_cent(max(benefit + draft.refund - taken, Decimal(0))),
                      coverages=tuple(draft.paid), ends_cover=draft.ends_cover, waiver=waiver,
                      deductible_used=draft.deductible_used, days_paid=draft.days_paid, notes=tuple(draft.notes),
                      versions=versions)


def _check_debts(cover: Cover) -> None:
    """The cover's debts are the totals of their details: the unpaid dues at the modal premium, the loans owed."""
    unpaid = len(cover.unpaid_dues) * cover.modal_premium
    if cover.unpaid_premium != unpaid:
        raise ValidationFailed(f"cover.unpaid_premium {cover.unpaid_premium} is not {len(cover.unpaid_dues)} unpaid "
                               f"dues x the modal premium {cover.modal_premium}", field="cover.unpaid_premium")
    owed = sum((loan.owed for loan in cover.loan_details), Decimal(0))
    if cover.loans != owed:
        raise ValidationFailed(f"cover.loans {cover.loans} is not the {owed} its loan_details owe",
                               field="cover.loans")
    for n, loan in enumerate(cover.loan_details):
        if loan != LoanOwed.accrued(principal=loan.principal, rate=loan.rate, start=loan.start, as_of=loan.as_of):
            raise ValidationFailed(f"cover.loan_details[{n}]: {loan.days} days and interest {loan.interest} are not "
                                   f"what {loan.principal} at {loan.rate} from {loan.start} to {loan.as_of} accrues",
                                   field=f"cover.loan_details[{n}]")


def _deductions(cover: Cover) -> tuple[Deduction, ...]:
    """The unpaid premium and the policy loans, each with its inputs (none when it is 0)."""
    out = []
    if cover.unpaid_premium > 0:
        out.append(Deduction(kind="unpaid_premium", formula=_UNPAID_PREMIUM, inputs={
            "unpaid_dues": ",".join(map(str, sorted(cover.unpaid_dues))), "modal_premium": str(cover.modal_premium)},
            amount=round_cent(cover.unpaid_premium)))
    if cover.loans > 0:
        loans = [{"principal": str(loan.principal), "rate": str(loan.rate), "start": str(loan.start),
                  "as_of": str(loan.as_of), "days": str(loan.days), "interest": str(loan.interest)}
                 for loan in cover.loan_details]
        out.append(Deduction(kind="policy_loans", formula=_POLICY_LOANS, inputs={"loans": loans},
                             amount=round_cent(cover.loans)))
    return tuple(out)


def _year_of(cover: Cover, claim: Claim) -> date:
    """The policy year the claim counts against: the one containing the first admission (else the loss date)."""
    admitted = [i.admitted for i in claim.invoices if i.admitted is not None]
    return policy_year_start(cover.effective_date, min(admitted, default=claim.loss_date))


def _same_year(settled: Sequence[Prior], cover: Cover, year: date) -> list[Prior]:
    return [p for p in settled if (p.policy_year_start or policy_year_start(cover.effective_date,
                                                                            p.admitted or p.loss_date)) == year]


ALLOWANCE = "min(sum(merged stay days - deductible_days), max_days - days_paid_before) x daily_amount"


def _allowance(draft: _Draft, code: str, benefit: DailyAllowance, cover: Cover, claim: Claim,
               settled: Sequence[Prior]) -> None:
    year = _year_of(cover, claim)
    billed = {(i.admitted, i.discharged) for i in claim.invoices if i.admitted is not None and i.discharged is not None}
    stays = {stay: stay_days(*stay) for stay in merged_stays(billed)}
    payable = sum(max(days - benefit.deductible_days, 0) for days in stays.values())
    used = sum(p.days_paid for p in _same_year(settled, cover, year))
    days = min(payable, max(benefit.max_days - used, 0))
    if not stays:
        draft.notes.append(f"{code}: no hospital stay with admission and discharge dates")
    elif payable == 0:
        draft.notes.append(f"{code}: no stay longer than the {benefit.deductible_days} deductible days")
    elif days < payable:
        draft.notes.append(f"{code}: yearly limit of {benefit.max_days} days reached ({used} paid earlier in the "
                           f"policy year from {year}, {payable} payable now)")
    draft.days_paid += days
    draft.add(code, ALLOWANCE,
              {"stays": ",".join(f"{a}/{d}" for a, d in sorted(billed)),
               "merged_stays": ",".join(f"{a}/{d}" for a, d in stays), "stay_days": sum(stays.values()),
               "deductible_days": benefit.deductible_days, "payable_days": payable, "max_days": benefit.max_days,
               "effective_date": cover.effective_date, "policy_year_start": year, "days_paid_before": used,
               "days": days, "daily_amount": cover.sum_insured},
              days * cover.sum_insured)


def _medical(draft: _Draft, code: str, benefit: Reimbursement, cover: Cover, claim: Claim,
             settled: Sequence[Prior]) -> None:
    year = _year_of(cover, claim)
    earlier = _same_year(settled, cover, year)
    eligible = sum((i.eligible for i in claim.invoices), Decimal(0))
    social = sum((i.social_insurance_paid for i in claim.invoices), Decimal(0))
    basis = "with_social_insurance" if social > 0 else "without_social_insurance"
    ratio = benefit.ratio if social > 0 else benefit.ratio_without_social_insurance
    used_before = sum((p.deductible_used for p in earlier), Decimal(0))
    deductible_left = max(benefit.deductible.amount - used_before, Decimal(0))
    paid_before = sum((p.paid for p in earlier), Decimal(0))
    limit_left = max(cover.sum_insured - paid_before, Decimal(0))
    base = max(eligible - social - deductible_left, Decimal(0))
    amount = min(base * ratio, limit_left)
    draft.deductible_used += min(max(eligible - social, Decimal(0)), deductible_left)
    if not claim.invoices:
        draft.notes.append(f"{code}: no invoices")
    elif eligible - social <= 0:
        draft.notes.append(f"{code}: social insurance paid all eligible expenses")
    elif base == 0:
        draft.notes.append(f"{code}: within the yearly deductible ({deductible_left} of {benefit.deductible.amount} "
                           f"was left)")
    elif amount < base * ratio:
        draft.notes.append(f"{code}: annual limit reached ({limit_left} of {cover.sum_insured} was left in the "
                           f"policy year from {year})")
    draft.add(code, "min(max(eligible - social_insurance_paid - deductible_left, 0) x ratio, limit_left)",
              {"eligible": eligible, "social_insurance_paid": social, "deductible": benefit.deductible.amount,
               "deductible_used_before": used_before, "deductible_left": deductible_left,
               "ratio_with_social_insurance": benefit.ratio,
               "ratio_without_social_insurance": benefit.ratio_without_social_insurance, "ratio_basis": basis,
               "ratio": ratio, "annual_limit": cover.sum_insured, "paid_before": paid_before,
               "limit_left": limit_left, "effective_date": cover.effective_date, "policy_year_start": year}, amount)


def _lump_sum(draft: _Draft, candidates: Sequence[Coverage], cover: Cover, claim: Claim, settled: Sequence[Prior],
              shares: Mapping[int, Decimal]) -> None:
    medical = claim.medical
    if claim.claim_type == "critical_illness":
        group = medical.illness_group
        if group not in ILLNESS_GROUPS:
            raise ValidationFailed(f"medical.illness_group must be one of {list(ILLNESS_GROUPS)} for a critical "
                                   f"illness claim, not {group!r}", field="medical.illness_group")
    elif claim.claim_type == "accident":
        group = "accidental_death" if medical.death_date is not None else "accidental_disability"
    else:
        group = _group(candidates[0])
    pool = [(c, c.benefit) for c in candidates if isinstance(c.benefit, LumpSum) and c.benefit.group == group]
    history = [p for p in settled if p.paid > 0]
    counts = {c.code: sum(c.code in p.coverages for p in history) for c, _ in pool}
    last = max((p.loss_date for p in history if {c.code for c, _ in pool} & set(p.coverages)), default=None)
    if not pool:
        draft.notes.append(f"the product has no {group} benefit")
    for coverage, lump in pool:
        if counts[coverage.code] >= lump.max_payouts:
            draft.notes.append(f"{coverage.code}: all {lump.max_payouts} payouts already made")
            continue
        if last is not None and lump.interval_days and (claim.loss_date - last).days < lump.interval_days:
            draft.notes.append(f"{coverage.code}: needs {lump.interval_days} days after the last {group} payout "
                               f"(loss on {last}), the loss date is {claim.loss_date}")
            continue
        inputs: dict[str, object] = {"sum_insured": cover.sum_insured, "ratio": lump.ratio,
                                     "payouts_before": counts[coverage.code], "max_payouts": lump.max_payouts,
                                     "interval_days": lump.interval_days, "loss_date": claim.loss_date,
                                     "last_payout_loss_date": "" if last is None else last}
        factor, formula = lump.ratio, "sum_insured x ratio"
        if group in ("total_disability", "accidental_disability"):
            grade = _grade(claim)
            inputs["grade"] = grade
            if group == "accidental_disability":
                if grade not in shares:
                    raise ValidationFailed(f"disability_shares has no share for grade {grade}",
                                           field="disability_shares")
                inputs["share"] = shares[grade]
                factor, formula = factor * shares[grade], "sum_insured x ratio x share(grade)"
            else:
                inputs["paid_grades"] = ",".join(map(str, _TOTAL_DISABILITY_GRADES))
                formula = _TOTAL_DISABILITY
                if grade not in _TOTAL_DISABILITY_GRADES:
                    factor = Decimal(0)
                    draft.notes.append(f"{coverage.code}: pays for total disability (grade 1) only, not grade "
                                       f"{grade}")
        if group in _DEATH_GROUPS:
            death_day = medical.death_date or claim.loss_date
            dues = sorted(d for d in cover.paid_dues if d > death_day)
            draft.refund = round_cent(len(dues) * cover.modal_premium)
            inputs.update(death_date=death_day, refunded_dues=",".join(map(str, dues)),
                          modal_premium=cover.modal_premium)
        if draft.add(coverage.code, formula, inputs, cover.sum_insured * factor) > 0:
            left = any(counts[c.code] + (c.code == coverage.code) < other.max_payouts for c, other in pool)
            draft.ends_cover = lump.ends_cover and not left
        else:
            draft.refund = Decimal(0)
        return


def _grade(claim: Claim) -> int:
    grade = claim.medical.disability_grade
    if grade is None or not 1 <= grade <= 10:
        raise ValidationFailed(f"medical.disability_grade must be 1..10 (JR/T 0083-2013) for a disability benefit, "
                               f"not {grade!r}", field="medical.disability_grade")
    return grade
