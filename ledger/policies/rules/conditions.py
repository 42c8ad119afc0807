"""The small condition language of the rule files: tests of one value, and of facts combined with all/any."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from ledger.policies.rules.datafiles import DataDecimal, Frozen

__all__ = ["Comparison", "Condition", "ValueTest", "same_value"]

Scalar = StrictBool | StrictInt | StrictStr
Kind = Literal["equals", "one_of", "bounds"]


def same_value(found: object, expected: object) -> bool:
    """Equality that keeps booleans, strings and numbers apart (``True`` is not ``1``; ``"3"`` is not ``3``)."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return found is expected
    if isinstance(found, str) or isinstance(expected, str):
        return isinstance(found, str) and isinstance(expected, str) and found == expected
    if isinstance(found, int | Decimal) and isinstance(expected, int | Decimal):
        return found == expected
    return False


def _yes_no(value: object) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else repr(value)


class ValueTest(Frozen):
    """The fields of a test of one value; exactly one kind of test is set (checked by the subclasses)."""

    equals: Scalar | None = None
    one_of: tuple[StrictStr | StrictInt, ...] | None = None
    at_least: DataDecimal | None = None
    above: DataDecimal | None = None
    below: DataDecimal | None = None
    at_most: DataDecimal | None = None

    def test_kind(self) -> Kind | None:
        """Which kind of test this is, or None when none is set."""
        if self.equals is not None:
            return "equals"
        if self.one_of is not None:
            return "one_of"
        if any(bound is not None for bound in (self.at_least, self.above, self.below, self.at_most)):
            return "bounds"
        return None

    def _test_problem(self) -> str | None:
        kinds = [self.equals is not None, self.one_of is not None,
                 any(bound is not None for bound in (self.at_least, self.above, self.below, self.at_most))]
        if sum(kinds) != 1:
            return "give exactly one test: equals, one_of, or bounds (at_least, above, below, at_most)"
        if self.one_of is not None and not self.one_of:
            return "one_of needs at least one value"
        lower = self.at_least is not None and self.above is not None
        if lower or (self.below is not None and self.at_most is not None):
            return "give at most one lower bound (at_least or above) and one upper bound (below or at_most)"
        return None

    def expected_values(self) -> tuple[bool | int | str, ...]:
        """The values an equals or one_of test names (empty for bounds)."""
        if self.equals is not None:
            return (self.equals,)
        return tuple(self.one_of or ())

    def matches(self, value: object) -> bool:
        """True if ``value`` passes the test; a missing value (None) never does."""
        if value is None:
            return False
        if self.equals is not None:
            return same_value(value, self.equals)
        if self.one_of is not None:
            return any(same_value(value, option) for option in self.one_of)
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            return False
        return ((self.at_least is None or value >= self.at_least) and (self.above is None or value > self.above)
                and (self.below is None or value < self.below) and (self.at_most is None or value <= self.at_most))

    def describe(self) -> str:
        """The test in words, for messages: ``yes``, ``one of '3', '4a'``, ``at least 160``."""
        if self.equals is not None:
            return _yes_no(self.equals)
        if self.one_of is not None:
            return "one of " + ", ".join(repr(option) for option in self.one_of)
        parts = [f"{word} {bound}" for word, bound in (("at least", self.at_least), ("above", self.above),
                                                      ("below", self.below), ("at most", self.at_most))
                 if bound is not None]
        return " and ".join(parts)


class Comparison(ValueTest):
    """A test of one answer (a questionnaire branch's ``when``): ``{ equals = true }``, ``{ one_of = ["3"] }``,
    ``{ at_least = 160 }``."""

    @model_validator(mode="after")
    def _one_test(self) -> Comparison:
        problem = self._test_problem()
        if problem:
            raise ValueError(problem)
        return self


class Condition(ValueTest):
    """When a rule applies: a test of one fact (``{ fact = "bmi", at_least = "32" }``), or ``all``/``any`` of
    other conditions. A test of a fact that is absent is false."""

    fact: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    all_: tuple[Condition, ...] | None = Field(default=None, alias="all")
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any")

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [self.fact is not None, self.all_ is not None, self.any_ is not None]
        if sum(forms) != 1:
            raise ValueError("a condition is a test of one fact (fact = ...), or all = [...], or any = [...]")
        if self.fact is not None:
            problem = self._test_problem()
            if problem:
                raise ValueError(problem)
        else:
            if self.test_kind() is not None:
                raise ValueError("all/any take a list of conditions; put the test inside them")
            if not (self.all_ or self.any_):
                raise ValueError("all/any need at least one condition")
        return self

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``facts`` (answers and derived facts by name)."""
        if self.all_ is not None:
            return all(part.holds(facts) for part in self.all_)
        if self.any_ is not None:
            return any(part.holds(facts) for part in self.any_)
        assert self.fact is not None
        return self.matches(facts.get(self.fact))

    def tests(self, path: str = "when") -> Iterator[tuple[str, Condition]]:
        """Every test of one fact inside, with its path (``when.any[1]``)."""
        if self.fact is not None:
            yield path, self
        for name, parts in (("all", self.all_), ("any", self.any_)):
            for index, part in enumerate(parts or ()):
                yield from part.tests(f"{path}.{name}[{index}]")

    def facts(self) -> tuple[str, ...]:
        """The names of the facts the condition reads, in order of appearance, each once."""
        seen: dict[str, None] = {}
        for _, test in self.tests():
            assert test.fact is not None
            seen.setdefault(test.fact)
        return tuple(seen)
