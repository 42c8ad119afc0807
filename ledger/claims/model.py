"""The values the claim rules work on: the cover as it stood, the claim with its medical evidence, and what earlier
claims already used. The service builds them from the journal; the rules (assessment, first review, fraud,
clocks) read them and nothing else, so every rule is pure and its inputs can be recorded with its result.

Dates are business dates (the configured time zone); amounts are ``Decimal`` in the cover's currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

ClaimType = Literal["medical", "hospital_allowance", "critical_illness", "death", "disability", "accident"]
CLAIM_TYPES: tuple[str, ...] = ("medical", "hospital_allowance", "critical_illness", "death", "disability",
                                "accident")
Cause = Literal["illness", "accident"]
Track = Literal["fast", "standard", "major"]


@dataclass(frozen=True)
class Interval:
    """Days ``start`` .. ``end`` inclusive (``end`` None: still open)."""

    start: date
    end: date | None = None

    def contains(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class LoanOwed:
    """One policy loan as owed on ``as_of``: the principal plus simple interest for the days since ``start``
    (actual/365, rounded half-up to 0.01)."""

    principal: Decimal
    rate: Decimal  # simple yearly interest
    start: date
    as_of: date
    days: int
    interest: Decimal

    @classmethod
    def accrued(cls, *, principal: Decimal, rate: Decimal, start: date, as_of: date) -> LoanOwed:
        """The loan on ``as_of``: days from ``start`` (none before it) and the interest they accrue."""
        days = max(0, (as_of - start).days)
        interest = (principal * rate * days / Decimal(365)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return cls(principal=principal, rate=rate, start=start, as_of=as_of, days=days, interest=interest)

    @property
    def owed(self) -> Decimal:
        return self.principal + self.interest


@dataclass(frozen=True)
class Cover:
    """The policy as the claim rules see it (facts only, from the policy stream)."""

    policy_no: str
    application_id: str
    product_id: str
    product_version: int
    kind: str  # the product kind (term_life, whole_life, critical_illness, medical, hospital_allowance, accident)
    currency: str
    sum_insured: Decimal
    status: str  # the policy status now (FreeLook, InForce, Grace, Suspended, Terminated, ...)
    effective_date: date  # cover (and the incontestability / suicide clocks) start here
    issued_on: date
    end_date: date | None  # maturity, or the day the contract ended (cancelled, surrendered, terminated)
    application_date: date  # when the health declaration was given
    reinstated_on: date | None = None  # the latest reinstatement: waiting period and suicide clock restart
    suspensions: tuple[Interval, ...] = ()  # lapsed (效力中止) periods: no cover inside them
    grace: Interval | None = None  # a grace period open on the loss date: in force, unpaid premium deducted
    unpaid_premium: Decimal = Decimal(0)  # premium due and unpaid (grace) at the loss date: unpaid_dues x modal
    modal_premium: Decimal = Decimal(0)
    paid_dues: tuple[date, ...] = ()  # due dates of premiums paid (a death benefit refunds those after death)
    loans: Decimal = Decimal(0)  # outstanding policy-loan principal plus interest at the assessment date
    unpaid_dues: tuple[date, ...] = ()  # due dates on or before the loss date neither paid nor waived
    loan_details: tuple[LoanOwed, ...] = ()  # each open loan as owed at the assessment date (sums to ``loans``)
    options: tuple[str, ...] = ()  # plan options taken (e.g. MULTI-SEVERE)
    exclusions: tuple[dict[str, str], ...] = ()  # set at underwriting: {"code", "zh", "en"}
    insured: str = ""
    policyholder: str = ""
    beneficiaries: tuple[dict[str, Any], ...] = ()
    questionnaire: dict[str, Any] = field(default_factory=dict)  # {"id", "version", "digest"} of the declaration


@dataclass(frozen=True)
class Invoice:
    """A medical e-invoice with its discharge summary: from a hospital's signed event (``source`` "system", its
    journal ``index``) or keyed by staff from an uploaded picture (``source`` "keyed")."""

    invoice_no: str
    hospital: str  # the hospital's code
    admitted: date | None
    discharged: date | None
    total: Decimal  # everything billed
    ineligible: Decimal  # items outside any cover (self-funded category B/C, comfort items)
    social_insurance_paid: Decimal  # what basic social medical insurance paid
    categories: dict[str, Decimal] = field(default_factory=dict)  # amounts by category (drugs, beds, tests, ...)
    diagnoses: tuple[str, ...] = ()  # ICD-10 codes (personal)
    source: Literal["system", "keyed"] = "system"
    index: int = 0  # the journal entry that brought it
    digest: str = ""  # the uploaded document's digest, if any

    @property
    def days(self) -> int:
        """Days in hospital: discharge date minus admission date (at least one for a same-day stay)."""
        if self.admitted is None or self.discharged is None:
            return 0
        return stay_days(self.admitted, self.discharged)

    @property
    def eligible(self) -> Decimal:
        return self.total - self.ineligible


@dataclass(frozen=True)
class History:
    """A condition the medical records show, with the date it was first diagnosed (personal)."""

    code: str  # ICD-10
    since: date
    source_index: int = 0


@dataclass(frozen=True)
class Medical:
    """The medical facts of a claim as the documents establish them (personal: sealed under the insured's key)."""

    diagnoses: tuple[str, ...] = ()  # ICD-10 codes of this claim
    history: tuple[History, ...] = ()  # earlier conditions the records show
    illness_group: str | None = None  # critical illness: severe | moderate | mild (from the diagnosis table)
    disability_grade: int | None = None  # 1..10, JR/T 0083-2013
    death_cause: str | None = None  # illness | accident | suicide | ...
    death_date: date | None = None


@dataclass(frozen=True)
class Claim:
    """One claim as the rules see it."""

    claim_id: str
    policy_no: str
    claim_type: str
    cause: str  # illness | accident
    loss_date: date
    reported_at: datetime
    complete_at: datetime | None = None  # documents complete (the statutory clock starts)
    invoices: tuple[Invoice, ...] = ()
    medical: Medical = field(default_factory=Medical)
    exclusion_facts: tuple[str, ...] = ()  # exclusion codes the documents establish (e.g. "DRUNK-DRIVING")
    payee: str = ""  # the party paid
    account_digest: str = ""  # a keyed hash of the payee's bank account (never the account itself)


@dataclass(frozen=True)
class Prior:
    """An earlier claim of the same insured (any policy), as the claims read model holds it (facts only)."""

    claim_id: str
    policy_no: str
    insured: str
    claim_type: str
    status: str
    reported_at: datetime
    loss_date: date
    paid: Decimal = Decimal(0)  # benefit paid
    coverages: tuple[str, ...] = ()  # coverage codes paid (critical illness payout counts)
    policy_year_start: date | None = None  # medical: the policy year its amounts count against
    deductible_used: Decimal = Decimal(0)
    days_paid: int = 0  # hospital allowance: days paid in that policy year
    invoice_nos: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()
    account_digest: str = ""
    hospital: str = ""
    admitted: date | None = None
    discharged: date | None = None
    diagnosis_group: str = ""
    index: int = 0  # the journal entry of its report


@dataclass(frozen=True)
class Change:
    """A servicing change on the policy the fraud rules watch (beneficiary, owner, payment account)."""

    operation: str
    on: datetime
    index: int
    request_id: str = ""


@dataclass(frozen=True)
class Versions:
    """The versions an amount or decision cites: product, tables, and the claim rule sets."""

    product: dict[str, Any]  # {"id", "version", "digest"}
    rules: dict[str, Any]  # {"id", "version", "digest"} of products/claims/rules.toml
    fraud: dict[str, Any] | None = None
    diagnoses: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"product": self.product, "rules": self.rules}
        if self.fraud is not None:
            out["fraud"] = self.fraud
        if self.diagnoses is not None:
            out["diagnoses"] = self.diagnoses
        return out


def merged_stays(stays: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """The hospital stays the invoices' (admission, discharge) dates make, in order: stays that overlap, or where
    one begins on the day another ends (a transfer), are one stay from the first admission to the last
    discharge, so no day is paid twice and the deductible days are taken once per stay."""
    merged: list[tuple[date, date]] = []
    for admitted, discharged in sorted(stays):
        if merged and admitted <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], discharged))
        else:
            merged.append((admitted, discharged))
    return merged


def stay_days(admitted: date, discharged: date) -> int:
    """Days in hospital: discharge date minus admission date, at least one for a same-day stay."""
    return max((discharged - admitted).days, 1)
