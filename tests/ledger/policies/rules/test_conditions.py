"""The condition language: tests of one value, facts combined with all/any, and what counts as equal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.policies.rules.conditions import Comparison, Condition, same_value


@pytest.mark.parametrize(("found", "expected", "equal"), [
    (True, True, True), (True, 1, False), (1, True, False), ("3", 3, False), (3, Decimal(3), True),
    (Decimal("6.10"), Decimal("6.1"), True), ("a", "a", True), (None, False, False),
])
def test_same_value_keeps_types_apart(found: object, expected: object, equal: bool) -> None:
    assert same_value(found, expected) is equal


@pytest.mark.parametrize(("test", "value", "matches"), [
    ({"equals": True}, True, True), ({"equals": True}, False, False), ({"equals": True}, None, False),
    ({"one_of": ["3", "4a"]}, "4a", True), ({"one_of": ["3", "4a"]}, "4b", False),
    ({"at_least": 160}, 160, True), ({"at_least": 160}, 159, False),
    ({"above": 10}, Decimal(10), False), ({"above": 10}, Decimal("10.1"), True),
    ({"below": "18.5"}, Decimal("18.4"), True), ({"below": "18.5"}, Decimal("18.5"), False),
    ({"at_most": 16}, Decimal(16), True), ({"at_least": "6.1", "below": 7}, Decimal("6.9"), True),
    ({"at_least": "6.1", "below": 7}, Decimal(7), False), ({"at_least": 1}, True, False),
    ({"at_least": 1}, "5", False),
])
def test_a_comparison_matches(test: dict[str, Any], value: object, matches: bool) -> None:
    assert Comparison.model_validate(test).matches(value) is matches


@pytest.mark.parametrize("test", [{}, {"equals": True, "one_of": ["a"]}, {"equals": 1, "at_least": 1},
                                  {"at_least": 1, "above": 2}, {"below": 1, "at_most": 2}, {"one_of": []}])
def test_a_comparison_is_exactly_one_test(test: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Comparison.model_validate(test)


def test_conditions_combine_and_read_facts() -> None:
    condition = Condition.model_validate({"any": [
        {"fact": "systolic", "at_least": 160},
        {"all": [{"fact": "diabetes", "equals": False}, {"fact": "glucose", "at_least": "7.0"}]},
    ]})
    assert condition.holds({"systolic": 165})
    assert condition.holds({"systolic": 120, "diabetes": False, "glucose": Decimal("7.5")})
    assert not condition.holds({"systolic": 120, "diabetes": True, "glucose": Decimal("7.5")})
    assert not condition.holds({})  # absent facts never match
    assert condition.facts() == ("systolic", "diabetes", "glucose")
    assert [path for path, _ in condition.tests()] == ["when.any[0]", "when.any[1].all[0]", "when.any[1].all[1]"]


def test_describe_says_the_test_in_words() -> None:
    assert Comparison.model_validate({"equals": True}).describe() == "yes"
    assert Comparison.model_validate({"one_of": ["3", "4a"]}).describe() == "one of '3', '4a'"
    assert Comparison.model_validate({"at_least": "6.1", "below": 7}).describe() == "at least 6.1 and below 7"
