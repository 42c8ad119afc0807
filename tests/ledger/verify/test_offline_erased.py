"""An opening shows as "erased" exactly where the ledger's record of the read says it could not open it (its data
subject's key destroyed when the read was recorded): on bundles taken the real way, an opening taken out and passed
off as erased fails, and a real erasure verifies; on a recorded selection, a part the record names as erased but
the bundle shows opened fails too."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from ledger.log.statements import sign_event
from ledger.verify import offline
from ledger.verify.bundle import Selected, Subject
from tests.factories import POLICY_ADMIN_SCOPE
from tests.ledger.verify.bundle_helpers import claim_bundle, failure, of_type, recorded_bundle, reseal, work_claim
from tests.ledger.verify.conftest import Made

Bundle = dict[str, Any]


def _record(bundle: Bundle) -> dict[str, Any]:
    record: dict[str, Any] = of_type(bundle, "audit.trail.read")
    return record


def _taken_out(entry: dict[str, Any], part: str, record: dict[str, Any]) -> str:
    name = "personal part" if part == "personal" else part
    return (f"entry {entry['index']} ({entry['type']}) shows its {name} as erased, but the ledger's record of the "
            f"read (entry {record['index']} (audit.trail.read)) does not name it among the openings it could not "
            f"open: the opening was taken out")


def test_every_personal_part_passed_off_as_erased_fails_and_so_does_each_alone(made: Made) -> None:
    assert _record(made.bundle)["facts"]["payload"]["erased"] == []  # nobody is erased: the ledger says so
    personal = [e["index"] for e in made.bundle["entries"] if isinstance(e.get("personal"), dict)]
    assert len(personal) >= 3
    every = copy.deepcopy(made.bundle)
    for entry in every["entries"]:
        if entry["index"] in personal:
            entry["personal"] = "erased"
    found = failure(reseal(every), vkey=made.vkey)
    first = next(e for e in every["entries"] if e["index"] == personal[0])
    assert (found.name, found.detail) == ("erased", _taken_out(first, "personal", _record(every)))
    for index in personal:
        one = copy.deepcopy(made.bundle)
        entry = next(e for e in one["entries"] if e["index"] == index)
        entry["personal"] = "erased"
        found = failure(reseal(one), vkey=made.vkey)
        assert (found.name, found.detail) == ("erased", _taken_out(entry, "personal", _record(one))), found


def test_a_system_signed_entrys_facts_passed_off_as_erased_fail(made: Made) -> None:
    """A system may seal its facts under a person, so "erased" there cannot be told from a withheld opening by the
    entry alone: the read record tells them apart."""
    signed = [e for e in made.bundle["entries"] if e["key_id"] != "ledger" and isinstance(e.get("facts"), dict)]
    assert {e["type"] for e in signed} == {"medical.invoice.issued", "payments.claim.settled"}
    for chosen in signed:
        bundle = copy.deepcopy(made.bundle)
        entry = next(e for e in bundle["entries"] if e["index"] == chosen["index"])
        entry["facts"] = "erased"
        entry.pop("personal", None)  # nothing would show what a personal part was committed to
        found = failure(reseal(bundle), vkey=made.vkey)
        assert (found.name, found.detail) == ("erased", _taken_out(entry, "facts", _record(bundle))), found


def test_a_real_erasure_is_what_the_read_record_names_and_nothing_else_passes(hall: tuple[TestClient, Ledger],
                                                                            clock: FixedClock) -> None:
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    people = {e["personal"]["data_subject"] for e in claim_bundle(ledger, worked.claim_id)["entries"]
              if isinstance(e.get("personal"), dict)}
    for person in sorted(people):
        ledger.subjects.erase(person)
    bundle = claim_bundle(ledger, worked.claim_id, auditor="auditor-2")
    shown = [[e["index"], "personal"] for e in bundle["entries"] if e.get("personal") == "erased"]
    assert shown and _record(bundle)["facts"]["payload"]["erased"] == shown
    report = offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    statuses = {c.name: (c.status, c.detail) for c in report.checks}
    assert statuses["erased"][0] == "ok" and statuses["erased"][1].startswith(f"the {len(shown)} opening(s) shown")
    note = next(n for n in report.notes if n.startswith("erased"))
    assert all(f"entry {index} (personal part)" in note for index, _ in shown)

    left_out = copy.deepcopy(bundle)  # an erased part no longer said: the entry still names its commitment
    entry = next(e for e in left_out["entries"] if e["index"] == shown[0][0])
    del entry["personal"]
    found = failure(reseal(left_out), vkey=ledger.log.vkey)
    assert found.name == "openings" and "does not carry it (nor says it was erased)" in found.detail
    another = copy.deepcopy(bundle)  # an opening the ledger could open, passed off as erased beside the real ones
    extra = next(e for e in another["entries"] if e["key_id"] != "ledger" and isinstance(e.get("facts"), dict))
    extra["facts"] = "erased"
    extra.pop("personal", None)
    found = failure(reseal(another), vkey=ledger.log.vkey)
    assert (found.name, found.detail) == ("erased", _taken_out(extra, "facts", _record(another)))


def _signed_by_a_system(ledger: Ledger, person: str) -> tuple[Subject, list[Selected]]:
    """A policy stream of three events signed by a system, facts and personal part sealed under ``person``."""
    key = SigningKey.generate("policy-admin-3")
    ledger.keys.register(key_id=key.key_id, owner="policy-admin", public_key=key.public_key,
                         scope=POLICY_ADMIN_SCOPE)
    receipts = [ledger.intake.append(sign_event(key=key, event_id=f"p-{n}", type="policy.issued", stream="policy:p-3",
                                                payload={"n": n}, data_subject=person, personal={"name": "A. Person"},
                                                personal_subject=person), owner="policy-admin") for n in range(3)]
    chosen = [Selected(index=r.index, reason="the policy's own stream", open_facts=True, open_personal=True)
              for r in receipts]
    return Subject(kind="policy", id="p-3", streams=("policy:p-3",)), chosen


def test_facts_erased_carry_their_personal_part_with_them_and_the_record_is_held_both_ways(ledger: Ledger) -> None:
    """Facts sealed under a person who was erased show as "erased", and so does the personal part they committed
    to (nothing shows what it was): the record names the facts. A record naming an opening the bundle shows
    opened fails, as does one naming nothing while the bundle shows erased facts."""
    person = "customer:c-3"
    subject, chosen = _signed_by_a_system(ledger, person)
    opened = recorded_bundle(ledger, subject, chosen)
    assert offline.verify(copy.deepcopy(opened), vkey=ledger.log.vkey).ok
    first = chosen[0].index
    said = recorded_bundle(ledger, subject, chosen, auditor="auditor-said", erased=[[first, "facts"]])
    found = failure(said, vkey=ledger.log.vkey)
    record = _record(said)["index"]
    assert (found.name, found.detail) == ("erased", f"entry {record} (audit.trail.read) names the facts of entry "
                                                    f"{first} as erased (its data subject's key destroyed), but the "
                                                    f"bundle does not show it as erased")

    ledger.subjects.erase(person)
    gone = recorded_bundle(ledger, subject, chosen, auditor="auditor-gone")
    assert [(e["facts"], e["personal"]) for e in gone["entries"][:-1]] == [("erased", "erased")] * 3
    assert _record(gone)["facts"]["payload"]["erased"] == [[c.index, "facts"] for c in chosen]
    report = offline.verify(copy.deepcopy(gone), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert {c.name: c.status for c in report.checks}["erased"] == "ok"
    unsaid = recorded_bundle(ledger, subject, chosen, auditor="auditor-unsaid", erased=[])
    found = failure(unsaid, vkey=ledger.log.vkey)
    assert found.name == "erased" and found.detail.startswith(f"entry {first} (policy.issued) shows its facts as "
                                                              f"erased, but the ledger's record of the read")
