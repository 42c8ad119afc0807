"""The diagnosis table: the shipped file, code lookup (narrowest range wins), and a loader that names what is wrong."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ledger.claims.diagnoses import DiagnosisTable, category_key, default_diagnoses_path
from ledger.errors import ValidationFailed
from ledger.policies.rules.questionnaire import load_questionnaire
from ledger.products.catalog import default_products_dir


@pytest.fixture(scope="module")
def table() -> DiagnosisTable:
    return DiagnosisTable.load()


def raw() -> dict[str, Any]:
    with default_diagnoses_path().open("rb") as handle:
        return tomllib.load(handle)


def fails(data: dict[str, Any]) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        DiagnosisTable.parse(data, source="diagnoses.toml")
    return caught.value


def test_the_shipped_table_cites_its_id_version_and_digest(table: DiagnosisTable) -> None:
    assert table.version["id"] == "diagnoses"
    assert table.version["version"] == 1
    assert table.version["digest"].startswith("sha256:") and len(table.version["digest"]) == 7 + 64


def test_the_digest_ignores_layout_and_follows_content(tmp_path: Path, table: DiagnosisTable) -> None:
    text = default_diagnoses_path().read_text(encoding="utf-8")
    relaid = tmp_path / "relaid.toml"
    relaid.write_text("# another comment\n\n" + text.replace(" = ", "  =  "), encoding="utf-8")
    assert DiagnosisTable.load(relaid).digest == table.digest
    changed = tmp_path / "changed.toml"
    changed.write_text(text.replace('mean_days = "8"', 'mean_days = "9"', 1), encoding="utf-8")
    assert DiagnosisTable.load(changed).digest != table.digest


@pytest.mark.parametrize(("code", "group"), [
    ("C34.1", "MALIGNANT-NEOPLASM"), ("C00", "MALIGNANT-NEOPLASM"), ("C97", "MALIGNANT-NEOPLASM"),
    ("C73.x01", "THYROID-CANCER"),  # inside C00-C97: the narrower range wins
    ("C22.0", "LIVER-CANCER"), ("D05.1", "CARCINOMA-IN-SITU"), ("D09", "CARCINOMA-IN-SITU"),
    ("D10", "BENIGN-NEOPLASM"), ("D34", "BENIGN-THYROID-NEOPLASM"), ("E04.1", "NODULAR-GOITRE"),
    ("E05", "THYROID-DISEASE"), ("E11.9", "DIABETES"), ("I10", "HYPERTENSION"), ("i15", "HYPERTENSION"),
    ("I21.000", "ACUTE-MI"), ("I22", "ACUTE-MI"), ("I20", "HEART-DISEASE"), ("I25.1", "HEART-DISEASE"),
    ("I63.9", "STROKE"), ("B18.1", "VIRAL-HEPATITIS"), ("K70", "LIVER-DISEASE"), ("K73", "CHRONIC-HEPATITIS"),
    ("K72", "LIVER-FAILURE"), ("N18.5", "CHRONIC-KIDNEY-FAILURE"), ("N17", "ACUTE-KIDNEY-FAILURE"),
    ("J18.9", "PNEUMONIA"), ("K35.8", "APPENDICITIS"), ("A09", "GASTROENTERITIS"), ("S72.0", "INJURY"),
    ("T35", "INJURY"), ("T36", "POISONING"), (" g45 ", "TIA"),
])
def test_a_code_belongs_to_the_narrowest_group_holding_it(table: DiagnosisTable, code: str, group: str) -> None:
    found = table.group_of(code)
    assert found is not None and found.code == group


@pytest.mark.parametrize("code", ["C98", "I19", "Z00.0", "K38", "A08"])
def test_a_code_no_group_holds_has_no_group(table: DiagnosisTable, code: str) -> None:
    assert table.group_of(code) is None


@pytest.mark.parametrize("code", ["", "21I", "I2", "I210", "I21-I22", "I21.00000"])
def test_a_malformed_code_is_refused_by_value(table: DiagnosisTable, code: str) -> None:
    with pytest.raises(ValidationFailed, match="not an ICD-10 code") as caught:
        table.group_of(code)
    assert repr(code) in caught.value.message


def test_category_keys_order_letters_before_digits() -> None:
    assert category_key("C97") < category_key("D00")
    assert category_key("D00.1") == category_key("d00") == category_key("D00")
    assert category_key("S99") + 1 == category_key("T00")


def test_groups_of_gives_each_group_once_in_order(table: DiagnosisTable) -> None:
    groups = table.groups_of(["I10", "Z00", "I63.9", "I11.0", "E11"])
    assert [group.code for group in groups] == ["HYPERTENSION", "STROKE", "DIABETES"]


def test_groups_carry_severity_stay_questions_and_exclusions(table: DiagnosisTable) -> None:
    thyroid = table.group_of("C73")
    assert thyroid is not None
    assert thyroid.exclusions == ("THYROID", "THYROID-CANCER")
    assert set(thyroid.questions) == {"tumour", "thyroid_nodule"}
    stroke = table.group_of("I63")
    assert stroke is not None and stroke.severity == "severe"
    assert stroke.stay.limit_days == stroke.stay.mean_days * stroke.stay.far_multiple
    assert table.window_days("hospital_or_surgery") == 730
    assert table.window_days("tumour") is None


def test_every_question_named_is_a_yes_no_question_of_the_health_questionnaire(table: DiagnosisTable) -> None:
    questionnaire = load_questionnaire(default_products_dir() / "questionnaires" / "health.toml")
    named = {q for group in table.groups for q in group.questions} | set(table.definition.question_windows)
    assert named
    for question in named:
        assert question in questionnaire.by_id, question
        assert questionnaire.by_id[question].type == "yes_no", question


def test_every_exclusion_named_is_an_underwriting_exclusion(table: DiagnosisTable) -> None:
    with (default_products_dir() / "underwriting" / "standard.toml").open("rb") as handle:
        underwriting = set(tomllib.load(handle)["exclusions"])
    named = {code for group in table.groups for code in group.exclusions}
    assert named == {"HYPERTENSION", "THYROID", "THYROID-CANCER", "LIVER"}
    assert named <= underwriting


def test_a_bad_severity_is_named_with_file_path_and_value() -> None:
    data = raw()
    data["groups"][2]["severity"] = "grave"
    error = fails(data)
    assert error.message.startswith("diagnoses.toml: groups[2].severity: must be one of")
    assert "'grave'" in error.message
    assert error.field == "groups[2].severity"


@pytest.mark.parametrize(("text", "problem"), [
    ("C97-C00", "the range ends before it starts, got 'C97-C00'"),
    ("C0", "must be an ICD-10 category"),
    ("c00-c97", "must be an ICD-10 category"),
])
def test_a_malformed_range_is_named(text: str, problem: str) -> None:
    data = raw()
    data["groups"][0]["icd10"] = [text]
    error = fails(data)
    assert error.message.startswith("diagnoses.toml: groups[0].icd10[0]: ")
    assert problem in error.message and repr(text) in error.message


def test_ranges_of_two_groups_must_be_apart_or_nested() -> None:
    data = raw()
    data["groups"].append({**copy.deepcopy(data["groups"][0]), "code": "OVERLAP", "icd10": ["C90-D02"]})
    error = fails(data)
    last = len(data["groups"]) - 1
    assert f"groups[{last}].icd10[0]: 'C90-D02' overlaps" in error.message
    data = raw()
    data["groups"].append({**copy.deepcopy(data["groups"][0]), "code": "SAME", "icd10": ["J12-J18"]})
    assert "'J12-J18' overlaps 'J12-J18'" in fails(data).message


def test_a_group_may_not_nest_its_own_ranges() -> None:
    data = raw()
    data["groups"][0]["icd10"] = ["C00-C97", "C10"]
    assert "groups[0].icd10[1]: 'C10' overlaps 'C00-C97'" in fails(data).message


def test_repeats_and_bad_norms_are_refused() -> None:
    data = raw()
    data["groups"][1]["code"] = data["groups"][0]["code"]
    assert "groups[1].code: 'MALIGNANT-NEOPLASM' is already defined" in fails(data).message
    data = raw()
    data["groups"][0]["questions"] = ["tumour", "tumour"]
    assert "groups[0].questions[1]: 'tumour' is listed twice" in fails(data).message
    data = raw()
    data["groups"][0]["stay"]["far_multiple"] = "1"
    assert "groups[0].stay.far_multiple: must be > 1, got 1" in fails(data).message
    data = raw()
    data["groups"][0]["stay"]["mean_days"] = 11.5
    assert "groups[0].stay.mean_days" in fails(data).message
    data = raw()
    data["groups"][0]["colour"] = "red"
    assert "groups[0].colour: is not a known key" in fails(data).message


def test_the_loader_names_an_unreadable_or_broken_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ValidationFailed, match=f"{missing}: cannot be read"):
        DiagnosisTable.load(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("id = \n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match=f"{broken}: not valid TOML"):
        DiagnosisTable.load(broken)
    bad = tmp_path / "bad.toml"
    bad.write_text(default_diagnoses_path().read_text(encoding="utf-8").replace('severity = "severe"',
                                                                                'severity = "grave"', 1),
                   encoding="utf-8")
    with pytest.raises(ValidationFailed, match=rf"^{bad}: groups\[0\]\.severity: .*'grave'"):
        DiagnosisTable.load(bad)
