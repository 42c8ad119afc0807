"""Rate and cash-value tables as data files (``products/tables/*.json``): format, digest and look-up.

A table holds integer amounts in fen (0.01 CNY) per ``rate_per`` CNY of sum insured (10,000 unless the product's
basis says otherwise), the basis it was derived from, and ``digest``: ``sha256:`` of the RFC 8785 canonical JSON
of every other member. Rows are keyed by term, payment years, sex (``*`` for any) and, for rates, occupation class
(null for any); ``values[k]`` belongs to issue age ``first_age + k`` (and, for cash values, ``values[k][t - 1]``
to the end of policy year t).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.products.fields import (
    Age,
    DecimalStr,
    Frozen,
    Id,
    OccupationClass,
    Positive,
    Term,
    TermField,
    Text,
    parse_model,
)
from ledger.products.schema import ProductDefinition

__all__ = ["CASH_VALUE_FORMAT", "RATE_FORMAT", "CashValueTable", "RateTable", "load_table", "table_digest"]

RATE_FORMAT = "lifeledger.rate-table/1"
CASH_VALUE_FORMAT = "lifeledger.cash-value-table/1"
FEN = Decimal("0.01")
ANY_SEX = "*"

Fen = Annotated[int, Field(ge=0)]
SexKey = Literal["M", "F", "*"]


def table_digest(table: Mapping[str, Any]) -> str:
    """``sha256:`` of the canonical JSON of ``table`` without its ``digest`` member."""
    return digest_str(sha256(canonical_json({key: value for key, value in table.items() if key != "digest"})))


class RateRow(Frozen):
    term: TermField
    payment_years: Positive
    sex: SexKey
    occupation_class: OccupationClass | None = None
    first_age: Age
    values: Annotated[tuple[Fen, ...], Field(min_length=1)]


class CashValueRow(Frozen):
    term: TermField
    payment_years: Positive
    sex: SexKey
    first_age: Age
    values: Annotated[tuple[tuple[Fen, ...], ...], Field(min_length=1)]


class _TableFile(Frozen):
    id: Id
    unit: Text
    rate_per: DecimalStr
    basis: dict[str, Any]
    digest: Text


class RateTableFile(_TableFile):
    format: Literal["lifeledger.rate-table/1"]
    rows: tuple[RateRow, ...]


class CashValueTableFile(_TableFile):
    format: Literal["lifeledger.cash-value-table/1"]
    rows: tuple[CashValueRow, ...]


def _sexes(sex: str) -> tuple[str, ...]:
    return (sex, ANY_SEX)


@dataclass(frozen=True)
class RateTable:
    """Annual premium rates per ``rate_per`` of sum insured, by term x payment years x sex x class x issue age."""

    id: str
    digest: str
    rate_per: Decimal
    basis: Mapping[str, Any]
    rows: tuple[RateRow, ...]
    _index: dict[tuple[Term, int, str, int | None], RateRow] = field(repr=False, compare=False)

    @classmethod
    def from_file(cls, data: RateTableFile) -> RateTable:
        index: dict[tuple[Term, int, str, int | None], RateRow] = {
            (row.term, row.payment_years, row.sex, row.occupation_class): row for row in data.rows}
        return cls(id=data.id, digest=data.digest, rate_per=data.rate_per, basis=data.basis, rows=data.rows,
                   _index=index)

    def rate(self, *, term: Term, payment_years: int, sex: str, occupation_class: int, age: int) -> Decimal | None:
        """The annual rate in CNY per ``rate_per`` of sum insured, or None when the table has none for this plan."""
        for sex_key in _sexes(sex):
            for class_key in (occupation_class, None):
                row = self._index.get((term, payment_years, sex_key, class_key))
                if row is not None and 0 <= age - row.first_age < len(row.values):
                    return Decimal(row.values[age - row.first_age]) * FEN
        return None


@dataclass(frozen=True)
class CashValueTable:
    """Cash values per ``rate_per`` of sum insured at the end of each policy year."""

    id: str
    digest: str
    rate_per: Decimal
    basis: Mapping[str, Any]
    rows: tuple[CashValueRow, ...]
    _index: dict[tuple[Term, int, str], CashValueRow] = field(repr=False, compare=False)

    @classmethod
    def from_file(cls, data: CashValueTableFile) -> CashValueTable:
        index: dict[tuple[Term, int, str], CashValueRow] = {
            (row.term, row.payment_years, row.sex): row for row in data.rows}
        return cls(id=data.id, digest=data.digest, rate_per=data.rate_per, basis=data.basis, rows=data.rows,
                   _index=index)

    def years(self, *, term: Term, payment_years: int, sex: str, age: int) -> tuple[Decimal, ...] | None:
        """Cash values in CNY per ``rate_per`` at the end of policy years 1, 2, ...; None when the plan has no row."""
        for sex_key in _sexes(sex):
            row = self._index.get((term, payment_years, sex_key))
            if row is not None and 0 <= age - row.first_age < len(row.values):
                return tuple(Decimal(value) * FEN for value in row.values[age - row.first_age])
        return None


def _check_digest(raw: Mapping[str, Any], *, source: str) -> None:
    stated = raw.get("digest")
    actual = table_digest(raw)
    if stated != actual:
        raise ValidationFailed(f"{source}: digest: does not match the table's content (stated {stated!r}, "
                               f"computed {actual!r})", field="digest")


def load_table(path: Path, *, source: str) -> RateTable | CashValueTable:
    """Load a table file and check its digest; raises ``ValidationFailed`` naming ``source``, path and value."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationFailed(f"{source}: cannot be read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{source}: must hold a JSON object, got {type(raw).__name__}")
    if raw.get("format") == CASH_VALUE_FORMAT:
        cash_values = parse_model(CashValueTableFile, raw, source=source)
        _check_digest(raw, source=source)
        return CashValueTable.from_file(cash_values)
    rates = parse_model(RateTableFile, raw, source=source)
    _check_digest(raw, source=source)
    return RateTable.from_file(rates)


def plan_gaps(definition: ProductDefinition, table: RateTable | CashValueTable) -> list[str]:
    """The plans ``definition`` offers that ``table`` has no value for (empty when it covers them all)."""
    sexes = ("M", "F")
    classes = definition.eligibility.occupation_classes
    gaps = []
    for term, payment_years, ages in definition.plan_grid():
        for sex in sexes:
            for age in (ages.start, ages.stop - 1):
                if isinstance(table, RateTable):
                    missing = [c for c in classes if table.rate(term=term, payment_years=payment_years, sex=sex,
                                                                  occupation_class=c, age=age) is None]
                else:
                    missing = [] if table.years(term=term, payment_years=payment_years, sex=sex,
                                                age=age) is not None else list(classes)
                if missing:
                    gaps.append(f"term {term}, {payment_years}-pay, sex {sex}, age {age}")
    return gaps
