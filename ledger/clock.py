"""The one clock: every time the ledger records comes from an injectable ``Clock``, so tests and replays control it."""

from __future__ import annotations

import calendar
import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(UTC)


class BusinessCalendar:
    """Business dates in one time zone, with working days from a maintained holiday calendar.

    Chinese public holidays and the weekend days declared working days ("adjusted working days", 调休) come from
    the ``holidays`` package (its ``China`` calendar); a year it does not know the adjustments of yet falls back
    to its statutory holidays and Saturday/Sunday weekends.
    """

    def __init__(self, *, time_zone: str = "Asia/Shanghai", country: str = "CN") -> None:
        import holidays  # imported here: the calendar data is loaded once per calendar, not at import

        try:
            self.zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {time_zone!r}") from None
        self.time_zone = time_zone
        self._holidays = holidays.country_holidays(country)
        self._workdays: set[date] = set()
        self._years: set[int] = set()

    def _load(self, year: int) -> None:
        if year not in self._years:
            self._holidays.get(date(year, 1, 1))  # makes the calendar load that year
            self._workdays |= {day for day in getattr(self._holidays, "weekend_workdays", set()) if day.year == year}
            self._years.add(year)

    def today(self, clock: Clock) -> date:
        """The business date now."""
        return self.date_of(clock.now())

    def date_of(self, moment: datetime) -> date:
        """The business date of a moment (in the calendar's time zone)."""
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """Midnight at the start of ``day`` in the calendar's time zone, as a UTC moment."""
        return datetime(day.year, day.month, day.day, tzinfo=self.zone).astimezone(UTC)

    def is_working_day(self, day: date) -> bool:
        self._load(day.year)
        if day in self._workdays:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def add_working_days(self, day: date, count: int) -> date:
        """The working day ``count`` working days after ``day`` (``count`` >= 0; 0 gives ``day`` if it is one,
        else the next working day)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        current = day
        while not self.is_working_day(current):
            current += timedelta(days=1)
        for _ in range(count):
            current += timedelta(days=1)
            while not self.is_working_day(current):
                current += timedelta(days=1)
        return current


class Periodic:
    """Runs ``work()`` every ``interval`` seconds on a daemon thread, from ``start()`` until ``stop()``.

    A failure is logged and the next round runs as usual (the jobs run this way are idempotent); ``start()``
    after ``stop()`` starts afresh. The first round runs one interval after ``start()``.
    """

    def __init__(self, name: str, interval: float, work: Callable[[], object]) -> None:
        self.name = name
        self._interval = interval
        self._work = work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._work()
            except Exception:  # the next round tries again; the failure is in the log, not lost
                logging.getLogger(__name__).exception("%s failed", self.name)
