"""Fixtures of the policy tests: a started ledger on a real SQLite file whose clock the test sets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.settings import Settings
from tests.ledger.policies.test_lifecycle import START


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def ledger(settings: Settings, clock: FixedClock) -> Iterator[Ledger]:
    opened = Ledger.open(settings, clock=clock)
    opened.start(policy_clock=False)
    try:
        yield opened
    finally:
        opened.close()
