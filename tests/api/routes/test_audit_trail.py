"""The auditor's trail over HTTP: what touches a claim or a policy, proved in the latest checkpoint; payloads
opened by grant only; every read recorded in the journal; and who may ask."""

from __future__ import annotations

import base64
import copy
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.log.checkpoint import open_checkpoint
from ledger.log.merkle import leaf_hash
from ledger.log.note import NoteVerifier
from ledger.log.proofs import verify_inclusion
from ledger.settings import Settings
from ledger.verify import offline
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.claims_more_helpers import paid_death_claim
from tests.api.routes.servicing_helpers import OWNER, START, headers
from tests.ledger.verify.bundle_helpers import reseal

AUDITOR = "regulator-1"


def paid_claim(client: TestClient, ledger: Ledger, clock: FixedClock) -> tuple[str, str]:
    """A small medical claim paid with no person: (policy number, claim id)."""
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)
    reported = report(client, ledger, policy_no, documents=CUSTOMER_DOCS)
    assert reported.status_code == 201, reported.text
    claim = reported.json()
    assert post_invoice(client, ledger, systems, claim).status_code == 200
    assert settle(client, ledger, systems, claim["claim_id"]).status_code == 200
    return policy_no, claim["claim_id"]


def trail(client: TestClient, ledger: Ledger, path: str, auditor: str = AUDITOR) -> dict[str, Any]:
    answer = client.get(path, headers=headers(ledger, "auditor", auditor))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def check_proofs(ledger: Ledger, body: dict[str, Any]) -> None:
    """Every entry's leaf hashes to a leaf whose inclusion proof leads to the root of the signed checkpoint."""
    checkpoint = open_checkpoint(body["checkpoint"], NoteVerifier.from_vkey(ledger.log.vkey))
    assert checkpoint.size == body["tree_size"]
    for entry in body["entries"]:
        leaf = base64.b64decode(entry["leaf"])
        proof = [base64.b64decode(h) for h in entry["inclusion"]["hashes"]]
        verify_inclusion(index=entry["index"], size=checkpoint.size, leaf_hash=leaf_hash(leaf), proof=proof,
                         root=checkpoint.root)


def test_a_claims_trail_holds_its_stream_whole_its_evidence_and_documents_each_proved(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    _, claim_id = paid_claim(client, ledger, clock)
    body = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    entries = body["entries"]
    assert [e["index"] for e in entries] == sorted(e["index"] for e in entries)
    own = [e for e in entries if e["stream"] == f"claim:{claim_id}"]
    assert [e["seq"] for e in own] == list(range(1, len(own) + 1))  # the whole stream, no gap
    assert own[0]["type"] == "claim.reported" and own[-1]["type"] == "claim.closed"
    # the hospital's signed e-invoice and the payments system's settlement, cited as evidence, signed by them
    cited = {e["type"]: e for e in entries if e["reason"].startswith("evidence cited by entry")}
    assert set(cited) == {"medical.invoice.issued", "payments.claim.settled"}
    assert cited["medical.invoice.issued"]["key_id"] == "hospital-h001-k1"
    assert cited["payments.claim.settled"]["key_id"] == "payments-k1"
    # the uploads registered on chain, and the e-policy's lineage
    registered = [e for e in entries if e["type"] == "document.registered"]
    assert len(registered) == len(CUSTOMER_DOCS) + 1
    assert any(e["stream"].startswith("party:") and e["reason"] == "the party record of someone the claim names"
               for e in entries)
    assert body["subject"] == {"kind": "claim", "id": claim_id, "streams": body["subject"]["streams"]}
    assert f"claim:{claim_id}" in body["subject"]["streams"]
    check_proofs(ledger, body)


def test_without_a_grant_an_auditor_sees_amounts_and_decisions_not_medical_or_personal_data(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    _, claim_id = paid_claim(client, ledger, clock)
    body = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    assert body["openings"] == ["facts"] and body["grants"] == []
    by_type = {e["type"]: e for e in body["entries"] if e["stream"] == f"claim:{claim_id}"}
    decided = by_type["claim.decided"]
    assert decided["facts"]["payload"]["outcome"] == "approve"
    assert decided["facts"]["payload"]["amount"]["amount"] == "900.00"
    assert "facts" not in by_type["claim.invoice.received"]  # medical: withheld
    assert "facts" not in by_type["claim.assessed"]
    assert all("personal" not in e for e in body["entries"])
    # the versions behind a decision are shown beside it
    instructed = by_type["claim.payment.instructed"]
    assert instructed["facts"]["payload"]["amount"] == {"amount": "900.00", "currency": "CNY"}


def test_a_medical_grant_opens_the_medical_events_of_its_subject_only_and_a_revocation_closes_them(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no, claim_id = paid_claim(client, ledger, clock)
    admin = headers(ledger, "admin", "admin-1")
    granted = client.post(f"/v1/audit/auditors/{AUDITOR}/grants", headers=admin, json={
        "openings": ["medical"], "subjects": [f"claim:{claim_id}"], "reason": "inspection 2026-17"})
    assert granted.status_code == 201, granted.text
    grant_id = granted.json()["grant_id"]
    body = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    assert body["openings"] == ["facts", "medical"] and body["grants"] == [grant_id]
    by_type = {e["type"]: e for e in body["entries"] if e["stream"] == f"claim:{claim_id}"}
    assert by_type["claim.invoice.received"]["facts"]["payload"]["total"]
    assert "personal" in by_type["claim.invoice.received"]  # the diagnoses, under the medical grant
    assert "personal" not in by_type["claim.reported"]  # names and accounts need a personal grant
    assert by_type["claim.assessed"]["citations"]  # the rule and table versions of the assessment
    # the grant covers that claim, not the policy's own trail
    policy = trail(client, ledger, f"/v1/audit/policies/{policy_no}/trail")
    assert policy["openings"] == ["facts"]
    revoked = client.post(f"/v1/audit/auditors/{AUDITOR}/grants/{grant_id}/revoke", headers=admin,
                          json={"reason": "inspection closed"})
    assert revoked.status_code == 200, revoked.text
    assert trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")["openings"] == ["facts"]


def test_every_read_is_recorded_in_the_journal_before_it_is_answered(hall: tuple[TestClient, Ledger],
                                                                     clock: FixedClock) -> None:
    client, ledger = hall
    policy_no, claim_id = paid_claim(client, ledger, clock)
    first = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    second = trail(client, ledger, f"/v1/audit/policies/{policy_no}/trail")
    assert second["recorded_as"] > first["recorded_as"]
    recorded = ledger.log.entry(first["recorded_as"])
    assert recorded.type == "audit.trail.read" and recorded.stream == f"audit:{AUDITOR}"
    assert recorded.key_id == "ledger"
    history = client.get(f"/v1/audit/auditors/{AUDITOR}", headers=headers(ledger, "admin", "admin-1")).json()
    assert history["reads_recorded"] == 2
    assert [(r["subject"], r["what"]) for r in history["reads"]] == [
        (f"policy:{policy_no}", "trail"), (f"claim:{claim_id}", "trail")]
    assert history["reads"][1]["entries"] == len(first["entries"])
    # an auditor sees their own history, not another's
    own = client.get(f"/v1/audit/auditors/{AUDITOR}", headers=headers(ledger, "auditor", AUDITOR))
    assert own.status_code == 200
    other = client.get(f"/v1/audit/auditors/{AUDITOR}", headers=headers(ledger, "auditor", "auditor-2"))
    assert other.status_code == 403


def test_a_policys_trail_holds_its_contract_claims_documents_and_parties(hall: tuple[TestClient, Ledger],
                                                                         clock: FixedClock) -> None:
    client, ledger = hall
    policy_no, claim_id = paid_claim(client, ledger, clock)
    body = trail(client, ledger, f"/v1/audit/policies/{policy_no}/trail")
    streams = {e["stream"].split(":", 1)[0] for e in body["entries"]}
    assert {"contract", "claim", "document", "party"} <= streams
    contract = [e for e in body["entries"] if e["stream"].startswith("contract:")]
    assert [e["seq"] for e in contract] == list(range(1, len(contract) + 1))
    assert any(e["type"] == "policy.contract.issued" for e in contract)
    assert any(e["stream"] == f"claim:{claim_id}" for e in body["entries"])
    check_proofs(ledger, body)


def test_only_auditors_read_trails_and_only_admins_grant(hall: tuple[TestClient, Ledger],
                                                         clock: FixedClock) -> None:
    client, ledger = hall
    _, claim_id = paid_claim(client, ledger, clock)
    for role, subject in (("customer", OWNER), ("adjuster", "adj-1"), ("admin", "admin-1")):
        answer = client.get(f"/v1/audit/claims/{claim_id}/trail", headers=headers(ledger, role, subject))
        assert answer.status_code == 403, role
    assert client.get(f"/v1/audit/claims/{claim_id}/trail").status_code == 401
    grant = {"openings": ["medical"], "subjects": ["*"], "reason": "self-service"}
    assert client.post(f"/v1/audit/auditors/{AUDITOR}/grants", json=grant,
                       headers=headers(ledger, "auditor", AUDITOR)).status_code == 403
    # nothing was recorded for the refused requests
    assert ledger.trails.access(AUDITOR).reads == 0


def test_unknown_subjects_and_bad_grants_are_named(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    auditor = headers(ledger, "auditor", AUDITOR)
    missing = client.get("/v1/audit/claims/C-NOPE/trail", headers=auditor)
    assert missing.status_code == 404 and "C-NOPE" in missing.json()["detail"]
    assert client.get("/v1/audit/policies/P-NOPE/bundle", headers=auditor).status_code == 404
    admin = headers(ledger, "admin", "admin-1")
    for body, field in (({"openings": ["facts"], "subjects": ["*"], "reason": "x"}, "openings"),
                        ({"openings": ["medical"], "subjects": ["party:X"], "reason": "x"}, "subjects"),
                        ({"openings": ["medical"], "subjects": ["claim:C-NOPE"], "reason": "x"}, "C-NOPE"),
                        ({"openings": ["medical"], "subjects": ["policy:P-NOPE"], "reason": "x"}, "P-NOPE"),
                        ({"openings": ["medical"], "subjects": ["*"], "reason": "x", "until": "2020-01-01"},
                         "until")):
        answer = client.post(f"/v1/audit/auditors/{AUDITOR}/grants", headers=admin, json=body)
        assert answer.status_code in (409, 422), answer.text
        assert field in answer.text
    assert ledger.trails.access(AUDITOR).grants == ()


def test_a_downloaded_bundle_verifies_offline_and_its_read_is_recorded(hall: tuple[TestClient, Ledger],
                                                                      clock: FixedClock) -> None:
    client, ledger = hall
    policy_no, claim_id = paid_claim(client, ledger, clock)
    auditor = headers(ledger, "auditor", AUDITOR)
    answer = client.get(f"/v1/audit/claims/{claim_id}/bundle", headers=auditor)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"] == f'attachment; filename="claim-{claim_id}.bundle.json"'
    bundle = answer.json()
    report = offline.verify(bundle, vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert bundle["manifest"]["subject"]["id"] == claim_id
    assert bundle["manifest"]["grant"]["openings"] == ["facts"]
    trail_indexes = [e["index"] for e in trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")["entries"]]
    # the bundle holds what the trail shows, and the ledger's record of the read that made it
    assert [e["index"] for e in bundle["entries"]] == [*trail_indexes, bundle["manifest"]["grant"]["recorded_as"]]
    policy = client.get(f"/v1/audit/policies/{policy_no}/bundle", headers=auditor)
    assert policy.status_code == 200
    assert offline.verify(policy.json(), vkey=ledger.log.vkey).ok
    reads = ledger.trails.reads(AUDITOR)
    assert [(r["subject"], r["what"]) for r in reads] == [
        (f"policy:{policy_no}", "bundle"), (f"claim:{claim_id}", "trail"), (f"claim:{claim_id}", "bundle")]
    assert reads[2]["entry"] == bundle["manifest"]["grant"]["recorded_as"]
    assert reads[2]["tree_size"] <= reads[2]["entry"] < bundle["checkpoint"]["tree_size"]


def test_a_death_claims_trail_shows_the_contract_ended_and_the_e_policy_revoked(hall: tuple[TestClient, Ledger],
                                                                               clock: FixedClock) -> None:
    client, ledger = hall
    death = paid_death_claim(client, ledger, clock)
    claim_id = death.claim["claim_id"]
    body = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    caused = [e for e in body["entries"] if e["reason"] == "a change to the contract the claim caused"]
    assert [e["type"] for e in caused] == ["policy.contract.claim_ended"]
    lineage = [e for e in body["entries"] if e["reason"] == "the e-policy's versions"]
    assert lineage[0]["type"] == "document.registered"
    assert lineage[-1]["type"] == "document.revoked"
    assert lineage[-1]["facts"]["payload"]["digest"] == death.epolicy
    # the keyed cause of death is medical: withheld without a grant
    medical = [e for e in body["entries"] if e["type"] == "claim.medical.recorded"]
    assert medical and all("facts" not in e for e in medical)
    check_proofs(ledger, body)


def test_a_bundle_cut_short_at_a_streams_end_fails_against_the_ledgers_record_of_the_read(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    _, claim_id = paid_claim(client, ledger, clock)
    bundle = client.get(f"/v1/audit/claims/{claim_id}/bundle", headers=headers(ledger, "auditor", AUDITOR)).json()
    report = offline.verify(bundle, vkey=ledger.log.vkey)
    assert report.ok and any(c.name == "stream ends" and c.status == "ok" for c in report.checks), report.text()
    record = [e for e in bundle["entries"] if e["type"] == "audit.trail.read"]
    assert [e["index"] for e in record] == [bundle["manifest"]["grant"]["recorded_as"]]
    own = [e for e in bundle["entries"] if e["stream"] == f"claim:{claim_id}"]
    assert record[0]["facts"]["payload"]["heads"][f"claim:{claim_id}"] == len(own)

    # the claim's closing event dropped, the manifest sealed again: the story still runs from seq 1 without a
    # gap, but no longer ends where the ledger's record of the read says it did
    cut = copy.deepcopy(bundle)
    cut["entries"] = [e for e in cut["entries"] if e["index"] != own[-1]["index"]]
    failed = offline.verify(reseal(cut), vkey=ledger.log.vkey).failure
    assert failed is not None and failed.name == "stream ends", failed
    assert "1 missing from its end" in failed.detail
    # and the record itself dropped: the manifest names it
    unrecorded = copy.deepcopy(bundle)
    unrecorded["entries"] = [e for e in unrecorded["entries"] if e["type"] != "audit.trail.read"]
    failed = offline.verify(reseal(unrecorded), vkey=ledger.log.vkey).failure
    assert failed is not None and failed.name == "read record" and "recorded as entry" in failed.detail


def test_a_personal_grant_opens_names_and_accounts_but_no_health_data(hall: tuple[TestClient, Ledger],
                                                                    clock: FixedClock) -> None:
    client, ledger = hall
    policy_no, claim_id = paid_claim(client, ledger, clock)
    granted = client.post(f"/v1/audit/auditors/{AUDITOR}/grants", headers=headers(ledger, "admin", "admin-1"),
                          json={"openings": ["personal"], "subjects": ["*"], "reason": "identity checks"})
    assert granted.status_code == 201, granted.text
    for path in (f"/v1/audit/claims/{claim_id}/trail", f"/v1/audit/policies/{policy_no}/trail"):
        body = trail(client, ledger, path)
        assert body["openings"] == ["facts", "personal"]
        medical = [e for e in body["entries"] if e["type"] in body["medical_types"]]
        assert medical, path  # the invoice, the assessment, the health questionnaire ...
        assert all("facts" not in e and "personal" not in e for e in medical), path
    claim = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    instructed = next(e for e in claim["entries"] if e["type"] == "claim.payment.instructed")
    assert instructed["personal"]["payload"]["account"]["bank"]  # the payee's account, under the personal grant
    # a decision shows the versions of the assessment it stands on, though the assessment itself is medical
    decided = next(e for e in claim["entries"] if e["type"] == "claim.decided")
    assert decided["citations"]["versions"]["product"]["id"] == "medical"


def test_a_policys_trail_keeps_a_replaced_beneficiarys_record(hall: tuple[TestClient, Ledger],
                                                              clock: FixedClock) -> None:
    from tests.api.routes.servicing_helpers import drive, issue, policy, submit, uploads
    from tests.factories import resident_id

    client, ledger = hall
    policy_no = issue(client, ledger)
    before = [b["party"] for b in policy(client, ledger, policy_no)["beneficiaries"]]
    docs = uploads(client, headers(ledger, "customer", OWNER), "ID-DOCUMENT", "BENEFICIARY-ID", "RELATIONSHIP-PROOF")
    child = {"name": "王小七", "id_number": resident_id("2012-02-02", sex="F")}
    view = submit(client, ledger, policy_no, "beneficiary_change", {"beneficiaries": [
        {"person": child, "share": "100", "relationship": "child"}]}, docs=docs)
    driven = drive(client, ledger, clock, view)
    assert driven.path[-1] == "completed"
    after = [b["party"] for b in policy(client, ledger, policy_no)["beneficiaries"]]
    assert set(before).isdisjoint(after)
    body = trail(client, ledger, f"/v1/audit/policies/{policy_no}/trail")
    for party in (*before, *after):
        assert f"party:{party}" in body["subject"]["streams"], party
    assert any(e["stream"].startswith("servicing:") for e in body["entries"])


def test_auditors_read_claims_and_policies_only_through_the_audit_routes(hall: tuple[TestClient, Ledger],
                                                                         clock: FixedClock) -> None:
    client, ledger = hall
    policy_no, claim_id = paid_claim(client, ledger, clock)
    auditor = headers(ledger, "auditor", AUDITOR)
    for path in (f"/v1/claims/{claim_id}", f"/v1/claims/{claim_id}/timeline", f"/v1/policies/{policy_no}",
                 f"/v1/policies/{policy_no}/documents"):
        assert client.get(path, headers=auditor).status_code == 403, path
    assert client.get("/v1/kpis", params={"from": "2026-01-01", "to": "2027-12-31"},
                      headers=auditor).status_code == 200  # figures naming their entries, no payloads
    assert ledger.trails.access(AUDITOR).reads == 0


def test_a_bundle_taken_over_http_carries_the_anchor_that_covers_its_story(tmp_path: Path) -> None:
    """The read record is written after the anchor: the bundle still carries the anchor covering the claim."""
    clock = FixedClock(START)
    settings = Settings(data_dir=tmp_path / "data", checkpoint_interval=0.2, anchor_interval=0.01,
                        chain_url="embedded", origin="test.lifeledger/log", render_workers=0)
    ledger = Ledger.open(settings, clock=clock)
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            _, claim_id = paid_claim(client, ledger, clock)
            checkpoint = ledger.log.checkpoint_now()
            assert checkpoint is not None
            for _ in range(300):
                if ledger.anchoring.status().anchored_tree_size >= checkpoint.tree_size:
                    break
                time.sleep(0.05)
            bundle = client.get(f"/v1/audit/claims/{claim_id}/bundle",
                                headers=headers(ledger, "auditor", AUDITOR)).json()
            assert bundle["anchor"]["status"] == "anchored", bundle["anchor"]
            assert bundle["anchor"]["tree_size"] >= max(e["index"] for e in bundle["entries"]
                                                        if e["type"] != "audit.trail.read") + 1
            report = offline.verify(bundle, vkey=ledger.log.vkey)
            assert report.ok, report.text()
            assert any(c.name == "anchor" and c.status == "ok" for c in report.checks), report.text()
    finally:
        ledger.close()


def test_an_auditor_name_that_cannot_name_a_stream_is_refused_naming_the_auditor(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    _, claim_id = paid_claim(client, ledger, clock)
    admin = headers(ledger, "admin", "admin-1")
    for answer in (client.post("/v1/audit/auditors/a:b/grants", headers=admin,
                               json={"openings": ["medical"], "subjects": ["*"], "reason": "x"}),
                   client.get("/v1/audit/auditors/a:b", headers=admin),
                   client.get(f"/v1/audit/claims/{claim_id}/trail", headers=headers(ledger, "auditor", "a:b"))):
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "auditor", answer.text


def test_health_words_reach_no_auditor_without_a_medical_grant(hall: tuple[TestClient, Ledger],
                                                               clock: FixedClock) -> None:
    """The description of the loss and the e-policy's printed exclusions sit in personal parts: a personal grant
    alone does not open them; personal and medical together do."""
    client, ledger = hall
    policy_no, claim_id = paid_claim(client, ledger, clock)
    admin = headers(ledger, "admin", "admin-1")
    assert client.post(f"/v1/audit/auditors/{AUDITOR}/grants", headers=admin, json={
        "openings": ["personal"], "subjects": ["*"], "reason": "identity checks"}).status_code == 201
    body = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    reported = next(e for e in body["entries"] if e["type"] == "claim.reported")
    assert "personal" not in reported and reported["facts"]["payload"]["claim_type"] == "medical"
    policy = trail(client, ledger, f"/v1/audit/policies/{policy_no}/trail")
    issued = next(e for e in policy["entries"] if e["type"] == "policy.contract.issued")
    assert "personal" not in issued
    assert client.post(f"/v1/audit/auditors/{AUDITOR}/grants", headers=admin, json={
        "openings": ["medical"], "subjects": ["*"], "reason": "medical review"}).status_code == 201
    both = trail(client, ledger, f"/v1/audit/claims/{claim_id}/trail")
    assert "personal" in next(e for e in both["entries"] if e["type"] == "claim.reported")


def test_the_read_record_names_every_opening_lost_to_an_erasure(hall: tuple[TestClient, Ledger],
                                                                 clock: FixedClock) -> None:
    client, ledger = hall
    _, claim_id = paid_claim(client, ledger, clock)
    assert client.post(f"/v1/audit/auditors/{AUDITOR}/grants", headers=headers(ledger, "admin", "admin-1"), json={
        "openings": ["medical", "personal"], "subjects": [f"claim:{claim_id}"], "reason": "review"}).status_code == 201
    ledger.subjects.erase(OWNER)
    bundle = client.get(f"/v1/audit/claims/{claim_id}/bundle", headers=headers(ledger, "auditor", AUDITOR)).json()
    record = next(e for e in bundle["entries"] if e["type"] == "audit.trail.read")
    shown = sorted([e["index"], part] for e in bundle["entries"] for part in ("facts", "personal")
                   if e.get(part) == "erased")
    assert shown and record["facts"]["payload"]["erased"] == shown
