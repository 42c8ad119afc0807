"""Field types for product data files, reading TOML, and turning schema errors into ``ValidationFailed``.

Numbers that are money or rates are written as decimal strings in the files (``"0.025"``, ``"100000"``): a TOML
float is refused, because its value is not the decimal that was meant.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PlainValidator, StringConstraints
from pydantic import ValidationError as PydanticError

from ledger.errors import ValidationFailed
from ledger.money import Money, parse_decimal

__all__ = ["WHOLE_LIFE", "Age", "Code", "DecimalStr", "Frozen", "Id", "MoneyField", "Names", "OccupationClass",
           "Positive", "Term", "TermField", "Text", "check_share", "error_path", "parse_model", "read_toml"]

WHOLE_LIFE = "whole_life"


def _decimal(value: object) -> Decimal:
    try:
        return parse_decimal(value, field="value")
    except ValidationFailed as exc:
        raise ValueError(f"must be a decimal string such as \"0.025\" or \"100000\", got {value!r}") from exc


def _money(value: object) -> Money:
    if isinstance(value, Money):
        return value
    if isinstance(value, dict):
        try:
            return Money.from_json(value)
        except ValidationFailed as exc:
            raise ValueError(exc.message) from exc
    return Money(_decimal(value))


# A Decimal written as a string; serialised back as the same string.
DecimalStr = Annotated[Decimal, BeforeValidator(_decimal), PlainSerializer(str, return_type=str)]
# Money written as an amount string (in CNY unless {amount, currency} is given); serialised as Money.to_json().
MoneyField = Annotated[Money, BeforeValidator(_money), PlainSerializer(Money.to_json, return_type=dict)]


_M = TypeVar("_M", bound=BaseModel)


class Frozen(BaseModel):
    """Base of every model of a data file: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


Term = int | Literal["whole_life"]

Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")]
Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
Text = Annotated[str, StringConstraints(min_length=1)]
Age = Annotated[int, Field(ge=0, le=105)]
Positive = Annotated[int, Field(gt=0)]
OccupationClass = Annotated[int, Field(ge=1, le=6)]


def _term(value: object) -> Term:
    if value == WHOLE_LIFE:
        return "whole_life"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a number of years or \"{WHOLE_LIFE}\"")
    if value <= 0:
        raise ValueError("must be > 0")
    return value


TermField = Annotated[Term, PlainValidator(_term)]


def check_share(value: Decimal, *, name: str, upper_open: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is within [0, 1] ([0, 1) with ``upper_open``)."""
    if value < 0 or value > 1 or (upper_open and value == 1):
        raise ValueError(f"{name}: must be within [0, 1{')' if upper_open else ']'}, got {value}")


class Names(Frozen):
    zh: Text
    en: Text


_MESSAGES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "missing": "is required",
    "extra_forbidden": "is not a known key",
    "literal_error": "must be one of {expected}",
    "string_pattern_mismatch": "must match {pattern}",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "too_short": "must have at least {min_length} item(s)",
    "string_too_short": "must have at least {min_length} character(s)",
}


def error_path(location: tuple[int | str, ...], raw: Any = None) -> str:
    """``("plans", "terms", 1)`` -> ``plans.terms[1]``.

    Walking ``raw`` alongside drops the parts pydantic inserts that are not in the data: the tag of a
    discriminated union (``basis.commutation.interest`` -> ``basis.interest``) and validator names.
    """
    text = ""
    node = raw
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list | tuple) and -len(node) <= part < len(node) else None
            continue
        if isinstance(node, dict) and part not in node and part in [str(v) for v in node.values()]:
            continue  # a union's tag
        if part.startswith(("function-", "tagged-union[")):
            continue
        text += f".{part}" if text else part
        node = node.get(part) if isinstance(node, dict) else None
    return text


_RELATIVE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*): (.*)$", re.DOTALL)


def _describe(error: Any, raw: Any) -> tuple[str, str]:
    """(path, problem) of one pydantic error, the path extended by a ``path: problem`` message of a validator."""
    path = error_path(tuple(error["loc"]), raw)
    kind = error["type"]
    context = error.get("ctx", {})
    if kind == "union_tag_invalid":
        tag = str(context.get("discriminator", "")).strip("'")
        return (f"{path}.{tag}" if path else tag,
                f"must be one of {context.get('expected_tags')}, got {context.get('tag')!r}")
    template = _MESSAGES.get(kind)
    message = template.format(**context) if template else str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    relative = _RELATIVE.match(message)
    if relative is not None:
        path = f"{path}.{relative.group(1)}" if path else relative.group(1)
        message = relative.group(2)
    value = error.get("input")
    if kind not in ("missing", "extra_forbidden") and "got " not in message and not isinstance(value, dict | list):
        message = f"{message}, got {value!r}"
    return path, message


def parse_model(model: type[_M], raw: Any, *, source: str) -> _M:
    """Validate ``raw`` as ``model``; raise ``ValidationFailed`` naming ``source``, the path and the bad value.

    The message reads ``<source>: <path>: <problem>, got <value>`` for the first problem (others follow after
    ``;``), and the error's ``field`` is the first path.
    """
    try:
        return model.model_validate(raw)
    except PydanticError as exc:
        problems = [_describe(error, raw) for error in exc.errors(include_url=False)]
        text = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        first = problems[0][0] if problems else ""
        raise ValidationFailed(f"{source}: {text}", field=first or None) from None


def read_toml(path: Path, *, source: str) -> dict[str, Any]:
    """Parse a TOML file; raise ``ValidationFailed`` naming ``source`` if it cannot be read or parsed."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed(f"{source}: not valid TOML: {exc}", field=None) from None
    except OSError as exc:
        raise ValidationFailed(f"{source}: cannot be read: {exc.strerror}", field=None) from None

