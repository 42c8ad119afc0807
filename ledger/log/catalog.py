"""Event types declared by the ledger and its domain: which payload fields are facts and which are personal.

Facts (plans, amounts, decisions, reasons, rule versions, party ids) are sealed under a subject that is never
erased, and are all a projection may read. Personal fields (names, identity numbers, contacts, health and medical
data) are sealed apart under the person's own key, so erasing the person destroys exactly them. Types nobody
declared (a system's own) are recorded as they come: their whole payload is sealed under the subject they name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.errors import ValidationFailed
from ledger.log.statements import PERSONAL_FIELD, SignedEvent


@dataclass(frozen=True)
class EventType:
    """A declared event type: its fact fields and its personal fields (disjoint)."""

    name: str
    facts: frozenset[str]
    personal: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        overlap = self.facts & self.personal
        if overlap or PERSONAL_FIELD in self.facts | self.personal:
            raise ValueError(f"{self.name}: fields {sorted(overlap | {PERSONAL_FIELD})} cannot be declared so")

    def split(self, payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Divide a payload into (facts, personal fields); raises ``ValidationFailed`` naming an undeclared field."""
        facts: dict[str, Any] = {}
        personal: dict[str, Any] = {}
        for name, value in payload.items():
            if name in self.facts:
                facts[name] = value
            elif name in self.personal:
                personal[name] = value
            else:
                raise ValidationFailed(f"{self.name} declares no field {name!r}", field=f"payload.{name}")
        return facts, personal

    def check(self, event: SignedEvent) -> None:
        """Raise ``ValidationFailed`` unless a posted event keeps facts and personal fields where they belong."""
        for name in event.facts:
            if name not in self.facts:
                where = "personal" if name in self.personal else "undeclared"
                raise ValidationFailed(f"{self.name}: field {name!r} is {where}; the payload holds facts only",
                                       field=f"payload.{name}")
        if event.personal is None:
            return
        for name in event.personal.payload:
            if name not in self.personal:
                raise ValidationFailed(f"{self.name}: field {name!r} is not a personal field of this type",
                                       field=f"personal.payload.{name}")


class Catalog:
    """The declared event types, by name."""

    def __init__(self, types: Iterable[EventType] = ()) -> None:
        self._types: dict[str, EventType] = {}
        for declared in types:
            if declared.name in self._types:
                raise ValueError(f"event type {declared.name} is declared twice")
            self._types[declared.name] = declared

    def get(self, name: str) -> EventType | None:
        return self._types.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def check(self, event: SignedEvent) -> None:
        """Check a declared type's split of facts and personal fields; undeclared types pass as they are."""
        declared = self._types.get(event.statement.type)
        if declared is not None:
            declared.check(event)
