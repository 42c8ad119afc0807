"""The underwriting rule set as data: the shipped file's shape, loader errors naming file/path/value, the check
against its questionnaire, and digests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ledger.errors import ValidationFailed
from ledger.policies.rules.questionnaire import Questionnaire
from ledger.policies.rules.ruleset import OUTCOMES, RuleSet, check_ruleset, load_ruleset
from tests.ledger.policies.rules.conftest import MINI_RULES, STANDARD

KINDS = {"term_life", "whole_life", "critical_illness", "medical", "hospital_allowance", "accident"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> ValidationFailed:
    path = write(tmp_path, text)
    with pytest.raises(ValidationFailed) as caught:
        load_ruleset(path)
    assert str(path) in caught.value.message
    return caught.value


def changed(old: str, new: str) -> str:
    assert old in MINI_RULES
    return MINI_RULES.replace(old, new, 1)


# --- the shipped rule set --------------------------------------------------------------------------------------

def test_the_shipped_rule_set_reads_the_shipped_questionnaire(standard: RuleSet, health: Questionnaire) -> None:
    assert (standard.id, standard.version, standard.questionnaire) == ("standard", 1, "health")
    check_ruleset(standard, health)


def test_the_families_cover_every_product_kind(standard: RuleSet) -> None:
    assert {kind for family in standard.families.values() for kind in family.kinds} == KINDS
    assert set(standard.families) == {"life", "critical_illness", "medical", "accident"}
    assert standard.family_of("hospital_allowance") == "medical"
    assert standard.family_of("annuity") is None


def test_life_rates_on_the_acord_tables(standard: RuleSet) -> None:
    scale = standard.scales[standard.families["life"].scale]
    assert [band.letter for band in scale.tables] == list("ABCDEFGHIJKLMNOP")
    # A = 125% of standard mortality ... D = 200% ... P = 500%: the extra premium is the excess over 100%.
    assert [band.extra_premium_pct for band in scale.tables] == [Decimal(25 * n) for n in range(1, 17)]
    assert scale.over.outcome == "decline"


def test_the_reason_codes_of_domain_5_are_all_there(standard: RuleSet) -> None:
    codes = {rule.code for condition in standard.conditions for rule in condition.rules}
    assert {"KO-BP-G2", "BMI-HIGH", "FBG-HIGH", "NODULE-TIRADS-3", "HBV-CARRIER", "FIN-OVERINSURED",
            "AGE-OUT-OF-RANGE", "OCC-HAZARD", "SI-OVER-AUTO-LIMIT", "ANSWERS-CONFLICT"} <= codes
    for condition in standard.conditions:
        for rule in condition.rules:
            assert rule.zh.endswith("。") and rule.en.endswith("."), rule.code  # one plain sentence each


def test_every_outcome_is_used_by_some_rule(standard: RuleSet) -> None:
    used = {effect.outcome for condition in standard.conditions for rule in condition.rules
            for effect in rule.effects.values()}
    assert used == set(OUTCOMES)


# --- loader errors ---------------------------------------------------------------------------------------------

def test_the_small_rule_set_loads(tmp_path: Path, health: Questionnaire) -> None:
    rules = load_ruleset(write(tmp_path, MINI_RULES))
    check_ruleset(rules, health)
    assert rules.family_of("medical") == "health"


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ('effects.life = { outcome = "rated", debits = 40 }', 'effects.life = { outcome = "rated" }',
     "conditions[0].rules[0].effects.life", "needs debits or flat_extra_per_mille"),
    ('effects.health = { outcome = "exclusion", exclude = ["HEART"] }', 'effects.health = { outcome = "exclusion" }',
     "conditions[0].rules[0].effects.health", "names what it excludes"),
    ('effects.health = { outcome = "postpone", postpone_months = 3 }', 'effects.health = { outcome = "postpone" }',
     "conditions[1].rules[0].effects.health", "postpone_months > 0"),
    ('effects.life = { outcome = "rated", debits = 40 }', 'effects.life = { outcome = "decline", debits = 40 }',
     "conditions[0].rules[0].effects.life", "belong to rated effects"),
    ('effects.life = { outcome = "rated", debits = 40 }', 'effects.life = { outcome = "accept" }',
     "conditions[0].rules[0].effects.life.outcome", "'standard', 'rated', 'exclusion'"),
    ('effects.life = { outcome = "rated", debits = 40 }\n', "",
     "conditions[0].rules[0].effects", "an effect for each family"),
    ('exclude = ["HEART"]', 'exclude = ["LUNG"]', "conditions[0].rules[0].effects.health.exclude",
     "no exclusion 'LUNG'"),
    ('scale = "loading"', 'scale = "flat"', "families.health.scale", "no scale of that name"),
    ('kinds = ["medical"]', 'kinds = ["term_life"]', "families.health.kinds", "already in family 'life'"),
    ('{ letter = "B", up_to = 160, extra_premium_pct = 50 }', '{ letter = "B", up_to = 130, extra_premium_pct = 50 }',
     "scales.acord.tables[1]", "bands rise"),
    ('max_extra_pct = 50', 'max_extra_pct = 50.5', "scales.loading.max_extra_pct", "TOML float"),
    ('code = "KIDNEY"', 'code = "kidney"', "conditions[1].rules[0].code", "should match pattern"),
    ('id = "kidney"', 'id = "heart"', "conditions[1].id", "condition id repeats"),
    ('when = { fact = "heart", equals = true }', 'when = { fact = "heart" }', "conditions[0].rules[0].when",
     "exactly one test"),
    ('when = { fact = "heart", equals = true }', 'when = { fact = "heart", equals = true, any = [] }',
     "conditions[0].rules[0].when", "a test of one fact"),
    ('zh = "心脏疾病"\n', 'zh = "心脏疾病"\nnote = "typo"\n', "conditions[0].rules[0].note", "Extra inputs"),
    ('over = { code = "LOAD-HIGH", outcome = "refer"', 'over = { code = "LOAD-HIGH", outcome = "rated"',
     "scales.loading", "decline or refer"),
])
def test_malformed_rule_sets_are_refused_naming_path_and_value(tmp_path: Path, old: str, new: str, field: str,
                                                               words: str) -> None:
    error = refused(tmp_path, changed(old, new))
    assert error.field == field
    assert words in error.message


def test_the_error_shows_the_rule_and_the_value(tmp_path: Path) -> None:
    error = refused(tmp_path, changed('exclude = ["HEART"]', 'exclude = ["LUNG"]'))
    assert "code 'HEART'" in error.message and "(value: 'LUNG')" in error.message


# --- the check against the questionnaire -----------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "words"), [
    ('fact = "heart", equals = true', 'fact = "hart", equals = true', "'hart' is neither a question"),
    ('fact = "heart", equals = true', 'fact = "heart", at_least = 1', "equals = true or equals = false"),
    ('one_of = ["benign", "under_investigation"]', 'one_of = ["benign", "suspected"]', "['suspected'] not among"),
    ('{ fact = "bmi", at_least = "20" }', '{ fact = "bmi", equals = true }', "'bmi' is a decimal fact"),
])
def test_a_rule_that_cannot_read_the_questionnaire_is_refused(tmp_path: Path, health: Questionnaire, old: str,
                                                              new: str, words: str) -> None:
    rules = load_ruleset(write(tmp_path, changed(old, new)))
    with pytest.raises(ValidationFailed) as caught:
        check_ruleset(rules, health)
    assert words in caught.value.message
    assert caught.value.field is not None and caught.value.field.startswith("conditions[")


def test_a_derived_whole_number_may_be_tested_for_equality(tmp_path: Path, health: Questionnaire) -> None:
    rules = load_ruleset(write(tmp_path, changed('fact = "heart", equals = true', 'fact = "occupation_class", '
                                                 'equals = 6')))
    check_ruleset(rules, health)


def test_a_rule_set_for_another_questionnaire_is_refused(tmp_path: Path, health: Questionnaire) -> None:
    rules = load_ruleset(write(tmp_path, changed('questionnaire = "health"', 'questionnaire = "lifestyle"')))
    with pytest.raises(ValidationFailed) as caught:
        check_ruleset(rules, health)
    assert caught.value.field == "questionnaire"


# --- digests ---------------------------------------------------------------------------------------------------

def test_the_digest_is_stable_and_ignores_layout(tmp_path: Path, standard: RuleSet) -> None:
    assert standard.digest.startswith("sha256:") and len(standard.digest) == 71
    assert load_ruleset(STANDARD).digest == standard.digest
    relaid = STANDARD.read_text(encoding="utf-8").replace("# ---", "#---").replace("\n\n", "\n\n\n")
    assert load_ruleset(write(tmp_path, relaid)).digest == standard.digest


@pytest.mark.parametrize(("old", "new"), [
    ('effects.life = { outcome = "rated", debits = 75 }', 'effects.life = { outcome = "rated", debits = 76 }'),
    ('{ fact = "bmi", at_least = 32 }', '{ fact = "bmi", at_least = "32.5" }'),
    ("max_age = 60", "max_age = 59"),
    ("Accepted at standard rates.", "Accepted at standard rates!"),
])
def test_the_digest_changes_with_the_content(tmp_path: Path, standard: RuleSet, old: str, new: str) -> None:
    text = STANDARD.read_text(encoding="utf-8")
    assert old in text
    assert load_ruleset(write(tmp_path, text.replace(old, new, 1))).digest != standard.digest
