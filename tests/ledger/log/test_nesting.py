"""``nesting_exceeds`` against a plain recursive definition of depth, on generated and edge-case values."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import pytest

from ledger.log.encoding import nesting_exceeds


def depth(value: Any) -> int:
    """Levels of objects and arrays: a scalar is 0, an empty container 1, a container of containers 1 + theirs."""
    if isinstance(value, dict):
        return 1 + max((depth(child) for child in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(child) for child in value), default=0)
    return 0


def nested(levels: int, kind: str) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": value} if kind == "object" else [value]
    return value


def generated(rng: random.Random, level: int = 0) -> Any:
    roll = rng.random()
    if level > 6 or roll < 0.3:
        return rng.choice(["text", 7, True, None, "中文"])
    if roll < 0.65:
        return {f"k{i}": generated(rng, level + 1) for i in range(rng.randint(0, 5))}
    return [generated(rng, level + 1) for _ in range(rng.randint(0, 5))]


CASES = ([nested(n, kind) for n in range(0, 36) for kind in ("object", "array")]
         + [{"wide": [nested(n, "object") for n in range(12)]}, {"a": {}, "b": [[], [[]]]}, [], {}, "scalar", 0,
            OrderedDict(a=[{"b": 1}])]
         + [generated(random.Random(seed)) for seed in range(400)])


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 5, 31, 32, 33])
def test_matches_the_recursive_definition(limit: int) -> None:
    for value in CASES:
        assert nesting_exceeds(value, limit) == (depth(value) > limit), value


def test_a_deep_value_is_caught_without_recursion() -> None:
    assert nesting_exceeds(nested(50_000, "array"), 32)
    assert not nesting_exceeds(nested(32, "object"), 32)
    assert nesting_exceeds(nested(33, "object"), 32)
