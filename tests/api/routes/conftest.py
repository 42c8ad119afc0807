"""Fixtures of the servicing route tests: the real app over a ledger whose clock stands still until moved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.settings import Settings
from tests.api.routes.servicing_helpers import START


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def hall(settings: Settings, clock: FixedClock) -> Iterator[tuple[TestClient, Ledger]]:
    """The app over a ledger on ``clock`` (cooling-off periods and anniversaries are walked through by moving it)."""
    ledger = Ledger.open(settings, clock=clock)
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            yield client, ledger
    finally:
        ledger.close()
