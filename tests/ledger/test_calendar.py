"""The business calendar: dates in Asia/Shanghai, Chinese public holidays and adjusted working days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ledger.clock import BusinessCalendar, FixedClock, add_months


def test_business_date_is_the_date_in_the_configured_zone() -> None:
    calendar = BusinessCalendar()
    late_evening_utc = FixedClock(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    assert calendar.today(late_evening_utc) == date(2026, 12, 2)  # 01:30 in Shanghai
    assert BusinessCalendar(time_zone="UTC").today(late_evening_utc) == date(2026, 12, 1)
    assert calendar.start_of(date(2026, 12, 2)) == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown time zone"):
        BusinessCalendar(time_zone="Mars/Olympus")


def test_holidays_and_adjusted_working_days_of_2026() -> None:
    calendar = BusinessCalendar()
    assert not calendar.is_working_day(date(2026, 10, 1))  # National Day
    assert not calendar.is_working_day(date(2026, 10, 7))
    assert calendar.is_working_day(date(2026, 10, 10))  # a Saturday declared a working day
    assert not calendar.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert calendar.is_working_day(date(2026, 12, 1))
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 8)
    with pytest.raises(ValueError):
        calendar.add_working_days(date(2026, 10, 3), -1)


def test_months_are_added_with_the_day_clamped_to_the_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 3, 3), 12) == date(2027, 3, 3)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 1, 15), -13) == date(2024, 12, 15)


def test_a_periodic_job_runs_again_after_a_failure_and_restarts_after_stop() -> None:
    import threading

    from ledger.clock import Periodic

    calls: list[int] = []
    twice = threading.Event()

    def work() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the first round fails")
        if len(calls) >= 2:
            twice.set()

    job = Periodic("test-job", 0.01, work)
    job.start()
    assert twice.wait(5), "a failed round stopped the job"
    job.stop()
    stopped_at = len(calls)
    twice.clear()
    job.start()
    assert twice.wait(5) and len(calls) > stopped_at  # started afresh after stop
    job.stop()
