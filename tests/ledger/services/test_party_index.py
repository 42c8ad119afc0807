"""The party index on SQLite and PostgreSQL: keyed fingerprints, first claim wins, erasure forgets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.app import Ledger
from ledger.services.party_index import PartyIndex
from ledger.settings import Settings
from ledger.store.domain import DomainStore
from tests.factories import resident_id


@pytest.fixture
def index(backend: str, settings: Settings) -> Iterator[tuple[PartyIndex, Ledger]]:
    ledger = Ledger.open(settings)
    try:
        store = ledger.store
        domain = DomainStore(store.engine, write_lock=store.write_lock, readers=store.readers)
        yield PartyIndex(domain, master_key=ledger.secrets.master_key, clock=ledger.clock), ledger
    finally:
        ledger.close()


def test_first_claim_wins_and_an_erasure_forgets(index: tuple[PartyIndex, Ledger]) -> None:
    parties, _ = index
    alice, bob = resident_id("1990-01-01", sex="F"), resident_id("1980-02-02")
    assert parties.find(alice) is None
    parties.claim_many([(alice, "PA"), (bob, "PB")])
    parties.claim_many([(alice, "PX")])  # taken: left as it is, no error
    assert (parties.find(alice), parties.find(bob)) == ("PA", "PB")
    assert parties.find_many([alice, bob, resident_id("2000-03-03")]) == {alice: "PA", bob: "PB"}
    assert parties.forget("PA") == 1 and parties.find(alice) is None
    assert parties.fingerprint(alice) != parties.fingerprint(bob) and len(parties.fingerprint(alice)) == 32


def test_fingerprints_are_keyed_by_the_ledger(index: tuple[PartyIndex, Ledger]) -> None:
    import hashlib

    parties, ledger = index
    number = resident_id("1990-01-01", sex="F")
    assert parties.fingerprint(number) != hashlib.sha256(number.encode()).digest()
    other = PartyIndex(DomainStore(ledger.store.engine), master_key=bytes(32), clock=ledger.clock)
    assert other.fingerprint(number) != parties.fingerprint(number)
