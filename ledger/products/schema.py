"""The schema of product definition files (``products/*.toml``): eligibility, plans, basis, tables, rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from ledger.money import Money
from ledger.products.coverages import Coverage, Exclusion, LumpSum, Option, PremiumWaiver, Reimbursement
from ledger.products.fields import (
    WHOLE_LIFE,
    Age,
    DecimalStr,
    Frozen,
    Id,
    MoneyField,
    Names,
    OccupationClass,
    Positive,
    Term,
    TermField,
    Text,
    check_share,
)

__all__ = [
    "INSTALLMENTS", "LONG_TERM_KINDS", "Basis", "CashValueRule", "CommutationBasis", "DividendOption", "Eligibility",
    "FactorBasis", "Feature", "Frequency", "Kind", "PayoutOption", "ProductDefinition", "ServicingTerms", "Sex", "Term",
]

Kind = Literal["term_life", "whole_life", "critical_illness", "medical", "hospital_allowance", "accident"]
LONG_TERM_KINDS = ("term_life", "whole_life", "critical_illness")
Frequency = Literal["annual", "semiannual", "quarterly", "monthly"]
INSTALLMENTS: dict[str, int] = {"annual": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}
Sex = Literal["M", "F"]
# What a product pays besides its coverages, as servicing eligibility rules name it (check = "product_feature").
Feature = Literal["dividends", "survival_benefit"]
DividendOption = Literal["cash", "offset_premium", "accumulate", "paid_up_additions"]
PayoutOption = Literal["cash", "accumulate", "annuity_monthly", "annuity_annual"]


class Eligibility(Frozen):
    """Who and what may be insured: issue ages, sums insured, occupation classes."""

    issue_age_min: Age
    issue_age_max: Age
    max_expiry_age: Annotated[int, Field(ge=1, le=106)] | None = None  # cover ends by this age (term products)
    max_payment_end_age: Annotated[int, Field(ge=1, le=106)] | None = None  # premiums end by this age
    sum_insured_min: MoneyField
    sum_insured_max: MoneyField
    sum_insured_step: MoneyField
    occupation_classes: Annotated[tuple[OccupationClass, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Eligibility:
        if self.issue_age_min > self.issue_age_max:
            raise ValueError(f"issue_age_min: must be <= issue_age_max ({self.issue_age_max}), "
                             f"got {self.issue_age_min}")
        for name in ("sum_insured_min", "sum_insured_step"):
            amount = getattr(self, name).amount
            if amount <= 0:
                raise ValueError(f"{name}: must be > 0, got {amount}")
        if self.sum_insured_max < self.sum_insured_min:
            raise ValueError(f"sum_insured_max: must be >= sum_insured_min ({self.sum_insured_min.amount}), "
                             f"got {self.sum_insured_max.amount}")
        if len(set(self.occupation_classes)) != len(self.occupation_classes):
            raise ValueError(f"occupation_classes: must not repeat, got {list(self.occupation_classes)}")
        return self


class Plans(Frozen):
    """The terms, payment terms and payment frequencies offered, with the modal factor of each frequency."""

    terms: Annotated[tuple[TermField, ...], Field(min_length=1)]
    payment_terms: Annotated[tuple[Positive, ...], Field(min_length=1)]
    frequencies: Annotated[tuple[Frequency, ...], Field(min_length=1)]
    modal_factors: dict[Frequency, DecimalStr]

    @model_validator(mode="after")
    def _consistent(self) -> Plans:
        for frequency in self.frequencies:
            if frequency not in self.modal_factors:
                raise ValueError(f"modal_factors: has no factor for frequency {frequency!r}")
        if self.modal_factors.get("annual", Decimal(1)) != 1:
            raise ValueError(f"modal_factors.annual: must be 1, got {self.modal_factors['annual']}")
        for frequency, factor in self.modal_factors.items():
            if factor <= 0:
                raise ValueError(f"modal_factors.{frequency}: must be > 0, got {factor}")
        return self


class CommutationBasis(Frozen):
    """Rates from a mortality table: net level premium at ``interest``, grossed up as net / (1 - loading)."""

    method: Literal["commutation"]
    mortality: Id
    interest: DecimalStr
    loading: DecimalStr
    claim_multiple: DecimalStr = Decimal(1)  # claim rate = min(1, claim_multiple x q_x)
    claim_note: Text | None = None
    surrender_charges: tuple[DecimalStr, ...] = ()  # share of the reserve withheld in policy year 1, 2, ...

    @model_validator(mode="after")
    def _ranges(self) -> CommutationBasis:
        if not 0 <= self.interest < Decimal("0.2"):
            raise ValueError(f"interest: must be within [0, 0.2), got {self.interest}")
        check_share(self.loading, name="loading", upper_open=True)
        if self.claim_multiple < 1:
            raise ValueError(f"claim_multiple: must be >= 1, got {self.claim_multiple}")
        for year, charge in enumerate(self.surrender_charges, start=1):
            check_share(charge, name=f"surrender_charges[{year - 1}]")
        return self


class AgeBand(Frozen):
    min_age: Age
    max_age: Age
    factor: DecimalStr


class FactorBasis(Frozen):
    """Rates = base_rate x age-band factor (x occupation-class factor), per ``rate_per`` of sum insured."""

    method: Literal["factor"]
    note: Text
    rate_per: DecimalStr
    base_rate: DecimalStr
    age_bands: Annotated[tuple[AgeBand, ...], Field(min_length=1)]
    class_factors: dict[OccupationClass, DecimalStr] | None = None

    @model_validator(mode="after")
    def _bands(self) -> FactorBasis:
        for name in ("rate_per", "base_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        for index, band in enumerate(self.age_bands):
            if band.min_age > band.max_age:
                raise ValueError(f"age_bands[{index}].max_age: must be >= min_age ({band.min_age}), "
                                 f"got {band.max_age}")
            if band.factor <= 0:
                raise ValueError(f"age_bands[{index}].factor: must be > 0, got {band.factor}")
            if index and band.min_age != self.age_bands[index - 1].max_age + 1:
                raise ValueError(f"age_bands[{index}].min_age: must be {self.age_bands[index - 1].max_age + 1} (the "
                                 f"age after the previous band), got {band.min_age}")
        for occupation, factor in (self.class_factors or {}).items():
            if factor <= 0:
                raise ValueError(f"class_factors.{occupation}: must be > 0, got {factor}")
        return self

    def age_factor(self, age: int) -> Decimal | None:
        """The factor of the band holding ``age``, or None when no band does."""
        return next((band.factor for band in self.age_bands if band.min_age <= age <= band.max_age), None)


Basis = Annotated[CommutationBasis | FactorBasis, Field(discriminator="method")]


class TableRefs(Frozen):
    rates: Id
    cash_values: Id | None = None


class TableCashValue(Frozen):
    """Cash values from the product's cash-value table (per 10,000 sum insured by policy year)."""

    rule: Literal["table"]


class UnearnedPremiumCashValue(Frozen):
    """One-year cover: premium x (1 - expense_ratio) x (1 - elapsed days / term days)."""

    rule: Literal["unearned_premium"]
    expense_ratio: DecimalStr
    term_days: Positive = 365

    @model_validator(mode="after")
    def _ratio(self) -> UnearnedPremiumCashValue:
        check_share(self.expense_ratio, name="expense_ratio")
        return self


CashValueRule = Annotated[TableCashValue | UnearnedPremiumCashValue, Field(discriminator="rule")]


def _check_choices(options: tuple[str, ...], default: str | None, *, declared: bool, feature: str,
                   name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless the options and their default fit whether ``feature`` is declared."""
    default_name = f"default_{name.removesuffix('s')}"
    if len(set(options)) != len(options):
        raise ValueError(f"{name}: must not repeat, got {list(options)}")
    if not declared:
        if options:
            raise ValueError(f"{name}: only a product with feature {feature!r} states them, got {list(options)}")
        if default is not None:
            raise ValueError(f"{default_name}: only a product with feature {feature!r} states it, got {default!r}")
        return
    if not options:
        raise ValueError(f"{name}: a product with feature {feature!r} must offer at least one, got []")
    if default is None:
        raise ValueError(f"{default_name}: is required with feature {feature!r} (one of {list(options)})")
    if default not in options:
        raise ValueError(f"{default_name}: must be one of {name} {list(options)}, got {default!r}")


class ServicingTerms(Frozen):
    """What servicing needs from a product: its policy-loan rate, what it pays besides its coverages, the options."""

    loan_rate: DecimalStr | None = None  # simple yearly interest on policy loans; None: the servicing catalog's rate
    features: tuple[Feature, ...] = ()
    dividend_options: tuple[DividendOption, ...] = ()  # with "dividends": how a declared dividend is used
    default_dividend_option: DividendOption | None = None
    payout_options: tuple[PayoutOption, ...] = ()  # with "survival_benefit": how a survival benefit is paid
    default_payout_option: PayoutOption | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ServicingTerms:
        if self.loan_rate is not None:
            check_share(self.loan_rate, name="loan_rate", upper_open=True)
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"features: must not repeat, got {list(self.features)}")
        _check_choices(self.dividend_options, self.default_dividend_option, declared="dividends" in self.features,
                       feature="dividends", name="dividend_options")
        _check_choices(self.payout_options, self.default_payout_option,
                       declared="survival_benefit" in self.features, feature="survival_benefit", name="payout_options")
        return self

    def has_feature(self, name: Feature) -> bool:
        """Whether the product declares ``name`` (pays dividends, pays a survival benefit)."""
        return name in self.features


class ProductDefinition(Frozen):
    """One version of a product as its data file states it (tables are referenced by id, loaded by the catalog)."""

    id: Id
    version: Positive
    kind: Kind
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"
    names: Names
    rider: bool = False  # sold only with a base policy
    eligibility: Eligibility
    plans: Plans
    options: tuple[Option, ...] = ()
    coverages: Annotated[tuple[Coverage, ...], Field(min_length=1)]
    waiting_period_days: Annotated[int, Field(ge=0)]
    waiting_period_covers: Literal["illness", "all"] = "illness"  # accidents are covered from day one
    free_look_days: Annotated[int, Field(ge=0)] = 15
    grace_days: Annotated[int, Field(ge=0)] = 60
    reinstatement_years: Annotated[int, Field(ge=0)] = 2
    # Simple yearly interest on premiums paid late at reinstatement (IL 37; default: the two-year deposit rate).
    reinstatement_interest: DecimalStr = Decimal("0.021")
    exclusions: tuple[Exclusion, ...] = ()
    automatic_limit: MoneyField
    questionnaire: Id
    underwriting: Id
    basis: Basis
    tables: TableRefs
    cash_value: CashValueRule
    # Loan rate, dividends, survival benefits; absent from a file without [servicing] (and from its digest).
    servicing: ServicingTerms | None = None

    @property
    def long_term(self) -> bool:
        """Term life, whole life and critical illness: mortality-derived rates and cash-value tables."""
        return self.kind in LONG_TERM_KINDS

    def has_feature(self, name: Feature) -> bool:
        """Whether the ``[servicing]`` section declares ``name``; False for a product without one."""
        return self.servicing is not None and self.servicing.has_feature(name)

    def money_fields(self) -> dict[str, Money]:
        """Every amount the definition states, by path."""
        amounts = {"automatic_limit": self.automatic_limit,
                   "eligibility.sum_insured_min": self.eligibility.sum_insured_min,
                   "eligibility.sum_insured_max": self.eligibility.sum_insured_max,
                   "eligibility.sum_insured_step": self.eligibility.sum_insured_step}
        for index, coverage in enumerate(self.coverages):
            if isinstance(coverage.benefit, Reimbursement):
                amounts[f"coverages[{index}].benefit.deductible"] = coverage.benefit.deductible
        return amounts

    def issue_ages(self, *, term: Term, payment_years: int) -> range:
        """Issue ages at which ``term`` with ``payment_years`` of premiums is offered (possibly none)."""
        rules = self.eligibility
        highest = rules.issue_age_max
        if isinstance(term, int) and rules.max_expiry_age is not None:
            highest = min(highest, rules.max_expiry_age - term)
        if rules.max_payment_end_age is not None:
            highest = min(highest, rules.max_payment_end_age - payment_years)
        return range(rules.issue_age_min, highest + 1)

    def plan_grid(self) -> list[tuple[Term, int, range]]:
        """Every (term, payment years, issue ages) offered: payment no longer than the term, ages not empty."""
        grid = []
        for term in self.plans.terms:
            for payment_years in self.plans.payment_terms:
                if isinstance(term, int) and payment_years > term:
                    continue
                ages = self.issue_ages(term=term, payment_years=payment_years)
                if ages:
                    grid.append((term, payment_years, ages))
        return grid

    @model_validator(mode="after")
    def _consistent(self) -> ProductDefinition:
        for path, amount in self.money_fields().items():
            if amount.currency != self.currency:
                raise ValueError(f"{path}: currency must be the product's {self.currency}, got {amount.currency}")
        if self.automatic_limit.amount <= 0:
            raise ValueError(f"automatic_limit: must be > 0, got {self.automatic_limit.amount}")
        self._check_codes()
        if self.long_term:
            self._check_long_term()
        else:
            self._check_one_year()
        self._check_kind()
        self._check_servicing()
        if not self.plan_grid():
            raise ValueError("plans: no term and payment term is offered at any issue age")
        return self

    def _check_codes(self) -> None:
        codes = [coverage.code for coverage in self.coverages]
        if len(set(codes)) != len(codes):
            raise ValueError(f"coverages: codes must not repeat, got {codes}")
        options = {option.code for option in self.options}
        for index, coverage in enumerate(self.coverages):
            if coverage.option is not None and coverage.option not in options:
                raise ValueError(f"coverages[{index}].option: no option {coverage.option!r} is declared")
            if isinstance(coverage.benefit, PremiumWaiver):
                for trigger in coverage.benefit.triggers:
                    if trigger not in codes:
                        raise ValueError(f"coverages[{index}].benefit.triggers: no coverage {trigger!r}")
        exclusions = [exclusion.code for exclusion in self.exclusions]
        if len(set(exclusions)) != len(exclusions):
            raise ValueError(f"exclusions: codes must not repeat, got {exclusions}")

    def _check_long_term(self) -> None:
        if not isinstance(self.basis, CommutationBasis):
            raise ValueError(f"basis.method: a {self.kind} product is priced by \"commutation\", "
                             f"got {self.basis.method!r}")
        if not isinstance(self.cash_value, TableCashValue) or self.tables.cash_values is None:
            raise ValueError(f"cash_value.rule: a {self.kind} product takes its cash values from a table "
                             "(rule \"table\" and tables.cash_values)")

    def _check_one_year(self) -> None:
        if not isinstance(self.basis, FactorBasis):
            raise ValueError(f"basis.method: a {self.kind} product is priced by \"factor\", got {self.basis.method!r}")
        if self.plans.terms != (1,) or self.plans.payment_terms != (1,):
            raise ValueError(f"plans.terms: a {self.kind} product is one-year cover (terms and payment_terms [1]), "
                             f"got {list(self.plans.terms)} and {list(self.plans.payment_terms)}")
        if not isinstance(self.cash_value, UnearnedPremiumCashValue) or self.tables.cash_values is not None:
            raise ValueError(f"cash_value.rule: a {self.kind} product's cash value is \"unearned_premium\", "
                             "with no cash-value table")
        basis = self.basis
        for age in (self.eligibility.issue_age_min, self.eligibility.issue_age_max):
            if basis.age_factor(age) is None:
                raise ValueError(f"basis.age_bands: no band holds issue age {age}")
        if basis.class_factors is not None:
            for occupation in self.eligibility.occupation_classes:
                if occupation not in basis.class_factors:
                    raise ValueError(f"basis.class_factors: no factor for allowed occupation class {occupation}")

    def _check_kind(self) -> None:
        groups = {c.benefit.group for c in self.coverages if isinstance(c.benefit, LumpSum)}
        kinds = {c.benefit.kind for c in self.coverages}
        if self.kind == "accident":
            if self.waiting_period_days != 0:
                raise ValueError(f"waiting_period_days: an accident product has none, got {self.waiting_period_days}")
            if not isinstance(self.basis, FactorBasis) or self.basis.class_factors is None:
                raise ValueError("basis.class_factors: accident rates depend on the occupation class")
        needs = {"term_life": ("death" in groups, "a death benefit"),
                 "whole_life": ("death" in groups and WHOLE_LIFE in self.plans.terms,
                                "a death benefit and the whole_life term"),
                 "critical_illness": ("severe" in groups and "premium_waiver" in kinds and self.waiting_period_days > 0,
                                      "a severe-illness benefit, a premium waiver and a waiting period"),
                 "medical": ("reimbursement" in kinds, "a reimbursement benefit"),
                 "hospital_allowance": ("daily_allowance" in kinds, "a daily allowance benefit"),
                 "accident": ("accidental_death" in groups, "an accidental death benefit")}
        present, what = needs[self.kind]
        if not present:
            raise ValueError(f"coverages: a {self.kind} product needs {what}")

    def _check_servicing(self) -> None:
        """Policy loans, dividends and survival benefits belong to long-term cover, which builds a cash value."""
        terms = self.servicing
        if terms is None or self.long_term:
            return
        if terms.loan_rate is not None:
            raise ValueError(f"servicing.loan_rate: only long-term products have a cash value to lend against "
                             f"(this one is {self.kind}), got {terms.loan_rate}")
        if terms.features:
            raise ValueError(f"servicing.features: only long-term products pay dividends or survival benefits "
                             f"(this one is {self.kind}), got {list(terms.features)}")
