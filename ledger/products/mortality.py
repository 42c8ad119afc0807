"""Mortality tables as data: the schema of ``products/mortality/*.toml``, loading, and each table's digest."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import model_validator

from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.products.fields import Age, DecimalStr, Frozen, Id, Names, Positive, Text, parse_model, read_toml
from ledger.products.schema import Sex

__all__ = ["MortalityFile", "MortalitySex", "load_mortality", "load_mortality_dir"]


class MortalitySex(Frozen):
    code: Text
    soa_table_id: Positive
    zh: Text
    en: Text
    q: tuple[DecimalStr, ...]


class MortalityFile(Frozen):
    """A mortality table file: q_x for every age from min_age to max_age, per sex, with its name and source."""

    id: Id
    min_age: Age
    max_age: Age
    source: Text
    name: Names
    tables: dict[Sex, MortalitySex]

    @model_validator(mode="after")
    def _complete(self) -> MortalityFile:
        if set(self.tables) != {"M", "F"}:
            raise ValueError(f"tables: must hold M and F, got {sorted(self.tables)}")
        ages = self.max_age - self.min_age + 1
        for sex, table in self.tables.items():
            if len(table.q) != ages:
                raise ValueError(f"tables.{sex}.q: must hold {ages} rates (ages {self.min_age}..{self.max_age}), "
                                 f"got {len(table.q)}")
            for index, rate in enumerate(table.q):
                if not 0 <= rate <= 1:
                    raise ValueError(f"tables.{sex}.q[{index}]: must be within [0, 1], got {rate}")
            if table.q[-1] != 1:
                raise ValueError(f"tables.{sex}.q[{ages - 1}]: the table must close with q = 1, got {table.q[-1]}")
        return self

    def q(self, sex: Sex) -> tuple[Decimal, ...]:
        """q_x for ages min_age..max_age."""
        return self.tables[sex].q

    @property
    def digest(self) -> str:
        """``sha256:`` of the RFC 8785 canonical JSON of the table as loaded."""
        return digest_str(sha256(canonical_json(self.model_dump(mode="json"))))


def load_mortality(path: Path, *, source: str) -> MortalityFile:
    """Load and validate one mortality file; raises ``ValidationFailed`` naming ``source``, path and value."""
    return parse_model(MortalityFile, read_toml(path, source=source), source=source)


def load_mortality_dir(directory: Path) -> dict[str, MortalityFile]:
    """Every ``*.toml`` in ``directory`` by table id (an empty dict when there is no such directory).

    Raises ``ValidationFailed`` for a bad file, or for two files claiming one id.
    """
    tables: dict[str, MortalityFile] = {}
    if not directory.is_dir():
        return tables
    for path in sorted(directory.glob("*.toml")):
        source = f"{directory.parent.name}/{directory.name}/{path.name}"
        table = load_mortality(path, source=source)
        if table.id in tables:
            raise ValidationFailed(f"{source}: id: {table.id!r} is already used by another mortality file",
                                   field="id")
        tables[table.id] = table
    return tables
