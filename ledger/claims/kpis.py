"""The claims KPIs of a period (DOMAIN §9), from the claims read model's rows, each figure with its evidence.

The figures read one row per claim and nothing else: no clock, no store. Rows come in two forms, with the same
figures from both: ``kpis`` takes mappings whose moments are RFC 3339 strings (any offset), checked key by key;
``kpis_of_columns`` takes tuples of the read model's ``KPI_COLUMNS``, whose moments are the UTC epoch
microseconds the projection stores beside each ``*_at`` text (``reported_us`` ...), as the projection wrote them:
integer arithmetic instead of parsing, for the service's query over a whole year of claims.

A claim belongs to the period when the business date of its completion (of its report if it never became
complete) lies in ``[start, end]``. Working days and pauses mean exactly what ``ledger.claims.clocks`` says they
mean (working days ``d`` with ``date_of(from) < d <= date_of(to - paused)``), so a claim's time to pay here equals
its ``complete_to_paid`` clock.

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
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import repeat
from typing import Any, NoReturn, Protocol, runtime_checkable

from ledger.claims.clocks import ClockRules
from ledger.clock import BusinessCalendar
from ledger.errors import ValidationFailed
from ledger.log.encoding import MAX_EXACT_INTEGER, digest_str, sha256

ENTRIES_INLINE = 100
OUTCOMES = ("approve", "partial", "decline")
APPROVED = ("approve", "partial")
FINISHED = ("paid", "closed", "declined")  # statuses of a claim that is closed, paid or not
COUNTS = ("paused_seconds", "flags", "flags_confirmed", "reopened")
# The claims read model's columns the figures read, in the order of a ``kpis_of_columns`` row.
KPI_COLUMNS = ("claim_type", "track", "status", "outcome", "automatic", "reported_idx", "complete_idx",
               "decided_idx", "paid_idx", "reported_us", "complete_us", "decided_us", "paid_us", "paused_seconds",
               "flags", "flags_confirmed", "reopened")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
SECOND = 1_000_000  # moments and spans are whole microseconds
HOUR = 3600 * SECOND
DAY = 86400 * SECOND

_Due = tuple[int | None, int | None]  # decision_due: (first late moment, None) or (None, last date on time)


@runtime_checkable
class ColumnReader(Protocol):
    """A read model that returns chosen columns of a table's rows as tuples (``ReadModels.select_columns``)."""

    def select_columns(self, table: str, columns: Sequence[str], *, where: Mapping[str, Any] | None = None,
                       between: tuple[str, Any, Any] | None = None) -> list[tuple[Any, ...]]: ...


def epoch_micros(moment: datetime) -> int:
    """The microseconds from 1970-01-01T00:00:00Z to ``moment`` (which must carry an offset), as the claims read
    model's ``*_us`` columns hold them."""
    return (moment - EPOCH) // MICROSECOND


def moment_range(start: date, end: date) -> tuple[int, int]:
    """Epoch microseconds ``(low, high)`` that hold every moment whose business date lies in ``start`` .. ``end``
    in any time zone (offsets are within a day): midnight UTC the day before ``start`` to midnight UTC two days
    after ``end``. A read model query narrows the claims to these before ``kpis_of_columns`` keeps the period's."""
    low = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=1)
    high = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=2)
    return epoch_micros(low), epoch_micros(high)


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
    _check_period(start, end)
    reader = _Reader(calendar, first=start.toordinal(), last=end.toordinal())
    claims: list[tuple[Any, ...]] = []
    dues: list[_Due | None] = []
    for position, row in enumerate(rows):
        try:
            claim = reader.claim(row, position)
        except KeyError as exc:
            raise ValidationFailed(f"claims row {position} has no {exc.args[0]!r}",
                                   field=f"rows[{position}].{exc.args[0]}") from None
        if claim is not None:
            claims.append(claim[0])
            dues.append(claim[1])
    return _figures(claims, dues, calendar=calendar, rules=rules, start=start, end=end)


def kpis_of_columns(rows: Iterable[Sequence[Any]], *, calendar: BusinessCalendar, rules: ClockRules, start: date,
                    end: date) -> dict[str, Any]:
    """The figures of ``kpis`` from rows given as tuples of ``KPI_COLUMNS``, as the claims read model holds them.

    Requires ``start <= end`` and rows whose moments (``reported_us`` never None, the others None until they
    happen) are epoch microseconds with their journal indices beside them, and whose counts are whole numbers
    >= 0: the projection writes them so, and they are not checked one by one here (``kpis`` checks its
    mappings). Rows outside the period are skipped; there is no ``decision_due`` column, so decisions are judged
    against the statutory cap. Raises ``ValidationFailed`` for a backwards period, an ``outcome`` that is not one
    of ``OUTCOMES``, or a moment whose journal index a figure names but the row lacks.
    """
    _check_period(start, end)
    return _figures(rows, repeat(None), calendar=calendar, rules=rules, start=start, end=end)


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})",
                               field="end")


def _figures(rows: Iterable[Sequence[Any]], dues: Iterable[_Due | None], *, calendar: BusinessCalendar,
             rules: ClockRules, start: date, end: date) -> dict[str, Any]:
    """One pass over the rows (``KPI_COLUMNS`` tuples) with their decision dues (None: judge by the cap)."""
    days = _days_in(calendar.zone)  # the business date (ordinal) of t: days[t // HOUR], or exact(t) for None
    exact = days.exact
    first, last = start.toordinal(), end.toordinal()
    rolled = _Rolled(calendar)
    roll, cap_days, pay_days = rules.due_rolls_to_working_day, rules.complex_decision_days, rules.payment_days
    claims_idx: list[int] = []
    paid_spans: dict[str, tuple[list[int], list[int], list[int], list[int]]] = {}  # by type: from, to, seconds, idx
    fast_from, fast_to, fast_idx = list[int](), list[int](), list[int]()
    on_time, judged_idx, by_cap, not_judged = 0, list[int](), 0, 0
    paid_in, paid_idx_list = 0, list[int]()
    decided_idx_list, ever_idx, closed_idx, flagged_idx = list[int](), list[int](), list[int](), list[int]()
    declined = automatic_count = reopened_count = approved = raised = confirmed_sum = 0
    claim_of, decided_of, ever_of, closed_of = (claims_idx.append, decided_idx_list.append, ever_idx.append,
                                                closed_idx.append)
    for (claim_type, track, status, outcome, automatic, reported_idx, complete_idx, decided_idx, paid_idx,
         reported_us, complete_us, decided_us, paid_us, paused, flags, confirmed, reopened), due in zip(
            rows, dues, strict=False):  # dues may be endless (repeat(None))
        moment = reported_us if complete_us is None else complete_us
        day = days[moment // HOUR]  # complete (or, never complete, reported)
        if day is None:
            day = exact(moment)
        if day < first or day > last:
            continue
        claim_of(reported_idx)
        paid_day: int | None = None
        if paid_us is not None:
            paid_day = days[paid_us // HOUR]
            if paid_day is None:
                paid_day = exact(paid_us)
            if complete_us is not None:  # complete -> paid, the pauses taken off the end
                counted = paid_us - paused * SECOND if paused else paid_us
                if counted < complete_us:
                    counted = complete_us
                counted_day = paid_day if counted == paid_us else exact(counted)
                spans = paid_spans.get(claim_type)
                if spans is None:
                    spans = paid_spans[claim_type] = ([], [], [], [])
                spans[0].append(day)
                spans[1].append(counted_day)
                spans[2].append((counted - complete_us) // SECOND)
                spans[3].extend((complete_idx, paid_idx))
                if track == "fast":
                    fast_from.append(day)
                    fast_to.append(counted_day)
                    fast_idx.extend((complete_idx, paid_idx))
        if outcome is not None:
            if outcome not in OUTCOMES:
                raise ValidationFailed(f"the claim reported in entry {reported_idx} has outcome {outcome!r}, not one "
                                       f"of {', '.join(OUTCOMES)} or null", field="outcome")
            decision = reported_idx if decided_us is None else decided_idx
            decided_of(decision)
            ever_of(decision)
            if outcome == "decline":
                declined += 1
            if automatic:
                automatic_count += 1
            if reopened:
                reopened_count += 1
        elif decided_us is not None:
            ever_of(decided_idx)
            if reopened:
                reopened_count += 1
        if status in FINISHED:
            closed_of(reported_idx)
            if paid_us is not None and outcome in APPROVED:
                approved += 1
        if flags:
            flagged_idx.append(reported_idx)
            raised += flags
        confirmed_sum += confirmed
        if decided_us is None:
            continue
        decided_day = days[decided_us // HOUR]
        if decided_day is None:
            decided_day = exact(decided_us)
        in_time: bool | None = None
        if due is not None:
            due_us, due_day = due
            in_time = decided_us < due_us if due_us is not None else due_day is not None and decided_day <= due_day
        elif complete_us is not None:  # the statutory cap, the pauses taken off the decision's moment
            by_cap += 1
            counted = decided_us - paused * SECOND if paused else decided_us
            if counted < complete_us:
                counted = complete_us
            limit = day + cap_days
            in_time = (decided_day if counted == decided_us else exact(counted)) <= (
                rolled.due(limit) if roll else limit)
        else:
            not_judged += 1
        if in_time is not None:
            if in_time:
                on_time += 1
            judged_idx.extend((reported_idx if complete_us is None else complete_idx, decided_idx))
        if paid_day is not None and outcome in APPROVED:
            limit = decided_day + pay_days
            if paid_day <= (rolled.due(limit) if roll else limit):
                paid_in += 1
            paid_idx_list.extend((decided_idx, paid_idx))

    working = _DayIndex(calendar, min((min(min(begun), min(ended)) for begun, ended, _, _ in paid_spans.values()),
                                      default=0),
                        max((max(max(begun), max(ended)) for begun, ended, _, _ in paid_spans.values()), default=-1))
    fast_days = working.between(fast_from, fast_to)
    decisions = _entries(decided_idx_list)
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "claims": {"count": len(claims_idx), "entries": _entries(claims_idx)},
        "fast_track_within_one_working_day": {
            **_share(sum(working <= rules.fast_track_working_days for working in fast_days), len(fast_days)),
            "target_working_days": rules.fast_track_working_days, "entries": _entries(fast_idx)},
        "time_to_pay": {claim_type: _spread(seconds, working.between(begun, ended), indices)
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


class _Days(dict[int, int | None]):
    """Business dates of epoch-microsecond moments in one time zone: UTC hour (``t // HOUR``) -> the business date
    (ordinal) of every moment of that hour, or None when they do not share one.

    The zone's offset at the hour's first and last microsecond, when they agree (no zone's offset changes twice
    within an hour), holds for the whole hour; and if the first and last microsecond then have the same local
    date, so has every moment between. An hour in which the offset changes, or local midnight falls (a zone
    whose offset is not a whole number of hours), has None: its moments go through ``exact`` one by one. Each hour
    is worked out the first time a moment of it is met. A business date is the date in the calendar's ``zone``
    (``BusinessCalendar.date_of``); the tests hold the two equal across offset changes.
    """

    def __init__(self, zone: tzinfo) -> None:
        super().__init__()
        self._zone = zone

    def __missing__(self, hour: int) -> int | None:
        begins = EPOCH + timedelta(microseconds=hour * HOUR)
        local_first = begins.astimezone(self._zone)
        local_last = (begins + timedelta(microseconds=HOUR - 1)).astimezone(self._zone)
        day = local_first.toordinal()
        same = local_first.utcoffset() == local_last.utcoffset() and local_last.toordinal() == day
        self[hour] = found = day if same else None
        return found

    def exact(self, moment: int) -> int:
        """The business date (ordinal) of an epoch-microsecond moment."""
        return (EPOCH + timedelta(microseconds=moment)).astimezone(self._zone).toordinal()


_DAYS: dict[tzinfo, _Days] = {}  # by zone, kept across calls: a year of claims touches 8,760 hours (~40 ms to fill)


def _days_in(zone: tzinfo) -> _Days:
    days = _DAYS.get(zone)
    if days is None:
        days = _DAYS[zone] = _Days(zone)
    return days


class _Reader:
    """Reads mapping rows into ``KPI_COLUMNS`` tuples (and their decision due), keeping those of the period."""

    def __init__(self, calendar: BusinessCalendar, *, first: int, last: int) -> None:
        self._date_of = calendar.date_of
        self._first, self._last = first, last

    def claim(self, row: Mapping[str, Any], position: int) -> tuple[tuple[Any, ...], _Due | None] | None:
        """The row as a ``KPI_COLUMNS`` tuple and its due if it belongs to the period, else None; raises
        ``ValidationFailed`` (and ``KeyError`` for a missing key)."""
        complete = self.stamp(row["complete_at"], position, "complete_at")
        reported = None  # read only when the claim never became complete: its moment then places it
        if complete is None:
            reported = self.stamp(row["reported_at"], position, "reported_at")
            if reported is None:
                raise ValidationFailed(f"claims row {position} has neither complete_at nor reported_at",
                                       field=f"rows[{position}].reported_at")
        anchor = reported if complete is None else complete
        if anchor is None or not self._first <= self._date_of(anchor).toordinal() <= self._last:
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
        moments = tuple(None if moment is None else epoch_micros(moment)
                        for moment in (reported, complete, decided, paid))
        return ((row["claim_type"], row["track"], row["status"], outcome, bool(row["automatic"]), *indices,
                 *moments, paused, flags, confirmed, reopened), self.due(row.get("decision_due"), position))

    def stamp(self, value: Any, position: int, key: str) -> datetime | None:
        """A moment, or None for None; raises ``ValidationFailed``."""
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValidationFailed(f"claims row {position}: {key} {value!r} is not an RFC 3339 time with an offset",
                                   field=f"rows[{position}].{key}")
        return moment

    def due(self, value: Any, position: int) -> _Due | None:
        """``decision_due`` as (first late moment, None) or (None, last business date on time as an ordinal)."""
        if value is None:
            return None
        if isinstance(value, str) and len(value) == 10:
            try:
                return None, date.fromisoformat(value).toordinal()
            except ValueError:
                _refuse_due(value, position)
        try:
            stamp = self.stamp(value, position, "decision_due")
        except ValidationFailed:
            _refuse_due(value, position)
        return None if stamp is None else (epoch_micros(stamp), None)


class _Rolled:
    """Due dates rolled to a working day if the rules say so (as in the clocks); rolled dates are cached."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self._calendar = calendar
        self._cache: dict[int, int] = {}

    def due(self, day: int) -> int:
        """The working day on or after the date with ordinal ``day`` (as an ordinal)."""
        rolled = self._cache.get(day)
        if rolled is None:
            rolled = self._cache[day] = self._calendar.add_working_days(date.fromordinal(day), 0).toordinal()
        return rolled


class _DayIndex:
    """Working days between business dates in O(1): a running count of working days over the dates in use."""

    def __init__(self, calendar: BusinessCalendar, first: int, last: int) -> None:
        self._base = first
        running, counts = 0, []
        for ordinal in range(first, last + 1):
            running += calendar.is_working_day(date.fromordinal(ordinal))
            counts.append(running)
        self._counts = counts

    def between(self, starts: list[int], ends: list[int]) -> list[int]:
        """For each pair, the working days ``d`` with ``start < d <= end`` (ordinals from ``first`` to ``last``)."""
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


def _entries(indices: list[int]) -> dict[str, Any]:
    try:
        indices.sort()
    except TypeError:  # None among them: a moment recorded without its journal index
        raise ValidationFailed("a claims row has a moment without the journal index of its entry",
                               field="rows") from None
    # The RFC 8785 form of an array of integers in [0, 2**53) is the decimal numbers joined by commas in brackets,
    # which is Python's list repr without its spaces; written so, 100,000s of indices hash in milliseconds (the
    # test holds it equal to ledger.log.encoding.canonical_json).
    encoded = str(indices).replace(" ", "").encode("ascii")
    out: dict[str, Any] = {"count": len(indices), "digest": digest_str(sha256(encoded))}
    if len(indices) <= ENTRIES_INLINE:
        out["indices"] = list(indices)
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
