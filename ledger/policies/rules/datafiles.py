"""Rule data files: TOML read into frozen pydantic models, with errors that name the file, the path and the value."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ledger.errors import NotFound, ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256

__all__ = ["DataDecimal", "Frozen", "LinkError", "digest_of", "read_toml", "validate_data"]

M = TypeVar("M", bound=BaseModel)
_SHOWN_PROBLEMS = 5
_SHOWN_CHARS = 80
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _refuse_float(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, float):
        raise ValueError('write a decimal as a string such as "6.1" or as an integer (a TOML float is not exact)')
    return value


# A decimal number in a data file: an integer or a decimal string, never a float.
DataDecimal = Annotated[Decimal, BeforeValidator(_refuse_float)]


class Frozen(BaseModel):
    """Base of the data models: immutable, and a key the schema does not know is an error (typos do not pass)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class LinkError(ValueError):
    """A cross-reference problem found once the shapes are valid: carries the path (below where it was raised)
    and the offending value, so the file's error can name both."""

    def __init__(self, path: str, message: str, value: object) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.value = value


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML document at ``path``.

    Raises ``NotFound`` if there is no such file and ``ValidationFailed`` (naming the file) if it cannot be read,
    is not UTF-8 or is not valid TOML.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{file}: no such file", field=str(file)) from None
    except OSError as exc:
        raise ValidationFailed(f"{file}: cannot be read: {exc.strerror or exc}", field=str(file)) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{file}: not UTF-8 text (byte {exc.start})", field=str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed(f"{file}: not valid TOML: {exc}", field=str(file)) from None


def validate_data(model: type[M], data: object, *, source: str) -> M:
    """``data`` validated as ``model``.

    Raises ``ValidationFailed`` whose message starts with ``source`` (the file) and names the path of each problem
    (``questions[3].next[0].ask[1]``), the question or rule it belongs to and the value found there; ``field`` is
    the path of the first problem.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _failed(exc, data, source=source) from None


def digest_of(model: BaseModel) -> str:
    """``sha256:<hex>`` of the RFC 8785 JSON of a validated definition (decimals as strings, aliases as written),
    so the same content gives the same digest whatever the file's layout or comments."""
    return digest_str(sha256(canonical_json(model.model_dump(mode="json", by_alias=True))))


def _failed(exc: ValidationError, data: object, *, source: str) -> ValidationFailed:
    problems: list[tuple[str, str]] = []
    first_path = ""
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, LinkError):
            path = _join(_path(loc), cause.path)
            message, value, shown = cause.message, cause.value, True
        else:
            path = _path(loc)
            message = error["msg"].removeprefix("Value error, ")
            value = error.get("input")
            shown = error["type"] != "missing" and not isinstance(value, Mapping)
        owner = _owner(data, _parts(path))
        where = f"{path or '(top level)'}{f' ({owner})' if owner else ''}"
        problems.append((path, f"{where}: {message}{f' (value: {_show(value)})' if shown else ''}"))
        first_path = first_path or path
    text = "; ".join(line for _, line in problems[:_SHOWN_PROBLEMS])
    if len(problems) > _SHOWN_PROBLEMS:
        text += f"; and {len(problems) - _SHOWN_PROBLEMS} more"
    return ValidationFailed(f"{source}: {text}", field=first_path or None)


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parts(path: str) -> list[int | str]:
    """``questions[3].next[0]`` back into ``["questions", 3, "next", 0]``."""
    return [int(index) if index else name for name, index in _PART.findall(path)]


def _join(base: str, tail: str) -> str:
    if not base:
        return tail
    if not tail:
        return base
    return base + tail if tail.startswith("[") else f"{base}.{tail}"


def _owner(data: object, loc: Sequence[int | str]) -> str:
    """The id or code of the innermost table on the path that has one: which question or rule is at fault."""
    owner = ""
    node = data
    for part in loc:
        keyed = isinstance(node, Mapping) and isinstance(part, str) and part in node
        listed = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (keyed or listed):
            break
        node = node[part]  # type: ignore[index]
        if isinstance(node, Mapping):
            for key in ("id", "code"):
                if isinstance(node.get(key), str):
                    owner = f"{key} {node[key]!r}"
                    break
    return owner


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
