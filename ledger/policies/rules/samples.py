"""Named sample declarations for demos and tests, each with what it produces for a standard term-life application.

The standard application: a term_life product, RMB 500,000 sum insured, nothing else with us, an automatic limit of
RMB 1,000,000, the insured aged 35, male, occupation class 1 unless the sample says otherwise; height and weight
are those the sample declares. ``outcome`` and ``codes`` are what the shipped rule set ``standard`` v1 decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger.money import Money, parse_decimal
from ledger.policies.rules.ruleset import Outcome
from ledger.policies.rules.underwriting import UnderwritingInput

__all__ = ["CLEAN", "SAMPLES", "Sample", "sample_input"]

# Every root question answered "no", a BMI of 22.2.
CLEAN: Mapping[str, Any] = MappingProxyType({
    "height_cm": 175, "weight_kg": "68", "weight_loss": False, "prior_adverse": False, "abnormal_test": False,
    "hospital_or_surgery": False, "hypertension": False, "diabetes": False, "glucose_tested": False,
    "thyroid_nodule": False, "tumour": False, "heart": False, "stroke": False, "kidney": False, "hepatitis": False,
    "occupation_hazard": False, "hazardous_pursuit": False, "other_cover": False,
})


@dataclass(frozen=True, kw_only=True)
class Sample:
    """A declaration with the outcome and reason codes it gets on the standard term-life application."""

    name: str
    en: str
    answers: Mapping[str, Any]
    occupation_class: int = 1
    outcome: Outcome
    codes: tuple[str, ...]
    extra_premium_pct: Decimal = Decimal(0)


def _with(**changes: Any) -> Mapping[str, Any]:
    return MappingProxyType({**CLEAN, **changes})


_ALL = (
    Sample(name="clean", en="Nothing to declare, normal build.", answers=CLEAN, outcome="standard", codes=("STD",)),
    Sample(name="hypertension_controlled", en="Grade 1 hypertension, controlled with medicine.",
           answers=_with(hypertension=True, bp_systolic_max=150, bp_diastolic_max=95, bp_medication=True,
                         bp_controlled=True, bp_organ_damage=False),
           outcome="standard", codes=("STD", "BP-G1-CONTROLLED")),
    Sample(name="bp_high", en="Blood pressure up to 165/102 in the last year, not controlled.",
           answers=_with(hypertension=True, bp_systolic_max=165, bp_diastolic_max=102, bp_medication=True,
                         bp_controlled=False, bp_organ_damage=False),
           outcome="rated", codes=("KO-BP-G2",), extra_premium_pct=Decimal(75)),
    Sample(name="diabetes", en="Type 2 diabetes on tablets, fasting glucose up to 7.8.",
           answers=_with(diabetes=True, diabetes_type="type_2", diabetes_treatment="oral",
                         diabetes_complications=False, glucose_tested=True, fasting_glucose_max="7.8"),
           outcome="rated", codes=("DIABETES",), extra_premium_pct=Decimal(100)),
    Sample(name="prediabetes", en="Fasting glucose up to 6.5, no diabetes.",
           answers=_with(glucose_tested=True, fasting_glucose_max="6.5"),
           outcome="standard", codes=("STD", "FBG-PREDIABETES")),
    Sample(name="thyroid_tirads_3_large", en="Thyroid nodule TI-RADS 3 of 12 mm.",
           answers=_with(thyroid_nodule=True, thyroid_tirads="3", nodule_size_mm="12"),
           outcome="standard", codes=("STD", "NODULE-TIRADS-3-LARGE")),
    Sample(name="hbv_carrier", en="Hepatitis B carrier with normal liver function.",
           answers=_with(hepatitis=True, hepatitis_kind="hbv_carrier", liver_function_normal=True),
           outcome="standard", codes=("STD", "HBV-CARRIER")),
    Sample(name="bmi_33", en="175 cm and 101 kg: a BMI of 33.0.", answers=_with(weight_kg="101"),
           outcome="rated", codes=("BMI-HIGH",), extra_premium_pct=Decimal(75)),
    Sample(name="occupation_class_6", en="Works offshore, occupation class 6.",
           answers=_with(occupation_hazard=True), occupation_class=6, outcome="rated", codes=("OCC-HAZARD",)),
    Sample(name="hazardous_pursuit", en="Dives deeper than 40 m.", answers=_with(hazardous_pursuit=True),
           outcome="exclusion", codes=("PURSUIT-HAZARD",)),
    Sample(name="tumour_under_investigation", en="A lump still being investigated.",
           answers=_with(tumour=True, tumour_kind="under_investigation"),
           outcome="postpone", codes=("TUMOUR-UNDIAGNOSED",)),
    Sample(name="cancer", en="A history of cancer.", answers=_with(tumour=True, tumour_kind="malignant"),
           outcome="decline", codes=("TUMOUR-MALIGNANT",)),
    Sample(name="other_cover_3m", en="RMB 3 million of death cover with other insurers.",
           answers=_with(other_cover=True, other_death_cover="3000000", other_ci_cover="500000"),
           outcome="refer", codes=("FIN-OVERINSURED",)),
    Sample(name="glucose_conflict", en="Says no diabetes, but a fasting glucose of 7.5.",
           answers=_with(glucose_tested=True, fasting_glucose_max="7.5"),
           outcome="refer", codes=("ANSWERS-CONFLICT", "FBG-HIGH")),
)
SAMPLES: Mapping[str, Sample] = MappingProxyType({sample.name: sample for sample in _ALL})


def sample_input(name: str, *, product_kind: str = "term_life", product_id: str = "sample-term-life", age: int = 35,
                 sex: str = "M", sum_insured: Money | None = None, cover_with_us: Money | None = None,
                 automatic_limit: Money | None = None) -> UnderwritingInput:
    """The application for sample ``name`` (the standard term-life one unless overridden).

    Raises ``KeyError`` for an unknown sample.
    """
    sample = SAMPLES[name]
    return UnderwritingInput(
        product_id=product_id, product_kind=product_kind, age=age, sex=sex,
        height_cm=parse_decimal(sample.answers["height_cm"], field="height_cm"),
        weight_kg=parse_decimal(sample.answers["weight_kg"], field="weight_kg"),
        occupation_class=sample.occupation_class,
        sum_insured=sum_insured or Money.of("500000"), cover_with_us=cover_with_us or Money.zero(),
        automatic_limit=automatic_limit or Money.of("1000000"), answers=dict(sample.answers))
