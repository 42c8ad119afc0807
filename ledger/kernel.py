"""The domain kernel: the value types every resource's rules speak in (an event as a fold sees it, an event a
decision wants recorded). Pure data; the workflow (``ledger.workflow``) records and loads them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Actor", "Event", "NewEvent"]


@dataclass(frozen=True)
class Event:
    """A recorded event as a fold sees it: position, type, when it was recorded, and its facts."""

    index: int
    seq: int
    type: str
    event_id: str
    recorded_at: datetime
    facts: Mapping[str, Any]


@dataclass(frozen=True)
class NewEvent:
    """An event ``decide`` wants recorded: its facts, and the personal fields sealed under a person's own key.

    ``stream`` names another stream written in the same group (a document lineage); by default the event goes
    on the stream of the command.
    """

    type: str
    facts: Mapping[str, Any]
    personal: Mapping[str, Any] = field(default_factory=dict)
    personal_subject: str | None = None
    stream: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who asked: a role and the party or staff id acting in it (recorded in every workflow event)."""

    role: str
    party: str

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "party": self.party}
