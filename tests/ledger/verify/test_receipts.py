"""Receipts read as one-event (or one-stream) bundles, a bundle of a person who was erased since, and a policy's
bundle (taken the real way) with its e-policy's digest and registration."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.log.encoding import parse_digest
from ledger.verify import offline
from tests.api.routes.servicing_helpers import OWNER, documents, headers, issue
from tests.ledger.verify.bundle_helpers import claim_bundle, failure, other_vkey, reseal, work_claim


def _covered(client: TestClient, ledger: Ledger, claim_id: str) -> dict[str, Any]:
    ledger.log.checkpoint_now()
    receipt: dict[str, Any] = client.get(f"/v1/claims/{claim_id}/receipt",
                                         headers=headers(ledger, "adjuster", "adjuster-1")).json()
    assert all(item["status"] == "checkpointed" for item in receipt["receipts"]), receipt
    return receipt


def test_a_claim_receipt_verifies_as_a_bundle_and_a_foreign_event_in_it_does_not(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    first = work_claim(client, ledger, clock)
    second = work_claim(client, ledger, clock, systems=first.systems)
    receipt = _covered(client, ledger, first.claim_id)
    report = offline.verify(copy.deepcopy(receipt), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert report.kind.startswith("claim receipt") and report.subject == f"claim {first.claim_id}"
    assert report.facts["events"].endswith(f"seq 1..{len(receipt['receipts'])}")
    assert {c.name: c.status for c in report.checks}["anchor"] == "not checked"  # anchoring is off: pending

    other = _covered(client, ledger, second.claim_id)
    forged = copy.deepcopy(receipt)
    forged["receipts"].append(other["receipts"][-1])
    found = failure(forged, vkey=ledger.log.vkey)
    assert found.name == "whole stream" and f"claim:{second.claim_id}" in found.detail
    dropped = copy.deepcopy(receipt)
    del dropped["receipts"][1]
    assert "is not whole" in failure(dropped, vkey=ledger.log.vkey).detail
    assert failure(receipt, vkey=other_vkey()).name == "verifier key"
    with pytest.raises(offline.Unusable, match="--vkey"):  # not a vkey at all: nothing can be decided
        offline.verify(receipt, vkey="other.example+" + ledger.log.vkey.split("+", 1)[1])


def test_an_event_receipt_is_a_one_event_bundle(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    ledger.log.checkpoint_now()
    auditor = headers(ledger, "auditor", "auditor-1")
    event_id = ledger.claims.event_ids(worked.claim_id)[0]
    receipt = client.get(f"/v1/events/{event_id}/receipt", headers=auditor).json()
    report = offline.verify(copy.deepcopy(receipt), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert report.kind == "event receipt" and event_id in report.subject
    with pytest.raises(offline.Unusable, match="--vkey"):
        offline.verify(receipt)  # a single receipt carries no key of its own to trust
    changed = copy.deepcopy(receipt)
    changed["entry"]["stream"] = "claim:SOMETHING-ELSE"
    assert "shows stream" in failure(changed, vkey=ledger.log.vkey).detail
    changed = copy.deepcopy(receipt)
    changed["inclusion"]["hashes"].reverse()
    assert failure(changed, vkey=ledger.log.vkey).name == "receipt"
    # a hospital's signed invoice: in the tree, but its signature needs the key history a bundle carries
    invoice = next(i for i in range(ledger.log.size()) if ledger.log.entry(i).type == "medical.invoice.issued")
    signed = client.get(f"/v1/events/{ledger.log.entry(invoice).event_id}/receipt", headers=auditor).json()
    report = offline.verify(signed, vkey=ledger.log.vkey)
    assert report.ok and any("carries no key history" in note for note in report.notes)


def test_a_bundle_still_verifies_after_the_person_is_erased_and_says_so(hall: tuple[TestClient, Ledger],
                                                                        clock: FixedClock) -> None:
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    before = claim_bundle(ledger, worked.claim_id)
    people = {e["personal"]["data_subject"] for e in before["entries"] if isinstance(e.get("personal"), dict)}
    assert OWNER in people
    for person in sorted(people):
        ledger.subjects.erase(person)
    after = claim_bundle(ledger, worked.claim_id)
    # the same entries; each bundle carries the record of its own read
    assert [e["index"] for e in after["entries"]][:-1] == [e["index"] for e in before["entries"]][:-1]
    assert after["entries"][-1]["index"] > before["entries"][-1]["index"]
    assert after["manifest"]["counts"]["erased"] == before["manifest"]["counts"]["opened_personal"] > 0
    assert all(e.get("personal") in (None, "erased") for e in after["entries"])
    assert all(isinstance(e["facts"], dict) for e in after["entries"])  # the business facts stay readable
    report = offline.verify(after, vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert report.facts["openings"].endswith(f"{after['manifest']['counts']['erased']} erased")
    assert any(note.startswith("erased") and "personal part" in note for note in report.notes)


def test_a_policy_bundle_carries_its_e_policy_digest_and_registration(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    for _ in range(50):  # the e-policy is rendered and registered just after issue
        versions = documents(client, ledger, policy_no)
        if versions:
            break
        time.sleep(0.1)
    digest = versions[0]["digest"]
    registered = ledger.documents.get(parse_digest(digest)).registered_idx
    bundle = ledger.trails.policy_bundle(policy_no, auditor="auditor-1")
    items = bundle["documents"]["items"]
    assert [item["digest"] for item in items] == [digest] and items[0]["entries"] == [registered]
    assert items[0]["recorded"]["status"] == "issued" and items[0]["registrations"][0]["op"]
    assert [fn["name"] for fn in bundle["documents"]["abi"]] == ["documentStatus"]
    report = offline.verify(bundle, vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert report.subject == f"policy {policy_no}"
    assert {c.name: c.status for c in report.checks}["documents"] == "ok"
    cited_elsewhere = copy.deepcopy(bundle)
    cited_elsewhere["documents"]["items"][0]["entries"] = [bundle["entries"][0]["index"]]
    found = failure(reseal(cited_elsewhere), vkey=ledger.log.vkey)
    assert found.name == "documents" and "not an opened document entry" in found.detail
