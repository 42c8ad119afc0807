"""The claims KPIs of a period (DOMAIN §9), from the claims read model's rows, each figure with its evidence.

``kpis`` reads one row per claim and nothing else: no clock, no store. A claim belongs to the period when the
business date of its ``complete_at`` (its ``reported_at`` if it never became complete) lies in ``[start, end]``.
Working days and pauses mean exactly what ``ledger.claims.clocks`` says they mean (working days ``d`` with
``date_of(from) < d <= date_of(to - paused)``), so a claim's time to pay here equals its ``complete_to_paid`` clock.

Every figure carries ``entries``: the journal indices it was computed from, as ``{"count": n, "digest":
"sha256:<hex>"}`` where ``digest`` is the SHA-256 of the RFC 8785 JSON array of the indices in ascending order
(``[12,40,41]``; an entry a figure uses twice, as when one entry both completes and decides a claim, is there
twice), plus ``"indices"`` (that array itself) when there are at most ``ENTRIES_INLINE`` of them.
An auditor recomputes a figure by reading those entries from the journal and checking the digest. Which indices a
figure names is said with each figure in ``kpis``.

Percentiles are nearest-rank: the p-th percentile of n sorted values is the value at rank ``ceil(p * n / 100)``
(so the median of an even count is the lower middle value, and every figure is an observed one). Shares are
``count / of`` rounded to 4 places, ``None`` when ``of`` is 0; hours are rounded to 2 places.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, NoReturn

from ledger.claims.clocks import ClockRules
from ledger.clock import BusinessCalendar
from ledger.errors import ValidationFailed
from ledger.log.encoding import MAX_EXACT_INTEGER, digest_str, sha256

ENTRIES_INLINE = 100
OUTCOMES = ("approve", "partial", "decline")
APPROVED = ("approve", "partial")
FINISHED = ("paid", "closed", "declined")  # statuses of a claim that is closed, paid or not
COUNTS = ("paused_seconds", "flags", "flags_confirmed", "reopened")



class _Claim(NamedTuple):
    """What the figures use of an in-period row: journal indices, moments, business dates as ordinals."""

    claim_type: str
    track: str | None
    status: str
    outcome: str | None
    automatic: bool
    reported_idx: int
    complete_idx: int | None
    decided_idx: int | None
    paid_idx: int | None
    complete_at: datetime | None
    complete_day: int | None
    decided_at: datetime | None
    decided_day: int | None
    paid_day: int | None
    counted_day: int | None  # complete -> paid, pauses excluded: the business date counted to ...
    pay_seconds: int | None  # ... and the seconds
    paused_seconds: int
    due_at: datetime | None  # decision_due given as a moment: the first late one
    due_day: int | None  # decision_due given as a date: the last day on time
    flags: int
    flags_confirmed: int
    reopened: int


def kpis(rows: Iterable[Mapping[str, Any]], *, calendar: BusinessCalendar, rules: ClockRules, start: date,
         end: date) -> dict[str, Any]:
    """The claims KPIs of the business dates ``start`` .. ``end`` (inclusive) as a JSON-ready dict.

    Requires ``start <= end`` and rows with the claims read model's keys ``claim_type``, ``track``, ``status``,
    ``outcome``, ``automatic``, ``reported_at``/``_idx``, ``complete_at``/``_idx``, ``decided_at``/``_idx``,
    ``paid_at``/``_idx``, ``paused_seconds``, ``flags``, ``flags_confirmed``, ``reopened`` and optionally
    ``decision_due`` (others, such as ``claim_id``, are not read); moments are RFC 3339 strings with an offset
    (``2026-12-01T08:00:00Z``) or None, and every moment present has its journal index. Raises
    ``ValidationFailed`` naming the row and key that is missing or malformed.

    The figures (claims of the period only):

    - ``claims``: how many; entries: their ``reported_idx``.
    - ``fast_track_within_one_working_day``: fast-track claims paid within ``rules.fast_track_working_days``
      working days of complete (the name is DOMAIN §9's; the target is reported with the figure), pauses
      excluded, of the fast-track claims paid (one still unpaid is in the open queue, not here); entries: their
      ``complete_idx`` and ``paid_idx``.
    - ``time_to_pay``: by claim type, complete to paid with pauses excluded: ``median_hours``, ``p90_hours``,
      ``mean_hours``, ``median_working_days``, ``p90_working_days``, ``count``; entries as above.
    - ``decisions_within_statutory_deadline``: first decisions (``decided_at``) made in time, of those that can
      be judged. In time is: before the row's ``decision_due`` when it is a datetime (the first late moment, as
      ``Deadline.closes_at`` gives it), on or before it when it is a bare date (the last day on time, as
      ``Deadline.due``); without a ``decision_due`` (the key may be absent), within the statutory cap
      ``rules.complex_decision_days`` of complete with the pauses taken off the decision's moment
      (``by_statutory_cap`` counts these). A decision with neither a due nor a complete is ``not_judged``.
      Entries: ``complete_idx`` and ``decided_idx``.
    - ``payments_within_deadline``: approvals paid within ``rules.payment_days`` days of the decision, of the
      approvals paid; entries: ``decided_idx`` and ``paid_idx``.
    - ``decline_rate`` (declined of decided), ``automation_rate`` (decided without a person of decided): decided
      is an ``outcome`` standing now; ``reopen_rate``: reopened at least once, of the claims ever decided (an
      ``outcome`` or a ``decided_idx``: a reopened claim has lost its outcome). Entries: ``decided_idx``.
    - ``approval_rate``: paid in whole or part of the claims closed (status paid, closed or declined); entries:
      their ``reported_idx``.
    - ``flags``: ``raised`` and ``confirmed`` (sums), ``claims`` (claims with a flag); entries: their
      ``reported_idx``.
    """
    if end < start:
        raise ValidationFailed(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})",
                               field="end")
    reader = _Reader(calendar, first=start.toordinal(), last=end.toordinal())
    claims: list[_Claim] = []
    for position, row in enumerate(rows):
        try:
            claim = reader.claim(row, position)
        except KeyError as exc:
            raise ValidationFailed(f"claims row {position} has no {exc.args[0]!r}",
                                   field=f"rows[{position}].{exc.args[0]}") from None
        if claim is not None:
            claims.append(claim)
    return _figures(claims, reader, calendar=calendar, rules=rules, start=start, end=end)


def _figures(claims: list[_Claim], reader: _Reader, *, calendar: BusinessCalendar, rules: ClockRules, start: date,
             end: date) -> dict[str, Any]:
    rolled = _Rolled(calendar, rules)
    paid_spans: dict[str, tuple[list[int], list[int], list[int], list[int]]] = {}  # by type: from, to, seconds, idx
    fast_spans: tuple[list[int], list[int], list[int]] = ([], [], [])  # from, to, idx
    on_time, judged_idx, by_cap, not_judged = 0, list[int](), 0, 0
    paid_in, paid_idx_list = 0, list[int]()
    decided_idx_list, ever_idx, closed_idx, flagged_idx = list[int](), list[int](), list[int](), list[int]()
    declined = automatic_count = reopened_count = approved = raised = confirmed_sum = 0
    for (claim_type, track, status, outcome, automatic, reported_idx, complete_idx, decided_idx, paid_idx,
         complete_at, complete_day, decided_at, decided_day, paid_day, counted_day, pay_seconds, paused, due_at,
         due_day, flags, confirmed, reopened) in claims:
        if complete_day is not None and counted_day is not None and pay_seconds is not None \
                and complete_idx is not None and paid_idx is not None:
            spans = paid_spans.get(claim_type)
            if spans is None:
                spans = paid_spans[claim_type] = ([], [], [], [])
            spans[0].append(complete_day)
            spans[1].append(counted_day)
            spans[2].append(pay_seconds)
            spans[3].extend((complete_idx, paid_idx))
            if track == "fast":
                fast_spans[0].append(complete_day)
                fast_spans[1].append(counted_day)
                fast_spans[2].extend((complete_idx, paid_idx))
        if outcome is not None:
            decided_idx_list.append(reported_idx if decided_idx is None else decided_idx)
            declined += outcome == "decline"
            automatic_count += automatic
        if outcome is not None or decided_idx is not None:
            ever_idx.append(reported_idx if decided_idx is None else decided_idx)
            reopened_count += reopened > 0
        if status in FINISHED:
            closed_idx.append(reported_idx)
            approved += outcome in APPROVED and paid_day is not None
        if flags:
            flagged_idx.append(reported_idx)
            raised += flags
        confirmed_sum += confirmed
        if decided_at is None or decided_day is None or decided_idx is None:
            continue
        in_time: bool | None = None
        if due_at is not None:
            in_time = decided_at < due_at
        elif due_day is not None:
            in_time = decided_day <= due_day
        elif complete_at is not None and complete_day is not None:
            by_cap += 1
            decision_counted = reader.counted(complete_at, (decided_at, decided_day), paused)[0]
            in_time = decision_counted <= rolled.due(complete_day, rules.complex_decision_days)
        else:
            not_judged += 1
        if in_time is not None:
            on_time += in_time
            judged_idx += (reported_idx if complete_idx is None else complete_idx, decided_idx)
        if outcome in APPROVED and paid_day is not None and paid_idx is not None:
            paid_in += paid_day <= rolled.due(decided_day, rules.payment_days)
            paid_idx_list += (decided_idx, paid_idx)

    days = _DayIndex(calendar, [day for spans in paid_spans.values() for day in (*spans[0], *spans[1])])
    fast_days = days.between(fast_spans[0], fast_spans[1])
    decisions = _entries(decided_idx_list)
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "claims": {"count": len(claims), "entries": _entries([claim.reported_idx for claim in claims])},
        "fast_track_within_one_working_day": {
            **_share(sum(working <= rules.fast_track_working_days for working in fast_days), len(fast_days)),
            "target_working_days": rules.fast_track_working_days, "entries": _entries(fast_spans[2])},
        "time_to_pay": {claim_type: _spread(seconds, days.between(begun, ended), indices)
                        for claim_type, (begun, ended, seconds, indices) in sorted(paid_spans.items())},
        "decisions_within_statutory_deadline": {**_share(on_time, len(judged_idx) // 2), "by_statutory_cap": by_cap,
                                                "not_judged": not_judged, "entries": _entries(judged_idx)},
        "payments_within_deadline": {**_share(paid_in, len(paid_idx_list) // 2), "payment_days": rules.payment_days,
                                     "entries": _entries(paid_idx_list)},
        "decline_rate": {**_share(declined, len(decided_idx_list)), "entries": decisions},
        "automation_rate": {**_share(automatic_count, len(decided_idx_list)), "entries": decisions},
        "reopen_rate": {**_share(reopened_count, len(ever_idx)), "entries": _entries(ever_idx)},
        "approval_rate": {**_share(approved, len(closed_idx)), "entries": _entries(closed_idx)},
        "flags": {"raised": raised, "confirmed": confirmed_sum, "claims": len(flagged_idx),
                  "entries": _entries(flagged_idx)},
    }


class _Reader:
    """Reads rows into ``_Claim`` values, keeping those of the period, with business dates cached.

    The business date of a canonical UTC timestamp (``YYYY-MM-DDTHH:MM...Z``, from 1980, when every zone's
    offset is a whole number of minutes and changes on a whole minute) is that of its minute, so it is looked up
    once per minute instead of once per timestamp; any other form is converted on its own.
    """

    def __init__(self, calendar: BusinessCalendar, *, first: int, last: int) -> None:
        self._date_of = calendar.date_of
        self._first, self._last = first, last
        self._days: dict[str, int] = {}
        self._dues: dict[str, int] = {}

    def claim(self, row: Mapping[str, Any], position: int) -> _Claim | None:
        """The row as a ``_Claim`` if it belongs to the period, else None; raises ``ValidationFailed``."""
        complete = self.stamp(row["complete_at"], position, "complete_at")
        if complete is not None:
            anchor = complete[1]
        else:
            reported = self.stamp(row["reported_at"], position, "reported_at")
            if reported is None:
                raise ValidationFailed(f"claims row {position} has neither complete_at nor reported_at",
                                       field=f"rows[{position}].reported_at")
            anchor = reported[1]
        if not self._first <= anchor <= self._last:
            return None
        outcome = row["outcome"]
        if outcome is not None and outcome not in OUTCOMES:
            raise ValidationFailed(f"claims row {position}: outcome {outcome!r} is not one of {', '.join(OUTCOMES)} "
                                   "or null", field=f"rows[{position}].outcome")
        decided = self.stamp(row["decided_at"], position, "decided_at")
        paid = self.stamp(row["paid_at"], position, "paid_at")
        paused, flags, confirmed, reopened = (row["paused_seconds"], row["flags"], row["flags_confirmed"],
                                              row["reopened"])
        if not (type(paused) is int and paused >= 0 and type(flags) is int and flags >= 0
                and type(confirmed) is int and confirmed >= 0 and type(reopened) is int and reopened >= 0):
            _refuse_counts(row, position)
        indices = (row["reported_idx"], None if complete is None else row["complete_idx"],
                   None if decided is None else row["decided_idx"], None if paid is None else row["paid_idx"])
        reported_idx, complete_idx, decided_idx, paid_idx = indices
        if not ((type(reported_idx) is int and 0 <= reported_idx <= MAX_EXACT_INTEGER)
                and (complete is None or (type(complete_idx) is int and 0 <= complete_idx <= MAX_EXACT_INTEGER))
                and (decided is None or (type(decided_idx) is int and 0 <= decided_idx <= MAX_EXACT_INTEGER))
                and (paid is None or (type(paid_idx) is int and 0 <= paid_idx <= MAX_EXACT_INTEGER))):
            _refuse_indices(indices, (True, complete is not None, decided is not None, paid is not None), position)
        counted_day = pay_seconds = None
        if complete is not None and paid is not None:
            counted_day, pay_seconds = self.counted(complete[0], paid, paused)
        due_at, due_day = self.due(row.get("decision_due"), position)
        return _Claim(row["claim_type"], row["track"], row["status"], outcome, bool(row["automatic"]),
                      reported_idx, complete_idx, decided_idx, paid_idx,
                      None if complete is None else complete[0], None if complete is None else complete[1],
                      None if decided is None else decided[0], None if decided is None else decided[1],
                      None if paid is None else paid[1], counted_day, pay_seconds, paused, due_at, due_day, flags,
                      confirmed, reopened)

    def stamp(self, value: Any, position: int, key: str) -> tuple[datetime, int] | None:
        """A moment and its business date (as an ordinal), or None for None; raises ``ValidationFailed``."""
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValidationFailed(f"claims row {position}: {key} {value!r} is not an RFC 3339 time with an offset",
                                   field=f"rows[{position}].{key}")
        if value[-1] != "Z":
            return moment, self._date_of(moment).toordinal()
        minute = value[:16]
        day = self._days.get(minute)
        if day is None:
            day = self._date_of(moment).toordinal()
            if len(value) >= 17 and value[10] == "T" and value[16] in ":Z" and value >= "1980":
                self._days[minute] = day
        return moment, day

    def counted(self, start: datetime, end: tuple[datetime, int], paused: int) -> tuple[int, int]:
        """(business date, seconds) of ``start`` .. ``end`` with ``paused`` seconds taken off the end."""
        if paused == 0 and end[0] >= start:
            return end[1], int((end[0] - start).total_seconds())
        counted = max(end[0] - timedelta(seconds=paused), start)
        return self._date_of(counted).toordinal(), int((counted - start).total_seconds())

    def due(self, value: Any, position: int) -> tuple[datetime | None, int | None]:
        """``decision_due`` as (first late moment, None) or (None, last business date on time as an ordinal)."""
        if value is None:
            return None, None
        if isinstance(value, str) and len(value) == 10:
            day = self._dues.get(value)
            if day is None:
                try:
                    day = self._dues[value] = date.fromisoformat(value).toordinal()
                except ValueError:
                    _refuse_due(value, position)
            return None, day
        try:
            stamp = self.stamp(value, position, "decision_due")
        except ValidationFailed:
            _refuse_due(value, position)
        return (None if stamp is None else stamp[0]), None


class _Rolled:
    """Due dates ``days`` calendar days after a business date, rolled to a working day if the rules say so (as
    in the clocks); rolled dates are cached per date."""

    def __init__(self, calendar: BusinessCalendar, rules: ClockRules) -> None:
        self._calendar = calendar
        self._roll = rules.due_rolls_to_working_day
        self._cache: dict[int, int] = {}

    def due(self, day: int, days: int) -> int:
        due = day + days
        if not self._roll:
            return due
        rolled = self._cache.get(due)
        if rolled is None:
            rolled = self._cache[due] = self._calendar.add_working_days(date.fromordinal(due), 0).toordinal()
        return rolled


class _DayIndex:
    """Working days between business dates in O(1): a running count of working days over the dates in use."""

    def __init__(self, calendar: BusinessCalendar, ordinals: list[int]) -> None:
        self._base = min(ordinals, default=0)
        running, counts = 0, []
        for ordinal in range(self._base, max(ordinals, default=-1) + 1):
            running += calendar.is_working_day(date.fromordinal(ordinal))
            counts.append(running)
        self._counts = counts

    def between(self, starts: list[int], ends: list[int]) -> list[int]:
        """For each pair, the working days ``d`` with ``start < d <= end`` (ordinals within the dates given)."""
        counts, base = self._counts, self._base
        return [counts[end - base] - counts[start - base] if end > start else 0
                for start, end in zip(starts, ends, strict=True)]


def _share(count: int, of: int) -> dict[str, Any]:
    return {"share": round(count / of, 4) if of else None, "count": count, "of": of}


def _percentile(ordered: list[int], percent: int) -> int:
    return ordered[max(math.ceil(percent * len(ordered) / 100), 1) - 1]


def _spread(seconds: list[int], working_days: list[int], indices: list[int]) -> dict[str, Any]:
    seconds, working_days = sorted(seconds), sorted(working_days)
    return {"count": len(seconds),
            "median_hours": round(_percentile(seconds, 50) / 3600, 2),
            "p90_hours": round(_percentile(seconds, 90) / 3600, 2),
            "mean_hours": round(sum(seconds) / len(seconds) / 3600, 2),
            "median_working_days": _percentile(working_days, 50),
            "p90_working_days": _percentile(working_days, 90),
            "entries": _entries(indices)}


def _entries(indices: Iterable[int]) -> dict[str, Any]:
    ordered = sorted(indices)
    # The RFC 8785 form of an array of integers in [0, 2**53) is the decimal numbers joined by commas in brackets,
    # which is Python's list repr without its spaces; written so, 100,000s of indices hash in milliseconds (the
    # test holds it equal to ledger.log.encoding.canonical_json).
    encoded = str(ordered).replace(" ", "").encode("ascii")
    out: dict[str, Any] = {"count": len(ordered), "digest": digest_str(sha256(encoded))}
    if len(ordered) <= ENTRIES_INLINE:
        out["indices"] = ordered
    return out


def _refuse_counts(row: Mapping[str, Any], position: int) -> NoReturn:
    for key in COUNTS:
        value = row[key]
        if type(value) is not int or value < 0:
            raise ValidationFailed(f"claims row {position}: {key} {value!r} must be a whole number >= 0",
                                   field=f"rows[{position}].{key}")
    raise AssertionError("a count was refused but none is wrong")


def _refuse_indices(indices: tuple[Any, ...], present: tuple[bool, ...], position: int) -> NoReturn:
    for stem, value, needed in zip(("reported", "complete", "decided", "paid"), indices, present, strict=True):
        if needed and (type(value) is not int or not 0 <= value <= MAX_EXACT_INTEGER):
            raise ValidationFailed(f"claims row {position}: {stem}_idx {value!r} must be the journal index of "
                                   f"{stem}_at", field=f"rows[{position}].{stem}_idx")
    raise AssertionError("an index was refused but none is wrong")


def _refuse_due(value: Any, position: int) -> NoReturn:
    raise ValidationFailed(f"claims row {position}: decision_due {value!r} is neither a date nor an RFC 3339 time "
                           "with an offset", field=f"rows[{position}].decision_due")
