"""The domain kernel: the value types every resource's rules speak in (an event as a fold sees it, an event a
decision wants recorded). Pure data; the workflow (``ledger.workflow``) records and loads them."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

__all__ = ["Actor", "Event", "NewEvent", "copy_with"]

S = TypeVar("S")


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


def copy_with(state: S, **changes: Any) -> S:
    """``dataclasses.replace`` for the folded states: a copy of ``state`` with ``changes``.

    Every load folds each event of a stream into a state of some forty fields, two or three copies an event;
    ``replace`` builds each copy through ``__init__`` (11 µs for the policy state), this copies the instance's
    dictionary (0.5 µs). It does so only where ``__init__`` does nothing but set the fields (see ``_plain_fields``);
    anything else goes to ``replace``. A name that is not a field is a ``TypeError``, as with ``replace``; unlike
    ``replace``, the type checker does not check the names and types of ``changes``, so the folds' tests do.
    """
    cls: type = type(state)
    names = _PLAIN[cls] if cls in _PLAIN else _PLAIN.setdefault(cls, _plain_fields(cls))
    if names is None:
        return dataclasses.replace(state, **changes)  # type: ignore[type-var]
    if not changes.keys() <= names:
        raise TypeError(f"{type(state).__name__} has no field {', '.join(sorted(changes.keys() - names))}")
    copy: S = object.__new__(cls)
    copy.__dict__.update(state.__dict__)
    copy.__dict__.update(changes)
    return copy


_PLAIN: dict[type, frozenset[str] | None] = {}  # per class: its field names, or None for "use replace"


def _plain_fields(cls: type) -> frozenset[str] | None:
    """The field names of a dataclass ``copy_with`` may copy by dictionary, or None.

    Only a class the dataclass decorator built itself (not a subclass of one), with no ``__post_init__``, no
    init-only or class variables, no field ``__init__`` leaves out, no slots anywhere in its bases and no cached
    property (whose value the dictionary would carry over stale). A hand-written ``__init__`` kept by the
    decorator is not detected: the folded states have none.
    """
    params = cls.__dict__.get("__dataclass_params__")
    if params is None or not params.init or hasattr(cls, "__post_init__"):
        return None
    if any("__slots__" in vars(klass) for klass in cls.__mro__[:-1]):
        return None
    if any(isinstance(value, functools.cached_property) for klass in cls.__mro__ for value in vars(klass).values()):
        return None
    fields = dataclasses.fields(cls)
    if len(fields) != len(cls.__dict__["__dataclass_fields__"]) or any(not f.init for f in fields):
        return None  # InitVar and ClassVar pseudo-fields, or a field __init__ does not set
    return frozenset(f.name for f in fields)
