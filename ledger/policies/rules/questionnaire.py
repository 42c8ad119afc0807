"""The health questionnaire as data: questions that branch on answers, and pure checks of a set of answers.

A question no branch asks is asked of everyone (a root). A branch (``next = [{ when = {...}, ask = [...] }]``) asks
its questions once its question is answered and the answer passes ``when`` (no ``when``: any answer). A question is
asked by at most one branch and comes after the question that asks it, so the questions form a forest read in file
order, and "which questions apply" is one pass over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, StrictInt, model_validator

from ledger.errors import ValidationFailed
from ledger.money import parse_decimal
from ledger.policies.rules.conditions import Comparison, ValueTest
from ledger.policies.rules.datafiles import DataDecimal, Frozen, LinkError, digest_of, read_toml, validate_data

__all__ = ["Answer", "Branch", "Option", "Question", "QuestionType", "Questionnaire", "Text", "check_answers",
           "is_complete", "load_questionnaire", "next_questions"]

QuestionType = Literal["yes_no", "choice", "number", "decimal"]
Answer = bool | str | int | Decimal  # yes_no, choice, number, decimal


class Text(Frozen):
    """A sentence in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Option(Frozen):
    """One answer of a choice question."""

    value: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Branch(Frozen):
    """Questions to ask next when this question's answer passes ``when`` (always, if ``when`` is absent)."""

    when: Comparison | None = None
    ask: tuple[str, ...] = Field(min_length=1)

    def applies(self, answer: object) -> bool:
        return self.when is None or self.when.matches(answer)


class Question(Frozen):
    """One question: its id, text, answer type (with options, or unit and inclusive range) and branches."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: Text
    type: QuestionType
    options: tuple[Option, ...] = ()
    unit: str | None = Field(default=None, min_length=1)
    min: DataDecimal | None = None
    max: DataDecimal | None = None
    next: tuple[Branch, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        numeric = self.type in ("number", "decimal")
        if self.type == "choice":
            values = [option.value for option in self.options]
            if len(values) < 2:
                raise ValueError("a choice question needs at least two options")
            if len(set(values)) != len(values):
                raise ValueError(f"option values repeat: {values}")
        elif self.options:
            raise ValueError(f"only a choice question has options, not a {self.type} question")
        if numeric:
            if self.unit is None or self.min is None or self.max is None:
                raise ValueError(f"a {self.type} question needs unit, min and max")
            if self.min > self.max:
                raise ValueError(f"min {self.min} is above max {self.max}")
            if self.type == "number" and (self.min != self.min.to_integral_value()
                                          or self.max != self.max.to_integral_value()):
                raise ValueError("a number question takes whole numbers: min and max must be integers")
        elif self.unit is not None or self.min is not None or self.max is not None:
            raise ValueError(f"unit, min and max belong to number and decimal questions, not to {self.type}")
        for index, branch in enumerate(self.next):
            if branch.when is not None:
                problem = self.test_problem(branch.when)
                if problem:
                    raise LinkError(f"next[{index}].when", problem, branch.when.model_dump(exclude_none=True))
        return self

    def test_problem(self, test: ValueTest) -> str | None:
        """Why a test (a branch's ``when`` or a rule's test of this question) can never fit this question's
        answers, or None if it can."""
        kind = test.test_kind()
        expected = test.expected_values()
        if self.type == "yes_no":
            if kind != "equals" or not isinstance(test.equals, bool):
                return "a yes_no answer is tested with equals = true or equals = false"
        elif self.type == "choice":
            values = {option.value for option in self.options}
            if kind == "bounds" or not all(isinstance(value, str) for value in expected):
                return f"a choice answer is tested with equals or one_of naming its options {sorted(values)}"
            unknown = [value for value in expected if value not in values]
            if unknown:
                return f"{unknown} not among the options {sorted(values)}"
        elif kind != "bounds" and (self.type == "decimal" or not all(
                isinstance(value, int) and not isinstance(value, bool) for value in expected)):
            return f"a {self.type} answer is tested with bounds (at_least, above, below, at_most)"
        return None

    def parse(self, value: object) -> Answer:
        """The answer in its canonical type (bool, option value, int, Decimal).

        Raises ``ValidationFailed`` naming ``answers.<id>`` for a wrong type, an unknown option or a value out of
        range.
        """
        field = f"answers.{self.id}"
        if self.type == "yes_no":
            if not isinstance(value, bool):
                raise ValidationFailed(f"{field} must be true or false (a yes/no question), not {value!r}",
                                       field=field)
            return value
        if self.type == "choice":
            values = [option.value for option in self.options]
            if not isinstance(value, str) or value not in values:
                raise ValidationFailed(f"{field} must be one of {values}, not {value!r}", field=field)
            return value
        number = parse_decimal(value, field=field)
        if self.type == "number" and number != number.to_integral_value():
            raise ValidationFailed(f"{field} must be a whole number of {self.unit}, not {value!r}", field=field)
        assert self.min is not None and self.max is not None
        if not self.min <= number <= self.max:
            raise ValidationFailed(f"{field} must be between {self.min} and {self.max} {self.unit}, not {value!r}",
                                   field=field)
        return int(number) if self.type == "number" else number


class Questionnaire(Frozen):
    """A versioned questionnaire: its questions in the order they are asked."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: StrictInt = Field(ge=1)
    title: Text
    questions: tuple[Question, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _links(self) -> Questionnaire:
        position: dict[str, int] = {}
        for index, question in enumerate(self.questions):
            if question.id in position:
                first = position[question.id]
                raise LinkError(f"questions[{index}].id", f"question id repeats (first at questions[{first}])",
                                question.id)
            position[question.id] = index
        asked_by: dict[str, str] = {}
        for index, question in enumerate(self.questions):
            for b, branch in enumerate(question.next):
                for a, target in enumerate(branch.ask):
                    path = f"questions[{index}].next[{b}].ask[{a}]"
                    if target not in position:
                        raise LinkError(path, f"branch of {question.id!r} names no question of this questionnaire",
                                        target)
                    if position[target] <= index:
                        raise LinkError(path, f"{target!r} must come after {question.id!r}, the question that "
                                              "asks it", target)
                    if target in asked_by:
                        raise LinkError(path, f"{target!r} is already asked by {asked_by[target]!r}; a question has "
                                              "one asking question", target)
                    asked_by[target] = question.id
        return self

    @cached_property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON of the definition."""
        return digest_of(self)

    @cached_property
    def by_id(self) -> Mapping[str, Question]:
        return {question.id: question for question in self.questions}

    @cached_property
    def asked_by(self) -> Mapping[str, tuple[str, Branch]]:
        """For each follow-up question: the question that asks it and the branch that does."""
        return {target: (question.id, branch) for question in self.questions for branch in question.next
                for target in branch.ask}

    def applicable(self, answers: Mapping[str, Answer]) -> tuple[str, ...]:
        """The ids of the questions that apply given ``answers`` (parsed), in order: roots, and follow-ups whose
        asking question applies, is answered and whose answer passes the branch."""
        found: dict[str, None] = {}
        for question in self.questions:
            link = self.asked_by.get(question.id)
            if link is None or (link[0] in found and link[0] in answers and link[1].applies(answers[link[0]])):
                found[question.id] = None
        return tuple(found)


def load_questionnaire(path: str | Path) -> Questionnaire:
    """The questionnaire in the TOML file at ``path``.

    Raises ``NotFound`` for a missing file and ``ValidationFailed`` naming the file, the path inside it and the
    value for anything malformed: a bad type or range, a choice without options, a branch naming an unknown
    question or one defined before its asking question.
    """
    return validate_data(Questionnaire, read_toml(path), source=str(path))


def check_answers(q: Questionnaire, answers: Mapping[str, object]) -> dict[str, Answer]:
    """The answers parsed to their canonical types, in questionnaire order; not necessarily complete.

    Raises ``ValidationFailed`` with ``field="answers.<id>"`` for an answer to no question of ``q``, of the wrong
    type or out of range, or to a question that does not apply given the other answers.
    """
    if not isinstance(answers, Mapping):
        raise ValidationFailed(f"answers must be an object of question id to answer, not {type(answers).__name__}",
                               field="answers")
    parsed: dict[str, Answer] = {}
    for key, value in answers.items():
        question = q.by_id.get(key) if isinstance(key, str) else None
        if question is None:
            raise ValidationFailed(f"answers.{key}: questionnaire {q.id} v{q.version} has no question {key!r}",
                                   field=f"answers.{key}")
        parsed[key] = question.parse(value)
    applicable = q.applicable(parsed)
    for question in q.questions:
        if question.id in parsed and question.id not in applicable:
            raise ValidationFailed(_why_not(q, question.id, parsed, applicable), field=f"answers.{question.id}")
    return {question: parsed[question] for question in applicable if question in parsed}


def next_questions(q: Questionnaire, answers: Mapping[str, object]) -> list[Question]:
    """The questions that apply given ``answers`` and are not answered yet, in order.

    Raises ``ValidationFailed`` as ``check_answers`` does.
    """
    parsed = check_answers(q, answers)
    return [q.by_id[question] for question in q.applicable(parsed) if question not in parsed]


def is_complete(q: Questionnaire, answers: Mapping[str, object]) -> bool:
    """True when every question that applies is answered. Raises ``ValidationFailed`` as ``check_answers`` does."""
    return not next_questions(q, answers)


def _why_not(q: Questionnaire, question: str, answers: Mapping[str, Answer], applicable: tuple[str, ...]) -> str:
    asker, branch = q.asked_by[question]
    prefix = f"answers.{question}: question {question!r} does not apply"
    if asker not in applicable:
        return f"{prefix}: it follows {asker!r}, which does not apply itself"
    if asker not in answers:
        return f"{prefix} until {asker!r} is answered"
    when = branch.when.describe() if branch.when else "answered"
    shown = ("yes" if answers[asker] else "no") if isinstance(answers[asker], bool) else repr(answers[asker])
    return f"{prefix}: it is asked when {asker!r} is {when}, and {asker!r} was answered {shown}"
