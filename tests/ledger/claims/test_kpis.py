"""Claims KPIs: every figure on a small hand-built month, the period's edges in the calendar's zone, agreement with
the claim clocks, the evidence digests, 100,000 rows of a hand-checkable pattern, and malformed rows; the column
form (the read model's tuples, moments as epoch microseconds) gives the same figures, with business dates exact
where a zone's offset changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ledger.claims.clocks import ClockRules, Mark, clocks
from ledger.claims.kpis import ENTRIES_INLINE, KPI_COLUMNS, epoch_micros, kpis, kpis_of_columns, moment_range
from ledger.clock import BusinessCalendar
from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = ClockRules()
DECEMBER = {"start": date(2026, 12, 1), "end": date(2026, 12, 31)}


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


def sh(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(claim_id: str, base: int, *, claim_type: str = "medical", track: str | None = "fast",
        status: str = "paid", outcome: str | None = "approve", automatic: int = 0,
        reported: datetime | None = None, complete: datetime | None = None, decided: datetime | None = None,
        paid: datetime | None = None, paused: int = 0, flags: int = 0, confirmed: int = 0, reopened: int = 0,
        due: str | None = None) -> dict[str, Any]:
    """A claims read-model row; its entries are base (reported), base+1 (complete), +2 (decided), +3 (paid)."""
    reported = reported or (complete - timedelta(hours=1) if complete else None)
    return {"claim_id": claim_id, "claim_type": claim_type, "track": track, "status": status, "outcome": outcome,
            "automatic": automatic, "reported_at": text(reported), "reported_idx": base,
            "complete_at": text(complete), "complete_idx": base + 1 if complete else None,
            "decided_at": text(decided), "decided_idx": base + 2 if decided else None,
            "paid_at": text(paid), "paid_idx": base + 3 if paid else None, "paused_seconds": paused,
            "flags": flags, "flags_confirmed": confirmed, "reopened": reopened, "decision_due": due}


def december() -> list[dict[str, Any]]:
    return [
        # paid the same day: 6 h, 0 working days
        row("C1", 10, automatic=1, complete=sh(12, 1, 10), decided=sh(12, 1, 12), paid=sh(12, 1, 16),
            due="2026-12-06"),
        # Friday 15:00 to Monday 10:00: 67 h, 1 working day; its due is the first late moment (Dec 10 00:00 SH)
        row("C2", 20, automatic=1, complete=sh(12, 4, 15), decided=sh(12, 4, 16), paid=sh(12, 7, 10),
            due="2026-12-09T16:00:00Z"),
        # 52 h elapsed of which 48 h paused for a supplement: 4 h, 0 working days (2 without the pause)
        row("C3", 30, outcome="partial", complete=sh(12, 8, 10), decided=sh(12, 10, 12), paid=sh(12, 10, 14),
            paused=48 * 3600, flags=1, due="2026-12-15"),
        # Monday to Wednesday: 49 h, 2 working days: misses the fast-track target; reopened and decided again
        row("C4", 40, complete=sh(12, 14, 10), decided=sh(12, 16, 10), paid=sh(12, 16, 11), reopened=1,
            due="2026-12-19"),
        # complex: 504 h, 15 working days
        row("C5", 50, claim_type="critical_illness", track="major", complete=sh(12, 1, 10),
            decided=sh(12, 20, 10), paid=sh(12, 22, 10), flags=2, confirmed=1, due="2026-12-31"),
        # declined two days after its decision was due
        row("C6", 60, claim_type="critical_illness", track="major", status="declined", outcome="decline",
            complete=sh(12, 2, 10), decided=sh(12, 9, 10), due="2026-12-07"),
        # decided automatically, payment pending, no decision_due: judged against the 30-day cap
        row("C7", 70, claim_type="hospital_allowance", track="standard", status="payment_pending",
            automatic=1, complete=sh(12, 3, 10), decided=sh(12, 3, 11)),
        # still waiting for documents: in the period by its report
        row("C8", 80, track=None, status="awaiting_documents", outcome=None, reported=sh(12, 5, 10)),
        # completed Nov 30 23:30 in Shanghai (15:30 UTC): not in December
        row("C9", 90, complete=sh(11, 30, 23, 30), decided=sh(12, 1, 9), paid=sh(12, 1, 10), due="2026-12-05"),
        # Jan 1 00:30 in Shanghai is Dec 31 16:30 UTC: not in December either
        row("C10", 100, complete=sh(1, 1, 0, 30) + timedelta(days=365), decided=sh(12, 31, 23),
            paid=sh(12, 31, 23), due="2027-01-06"),
        # standard: paid a day after its 10-day payment deadline (decided Dec 11, due Dec 21); 288 h, 8 working days
        row("C11", 110, track="standard", complete=sh(12, 10, 10), decided=sh(12, 11, 10), paid=sh(12, 22, 10),
            due="2026-12-15"),
        # closed without a decision (withdrawn)
        row("C12", 120, track="standard", status="closed", outcome=None, complete=sh(12, 15, 10)),
        # decided, then reopened: the projection clears its outcome
        row("C13", 130, track="standard", status="under_review", outcome=None, complete=sh(12, 14, 10),
            decided=sh(12, 16, 10), reopened=1, due="2026-12-19"),
    ]


def entries(*indices: int) -> dict[str, Any]:
    ordered = sorted(indices)
    return {"count": len(ordered), "digest": digest_str(sha256(canonical_json(ordered))), "indices": ordered}


def test_every_figure_on_a_hand_built_month(calendar: BusinessCalendar) -> None:
    figures = kpis(december(), calendar=calendar, rules=RULES, **DECEMBER)
    assert figures["period"] == {"start": "2026-12-01", "end": "2026-12-31"}
    assert figures["claims"] == {"count": 11, "entries": entries(10, 20, 30, 40, 50, 60, 70, 80, 110, 120, 130)}
    assert figures["fast_track_within_one_working_day"] == {
        "share": 0.75, "count": 3, "of": 4, "target_working_days": 1,
        "entries": entries(11, 13, 21, 23, 31, 33, 41, 43)}
    assert figures["time_to_pay"] == {
        # 4, 6, 49, 67, 288 hours; 0, 0, 1, 2, 8 working days
        "medical": {"count": 5, "median_hours": 49.0, "p90_hours": 288.0, "mean_hours": 82.8,
                    "median_working_days": 1, "p90_working_days": 8,
                    "entries": entries(11, 13, 21, 23, 31, 33, 41, 43, 111, 113)},
        "critical_illness": {"count": 1, "median_hours": 504.0, "p90_hours": 504.0, "mean_hours": 504.0,
                             "median_working_days": 15, "p90_working_days": 15, "entries": entries(51, 53)},
    }
    assert figures["decisions_within_statutory_deadline"] == {
        "share": 0.8889, "count": 8, "of": 9, "by_statutory_cap": 1, "not_judged": 0,
        "entries": entries(11, 12, 21, 22, 31, 32, 41, 42, 51, 52, 61, 62, 71, 72, 111, 112, 131, 132)}
    assert figures["payments_within_deadline"] == {
        "share": 0.8333, "count": 5, "of": 6, "payment_days": 10,
        "entries": entries(12, 13, 22, 23, 32, 33, 42, 43, 52, 53, 112, 113)}
    decisions = entries(12, 22, 32, 42, 52, 62, 72, 112)
    assert figures["decline_rate"] == {"share": 0.125, "count": 1, "of": 8, "entries": decisions}
    assert figures["automation_rate"] == {"share": 0.375, "count": 3, "of": 8, "entries": decisions}
    assert figures["reopen_rate"] == {"share": 0.2222, "count": 2, "of": 9,
                                      "entries": entries(12, 22, 32, 42, 52, 62, 72, 112, 132)}
    assert figures["approval_rate"] == {"share": 0.75, "count": 6, "of": 8,
                                        "entries": entries(10, 20, 30, 40, 50, 60, 110, 120)}
    assert figures["flags"] == {"raised": 3, "confirmed": 1, "claims": 2, "entries": entries(30, 50)}


def test_the_period_edges_are_business_dates(calendar: BusinessCalendar) -> None:
    rows = december()
    by_id = {claim_id: row for row in rows if (claim_id := row["claim_id"]) in ("C9", "C10")}
    november = kpis(rows, calendar=calendar, rules=RULES, start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert november["claims"]["entries"]["indices"] == [by_id["C9"]["reported_idx"]]
    january = kpis(rows, calendar=calendar, rules=RULES, start=date(2027, 1, 1), end=date(2027, 1, 1))
    assert january["claims"]["entries"]["indices"] == [by_id["C10"]["reported_idx"]]


def test_an_empty_period_has_no_shares(calendar: BusinessCalendar) -> None:
    figures = kpis(december(), calendar=calendar, rules=RULES, start=date(2026, 6, 1), end=date(2026, 6, 30))
    assert figures["claims"]["count"] == 0
    assert figures["time_to_pay"] == {}
    assert figures["decline_rate"] == {"share": None, "count": 0, "of": 0, "entries": entries()}


@pytest.mark.parametrize(("decided", "due", "on_time"), [
    (datetime(2026, 12, 9, 15, 59, 59, tzinfo=UTC), "2026-12-09T16:00:00Z", True),
    (datetime(2026, 12, 9, 16, 0, 0, tzinfo=UTC), "2026-12-09T16:00:00Z", False),  # the first late moment
    (sh(12, 9, 23, 59), "2026-12-09", True),  # a bare date: the last day on time, in Shanghai
    (sh(12, 10, 0, 0), "2026-12-09", False),
])
def test_decision_due_as_a_moment_or_a_date(calendar: BusinessCalendar, decided: datetime, due: str,
                                            on_time: bool) -> None:
    rows = [row("D", 1, outcome="decline", status="declined", complete=sh(12, 4, 10), decided=decided, due=due)]
    figure = kpis(rows, calendar=calendar, rules=RULES, **DECEMBER)["decisions_within_statutory_deadline"]
    assert (figure["count"], figure["of"]) == (int(on_time), 1)


def test_without_a_due_the_statutory_cap_applies_with_pauses_taken_off(calendar: BusinessCalendar) -> None:
    # complete Dec 1, decided Jan 2 (32 days) with 3 days paused: Dec 30 counted, within Dec 1 + 30
    late_but_paused = row("P", 1, outcome="decline", status="declined", complete=sh(12, 1, 10),
                          decided=sh(12, 1, 10) + timedelta(days=32), paused=3 * 86400)
    late = row("L", 10, outcome="decline", status="declined", complete=sh(12, 1, 10),
               decided=sh(12, 1, 10) + timedelta(days=31))
    unjudged = row("U", 20, outcome="decline", status="declined", reported=sh(12, 2), decided=sh(12, 3))
    rows = [late_but_paused, late, unjudged]
    for claim in rows:
        claim.pop("decision_due")  # the key may be absent altogether
    figure = kpis(rows, calendar=calendar, rules=RULES, **DECEMBER)["decisions_within_statutory_deadline"]
    assert {key: figure[key] for key in ("count", "of", "by_statutory_cap", "not_judged")} == {
        "count": 1, "of": 2, "by_statutory_cap": 2, "not_judged": 1}


def test_a_payment_deadline_on_national_day_rolls_only_when_the_rules_say_so(calendar: BusinessCalendar) -> None:
    # decided Wed Sep 23: ten days is Sat Oct 3, inside the holiday; paid on the first working day, Thu Oct 8
    rows = [row("N", 1, track="standard", complete=sh(9, 22), decided=sh(9, 23), paid=sh(10, 8, 9))]
    period = {"start": date(2026, 9, 1), "end": date(2026, 9, 30)}
    plain = kpis(rows, calendar=calendar, rules=RULES, **period)["payments_within_deadline"]
    rolled = kpis(rows, calendar=calendar, rules=ClockRules(due_rolls_to_working_day=True),
                  **period)["payments_within_deadline"]
    assert (plain["count"], plain["of"], rolled["count"], rolled["of"]) == (0, 1, 1, 1)
    # Sep 22 10:00 -> Oct 8 09:00 is 383 h; the working days between are Sep 23, 24, 28, 29, 30 and Oct 8
    pay = kpis(rows, calendar=calendar, rules=RULES, **period)["time_to_pay"]["medical"]
    assert (pay["median_hours"], pay["median_working_days"]) == (383.0, 6)


def test_time_to_pay_agrees_with_the_claim_clock(calendar: BusinessCalendar) -> None:
    # Thursday complete, a supplement notice from Friday noon to Monday noon, paid Tuesday.
    complete, requested, supplied = sh(12, 10, 10), sh(12, 11, 12), sh(12, 14, 12)
    decided, paid = sh(12, 15, 9), sh(12, 15, 10)
    marks = [Mark("complete", complete, 1), Mark("requested", requested, 2), Mark("supplied", supplied, 3),
             Mark("decided", decided, 4), Mark("paid", paid, 5)]
    span = clocks(marks, calendar=calendar, rules=RULES, complex=False, now=sh(12, 20)).complete_to_paid
    assert span is not None
    claim = row("A", 0, complete=complete, decided=decided, paid=paid, paused=span.paused_seconds)
    figure = kpis([claim], calendar=calendar, rules=RULES, **DECEMBER)["time_to_pay"]["medical"]
    assert (figure["median_hours"], figure["median_working_days"]) == (span.hours, span.working_days) == (48.0, 1)


def test_large_entry_sets_are_a_count_and_a_digest(calendar: BusinessCalendar) -> None:
    rows = [row(f"C{n}", 10 * n, track="standard", outcome=None, status="awaiting_documents",
                reported=sh(12, 1 + n % 28)) for n in range(ENTRIES_INLINE + 1)]
    claims = kpis(rows, calendar=calendar, rules=RULES, **DECEMBER)["claims"]
    assert claims == {"count": ENTRIES_INLINE + 1, "entries": {
        "count": ENTRIES_INLINE + 1,
        "digest": digest_str(sha256(canonical_json([10 * n for n in range(ENTRIES_INLINE + 1)])))}}
    inline = kpis(rows[:ENTRIES_INLINE], calendar=calendar, rules=RULES, **DECEMBER)["claims"]["entries"]
    assert inline["indices"] == [10 * n for n in range(ENTRIES_INLINE)]


def synthetic(count: int) -> list[dict[str, Any]]:
    """Four kinds of claim in turn, spread over four December weeks (w = 0..3):
    0: fast, automatic, Monday 10:00 -> 16:00 (6 h, 0 working days), decided on time;
    1: fast, by a person, Friday 15:00 -> Tuesday 10:00 (91 h, 2 working days), decided on time;
    2: declined by a person 7 days after complete (due after 5), one flag, confirmed;
    3: reported on a Wednesday, documents outstanding."""
    rows = []
    for i in range(count):
        kind, week = i % 4, (i // 4) % 4
        base = 10 * i
        if kind == 0:
            start = sh(12, 7 + 7 * week, 10)
            rows.append(row(f"S{i}", base, automatic=1, complete=start, decided=start + timedelta(hours=2),
                            paid=start + timedelta(hours=6), due=(start.date() + timedelta(days=5)).isoformat()))
        elif kind == 1:
            start = sh(12, 4 + 7 * week, 15)
            rows.append(row(f"S{i}", base, complete=start, decided=start + timedelta(hours=1),
                            paid=sh(12, 8 + 7 * week, 10), due=(start.date() + timedelta(days=5)).isoformat()))
        elif kind == 2:
            start = sh(12, 1 + 7 * week, 10)
            rows.append(row(f"S{i}", base, claim_type="critical_illness", track="standard", status="declined",
                            outcome="decline", complete=start, decided=start + timedelta(days=7), flags=1,
                            confirmed=1, due=(start.date() + timedelta(days=5)).isoformat()))
        else:
            rows.append(row(f"S{i}", base, track="standard", status="awaiting_documents", outcome=None,
                            reported=sh(12, 2 + 7 * week, 10)))
    return rows


def test_one_hundred_thousand_rows_of_a_known_pattern(calendar: BusinessCalendar) -> None:
    figures = kpis(synthetic(100_000), calendar=calendar, rules=RULES, **DECEMBER)
    assert figures["claims"]["count"] == 100_000
    assert figures["claims"]["entries"] == {
        "count": 100_000, "digest": digest_str(sha256(canonical_json([10 * i for i in range(100_000)])))}
    fast = figures["fast_track_within_one_working_day"]
    assert (fast["share"], fast["count"], fast["of"], fast["entries"]["count"]) == (0.5, 25_000, 50_000, 100_000)
    pay = figures["time_to_pay"]
    assert list(pay) == ["medical"]  # the critical-illness claims were all declined
    assert {key: value for key, value in pay["medical"].items() if key != "entries"} == {
        "count": 50_000, "median_hours": 6.0, "p90_hours": 91.0, "mean_hours": 48.5, "median_working_days": 0,
        "p90_working_days": 2}
    on_time = figures["decisions_within_statutory_deadline"]
    assert (on_time["share"], on_time["count"], on_time["of"]) == (0.6667, 50_000, 75_000)
    assert (figures["payments_within_deadline"]["share"], figures["payments_within_deadline"]["of"]) == (1.0, 50_000)
    assert (figures["decline_rate"]["share"], figures["decline_rate"]["count"]) == (0.3333, 25_000)
    assert (figures["automation_rate"]["share"], figures["automation_rate"]["count"]) == (0.3333, 25_000)
    assert (figures["reopen_rate"]["share"], figures["reopen_rate"]["of"]) == (0.0, 75_000)
    assert (figures["approval_rate"]["share"], figures["approval_rate"]["of"]) == (0.6667, 75_000)
    assert {key: figures["flags"][key] for key in ("raised", "confirmed", "claims")} == {
        "raised": 25_000, "confirmed": 25_000, "claims": 25_000}


@pytest.mark.parametrize(("change", "field"), [
    ({"paid_at": "2026-12-01 16:00"}, "rows[0].paid_at"),  # no offset
    ({"paid_at": "yesterday"}, "rows[0].paid_at"),
    ({"paid_idx": None}, "rows[0].paid_idx"),  # a moment without its entry
    ({"outcome": "maybe"}, "rows[0].outcome"),
    ({"paused_seconds": -5}, "rows[0].paused_seconds"),
    ({"decision_due": "soon"}, "rows[0].decision_due"),
    ({"decision_due": "2026-12-06T00:00:00"}, "rows[0].decision_due"),  # no offset
])
def test_malformed_rows_are_refused_naming_the_key(calendar: BusinessCalendar, change: dict[str, Any],
                                                   field: str) -> None:
    bad = dict(december()[0], **change)
    with pytest.raises(ValidationFailed) as caught:
        kpis([bad], calendar=calendar, rules=RULES, **DECEMBER)
    assert caught.value.field == field


def test_a_missing_key_and_a_backwards_period_are_refused(calendar: BusinessCalendar) -> None:
    bad = december()[0]
    del bad["flags"]
    with pytest.raises(ValidationFailed) as caught:
        kpis([bad], calendar=calendar, rules=RULES, **DECEMBER)
    assert caught.value.field == "rows[0].flags"
    with pytest.raises(ValidationFailed) as caught:
        kpis([], calendar=calendar, rules=RULES, start=date(2026, 12, 2), end=date(2026, 12, 1))
    assert caught.value.field == "end"


# -- the column form: the read model's tuples, moments as epoch microseconds ----------------------------------------


def micros(moment: str | None) -> int | None:
    return None if moment is None else epoch_micros(datetime.fromisoformat(moment))


def as_columns(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows as the claims read model's ``KPI_COLUMNS`` tuples (``*_us`` from each ``*_at``)."""
    out = []
    for claim in rows:
        values = {**claim, **{f"{stem}_us": micros(claim[f"{stem}_at"])
                              for stem in ("reported", "complete", "decided", "paid")}}
        out.append(tuple(values[column] for column in KPI_COLUMNS))
    return out


def without_dues(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in claim.items() if key != "decision_due"} for claim in rows]


def digest_of(indices: list[int]) -> dict[str, Any]:
    ordered = sorted(indices)
    found: dict[str, Any] = {"count": len(ordered), "digest": digest_str(sha256(canonical_json(ordered)))}
    if len(ordered) <= ENTRIES_INLINE:
        found["indices"] = ordered
    return found


@pytest.mark.parametrize("rules", [RULES, ClockRules(due_rolls_to_working_day=True)])
@pytest.mark.parametrize("period", [DECEMBER, {"start": date(2026, 11, 1), "end": date(2026, 11, 30)},
                                    {"start": date(2026, 12, 7), "end": date(2027, 1, 1)}])
def test_the_column_form_gives_the_figures_of_the_mapping_form(calendar: BusinessCalendar, rules: ClockRules,
                                                               period: dict[str, date]) -> None:
    # Without decision_due (the read model has none), so every decision is judged against the statutory cap.
    rows = without_dues(december()) + without_dues(synthetic(400))
    by_text = kpis(rows, calendar=calendar, rules=rules, **period)
    assert kpis_of_columns(as_columns(rows), calendar=calendar, rules=rules, **period) == by_text
    assert by_text["claims"]["count"] > 0


def test_december_in_the_column_form_by_hand(calendar: BusinessCalendar) -> None:
    figures = kpis_of_columns(as_columns(december()), calendar=calendar, rules=RULES, **DECEMBER)
    assert figures["claims"] == {"count": 11, "entries": entries(10, 20, 30, 40, 50, 60, 70, 80, 110, 120, 130)}
    assert figures["time_to_pay"]["medical"]["mean_hours"] == 82.8  # (4 + 6 + 49 + 67 + 288) / 5
    # every decision against the 30-day cap: all nine in time, C6 too (declined 7 days after complete)
    assert figures["decisions_within_statutory_deadline"] == {
        "share": 1.0, "count": 9, "of": 9, "by_statutory_cap": 9, "not_judged": 0,
        "entries": entries(11, 12, 21, 22, 31, 32, 41, 42, 51, 52, 61, 62, 71, 72, 111, 112, 131, 132)}
    assert figures["payments_within_deadline"]["count"] == 5  # C11 was paid a day late


def test_one_hundred_thousand_tuples_of_a_known_pattern(calendar: BusinessCalendar) -> None:
    figures = kpis_of_columns(as_columns(synthetic(100_000)), calendar=calendar, rules=RULES, **DECEMBER)
    assert figures["claims"]["entries"] == digest_of([10 * i for i in range(100_000)])
    assert {key: value for key, value in figures["time_to_pay"]["medical"].items() if key != "entries"} == {
        "count": 50_000, "median_hours": 6.0, "p90_hours": 91.0, "mean_hours": 48.5, "median_working_days": 0,
        "p90_working_days": 2}
    on_time = figures["decisions_within_statutory_deadline"]
    # against the 30-day cap the declines 7 days after complete are in time too
    assert (on_time["count"], on_time["of"], on_time["by_statutory_cap"]) == (75_000, 75_000, 75_000)
    assert on_time["entries"] == digest_of([10 * i + step for i in range(100_000) if i % 4 != 3 for step in (1, 2)])
    assert (figures["decline_rate"]["count"], figures["approval_rate"]["of"]) == (25_000, 75_000)


@pytest.mark.parametrize(("zone", "around"), [
    ("America/New_York", datetime(2026, 11, 1, 4, tzinfo=UTC)),  # back an hour at 02:00 local
    ("America/New_York", datetime(2026, 3, 8, 5, tzinfo=UTC)),  # on an hour at 02:00 local
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 13, tzinfo=UTC)),  # back half an hour at 02:00 local
    ("Asia/Kathmandu", datetime(2026, 12, 1, 16, tzinfo=UTC)),  # +05:45: midnight falls at 18:15 UTC
    ("America/St_Johns", datetime(2026, 3, 8, 4, tzinfo=UTC)),  # -03:30: on an hour at 05:30 UTC
    ("America/Sao_Paulo", datetime(2018, 2, 17, 23, tzinfo=UTC)),  # back from 00:00 to 23:00 the day before
    ("Pacific/Apia", datetime(2011, 12, 29, 8, tzinfo=UTC)),  # Samoa skipped 30 December 2011: +24 h
])
def test_business_dates_where_the_offset_changes_are_the_calendars(zone: str, around: datetime) -> None:
    zoned = BusinessCalendar(time_zone=zone)
    moments = [around - timedelta(hours=30) + timedelta(minutes=7, seconds=13, microseconds=9) * n
               for n in range(60 * 24 * 3 // 7)]  # every 7 min 13 s over three days
    rows = [row(f"Z{n}", 10 * n, outcome=None, status="under_review", track="standard", complete=moment)
            for n, moment in enumerate(moments)]
    columns = as_columns(rows)
    for day in sorted({zoned.date_of(moment) for moment in moments}):
        figures = kpis_of_columns(columns, calendar=zoned, rules=RULES, start=day, end=day)
        expected = [10 * n for n, moment in enumerate(moments) if zoned.date_of(moment) == day]
        assert figures["claims"]["entries"] == digest_of(expected), (zone, day)


def test_the_column_form_refuses_what_the_projection_never_writes(calendar: BusinessCalendar) -> None:
    good = as_columns(december()[:1])[0]
    position = {column: n for n, column in enumerate(KPI_COLUMNS)}
    maybe = tuple("maybe" if n == position["outcome"] else value for n, value in enumerate(good))
    with pytest.raises(ValidationFailed) as caught:
        kpis_of_columns([maybe], calendar=calendar, rules=RULES, **DECEMBER)
    assert caught.value.field == "outcome" and "entry 10" in str(caught.value)
    unindexed = tuple(None if n == position["paid_idx"] else value for n, value in enumerate(good))
    with pytest.raises(ValidationFailed) as caught:
        kpis_of_columns([unindexed], calendar=calendar, rules=RULES, **DECEMBER)
    assert caught.value.field == "rows"
    with pytest.raises(ValidationFailed) as caught:
        kpis_of_columns([good], calendar=calendar, rules=RULES, start=date(2026, 12, 2), end=date(2026, 12, 1))
    assert caught.value.field == "end"


def test_epoch_microseconds_and_the_range_a_query_reads() -> None:
    assert epoch_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    assert epoch_micros(datetime(2026, 12, 1, 8, tzinfo=SHANGHAI)) == 1_796_083_200 * 1_000_000  # 00:00 UTC
    start, end = date(2026, 12, 1), date(2026, 12, 31)
    low, high = moment_range(start, end)
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "Asia/Shanghai", "America/St_Johns"):
        zoned = BusinessCalendar(time_zone=zone)
        first, after = zoned.start_of(start), zoned.start_of(end + timedelta(days=1))
        # every moment whose business date is in the period lies within [low, high]
        assert low <= epoch_micros(first) and epoch_micros(after) - 1 <= high, zone
