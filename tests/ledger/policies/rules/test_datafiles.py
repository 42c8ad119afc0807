"""Reading rule data files: what the loaders share (TOML errors, decimals that are never floats, digests)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ledger.errors import NotFound, ValidationFailed
from ledger.policies.rules.datafiles import DataDecimal, Frozen, digest_of, read_toml, validate_data


class Limits(Frozen):
    low: DataDecimal
    high: DataDecimal = Decimal(10)


def test_read_toml_reads_a_table(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('low = "1.5"\n', encoding="utf-8")
    assert read_toml(path) == {"low": "1.5"}


def test_read_toml_names_the_file_for_each_failure(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as missing:
        read_toml(tmp_path / "absent.toml")
    assert "absent.toml" in missing.value.message
    (tmp_path / "latin.toml").write_bytes(b'low = "\xe9"\n')
    with pytest.raises(ValidationFailed) as latin:
        read_toml(tmp_path / "latin.toml")
    assert "latin.toml" in latin.value.message and "not UTF-8" in latin.value.message
    (tmp_path / "bad.toml").write_text("low = [1,\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as bad:
        read_toml(tmp_path / "bad.toml")
    assert "bad.toml" in bad.value.message and "not valid TOML" in bad.value.message


@pytest.mark.parametrize(("value", "expected"), [(1, Decimal(1)), ("6.1", Decimal("6.1")), ("1e3", Decimal(1000))])
def test_decimals_come_from_integers_and_strings(value: object, expected: Decimal) -> None:
    assert validate_data(Limits, {"low": value}, source="x.toml").low == expected


@pytest.mark.parametrize("value", [6.1, True, "NaN", "six"])
def test_floats_booleans_and_non_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_data(Limits, {"low": value}, source="x.toml")
    assert caught.value.field == "low"
    assert caught.value.message.startswith("x.toml: low: ")


def test_many_problems_are_listed_up_to_five() -> None:
    class Many(Frozen):
        a: int
        b: int
        c: int
        d: int
        e: int
        f: int
        g: int

    with pytest.raises(ValidationFailed) as caught:
        validate_data(Many, {}, source="many.toml")
    assert caught.value.field == "a"
    assert caught.value.message.count("Field required") == 5
    assert caught.value.message.endswith("and 2 more")


def test_the_digest_is_of_the_content_not_its_spelling() -> None:
    one = validate_data(Limits, {"low": "1.5", "high": 10}, source="x")
    same = validate_data(Limits, {"low": "1.5"}, source="y")
    other = validate_data(Limits, {"low": "1.50"}, source="x")
    assert digest_of(one) == digest_of(same)
    assert digest_of(one) != digest_of(other)  # a different number as written is a different definition
