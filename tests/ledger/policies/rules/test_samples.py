"""The named sample declarations: each produces the outcome it claims on the standard term-life application, and
together they reach every outcome."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.money import Money
from ledger.policies.rules.questionnaire import Questionnaire, is_complete
from ledger.policies.rules.ruleset import OUTCOMES, RuleSet
from ledger.policies.rules.samples import SAMPLES, sample_input
from ledger.policies.rules.underwriting import decide_underwriting


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_produces_its_outcome_for_term_life(standard: RuleSet, health: Questionnaire,
                                                         name: str) -> None:
    sample = SAMPLES[name]
    given = sample_input(name)
    assert (given.product_kind, given.age, given.sum_insured) == ("term_life", 35, Money.of("500000"))
    assert is_complete(health, given.answers)
    decision = decide_underwriting(standard, health, given)
    assert (decision.outcome, decision.codes, decision.extra_premium_pct) == (
        sample.outcome, sample.codes, sample.extra_premium_pct)


def test_the_samples_reach_every_outcome() -> None:
    assert {sample.outcome for sample in SAMPLES.values()} == set(OUTCOMES)


def test_the_named_samples_exist() -> None:
    assert {"clean", "hypertension_controlled", "bp_high", "diabetes", "thyroid_tirads_3_large", "hbv_carrier",
            "bmi_33", "occupation_class_6"} <= set(SAMPLES)


def test_a_sample_on_another_product(standard: RuleSet, health: Questionnaire) -> None:
    decision = decide_underwriting(standard, health, sample_input("hbv_carrier", product_kind="critical_illness"))
    assert (decision.outcome, decision.extra_premium_pct) == ("rated", Decimal(25))
    over = decide_underwriting(standard, health, sample_input("clean", sum_insured=Money.of("1500000")))
    assert (over.outcome, over.codes) == ("refer", ("SI-OVER-AUTO-LIMIT",))


def test_samples_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        SAMPLES["clean"].answers["heart"] = True  # type: ignore[index]
