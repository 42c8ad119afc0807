"""The diagnosis table as data: ICD-10 codes grouped, with the severity, stay norm, questions and exclusions of each.

One TOML file (``products/claims/diagnoses.toml``) read into frozen models and cited by id, version and ``digest``
(``sha256:`` of the RFC 8785 JSON of the validated table, so comments and layout do not change it). A group holds
ICD-10 categories (``"J18"``) and inclusive ranges of them (``"C00-C97"``); ranges of different groups are either
apart or one lies inside the other, and a code belongs to the narrowest range holding it, so a specific group
(``C73`` thyroid cancer) can sit inside a general one (``C00-C97`` malignant neoplasm).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.products.catalog import default_products_dir
from ledger.products.fields import Code, DecimalStr, Frozen, Id, Names, Positive, Text, parse_model, read_toml

__all__ = ["DiagnosisFile", "DiagnosisTable", "Group", "Severity", "StayNorm", "category_key",
           "default_diagnoses_path"]

Severity = Literal["severe", "moderate", "mild", "none"]
QuestionId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]

_RANGE = re.compile(r"^([A-Z])(\d{2})(?:-([A-Z])(\d{2}))?$")
_CODE = re.compile(r"^([A-Z])(\d{2})(?:\.[0-9A-Z]{1,4})?$")


def default_diagnoses_path(products_dir: Path | None = None) -> Path:
    """``<products_dir>/claims/diagnoses.toml`` (default: the shipped ``products/``)."""
    return (products_dir or default_products_dir()) / "claims" / "diagnoses.toml"


def category_key(code: str) -> int:
    """The ordinal of an ICD-10 code's category (``"C73.x01"`` -> that of ``C73``), for range comparisons.

    Accepts a letter and two digits with an optional ``.`` and up to four more letters or digits, in either case
    and with surrounding blanks. Raises ``ValidationFailed`` naming the code when it has another shape.
    """
    match = _CODE.match(code.strip().upper()) if isinstance(code, str) else None
    if match is None:
        raise ValidationFailed(f"diagnosis: not an ICD-10 code such as \"I21\" or \"C73.x01\", got {code!r}",
                               field="diagnosis")
    return _ordinal(match.group(1), match.group(2))


def _ordinal(letter: str, digits: str) -> int:
    return (ord(letter) - ord("A")) * 100 + int(digits)


def _span(text: str) -> tuple[int, int]:
    """``"C00-C97"`` -> (first, last) category ordinals; raises ``ValueError`` for another shape."""
    match = _RANGE.match(text)
    if match is None:
        raise ValueError(f"must be an ICD-10 category such as \"J18\" or a range such as \"C00-C97\", got {text!r}")
    first = _ordinal(match.group(1), match.group(2))
    last = first if match.group(3) is None else _ordinal(match.group(3), match.group(4))
    if last < first:
        raise ValueError(f"the range ends before it starts, got {text!r}")
    return first, last


class StayNorm(Frozen):
    """The usual length of a hospital stay and the multiple of it that is far above the norm."""

    mean_days: DecimalStr
    far_multiple: DecimalStr

    @model_validator(mode="after")
    def _positive(self) -> StayNorm:
        if self.mean_days <= 0:
            raise ValueError(f"mean_days: must be > 0, got {self.mean_days}")
        if self.far_multiple <= 1:
            raise ValueError(f"far_multiple: must be > 1, got {self.far_multiple}")
        return self

    @property
    def limit_days(self) -> Decimal:
        """A stay longer than this is far above the norm."""
        return self.mean_days * self.far_multiple


def _refuse_repeats(values: tuple[str, ...], *, path: str) -> None:
    for index, value in enumerate(values):
        if value in values[:index]:
            raise ValueError(f"{path}[{index}]: {value!r} is listed twice")


class Group(Frozen):
    """A diagnosis group: its ICD-10 categories and what a diagnosis in it means to the claim rules."""

    code: Code
    zh: Text
    en: Text
    icd10: Annotated[tuple[str, ...], Field(min_length=1)]
    severity: Severity
    stay: StayNorm
    questions: tuple[QuestionId, ...] = ()
    exclusions: tuple[Code, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Group:
        for index, text in enumerate(self.icd10):
            try:
                _span(text)
            except ValueError as exc:
                raise ValueError(f"icd10[{index}]: {exc}") from None
        _refuse_repeats(self.questions, path="questions")
        _refuse_repeats(self.exclusions, path="exclusions")
        return self


class DiagnosisFile(Frozen):
    """The table as its file states it."""

    id: Id
    version: Positive
    names: Names
    question_windows: dict[QuestionId, Positive] = Field(default_factory=dict)
    groups: Annotated[tuple[Group, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> DiagnosisFile:
        spans: list[tuple[int, int, str, int, str]] = []  # first, last, path, group index, text
        for index, group in enumerate(self.groups):
            if group.code in {other.code for other in self.groups[:index]}:
                raise ValueError(f"groups[{index}].code: {group.code!r} is already defined")
            for position, text in enumerate(group.icd10):
                first, last = _span(text)
                spans.append((first, last, f"groups[{index}].icd10[{position}]", index, text))
        for number, (first, last, path, index, text) in enumerate(spans):
            for other_first, other_last, other_path, other_index, other_text in spans[:number]:
                if last < other_first or other_last < first:
                    continue
                nested = (first, last) != (other_first, other_last) and (
                    (other_first <= first and last <= other_last) or (first <= other_first and other_last <= last))
                if not nested or index == other_index:
                    raise ValueError(f"{path}: {text!r} overlaps {other_text!r} ({other_path}); ranges must be "
                                     "apart or one strictly inside another group's")
        return self


@dataclass(frozen=True)
class DiagnosisTable:
    """The validated table with its digest and an index from category ranges to groups (narrowest first)."""

    definition: DiagnosisFile
    digest: str
    _spans: tuple[tuple[int, int, Group], ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, source: str) -> DiagnosisTable:
        """``raw`` (the table as its file states it) validated.

        Raises ``ValidationFailed`` naming ``source``, the path and the value of the first problem: an unknown
        key, a malformed ICD-10 range, two groups' ranges that overlap without one lying inside the other, a
        repeated group code, question or exclusion, a stay norm not above zero or a multiple not above one.
        """
        definition = parse_model(DiagnosisFile, dict(raw), source=source)
        spans = sorted(((*_span(text), group) for group in definition.groups for text in group.icd10),
                       key=lambda item: item[1] - item[0])
        digest = digest_str(sha256(canonical_json(definition.model_dump(mode="json"))))
        return cls(definition=definition, digest=digest, _spans=tuple(spans))

    @classmethod
    def load(cls, path: str | Path | None = None) -> DiagnosisTable:
        """The table in the TOML file at ``path`` (default: the shipped one).

        Raises ``ValidationFailed`` naming the file if it cannot be read or parsed, and as ``parse`` does (naming
        the file, the path in it and the value) if its content is wrong.
        """
        file = Path(path) if path is not None else default_diagnoses_path()
        return cls.parse(read_toml(file, source=str(file)), source=str(file))

    @property
    def version(self) -> dict[str, Any]:
        """``{"id", "version", "digest"}``: what a decision cites as the table it read."""
        return {"id": self.definition.id, "version": self.definition.version, "digest": self.digest}

    @property
    def groups(self) -> tuple[Group, ...]:
        return self.definition.groups

    def group_of(self, icd10: str) -> Group | None:
        """The group of the narrowest range holding ``icd10``'s category, or None when no group holds it.

        Raises ``ValidationFailed`` naming the code when it is not an ICD-10 code (see ``category_key``).
        """
        key = category_key(icd10)
        return next((group for first, last, group in self._spans if first <= key <= last), None)

    def groups_of(self, codes: Iterable[str]) -> tuple[Group, ...]:
        """The distinct groups of ``codes``, in the order first met; codes no group holds are left out."""
        found: dict[str, Group] = {}
        for code in codes:
            group = self.group_of(code)
            if group is not None:
                found.setdefault(group.code, group)
        return tuple(found.values())

    def group(self, code: str) -> Group | None:
        """The group whose code is ``code``, or None."""
        return next((group for group in self.definition.groups if group.code == code), None)

    def window_days(self, question: str) -> int | None:
        """How many days before the declaration ``question`` asks about, or None when it asks "ever"."""
        return self.definition.question_windows.get(question)
