"""The shipped questionnaire and rule set, loaded once, and the products directory they live in."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.policies.rules.questionnaire import Questionnaire, load_questionnaire
from ledger.policies.rules.ruleset import RuleSet, load_ruleset

PRODUCTS = Path(__file__).resolve().parents[4] / "products"
HEALTH = PRODUCTS / "questionnaires" / "health.toml"
STANDARD = PRODUCTS / "underwriting" / "standard.toml"


@pytest.fixture(scope="session")
def health() -> Questionnaire:
    return load_questionnaire(HEALTH)


@pytest.fixture(scope="session")
def standard() -> RuleSet:
    return load_ruleset(STANDARD)


# A small rule set on the shipped questionnaire, to exercise the loader and how findings combine apart from the
# shipped numbers. Life rates on two ACORD tables (A to 135, B to 160, beyond: decline); "health" (medical) loads
# directly up to 50% (beyond: refer).
MINI_RULES = """
id = "mini"
version = 1
questionnaire = "health"
bmi_places = 1
occupation_classes = [1, 2, 3, 4, 5, 6]
standard = { code = "STD", zh = "标准体", en = "Standard" }

[families.life]
kinds = ["term_life"]
scale = "acord"
min_age = 18
max_age = 60

[families.health]
kinds = ["medical"]
scale = "loading"
min_age = 0
max_age = 60

[scales.acord]
kind = "table"
standard_up_to = 110
tables = [{ letter = "A", up_to = 135, extra_premium_pct = 25 }, { letter = "B", up_to = 160, extra_premium_pct = 50 }]
over = { code = "TOO-HIGH", outcome = "decline", zh = "评点过高", en = "Rating too high" }

[scales.loading]
kind = "direct"
max_extra_pct = 50
over = { code = "LOAD-HIGH", outcome = "refer", zh = "加费过高", en = "Loading too high" }

[exclusions]
HEART = { zh = "心脏疾病", en = "Heart disease" }

[[conditions]]
id = "heart"
name = { zh = "心脏", en = "Heart" }

[[conditions.rules]]
code = "HEART"
when = { fact = "heart", equals = true }
zh = "心脏疾病"
en = "Heart disease"
effects.life = { outcome = "rated", debits = 40 }
effects.health = { outcome = "exclusion", exclude = ["HEART"] }

[[conditions]]
id = "kidney"
name = { zh = "肾脏", en = "Kidney" }

[[conditions.rules]]
code = "KIDNEY"
when = { fact = "kidney", equals = true }
zh = "肾脏疾病"
en = "Kidney disease"
effects.life = { outcome = "rated", debits = 30 }
effects.health = { outcome = "postpone", postpone_months = 3 }

[[conditions]]
id = "stroke"
name = { zh = "卒中", en = "Stroke" }

[[conditions.rules]]
code = "STROKE"
when = { fact = "stroke", equals = true }
zh = "卒中"
en = "Stroke"
effects.life = { outcome = "postpone", postpone_months = 12 }
effects.health = { outcome = "rated", debits = 60 }

[[conditions]]
id = "tumour"
name = { zh = "肿瘤", en = "Tumour" }

[[conditions.rules]]
code = "TUMOUR"
when = { fact = "tumour_kind", one_of = ["benign", "under_investigation"] }
zh = "肿瘤"
en = "Tumour"
effects.life = { outcome = "postpone", postpone_months = 6 }
effects.health = { outcome = "postpone", postpone_months = 6 }

[[conditions]]
id = "build"
name = { zh = "体型", en = "Build" }

[[conditions.rules]]
code = "FIT"
when = { all = [{ fact = "bmi", at_least = "20" }, { fact = "bmi", below = "23" }] }
zh = "体型理想"
en = "Ideal build"
effects.life = { outcome = "rated", debits = -10 }
effects.health = { outcome = "standard" }
"""
