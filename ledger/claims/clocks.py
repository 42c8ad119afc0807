"""The service clocks of one claim: elapsed times, pauses and statutory deadlines, computed from its journal entries.

A claim's clocks are a pure function of the journal entries that move them (``Mark``: kind, ``recorded_at`` and
journal index), the business calendar, the clock rules and ``now``; nothing here reads a clock or a store, so the
same entries always give the same clocks and every figure names the entries it came from.

Definitions used throughout:

- **Business date** of a moment: ``calendar.date_of(moment)`` (the calendar's time zone, Asia/Shanghai by default).
- **Working days** between two moments: the number of working days ``d`` (``calendar.is_working_day``) with
  ``date_of(start) < d <= date_of(end)``. Work done the same business day is 0 working days; a claim complete
  Monday 10:00 and paid Monday 16:00 took 0 working days, paid Tuesday 1, paid the next Monday 5 (Saturday and
  Sunday are not working days). A start on a rest day counts from that day: complete Saturday, paid Monday is 1.
- **Pauses** (SPC-II art. 15): from a supplement notice (``requested``, its ``recorded_at`` standing for its
  reaching the claimant) recorded after the claim was complete to the next ``supplied`` entry, the time does not
  count against the decision. A pause ends early at a decision; one
  still open runs to ``now``. A second notice while a pause is open neither starts nor ends anything. Hours exclude
  the paused time exactly; working days exclude it by moving the end of the interval earlier by the paused time
  (as if the pauses had come last), so that the same figure can be recomputed from an interval's two moments and
  its paused seconds alone (``ledger.claims.kpis`` does exactly that); so a pause over a weekend can take
  working days off the count although the days it covered were rest days.
- **Deadlines** are business dates (``Deadline.due``): the last business date on which the act is on time. The
  act is on time if its business date is on or before ``due``; ``Deadline.closes_at`` is the first moment that is
  late (midnight after ``due`` in the calendar's zone). Statutory days are calendar days counted from the business
  date of the entry that starts them (the day of the event itself does not count), pushed later by the pauses'
  calendar days (``date_of(pause end) - date_of(pause start)``, summed) where the rule says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from ledger.clock import BusinessCalendar
from ledger.errors import ValidationFailed
from ledger.log.identifiers import utc_timestamp

MarkKind = Literal["reported", "complete", "requested", "supplied", "decided", "paid", "declined", "notice"]
MARK_KINDS: tuple[str, ...] = ("reported", "complete", "requested", "supplied", "decided", "paid", "declined",
                               "notice")
DeadlineState = Literal["met", "open", "due_soon", "breached"]
DECISIONS = ("decided", "declined")


@dataclass(frozen=True)
class ClockRules:
    """The clock numbers of ``products/claims/rules.toml`` (defaults: DOMAIN §1 and §6).

    ``due_rolls_to_working_day``: when the last day of a statutory period is not a working day, the period ends on
    the next working day (Civil Code art. 203); off by default, so deadlines are the plain calendar-day count.
    """

    decision_days: int = 5  # ordinary claims: contractual decision period (IL 23)
    complex_decision_days: int = 30  # complex claims: the statutory cap (IL 23)
    escalate_day: int = 20  # complex claims still undecided on this day go to a senior handler
    payment_days: int = 10  # pay within this many days of agreeing the amount (IL 23)
    decline_notice_days: int = 3  # written decline notice within this many days of the decision (IL 24)
    advance_days: int = 60  # pay the certain part if the amount is still open this many days after complete (IL 25)
    fast_track_working_days: int = 1  # fast-track target: paid within this many working days of complete
    due_soon_days: int = 1  # an open deadline this many working days away (or fewer) is "due_soon"
    due_rolls_to_working_day: bool = False

    def __post_init__(self) -> None:
        for name in ("decision_days", "complex_decision_days", "escalate_day", "payment_days", "decline_notice_days",
                     "advance_days", "fast_track_working_days", "due_soon_days"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValidationFailed(f"claim clock rule {name} must be a whole number >= 0, got {value!r}",
                                       field=name)


@dataclass(frozen=True)
class Mark:
    """One journal entry that moves a claim's clocks.

    ``kind``: ``reported`` | ``complete`` | ``requested`` (a supplement notice) | ``supplied`` | ``decided`` (an
    approval in whole or part: the amount is agreed) | ``paid`` | ``declined`` (a decline decision) | ``notice``
    (the decline letter sent). ``at`` is the entry's ``recorded_at`` (timezone-aware); ``index`` its journal index.
    """

    kind: str
    at: datetime
    index: int


@dataclass(frozen=True)
class Span:
    """The time between two entries: ``working_days`` and ``seconds`` with the pauses inside already taken out
    (``paused_seconds`` says how much was)."""

    from_index: int
    to_index: int
    from_at: datetime
    to_at: datetime
    working_days: int
    seconds: int
    paused_seconds: int = 0

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    def to_json(self) -> dict[str, Any]:
        return {"from_index": self.from_index, "to_index": self.to_index, "from": utc_timestamp(self.from_at),
                "to": utc_timestamp(self.to_at), "working_days": self.working_days, "seconds": self.seconds,
                "hours": round(self.hours, 2), "paused_seconds": self.paused_seconds}


@dataclass(frozen=True)
class Pause:
    """A pause of the decision clock: a supplement notice to the supplement (``to_index`` None: open, or cut short
    by the decision, then ``to_index`` is the decision's)."""

    from_index: int
    from_at: datetime
    to_index: int | None
    to_at: datetime  # the supplement, the decision that cut it short, or ``now`` while open
    days: int  # calendar days it pushes the decision deadline: date_of(to_at) - date_of(from_at)
    seconds: int

    @property
    def open(self) -> bool:
        return self.to_index is None

    def to_json(self) -> dict[str, Any]:
        return {"from_index": self.from_index, "from": utc_timestamp(self.from_at), "to_index": self.to_index,
                "to": utc_timestamp(self.to_at), "open": self.open, "days": self.days, "seconds": self.seconds}


@dataclass(frozen=True)
class Deadline:
    """One statutory or service deadline: its ``due`` business date, its ``state`` now, and the journal entries it
    was computed from (``evidence``: the start, any pauses, and the act that met it)."""

    name: str
    due: date
    closes_at: datetime  # the first late moment: midnight after ``due`` in the calendar's zone, in UTC
    state: DeadlineState
    evidence: tuple[int, ...]
    met_index: int | None = None
    met_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "due": self.due.isoformat(), "closes_at": utc_timestamp(self.closes_at),
                "state": self.state, "evidence": list(self.evidence), "met_index": self.met_index,
                "met_at": None if self.met_at is None else utc_timestamp(self.met_at)}


@dataclass(frozen=True)
class Clocks:
    """A claim's clocks at ``now``.

    Spans exist once both their entries are recorded: ``report_to_complete``; ``complete_to_decision`` (the first
    decision, approval or decline, after complete; pauses excluded); ``decision_to_paid`` (the first payment after
    an approval); ``complete_to_paid`` (the same payment, pauses excluded). ``deadlines`` holds those that apply:
    ``decision`` and ``advance`` once complete, ``escalation`` for complex claims, ``payment`` after an approval,
    ``decline_notice`` after a decline. ``decision`` and ``escalation`` are pushed by the pauses (SPC-II art. 15
    speaks of the decision period); ``advance`` is not. The escalation has no entry of its own: a decision by its
    day meets it, and ``breached`` means the claim passed the day undecided and belongs with a senior handler. The
    advance is met by any decision or payment by its day. ``fast_track_within_target``: paid within the fast-track
    working days of complete (pauses excluded); False once that is no longer possible; None while it still is, and
    when no payment is due (not complete, or declined).
    """

    now: datetime
    report_to_complete: Span | None
    complete_to_decision: Span | None
    decision_to_paid: Span | None
    complete_to_paid: Span | None
    pauses: tuple[Pause, ...]
    deadlines: Mapping[str, Deadline] = field(default_factory=dict)
    fast_track_within_target: bool | None = None

    @property
    def paused(self) -> bool:
        """True while a supplement notice is out and the decision clock stands still."""
        return any(pause.open for pause in self.pauses)

    @property
    def breached(self) -> tuple[str, ...]:
        """The names of the deadlines in state ``breached``."""
        return tuple(name for name, deadline in self.deadlines.items() if deadline.state == "breached")

    def to_json(self) -> dict[str, Any]:
        def span(value: Span | None) -> dict[str, Any] | None:
            return None if value is None else value.to_json()

        return {
            "now": utc_timestamp(self.now),
            "report_to_complete": span(self.report_to_complete),
            "complete_to_decision": span(self.complete_to_decision),
            "decision_to_paid": span(self.decision_to_paid),
            "complete_to_paid": span(self.complete_to_paid),
            "pauses": [pause.to_json() for pause in self.pauses],
            "paused": self.paused,
            "deadlines": {name: deadline.to_json() for name, deadline in self.deadlines.items()},
            "fast_track_within_target": self.fast_track_within_target,
        }


def working_days_between(calendar: BusinessCalendar, *, start: date, end: date) -> int:
    """The working days ``d`` with ``start < d <= end`` (0 when ``end <= start``)."""
    count, day = 0, start + timedelta(days=1)
    while day <= end:
        count += calendar.is_working_day(day)
        day += timedelta(days=1)
    return count


def clocks(marks: Sequence[Mark], *, calendar: BusinessCalendar, rules: ClockRules, complex: bool,
           now: datetime) -> Clocks:
    """The clocks of one claim at ``now`` from the entries that move them (see the module docstring).

    Requires timezone-aware ``now`` and ``Mark.at`` values, known kinds and distinct journal indices; the marks
    may come in any order (they are taken in journal order). Raises ``ValidationFailed`` naming the mark otherwise.
    Where a kind repeats, the first counts: the clock starts at the first ``complete`` (SPC-II art. 15), the first
    decision after it ends it, the first payment after an approval pays it.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationFailed("now must be timezone-aware", field="now")
    ordered = _checked(marks)
    reported = _first(ordered, ("reported",))
    complete = _first(ordered, ("complete",))
    decision = _first(ordered, DECISIONS, after=complete)
    paid = _first(ordered, ("paid",), after=decision) if decision is not None and decision.kind == "decided" else None
    # the decline letter may be the decline itself (its reasons and clause written to the customer as it is made)
    notice = _first(ordered, ("notice",), after=decision, inclusive=True) \
        if decision is not None and decision.kind == "declined" else None
    pauses = _pauses(ordered, complete=complete, decision=decision, now=now, calendar=calendar)
    paused_seconds = sum(pause.seconds for pause in pauses)
    paused_days = sum(pause.days for pause in pauses)
    today = calendar.date_of(now)

    def span(start: Mark | None, end: Mark | None, paused: int = 0) -> Span | None:
        if start is None or end is None:
            return None
        return _span(calendar, start, end, paused)

    to_paid = span(complete, paid, paused_seconds)
    deadlines: dict[str, Deadline] = {}

    def add(name: str, *, start: Mark, days: int, met: Mark | None, pushed: bool = False) -> None:
        pause_ids = tuple(index for pause in pauses
                          for index in (pause.from_index, pause.to_index) if index is not None) if pushed else ()
        due = calendar.date_of(start.at) + timedelta(days=days + (paused_days if pushed else 0))
        if rules.due_rolls_to_working_day:
            due = calendar.add_working_days(due, 0)
        evidence = tuple(sorted({start.index, *pause_ids, *(() if met is None else (met.index,))}))
        deadlines[name] = Deadline(name=name, due=due, closes_at=calendar.start_of(due + timedelta(days=1)),
                                   state=_state(calendar, due=due, met=met, today=today, soon=rules.due_soon_days),
                                   evidence=evidence, met_index=None if met is None else met.index,
                                   met_at=None if met is None else met.at)

    if complete is not None:
        add("decision", start=complete, days=rules.complex_decision_days if complex else rules.decision_days,
            met=decision, pushed=True)
        if complex:
            add("escalation", start=complete, days=rules.escalate_day, met=decision, pushed=True)
        add("advance", start=complete, days=rules.advance_days,
            met=_first(ordered, ("decided", "declined", "paid"), after=complete))
    if decision is not None and decision.kind == "decided":
        add("payment", start=decision, days=rules.payment_days, met=paid)
    if decision is not None and decision.kind == "declined":
        add("decline_notice", start=decision, days=rules.decline_notice_days, met=notice)

    fast: bool | None = None
    if to_paid is not None:
        fast = to_paid.working_days <= rules.fast_track_working_days
    elif complete is not None and (decision is None or decision.kind == "decided"):
        running = now - timedelta(seconds=paused_seconds)
        if working_days_between(calendar, start=calendar.date_of(complete.at),
                                end=calendar.date_of(running)) > rules.fast_track_working_days:
            fast = False
    return Clocks(now=now.astimezone(UTC), report_to_complete=span(reported, complete),
                  complete_to_decision=span(complete, decision, paused_seconds),
                  decision_to_paid=span(decision, paid), complete_to_paid=to_paid, pauses=pauses,
                  deadlines=deadlines, fast_track_within_target=fast)


def _checked(marks: Sequence[Mark]) -> list[Mark]:
    seen: set[int] = set()
    for position, mark in enumerate(marks):
        where = f"marks[{position}]"
        if mark.kind not in MARK_KINDS:
            raise ValidationFailed(f"{where}.kind {mark.kind!r} is not one of {', '.join(MARK_KINDS)}",
                                   field=f"{where}.kind")
        if mark.at.tzinfo is None or mark.at.utcoffset() is None:
            raise ValidationFailed(f"{where}.at {mark.at.isoformat()} must be timezone-aware", field=f"{where}.at")
        if type(mark.index) is not int or mark.index < 0:
            raise ValidationFailed(f"{where}.index must be a journal index >= 0, got {mark.index!r}",
                                   field=f"{where}.index")
        if mark.index in seen and not (mark.kind == "notice" and _declined_at(marks, mark.index)):
            raise ValidationFailed(f"{where}.index {mark.index} appears twice", field=f"{where}.index")
        seen.add(mark.index)
    return sorted(marks, key=lambda mark: (mark.index, mark.kind == "notice"))


def _declined_at(marks: Sequence[Mark], index: int) -> bool:
    """Whether a decline is recorded at ``index`` (its notice may share the entry: the decline is the letter)."""
    return any(mark.kind == "declined" and mark.index == index for mark in marks)


def _first(ordered: list[Mark], kinds: tuple[str, ...], *, after: Mark | None = None,
           inclusive: bool = False) -> Mark | None:
    floor = -1 if after is None else after.index - int(inclusive)
    return next((mark for mark in ordered if mark.kind in kinds and mark.index > floor), None)


def _pauses(ordered: list[Mark], *, complete: Mark | None, decision: Mark | None, now: datetime,
            calendar: BusinessCalendar) -> tuple[Pause, ...]:
    if complete is None:
        return ()
    ceiling = decision.index if decision is not None else None
    pauses: list[Pause] = []
    opened: Mark | None = None

    def close(start: Mark, end_at: datetime, end_index: int | None) -> None:
        end_at = max(end_at, start.at)
        pauses.append(Pause(from_index=start.index, from_at=start.at.astimezone(UTC), to_index=end_index,
                            to_at=end_at.astimezone(UTC),
                            days=(calendar.date_of(end_at) - calendar.date_of(start.at)).days,
                            seconds=int((end_at - start.at).total_seconds())))

    for mark in ordered:
        if mark.index <= complete.index:
            continue
        if ceiling is not None and mark.index >= ceiling:
            break
        if mark.kind == "requested" and opened is None:
            opened = mark
        elif mark.kind == "supplied" and opened is not None:
            close(opened, mark.at, mark.index)
            opened = None
    if opened is not None:
        if decision is not None:
            close(opened, decision.at, decision.index)
        else:
            close(opened, now, None)
    return tuple(pauses)


def _span(calendar: BusinessCalendar, start: Mark, end: Mark, paused_seconds: int) -> Span:
    elapsed = max(int((end.at - start.at).total_seconds()) - paused_seconds, 0)
    counted_end = max(end.at - timedelta(seconds=paused_seconds), start.at)
    return Span(from_index=start.index, to_index=end.index, from_at=start.at.astimezone(UTC),
                to_at=end.at.astimezone(UTC),
                working_days=working_days_between(calendar, start=calendar.date_of(start.at),
                                                  end=calendar.date_of(counted_end)),
                seconds=elapsed, paused_seconds=paused_seconds)


def _state(calendar: BusinessCalendar, *, due: date, met: Mark | None, today: date, soon: int) -> DeadlineState:
    if met is not None:
        return "met" if calendar.date_of(met.at) <= due else "breached"
    if today > due:
        return "breached"
    if working_days_between(calendar, start=today, end=due) <= soon:
        return "due_soon"
    return "open"
