"""Automatic underwriting on the shipped rule set: given a declaration, the decision and its explanation, for each
case of DOMAIN.md §5 and each product family."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json
from ledger.money import Money
from ledger.policies.rules.questionnaire import Questionnaire
from ledger.policies.rules.ruleset import DERIVED_FACTS, RuleSet, load_ruleset
from ledger.policies.rules.samples import CLEAN
from ledger.policies.rules.underwriting import (
    Decision,
    Exclusion,
    UnderwritingInput,
    _derived,
    decide_underwriting,
)
from tests.ledger.policies.rules.conftest import MINI_RULES

Decide = Callable[..., Decision]
LIFE = ("term_life", "whole_life")
ALL_KINDS = ("term_life", "whole_life", "critical_illness", "medical", "hospital_allowance", "accident")


def application(*, kind: str = "term_life", age: int = 35, occupation_class: int = 1, sum_insured: str = "500000",
                cover_with_us: str = "0", limit: str = "1000000", stated_height_cm: Decimal | None = None,
                stated_weight_kg: Decimal | None = None, **changes: Any) -> UnderwritingInput:
    """An application declaring CLEAN with ``changes``; ``stated_*`` are the application form's own measurements
    (none by default: the declared ones are used)."""
    return UnderwritingInput(product_id="test-product", product_kind=kind, age=age, sex="F",
                             occupation_class=occupation_class, sum_insured=Money.of(sum_insured),
                             cover_with_us=Money.of(cover_with_us), automatic_limit=Money.of(limit),
                             answers={**CLEAN, **changes}, height_cm=stated_height_cm,
                             weight_kg=stated_weight_kg)


@pytest.fixture
def decide(standard: RuleSet, health: Questionnaire) -> Decide:
    def run(**kwargs: Any) -> Decision:
        return decide_underwriting(standard, health, application(**kwargs))
    return run


def terms(decision: Decision) -> tuple[str, Decimal, tuple[str, ...]]:
    return decision.outcome, decision.extra_premium_pct, tuple(exclusion.code for exclusion in decision.exclusions)


# --- a clean declaration ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_clean_declaration_is_standard_in_every_family(decide: Decide, kind: str) -> None:
    decision = decide(kind=kind)
    assert terms(decision) == ("standard", Decimal(0), ())
    assert decision.codes == ("STD",)
    assert decision.reasons[0].en == "Accepted at standard rates."
    assert decision.reasons[0].zh == "按标准费率承保。"
    assert (decision.rating, decision.table, decision.postpone_months) == (100, None, 0)


def test_product_kinds_fall_into_their_families(decide: Decide) -> None:
    families = {kind: decide(kind=kind).family for kind in ALL_KINDS}
    assert families == {"term_life": "life", "whole_life": "life", "critical_illness": "critical_illness",
                        "medical": "medical", "hospital_allowance": "medical", "accident": "accident"}


# --- hypertension ----------------------------------------------------------------------------------------------

BP: dict[str, Any] = {"hypertension": True, "bp_organ_damage": False}


@pytest.mark.parametrize(("kind", "expected"), [
    ("term_life", ("standard", Decimal(0), ())),
    ("whole_life", ("standard", Decimal(0), ())),
    ("critical_illness", ("rated", Decimal(20), ())),
    ("medical", ("exclusion", Decimal(0), ("HYPERTENSION",))),
    ("hospital_allowance", ("exclusion", Decimal(0), ("HYPERTENSION",))),
    ("accident", ("standard", Decimal(0), ())),
])
def test_grade_1_hypertension_controlled(decide: Decide, kind: str, expected: tuple[Any, ...]) -> None:
    decision = decide(kind=kind, **BP, bp_systolic_max=155, bp_diastolic_max=95, bp_medication=True,
                      bp_controlled=True)
    assert terms(decision) == expected
    assert "BP-G1-CONTROLLED" in decision.codes
    reason = next(reason for reason in decision.reasons if reason.code == "BP-G1-CONTROLLED")
    assert dict(reason.answers) == {"bp_controlled": True}


def test_grade_1_untreated_is_rated_for_life_and_critical_illness(decide: Decide) -> None:
    answers = {**BP, "bp_systolic_max": 150, "bp_diastolic_max": 92, "bp_medication": False}
    assert terms(decide(**answers)) == ("rated", Decimal(25), ())
    assert decide(**answers).table == "A"
    assert terms(decide(kind="critical_illness", **answers)) == ("rated", Decimal(30), ())


@pytest.mark.parametrize(("kind", "outcome", "extra"), [
    ("term_life", "rated", Decimal(75)), ("whole_life", "rated", Decimal(75)),
    ("critical_illness", "decline", Decimal(0)), ("medical", "decline", Decimal(0)),
    ("hospital_allowance", "decline", Decimal(0)), ("accident", "standard", Decimal(0)),
])
def test_blood_pressure_of_160_over_100(decide: Decide, kind: str, outcome: str, extra: Decimal) -> None:
    decision = decide(kind=kind, **BP, bp_systolic_max=165, bp_diastolic_max=102, bp_medication=True,
                      bp_controlled=False)
    assert (decision.outcome, decision.extra_premium_pct) == (outcome, extra)
    assert "KO-BP-G2" in decision.codes
    reason = next(reason for reason in decision.reasons if reason.code == "KO-BP-G2")
    assert dict(reason.answers) == {"bp_systolic_max": 165, "bp_diastolic_max": 102}
    assert "160/100" in reason.en and "160/100" in reason.zh


@pytest.mark.parametrize(("systolic", "diastolic", "code"), [
    (159, 99, "BP-G1-UNCONTROLLED"), (160, 90, "KO-BP-G2"), (140, 100, "KO-BP-G2"), (179, 109, "KO-BP-G2"),
    (180, 90, "KO-BP-G3"), (150, 110, "KO-BP-G3"),
])
def test_blood_pressure_grade_edges(decide: Decide, systolic: int, diastolic: int, code: str) -> None:
    decision = decide(**BP, bp_systolic_max=systolic, bp_diastolic_max=diastolic, bp_medication=True,
                      bp_controlled=False)
    assert [reason.code for reason in decision.reasons if reason.condition == "hypertension"] == [code]


def test_grade_3_is_referred_for_life_and_organ_damage_declined(decide: Decide) -> None:
    assert decide(**BP, bp_systolic_max=185, bp_diastolic_max=100, bp_medication=False).outcome == "refer"
    damaged = decide(**{**BP, "bp_organ_damage": True}, bp_systolic_max=150, bp_diastolic_max=95,
                     bp_medication=False)
    assert (damaged.outcome, damaged.codes[0]) == ("decline", "BP-ORGAN-DAMAGE")


# --- diabetes and glucose --------------------------------------------------------------------------------------

DIABETES: dict[str, Any] = {"diabetes": True, "diabetes_type": "type_2", "diabetes_treatment": "oral",
            "diabetes_complications": False, "glucose_tested": True, "fasting_glucose_max": "7.8"}


@pytest.mark.parametrize(("kind", "outcome", "extra"), [
    ("term_life", "rated", Decimal(100)), ("critical_illness", "decline", Decimal(0)),
    ("medical", "decline", Decimal(0)), ("hospital_allowance", "decline", Decimal(0)),
    ("accident", "standard", Decimal(0)),
])
def test_diabetes(decide: Decide, kind: str, outcome: str, extra: Decimal) -> None:
    decision = decide(kind=kind, **DIABETES)
    assert (decision.outcome, decision.extra_premium_pct) == (outcome, extra)
    assert "DIABETES" in decision.codes
    assert "FBG-HIGH" not in decision.codes  # one finding per condition: the diagnosis explains the glucose
    assert "ANSWERS-CONFLICT" not in decision.codes


def test_diabetes_on_insulin_rates_higher_and_complications_decline(decide: Decide) -> None:
    insulin = decide(**{**DIABETES, "diabetes_treatment": "insulin"})
    assert (insulin.outcome, insulin.extra_premium_pct, insulin.table) == ("rated", Decimal(150), "F")
    complicated = decide(**{**DIABETES, "diabetes_complications": True})
    assert (complicated.outcome, complicated.codes[0]) == ("decline", "DIABETES-COMPLICATED")


@pytest.mark.parametrize(("glucose", "codes"), [
    ("6.0", ("STD",)), ("6.1", ("STD", "FBG-PREDIABETES")), ("6.9", ("STD", "FBG-PREDIABETES")),
])
def test_pre_diabetes_edges_for_life(decide: Decide, glucose: str, codes: tuple[str, ...]) -> None:
    decision = decide(glucose_tested=True, fasting_glucose_max=glucose)
    assert (decision.outcome, decision.codes) == ("standard", codes)


@pytest.mark.parametrize(("kind", "outcome", "extra"), [
    ("term_life", "standard", Decimal(0)), ("critical_illness", "rated", Decimal(25)),
    ("medical", "refer", Decimal(0)), ("accident", "standard", Decimal(0)),
])
def test_pre_diabetes_by_family(decide: Decide, kind: str, outcome: str, extra: Decimal) -> None:
    decision = decide(kind=kind, glucose_tested=True, fasting_glucose_max="6.5")
    assert (decision.outcome, decision.extra_premium_pct) == (outcome, extra)
    assert "FBG-PREDIABETES" in decision.codes


# --- conflicting answers ---------------------------------------------------------------------------------------

def test_no_diabetes_but_a_fasting_glucose_of_7_5_is_referred(decide: Decide) -> None:
    decision = decide(glucose_tested=True, fasting_glucose_max="7.5")
    assert decision.outcome == "refer"
    assert decision.codes == ("ANSWERS-CONFLICT", "FBG-HIGH")
    conflict = decision.reasons[0]
    assert dict(conflict.answers) == {"diabetes": False, "fasting_glucose_max": Decimal("7.5")}
    assert decision.extra_premium_pct == 0  # terms are not set for a referral
    # Where the glucose alone declines, the decline wins over the referral.
    assert decide(kind="critical_illness", glucose_tested=True, fasting_glucose_max="7.0").outcome == "decline"


@pytest.mark.parametrize("changes", [
    {"abnormal_test": True, "abnormal_test_finding": "thyroid_nodule"},  # ... but "no thyroid nodule"
    {"abnormal_test": True, "abnormal_test_finding": "blood_pressure"},  # ... but "no hypertension"
    {"abnormal_test": True, "abnormal_test_finding": "blood_glucose"},  # ... but "no glucose test"
    {"occupation_hazard": True},  # ... but occupation class 1
])
def test_answers_that_contradict_each_other_are_referred(decide: Decide, changes: dict[str, Any]) -> None:
    decision = decide(**changes)
    assert (decision.outcome, decision.codes) == ("refer", ("ANSWERS-CONFLICT",))


def test_hazardous_work_in_a_hazardous_class_is_no_conflict(decide: Decide) -> None:
    assert "ANSWERS-CONFLICT" not in decide(occupation_hazard=True, occupation_class=5).codes


def test_measurements_that_differ_from_the_application_are_referred(decide: Decide) -> None:
    assert decide(stated_height_cm=Decimal(175), stated_weight_kg=Decimal(68)).codes == ("STD",)
    decision = decide(stated_height_cm=Decimal(175), stated_weight_kg=Decimal(80))
    # the BMI comes from the application's own measurements: 80 / 1.75² = 26.1, overweight
    assert (decision.outcome, decision.codes) == ("refer", ("ANSWERS-CONFLICT", "BMI-OVERWEIGHT"))
    assert decision.reasons[0].condition == "conflict_measurements"


# --- thyroid nodule --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("grade", "size", "code", "life", "ci", "medical"), [
    ("1", None, "NODULE-TIRADS-1-2", "standard", ("standard", Decimal(0), ()), ("exclusion", Decimal(0), ("THYROID",))),
    ("2", None, "NODULE-TIRADS-1-2", "standard", ("standard", Decimal(0), ()), ("exclusion", Decimal(0), ("THYROID",))),
    ("3", "10", "NODULE-TIRADS-3", "standard", ("standard", Decimal(0), ()), ("exclusion", Decimal(0), ("THYROID",))),
    ("3", "10.5", "NODULE-TIRADS-3-LARGE", "standard", ("rated", Decimal(10), ()),
     ("exclusion", Decimal(0), ("THYROID",))),
    ("4a", None, "NODULE-TIRADS-4A", "standard", ("exclusion", Decimal(0), ("THYROID-CANCER",)),
     ("decline", Decimal(0), ())),
    ("4b", None, "NODULE-TIRADS-4B", "standard", ("postpone", Decimal(0), ()), ("decline", Decimal(0), ())),
    ("4c", None, "NODULE-TIRADS-4C-5", "refer", ("decline", Decimal(0), ()), ("decline", Decimal(0), ())),
    ("5", None, "NODULE-TIRADS-4C-5", "refer", ("decline", Decimal(0), ()), ("decline", Decimal(0), ())),
    ("unknown", None, "NODULE-TIRADS-UNKNOWN", "standard", ("refer", Decimal(0), ()), ("refer", Decimal(0), ())),
])
def test_thyroid_nodule_grades_and_size(decide: Decide, grade: str, size: str | None, code: str, life: str,
                                        ci: tuple[Any, ...], medical: tuple[Any, ...]) -> None:
    answers: dict[str, Any] = {"thyroid_nodule": True, "thyroid_tirads": grade}
    if size is not None:
        answers["nodule_size_mm"] = size
    assert decide(**answers).outcome == life
    critical = decide(kind="critical_illness", **answers)
    assert terms(critical) == ci
    assert code in critical.codes
    assert terms(decide(kind="medical", **answers)) == medical
    assert decide(kind="accident", **answers).outcome == "standard"


def test_ti_rads_4b_postpones_critical_illness_for_six_months(decide: Decide) -> None:
    decision = decide(kind="critical_illness", thyroid_nodule=True, thyroid_tirads="4b")
    assert (decision.outcome, decision.postpone_months) == ("postpone", 6)
    assert decision.reasons[0].postpone_months == 6


def test_an_exclusion_names_the_condition_in_both_languages(decide: Decide) -> None:
    decision = decide(kind="critical_illness", thyroid_nodule=True, thyroid_tirads="4a")
    assert decision.exclusions == (Exclusion("THYROID-CANCER", "甲状腺恶性肿瘤", "Thyroid cancer"),)


# --- hepatitis B -----------------------------------------------------------------------------------------------

HBV: dict[str, Any] = {"hepatitis": True, "hepatitis_kind": "hbv_carrier"}


@pytest.mark.parametrize(("kind", "expected"), [
    ("term_life", ("standard", Decimal(0), ())), ("critical_illness", ("rated", Decimal(25), ())),
    ("medical", ("exclusion", Decimal(0), ("LIVER",))), ("accident", ("standard", Decimal(0), ())),
])
def test_hepatitis_b_carrier_with_normal_liver_function(decide: Decide, kind: str,
                                                        expected: tuple[Any, ...]) -> None:
    decision = decide(kind=kind, **HBV, liver_function_normal=True)
    assert terms(decision) == expected
    assert "HBV-CARRIER" in decision.codes


def test_hepatitis_b_carrier_with_abnormal_liver_function(decide: Decide) -> None:
    assert decide(**HBV, liver_function_normal=False).outcome == "refer"
    assert decide(kind="critical_illness", **HBV, liver_function_normal=False).codes == ("HBV-LIVER-ABNORMAL",)


# --- build -----------------------------------------------------------------------------------------------------

# At 200 cm the BMI is the weight / 4, so each band edge is an exact weight.
@pytest.mark.parametrize(("weight", "bmi", "code", "outcome", "extra"), [
    ("64.0", "16.0", "BMI-LOW", "refer", 0),
    ("64.4", "16.1", "BMI-UNDERWEIGHT", "standard", 0),
    ("73.6", "18.4", "BMI-UNDERWEIGHT", "standard", 0),
    ("74.0", "18.5", None, "standard", 0),
    ("95.6", "23.9", None, "standard", 0),
    ("95.8", "24.0", "BMI-OVERWEIGHT", "standard", 0),  # 23.95 rounds half-up to 24.0
    ("96.0", "24.0", "BMI-OVERWEIGHT", "standard", 0),
    ("111.6", "27.9", "BMI-OVERWEIGHT", "standard", 0),
    ("112.0", "28.0", "BMI-OBESE", "rated", 25),
    ("127.6", "31.9", "BMI-OBESE", "rated", 25),
    ("128.0", "32.0", "BMI-HIGH", "rated", 75),
    ("143.6", "35.9", "BMI-HIGH", "rated", 75),
    ("144.0", "36.0", "BMI-VERY-HIGH", "decline", 0),
])
def test_bmi_band_edges_for_life(decide: Decide, weight: str, bmi: str, code: str | None, outcome: str,
                                 extra: int) -> None:
    decision = decide(height_cm=200, weight_kg=weight)
    build = [reason for reason in decision.reasons if reason.condition == "build"]
    assert [reason.code for reason in build] == ([code] if code else [])
    if build:
        assert dict(build[0].answers)["bmi"] == Decimal(bmi)
    assert (decision.outcome, decision.extra_premium_pct) == (outcome, Decimal(extra))


@pytest.mark.parametrize(("weight", "ci", "medical"), [
    ("96.0", ("standard", Decimal(0)), ("standard", Decimal(0))),
    ("112.0", ("rated", Decimal(25)), ("rated", Decimal(20))),
    ("128.0", ("decline", Decimal(0)), ("decline", Decimal(0))),
    ("64.0", ("refer", Decimal(0)), ("refer", Decimal(0))),
])
def test_bmi_for_health_cover(decide: Decide, weight: str, ci: tuple[Any, ...], medical: tuple[Any, ...]) -> None:
    critical = decide(kind="critical_illness", height_cm=200, weight_kg=weight)
    assert (critical.outcome, critical.extra_premium_pct) == ci
    health = decide(kind="medical", height_cm=200, weight_kg=weight)
    assert (health.outcome, health.extra_premium_pct) == medical


def test_adult_bmi_bands_do_not_apply_to_children(decide: Decide) -> None:
    assert decide(age=10, height_cm=140, weight_kg="65").codes == ("STD",)  # BMI 33.2


def test_raised_lipids_count_only_with_a_bmi_of_28_or_more(decide: Decide) -> None:
    lipids = {"abnormal_test": True, "abnormal_test_finding": "lipids_only"}
    assert decide(**lipids).codes == ("STD",)  # BMI 22.2: a carve-out
    obese = decide(height_cm=200, weight_kg="112", **lipids)
    assert set(obese.codes) == {"ABN-LIPIDS-BMI-28", "BMI-OBESE"}
    assert (obese.rating, obese.table, obese.extra_premium_pct) == (150, "B", Decimal(50))


def test_mild_fatty_liver_alone_is_a_carve_out(decide: Decide) -> None:
    for kind in ALL_KINDS:
        assert decide(kind=kind, abnormal_test=True, abnormal_test_finding="mild_fatty_liver_only").codes == ("STD",)


# --- occupation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "occupation_class", "outcome", "extra", "flat"), [
    ("term_life", 3, "standard", 0, "0"), ("accident", 3, "standard", 0, "0"),
    ("term_life", 4, "standard", 0, "0"), ("accident", 4, "rated", 25, "0"),
    ("term_life", 5, "rated", 0, "1.5"), ("critical_illness", 5, "rated", 0, "1"),
    ("medical", 5, "decline", 0, "0"), ("accident", 5, "rated", 50, "0"),
    ("term_life", 6, "rated", 0, "3"), ("critical_illness", 6, "decline", 0, "0"),
    ("medical", 6, "decline", 0, "0"), ("accident", 6, "rated", 100, "0"),
])
def test_hazardous_occupation(decide: Decide, kind: str, occupation_class: int, outcome: str, extra: int,
                              flat: str) -> None:
    decision = decide(kind=kind, occupation_class=occupation_class, occupation_hazard=occupation_class >= 5)
    assert (decision.outcome, decision.extra_premium_pct, decision.flat_extra_per_mille) == (
        outcome, Decimal(extra), Decimal(flat))
    if occupation_class >= 5:
        assert "OCC-HAZARD" in decision.codes


def test_a_hazardous_pursuit_is_excluded(decide: Decide) -> None:
    decision = decide(hazardous_pursuit=True)
    assert terms(decision) == ("exclusion", Decimal(0), ("HAZARDOUS-PURSUIT",))
    assert decide(kind="critical_illness", hazardous_pursuit=True).outcome == "standard"


# --- sums insured and other insurers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("sum_insured", "cover_with_us", "referred"), [
    ("1000000", "0", False), ("1000001", "0", True), ("800000", "200000", False), ("800000", "300000", True),
])
def test_sum_insured_plus_cover_with_us_over_the_automatic_limit(decide: Decide, sum_insured: str,
                                                                 cover_with_us: str, referred: bool) -> None:
    decision = decide(sum_insured=sum_insured, cover_with_us=cover_with_us)
    assert (decision.outcome == "refer") is referred
    assert ("SI-OVER-AUTO-LIMIT" in decision.codes) is referred


@pytest.mark.parametrize(("death", "ci", "referred"), [
    ("2000000", "1000000", False), ("2000001", "0", True), ("0", "1000001", True),
])
def test_other_insurers_cover(decide: Decide, death: str, ci: str, referred: bool) -> None:
    decision = decide(other_cover=True, other_death_cover=death, other_ci_cover=ci)
    assert (decision.outcome, "FIN-OVERINSURED" in decision.codes) == (("refer", True) if referred else
                                                                        ("standard", False))
    # medical cover pays costs, not sums: not financially underwritten
    assert decide(kind="medical", other_cover=True, other_death_cover=death, other_ci_cover=ci).outcome == "standard"


# --- age -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "age", "declined"), [
    ("term_life", 60, False), ("term_life", 61, True), ("critical_illness", 55, False),
    ("critical_illness", 56, True), ("accident", 65, False), ("accident", 66, True), ("medical", 0, False),
])
def test_age_out_of_range_is_declined(decide: Decide, kind: str, age: int, declined: bool) -> None:
    decision = decide(kind=kind, age=age)
    assert (decision.outcome == "decline") is declined
    if declined:
        assert decision.codes == ("AGE-OUT-OF-RANGE",)
        assert dict(decision.reasons[0].answers) == {"age_in_range": False}


# --- other knock-outs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "code", "outcome", "ci_outcome"), [
    ({"prior_adverse": True, "prior_adverse_kind": "declined_or_postponed"}, "PRIOR-DECLINED", "refer", "refer"),
    ({"prior_adverse": True, "prior_adverse_kind": "rated_or_excluded"}, "PRIOR-RATED", "refer", "refer"),
    ({"weight_loss": True, "weight_loss_cause": "not_investigated"}, "WEIGHT-LOSS-UNEXPLAINED", "postpone",
     "postpone"),
    ({"hospital_or_surgery": True, "hospital_status": "awaiting"}, "HOSP-AWAITING", "postpone", "postpone"),
    ({"hospital_or_surgery": True, "hospital_status": "recovered"}, "HOSP-RECOVERED", "refer", "refer"),
    ({"abnormal_test": True, "abnormal_test_finding": "liver_function"}, "ABN-LIVER-FUNCTION", "refer", "refer"),
    ({"tumour": True, "tumour_kind": "malignant"}, "TUMOUR-MALIGNANT", "decline", "decline"),
    ({"tumour": True, "tumour_kind": "under_investigation"}, "TUMOUR-UNDIAGNOSED", "postpone", "postpone"),
    ({"heart": True}, "HEART", "refer", "decline"),
    ({"stroke": True}, "STROKE", "refer", "decline"),
    ({"kidney": True}, "KIDNEY", "refer", "decline"),
    ({"hepatitis": True, "hepatitis_kind": "chronic_hepatitis_b"}, "HEPATITIS-B-CHRONIC", "refer", "decline"),
])
def test_knock_out_answers(decide: Decide, changes: dict[str, Any], code: str, outcome: str,
                           ci_outcome: str) -> None:
    decision = decide(**changes)
    assert (decision.outcome, decision.codes) == (outcome, (code,))
    assert decide(kind="critical_illness", **changes).outcome == ci_outcome


# --- how findings combine --------------------------------------------------------------------------------------

def test_debits_add_up_to_a_table(decide: Decide) -> None:
    # BMI 28.0 (+25) and untreated grade 1 hypertension (+25): rating 150, table B.
    decision = decide(height_cm=200, weight_kg="112", **BP, bp_systolic_max=150, bp_diastolic_max=95,
                      bp_medication=False)
    assert (decision.rating, decision.table, decision.extra_premium_pct) == (150, "B", Decimal(50))
    assert set(decision.codes) == {"BMI-OBESE", "BP-G1-UNTREATED"}


def test_rated_and_exclusion_combine_and_exclusions_accumulate(decide: Decide) -> None:
    decision = decide(kind="medical", height_cm=200, weight_kg="112", **HBV, liver_function_normal=True,
                      hazardous_pursuit=True)
    assert terms(decision) == ("rated", Decimal(20), ("LIVER", "HAZARDOUS-PURSUIT"))


def test_the_most_severe_outcome_wins_and_comes_first(decide: Decide) -> None:
    decision = decide(tumour=True, tumour_kind="malignant", weight_loss=True, weight_loss_cause="not_investigated",
                      heart=True, hazardous_pursuit=True)
    assert decision.outcome == "decline"
    assert [reason.effect for reason in decision.reasons] == ["decline", "postpone", "refer", "exclusion"]
    assert (decision.postpone_months, decision.exclusions, decision.extra_premium_pct) == (0, (), Decimal(0))


def test_postpone_beats_refer(decide: Decide) -> None:
    decision = decide(hospital_or_surgery=True, hospital_status="awaiting", heart=True)
    assert (decision.outcome, decision.postpone_months) == ("postpone", 6)


def test_loadings_beyond_the_automatic_maximum_are_referred(decide: Decide) -> None:
    # critical illness: HBV +25, untreated hypertension +30, BMI 28 +25, pre-diabetes +25 = 105% > 100%
    decision = decide(kind="critical_illness", height_cm=200, weight_kg="112", **HBV, liver_function_normal=True,
                      **BP, bp_systolic_max=150, bp_diastolic_max=95, bp_medication=False, glucose_tested=True,
                      fasting_glucose_max="6.5")
    assert (decision.outcome, decision.codes[0], decision.rating) == ("refer", "LOADING-OVER-MAX", 205)


# --- the declaration and the input must be whole ---------------------------------------------------------------

def test_an_incomplete_declaration_is_refused(standard: RuleSet, health: Questionnaire) -> None:
    given = application(hypertension=True)
    with pytest.raises(ValidationFailed) as caught:
        decide_underwriting(standard, health, given)
    assert caught.value.field == "answers.bp_systolic_max"
    assert "incomplete" in caught.value.message


def test_a_bad_or_misplaced_answer_is_refused(decide: Decide) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decide(hypertension=False, bp_systolic_max=150)
    assert caught.value.field == "answers.bp_systolic_max"
    with pytest.raises(ValidationFailed) as caught:
        decide(heart="no")
    assert caught.value.field == "answers.heart"


@pytest.mark.parametrize(("changes", "field"), [
    ({"kind": "annuity"}, "product_kind"), ({"age": -1}, "age"), ({"occupation_class": 7}, "occupation_class"),
    ({"sum_insured": "0"}, "sum_insured"), ({"cover_with_us": "-1"}, "cover_with_us"),
    ({"stated_height_cm": Decimal(0)}, "height_cm"),
])
def test_an_input_out_of_bounds_is_refused(decide: Decide, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decide(**changes)
    assert caught.value.field == field


def test_sex_and_currency_are_checked(standard: RuleSet, health: Questionnaire) -> None:
    base = application()
    fields = base.__dict__
    with pytest.raises(ValidationFailed) as caught:
        decide_underwriting(standard, health, UnderwritingInput(**{**fields, "sex": "male"}))
    assert caught.value.field == "sex"
    with pytest.raises(ValidationFailed) as caught:
        decide_underwriting(standard, health, UnderwritingInput(**{**fields, "automatic_limit": Money.of(1, "USD")}))
    assert caught.value.field == "automatic_limit"


def test_measurements_come_from_the_declaration_when_the_input_has_none(decide: Decide) -> None:
    # 175 cm, 101 kg declared, nothing on the application: BMI 33.0 from the answers
    decision = decide(weight_kg="101")
    assert decision.codes == ("BMI-HIGH",)
    assert dict(decision.reasons[0].answers)["bmi"] == Decimal("33.0")


def test_measurements_are_needed_from_somewhere(standard: RuleSet, health: Questionnaire) -> None:
    given = application()
    with pytest.raises(ValidationFailed) as caught:
        decide_underwriting(standard, health, UnderwritingInput(**{**given.__dict__, "answers": {
            key: value for key, value in CLEAN.items() if key != "height_cm"}}))
    assert caught.value.field == "answers.height_cm"  # the questionnaire asks it: the declaration is incomplete


# --- the record ------------------------------------------------------------------------------------------------

def test_the_decision_names_the_versions_that_made_it(decide: Decide, standard: RuleSet,
                                                      health: Questionnaire) -> None:
    decision = decide()
    assert (decision.ruleset.id, decision.ruleset.version, decision.ruleset.digest) == (
        "standard", 1, standard.digest)
    assert (decision.questionnaire.id, decision.questionnaire.version, decision.questionnaire.digest) == (
        "health", 1, health.digest)


def test_to_json_is_json_safe_and_recomputes_from_the_recorded_input(standard: RuleSet,
                                                                      health: Questionnaire) -> None:
    given = application(kind="medical", stated_height_cm=Decimal(175), stated_weight_kg=Decimal("90.2"),
                        weight_kg="90.2", **HBV,
                        liver_function_normal=True, glucose_tested=True, fasting_glucose_max="5.8")
    decision = decide_underwriting(standard, health, given)
    recorded = json.loads(json.dumps({"input": given.to_json(), "decision": decision.to_json()}))
    canonical_json(recorded)  # RFC 8785-encodable: no floats, no Decimals
    assert recorded["decision"]["extra_premium_pct"] == "20"
    assert recorded["decision"]["exclusions"] == [{"code": "LIVER", "zh": standard.exclusions["LIVER"].zh,
                                                   "en": standard.exclusions["LIVER"].en}]
    assert recorded["input"]["answers"]["fasting_glucose_max"] == "5.8"
    again = decide_underwriting(standard, health, UnderwritingInput.from_json(recorded["input"]))
    assert again == decision
    assert again.to_json() == recorded["decision"]


def test_from_json_refuses_a_malformed_input() -> None:
    recorded = application().to_json()
    with pytest.raises(ValidationFailed) as caught:
        UnderwritingInput.from_json({**recorded, "age": "35"})
    assert caught.value.field == "age"
    with pytest.raises(ValidationFailed) as caught:
        UnderwritingInput.from_json({key: value for key, value in recorded.items() if key != "answers"})
    assert caught.value.field == "input"


def test_the_decision_is_a_pure_function_of_its_arguments(standard: RuleSet, health: Questionnaire) -> None:
    given = application(**DIABETES)
    before = dict(given.answers)
    first, second = decide_underwriting(standard, health, given), decide_underwriting(standard, health, given)
    assert first == second
    assert dict(given.answers) == before


def test_every_derived_fact_is_computed(standard: RuleSet) -> None:
    facts = _derived(standard, application(), dict(CLEAN), "life")
    assert set(facts) == set(DERIVED_FACTS)
    assert facts == {"age": 35, "occupation_class": 1, "bmi": Decimal("22.2"), "age_in_range": True,
                     "over_automatic_limit": False, "measurements_differ": False}


# --- how findings combine, on a small rule set -----------------------------------------------------------------

@pytest.fixture
def mini(tmp_path: Path, health: Questionnaire) -> Decide:
    path = tmp_path / "mini.toml"
    path.write_text(MINI_RULES, encoding="utf-8")
    rules = load_ruleset(path)

    def run(**kwargs: Any) -> Decision:
        return decide_underwriting(rules, health, application(**kwargs))
    return run


def test_credits_lower_the_rating(mini: Decide) -> None:
    decision = mini()  # BMI 22.2: the "ideal build" credit of 10
    assert (decision.outcome, decision.rating, decision.codes) == ("standard", 90, ("STD", "FIT"))
    assert mini(heart=True).rating == 130  # 100 + 40 - 10


@pytest.mark.parametrize(("changes", "rating", "table", "extra"), [
    ({"heart": True}, 130, "A", 25), ({"heart": True, "kidney": True}, 160, "B", 50),
    ({"kidney": True, "weight_kg": "80"}, 130, "A", 25),
])
def test_the_rating_picks_the_table(mini: Decide, changes: dict[str, Any], rating: int, table: str,
                                    extra: int) -> None:
    decision = mini(**changes)
    assert (decision.outcome, decision.rating, decision.table, decision.extra_premium_pct) == (
        "rated", rating, table, Decimal(extra))


def test_a_rating_beyond_the_last_table_gets_the_scales_outcome(mini: Decide) -> None:
    decision = mini(heart=True, kidney=True, weight_kg="80")  # BMI 26.1: no credit, 170 > 160
    assert (decision.outcome, decision.rating, decision.table) == ("decline", 170, None)
    assert decision.reasons[0].code == "TOO-HIGH"
    assert dict(decision.reasons[0].answers) == {"rating": 170}
    assert decision.extra_premium_pct == 0


def test_a_loading_beyond_the_maximum_gets_the_scales_outcome(mini: Decide) -> None:
    decision = mini(kind="medical", stroke=True)
    assert (decision.outcome, decision.codes) == ("refer", ("LOAD-HIGH", "STROKE", "FIT"))


def test_postponement_takes_the_longest_months(mini: Decide) -> None:
    decision = mini(stroke=True, tumour=True, tumour_kind="under_investigation")
    assert (decision.outcome, decision.postpone_months) == ("postpone", 12)
    assert [reason.postpone_months for reason in decision.reasons] == [12, 6, 0]


def test_a_postponement_drops_the_exclusions_it_outranks(mini: Decide) -> None:
    assert terms(mini(kind="medical", heart=True)) == ("exclusion", Decimal(0), ("HEART",))
    decision = mini(kind="medical", heart=True, kidney=True)
    assert (decision.outcome, decision.postpone_months, decision.exclusions) == ("postpone", 3, ())
    assert decision.codes == ("KIDNEY", "HEART", "FIT")  # every finding is still explained, the decisive first
