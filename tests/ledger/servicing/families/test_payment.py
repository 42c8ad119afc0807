"""The payment family: accounts, payment method, frequency change (re-quoted from the product's tables) and
premium holidays, on policies built from the shipped products and servicing catalog."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.clock import add_months
from ledger.errors import Refused
from ledger.policies.state import PolicyState, with_changes
from ledger.products.catalog import Product, ProductCatalog, default_products_dir
from ledger.servicing.catalog import ServicingCatalog, default_catalog_path, load_catalog
from ledger.servicing.families import payment
from ledger.servicing.families.base import Context, Input

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG: ServicingCatalog = load_catalog(default_catalog_path())
FAMILY = payment.FAMILY


def policy(*, effective: date = date(2022, 3, 15), frequency: str = "annual", payment_years: int = 20,
           paid: int = 2, **values: Any) -> PolicyState:
    """A whole-life policy of 100,000 for a man of 30, occupation class 1, with its first ``paid`` dues paid."""
    months = 12 // {"annual": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}[frequency]
    per_year = 12 // months
    fields: dict[str, Any] = {
        "status": "InForce", "product": {"id": "whole-life", "version": 1, "digest": "sha256:x", "kind": "whole_life"},
        "plan": {"sum_insured": {"amount": "100000", "currency": "CNY"}, "term_years": None,
                 "payment_years": payment_years, "frequency": frequency},
        "premium": {"modal_premium": {"amount": "2557.60", "currency": "CNY"}},
        "effective_date": effective, "issued_on": effective - timedelta(days=1),
        "installments": payment_years * per_year,
        "paid_dues": tuple(add_months(effective, k * months).isoformat() for k in range(paid)),
        "insured_age": 30, "insured_sex": "M", "occupation_class": 1, "policyholder": "P1", "insured": "P1"}
    fields.update(values)
    return dataclasses.replace(PolicyState(), **fields)


def context(state: PolicyState, operation: str, *, on: date, product: Product | None = None) -> Context:
    return Context(policy=state, product=product or PRODUCTS.get("whole-life"), operation=CATALOG.get(operation),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=on,
                   now=datetime(on.year, on.month, on.day, 9, tzinfo=UTC), cash_value=None, requester="P1")


def refused(rule: str, ctx: Context, data: Input) -> Refused:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(ctx, data)
    assert caught.value.rule == rule
    return caught.value


# -- accounts ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "field"), [("payment_account_change", "payment_account"),
                                             ("payout_account_change", "payout_account")])
def test_an_account_change_keeps_the_account_out_of_the_facts(code: str, field: str) -> None:
    data = FAMILY.inputs[code].model_validate({"bank": "ICBC", "account_no": "6222020200112233445", "holder": "张三"})
    prepared = FAMILY.prepare(context(policy(), code, on=date(2023, 6, 1)), data)
    assert prepared.facts == {"fields": [field], "party": "P1"}
    assert prepared.details == {field: {"bank": "ICBC", "account_no": "6222020200112233445", "holder": "张三"}}
    assert "6222020200112233445" not in repr(prepared.facts)
    assert prepared.changes == {} and prepared.amount is None


@pytest.mark.parametrize("account_no", ["62220202001", "62220202001122334455", "6222 0202 0011 2233", "abc"])
def test_an_account_number_is_12_to_19_digits(account_no: str) -> None:
    with pytest.raises(ValidationError) as caught:
        payment.PaymentAccountChange(bank="ICBC", account_no=account_no, holder="张三")
    assert caught.value.errors()[0]["loc"] == ("account_no",)


# -- payment method ------------------------------------------------------------------------------------------

def test_a_new_payment_method_goes_into_the_plan() -> None:
    prepared = FAMILY.prepare(context(policy(), "payment_method_change", on=date(2023, 6, 1)),
                              payment.PaymentMethodChange(method="alipay"))
    assert prepared.facts == {"method": "alipay", "from_method": "bank_debit"}
    assert prepared.changes == {"plan": {"payment_method": "alipay"}}
    assert prepared.amount is None


def test_the_method_in_use_is_refused() -> None:
    ctx = context(policy(), "payment_method_change", on=date(2023, 6, 1))
    refused("SAME-METHOD", ctx, payment.PaymentMethodChange(method="bank_debit"))  # the default when none is set
    ctx = context(policy(plan={**policy().plan, "payment_method": "wechat_pay"}), "payment_method_change",
                  on=date(2023, 6, 1))
    refused("SAME-METHOD", ctx, payment.PaymentMethodChange(method="wechat_pay"))
    assert FAMILY.prepare(ctx, payment.PaymentMethodChange(method="bank_debit")).facts["from_method"] == "wechat_pay"


def test_an_unknown_method_is_invalid_input() -> None:
    with pytest.raises(ValidationError):
        payment.PaymentMethodChange.model_validate({"method": "cash"})


# -- frequency -----------------------------------------------------------------------------------------------

def test_annual_to_monthly_from_the_next_anniversary_hand_computed() -> None:
    # whole-life v1, whole life, 20-year payment, man of 30, class 1: rate 255.76 per 10,000 of sum insured;
    # annual premium = 255.76 x 100,000 / 10,000 = 2,557.60; monthly = 2,557.60 x 0.09 = 230.184 -> 230.18.
    on = date(2024, 2, 20)  # 24 days before the anniversary of 2024-03-15
    prepared = FAMILY.prepare(context(policy(), "frequency_change", on=on),
                              payment.FrequencyChange(frequency="monthly"))
    assert prepared.facts == {"frequency": "monthly", "from_frequency": "annual", "effective_on": "2024-03-15",
                              "premium": {"amount": "230.18", "currency": "CNY"}}
    changes = prepared.changes
    assert changes["plan"] == {"frequency": "monthly"}
    assert changes["premium"]["annual_premium"] == {"amount": "2557.60", "currency": "CNY"}
    assert changes["premium"]["modal_premium"] == {"amount": "230.18", "currency": "CNY"}
    assert changes["premium"]["frequency"] == "monthly" and changes["premium"]["installments_per_year"] == 12
    assert changes["premium"]["inputs"]["modal_factor"] == "0.09"
    assert changes["installments"] == 20 * 12
    # the two annual premiums paid cover 2022-03-15 .. 2024-03-14: the 24 monthly dues before the anniversary
    assert changes["paid_dues"][0] == "2022-03-15" and changes["paid_dues"][-1] == "2024-02-15"
    assert len(changes["paid_dues"]) == 24 and prepared.settled == 24
    assert prepared.amount is None


def test_a_frequency_change_keeps_the_extra_premium_of_underwriting() -> None:
    # +50%: annual = 2,557.60 x 1.5 = 3,836.40; quarterly = 3,836.40 x 0.265 = 1,016.646 -> 1,016.65
    state = policy(decision={"outcome": "rated", "extra_premium_pct": "50"})
    prepared = FAMILY.prepare(context(state, "frequency_change", on=date(2024, 3, 1)),
                              payment.FrequencyChange(frequency="quarterly"))
    assert prepared.facts["premium"] == {"amount": "1016.65", "currency": "CNY"}
    assert prepared.changes["premium"]["extra_premium_pct"] == "50"
    assert prepared.changes["installments"] == 80 and prepared.settled == 8


def test_monthly_to_annual_settles_the_years_already_paid() -> None:
    state = policy(frequency="monthly", paid=24, premium={"modal_premium": {"amount": "230.18", "currency": "CNY"}})
    prepared = FAMILY.prepare(context(state, "frequency_change", on=date(2024, 3, 10)),
                              payment.FrequencyChange(frequency="annual"))
    assert prepared.changes["paid_dues"] == ["2022-03-15", "2023-03-15"] and prepared.settled == 2
    assert prepared.changes["installments"] == 20
    assert prepared.facts["premium"] == {"amount": "2557.60", "currency": "CNY"}
    after = with_changes(state, prepared.changes)
    assert after.next_due() == date(2024, 3, 15)


def test_no_frequency_change_once_the_payment_term_ends_by_the_anniversary() -> None:
    state = policy(payment_years=5, paid=5)
    refused("NO-PREMIUMS-LEFT", context(state, "frequency_change", on=date(2027, 3, 1)),
            payment.FrequencyChange(frequency="monthly"))


@settings(max_examples=60, deadline=None)
@given(effective=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)),
       years=st.integers(min_value=1, max_value=15), before=st.integers(min_value=0, max_value=30),
       old=st.sampled_from(["annual", "semiannual", "quarterly", "monthly"]),
       new=st.sampled_from(["annual", "semiannual", "quarterly", "monthly"]))
def test_after_a_frequency_change_the_next_due_date_is_the_anniversary(
        effective: date, years: int, before: int, old: str, new: str) -> None:
    anniversary = add_months(effective, 12 * years)
    on = anniversary - timedelta(days=max(before, 1))
    per_year = {"annual": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}[old]
    state = policy(effective=effective, frequency=old, paid=years * per_year)  # paid up to the anniversary
    data = payment.FrequencyChange.model_validate({"frequency": new})
    prepared = FAMILY.prepare(context(state, "frequency_change", on=on), data)
    assert prepared.facts["effective_on"] == anniversary.isoformat()
    assert all(date.fromisoformat(due) < anniversary for due in prepared.changes["paid_dues"])
    assert prepared.settled == len(prepared.changes["paid_dues"]) == \
        years * {"annual": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}[new]
    after = with_changes(state, prepared.changes)
    assert after.next_due() == anniversary
    assert len(after.due_dates()) == 20 * len(prepared.changes["paid_dues"]) // years


# -- premium holiday -----------------------------------------------------------------------------------------

def test_a_holiday_waives_the_monthly_dues_of_its_months() -> None:
    state = policy(effective=date(2020, 1, 31), frequency="monthly", paid=50)  # next due 2024-03-31
    prepared = FAMILY.prepare(context(state, "premium_holiday", on=date(2024, 3, 20)),
                              payment.PremiumHoliday(months=3))
    assert prepared.changes == {"waived_dues": ["2024-03-31", "2024-04-30", "2024-05-31"]}
    assert prepared.facts == {"months": 3, "from": "2024-03-31", "until": "2024-06-30", "waived": 3}
    assert prepared.amount is None
    assert with_changes(state, prepared.changes).next_due() == date(2024, 6, 30)


def test_a_holiday_waives_only_dues_within_the_payment_term() -> None:
    # 5-year annual payment, 4 paid: the only due left is 2024-03-15; 12 months waive it and nothing after
    state = policy(effective=date(2020, 3, 15), payment_years=5, paid=4)
    prepared = FAMILY.prepare(context(state, "premium_holiday", on=date(2024, 3, 1)),
                              payment.PremiumHoliday(months=12))
    assert prepared.changes == {"waived_dues": ["2024-03-15"]}
    assert prepared.facts["waived"] == 1


def test_a_holiday_with_nothing_due_is_refused() -> None:
    state = policy(effective=date(2018, 3, 15), payment_years=5, paid=5)
    refused("NOTHING-DUE", context(state, "premium_holiday", on=date(2024, 3, 1)), payment.PremiumHoliday(months=6))


def test_a_holiday_longer_than_the_catalog_allows_is_refused() -> None:
    assert CATALOG.get("premium_holiday").money.parameters.model_dump() == {"max_months": 12}
    error = refused("MONTHS-ABOVE-MAX", context(policy(), "premium_holiday", on=date(2024, 3, 1)),
                    payment.PremiumHoliday(months=13))
    assert error.field == "input.months"


@pytest.mark.parametrize("months", [0, -1, "3", 1.5])
def test_holiday_months_are_a_positive_whole_number(months: object) -> None:
    with pytest.raises(ValidationError):
        payment.PremiumHoliday(months=months)  # type: ignore[arg-type]
