"""The one command path on a real ledger: load, fold, decide, append all or none at the position seen; a stream
moved by someone else between the load and the append is loaded and decided again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pytest

from ledger.app import Ledger
from ledger.errors import Refused, StreamMoved
from ledger.kernel import Event, NewEvent
from ledger.services.intake import Draft
from ledger.workflow import ATTEMPTS

STREAM = "counter:c1"


@dataclass(frozen=True)
class Count:
    total: int = 0
    events: int = 0


class Counter:
    """Adds ``n`` to a counter, refusing to pass 10; ``interfere`` appends behind its back while it decides."""

    def __init__(self, ledger: Ledger, *, interfere: int = 0) -> None:
        self.ledger = ledger
        self.interfere = interfere
        self.decisions = 0

    def initial(self) -> Count:
        return Count()

    def evolve(self, state: Count, event: Event) -> Count:
        return Count(state.total + int(event.facts["n"]), state.events + 1)

    def decide(self, state: Count, command: int, now: datetime) -> Sequence[NewEvent]:
        self.decisions += 1
        if self.interfere:
            self.interfere -= 1
            self.ledger.intake.emit(Draft("counter.added", STREAM, {"n": 1}))
        if state.total + command > 10:
            raise Refused("the counter would pass 10 (rule COUNTER-MAX)", rule="COUNTER-MAX", zh="计数不能超过十")
        return [NewEvent("counter.added", {"n": command}), NewEvent("counter.added", {"n": 0})]


def test_a_group_lands_at_consecutive_positions_and_folds(ledger: Ledger) -> None:
    outcome = ledger.workflow.run(Counter(ledger), STREAM, 3)
    assert [r.seq for r in outcome.receipts] == [1, 2]
    assert outcome.state == Count(3, 2) and outcome.seq == 2
    assert ledger.workflow.load(Counter(ledger), STREAM) == (Count(3, 2), 2)


def test_a_moved_stream_is_decided_again_on_what_it_holds_now(ledger: Ledger) -> None:
    rules = Counter(ledger, interfere=1)
    outcome = ledger.workflow.run(rules, STREAM, 4)
    assert rules.decisions == 2
    assert outcome.state == Count(5, 3)
    assert [e.seq for e in outcome.events] == [2, 3]


def test_refusals_record_nothing_and_a_stream_that_never_settles_gives_up(ledger: Ledger) -> None:
    with pytest.raises(Refused) as refused:
        ledger.workflow.run(Counter(ledger), STREAM, 11)
    assert refused.value.rule == "COUNTER-MAX"
    assert ledger.workflow.history(STREAM) == []
    busy = Counter(ledger, interfere=ATTEMPTS)
    with pytest.raises(StreamMoved) as moved:
        ledger.workflow.run(busy, STREAM, 1)
    assert moved.value.stream == STREAM and moved.value.actual == moved.value.expected + 1
    assert busy.decisions == ATTEMPTS
    assert all(e.facts == {"n": 1} for e in ledger.workflow.history(STREAM))  # only the interfering appends


def test_a_moved_side_stream_fails_at_once(ledger: Ledger) -> None:
    ledger.intake.emit(Draft("counter.added", "counter:side", {"n": 1}))  # the side stream is at 1, not 0
    rules = Counter(ledger)
    with pytest.raises(StreamMoved) as moved:
        ledger.workflow.run(rules, STREAM, 1, expected={"counter:side": 0})
    assert moved.value.stream == "counter:side" and rules.decisions == 1


def test_a_fresh_stream_that_exists_after_all_is_read_and_decided_again(ledger: Ledger) -> None:
    ledger.workflow.run(Counter(ledger), STREAM, 9)  # the stream holds 9 already
    rules = Counter(ledger)
    with pytest.raises(Refused) as refused:  # the second decision sees the 9 and refuses 9 + 2
        ledger.workflow.run(rules, STREAM, 2, fresh=True)
    assert refused.value.rule == "COUNTER-MAX" and rules.decisions == 2
    fresh = ledger.workflow.run(Counter(ledger), "counter:new", 2, fresh=True)
    assert fresh.state == Count(2, 2) and [r.seq for r in fresh.receipts] == [1, 2]
