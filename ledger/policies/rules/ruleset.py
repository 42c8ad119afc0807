"""The underwriting rule set as data: product families, rating scales, exclusions and rules keyed by condition.

A condition (hypertension, thyroid nodule, BMI, ...) holds rules tried in order; the first whose ``when`` holds is
the finding for that condition, and it says, per product family, what it calls for: standard, rated (debits and/or
a flat extra per mille), exclusion (named in ``exclusions``), postpone (months), decline or refer. Rules read the
answers of the questionnaire the rule set names and the derived facts in ``DERIVED_FACTS``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, StrictInt, model_validator

from ledger.errors import ValidationFailed
from ledger.policies.rules.conditions import Condition
from ledger.policies.rules.datafiles import DataDecimal, Frozen, LinkError, digest_of, read_toml, validate_data
from ledger.policies.rules.questionnaire import Questionnaire, QuestionType, Text

__all__ = ["DERIVED_FACTS", "OUTCOMES", "SEVERITY", "Band", "ConditionRules", "Effect", "Family", "Outcome",
           "Rule", "RuleSet", "Scale", "Statement", "check_ruleset", "load_ruleset"]

Outcome = Literal["standard", "rated", "exclusion", "postpone", "decline", "refer"]
OUTCOMES: tuple[Outcome, ...] = ("standard", "rated", "exclusion", "postpone", "decline", "refer")
# How several findings resolve: the most severe outcome wins; rated and exclusion combine (debits and exclusions
# accumulate), so they share a rank.
SEVERITY: dict[str, int] = {"standard": 0, "rated": 1, "exclusion": 1, "refer": 2, "postpone": 3, "decline": 4}

# Facts the underwriting computes from its input, beside the answers, with the answer type they behave as.
DERIVED_FACTS: dict[str, QuestionType] = {
    "age": "number",  # age of the insured in whole years, as given
    "occupation_class": "number",  # 1 (office) ... 6 (most hazardous)
    "bmi": "decimal",  # weight / height², rounded half-up to the rule set's bmi_places
    "age_in_range": "yes_no",  # the age is within the product family's automatic-underwriting ages
    "over_automatic_limit": "yes_no",  # sum insured + cover already with us > the product's automatic limit
    "measurements_differ": "yes_no",  # the declared height or weight differs from the application's
}

_CODE = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"
_NAME = r"^[a-z][a-z0-9_]*$"


class Effect(Frozen):
    """What one finding calls for in one product family."""

    outcome: Outcome
    debits: StrictInt = 0  # added to the numerical rating (standard = 100); negative for credits
    flat_extra_per_mille: DataDecimal = Field(default=Decimal(0), ge=0)  # yearly extra premium per 1,000 sum insured
    exclude: tuple[str, ...] = ()  # exclusion codes, from the rule set's exclusions
    postpone_months: StrictInt = Field(default=0, ge=0, le=120)

    @model_validator(mode="after")
    def _fits_outcome(self) -> Effect:
        rated = self.debits != 0 or self.flat_extra_per_mille > 0
        if self.outcome == "rated" and not rated:
            raise ValueError("a rated effect needs debits or flat_extra_per_mille")
        if self.outcome != "rated" and rated:
            raise ValueError(f"debits and flat_extra_per_mille belong to rated effects, not {self.outcome}")
        if (self.outcome == "exclusion") != bool(self.exclude):
            raise ValueError("an exclusion effect names what it excludes (exclude = [...]); other effects do not")
        if (self.outcome == "postpone") != (self.postpone_months > 0):
            raise ValueError("a postpone effect gives postpone_months > 0; other effects do not")
        return self


class Rule(Frozen):
    """A finding: when it applies, its reason code and sentence, and its effect in every product family."""

    code: str = Field(pattern=_CODE)
    when: Condition
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    effects: dict[str, Effect]


class ConditionRules(Frozen):
    """The rules of one condition, tried in order; the first that applies is the condition's finding."""

    id: str = Field(pattern=_NAME)
    name: Text
    rules: tuple[Rule, ...] = Field(min_length=1)


class Family(Frozen):
    """A product family: the product kinds in it, its rating scale and its automatic-underwriting ages."""

    kinds: tuple[str, ...] = Field(min_length=1)
    scale: str
    min_age: StrictInt = Field(ge=0)
    max_age: StrictInt = Field(le=130)


class Band(Frozen):
    """One ACORD table: numerical ratings up to ``up_to`` take it, at ``extra_premium_pct``."""

    letter: str = Field(pattern=r"^[A-Z]$")
    up_to: StrictInt
    extra_premium_pct: DataDecimal = Field(gt=0)


class Statement(Frozen):
    """A reason code with its sentence, and the outcome it carries where one is needed."""

    code: str = Field(pattern=_CODE)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    outcome: Outcome = "standard"


class Scale(Frozen):
    """How a numerical rating becomes an extra premium.

    ``table``: ratings up to ``standard_up_to`` are standard, higher ones take the first band whose ``up_to``
    reaches them, and a rating beyond the last band gets ``over``. ``direct``: the debits are the extra-premium
    percentage, and more than ``max_extra_pct`` gets ``over``.
    """

    kind: Literal["table", "direct"]
    standard_up_to: StrictInt | None = None
    tables: tuple[Band, ...] = ()
    max_extra_pct: DataDecimal | None = None
    over: Statement

    @model_validator(mode="after")
    def _shape(self) -> Scale:
        if self.kind == "table":
            if self.standard_up_to is None or not self.tables or self.max_extra_pct is not None:
                raise ValueError("a table scale has standard_up_to and tables, and no max_extra_pct")
            previous, extra, letters = self.standard_up_to, Decimal(0), set()
            for index, band in enumerate(self.tables):
                if band.up_to <= previous or band.extra_premium_pct <= extra or band.letter in letters:
                    raise LinkError(f"tables[{index}]", "bands rise: up_to and extra_premium_pct above the band "
                                    "before, letters distinct", band.model_dump(mode="json"))
                previous, extra = band.up_to, band.extra_premium_pct
                letters.add(band.letter)
        elif self.max_extra_pct is None or self.tables or self.standard_up_to is not None:
            raise ValueError("a direct scale has max_extra_pct, and no tables or standard_up_to")
        if self.over.outcome not in ("decline", "refer"):
            raise ValueError("over a scale's limit the outcome is decline or refer")
        return self


class RuleSet(Frozen):
    """A versioned underwriting rule set for the questionnaire it names."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: StrictInt = Field(ge=1)
    questionnaire: str
    bmi_places: StrictInt = Field(ge=0, le=3)
    occupation_classes: tuple[StrictInt, ...] = Field(min_length=1)
    standard: Statement
    families: dict[str, Family] = Field(min_length=1)
    scales: dict[str, Scale] = Field(min_length=1)
    exclusions: dict[str, Text]
    conditions: tuple[ConditionRules, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _links(self) -> RuleSet:
        owner: dict[str, str] = {}
        for name, family in self.families.items():
            if family.scale not in self.scales:
                raise LinkError(f"families.{name}.scale", f"no scale of that name (scales: {sorted(self.scales)})",
                                family.scale)
            if family.min_age > family.max_age:
                raise LinkError(f"families.{name}", "min_age is above max_age", [family.min_age, family.max_age])
            for kind in family.kinds:
                if kind in owner:
                    raise LinkError(f"families.{name}.kinds", f"product kind already in family {owner[kind]!r}", kind)
                owner[kind] = name
        for code in self.exclusions:
            if not re.fullmatch(_CODE, code):
                raise LinkError(f"exclusions.{code}", "an exclusion code is upper case with dashes", code)
        seen: set[str] = set()
        for c, condition in enumerate(self.conditions):
            if condition.id in seen:
                raise LinkError(f"conditions[{c}].id", "condition id repeats", condition.id)
            seen.add(condition.id)
            for r, rule in enumerate(condition.rules):
                path = f"conditions[{c}].rules[{r}].effects"
                if set(rule.effects) != set(self.families):
                    raise LinkError(path, f"give an effect for each family, exactly {sorted(self.families)}",
                                    sorted(rule.effects))
                for name, effect in rule.effects.items():
                    for code in effect.exclude:
                        if code not in self.exclusions:
                            raise LinkError(f"{path}.{name}.exclude", f"no exclusion {code!r} in exclusions", code)
        return self

    @cached_property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON of the definition."""
        return digest_of(self)

    def family_of(self, kind: str) -> str | None:
        """The family a product kind belongs to, or None."""
        return next((name for name, family in self.families.items() if kind in family.kinds), None)


def load_ruleset(path: str | Path) -> RuleSet:
    """The rule set in the TOML file at ``path``.

    Raises ``NotFound`` for a missing file and ``ValidationFailed`` naming the file, the path inside it and the
    value for anything malformed: an effect that does not fit its outcome, a rule without an effect for every
    family, an unknown exclusion or scale, bands that do not rise.
    """
    return validate_data(RuleSet, read_toml(path), source=str(path))


_CHECKED: set[tuple[str, str]] = set()  # (rule set digest, questionnaire digest) pairs that passed


def check_ruleset(rules: RuleSet, questionnaire: Questionnaire) -> None:
    """Check that ``rules`` can read ``questionnaire``: it is the one the rule set names, no question shadows a
    derived fact, and every test names a question or derived fact and can match its answers (a choice test names
    existing options, a yes/no test a boolean, a numeric test bounds). A pair that passed once (by digest) is not
    checked again.

    Raises ``ValidationFailed`` naming the rule set, the path of the test and the problem.
    """
    pair = (rules.digest, questionnaire.digest)
    if pair in _CHECKED:
        return
    _check_ruleset(rules, questionnaire)
    _CHECKED.add(pair)


def _check_ruleset(rules: RuleSet, questionnaire: Questionnaire) -> None:
    where = f"rule set {rules.id} v{rules.version}"
    if rules.questionnaire != questionnaire.id:
        raise ValidationFailed(f"{where} reads questionnaire {rules.questionnaire!r}, not {questionnaire.id!r}",
                               field="questionnaire")
    shadowed = sorted(set(DERIVED_FACTS) & set(questionnaire.by_id))
    if shadowed:
        raise ValidationFailed(f"questionnaire {questionnaire.id} v{questionnaire.version} has questions named like "
                               f"derived facts: {shadowed}", field=f"answers.{shadowed[0]}")
    for c, condition in enumerate(rules.conditions):
        for r, rule in enumerate(condition.rules):
            for path, test in rule.when.tests():
                field = f"conditions[{c}].rules[{r}].{path}"
                problem = _test_problem(test, questionnaire)
                if problem:
                    raise ValidationFailed(f"{where}: {field} ({rule.code}): {problem}", field=field)


def _test_problem(test: Condition, questionnaire: Questionnaire) -> str | None:
    assert test.fact is not None
    question = questionnaire.by_id.get(test.fact)
    if question is not None:
        problem = question.test_problem(test)
        return f"fact {test.fact!r}: {problem}" if problem else None
    kind = DERIVED_FACTS.get(test.fact)
    if kind is None:
        return (f"fact {test.fact!r} is neither a question of questionnaire {questionnaire.id} "
                f"v{questionnaire.version} nor a derived fact ({', '.join(DERIVED_FACTS)})")
    expected = test.expected_values()
    if kind == "yes_no":
        fits = test.test_kind() == "equals" and isinstance(test.equals, bool)
    else:
        fits = test.test_kind() == "bounds" or (kind == "number" and all(
            isinstance(value, int) and not isinstance(value, bool) for value in expected))
    return None if fits else f"fact {test.fact!r} is a {kind} fact; the test cannot match it"
