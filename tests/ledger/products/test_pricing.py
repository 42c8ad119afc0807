"""Quotes and cash values for every product kind, the published anchors, and the plans a product refuses."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from ledger.errors import ValidationFailed
from ledger.money import Money
from ledger.products import actuarial
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.products.mortality import load_mortality
from ledger.products.pricing import Plan, PlanRefused, cash_value, quote

D = Decimal
TOLERANCE = D("0.35")


def plan(product_id: str, sum_insured: str, term: int | None, payment_years: int, frequency: Any = "annual",
         options: tuple[str, ...] = ()) -> Plan:
    return Plan(product_id=product_id, sum_insured=Money.of(sum_insured), term_years=term,
                payment_years=payment_years, frequency=frequency, options=options)


def per_10000(catalog: ProductCatalog, product_id: str, term: int | None, payment_years: int, age: int) -> Decimal:
    quoted = quote(catalog.get(product_id), plan(product_id, "100000", term, payment_years), age=age, sex="M",
                   occupation_class=1)
    return quoted.annual_premium.amount / 10


@pytest.mark.parametrize(("product_id", "term", "payment_years", "age", "anchor"), [
    ("term-life", 10, 10, 30, D("15.4")),
    ("term-life", 10, 10, 40, D("31.2")),
    ("term-life", 10, 10, 50, D("69.0")),
    ("critical-illness", None, 20, 30, D("298.22")),
])
def test_rates_land_near_the_published_anchors(catalog: ProductCatalog, product_id: str, term: int | None,
                                               payment_years: int, age: int, anchor: Decimal) -> None:
    rate = per_10000(catalog, product_id, term, payment_years, age)
    assert abs(rate - anchor) <= anchor * TOLERANCE, (rate, anchor)


def test_term_life_quote_from_the_basis(catalog: ProductCatalog) -> None:
    """The premium follows from CL1 at 2.5% and a 30% loading on the gross premium, rounded to the fen."""
    q = load_mortality(default_products_dir() / "mortality" / "cl-2010-2013.toml", source="cl").q("M")
    table = actuarial.Commutation.build(actuarial.claim_rates(q), interest=D("0.025"))
    net = actuarial.net_premium(table, age=30, term=10, payment_years=10)
    rate = (net / D("0.7") * 10_000).quantize(D("0.01"))
    product = catalog.get("term-life")
    quoted = quote(product, plan("term-life", "500000", 10, 10, "monthly"), age=30, sex="M", occupation_class=2)
    assert quoted.annual_premium == Money((rate * 50).quantize(D("0.01")))
    assert quoted.modal_premium == (quoted.annual_premium * D("0.09")).rounded()
    assert quoted.installments_per_year == 12 and quoted.frequency == "monthly"
    assert quoted.basis == {"product": {"id": "term-life", "version": 1, "digest": product.digest},
                            "rate_table": {"id": "term-life-v1-rates", "digest": product.rates.digest},
                            "rule": {"name": "premium-from-rate-table", "version": 1}}
    assert quoted.inputs["rate"] == str(rate) and quoted.inputs["age"] == 30 and quoted.inputs["sex"] == "M"
    assert quoted.inputs["plan"]["sum_insured"] == {"amount": "500000", "currency": "CNY"}


def test_women_pay_less_and_older_insureds_more(catalog: ProductCatalog) -> None:
    product = catalog.get("term-life")
    term = plan("term-life", "100000", 20, 20)
    male = quote(product, term, age=35, sex="M", occupation_class=1).annual_premium
    female = quote(product, term, age=35, sex="F", occupation_class=1).annual_premium
    older = quote(product, term, age=45, sex="M", occupation_class=1).annual_premium
    assert female < male < older


def test_whole_life_quote_and_single_premium(catalog: ProductCatalog) -> None:
    product = catalog.get("whole-life")
    annual = quote(product, plan("whole-life", "100000", None, 20), age=30, sex="F", occupation_class=1)
    single = quote(product, plan("whole-life", "100000", None, 1), age=30, sex="F", occupation_class=1)
    # twenty annual premiums cost more than one single premium, but less than 20 times as much in total
    assert single.annual_premium < annual.annual_premium * 20
    assert single.annual_premium > annual.annual_premium * 10
    assert annual.installments_per_year == 1


def test_critical_illness_option_and_extra_premium(catalog: ProductCatalog) -> None:
    product = catalog.get("critical-illness")
    base = quote(product, plan("critical-illness", "300000", None, 20), age=30, sex="F", occupation_class=1)
    multi = quote(product, plan("critical-illness", "300000", None, 20, options=("MULTI-SEVERE",)), age=30,
                  sex="F", occupation_class=1)
    rated = quote(product, plan("critical-illness", "300000", None, 20), age=30, sex="F", occupation_class=1,
                  extra_premium_pct=D(50))
    rate = D(base.inputs["rate"])
    assert base.annual_premium == Money(rate * 30).rounded()
    assert multi.annual_premium == Money(rate * 30 * D("1.15")).rounded()
    assert multi.inputs["option_factors"] == {"MULTI-SEVERE": "1.15"}
    assert rated.annual_premium == Money(rate * 30 * D("1.5")).rounded()
    with pytest.raises(ValidationFailed, match="extra_premium_pct must be >= 0"):
        quote(product, plan("critical-illness", "300000", None, 20), age=30, sex="F", occupation_class=1,
              extra_premium_pct=D(-10))


@pytest.mark.parametrize(("product_id", "sum_insured", "age", "occupation", "expected"), [
    # base rate x age factor (x class factor) per rate_per, x sum insured / rate_per
    ("medical", "3000000", 35, 1, D("0.80") * D("1.0") * 300),
    ("medical", "2000000", 55, 4, D("0.80") * D("3.2") * 200),
    ("hospital-allowance", "100", 30, 1, D("36") * D("1.0")),
    ("hospital-allowance", "200", 45, 2, D("36") * D("1.4") * 2),
    ("accident", "1000000", 30, 1, D("1.00") * D("1.0") * D("1.0") * 100),
    ("accident", "500000", 55, 4, D("1.00") * D("1.3") * D("3.2") * 50),
])
def test_one_year_products_price_by_factor_tables(catalog: ProductCatalog, product_id: str, sum_insured: str,
                                                  age: int, occupation: int, expected: Decimal) -> None:
    quoted = quote(catalog.get(product_id), plan(product_id, sum_insured, 1, 1, "monthly"), age=age, sex="F",
                   occupation_class=occupation)
    assert quoted.annual_premium == Money(expected).rounded()
    assert quoted.modal_premium == (quoted.annual_premium * D("0.085")).rounded()


def refusal(catalog: ProductCatalog, product_id: str, the_plan: Plan, **who: Any) -> PlanRefused:
    insured = {"age": 30, "sex": "M", "occupation_class": 1, **who}
    with pytest.raises(PlanRefused) as caught:
        quote(catalog.get(product_id), the_plan, **insured)
    return caught.value


@pytest.mark.parametrize(("product_id", "the_plan", "who", "rule", "field"), [
    ("term-life", plan("term-life", "100000", 10, 10), {"age": 17}, "AGE-OUT-OF-RANGE", "age"),
    ("term-life", plan("term-life", "100000", 30, 30), {"age": 51}, "AGE-OUT-OF-RANGE", "age"),  # past 80
    ("whole-life", plan("whole-life", "100000", None, 30), {"age": 46}, "AGE-OUT-OF-RANGE", "age"),  # pays past 75
    ("accident", plan("accident", "100000", 1, 1), {"age": 66}, "AGE-OUT-OF-RANGE", "age"),
    ("term-life", plan("term-life", "90000", 10, 10), {}, "SUM-INSURED-OUT-OF-RANGE", "sum_insured"),
    ("term-life", plan("term-life", "3010000", 10, 10), {}, "SUM-INSURED-OUT-OF-RANGE", "sum_insured"),
    ("term-life", plan("term-life", "105000", 10, 10), {}, "SUM-INSURED-STEP", "sum_insured"),
    ("term-life", plan("term-life", "100000", 15, 10), {}, "TERM-NOT-OFFERED", "term_years"),
    ("term-life", plan("term-life", "100000", None, 10), {}, "TERM-NOT-OFFERED", "term_years"),
    ("term-life", plan("term-life", "100000", 10, 20), {}, "PAYMENT-TERM-NOT-OFFERED", "payment_years"),
    ("critical-illness", plan("critical-illness", "100000", None, 15), {}, "PAYMENT-TERM-NOT-OFFERED",
     "payment_years"),
    ("term-life", plan("term-life", "100000", 10, 1, "monthly"), {}, "FREQUENCY-NOT-OFFERED", "frequency"),
    ("medical", plan("medical", "1000000", 1, 1, "quarterly"), {}, "FREQUENCY-NOT-OFFERED", "frequency"),
    ("term-life", plan("term-life", "100000", 10, 10), {"occupation_class": 5}, "OCCUPATION-CLASS-NOT-ALLOWED",
     "occupation_class"),
    ("accident", plan("accident", "100000", 1, 1), {"occupation_class": 6}, "OCCUPATION-CLASS-NOT-ALLOWED",
     "occupation_class"),
    ("term-life", plan("term-life", "100000", 10, 10, options=("MULTI-SEVERE",)), {}, "OPTION-NOT-OFFERED",
     "options"),
    ("term-life", plan("whole-life", "100000", 10, 10), {}, "PRODUCT-MISMATCH", "product_id"),
])
def test_plans_the_product_does_not_offer_are_refused(catalog: ProductCatalog, product_id: str, the_plan: Plan,
                                                      who: dict[str, Any], rule: str, field: str) -> None:
    error = refusal(catalog, product_id, the_plan, **who)
    assert error.rule == rule and error.field == field
    assert error.message.startswith(f"{rule}: ")


def test_refusal_messages_say_what_is_allowed(catalog: ProductCatalog) -> None:
    error = refusal(catalog, "term-life", plan("term-life", "100000", 30, 30), age=51)
    assert error.message == ("AGE-OUT-OF-RANGE: issue age 51 is outside the ages term-life v1 accepts for term 30 "
                             "with 30-year payment (18..50)")
    error = refusal(catalog, "term-life", plan("term-life", "105000", 10, 10))
    assert error.message == ("SUM-INSURED-STEP: term-life v1 accepts sums insured in steps of 10000 from 100000, "
                             "got 105000")
    with pytest.raises(ValidationFailed, match='sex must be "M" or "F"') as caught:
        quote(catalog.get("term-life"), plan("term-life", "100000", 10, 10), age=30, sex="X", occupation_class=1)
    assert caught.value.field == "sex"
    money = Plan(product_id="term-life", sum_insured=Money.of("100000", "USD"), term_years=10, payment_years=10)
    assert refusal(catalog, "term-life", money).rule == "CURRENCY-MISMATCH"


def test_plan_of_reads_request_values(catalog: ProductCatalog) -> None:
    product = catalog.get("whole-life")
    parsed = Plan.of(product, sum_insured=Money.of("100000"), term_years="whole_life", payment_years=20)
    assert parsed == plan("whole-life", "100000", None, 20)
    assert parsed.term == "whole_life"
    with pytest.raises(ValidationFailed) as caught:
        Plan.of(product, sum_insured=Money.of("100000"), term_years="ten", payment_years=20)
    assert caught.value.field == "term_years"
    with pytest.raises(ValidationFailed) as caught:
        Plan.of(product, sum_insured=Money.of("100000"), term_years=None, payment_years=20, frequency="weekly")
    assert caught.value.field == "frequency"


def test_long_term_cash_values_from_the_table(catalog: ProductCatalog) -> None:
    product = catalog.get("whole-life")
    the_plan = plan("whole-life", "200000", None, 20)
    years = product.cash_values.years(term="whole_life", payment_years=20, sex="M", age=40)  # type: ignore[union-attr]
    assert years is not None and len(years) == 105 - 40
    assert all(later >= earlier for earlier, later in itertools.pairwise(years))
    fifth = cash_value(product, the_plan, age=40, sex="M", policy_year=5)
    assert fifth.amount == Money(years[4] * 20).rounded()
    assert fifth.basis["cash_value_table"] == {"id": "whole-life-v1-cash-values",
                                               "digest": product.cash_values.digest}  # type: ignore[union-attr]
    assert fifth.basis["rule"] == {"name": "cash-value-table-linear", "version": 1}
    midway = cash_value(product, the_plan, age=40, sex="M", policy_year=5, elapsed_days=73)
    assert midway.amount == Money((years[3] + (years[4] - years[3]) * 73 / 365) * 20).rounded()
    first = cash_value(product, the_plan, age=40, sex="M", policy_year=1, elapsed_days=0)
    assert first.amount == Money.zero()
    # the surrender charge keeps the first year's value well under the premium paid
    premium = quote(product, the_plan, age=40, sex="M", occupation_class=1).annual_premium
    assert cash_value(product, the_plan, age=40, sex="M", policy_year=1).amount < premium * D("0.5")
    with pytest.raises(ValidationFailed, match=r"policy year must be within 1\.\.65, got 66"):
        cash_value(product, the_plan, age=40, sex="M", policy_year=66)


def test_term_life_cash_value_returns_to_zero_at_expiry(catalog: ProductCatalog) -> None:
    product = catalog.get("term-life")
    the_plan = plan("term-life", "1000000", 20, 20)
    values = [cash_value(product, the_plan, age=35, sex="F", policy_year=t).amount for t in range(1, 21)]
    assert values[-1] == Money.zero()
    assert max(values) > values[0] > Money.zero()


def test_one_year_cash_value_is_unearned_premium_less_thirty_percent(catalog: ProductCatalog) -> None:
    product = catalog.get("accident")
    the_plan = plan("accident", "1000000", 1, 1)
    paid = Money.of("200.00")
    value = cash_value(product, the_plan, age=30, sex="F", policy_year=1, elapsed_days=73, premium_paid=paid)
    assert value.amount == Money.of("112.00")  # 200 x 0.7 x (1 - 73/365)
    assert value.basis["rule"] == {"name": "one-year-unearned-premium", "version": 1}
    quoted = cash_value(product, the_plan, age=30, sex="F", policy_year=1, elapsed_days=0, occupation_class=3)
    assert quoted.amount == Money.of("140.00")  # class 3 premium 200, nothing elapsed
    leap = cash_value(product, the_plan, age=30, sex="F", policy_year=1, elapsed_days=366, premium_paid=paid,
                      term_days=366)
    assert leap.amount == Money.zero()
    with pytest.raises(ValidationFailed, match="needs premium_paid or occupation_class"):
        cash_value(product, the_plan, age=30, sex="F", policy_year=1, elapsed_days=10)
    with pytest.raises(ValidationFailed, match=r"elapsed_days must be within 0\.\.365"):
        cash_value(product, the_plan, age=30, sex="F", policy_year=1, elapsed_days=None, premium_paid=paid)
    with pytest.raises(ValidationFailed, match="policy year of one-year cover must be 1"):
        cash_value(product, the_plan, age=30, sex="F", policy_year=2, elapsed_days=1, premium_paid=paid)
