"""The one command path: load a stream's events, fold them to state, decide (pure), append all or none.

Every workflow command of every resource runs here, so the guarantees hold in one place:

1. the stream's events are read from the journal (facts only, in ``seq`` order) and folded to state;
2. ``decide(state, command, now)`` returns the new events or raises a named refusal (``Refused``); it is pure;
3. the ledger signs the new events and the journal appends them as one group at the stream position the decision
   saw; projections change in the same transaction;
4. if another command moved the stream meanwhile (``StreamMoved``), the stream is loaded and decided again.

The caller gets the new events, their receipts and the state after them.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from ledger.clock import Clock
from ledger.errors import InvalidTransition, StreamMoved
from ledger.journal.opening import Opener
from ledger.journal.units import Receipt
from ledger.kernel import Event, NewEvent
from ledger.log.identifiers import parse_timestamp
from ledger.log.reserved import LEDGER_KEY_ID, LEDGER_SUBJECT
from ledger.services.intake import Draft, IntakeService

__all__ = ["Aggregate", "Event", "NewEvent", "Outcome", "Workflow", "new_id"]

S = TypeVar("S")
C = TypeVar("C", contravariant=True)

ATTEMPTS = 8  # a stream this busy is a bug or an attack: give up with the last StreamMoved


def new_id(prefix: str) -> str:
    """An opaque identifier: ``prefix`` and 20 hex digits (80 bits) of randomness, nothing about the person."""
    return f"{prefix}{uuid.uuid4().hex[:20].upper()}"


class Aggregate(Protocol[S, C]):
    """A resource's rules: an empty state, how one event changes it, and the pure decision for a command."""

    def initial(self) -> S: ...

    def evolve(self, state: S, event: Event) -> S: ...

    def decide(self, state: S, command: C, now: datetime) -> Sequence[NewEvent]: ...


@dataclass(frozen=True)
class Outcome(Generic[S]):
    """What a command recorded: the new events (in order), their receipts, and the state after them."""

    events: list[Event]
    receipts: list[Receipt]
    state: S
    seq: int


def _probe(aggregate: Aggregate[S, Any], state: S, stream: str, seq: int, decided: Sequence[NewEvent],
           now: datetime) -> None:
    """Fold the decided events into the state before anything is recorded: an event the transition table forbids
    is refused (``InvalidTransition``) instead of landing on the stream, where every later load would fail."""
    probe = state
    for offset, new in enumerate(decided):
        if new.stream not in (None, stream):
            continue
        event = Event(index=-1, seq=seq + offset + 1, type=new.type, event_id="", recorded_at=now,
                      facts=dict(new.facts))
        try:
            probe = aggregate.evolve(probe, event)
        except AssertionError as exc:
            raise InvalidTransition(f"{stream}: {exc}") from None


class Workflow:
    """Runs commands of any aggregate through the one writer (see the module docstring)."""

    def __init__(self, *, intake: IntakeService, opener: Opener, clock: Clock, cache_size: int = 5_000) -> None:
        self._intake = intake
        self._opener = opener
        self._clock = clock
        # Folded states by (aggregate, stream): a load reads only the entries after the cached position. States
        # are immutable and hold facts only (which no erasure changes), so sharing them is safe; another process
        # writing the same database is caught up by the same read.
        self._states: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._clock.now()

    def history(self, stream: str, *, after: int = 0) -> list[Event]:
        """The stream's recorded events (after position ``after``) with their facts: only the ledger's own
        (workflow streams are reserved to it at intake; this keeps a fold to what the rules decided even so)."""
        return [Event(index=row.idx, seq=row.seq, type=row.type, event_id=row.event_id,
                      recorded_at=parse_timestamp(row.recorded_at, field="recorded_at"), facts=facts)
                for row, facts in self._opener.stream(stream, after=after)
                if facts is not None and row.key_id == LEDGER_KEY_ID]

    def load(self, aggregate: Aggregate[S, Any], stream: str) -> tuple[S, int]:
        """The stream's state and last ``seq`` (0 for a new stream)."""
        key = (type(aggregate).__qualname__, stream)
        with self._lock:
            cached = self._states.get(key)
        seq, state = cached if cached is not None else (0, aggregate.initial())
        for event in self.history(stream, after=seq):
            state = aggregate.evolve(state, event)
            seq = event.seq
        self._remember(key, seq, state)
        return state, seq

    def _remember(self, key: tuple[str, str], seq: int, state: Any) -> None:
        if seq == 0 or self._cache_size == 0:
            return  # nothing recorded (an id asked for that does not exist): not worth a place
        with self._lock:
            held = self._states.get(key)
            if held is not None and held[0] > seq:
                return  # a newer state is cached already
            self._states[key] = (seq, state)
            self._states.move_to_end(key)
            while len(self._states) > self._cache_size:
                self._states.popitem(last=False)

    def record(self, stream: str, events: Sequence[NewEvent]) -> list[Receipt]:
        """Record events that follow no decision on an aggregate's state (a payment nobody can match, kept for
        review): signed by the ledger, all or none, at whatever position the stream is."""
        return self._intake.emit_all([Draft(type=new.type, stream=new.stream or stream,
                                            payload={**new.facts, **new.personal}, data_subject=LEDGER_SUBJECT,
                                            personal_subject=new.personal_subject) for new in events])

    def run(self, aggregate: Aggregate[S, C], stream: str, command: C, *,
            after: Callable[[S], None] | None = None, expected: Mapping[str, int] | None = None,
            fresh: bool = False, index: Sequence[tuple[bytes, str]] = ()) -> Outcome[S]:
        """Decide ``command`` on ``stream`` and record what it decides, all or none.

        ``expected`` names the positions of other streams the group writes (0: a new party's stream), so a
        concurrent writer of those makes the group fail too. ``index`` names the (fingerprint, party id) rows the
        group adds to the party index for the people it registers; ``IndexTaken`` if another command indexed one
        of them first (the caller resolves the people again).

        Raises what ``decide`` raises (``Refused``, ``ValidationFailed``, ...) with nothing recorded, and
        ``StreamMoved`` only if the stream kept moving through every attempt. ``after`` (optional) sees the state
        the decision was made on, before anything is recorded (to check who may ask). ``fresh`` says the stream
        was just named (a new random id): the first attempt decides on the empty state without reading it (the
        append at position 0 still fails if it exists).
        """
        last: StreamMoved | None = None
        for attempt in range(ATTEMPTS):
            if fresh and attempt == 0:
                state, seq = aggregate.initial(), 0
            else:
                state, seq = self.load(aggregate, stream)
            if after is not None:
                after(state)
            now = self._clock.now()
            decided = list(aggregate.decide(state, command, now))
            if not decided:
                return Outcome(events=[], receipts=[], state=state, seq=seq)
            _probe(aggregate, state, stream, seq, decided, now)
            drafts = [Draft(type=new.type, stream=new.stream or stream, payload={**new.facts, **new.personal},
                            data_subject=LEDGER_SUBJECT, personal_subject=new.personal_subject)
                      for new in decided]
            try:
                receipts = self._intake.emit_all(drafts, expected={**(expected or {}), stream: seq}, index=index)
            except StreamMoved as moved:
                if moved.stream != stream:
                    raise  # another stream the group writes moved (a party registered meanwhile): deciding
                    # again on this stream cannot help; the caller retries from the start
                last = moved
                continue
            events = [Event(index=receipt.index, seq=receipt.seq, type=new.type, event_id=receipt.event_id,
                            recorded_at=parse_timestamp(receipt.recorded_at, field="recorded_at"),
                            facts=dict(new.facts))
                      for new, receipt in zip(decided, receipts, strict=True) if receipt.stream == stream]
            for event in events:
                state = aggregate.evolve(state, event)
            final = events[-1].seq if events else seq
            self._remember((type(aggregate).__qualname__, stream), final, state)
            return Outcome(events=events, receipts=receipts, state=state, seq=final)
        assert last is not None
        raise last
