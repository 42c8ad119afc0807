"""The servicing catalog as data: every operation a customer can request, with its rules, documents, money and risk.

The catalog is one TOML file (``products/servicing/catalog.toml``) read into frozen models. Every number in it
(loan ratio, fees, cooling-off hours, days and years of the eligibility rules) is a default in the data; the code
knows only the names of the checks and formulas. A request cites the catalog's id, version and ``digest``:
``sha256:`` of the RFC 8785 JSON of the validated catalog, so the same content gives the same digest whatever the
file's layout or comments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StringConstraints, model_validator

from ledger.errors import NotFound
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.products.catalog import default_products_dir
from ledger.products.fields import (
    Code,
    DecimalStr,
    Frozen,
    Id,
    MoneyField,
    Names,
    Positive,
    Text,
    check_share,
    parse_model,
    read_toml,
)
from ledger.products.schema import Kind

__all__ = ["FORMULAS", "MIN_OPERATIONS", "Consent", "Document", "EligibilityRule", "MoneyRule", "Operation",
           "ServicingCatalog", "default_catalog_path", "load_catalog", "parse_catalog"]

# Issue 9 asks for at least this many operations; a catalog with fewer is a mistake, not a smaller offer.
MIN_OPERATIONS = 24

Requester = Literal["policyholder", "insured", "beneficiary", "staff_on_behalf"]
ConsentParty = Literal["insured", "policyholder", "new_policyholder", "beneficiary"]
# The policy statuses of DOMAIN.md (ACORD-like); a rule may name any of them.
PolicyStatus = Literal["FreeLook", "InForce", "Grace", "Suspended", "Reinstated", "ReducedPaidUp", "Surrendered",
                       "DeathClaimPending", "Terminated", "Matured", "Expired", "Cancelled"]
Direction = Literal["in", "out", "none", "either"]  # either: the amount may go either way (a re-rating)
Feature = Literal["dividends", "survival_benefit"]
OperationCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")]
FamilyName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")]
# Where a rule comes from: an article of the Insurance Law or of an SPC interpretation, or "practice".
Source = Annotated[str, StringConstraints(pattern=r"^(practice|(IL|SPC-II|SPC-III) \d+(\(\d+\))?)$")]
Hours = Annotated[int, Field(ge=0)]

# Every formula a catalog may name: the direction its money moves and what it computes (the family module that
# carries the operation out implements it; the parameters are the operation's).
FORMULAS: dict[str, tuple[Direction, str]] = {
    "none": ("none", "no money moves"),
    "loan_limit": ("out", "limit = ratio x (cash value - debts) on the request date; each loan runs from the day "
                          "it is paid out (the request completes) for at most max_months months, at the product's "
                          "loan rate, else interest_rate a year"),
    "loan_repayment": ("in", "principal repaid + interest accrued at the loan rate to the day of repayment"),
    "automatic_premium_loan": ("none", "an unpaid premium is lent from the cash value while it is at most "
                                       "ratio x (cash value - debts), at interest_rate a year"),
    "partial_withdrawal": ("out", "paid = amount - amount x fee of the policy year (fees_by_policy_year, then "
                                  "fee_after); min_amount <= amount <= max_ratio x (cash value - debts); the sum "
                                  "assured drops in proportion to the cash value taken, down onto the product's "
                                  "grid of sums, never below the product's smallest"),
    "surrender_value": ("out", "cash value at the request date - unpaid premium - loans - loan interest "
                               "+ refundable premium, paid within pay_within_days days"),
    "reinstatement_amount": ("in", "unpaid premiums + simple interest at the product's reinstatement rate"),
    "free_look_refund": ("out", "premiums paid - fee, without interest"),
    "partial_surrender_value": ("out", "cash value x decrease / sum assured - the same share of debts"),
    "rider_premium": ("in", "the rider's premium from its start to the next premium due date"),
    "rider_cash_value": ("out", "the rider's cash value - its unpaid premium"),
    "occupation_rerating": ("either", "premium at the new occupation class - premium at the old one, for the "
                                      "unexpired part of the premium period"),
    "premium_holiday": ("none", "premiums due in the holiday (at most max_months months) are not collected; "
                                "cover continues while cash value - debts stays above zero"),
}


def default_catalog_path(products_dir: Path | None = None) -> Path:
    """``<products_dir>/servicing/catalog.toml``; with no ``products_dir``, the shipped catalog under the
    repository's ``products/``."""
    return (products_dir or default_products_dir()) / "servicing" / "catalog.toml"


def _refuse_empty(values: tuple[object, ...], *, path: str) -> None:
    if not values:
        raise ValueError(f"{path}: must name at least one, got []")


def _refuse_repeats(values: Iterable[str], *, path: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{path}: {value!r} is listed twice")
        seen.add(value)


# -- documents and consents ----------------------------------------------------------------------------------

class Document(Frozen):
    """A document the requester uploads with the request."""

    code: Code
    zh: Text
    en: Text


class Consent(Frozen):
    """Someone's consent the request needs besides the requester's own (the insured's for a beneficiary change)."""

    code: Code
    party: ConsentParty
    written: StrictBool  # a signed consent form is uploaded
    unless_requested_by: tuple[Requester, ...] = ()  # not needed when that party is the one asking
    zh: Text
    en: Text


# -- eligibility rules ---------------------------------------------------------------------------------------

class _Rule(Frozen):
    code: Code  # the rule a refusal names
    zh: Text
    en: Text

    def parameters(self) -> dict[str, Any]:
        """The rule's parameters (statuses, days, ...) as JSON values."""
        return self.model_dump(mode="json", exclude={"code", "check", "zh", "en"})


class StatusRule(_Rule):
    """The policy's status is one of ``statuses``."""

    check: Literal["policy_status"]
    statuses: tuple[PolicyStatus, ...]

    @model_validator(mode="after")
    def _distinct(self) -> StatusRule:
        _refuse_empty(self.statuses, path="statuses")
        _refuse_repeats(self.statuses, path="statuses")
        return self


class KindRule(_Rule):
    """The policy's product is of one of ``kinds``."""

    check: Literal["product_kind"]
    kinds: tuple[Kind, ...]

    @model_validator(mode="after")
    def _distinct(self) -> KindRule:
        _refuse_empty(self.kinds, path="kinds")
        _refuse_repeats(self.kinds, path="kinds")
        return self


class FeatureRule(_Rule):
    """The policy's product has ``feature`` (pays dividends, pays a survival benefit or annuity)."""

    check: Literal["product_feature"]
    feature: Feature


class AnniversaryRule(_Rule):
    """Requested within ``window_days`` before the next policy anniversary; takes effect on it."""

    check: Literal["anniversary"]
    window_days: Annotated[int, Field(ge=0, le=366)]


class ReportedWithinRule(_Rule):
    """Reported within ``days`` of the change it reports (an occupation change)."""

    check: Literal["reported_within"]
    days: Positive


class PolicyYearsRule(_Rule):
    """The policy has been in force for at least ``min_years`` years."""

    check: Literal["policy_years"]
    min_years: Positive


class PremiumsPaidRule(_Rule):
    """At least ``min_count`` premiums have been paid."""

    check: Literal["premiums_paid"]
    min_count: Positive


# Checks of the policy's state that take no parameter.
StateCheck = Literal[
    "no_open_loan", "no_arrears", "no_debit_in_progress", "no_open_claim", "open_loan", "cash_value",
    "reinstatement_window", "rider_attached", "base_policy", "sum_assured_floor", "frequency_offered"]


class StateRule(_Rule):
    """A check of the policy's state named by ``check`` (no open loan, a cash value above zero, ...)."""

    check: StateCheck


EligibilityRule = Annotated[StatusRule | KindRule | FeatureRule | AnniversaryRule | ReportedWithinRule
                            | PolicyYearsRule | PremiumsPaidRule | StateRule, Field(discriminator="check")]


# -- money ---------------------------------------------------------------------------------------------------

class NoParameters(Frozen):
    """A formula that takes no parameter from the catalog (its inputs are the policy's and the product's)."""


class PremiumLoanTerms(Frozen):
    ratio: DecimalStr  # share of (cash value - debts) that may be lent
    interest_rate: DecimalStr  # a year, where the product states no loan rate

    @model_validator(mode="after")
    def _shares(self) -> PremiumLoanTerms:
        check_share(self.ratio, name="ratio")
        check_share(self.interest_rate, name="interest_rate", upper_open=True)
        return self


class LoanTerms(PremiumLoanTerms):
    max_months: Positive  # the longest term of one loan


class WithdrawalTerms(Frozen):
    fees_by_policy_year: tuple[DecimalStr, ...]  # years 1, 2, ...
    fee_after: DecimalStr  # every later year
    max_ratio: DecimalStr  # of (cash value - debts)
    min_amount: MoneyField

    @model_validator(mode="after")
    def _shares(self) -> WithdrawalTerms:
        _refuse_empty(self.fees_by_policy_year, path="fees_by_policy_year")
        for index, fee in enumerate(self.fees_by_policy_year):
            check_share(fee, name=f"fees_by_policy_year[{index}]", upper_open=True)
        check_share(self.fee_after, name="fee_after", upper_open=True)
        check_share(self.max_ratio, name="max_ratio")
        if self.min_amount.amount <= 0:
            raise ValueError(f"min_amount: must be > 0, got {self.min_amount.amount}")
        return self


class SurrenderTerms(Frozen):
    pay_within_days: Positive


class RefundTerms(Frozen):
    fee: MoneyField  # kept from the premiums refunded

    @model_validator(mode="after")
    def _not_negative(self) -> RefundTerms:
        if self.fee.amount < 0:
            raise ValueError(f"fee: must be >= 0, got {self.fee.amount}")
        return self


class HolidayTerms(Frozen):
    max_months: Positive


class _MoneyRule(Frozen):
    direction: Direction
    formula: str

    @model_validator(mode="after")
    def _direction_fits(self) -> _MoneyRule:
        expected = FORMULAS[self.formula][0]
        if self.direction != expected:
            raise ValueError(f"direction: formula {self.formula!r} moves money {expected!r}, got {self.direction!r}")
        return self

    @property
    def expression(self) -> str:
        """What the formula computes, in words."""
        return FORMULAS[self.formula][1]


class PlainMoney(_MoneyRule):
    formula: Literal["none", "loan_repayment", "reinstatement_amount", "partial_surrender_value", "rider_premium",
                     "rider_cash_value", "occupation_rerating"]
    parameters: NoParameters = NoParameters()


class LoanMoney(_MoneyRule):
    formula: Literal["loan_limit"]
    parameters: LoanTerms


class PremiumLoanMoney(_MoneyRule):
    formula: Literal["automatic_premium_loan"]
    parameters: PremiumLoanTerms


class WithdrawalMoney(_MoneyRule):
    formula: Literal["partial_withdrawal"]
    parameters: WithdrawalTerms


class SurrenderMoney(_MoneyRule):
    formula: Literal["surrender_value"]
    parameters: SurrenderTerms


class RefundMoney(_MoneyRule):
    formula: Literal["free_look_refund"]
    parameters: RefundTerms


class HolidayMoney(_MoneyRule):
    formula: Literal["premium_holiday"]
    parameters: HolidayTerms


MoneyRule = Annotated[PlainMoney | LoanMoney | PremiumLoanMoney | WithdrawalMoney | SurrenderMoney | RefundMoney
                      | HolidayMoney, Field(discriminator="formula")]


# -- operations and the catalog ------------------------------------------------------------------------------

class Operation(Frozen):
    """One servicing operation: who may ask, what it needs, what it changes, the money it moves and its risk."""

    code: OperationCode
    family: FamilyName  # the module family that carries it out
    names: Names
    description: Names
    requesters: tuple[Requester, ...]
    consents: tuple[Consent, ...] = ()
    documents: tuple[Document, ...] = ()
    eligibility: tuple[EligibilityRule, ...]
    changes_contract: StrictBool  # a new e-policy version supersedes the old one
    ends_contract: StrictBool = False
    underwriting: StrictBool  # a new health declaration is underwritten
    money: MoneyRule
    high_risk: StrictBool
    automatic: StrictBool  # approved at once by the rules
    cooling_off_hours: Hours | None = None  # high-risk only; the catalog's default when absent
    sources: tuple[Source, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Operation:
        for path, values in (("requesters", self.requesters), ("eligibility", self.eligibility),
                             ("sources", self.sources)):
            _refuse_empty(values, path=path)
        _refuse_repeats(self.requesters, path="requesters")
        _refuse_repeats((rule.code for rule in self.eligibility), path="eligibility")
        _refuse_repeats((document.code for document in self.documents), path="documents")
        _refuse_repeats((consent.code for consent in self.consents), path="consents")
        if self.high_risk and self.automatic:
            raise ValueError("automatic: a high-risk operation is never approved automatically, got True")
        if not self.high_risk and self.cooling_off_hours is not None:
            raise ValueError(f"cooling_off_hours: only high-risk operations have a cooling-off period, "
                             f"got {self.cooling_off_hours}")
        if self.automatic and self.underwriting:
            raise ValueError("automatic: an operation that needs underwriting is not approved automatically, "
                             "got True")
        if self.automatic and self.consents:
            raise ValueError("automatic: an operation that needs someone's consent is not approved automatically, "
                             "got True")
        if self.changes_contract and self.ends_contract:
            raise ValueError("ends_contract: an operation that ends the contract issues no new version of it "
                             "(changes_contract = false), got True")
        return self


class Defaults(Frozen):
    cooling_off_hours: Hours  # of a high-risk operation that states none
    four_eyes_amount: MoneyField  # a high-risk request moving at least this much needs two approvers
    review_working_days: Annotated[int, Field(ge=0, le=30)]  # service level of a request a person reviews

    @model_validator(mode="after")
    def _positive(self) -> Defaults:
        if self.four_eyes_amount.amount <= 0:
            raise ValueError(f"four_eyes_amount: must be > 0, got {self.four_eyes_amount.amount}")
        return self


class ServicingCatalog(Frozen):
    """Every servicing operation offered, by code, with the catalog's id, version and digest."""

    id: Id
    version: Positive
    names: Names
    defaults: Defaults
    staff_documents: tuple[Document, ...] = ()  # required whenever staff act for a customer
    entries: tuple[Operation, ...] = Field(alias="operations")

    @model_validator(mode="after")
    def _consistent(self) -> ServicingCatalog:
        if len(self.entries) < MIN_OPERATIONS:
            raise ValueError(f"operations: must hold at least {MIN_OPERATIONS} operations, got {len(self.entries)}")
        for index, operation in enumerate(self.entries):
            if operation.code in {other.code for other in self.entries[:index]}:
                raise ValueError(f"operations[{index}].code: {operation.code!r} is already defined")
        _refuse_repeats((document.code for document in self.staff_documents), path="staff_documents")
        on_behalf = [op.code for op in self.entries if "staff_on_behalf" in op.requesters]
        if on_behalf and not self.staff_documents:
            raise ValueError(f"staff_documents: staff may act for customers in {on_behalf[0]!r} and others, so the "
                             f"signed authorisation they cite must be listed, got []")
        return self

    @cached_property
    def digest(self) -> str:
        """``sha256:`` of the RFC 8785 JSON of the catalog (keys as the file writes them)."""
        return digest_str(sha256(canonical_json(self.model_dump(mode="json", by_alias=True))))

    @cached_property
    def _index(self) -> dict[str, Operation]:
        return {operation.code: operation for operation in self.entries}

    def operations(self) -> tuple[Operation, ...]:
        """Every operation, in the file's order."""
        return self.entries

    def get(self, code: str) -> Operation:
        """The operation ``code``; raises ``NotFound`` naming the code."""
        operation = self._index.get(code)
        if operation is None:
            raise NotFound(f"no servicing operation {code!r} in catalog {self.id} v{self.version}", field="code")
        return operation

    def cooling_off_hours(self, operation: Operation) -> int | None:
        """Hours a high-risk ``operation`` waits before money moves or the change takes effect (its own, else the
        catalog's default); None for an operation that is not high-risk."""
        if not operation.high_risk:
            return None
        if operation.cooling_off_hours is not None:
            return operation.cooling_off_hours
        return self.defaults.cooling_off_hours


def parse_catalog(raw: Mapping[str, Any], *, source: str) -> ServicingCatalog:
    """``raw`` (a catalog as its file states it) validated.

    Raises ``ValidationFailed`` naming ``source``, the path and the value of each problem: an unknown key,
    requester, status, product kind, check or formula; a money direction that does not fit its formula; a repeated
    code; a high-risk operation marked automatic; fewer than ``MIN_OPERATIONS`` operations.
    """
    return parse_model(ServicingCatalog, dict(raw), source=source)


def load_catalog(path: str | Path) -> ServicingCatalog:
    """The catalog in the TOML file at ``path``.

    Raises ``ValidationFailed`` naming the file if it cannot be read or parsed, and as ``parse_catalog`` does
    (naming the file, the path in it and the value) if its content is wrong.
    """
    file = Path(path)
    return parse_catalog(read_toml(file, source=str(file)), source=str(file))

