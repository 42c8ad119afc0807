"""Opening payloads when another process shares the database: an erasure there closes them here at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.app import EVENT_TYPES, Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import ErasedError
from ledger.log.catalog import EventType
from ledger.log.statements import sign_event
from ledger.services.intake import Draft
from ledger.settings import Settings

pytestmark = pytest.mark.usefixtures("backend")

VISIT = EventType("clinic.visit", facts=frozenset({"plan"}), personal=frozenset({"name"}))


@pytest.fixture
def other(ledger: Ledger) -> Iterator[Ledger]:
    """A second ledger on the same data dir and database, as another process would open it."""
    opened = Ledger.open(ledger.settings)
    try:
        yield opened
    finally:
        opened.close()


def append(ledger: Ledger, key: SigningKey, n: int, subject: str) -> int:
    event = sign_event(key=key, event_id=f"evt-{n}", type="premium.collected", stream=f"policy:p{n}",
                       payload={"amount": f"{n}.00", "currency": "CNY"}, data_subject=subject)
    return ledger.intake.append(event, owner="policy-admin").index


def test_an_erasure_by_another_process_closes_payloads_this_one_opened(ledger: Ledger, other: Ledger,
                                                                       system_key: SigningKey) -> None:
    gone = append(ledger, system_key, 1, "customer:gone")
    kept = append(ledger, system_key, 2, "customer:kept")
    assert ledger.subjects.open_payload(gone).payload == {"amount": "1.00", "currency": "CNY"}
    assert ledger.subjects.open_payload(kept).payload == {"amount": "2.00", "currency": "CNY"}

    assert other.subjects.erase("customer:gone") == 1

    with pytest.raises(ErasedError, match=f"payload of entry {gone} was erased"):
        ledger.subjects.open_payload(gone)
    assert ledger.subjects.open_payload(kept).payload == {"amount": "2.00", "currency": "CNY"}
    with pytest.raises(ErasedError):
        other.subjects.open_payload(gone)


def test_an_erasure_by_another_process_closes_personal_parts_this_one_opened(settings: Settings) -> None:
    clinic = Ledger.open(settings, event_types=[*EVENT_TYPES, VISIT])
    try:
        index = clinic.intake.emit(Draft(VISIT.name, "visit:v1", {"plan": "MED-1", "name": "Patient 1"},
                                         data_subject="visit:v1", personal_subject="party:alice")).index
        personal = clinic.subjects.open_personal(index)
        assert personal is not None and personal.payload == {"name": "Patient 1"}

        other = Ledger.open(settings)
        try:
            assert other.subjects.erase("party:alice") == 1
        finally:
            other.close()

        with pytest.raises(ErasedError, match=f"entry {index}"):
            clinic.subjects.open_personal(index)
        assert clinic.subjects.open_payload(index).payload["plan"] == "MED-1"  # the facts' subject was kept
    finally:
        clinic.close()
