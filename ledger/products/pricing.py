"""Premiums and cash values of a plan under one product version: pure functions of the product's data.

Premium rule (``premium-from-rate-table`` v1): annual premium = rate x sum insured / rate_per x the factors of the
options chosen x (1 + extra premium % / 100), rounded half-up to 0.01; the installment (modal premium) = the rounded
annual premium x the frequency's modal factor, rounded half-up to 0.01.

Cash-value rules: ``cash-value-table-linear`` v1 (long-term products): the table's value at the end of the policy
year, or, given the days elapsed in the policy year, the straight line from the previous year end's value (0
before year 1) over 365 days; x sum insured / rate_per, rounded. ``one-year-unearned-premium`` v1 (one-year
products): premium x (1 - expense ratio) x (1 - elapsed days / term days), rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from ledger.errors import ValidationFailed
from ledger.money import Money
from ledger.products.catalog import Product
from ledger.products.fields import WHOLE_LIFE
from ledger.products.schema import INSTALLMENTS, Frequency, Term, UnearnedPremiumCashValue

__all__ = ["CASH_VALUE_RULES", "PREMIUM_RULE", "CashValue", "Plan", "PlanRefused", "Quote", "cash_value",
           "check_plan", "quote"]

PREMIUM_RULE = {"name": "premium-from-rate-table", "version": 1}
CASH_VALUE_RULES = {"table": {"name": "cash-value-table-linear", "version": 1},
                    "unearned_premium": {"name": "one-year-unearned-premium", "version": 1}}
DAYS_IN_POLICY_YEAR = 365  # for the straight line within a policy year of a long-term product
HUNDRED = Decimal(100)


class PlanRefused(ValidationFailed):
    """A plan the product does not offer; ``rule`` names the rule (``AGE-OUT-OF-RANGE``, ...)."""

    def __init__(self, rule: str, message: str, *, field: str) -> None:
        super().__init__(f"{rule}: {message}", field=field)
        self.rule = rule


@dataclass(frozen=True)
class Plan:
    """What is bought: a product, a sum insured, a term in years (None: whole life), payment years, frequency."""

    product_id: str
    sum_insured: Money
    term_years: int | None
    payment_years: int
    frequency: Frequency = "annual"
    options: tuple[str, ...] = ()

    @classmethod
    def of(cls, product: Product, *, sum_insured: Money, term_years: object, payment_years: object,
           frequency: object = "annual", options: object = ()) -> Plan:
        """A plan for ``product`` from loosely typed input (a request body).

        ``term_years`` is a positive int, or None / ``"whole_life"`` for whole life. Raises ``ValidationFailed``
        naming the field for a value of the wrong type; whether the product offers the plan is ``check_plan``'s.
        """
        if term_years == WHOLE_LIFE:
            term_years = None
        if term_years is not None and (isinstance(term_years, bool) or not isinstance(term_years, int)):
            raise ValidationFailed(f"term_years must be a whole number of years or \"{WHOLE_LIFE}\", "
                                   f"got {term_years!r}", field="term_years")
        if isinstance(payment_years, bool) or not isinstance(payment_years, int):
            raise ValidationFailed(f"payment_years must be a whole number of years, got {payment_years!r}",
                                   field="payment_years")
        if frequency not in INSTALLMENTS:
            raise ValidationFailed(f"frequency must be one of {sorted(INSTALLMENTS)}, got {frequency!r}",
                                   field="frequency")
        if not isinstance(options, list | tuple) or not all(isinstance(code, str) for code in options):
            raise ValidationFailed(f"options must be a list of option codes, got {options!r}", field="options")
        return cls(product_id=product.id, sum_insured=sum_insured, term_years=term_years,
                   payment_years=payment_years, frequency=cast(Frequency, frequency), options=tuple(options))

    @property
    def term(self) -> Term:
        """The term as product data writes it: years, or ``"whole_life"``."""
        return "whole_life" if self.term_years is None else self.term_years

    def to_json(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "sum_insured": self.sum_insured.to_json(),
                "term_years": self.term_years, "payment_years": self.payment_years, "frequency": self.frequency,
                "options": list(self.options)}


@dataclass(frozen=True)
class Quote:
    """A premium with what produced it: ``basis`` (product, table and rule versions) and ``inputs``."""

    annual_premium: Money
    modal_premium: Money
    frequency: Frequency
    installments_per_year: int
    basis: dict[str, Any]
    inputs: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"annual_premium": self.annual_premium.to_json(), "modal_premium": self.modal_premium.to_json(),
                "frequency": self.frequency, "installments_per_year": self.installments_per_year,
                "basis": self.basis, "inputs": self.inputs}


@dataclass(frozen=True)
class CashValue:
    """A cash value with what produced it."""

    amount: Money
    basis: dict[str, Any]
    inputs: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount.to_json(), "basis": self.basis, "inputs": self.inputs}


def _product_ref(product: Product) -> dict[str, Any]:
    return {"id": product.id, "version": product.version, "digest": product.digest}


def _check_shape(product: Product, plan: Plan, *, age: int, sex: str) -> None:
    """The checks shared by quotes and cash values: the product, sex, currency, term, payment term and age."""
    definition = product.definition
    name = f"{product.id} v{product.version}"
    if plan.product_id != product.id:
        raise PlanRefused("PRODUCT-MISMATCH", f"the plan is for {plan.product_id!r}, not {name}", field="product_id")
    if sex not in ("M", "F"):
        raise ValidationFailed(f"sex must be \"M\" or \"F\", got {sex!r}", field="sex")
    if plan.sum_insured.currency != definition.currency:
        raise PlanRefused("CURRENCY-MISMATCH", f"{name} is written in {definition.currency}, "
                          f"got {plan.sum_insured.currency}", field="sum_insured")
    if plan.term not in definition.plans.terms:
        raise PlanRefused("TERM-NOT-OFFERED", f"{name} offers terms {list(definition.plans.terms)}, "
                          f"got {plan.term!r}", field="term_years")
    offered = definition.plans.payment_terms
    if plan.payment_years not in offered or (isinstance(plan.term, int) and plan.payment_years > plan.term):
        raise PlanRefused("PAYMENT-TERM-NOT-OFFERED", f"{name} offers payment terms {list(offered)} (no longer "
                          f"than the term), got {plan.payment_years} for term {plan.term!r}", field="payment_years")
    if isinstance(age, bool) or not isinstance(age, int):
        raise ValidationFailed(f"age must be a whole number of years, got {age!r}", field="age")
    ages = definition.issue_ages(term=plan.term, payment_years=plan.payment_years)
    if age not in ages:
        allowed = f"{ages.start}..{ages.stop - 1}" if ages else "none"
        raise PlanRefused("AGE-OUT-OF-RANGE", f"issue age {age} is outside the ages {name} accepts for term "
                          f"{plan.term!r} with {plan.payment_years}-year payment ({allowed})", field="age")


def check_plan(product: Product, plan: Plan, *, age: int, sex: str, occupation_class: int) -> None:
    """Refuse a plan ``product`` does not offer to this insured; return None when it fits.

    Raises ``PlanRefused`` (a ``ValidationFailed``) whose ``rule`` is one of PRODUCT-MISMATCH, CURRENCY-MISMATCH,
    TERM-NOT-OFFERED, PAYMENT-TERM-NOT-OFFERED, FREQUENCY-NOT-OFFERED, OPTION-NOT-OFFERED, AGE-OUT-OF-RANGE,
    SUM-INSURED-OUT-OF-RANGE, SUM-INSURED-STEP or OCCUPATION-CLASS-NOT-ALLOWED, and ``ValidationFailed`` for a sex
    other than M/F.
    """
    _check_shape(product, plan, age=age, sex=sex)
    definition = product.definition
    name = f"{product.id} v{product.version}"
    frequencies = definition.plans.frequencies
    single = definition.long_term and plan.payment_years == 1
    if plan.frequency not in frequencies or (single and plan.frequency != "annual"):
        offered = ["annual"] if single else list(frequencies)
        raise PlanRefused("FREQUENCY-NOT-OFFERED", f"{name} offers frequencies {offered} for this plan, "
                          f"got {plan.frequency!r}", field="frequency")
    options = {option.code for option in definition.options}
    for code in plan.options:
        if code not in options or plan.options.count(code) > 1:
            raise PlanRefused("OPTION-NOT-OFFERED", f"{name} offers options {sorted(options)} (each once), "
                              f"got {list(plan.options)}", field="options")
    rules = definition.eligibility
    amount = plan.sum_insured.amount
    if not rules.sum_insured_min.amount <= amount <= rules.sum_insured_max.amount:
        raise PlanRefused("SUM-INSURED-OUT-OF-RANGE", f"{name} accepts sums insured from "
                          f"{rules.sum_insured_min.amount} to {rules.sum_insured_max.amount}, got {amount}",
                          field="sum_insured")
    if (amount - rules.sum_insured_min.amount) % rules.sum_insured_step.amount != 0:
        raise PlanRefused("SUM-INSURED-STEP", f"{name} accepts sums insured in steps of "
                          f"{rules.sum_insured_step.amount} from {rules.sum_insured_min.amount}, got {amount}",
                          field="sum_insured")
    if occupation_class not in rules.occupation_classes:
        raise PlanRefused("OCCUPATION-CLASS-NOT-ALLOWED", f"{name} accepts occupation classes "
                          f"{list(rules.occupation_classes)}, got {occupation_class!r}", field="occupation_class")


def quote(product: Product, plan: Plan, *, age: int, sex: str, occupation_class: int,
          extra_premium_pct: Decimal = Decimal(0)) -> Quote:
    """The annual and modal premium of ``plan`` for an insured of issue ``age``, ``sex`` and occupation class.

    ``extra_premium_pct`` is an underwriting extra in percent of the standard premium (25 = +25%); it must be a
    Decimal or int >= 0. Raises ``PlanRefused`` (see ``check_plan``) when the plan does not fit the product, and
    ``ValidationFailed`` for a bad extra premium.
    """
    if isinstance(extra_premium_pct, bool | float) or not isinstance(extra_premium_pct, Decimal | int):
        raise ValidationFailed(f"extra_premium_pct must be a Decimal, got {extra_premium_pct!r}",
                               field="extra_premium_pct")
    extra = Decimal(extra_premium_pct)
    if not extra.is_finite() or extra < 0:
        raise ValidationFailed(f"extra_premium_pct must be >= 0, got {extra}", field="extra_premium_pct")
    check_plan(product, plan, age=age, sex=sex, occupation_class=occupation_class)
    table = product.rates
    rate = table.rate(term=plan.term, payment_years=plan.payment_years, sex=sex, occupation_class=occupation_class,
                      age=age)
    if rate is None:
        raise PlanRefused("AGE-OUT-OF-RANGE", f"rate table {table.id} has no rate for issue age {age}", field="age")
    factors = {option.code: option.premium_factor for option in product.definition.options
               if option.code in plan.options}
    annual = rate * plan.sum_insured.amount / table.rate_per * (1 + extra / HUNDRED)
    for factor in factors.values():
        annual *= factor
    annual_premium = Money(annual, plan.sum_insured.currency).rounded()
    modal_factor = product.definition.plans.modal_factors[plan.frequency]
    modal_premium = (annual_premium * modal_factor).rounded()
    return Quote(
        annual_premium=annual_premium, modal_premium=modal_premium, frequency=plan.frequency,
        installments_per_year=INSTALLMENTS[plan.frequency],
        basis={"product": _product_ref(product), "rate_table": {"id": table.id, "digest": table.digest},
               "rule": dict(PREMIUM_RULE)},
        inputs={"plan": plan.to_json(), "age": age, "sex": sex, "occupation_class": occupation_class,
                "extra_premium_pct": str(extra), "rate": str(rate), "rate_per": str(table.rate_per),
                "option_factors": {code: str(factor) for code, factor in factors.items()},
                "modal_factor": str(modal_factor)})


def cash_value(product: Product, plan: Plan, *, age: int, sex: str, policy_year: int,
               elapsed_days: int | None = None, premium_paid: Money | None = None,
               occupation_class: int | None = None, term_days: int | None = None) -> CashValue:
    """The cash value of ``plan`` (issued at ``age``) in ``policy_year``.

    Long-term products: from the cash-value table, at the end of ``policy_year`` or, with ``elapsed_days``
    (0..365 days into that policy year), on the straight line from the previous year end. One-year products:
    ``premium x (1 - expense ratio) x (1 - elapsed_days / term days)``, which needs ``elapsed_days`` and the
    premium: ``premium_paid``, or else the quote for ``occupation_class``; ``term_days`` defaults to the product's
    (365; pass 366 for a term holding 29 February); long-term products ignore these three. Raises
    ``PlanRefused`` for a plan the product does not offer and ``ValidationFailed`` for a policy year or elapsed
    days outside the term or a missing input.
    """
    _check_shape(product, plan, age=age, sex=sex)
    rule = product.definition.cash_value
    inputs: dict[str, Any] = {"plan": plan.to_json(), "age": age, "sex": sex, "policy_year": policy_year,
                              "elapsed_days": elapsed_days}
    basis: dict[str, Any] = {"product": _product_ref(product), "rule": dict(CASH_VALUE_RULES[rule.rule])}
    if isinstance(rule, UnearnedPremiumCashValue):
        days = rule.term_days if term_days is None else term_days
        if policy_year != 1:
            raise ValidationFailed(f"policy year of one-year cover must be 1, got {policy_year}", field="policy_year")
        if elapsed_days is None or not 0 <= elapsed_days <= days:
            raise ValidationFailed(f"elapsed_days must be within 0..{days}, got {elapsed_days!r}",
                                   field="elapsed_days")
        if premium_paid is not None and premium_paid.currency != product.currency:
            raise ValidationFailed(f"premium_paid must be in {product.currency}, got {premium_paid.currency}",
                                   field="premium_paid")
        if premium_paid is None:
            if occupation_class is None:
                raise ValidationFailed("the cash value of one-year cover needs premium_paid or occupation_class",
                                       field="premium_paid")
            premium_paid = quote(product, plan, age=age, sex=sex, occupation_class=occupation_class).annual_premium
            inputs["occupation_class"] = occupation_class
        amount = premium_paid * (1 - rule.expense_ratio) * (1 - Decimal(elapsed_days) / days)
        inputs.update({"premium": premium_paid.to_json(), "expense_ratio": str(rule.expense_ratio),
                       "term_days": days})
        return CashValue(amount=amount.rounded(), basis=basis, inputs=inputs)
    table = product.cash_values
    if table is None:  # the schema requires one for the table rule
        raise ValidationFailed(f"{product.id} v{product.version} has no cash-value table", field="product")
    years = table.years(term=plan.term, payment_years=plan.payment_years, sex=sex, age=age)
    if years is None:
        raise PlanRefused("AGE-OUT-OF-RANGE", f"cash-value table {table.id} has no row for issue age {age}",
                          field="age")
    if not 1 <= policy_year <= len(years):
        raise ValidationFailed(f"policy year must be within 1..{len(years)}, got {policy_year}", field="policy_year")
    value = years[policy_year - 1]
    if elapsed_days is not None:
        if not 0 <= elapsed_days <= DAYS_IN_POLICY_YEAR:
            raise ValidationFailed(f"elapsed_days must be within 0..{DAYS_IN_POLICY_YEAR}, got {elapsed_days}",
                                   field="elapsed_days")
        previous = years[policy_year - 2] if policy_year > 1 else Decimal(0)
        value = previous + (value - previous) * Decimal(elapsed_days) / DAYS_IN_POLICY_YEAR
    basis["cash_value_table"] = {"id": table.id, "digest": table.digest}
    inputs.update({"table_value": str(value), "rate_per": str(table.rate_per)})
    amount = Money(value * plan.sum_insured.amount / table.rate_per, plan.sum_insured.currency)
    return CashValue(amount=amount.rounded(), basis=basis, inputs=inputs)
