"""The health questionnaire: branching (only what applies is asked), answer checks, completeness, loader errors
and digests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import NotFound, ValidationFailed
from ledger.policies.rules.questionnaire import (
    Questionnaire,
    check_answers,
    is_complete,
    load_questionnaire,
    next_questions,
)
from ledger.policies.rules.samples import CLEAN
from tests.ledger.policies.rules.conftest import HEALTH

ROOTS = ["height_cm", "weight_kg", "weight_loss", "prior_adverse", "abnormal_test", "hospital_or_surgery",
         "hypertension", "diabetes", "glucose_tested", "thyroid_nodule", "tumour", "heart", "stroke", "kidney",
         "hepatitis", "occupation_hazard", "hazardous_pursuit", "other_cover"]


def ids(questions: list[Any]) -> list[str]:
    return [question.id for question in questions]


def answers(**changes: Any) -> dict[str, Any]:
    return {**CLEAN, **changes}


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in keys}


# --- the shipped file ------------------------------------------------------------------------------------------

def test_the_shipped_questionnaire_is_health_v1_with_bilingual_questions(health: Questionnaire) -> None:
    assert (health.id, health.version) == ("health", 1)
    for question in health.questions:
        assert question.text.zh and question.text.en
        assert all(option.zh and option.en for option in question.options)


def test_with_no_answers_only_the_root_questions_are_asked_in_order(health: Questionnaire) -> None:
    assert ids(next_questions(health, {})) == ROOTS


def test_the_knock_out_questions_of_the_declaration_are_all_asked(health: Questionnaire) -> None:
    # DOMAIN §5: history, tests, hospital, blood pressure, diabetes, tumours, heart, stroke, kidney, hepatitis,
    # weight loss; plus build, thyroid, occupation and other insurers' cover.
    assert set(ROOTS) <= set(health.by_id)
    assert {"bp_systolic_max", "bp_diastolic_max", "fasting_glucose_max", "thyroid_tirads", "nodule_size_mm",
            "liver_function_normal", "other_death_cover", "other_ci_cover"} <= set(health.by_id)


def test_carve_outs_are_named_in_the_question_text(health: Questionnaire) -> None:
    hospital = health.by_id["hospital_or_surgery"].text.en
    for carve_out in ("normal delivery", "appendectomy", "minor injury"):
        assert carve_out in hospital
    options = {option.value for option in health.by_id["abnormal_test_finding"].options}
    assert {"lipids_only", "mild_fatty_liver_only"} <= options


# --- branching -------------------------------------------------------------------------------------------------

def test_a_yes_opens_the_follow_ups_right_after_their_question(health: Questionnaire) -> None:
    asked = ids(next_questions(health, {"hypertension": True}))
    assert "hypertension" not in asked  # answered
    between = asked[asked.index("hospital_or_surgery") + 1:asked.index("diabetes")]
    assert between == ["bp_systolic_max", "bp_diastolic_max", "bp_medication", "bp_organ_damage"]
    assert "bp_controlled" not in asked  # only after "on medication?" is answered yes


def test_a_no_asks_no_follow_up(health: Questionnaire) -> None:
    asked = ids(next_questions(health, {"hypertension": False}))
    assert not {"bp_systolic_max", "bp_diastolic_max", "bp_medication", "bp_controlled"} & set(asked)


@pytest.mark.parametrize(("medication", "controlled_asked"), [(True, True), (False, False)])
def test_controlled_is_asked_only_on_medication(health: Questionnaire, medication: bool,
                                                controlled_asked: bool) -> None:
    asked = ids(next_questions(health, {"hypertension": True, "bp_medication": medication}))
    assert ("bp_controlled" in asked) is controlled_asked


@pytest.mark.parametrize(("grade", "size_asked"), [("1", False), ("2", False), ("3", True), ("4a", False),
                                                   ("5", False), ("unknown", False)])
def test_nodule_size_is_asked_only_for_ti_rads_3(health: Questionnaire, grade: str, size_asked: bool) -> None:
    asked = ids(next_questions(health, {"thyroid_nodule": True, "thyroid_tirads": grade}))
    assert ("nodule_size_mm" in asked) is size_asked


@pytest.mark.parametrize(("kind", "liver_asked"), [("hbv_carrier", True), ("chronic_hepatitis_b", False),
                                                  ("hepatitis_c", False)])
def test_liver_function_is_asked_of_hepatitis_b_carriers(health: Questionnaire, kind: str, liver_asked: bool) -> None:
    asked = ids(next_questions(health, {"hepatitis": True, "hepatitis_kind": kind}))
    assert ("liver_function_normal" in asked) is liver_asked


# --- checking answers ------------------------------------------------------------------------------------------

def test_answers_come_back_in_their_types_and_in_questionnaire_order(health: Questionnaire) -> None:
    checked = check_answers(health, {"other_cover": False, "weight_kg": "68.5", "height_cm": "175",
                                     "glucose_tested": True, "fasting_glucose_max": Decimal("6.2")})
    assert checked == {"height_cm": 175, "weight_kg": Decimal("68.5"), "glucose_tested": True,
                       "fasting_glucose_max": Decimal("6.2"), "other_cover": False}
    assert list(checked) == ["height_cm", "weight_kg", "glucose_tested", "fasting_glucose_max", "other_cover"]
    assert type(checked["height_cm"]) is int


@pytest.mark.parametrize(("given", "field", "words"), [
    ({"smoker": True}, "answers.smoker", "no question 'smoker'"),
    ({"hypertension": "yes"}, "answers.hypertension", "true or false"),
    ({"hypertension": 1}, "answers.hypertension", "true or false"),
    ({"thyroid_nodule": True, "thyroid_tirads": "4A"}, "answers.thyroid_tirads", "must be one of"),
    ({"height_cm": 300}, "answers.height_cm", "between 40 and 250 cm"),
    ({"height_cm": 39}, "answers.height_cm", "between 40 and 250 cm"),
    ({"height_cm": "175.5"}, "answers.height_cm", "whole number"),
    ({"weight_kg": 68.5}, "answers.weight_kg", "decimal string"),
    ({"weight_kg": "heavy"}, "answers.weight_kg", "not a decimal"),
    ({"glucose_tested": True, "fasting_glucose_max": "0.5"}, "answers.fasting_glucose_max", "between 1.0 and 40.0"),
])
def test_a_wrong_answer_is_refused_naming_the_question(health: Questionnaire, given: dict[str, Any], field: str,
                                                       words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_answers(health, given)
    assert caught.value.field == field
    assert words in caught.value.message


def test_range_edges_are_inclusive(health: Questionnaire) -> None:
    assert check_answers(health, {"height_cm": 40, "weight_kg": "300"}) == {"height_cm": 40,
                                                                           "weight_kg": Decimal("300")}
    assert check_answers(health, {"height_cm": 250})["height_cm"] == 250


def test_an_answer_to_a_question_that_does_not_apply_is_refused(health: Questionnaire) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_answers(health, {"hypertension": False, "bp_systolic_max": 150})
    assert caught.value.field == "answers.bp_systolic_max"
    assert "asked when 'hypertension' is yes" in caught.value.message
    assert "answered no" in caught.value.message


def test_a_follow_up_before_its_question_is_answered_is_refused(health: Questionnaire) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_answers(health, {"bp_systolic_max": 150})
    assert caught.value.field == "answers.bp_systolic_max"
    assert "until 'hypertension' is answered" in caught.value.message


def test_a_follow_up_of_a_follow_up_that_does_not_apply_is_refused(health: Questionnaire) -> None:
    # bp_controlled follows bp_medication, which follows hypertension = yes; hypertension is no here.
    with pytest.raises(ValidationFailed) as caught:
        check_answers(health, {"hypertension": False, "bp_controlled": True})
    assert caught.value.field == "answers.bp_controlled"
    assert "does not apply itself" in caught.value.message


def test_a_choice_branch_refuses_the_follow_up_of_another_option(health: Questionnaire) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_answers(health, {"thyroid_nodule": True, "thyroid_tirads": "2", "nodule_size_mm": "8"})
    assert caught.value.field == "answers.nodule_size_mm"
    assert "'3'" in caught.value.message


def test_answers_must_be_a_mapping(health: Questionnaire) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_answers(health, [("hypertension", True)])  # type: ignore[arg-type]
    assert caught.value.field == "answers"


# --- completeness ----------------------------------------------------------------------------------------------

def test_a_clean_declaration_is_complete(health: Questionnaire) -> None:
    assert is_complete(health, dict(CLEAN))
    assert next_questions(health, dict(CLEAN)) == []


@pytest.mark.parametrize("root", ROOTS)
def test_leaving_out_any_root_leaves_it_incomplete(health: Questionnaire, root: str) -> None:
    partial = without(dict(CLEAN), root)
    assert not is_complete(health, partial)
    assert ids(next_questions(health, partial)) == [root]


def test_a_yes_without_its_follow_ups_is_incomplete_until_they_are_answered(health: Questionnaire) -> None:
    declared = answers(hypertension=True)
    assert ids(next_questions(health, declared)) == ["bp_systolic_max", "bp_diastolic_max", "bp_medication",
                                                     "bp_organ_damage"]
    declared |= {"bp_systolic_max": 150, "bp_diastolic_max": 95, "bp_medication": True, "bp_organ_damage": False}
    assert ids(next_questions(health, declared)) == ["bp_controlled"]
    declared["bp_controlled"] = True
    assert is_complete(health, declared)


# --- the loader ------------------------------------------------------------------------------------------------

HEAD = """
id = "mini"
version = 1
title = { zh = "告知", en = "Declaration" }
"""
SMOKER = """
[[questions]]
id = "smoker"
text = { zh = "吸烟吗?", en = "Do you smoke?" }
type = "yes_no"
next = [{ when = { equals = true }, ask = ["cigarettes"] }]
"""
VAPES = """
[[questions]]
id = "vapes"
text = { zh = "使用电子烟吗?", en = "Do you vape?" }
type = "yes_no"
next = [{ ask = ["cigarettes"] }]
"""
CIGARETTES = """
[[questions]]
id = "cigarettes"
text = { zh = "每天几支?", en = "How many a day?" }
type = "number"
unit = "per day"
min = 1
max = 100
"""
GOOD = HEAD + SMOKER + CIGARETTES


def write(tmp_path: Path, text: str, name: str = "q.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> ValidationFailed:
    path = write(tmp_path, text)
    with pytest.raises(ValidationFailed) as caught:
        load_questionnaire(path)
    assert str(path) in caught.value.message  # every loader error names the file
    return caught.value


def test_a_small_questionnaire_loads_and_branches(tmp_path: Path) -> None:
    q = load_questionnaire(write(tmp_path, GOOD))
    assert ids(next_questions(q, {"smoker": True})) == ["cigarettes"]
    assert is_complete(q, {"smoker": False})


def test_a_branch_naming_an_unknown_question_is_refused_with_path_and_value(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace('ask = ["cigarettes"]', 'ask = ["cigars"]'))
    assert error.field == "questions[0].next[0].ask[0]"
    assert "names no question" in error.message and "'cigars'" in error.message


def test_a_follow_up_written_before_its_question_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, HEAD + CIGARETTES + SMOKER)
    assert error.field == "questions[1].next[0].ask[0]"
    assert "'cigarettes' must come after 'smoker'" in error.message


def test_a_question_asked_by_two_questions_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, HEAD + SMOKER + VAPES + CIGARETTES)
    assert error.field == "questions[1].next[0].ask[0]"
    assert "already asked by 'smoker'" in error.message


def test_a_question_that_asks_itself_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, HEAD + SMOKER.replace('ask = ["cigarettes"]', 'ask = ["smoker"]') + CIGARETTES)
    assert error.field == "questions[0].next[0].ask[0]"
    assert "must come after" in error.message


def test_a_repeated_id_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace('id = "cigarettes"', 'id = "smoker"'))
    assert error.field == "questions[1].id"
    assert "repeats" in error.message


@pytest.mark.parametrize(("change", "field", "words"), [
    (('type = "number"', 'type = "integer"'), "questions[1].type", "'yes_no', 'choice', 'number' or 'decimal'"),
    (("min = 1", "min = 1.5"), "questions[1].min", "TOML float"),
    (('unit = "per day"\n', ""), "questions[1]", "needs unit, min and max"),
    (("min = 1", "min = 200"), "questions[1]", "min 200 is above max 100"),
    (('text = { zh = "吸烟吗?", en = "Do you smoke?" }', 'text = { zh = "吸烟吗?" }'), "questions[0].text.en",
     "Field required"),
    (('type = "yes_no"', 'type = "yes_no"\ntxt = "typo"'), "questions[0].txt", "Extra inputs are not permitted"),
    (("when = { equals = true }", 'when = { equals = "yes" }'), "questions[0].next[0].when",
     "equals = true or equals = false"),
    (('version = 1', 'version = 0'), "version", "greater than or equal to 1"),
])
def test_malformed_files_are_refused_naming_path_and_value(tmp_path: Path, change: tuple[str, str], field: str,
                                                           words: str) -> None:
    old, new = change
    assert old in GOOD
    error = refused(tmp_path, GOOD.replace(old, new, 1))
    assert error.field == field
    assert words in error.message


def test_the_error_names_the_question_at_fault_and_the_value(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace('type = "number"', 'type = "integer"'))
    assert "id 'cigarettes'" in error.message
    assert "'integer'" in error.message


def test_a_choice_needs_two_distinct_options(tmp_path: Path) -> None:
    text = GOOD.replace('type = "number"\nunit = "per day"\nmin = 1\nmax = 100',
                        'type = "choice"\noptions = [{ value = "few", zh = "少", en = "Few" }]')
    error = refused(tmp_path, text)
    assert error.field == "questions[1]"
    assert "at least two options" in error.message


def test_a_choice_branch_must_name_an_option(tmp_path: Path) -> None:
    text = GOOD.replace('type = "yes_no"\nnext = [{ when = { equals = true }',
                        'type = "choice"\noptions = [{ value = "yes", zh = "是", en = "Yes" }, '
                        '{ value = "no", zh = "否", en = "No" }]\nnext = [{ when = { equals = "often" }')
    error = refused(tmp_path, text)
    assert error.field == "questions[0].next[0].when"
    assert "['often'] not among the options" in error.message


def test_a_missing_file_is_not_found_and_bad_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_questionnaire(tmp_path / "absent.toml")
    error = refused(tmp_path, "id = \n")
    assert "not valid TOML" in error.message


# --- digests ---------------------------------------------------------------------------------------------------

def test_the_digest_is_stable_across_loads_and_layout(tmp_path: Path, health: Questionnaire) -> None:
    assert health.digest.startswith("sha256:") and len(health.digest) == 7 + 64
    assert load_questionnaire(HEALTH).digest == health.digest
    relaid = "# a comment that changes nothing\n" + HEALTH.read_text(encoding="utf-8").replace("\n\n", "\n\n\n")
    assert load_questionnaire(write(tmp_path, relaid)).digest == health.digest


@pytest.mark.parametrize(("old", "new"), [
    ("What is your height in centimetres?", "What is your height in cm?"),
    ("max = 250", "max = 251"),
    ('next = [{ when = { equals = "3" }, ask = ["nodule_size_mm"] }]',
     'next = [{ when = { one_of = ["3", "4a"] }, ask = ["nodule_size_mm"] }]'),
    ("version = 1", "version = 2"),
])
def test_the_digest_changes_with_the_content(tmp_path: Path, health: Questionnaire, old: str, new: str) -> None:
    text = HEALTH.read_text(encoding="utf-8")
    assert old in text
    assert load_questionnaire(write(tmp_path, text.replace(old, new, 1))).digest != health.digest
