"""Loading every questionnaire and underwriting rule set of a products directory, keyed by id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from ledger.errors import ValidationFailed
from ledger.policies.rules.questionnaire import Questionnaire, load_questionnaire
from ledger.policies.rules.ruleset import RuleSet, load_ruleset

__all__ = ["load_questionnaires", "load_rulesets"]


class _Versioned(Protocol):
    @property
    def id(self) -> str: ...


D = TypeVar("D", bound=_Versioned)


def load_questionnaires(directory: str | Path) -> dict[str, Questionnaire]:
    """Every questionnaire in ``directory/*.toml`` by id (empty if there is no such directory or file).

    Raises ``ValidationFailed`` naming the file, path and value of the first file that is wrong, or the two files
    that give the same id.
    """
    return _load_all(Path(directory), load_questionnaire)


def load_rulesets(directory: str | Path) -> dict[str, RuleSet]:
    """Every underwriting rule set in ``directory/*.toml`` by id (empty if there is no such directory or file).

    Raises ``ValidationFailed`` as ``load_questionnaires`` does.
    """
    return _load_all(Path(directory), load_ruleset)


def _load_all(directory: Path, load: Callable[[Path], D]) -> dict[str, D]:
    found: dict[str, D] = {}
    where: dict[str, Path] = {}
    for path in sorted(directory.glob("*.toml")):
        item = load(path)
        if item.id in found:
            raise ValidationFailed(f"{path}: id {item.id!r} is already defined in {where[item.id]}", field="id")
        found[item.id], where[item.id] = item, path
    return found
