"""Key scopes: which event types and stream kinds a system key may write, as recorded with the key in the journal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ledger.errors import ValidationFailed

ANY = "*"
# An event type, or a prefix of dotted words followed by ".*" ("claim.*" covers "claim.reported", "claim.doc.added").
_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){0,4}(?:\.\*)?", re.ASCII)
_STREAM_KIND = re.compile(r"[a-z][a-z0-9_]{0,30}", re.ASCII)
MAX_ITEMS = 64


@dataclass(frozen=True)
class KeyScope:
    """The event types (exact, ``prefix.*`` or ``*``) and stream kinds (exact or ``*``) a key may write."""

    types: tuple[str, ...]
    streams: tuple[str, ...]

    @classmethod
    def from_json(cls, value: Any, *, field: str = "scope") -> KeyScope:
        """Parse ``{"types": [...], "streams": [...]}``, naming the first bad item. Both lists are required and
        non-empty; ``["*"]`` is how an admin says "everything" explicitly."""
        if not isinstance(value, dict) or set(value) != {"types", "streams"}:
            raise ValidationFailed(f"{field} must be an object with exactly 'types' and 'streams'", field=field)
        types = _items(value["types"], _TYPE_PATTERN, f"{field}.types",
                       "an event type like 'claim.approved', a prefix like 'claim.*', or '*'")
        streams = _items(value["streams"], _STREAM_KIND, f"{field}.streams",
                         "a stream kind like 'claim' (the part before ':'), or '*'")
        return cls(types=types, streams=streams)

    def to_json(self) -> dict[str, list[str]]:
        return {"types": list(self.types), "streams": list(self.streams)}

    def allows(self, *, type: str, stream: str) -> bool:
        """True if an event of ``type`` on ``stream`` (``kind:id``) is within this scope."""
        kind = stream.split(":", 1)[0]
        return (ANY in self.streams or kind in self.streams) and any(_type_matches(p, type) for p in self.types)

    def describe(self) -> str:
        return f"types {', '.join(self.types)} on streams of kind {', '.join(self.streams)}"


def _type_matches(pattern: str, type: str) -> bool:
    if pattern == ANY:
        return True
    if pattern.endswith(".*"):
        return type.startswith(pattern[:-1])
    return type == pattern


def _items(value: Any, pattern: re.Pattern[str], field: str, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ITEMS:
        raise ValidationFailed(f"{field} must be a list of 1-{MAX_ITEMS} items", field=field)
    for n, item in enumerate(value):
        if not isinstance(item, str) or not (item == ANY or pattern.fullmatch(item)):
            raise ValidationFailed(f"{field}[{n}] must be {what}", field=f"{field}[{n}]")
    if ANY in value and len(value) > 1:
        raise ValidationFailed(f"{field}: '*' already covers everything; list it alone", field=field)
    return tuple(sorted(set(value)))
