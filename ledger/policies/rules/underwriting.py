"""Automatic underwriting: one pure decision from a rule set, a questionnaire and one application's facts.

How several findings resolve: the most severe outcome wins, decline > postpone > refer > rated/exclusion >
standard. Below refer, debits, flat extras and exclusions accumulate: the numerical rating is 100 plus all debits
and the family's scale turns it into an extra-premium percentage; the outcome is ``rated`` if there is any extra
premium (exclusions then ride along), else ``exclusion`` if anything is excluded, else ``standard``. A postponement
takes the longest of the months found. Every finding is a reason, the decisive ones first; terms (extra premium,
exclusions, months) are set only for the outcome that carries them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from ledger.errors import ValidationFailed
from ledger.money import Money, parse_decimal
from ledger.policies.rules.questionnaire import Questionnaire, check_answers, next_questions
from ledger.policies.rules.ruleset import (
    SEVERITY,
    Effect,
    Outcome,
    RuleSet,
    Scale,
    check_ruleset,
    load_ruleset,
)

__all__ = ["MEASUREMENT_QUESTIONS", "SEXES", "Decision", "Exclusion", "Reason", "RuleRef", "RuleSet",
           "UnderwritingInput", "decide_underwriting", "load_ruleset"]

SEXES = ("M", "F")
# The questions that declare the measurements the BMI is computed from (input field -> question id). When the
# input carries the application's own measurements too, a different answer is a conflict, not a correction.
MEASUREMENT_QUESTIONS = {"height_cm": "height_cm", "weight_kg": "weight_kg"}
_MONEY_FIELDS = ("sum_insured", "cover_with_us", "automatic_limit")
_INPUT_FIELDS = ("product_id", "product_kind", "age", "sex", "height_cm", "weight_kg", "occupation_class",
                 *_MONEY_FIELDS, "answers")


def _json_value(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, kw_only=True)
class UnderwritingInput:
    """What automatic underwriting decides on: the product, the insured, the sums and the declaration's answers.

    ``sex`` is ``"M"`` or ``"F"``; ``age`` is in whole years; ``occupation_class`` is 1 (office) to 6; the three
    amounts share one currency; ``cover_with_us`` is the insured's cover already in force with us.
    ``height_cm`` and ``weight_kg`` are the application's measurements; left out, the declared answers
    (``MEASUREMENT_QUESTIONS``) are used, and given, they are checked against those answers.
    """

    product_id: str
    product_kind: str
    age: int
    sex: str
    occupation_class: int
    sum_insured: Money
    cover_with_us: Money
    automatic_limit: Money
    answers: Mapping[str, Any]
    height_cm: Decimal | None = None
    weight_kg: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (decimals and amounts as strings) that ``from_json`` reads back."""
        return {"product_id": self.product_id, "product_kind": self.product_kind, "age": self.age, "sex": self.sex,
                "height_cm": _optional(self.height_cm), "weight_kg": _optional(self.weight_kg),
                "occupation_class": self.occupation_class,
                **{name: getattr(self, name).to_json() for name in _MONEY_FIELDS},
                "answers": {key: _json_value(value) for key, value in self.answers.items()}}

    @classmethod
    def from_json(cls, value: object) -> UnderwritingInput:
        """Read what ``to_json`` wrote. Raises ``ValidationFailed`` naming the field that is missing or malformed
        (the answers themselves are checked when a decision is made)."""
        optional = {"height_cm", "weight_kg"}
        if not isinstance(value, dict) or not set(_INPUT_FIELDS) - optional <= set(value) <= set(_INPUT_FIELDS):
            keys = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ValidationFailed(f"an underwriting input has the fields {list(_INPUT_FIELDS)} (the measurements "
                                   f"optional), not {keys}", field="input")
        value = {"height_cm": None, "weight_kg": None, **value}
        for name in ("age", "occupation_class"):
            if not isinstance(value[name], int) or isinstance(value[name], bool):
                raise ValidationFailed(f"{name} must be an integer, not {value[name]!r}", field=name)
        for name in ("product_id", "product_kind", "sex"):
            if not isinstance(value[name], str):
                raise ValidationFailed(f"{name} must be a string, not {value[name]!r}", field=name)
        if not isinstance(value["answers"], dict):
            raise ValidationFailed("answers must be an object", field="answers")
        return cls(product_id=value["product_id"], product_kind=value["product_kind"], age=value["age"],
                   sex=value["sex"],
                   height_cm=None if value["height_cm"] is None else parse_decimal(value["height_cm"],
                                                                                    field="height_cm"),
                   weight_kg=None if value["weight_kg"] is None else parse_decimal(value["weight_kg"],
                                                                                    field="weight_kg"),
                   occupation_class=value["occupation_class"],
                   sum_insured=Money.from_json(value["sum_insured"], field="sum_insured"),
                   cover_with_us=Money.from_json(value["cover_with_us"], field="cover_with_us"),
                   automatic_limit=Money.from_json(value["automatic_limit"], field="automatic_limit"),
                   answers=dict(value["answers"]))


class Exclusion(NamedTuple):
    """A condition or body part the policy does not cover, as printed on it."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class RuleRef:
    """Which versioned definition a decision used: id, version and the digest of its content."""

    id: str
    version: int
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "digest": self.digest}


@dataclass(frozen=True, kw_only=True)
class Reason:
    """One finding: its code and sentence, the condition it belongs to, what it calls for on its own in this
    product family, and the facts that triggered it."""

    code: str
    condition: str
    zh: str
    en: str
    effect: Outcome
    debits: int = 0
    flat_extra_per_mille: Decimal = Decimal(0)
    postpone_months: int = 0
    exclusions: tuple[str, ...] = ()
    answers: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "condition": self.condition, "zh": self.zh, "en": self.en, "effect": self.effect,
                "debits": self.debits, "flat_extra_per_mille": str(self.flat_extra_per_mille),
                "postpone_months": self.postpone_months, "exclusions": list(self.exclusions),
                "answers": {key: _json_value(value) for key, value in self.answers}}


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The outcome of automatic underwriting with its terms and reasons, and the versions that produced it.

    ``rating`` is the numerical rating (100 = standard, plus debits); ``table`` the ACORD letter when a table
    scale rated it; ``extra_premium_pct`` and ``flat_extra_per_mille`` (yearly, per 1,000 sum insured) are zero
    unless the outcome is rated; ``exclusions`` only for rated and exclusion; ``postpone_months`` only for postpone
    (the re-apply date is the decision date plus these months).
    """

    outcome: Outcome
    family: str
    extra_premium_pct: Decimal
    flat_extra_per_mille: Decimal
    rating: int
    table: str | None
    exclusions: tuple[Exclusion, ...]
    postpone_months: int
    reasons: tuple[Reason, ...]
    ruleset: RuleRef
    questionnaire: RuleRef

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(reason.code for reason in self.reasons)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (decimals as strings) for a journal event. The reasons' ``answers`` repeat health
        answers, which are the insured's personal data."""
        return {"outcome": self.outcome, "family": self.family, "extra_premium_pct": str(self.extra_premium_pct),
                "flat_extra_per_mille": str(self.flat_extra_per_mille), "rating": self.rating, "table": self.table,
                "exclusions": [exclusion._asdict() for exclusion in self.exclusions],
                "postpone_months": self.postpone_months, "reasons": [reason.to_json() for reason in self.reasons],
                "ruleset": self.ruleset.to_json(), "questionnaire": self.questionnaire.to_json()}


@dataclass
class _Terms:
    """What the findings add up to, before the outcome is chosen."""

    debits: int = 0
    flat: Decimal = Decimal(0)
    months: int = 0
    exclusions: dict[str, None] = field(default_factory=dict)

    def add(self, effect: Effect) -> None:
        self.debits += effect.debits
        self.flat += effect.flat_extra_per_mille
        self.months = max(self.months, effect.postpone_months)
        self.exclusions.update(dict.fromkeys(effect.exclude))


def decide_underwriting(rules: RuleSet, questionnaire: Questionnaire, given: UnderwritingInput) -> Decision:
    """Decide one application automatically.

    Requires a rule set written for ``questionnaire`` and a complete declaration (every question that applies
    answered, nothing answered that does not apply). Pure: the same arguments give the same decision.

    Raises ``ValidationFailed``: for a rule set that cannot read the questionnaire; for an input out of bounds
    (unknown product kind, age, sex, non-positive measurements, unknown occupation class, mixed currencies), naming
    the field; for a bad answer, naming ``answers.<id>``; for an incomplete declaration, naming the first
    unanswered question.
    """
    check_ruleset(rules, questionnaire)
    family = _check_input(rules, given)
    answers = check_answers(questionnaire, given.answers)
    missing = next_questions(questionnaire, answers)
    if missing:
        ids = [question.id for question in missing]
        raise ValidationFailed(f"the health declaration is incomplete: {len(ids)} question(s) that apply are "
                               f"unanswered: {ids}", field=f"answers.{ids[0]}")
    facts: dict[str, Any] = {**answers, **_derived(rules, given, answers, family)}

    terms = _Terms()
    found: list[Reason] = []
    for condition in rules.conditions:
        rule = next((rule for rule in condition.rules if rule.when.holds(facts)), None)
        if rule is None:
            continue
        effect = rule.effects[family]
        terms.add(effect)
        found.append(Reason(code=rule.code, condition=condition.id, zh=rule.zh, en=rule.en, effect=effect.outcome,
                            debits=effect.debits, flat_extra_per_mille=effect.flat_extra_per_mille,
                            postpone_months=effect.postpone_months, exclusions=effect.exclude,
                            answers=tuple((name, facts[name]) for name in rule.when.facts() if name in facts)))

    rating = 100 + terms.debits
    scale = rules.scales[rules.families[family].scale]
    extra, table, over = _rate(scale, rating)
    if over:
        found.append(Reason(code=scale.over.code, condition="rating", zh=scale.over.zh, en=scale.over.en,
                            effect=scale.over.outcome, answers=(("rating", rating),)))
    worst = max((SEVERITY[reason.effect] for reason in found), default=0)
    outcome: Outcome
    if worst >= SEVERITY["refer"]:
        outcome = next(name for name in ("decline", "postpone", "refer") if SEVERITY[name] == worst)
    elif extra > 0 or terms.flat > 0:
        outcome = "rated"
    elif terms.exclusions:
        outcome = "exclusion"
    else:
        outcome = "standard"

    reasons = sorted(found, key=lambda reason: -SEVERITY[reason.effect])
    if outcome == "standard":
        reasons.insert(0, Reason(code=rules.standard.code, condition="standard", zh=rules.standard.zh,
                                 en=rules.standard.en, effect="standard"))
    accepted = outcome in ("rated", "exclusion")
    return Decision(
        outcome=outcome, family=family,
        extra_premium_pct=extra if outcome == "rated" else Decimal(0),
        flat_extra_per_mille=terms.flat if outcome == "rated" else Decimal(0),
        rating=rating, table=table if outcome == "rated" else None,
        exclusions=tuple(Exclusion(code, rules.exclusions[code].zh, rules.exclusions[code].en)
                         for code in terms.exclusions) if accepted else (),
        postpone_months=terms.months if outcome == "postpone" else 0,
        reasons=tuple(reasons),
        ruleset=RuleRef(rules.id, rules.version, rules.digest),
        questionnaire=RuleRef(questionnaire.id, questionnaire.version, questionnaire.digest),
    )


def _rate(scale: Scale, rating: int) -> tuple[Decimal, str | None, bool]:
    """(extra-premium percentage, table letter, beyond the scale) for a numerical rating."""
    if scale.kind == "direct":
        assert scale.max_extra_pct is not None
        extra = Decimal(max(rating - 100, 0))
        return extra, None, extra > scale.max_extra_pct
    assert scale.standard_up_to is not None
    if rating <= scale.standard_up_to:
        return Decimal(0), None, False
    band = next((band for band in scale.tables if rating <= band.up_to), None)
    if band is None:
        return Decimal(0), None, True
    return band.extra_premium_pct, band.letter, False


def _check_input(rules: RuleSet, given: UnderwritingInput) -> str:
    """The product family; raises ``ValidationFailed`` naming the first field out of bounds."""
    family = rules.family_of(given.product_kind) if isinstance(given.product_kind, str) else None
    if family is None:
        kinds = [kind for item in rules.families.values() for kind in item.kinds]
        raise ValidationFailed(f"product_kind must be one of {kinds}, not {given.product_kind!r}",
                               field="product_kind")
    if not isinstance(given.product_id, str) or not given.product_id:
        raise ValidationFailed(f"product_id must be a non-empty string, not {given.product_id!r}", field="product_id")
    if not isinstance(given.age, int) or isinstance(given.age, bool) or not 0 <= given.age <= 130:
        raise ValidationFailed(f"age must be a whole number of years from 0 to 130, not {given.age!r}", field="age")
    if given.sex not in SEXES:
        raise ValidationFailed(f"sex must be one of {list(SEXES)}, not {given.sex!r}", field="sex")
    for name in ("height_cm", "weight_kg"):
        if getattr(given, name) is not None and parse_decimal(getattr(given, name), field=name) <= 0:
            raise ValidationFailed(f"{name} must be above zero, not {getattr(given, name)!r}", field=name)
    if given.occupation_class not in rules.occupation_classes or isinstance(given.occupation_class, bool):
        raise ValidationFailed(f"occupation_class must be one of {list(rules.occupation_classes)}, "
                               f"not {given.occupation_class!r}", field="occupation_class")
    for name in _MONEY_FIELDS:
        amount = getattr(given, name)
        if not isinstance(amount, Money):
            raise ValidationFailed(f"{name} must be Money, not {type(amount).__name__}", field=name)
        if amount.currency != given.sum_insured.currency:
            raise ValidationFailed(f"{name} is in {amount.currency}, the sum insured in {given.sum_insured.currency}",
                                   field=name)
        if amount.amount < 0 or (name != "cover_with_us" and amount.amount == 0):
            raise ValidationFailed(f"{name} must be {'zero or ' if name == 'cover_with_us' else ''}above zero, "
                                   f"not {amount}", field=name)
    return family


def _derived(rules: RuleSet, given: UnderwritingInput, answers: Mapping[str, Any], family: str) -> dict[str, Any]:
    """The derived facts (``ruleset.DERIVED_FACTS``) of an application."""
    measured: dict[str, Decimal] = {}
    differ = False
    for name, question in MEASUREMENT_QUESTIONS.items():
        stated, declared = getattr(given, name), answers.get(question)
        if stated is None and declared is None:
            raise ValidationFailed(f"{name} is needed for the BMI: give it, or answer question {question!r}",
                                   field=name)
        measured[name] = parse_decimal(stated if stated is not None else declared, field=name)
        differ = differ or (stated is not None and declared is not None and declared != measured[name])
    height, weight = measured["height_cm"], measured["weight_kg"]
    bmi = (weight / (height / 100) ** 2).quantize(Decimal(1).scaleb(-rules.bmi_places), rounding=ROUND_HALF_UP)
    limits = rules.families[family]
    return {
        "age": given.age,
        "occupation_class": given.occupation_class,
        "bmi": bmi,
        "age_in_range": limits.min_age <= given.age <= limits.max_age,
        "over_automatic_limit": given.automatic_limit < given.sum_insured + given.cover_with_us,
        "measurements_differ": differ,
    }
