"""The identifiers a statement carries: event ids, event types, streams, data subjects and timestamps.

Each is a whole-string ASCII pattern and a check that returns the value or raises ``ValidationFailed`` naming the
field and the form it must take. Statements, the key service and the edges check identifiers here, so one
spelling is accepted everywhere. Timestamps are written in one form (``utc_timestamp``) and read back as dates
no earlier than 1900 and no later than 2199 (``parse_timestamp``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ledger.errors import ValidationFailed

# Identifiers are matched whole (``fullmatch``) and ASCII only: ``$`` would also match before a trailing newline
# and ``\d`` any Unicode digit, which let look-alike identifiers through.
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", re.ASCII)
EVENT_TYPE = re.compile(r"(?=.{3,128}\Z)[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,4}", re.ASCII | re.DOTALL)
STREAM = re.compile(r"[a-z][a-z0-9_]{0,30}:[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", re.ASCII)
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199  # outside these a timestamp is a typo or a forgery, not a business date
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z", re.ASCII)


def _check(pattern: re.Pattern[str], value: Any, field: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationFailed(f"{field} must be {what}", field=field)
    return value


def check_event_id(value: Any, *, field: str) -> str:
    """Return ``value`` if it is an event id: 1-128 characters of ``A-Z a-z 0-9 . _ : -``."""
    return _check(EVENT_ID, value, field, "1-128 characters of A-Z a-z 0-9 . _ : -")


def check_event_type(value: Any, *, field: str) -> str:
    """Return ``value`` if it is an event type: 2-5 dotted lowercase words, at most 128 characters."""
    return _check(EVENT_TYPE, value, field, "2-5 dotted lowercase words like 'policy.issued', at most 128 characters")


def check_stream(value: Any, *, field: str) -> str:
    """Return ``value`` if it is a stream ``<kind>:<id>`` (kind up to 31, id up to 128 characters)."""
    return _check(STREAM, value, field, "'<kind>:<id>' like 'policy:7f3a9c' (kind up to 31, id up to 128 characters)")


def check_subject(value: Any, *, field: str = "data_subject") -> str:
    """Return ``value`` if it is a data subject or owner id: 1-128 characters of ``A-Z a-z 0-9 . _ : -``."""
    return _check(SUBJECT, value, field, "1-128 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit")


def check_timestamp(value: Any, *, field: str) -> str:
    """Return ``value`` if it is written ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (the form only, not the date)."""
    return _check(TIMESTAMP, value, field, "an RFC 3339 UTC timestamp like 2026-01-31T12:00:00Z")


def utc_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC timestamp with microseconds and a ``Z`` suffix (the only form the journal records)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: Any, *, field: str) -> datetime:
    """Parse a ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` timestamp, naming ``field`` when it is malformed."""
    check_timestamp(value, field=field)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"{field} is not a real date and time", field=field) from exc
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValidationFailed(f"{field} must be a date from {EARLIEST_YEAR} to {LATEST_YEAR}, got year "
                               f"{moment.year}", field=field)
    return moment
