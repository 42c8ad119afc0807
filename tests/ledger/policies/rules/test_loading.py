"""Loading every questionnaire and rule set of a products directory, keyed by id."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledger.errors import ValidationFailed
from ledger.policies.rules.loading import load_questionnaires, load_rulesets
from tests.ledger.policies.rules.conftest import HEALTH, MINI_RULES, PRODUCTS


def test_the_products_directory_loads_by_id() -> None:
    questionnaires = load_questionnaires(PRODUCTS / "questionnaires")
    rulesets = load_rulesets(PRODUCTS / "underwriting")
    assert "health" in questionnaires and questionnaires["health"].version == 1
    assert "standard" in rulesets and rulesets["standard"].questionnaire == "health"


def test_every_file_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "standard.toml").write_text(MINI_RULES, encoding="utf-8")
    (tmp_path / "other.toml").write_text(MINI_RULES.replace('id = "mini"', 'id = "other"'), encoding="utf-8")
    assert sorted(load_rulesets(tmp_path)) == ["mini", "other"]


def test_two_files_with_one_id_are_refused(tmp_path: Path) -> None:
    shutil.copy(HEALTH, tmp_path / "a.toml")
    shutil.copy(HEALTH, tmp_path / "b.toml")
    with pytest.raises(ValidationFailed) as caught:
        load_questionnaires(tmp_path)
    assert "b.toml" in caught.value.message and "a.toml" in caught.value.message
    assert "'health'" in caught.value.message


def test_a_bad_file_stops_the_load_naming_it(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text(MINI_RULES.replace("debits = 40", "debits = \"forty\""),
                                          encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_rulesets(tmp_path)
    assert "broken.toml" in caught.value.message
    assert caught.value.field == "conditions[0].rules[0].effects.life.debits"


def test_an_empty_or_absent_directory_has_nothing(tmp_path: Path) -> None:
    assert load_questionnaires(tmp_path) == {}
    assert load_rulesets(tmp_path / "absent") == {}
