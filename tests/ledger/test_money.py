"""Money: Decimal amounts with a currency, never floats, rounded half-up to the cent only when asked."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.errors import ValidationFailed
from ledger.money import Money, parse_decimal, round_cent


def test_amounts_keep_full_precision_until_rounded() -> None:
    third = Money(Decimal(100) / Decimal(3))
    assert third.amount != Decimal("33.33")
    assert third.rounded() == Money(Decimal("33.33"))
    assert round_cent(Decimal("0.005")) == Decimal("0.01")  # half-up, not banker's rounding
    assert round_cent(Decimal("2.345")) == Decimal("2.35")
    assert round_cent(Decimal("-2.345")) == Decimal("-2.35")


def test_parsing_refuses_floats_and_names_the_field() -> None:
    assert Money.of("12.30").amount == Decimal("12.30")
    assert Money.of(12).amount == Decimal(12)
    for bad in (12.3, True, "twelve", "NaN", "Infinity", None):
        with pytest.raises(ValidationFailed) as refused:
            parse_decimal(bad, field="plan.sum_insured")
        assert refused.value.field == "plan.sum_insured"
    with pytest.raises(ValidationFailed) as refused:
        Money.of("1", "yuan")
    assert refused.value.field == "currency"


def test_a_decimal_string_longer_than_any_amount_is_refused_before_it_is_parsed() -> None:
    longest = "1" + "0" * 5 + "." + "0" * 93  # 100 characters: still an amount
    assert parse_decimal(longest, field="plan.sum_insured") == Decimal(100000)
    # an off-step amount hidden a million places after the point used to underflow the step check to zero
    for bad in (longest + "1", "100000." + "0" * 1_000_030 + "1"):
        with pytest.raises(ValidationFailed, match="too long") as refused:
            parse_decimal(bad, field="plan.sum_insured")
        assert refused.value.field == "plan.sum_insured"


def test_currencies_never_mix_and_json_keeps_strings() -> None:
    with pytest.raises(ValueError):
        Money.of("1", "CNY") + Money.of("1", "USD")
    with pytest.raises(TypeError):
        Money.of("1") * 1.5  # type: ignore[operator]
    total = Money.of("1863.00") + Money.of("0.10")
    assert total.to_json() == {"amount": "1863.10", "currency": "CNY"}
    assert Money.from_json(total.to_json()) == total
    with pytest.raises(ValidationFailed):
        Money.from_json({"amount": 1863.1, "currency": "CNY"})
