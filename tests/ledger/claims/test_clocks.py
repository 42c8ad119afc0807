"""Claim clocks: working days across weekends, National Day 2026 and time zones, SPC-II 15 pauses, and every
deadline met, open, due soon and breached, with the journal entries each one names."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ledger.claims.clocks import ClockRules, Clocks, Mark, clocks, working_days_between
from ledger.clock import BusinessCalendar
from ledger.errors import ValidationFailed

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = ClockRules()


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


def sh(month: int, day: int, hour: int = 10, minute: int = 0, *, year: int = 2026) -> datetime:
    """A Shanghai wall-clock time as the UTC moment the journal records."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def run(calendar: BusinessCalendar, marks: list[tuple[str, datetime]], *, now: datetime, complex: bool = False,
        rules: ClockRules = RULES) -> Clocks:
    """Marks get journal indices 100, 101, ... in the order given."""
    entries = [Mark(kind=kind, at=at, index=100 + offset) for offset, (kind, at) in enumerate(marks)]
    return clocks(entries, calendar=calendar, rules=rules, complex=complex, now=now)


def test_the_2026_national_day_calendar_is_what_the_tests_assume(calendar: BusinessCalendar) -> None:
    # Oct 1-7 off (Sat 3 and Sun 4 included), Thu 8 and Fri 9 back at work, Sat 10 an adjusted working day (调休),
    # Sun 11 off; Fri Sep 25 is Mid-Autumn, Sun Sep 20 an adjusted working day.
    working = {day: calendar.is_working_day(date(2026, 10, day)) for day in range(1, 13)}
    assert working == {1: False, 2: False, 3: False, 4: False, 5: False, 6: False, 7: False, 8: True, 9: True,
                       10: True, 11: False, 12: True}
    assert not calendar.is_working_day(date(2026, 9, 25))
    assert calendar.is_working_day(date(2026, 9, 20))


@pytest.mark.parametrize(("start", "end", "expected"), [
    (date(2026, 12, 7), date(2026, 12, 7), 0),  # Monday to Monday
    (date(2026, 12, 7), date(2026, 12, 8), 1),  # Monday to Tuesday
    (date(2026, 12, 11), date(2026, 12, 14), 1),  # Friday to Monday: the weekend does not count
    (date(2026, 12, 12), date(2026, 12, 14), 1),  # Saturday to Monday
    (date(2026, 12, 11), date(2026, 12, 13), 0),  # Friday to Sunday
    (date(2026, 12, 7), date(2026, 12, 14), 5),  # a week
    (date(2026, 9, 30), date(2026, 10, 8), 1),  # across National Day: only Thu Oct 8
    (date(2026, 9, 30), date(2026, 10, 10), 3),  # Oct 8, 9 and the adjusted Saturday Oct 10
    (date(2026, 9, 30), date(2026, 10, 12), 4),  # Sunday Oct 11 is off
    (date(2026, 9, 24), date(2026, 9, 28), 1),  # Mid-Autumn Friday Sep 25, the weekend, then Monday
    (date(2026, 12, 8), date(2026, 12, 7), 0),  # backwards: nothing elapsed
])
def test_working_days_between(calendar: BusinessCalendar, start: date, end: date, expected: int) -> None:
    assert working_days_between(calendar, start=start, end=end) == expected


def test_spans_count_working_days_between_business_dates(calendar: BusinessCalendar) -> None:
    same_day = run(calendar, [("complete", sh(12, 7, 10)), ("decided", sh(12, 7, 12)), ("paid", sh(12, 7, 16))],
                   now=sh(12, 20))
    assert same_day.complete_to_paid is not None
    assert (same_day.complete_to_paid.working_days, same_day.complete_to_paid.hours) == (0, 6.0)
    next_day = run(calendar, [("complete", sh(12, 7, 10)), ("decided", sh(12, 7, 12)), ("paid", sh(12, 8, 9))],
                   now=sh(12, 20))
    assert next_day.complete_to_paid is not None
    assert (next_day.complete_to_paid.working_days, next_day.complete_to_paid.hours) == (1, 23.0)
    holiday = run(calendar, [("reported", sh(9, 29, 9)), ("complete", sh(9, 30, 10)), ("decided", sh(10, 8, 10)),
                             ("paid", sh(10, 10, 11))], now=sh(10, 20))
    assert holiday.report_to_complete is not None and holiday.complete_to_decision is not None
    assert holiday.decision_to_paid is not None and holiday.complete_to_paid is not None
    assert (holiday.report_to_complete.working_days, holiday.report_to_complete.hours) == (1, 25.0)
    assert (holiday.complete_to_decision.working_days, holiday.complete_to_decision.hours) == (1, 8 * 24.0)
    assert (holiday.decision_to_paid.working_days, holiday.decision_to_paid.hours) == (2, 49.0)
    assert holiday.complete_to_paid.working_days == 3
    assert (holiday.complete_to_decision.from_index, holiday.complete_to_decision.to_index) == (101, 102)


def test_business_dates_are_taken_in_the_calendar_zone_not_utc(calendar: BusinessCalendar) -> None:
    # 17:30 UTC on Dec 7 is already Tuesday Dec 8, 01:30 in Shanghai; paid at 10:00 the same Shanghai day.
    complete, paid = datetime(2026, 12, 7, 17, 30, tzinfo=UTC), datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
    result = run(calendar, [("complete", complete), ("decided", complete + timedelta(minutes=30)), ("paid", paid)],
                 now=paid)
    assert result.complete_to_paid is not None
    assert result.complete_to_paid.working_days == 0  # a UTC-date count would say 1
    assert result.deadlines["decision"].due == date(2026, 12, 13)  # Dec 8 + 5, not Dec 7 + 5
    assert result.fast_track_within_target is True


def test_a_supplement_pause_is_excluded_from_the_decision_clock(calendar: BusinessCalendar) -> None:
    result = run(calendar, [
        ("reported", sh(12, 4, 9)),
        ("requested", sh(12, 4, 12)),  # before complete: asking for documents, not a pause
        ("complete", sh(12, 7, 9)),  # Monday
        ("requested", sh(12, 7, 11)),  # index 103: the pause starts
        ("requested", sh(12, 8, 11)),  # a second notice while paused changes nothing
        ("supplied", sh(12, 9, 11)),  # Wednesday: 48 hours paused
        ("decided", sh(12, 9, 15)),
        ("paid", sh(12, 9, 16)),
        ("requested", sh(12, 10, 9)),  # after the decision: no pause of the decision clock
        ("supplied", sh(12, 11, 9)),
    ], now=sh(12, 20))
    assert len(result.pauses) == 1
    pause = result.pauses[0]
    assert (pause.from_index, pause.to_index, pause.days, pause.seconds) == (103, 105, 2, 48 * 3600)
    decision = result.complete_to_decision
    assert decision is not None
    assert (decision.hours, decision.paused_seconds) == (6.0, 48 * 3600)  # 54 h elapsed less 48 h paused
    assert decision.working_days == 0  # Monday to Wednesday would be 2 without the pause
    assert result.complete_to_paid is not None and result.complete_to_paid.working_days == 0
    assert result.fast_track_within_target is True
    deadline = result.deadlines["decision"]
    assert deadline.due == date(2026, 12, 14)  # Dec 7 + 5 days + 2 paused days
    assert deadline.state == "met"
    assert deadline.evidence == (102, 103, 105, 106)  # complete, the pause's two ends, the decision
    assert not result.paused


def test_the_same_claim_without_the_pause_takes_longer(calendar: BusinessCalendar) -> None:
    result = run(calendar, [("complete", sh(12, 7, 9)), ("decided", sh(12, 9, 15)), ("paid", sh(12, 9, 16))],
                 now=sh(12, 20))
    assert result.complete_to_decision is not None
    assert (result.complete_to_decision.working_days, result.complete_to_decision.hours) == (2, 54.0)
    assert result.deadlines["decision"].due == date(2026, 12, 12)
    assert result.fast_track_within_target is False


def test_an_open_pause_holds_the_decision_deadline_back(calendar: BusinessCalendar) -> None:
    marks = [("complete", sh(12, 1, 10)), ("requested", sh(12, 2, 10))]
    result = run(calendar, marks, now=sh(12, 20, 9))  # Sunday; the notice has been out 18 days
    assert result.paused
    assert result.pauses[0].open and result.pauses[0].days == 18
    decision = result.deadlines["decision"]
    assert decision.due == date(2026, 12, 24)  # Dec 6 without the pause
    assert decision.state == "open"  # Dec 21-24: four working days left
    assert decision.evidence == (100, 101)
    unpaused = run(calendar, marks[:1], now=sh(12, 20, 9))
    assert unpaused.deadlines["decision"].state == "breached"


def test_a_decision_cuts_an_open_pause_short(calendar: BusinessCalendar) -> None:
    result = run(calendar, [("complete", sh(12, 1, 10)), ("requested", sh(12, 2, 10)), ("declined", sh(12, 3, 10))],
                 now=sh(12, 20))
    assert [(pause.to_index, pause.days, pause.seconds) for pause in result.pauses] == [(102, 1, 86400)]
    assert result.complete_to_decision is not None and result.complete_to_decision.hours == 24.0


@pytest.mark.parametrize(("now", "state"), [
    (sh(12, 8), "open"),  # Tue: Dec 9, 10, 11 still ahead of the Saturday due date
    (sh(12, 9), "open"),  # Wed: two working days (Thu, Fri) until Sat Dec 12
    (sh(12, 10), "due_soon"),  # Thu: one working day left
    (sh(12, 11, 23, 59), "due_soon"),
    (sh(12, 12, 23, 59), "due_soon"),  # the due date itself
    (sh(12, 13, 0, 0), "breached"),  # passed while open
])
def test_an_undecided_claim_moves_from_open_to_due_soon_to_breached(calendar: BusinessCalendar, now: datetime,
                                                                    state: str) -> None:
    result = run(calendar, [("complete", sh(12, 7, 10))], now=now)
    deadline = result.deadlines["decision"]
    assert (deadline.due, deadline.state, deadline.met_index) == (date(2026, 12, 12), state, None)
    assert deadline.closes_at == datetime(2026, 12, 12, 16, 0, tzinfo=UTC)  # Dec 13 00:00 Shanghai


def test_due_soon_days_widens_the_warning(calendar: BusinessCalendar) -> None:
    result = run(calendar, [("complete", sh(12, 7, 10))], now=sh(12, 9), rules=ClockRules(due_soon_days=2))
    assert result.deadlines["decision"].state == "due_soon"


@pytest.mark.parametrize(("decided", "state"), [
    (sh(12, 11, 17), "met"),
    (sh(12, 12, 23, 59), "met"),  # the last minute of the due date
    (sh(12, 13, 0, 1), "breached"),  # met late
])
def test_a_decision_meets_or_breaches_its_deadline(calendar: BusinessCalendar, decided: datetime,
                                                   state: str) -> None:
    result = run(calendar, [("complete", sh(12, 7, 10)), ("decided", decided)], now=sh(12, 30))
    deadline = result.deadlines["decision"]
    assert (deadline.state, deadline.met_index, deadline.evidence) == (state, 101, (100, 101))
    assert ("decision" in result.breached) is (state == "breached")


def test_the_statutory_deadline_runs_through_national_day(calendar: BusinessCalendar) -> None:
    # Complete Mon Sep 28: 5 calendar days is Sat Oct 3, in the middle of the holiday; decided Thu Oct 8.
    marks = [("complete", sh(9, 28, 10)), ("decided", sh(10, 8, 10))]
    plain = run(calendar, marks, now=sh(10, 9))
    assert plain.deadlines["decision"].due == date(2026, 10, 3)
    assert plain.deadlines["decision"].state == "breached"
    assert plain.breached == ("decision",)
    # Under the Civil Code's rule a period ending on a rest day ends on the next working day: Thu Oct 8.
    rolled = run(calendar, marks, now=sh(10, 9), rules=ClockRules(due_rolls_to_working_day=True))
    assert rolled.deadlines["decision"].due == date(2026, 10, 8)
    assert rolled.deadlines["decision"].state == "met"


def test_complex_claims_get_thirty_days_and_escalate_on_day_twenty(calendar: BusinessCalendar) -> None:
    complete = [("complete", sh(11, 2, 10))]
    on_day_21 = run(calendar, complete, now=sh(11, 23), complex=True)
    assert on_day_21.deadlines["decision"].due == date(2026, 12, 2)
    assert on_day_21.deadlines["decision"].state == "open"
    assert on_day_21.deadlines["escalation"].due == date(2026, 11, 22)
    assert on_day_21.deadlines["escalation"].state == "breached"  # undecided past day 20: escalate
    on_day_19 = run(calendar, complete, now=sh(11, 21), complex=True)
    assert on_day_19.deadlines["escalation"].state == "due_soon"  # Sat; due Sun: no working day in between
    decided_early = run(calendar, [*complete, ("decided", sh(11, 20))], now=sh(11, 23), complex=True)
    assert decided_early.deadlines["escalation"].state == "met"
    assert decided_early.deadlines["escalation"].evidence == (100, 101)
    ordinary = run(calendar, complete, now=sh(11, 3))
    assert "escalation" not in ordinary.deadlines
    assert ordinary.deadlines["decision"].due == date(2026, 11, 7)


@pytest.mark.parametrize(("paid", "now", "state"), [
    (sh(12, 11, 23, 59), sh(12, 20), "met"),  # decided Tue Dec 1: due Fri Dec 11
    (sh(12, 12, 0, 0), sh(12, 20), "breached"),
    (None, sh(12, 4), "open"),
    (None, sh(12, 10), "due_soon"),
    (None, sh(12, 12), "breached"),
])
def test_payment_is_due_ten_days_after_the_decision(calendar: BusinessCalendar, paid: datetime | None,
                                                    now: datetime, state: str) -> None:
    marks = [("complete", sh(12, 1, 9)), ("decided", sh(12, 1, 10))] + ([("paid", paid)] if paid else [])
    result = run(calendar, marks, now=now)
    payment = result.deadlines["payment"]
    assert (payment.due, payment.state) == (date(2026, 12, 11), state)
    assert payment.evidence == ((101, 102) if paid else (101,))
    assert "decline_notice" not in result.deadlines


@pytest.mark.parametrize(("notice", "now", "state"), [
    (sh(12, 10, 18), sh(12, 20), "met"),  # declined Mon Dec 7: letter due Thu Dec 10
    (sh(12, 11, 9), sh(12, 20), "breached"),
    (None, sh(12, 8), "open"),  # Dec 9 and 10 ahead
    (None, sh(12, 9), "due_soon"),
    (None, sh(12, 11), "breached"),
])
def test_a_decline_letter_is_due_three_days_after_the_decline(calendar: BusinessCalendar,
                                                              notice: datetime | None, now: datetime,
                                                              state: str) -> None:
    marks = [("complete", sh(12, 7, 9)), ("declined", sh(12, 7, 15))] + ([("notice", notice)] if notice else [])
    result = run(calendar, marks, now=now)
    letter = result.deadlines["decline_notice"]
    assert (letter.due, letter.state) == (date(2026, 12, 10), state)
    assert "payment" not in result.deadlines
    assert result.fast_track_within_target is None  # nothing to pay


def test_the_advance_payment_deadline_at_sixty_days(calendar: BusinessCalendar) -> None:
    complete = [("complete", sh(9, 1, 10))]
    open_past = run(calendar, complete, now=sh(11, 2), complex=True)
    advance = open_past.deadlines["advance"]
    assert (advance.due, advance.state) == (date(2026, 10, 31), "breached")
    decided = run(calendar, [*complete, ("decided", sh(9, 30))], now=sh(11, 2), complex=True)
    assert decided.deadlines["advance"].state == "met"
    paid_ahead = run(calendar, [*complete, ("paid", sh(10, 30)), ("decided", sh(11, 20))], now=sh(11, 25),
                     complex=True)
    assert paid_ahead.deadlines["advance"].state == "met"
    assert paid_ahead.deadlines["advance"].met_index == 101  # the advance payment, not the later decision
    assert paid_ahead.decision_to_paid is None  # the advance is not the payment of the decision
    assert run(calendar, complete, now=sh(10, 30), complex=True).deadlines["advance"].state == "due_soon"
    assert run(calendar, complete, now=sh(10, 1), complex=True).deadlines["advance"].state == "open"


@pytest.mark.parametrize(("marks", "now", "expected"), [
    ([("complete", sh(12, 7, 10)), ("decided", sh(12, 7, 11)), ("paid", sh(12, 8, 17))], sh(12, 20), True),
    ([("complete", sh(12, 7, 10)), ("decided", sh(12, 7, 11)), ("paid", sh(12, 9, 9))], sh(12, 20), False),
    ([("complete", sh(12, 11, 16)), ("decided", sh(12, 11, 17)), ("paid", sh(12, 14, 9))], sh(12, 20), True),
    ([("complete", sh(12, 7, 10))], sh(12, 8, 18), None),  # unpaid, still within the day
    ([("complete", sh(12, 7, 10))], sh(12, 9, 9), False),  # unpaid and already too late
    ([("reported", sh(12, 7, 10))], sh(12, 30), None),  # not complete
])
def test_fast_track_target(calendar: BusinessCalendar, marks: list[tuple[str, datetime]], now: datetime,
                           expected: bool | None) -> None:
    assert run(calendar, marks, now=now).fast_track_within_target is expected


def test_marks_are_taken_in_journal_order_and_the_first_of_a_kind_counts(calendar: BusinessCalendar) -> None:
    marks = [Mark("paid", sh(12, 8, 10), 7), Mark("complete", sh(12, 7, 10), 3), Mark("decided", sh(12, 7, 12), 5),
             Mark("complete", sh(12, 7, 11), 4), Mark("decided", sh(12, 9, 9), 9)]
    result = clocks(marks, calendar=calendar, rules=RULES, complex=False, now=sh(12, 20))
    assert result.complete_to_decision is not None and result.decision_to_paid is not None
    assert (result.complete_to_decision.from_index, result.complete_to_decision.to_index) == (3, 5)
    assert (result.decision_to_paid.from_index, result.decision_to_paid.to_index) == (5, 7)
    assert result.report_to_complete is None


def test_to_json(calendar: BusinessCalendar) -> None:
    result = run(calendar, [("reported", sh(12, 7, 9)), ("complete", sh(12, 7, 10)), ("requested", sh(12, 7, 11))],
                 now=sh(12, 8, 10))
    out = result.to_json()
    assert out["now"] == "2026-12-08T02:00:00.000000Z"
    assert out["paused"] is True
    assert out["complete_to_decision"] is None
    assert out["report_to_complete"] == {"from_index": 100, "to_index": 101, "from": "2026-12-07T01:00:00.000000Z",
                                         "to": "2026-12-07T02:00:00.000000Z", "working_days": 0, "seconds": 3600,
                                         "hours": 1.0, "paused_seconds": 0}
    assert out["pauses"] == [{"from_index": 102, "from": "2026-12-07T03:00:00.000000Z", "to_index": None,
                              "to": "2026-12-08T02:00:00.000000Z", "open": True, "days": 1, "seconds": 23 * 3600}]
    assert out["deadlines"]["decision"] == {"name": "decision", "due": "2026-12-13",
                                            "closes_at": "2026-12-13T16:00:00.000000Z", "state": "open",
                                            "evidence": [101, 102], "met_index": None, "met_at": None}
    assert set(out["deadlines"]) == {"decision", "advance"}
    assert out["fast_track_within_target"] is None


@pytest.mark.parametrize(("mark", "field"), [
    (Mark("approved", sh(12, 7), 1), "marks[0].kind"),
    (Mark("complete", datetime(2026, 12, 7, 10), 1), "marks[0].at"),
    (Mark("complete", sh(12, 7), -1), "marks[0].index"),
])
def test_malformed_marks_are_refused(calendar: BusinessCalendar, mark: Mark, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        clocks([mark], calendar=calendar, rules=RULES, complex=False, now=sh(12, 8))
    assert caught.value.field == field


def test_duplicate_indices_and_a_naive_now_are_refused(calendar: BusinessCalendar) -> None:
    with pytest.raises(ValidationFailed) as caught:
        clocks([Mark("complete", sh(12, 7), 4), Mark("decided", sh(12, 8), 4)], calendar=calendar, rules=RULES,
               complex=False, now=sh(12, 9))
    assert caught.value.field == "marks[1].index"
    with pytest.raises(ValidationFailed) as caught:
        clocks([], calendar=calendar, rules=RULES, complex=False, now=datetime(2026, 12, 9))
    assert caught.value.field == "now"


def test_rules_refuse_negative_days() -> None:
    with pytest.raises(ValidationFailed) as caught:
        ClockRules(payment_days=-1)
    assert caught.value.field == "payment_days"


def test_a_decline_written_with_its_reasons_is_its_own_letter(calendar: BusinessCalendar) -> None:
    declined = sh(12, 7, 15)
    marks = [Mark(kind="complete", at=sh(12, 7, 9), index=101), Mark(kind="declined", at=declined, index=102),
             Mark(kind="notice", at=declined, index=102)]
    result = clocks(marks, calendar=calendar, rules=ClockRules(), complex=False, now=sh(12, 20))
    letter = result.deadlines["decline_notice"]
    assert (letter.state, letter.met_index) == ("met", 102)
    # only a decline's notice may share its entry
    with pytest.raises(ValidationFailed, match="appears twice"):
        clocks([marks[0], Mark(kind="decided", at=declined, index=102), Mark(kind="notice", at=declined, index=102)],
               calendar=calendar, rules=ClockRules(), complex=False, now=sh(12, 20))
