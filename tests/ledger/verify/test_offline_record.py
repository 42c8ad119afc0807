"""What the ledger's record of the read (``audit.trail.read``) holds a bundle to, on bundles taken the real way: the
selection (which entries, which openings), the read coming after every entry, and each signer's key history
reaching the last seq it names. Each forgery is re-sealed, so the check named is the one that sees through it."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from ledger.log.statements import sign_event
from ledger.verify import offline, trail
from ledger.verify.bundle import Selected, Subject
from tests.factories import EVERYTHING
from tests.ledger.verify.bundle_helpers import (
    builder,
    claim_bundle,
    failure,
    grant,
    of_type,
    recorded_bundle,
    reseal,
    work_claim,
)
from tests.ledger.verify.conftest import Made

Bundle = dict[str, Any]


def _placed(bundle: Bundle, entry: dict[str, Any]) -> None:
    bundle["entries"].append(entry)
    bundle["entries"].sort(key=lambda e: e["index"])


def test_an_auditor_without_a_grant_gets_a_bundle_whose_withheld_openings_are_committed(made: Made) -> None:
    bundle = made.facts_only
    report = offline.verify(copy.deepcopy(bundle), vkey=made.vkey)
    assert report.ok, report.text()
    withheld = [e for e in bundle["entries"] if not e["opened"]["facts"]]
    assert {e["type"] for e in withheld} >= {"claim.invoice.received", "claim.assessed", "medical.invoice.issued"}
    assert all("facts" not in e and "personal" not in e for e in withheld)
    assert not any(e["opened"]["personal"] or "personal" in e for e in bundle["entries"])  # no personal grant
    assert {c.name: c.status for c in report.checks}["selection"] == "ok"


def test_an_entry_nothing_else_would_miss_cannot_be_dropped_or_swapped(made: Made) -> None:
    """Without a medical grant the claim's entry citing the hospital's invoice is not opened, so only the
    selection the read record commits to shows the invoice was there."""
    size = made.facts_only["checkpoint"]["tree_size"]
    dropped = copy.deepcopy(made.facts_only)
    invoice = of_type(dropped, "medical.invoice.issued")
    dropped["entries"].remove(invoice)
    found = failure(reseal(dropped), vkey=made.vkey)
    assert found.name == "selection" and "entries were dropped or added" in found.detail, found
    swapped = copy.deepcopy(dropped)  # the other claim's invoice in its place
    _placed(swapped, made.entry_of_second("medical.invoice.issued", tree_size=size, facts=False))
    found = failure(reseal(swapped), vkey=made.vkey)
    assert found.name == "selection" and "an entry was added, dropped or swapped" in found.detail, found


def test_an_entry_the_read_did_not_select_cannot_be_added(made: Made) -> None:
    added = copy.deepcopy(made.bundle)  # another claim's settlement, on a stream of no kind the subject holds
    _placed(added, made.entry_of_second("payments.claim.settled", tree_size=added["checkpoint"]["tree_size"]))
    found = failure(reseal(added), vkey=made.vkey)
    assert found.name == "selection" and "entries were dropped or added" in found.detail, found


def test_the_opened_marks_are_what_the_read_record_commits_to(made: Made) -> None:
    more = copy.deepcopy(made.facts_only)  # a personal part said to have been opened where none was granted
    of_type(more, "claim.decided")["opened"]["personal"] = True
    found = failure(reseal(more), vkey=made.vkey)
    assert found.name == "selection" and "not the selection the ledger committed to" in found.detail, found
    claimed = copy.deepcopy(made.facts_only)  # facts said to have been opened, none carried
    of_type(claimed, "claim.assessed")["opened"]["facts"] = True
    found = failure(reseal(claimed), vkey=made.vkey)
    assert found.name == "openings" and "marked as having its facts opened but carries none" in found.detail


def test_a_newer_bundle_passed_off_under_an_older_read_record_is_refused(made: Made) -> None:
    ledger = made.ledger
    auditor = "auditor-replay"
    first = claim_bundle(ledger, made.claim_id, auditor=auditor, personal=False)
    unrelated = grant(ledger, f"claim:{made.claim_id}", auditor="auditor-other")  # the log moves on
    later = claim_bundle(ledger, made.claim_id, auditor=auditor, personal=False)
    assert offline.verify(copy.deepcopy(later), vkey=made.vkey).ok
    old_record = first["entries"][-1]
    size = later["checkpoint"]["tree_size"]
    proved = builder(ledger).entries([Selected(old_record["index"], old_record["reason"], True, False)],
                                     tree_size=size)[0]
    proved["opened"] = {"facts": True, "personal": False}
    granted = next(i for i in range(first["checkpoint"]["tree_size"], size)
                   if ledger.log.entry(i).stream == "audit:auditor-other")
    assert ledger.log.entry(granted).type == "audit.access.granted" and unrelated
    extra = builder(ledger).entries([Selected(granted, "a later grant", True, False)], tree_size=size)[0]
    extra["opened"] = {"facts": True, "personal": False}

    replayed = copy.deepcopy(later)  # the later bundle's entries, plus an entry written after the older read
    replayed["entries"] = [*later["entries"][:-1], proved]
    _placed(replayed, extra)
    replayed["manifest"]["grant"]["recorded_as"] = old_record["index"]
    found = failure(reseal(replayed), vkey=made.vkey)
    assert found.name == "read record" and f"entries {granted} come after the read" in found.detail, found
    both = copy.deepcopy(later)  # both records carried
    _placed(both, proved)
    found = failure(reseal(both), vkey=made.vkey)
    assert found.name == "read record" and "each record a read" in found.detail, found


def test_a_dropped_trailing_key_event_fails_against_the_key_heads(hall: tuple[TestClient, Ledger],
                                                                  clock: FixedClock) -> None:
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    ledger.keys.revoke(key_id="hospital-h001-k1", reason="the hospital's key was lost")  # after it signed
    bundle = claim_bundle(ledger, worked.claim_id)
    report = offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    record = bundle["entries"][-1]["facts"]["payload"]
    assert record["key_heads"] == {"system:hospital-h001": 2, "system:payments": 1}
    hospital = [e for e in bundle["keys"]["events"] if e["stream"] == "system:hospital-h001"]
    assert [e["type"] for e in hospital] == ["ledger.key.registered", "ledger.key.revoked"]

    cut = copy.deepcopy(bundle)  # the revocation left out: what is left is whole from seq 1
    cut["keys"]["events"] = [e for e in cut["keys"]["events"] if e["index"] != hospital[-1]["index"]]
    found = failure(reseal(cut), vkey=ledger.log.vkey)
    assert found.name == "key heads", found
    assert "system:hospital-h001 holds seq 1..1" in found.detail and "1 missing from its end" in found.detail


CITING: list[dict[str, Any]] = [
    {"evidence": 3}, {"evidence": [3, 5]}, {"flag": {"evidence": [7, 2]}}, {"invoice": {"evidence": 4}},
    {"evidence": [True, -1, "6", 8.0, 9]}, {"evidence": None}, {"flags": [{"evidence": [1]}]},
    {"deep": {"deeper": {"evidence": 1}}}, {"evidence": [[1]]}, {},
]


def test_the_verifier_counts_as_cited_what_the_trail_selects_as_cited() -> None:
    """The verifier's rule is the ledger's (``ledger.verify.trail.cited_entries``): an index or a list of indexes
    under "evidence", in the facts or one level down; nothing deeper, nothing but non-negative integers."""
    for facts in CITING:
        assert offline.cited_entries(facts) == trail.cited_entries(facts), facts
    assert offline.cited_entries({"evidence": [3, 5], "flag": {"evidence": [7]}}) == [3, 5, 7]


def test_every_entry_a_list_of_evidence_cites_must_be_in_the_bundle(ledger: Ledger) -> None:
    key = SigningKey.generate("screening-1")
    ledger.keys.register(key_id=key.key_id, owner="screening", public_key=key.public_key, scope=EVERYTHING)

    def append(event_id: str, stream: str, payload: dict[str, Any]) -> int:
        return ledger.intake.append(sign_event(key=key, event_id=event_id, type="policy.screened", stream=stream,
                                               payload=payload, data_subject="customer:c-9"),
                                    owner="screening").index

    cited = [append(f"hit-{n}", "watchlist:w-1", {"hit": n}) for n in range(2)]
    own = [append("s-1", "policy:p-9", {"flag": {"rule": "R1", "evidence": cited}}),
           append("s-2", "policy:p-9", {"evidence": [cited[0]]})]
    chosen = [Selected(index=i, reason="the policy's own stream", open_facts=True, open_personal=False) for i in own]
    chosen += [Selected(index=i, reason=f"evidence cited by entry {own[0]}", open_facts=True, open_personal=False)
               for i in cited]
    bundle = recorded_bundle(ledger, Subject(kind="policy", id="p-9", streams=("policy:p-9",)), chosen)
    report = offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert {c.name: c.detail for c in report.checks}["cited evidence"] == (
        "all 3 entries cited as evidence by opened facts are in the bundle")
    dropped = copy.deepcopy(bundle)
    dropped["entries"] = [e for e in dropped["entries"] if e["index"] != cited[1]]
    found = failure(reseal(dropped), vkey=ledger.log.vkey)
    assert (found.name, found.detail) == ("cited evidence", f"entry {own[0]} (policy.screened) cites entry "
                                                            f"{cited[1]} as its evidence, which the bundle does not "
                                                            f"hold")
