"""The party index on SQLite and PostgreSQL: keyed fingerprints, added with the group that registers the person
(first registration wins, a second is refused whole), erasure forgets, and concurrent applications naming one new
person end with one party."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert

from ledger.app import Ledger
from ledger.errors import IndexTaken, StreamMoved
from ledger.log.reserved import LEDGER_SUBJECT
from ledger.parties import events as party_events
from ledger.parties.service import Person
from ledger.policies.rules.samples import CLEAN
from ledger.policies.service import Actor, ApplicationRequest, Beneficiary
from ledger.services.intake import Draft
from ledger.services.party_index import PartyIndex
from ledger.settings import Settings
from ledger.store import schema
from ledger.store.domain import DomainStore
from tests.factories import resident_id

TODAY = datetime.now(UTC).date()


@pytest.fixture
def ledger(backend: str, settings: Settings) -> Iterator[Ledger]:
    opened = Ledger.open(settings)
    opened.start(policy_clock=False)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def index(ledger: Ledger) -> PartyIndex:
    store = ledger.store
    return PartyIndex(DomainStore(store.engine, write_lock=store.write_lock, readers=store.readers),
                      master_key=ledger.secrets.master_key)


def person(name: str, number: str) -> Person:
    return Person.parse({"name": name, "id_number": number}, field="person", today=TODAY)


def register(ledger: Ledger, index: PartyIndex, name: str, number: str, party_id: str,
             *, expected_seq: int = 0) -> None:
    """Record ``party_id``'s registration with its index row, as an application's group does."""
    _, event = ledger.parties.registration(person(name, number), actor={"role": "customer", "party": party_id},
                                           party_id=party_id)
    draft = Draft(type=event.type, stream=party_events.stream_of(party_id),
                  payload={**event.facts, **event.personal}, data_subject=LEDGER_SUBJECT,
                  personal_subject=event.personal_subject)
    ledger.intake.emit_all([draft], expected={party_events.stream_of(party_id): expected_seq},
                           index=[index.row(number, party_id)])


def test_a_row_lands_with_its_group_and_a_second_registration_of_the_number_is_refused_whole(
        ledger: Ledger, index: PartyIndex) -> None:
    alice, bob = resident_id("1990-01-01", sex="F"), resident_id("1980-02-02")
    assert index.find(alice) is None
    register(ledger, index, "Alice", alice, "PA")
    register(ledger, index, "Bob", bob, "PB")
    size = ledger.store.size()

    with pytest.raises(IndexTaken, match="resolve the people again"):
        register(ledger, index, "Alice", alice, "PX")
    assert ledger.store.size() == size  # nothing of the refused group was recorded
    assert not ledger.parties.exists("PX")
    assert (index.find(alice), index.find(bob)) == ("PA", "PB")
    assert index.find_many([alice, bob, resident_id("2000-03-03")]) == {alice: "PA", bob: "PB"}
    assert index.forget("PA") == 1 and index.find(alice) is None
    assert index.fingerprint(alice) != index.fingerprint(bob) and len(index.fingerprint(alice)) == 32


def test_a_group_refused_for_another_reason_adds_no_row(ledger: Ledger, index: PartyIndex) -> None:
    carol = resident_id("1985-04-04", sex="F")
    with pytest.raises(StreamMoved):
        register(ledger, index, "Carol", carol, "PC", expected_seq=3)  # the decision saw a position never reached
    assert index.find(carol) is None
    register(ledger, index, "Carol", carol, "PC")
    assert index.find(carol) == "PC"


def test_fingerprints_are_keyed_by_the_ledger(ledger: Ledger, index: PartyIndex) -> None:
    import hashlib

    number = resident_id("1990-01-01", sex="F")
    assert index.fingerprint(number) != hashlib.sha256(number.encode()).digest()
    other = PartyIndex(DomainStore(ledger.store.engine), master_key=bytes(32))
    assert other.fingerprint(number) != index.fingerprint(number)


@pytest.mark.parametrize("indexed_before", [False, True], ids=["new", "indexed-never-registered"])
def test_applications_at_once_naming_one_new_person_register_them_once(ledger: Ledger, index: PartyIndex,
                                                                      indexed_before: bool) -> None:
    """Eight customers apply at the same moment, each naming the same new person as beneficiary: every
    application is accepted, the person is registered once, and every application names that one party. Also
    when the index already names a party for them that was never registered (a data dir from a version that
    wrote the index before the group): the applications then register that party once."""
    shared = person("赵六", resident_id("1992-01-09", sex="F"))
    if indexed_before:
        with ledger.store.engine.begin() as conn:
            conn.execute(insert(schema.party_index).values(fingerprint=index.fingerprint(shared.id_number),
                                                           party_id="PORPHAN", created_at="2026-01-01T00:00:00Z"))
    customers = [f"P{n:020d}" for n in range(8)]
    start = threading.Barrier(len(customers))
    states: dict[str, object] = {}

    def apply(customer: str, n: int) -> None:
        request = ApplicationRequest(
            product_id="term-life", plan={"sum_insured": "300000", "term_years": 10, "payment_years": 10,
                                          "frequency": "annual"},
            policyholder=person("王五", resident_id("1970-05-20", serial=10 + n)), insured=None,
            relationship="self", beneficiaries=(Beneficiary(shared, Decimal(100)),), occupation_class=1,
            payment_account="6222000011112222", identity_documents=(),
            consent={"terms_read": True, "insured_consents": True}, answers=dict(CLEAN))
        start.wait()
        states[customer] = ledger.policies.apply(request, actor=Actor("customer", customer),
                                                 policyholder_id=customer)

    threads = [threading.Thread(target=apply, args=(customer, n)) for n, customer in enumerate(customers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(states) == customers
    named = {state.beneficiaries[0]["party"] for state in states.values()}  # type: ignore[attr-defined]
    assert named == ({"PORPHAN"} if indexed_before else named) and len(named) == 1
    (party,) = named
    assert ledger.parties.personal(party)["id_number"] == shared.id_number
    registrations = [row for row in ledger.store.iter_entries(0, ledger.store.size())
                     if row.type == party_events.PARTY_REGISTERED]
    assert len(registrations) == len(customers) + 1  # each customer, and the shared person once
