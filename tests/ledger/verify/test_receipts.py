"""Receipts read as one-event (or one-stream) bundles, a bundle of a person who was erased since, and a policy's
bundle (taken the real way) with its e-policy's digest and registration."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.log.encoding import parse_digest
from ledger.verify import offline
from tests.api.routes.servicing_helpers import OWNER, documents, headers, issue
from tests.ledger.verify.bundle_helpers import (
    claim_bundle,
    failure,
    odd_outcomes,
    other_vkey,
    places,
    reseal,
    work_claim,
)


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
    n = len(receipt["receipts"])
    assert report.facts["events"].endswith(f"seq 1..{n}; its end is not proved")
    statuses = {c.name: (c.status, c.detail) for c in report.checks}
    assert statuses["anchor"][0] == "not checked"  # anchoring is off: pending
    assert statuses["whole stream"] == ("ok", f"claim:{first.claim_id} seq 1..{n} without a gap and nothing "
                                              f"foreign; its end is not proved")
    assert statuses["stream end"][0] == "not checked" and report.not_checked == ["stream end", "anchor"]
    assert f"events after seq {n} may have been left out" in statuses["stream end"][1]

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
    assert found.name == "documents" and found.detail == (
        f"document {digest} cites entries [{bundle['entries'][0]['index']}]; the opened document entries naming it "
        f"are [{registered}]")


def test_a_receipt_is_read_as_strictly_as_a_bundle(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    """A receipt of another shape (a key it does not have, a number that is not an exact integer, a section of
    another type) cannot be judged: exit 2 naming where, like a bundle, never a traceback."""
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    receipt = _covered(client, ledger, worked.claim_id)
    event = receipt["receipts"][0]

    def unusable(change: Callable[[dict[str, Any]], None], document: dict[str, Any] = receipt) -> str:
        changed = copy.deepcopy(document)
        change(changed)
        with pytest.raises(offline.Unusable) as caught:
            offline.verify(changed, vkey=ledger.log.vkey)
        return str(caught.value)

    cases: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (lambda r: r["receipts"][0]["entry"].__setitem__("index", True),
         "receipts[0].entry.index is true, not an exact integer"),
        (lambda r: r["receipts"][0]["inclusion"].__setitem__("index", float(event["entry"]["index"])),
         f"receipts[0].inclusion.index is {float(event['entry']['index'])}, not an exact integer"),
        (lambda r: r["receipts"][0]["entry"].__setitem__("type", "claim.decided"),
         "receipts[0].entry holds the key 'type', which the format does not have there"),
        (lambda r: r.__setitem__("verified", True), "receipt holds the key 'verified'"),
        (lambda r: r["receipts"][0].__setitem__("checkpoint", 5), "receipts[0].checkpoint is 5, not a string"),
        (lambda r: r.__setitem__("receipts", "x"), 'receipts is "x", not a list'),
        (lambda r: r.__setitem__("vkey", None), "vkey is null, not a string"),
        (lambda r: r["anchor"].__setitem__("status", []), "anchor.status is list, not one of 'anchored', 'pending'"),
        (lambda r: r.pop("origin"), "receipt lacks 'origin'"),
    ]
    for change, words in cases:
        message = unusable(change)
        assert words in message, (words, message)
    single = copy.deepcopy(event)
    single["entry"]["seq"] = 1.0
    with pytest.raises(offline.Unusable, match=r"^entry\.seq is 1\.0, not an exact integer"):
        offline.verify(single, vkey=ledger.log.vkey)
    out: list[str] = []
    errors: list[str] = []
    path = Path(ledger.settings.data_dir) / "odd-receipt.json"
    path.write_text(json.dumps({**receipt, "receipts": [{**event, "status": "done"}]}), encoding="utf-8")
    assert offline.main([str(path), "--vkey", ledger.log.vkey], out=out.append, err=errors.append) == 2
    assert out == [] and errors == ['cannot verify: receipts[0].status is "done", not one of \'checkpointed\', '
                                    "'pending'\n"]


def test_a_receipt_cut_short_holds_only_as_far_as_it_goes_and_says_its_end_is_not_proved(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    receipt = _covered(client, ledger, worked.claim_id)
    cut = copy.deepcopy(receipt)
    cut["receipts"] = cut["receipts"][:3]
    report = offline.verify(cut)  # no --vkey either: the receipt's own key, said in the verdict
    assert report.ok and not report.key_trusted
    assert report.not_checked == ["verifier key", "stream end", "anchor"]
    assert report.facts["events"] == f"3 on claim:{worked.claim_id}, seq 1..3; its end is not proved"
    verdict = report.text().splitlines()[-1]
    assert verdict.startswith("verdict: everything checked holds against the key the file carries (")
    assert verdict.endswith("; not checked: stream end, anchor")
    assert any(note.startswith("not proved by the receipt: status, claim_type") for note in report.notes)
    other = copy.deepcopy(receipt)  # a checkpoint of this ledger, the receipt says another log
    other["origin"] = "other.example/log"
    found = failure(other, vkey=ledger.log.vkey)
    assert found.name == "receipts" and "the receipt says 'other.example/log'" in found.detail


def test_no_odd_value_in_a_receipt_makes_an_unexpected_error(hall: tuple[TestClient, Ledger], clock: FixedClock,
                                                            tmp_path: Path) -> None:
    """Every value of a claim's receipt replaced by each odd value in turn: a failed check or undecidable, one
    line; it verifies only where the receipt does not prove what was changed, as its report says."""
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    receipt = _covered(client, ledger, worked.claim_id)
    receipt["receipts"] = receipt["receipts"][:2]  # the rest are alike

    assert receipt["anchor"]["status"] == "pending"  # anchoring is off: the anchor is reported as not checked

    def unproved(path: tuple[Any, ...]) -> bool:
        return (path[-1] in ("duplicate", "receipt_url", "status", "claim_type") and path != ("anchor", "status")) or (
            path[0] == "anchor" and path[-1] in ("index", "see"))

    seen = odd_outcomes(receipt, places(receipt), vkey=ledger.log.vkey, work=tmp_path, unproved=unproved, seal=False)
    assert seen[1] > 10 and seen[2] > 50, seen
