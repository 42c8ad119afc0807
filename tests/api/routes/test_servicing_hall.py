"""The servicing hall over HTTP on the real app and a real SQLite file, with the ledger's clock held still so
cooling-off periods and anniversaries can be walked through: automatic operations, the second confirmation,
documents, review and four eyes, cooling-off, receipts, isolation and idempotency."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from api.app import create_app
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.journal.opening import Opener
from ledger.journal.rebuild import rebuild
from ledger.settings import Settings
from ledger.store import schema as t
from tests.api.routes.servicing_helpers import (
    OWNER,
    STRANGER,
    code_for,
    headers,
    issue,
    past_free_look,
    upload,
)
from tests.factories import at_once, resident_id


def test_an_address_change_completes_at_once_with_a_receipt(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    me = headers(ledger, "customer", OWNER)
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me,
                       json={"operation": "address_change", "input": {"address": "上海市浦东新区世纪大道 100 号"}})
    assert made.status_code == 201, made.text
    request = made.json()
    assert request["status"] == "completed"
    assert [step["type"] for step in request["timeline"]] == [
        "servicing.request.submitted", "servicing.request.approved", "servicing.request.completed"]
    assert request["awaiting"] is None and request["expected_by"] == "2026-12-01"
    assert "世纪大道" not in made.text  # the new address is personal: sealed, never in the view

    shown = client.get(f"/v1/servicing/{request['request_id']}", headers=me)
    assert shown.status_code == 200 and shown.json()["status"] == "completed"
    assert client.get(f"/v1/servicing/{request['request_id']}",
                      headers=headers(ledger, "customer", STRANGER)).status_code == 404

    ledger.log.checkpoint_now()
    receipt = client.get(f"/v1/servicing/{request['request_id']}/receipt", headers=me).json()
    assert receipt["format"] == "lifeledger-servicing-receipt/1"
    assert len(receipt["receipts"]) == 3
    assert all(r["status"] == "checkpointed" for r in receipt["receipts"])


def test_an_insured_who_is_not_the_owner_cannot_change_the_beneficiary(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    stranger = client.post(f"/v1/policies/{policy_no}/servicing", headers=headers(ledger, "customer", STRANGER),
                           json={"operation": "address_change", "input": {"address": "北京市朝阳区 1 号"}})
    assert stranger.status_code == 404
    unknown = client.post(f"/v1/policies/{policy_no}/servicing", headers=headers(ledger, "customer", OWNER),
                          json={"operation": "teleport", "input": {}})
    assert unknown.status_code == 404 and unknown.json()["field"] == "code"
    bad = client.post(f"/v1/policies/{policy_no}/servicing", headers=headers(ledger, "customer", OWNER),
                      json={"operation": "address_change", "input": {"address": "x", "colour": "red"}})
    assert bad.status_code == 422 and bad.json()["field"].startswith("input.")


def test_a_surrender_needs_its_code_documents_review_and_cooling_off(hall: tuple[TestClient, Ledger],
                                                                      clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    me = headers(ledger, "customer", OWNER)
    docs = {"ID-DOCUMENT": upload(client, me, b"%PDF id"), "BANK-ACCOUNT-PROOF": upload(client, me, b"%PDF bank")}
    in_free_look = client.post(f"/v1/policies/{policy_no}/servicing", headers=me,
                               json={"operation": "surrender", "input": {}, "documents": docs})
    assert in_free_look.status_code == 409 and in_free_look.json()["rule"] == "POLICY-SURRENDERABLE"
    past_free_look(ledger, clock)
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers={**me, "Idempotency-Key": "s-1"},
                       json={"operation": "surrender", "input": {}, "documents": docs})
    assert made.status_code == 201, made.text
    request = made.json()
    rid = request["request_id"]
    assert request["status"] == "awaiting_confirmation"
    assert request["quote"]["formula"] == "surrender_value"
    again = client.post(f"/v1/policies/{policy_no}/servicing", headers={**me, "Idempotency-Key": "s-1"},
                        json={"operation": "surrender", "input": {}, "documents": docs})
    assert again.json()["request_id"] == rid  # a retry never makes a second request

    clerk = headers(ledger, "servicing", "clerk-1")
    early = client.post(f"/v1/servicing/{rid}/decision", headers=clerk, json={"action": "approve"})
    assert early.status_code == 409 and early.json()["rule"] == "REQUEST-STATUS"  # no skipping the code

    right = code_for(client, ledger, rid)
    wrong = client.post(f"/v1/servicing/{rid}/confirm", headers=me,
                        json={"code": f"{(int(right) + 1) % 1_000_000:06d}"})  # any code but the one sent
    assert wrong.status_code == 409 and wrong.json()["rule"] == "OTP-WRONG"
    confirmed = client.post(f"/v1/servicing/{rid}/confirm", headers=me, json={"code": right})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "under_review"

    queue = client.get("/v1/servicing/queue?high_risk=true", headers=clerk).json()
    assert rid in [row["request_id"] for row in queue]
    assert client.get("/v1/servicing/queue", headers=me).status_code == 403

    approved = client.post(f"/v1/servicing/{rid}/decision", headers=clerk, json={"action": "approve"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["awaiting"]["from"] == "clock"
    withdrawn = client.post(f"/v1/servicing/{rid}/withdraw", headers=me, json={})
    assert withdrawn.status_code == 409 and withdrawn.json()["rule"] == "ALREADY-APPROVED"

    assert ledger.servicing.run_clock() == {}  # cooling-off not over: nothing moves
    with pytest.raises(Exception, match="COOLING-OFF"):
        ledger.servicing.complete(rid)
    clock.advance(timedelta(hours=24, seconds=1))
    assert ledger.servicing.run_clock() == {"completed": 1}
    done = client.get(f"/v1/servicing/{rid}", headers=me).json()
    assert done["status"] == "completed"
    assert Decimal(done["outcome"]["amount"]["value"]["amount"]) >= 0
    policy = client.get(f"/v1/policies/{policy_no}", headers=me).json()
    assert policy["status"] == "Surrendered"
    documents = client.get(f"/v1/policies/{policy_no}/documents", headers=me).json()
    assert documents[-1]["status"] == "revoked"

    later = client.post(f"/v1/policies/{policy_no}/servicing", headers=me,
                        json={"operation": "address_change", "input": {"address": "北京市海淀区 8 号"}})
    assert later.status_code == 409 and later.json()["rule"] in ("POLICY-CLOSED", "POLICY-NOT-CLOSED")


def test_a_beneficiary_change_issues_a_new_epolicy_version(hall: tuple[TestClient, Ledger],
                                                          clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    me = headers(ledger, "customer", OWNER)
    docs = {code: upload(client, me, f"%PDF {code}".encode())
            for code in ("ID-DOCUMENT", "BENEFICIARY-ID", "RELATIONSHIP-PROOF")}
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
        "operation": "beneficiary_change", "documents": docs,
        "input": {"beneficiaries": [
            {"person": {"name": "钱七", "id_number": resident_id("2010-01-01", sex="F")}, "share": "60",
             "relationship": "child"},
            {"person": {"name": "孙八", "id_number": resident_id("2012-02-02")}, "share": "40",
             "relationship": "child"}]}})
    assert made.status_code == 201, made.text
    rid = made.json()["request_id"]
    client.post(f"/v1/servicing/{rid}/confirm", headers=me, json={"code": code_for(client, ledger, rid)})
    clerk = headers(ledger, "servicing", "clerk-1")
    assert client.post(f"/v1/servicing/{rid}/decision", headers=clerk,
                       json={"action": "approve"}).json()["status"] == "approved"
    clock.advance(timedelta(hours=25))
    ledger.servicing.run_clock()
    documents = client.get(f"/v1/policies/{policy_no}/documents", headers=me).json()
    assert [d["version"] for d in documents] == [1, 2]
    assert documents[0]["status"] == "superseded" and documents[1]["status"] == "genuine"
    pdf = client.get(f"/v1/policies/{policy_no}/documents/2", headers=me)
    assert "sha256:" + hashlib.sha256(pdf.content).hexdigest() == documents[1]["digest"]


def test_a_clerk_never_approves_a_request_they_made_and_codes_are_the_customers(
        hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    clerk = headers(ledger, "servicing", "clerk-7")
    authorisation = client.post(f"/v1/uploads?subject={OWNER}", headers={**clerk, "Content-Type": "application/pdf"},
                                content=b"%PDF signed authorisation")
    assert authorisation.status_code == 201, authorisation.text
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=clerk, json={
        "operation": "payment_method_change", "input": {"method": "alipay"}, "on_behalf_of": OWNER,
        "documents": {"SIGNED-AUTHORISATION": authorisation.json()["digest"],
                      "DEBIT-AUTHORISATION": authorisation.json()["digest"]}})
    assert made.status_code == 201, made.text
    rid = made.json()["request_id"]
    assert made.json()["on_behalf"] is True and made.json()["status"] == "under_review"
    own = client.post(f"/v1/servicing/{rid}/decision", headers=clerk, json={"action": "approve"})
    assert own.status_code == 409 and own.json()["rule"] == "OWN-REQUEST"
    other = client.post(f"/v1/servicing/{rid}/decision", headers=headers(ledger, "servicing", "clerk-8"),
                        json={"action": "approve"})
    assert other.status_code == 200 and other.json()["status"] == "completed"

    me = headers(ledger, "customer", OWNER)
    docs = {"ID-DOCUMENT": upload(client, me, b"%PDF id2"), "BANK-ACCOUNT-PROOF": upload(client, me, b"%PDF b2")}
    risky = client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
        "operation": "payment_account_change", "documents": docs,
        "input": {"bank": "招商银行", "account_no": "6225880112345678", "holder": "王五"}}).json()
    assert risky["status"] == "awaiting_confirmation"
    by_clerk = client.post(f"/v1/servicing/{risky['request_id']}/confirm", headers=clerk, json={"code": "123456"})
    assert by_clerk.status_code == 403
    for _ in range(2):
        assert client.post(f"/v1/servicing/{risky['request_id']}/code", headers=me).status_code == 200
    limit = client.post(f"/v1/servicing/{risky['request_id']}/code", headers=me)
    assert limit.status_code == 409 and limit.json()["rule"] == "OTP-RESEND-LIMIT"


def test_erasing_the_customer_keeps_every_servicing_fact_as_a_replay_rebuilds_it(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    me = headers(ledger, "customer", OWNER)
    address = client.post(f"/v1/policies/{policy_no}/servicing", headers=me,
                          json={"operation": "address_change", "input": {"address": "深圳市南山区科技园 9 号"}})
    assert address.json()["status"] == "completed"
    docs = {code: upload(client, me, f"%PDF {code} 2".encode())
            for code in ("ID-DOCUMENT", "BENEFICIARY-ID", "RELATIONSHIP-PROOF")}
    change = client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
        "operation": "beneficiary_change", "documents": docs, "input": {"beneficiaries": [
            {"person": {"name": "周九", "id_number": resident_id("2011-03-03")}, "share": "100",
             "relationship": "child"}]}}).json()
    client.post(f"/v1/servicing/{change['request_id']}/confirm", headers=me,
                json={"code": code_for(client, ledger, change["request_id"])})
    client.post(f"/v1/servicing/{change['request_id']}/decision", headers=headers(ledger, "servicing", "clerk-1"),
                json={"action": "approve"})
    clock.advance(timedelta(hours=25))
    assert ledger.servicing.run_clock() == {"completed": 1}

    def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows = sorted(ledger.store.rows.scan("servicing_requests"), key=lambda row: row["request_id"])
        return rows, list(ledger.store.rows.scan("policy_parties"))

    before = snapshot()
    views = [client.get(f"/v1/servicing/{rid}", headers=headers(ledger, "servicing", "clerk-2")).json()
             for rid in (address.json()["request_id"], change["request_id"])]
    ledger.subjects.erase(OWNER)
    with ledger.store.engine.begin() as conn:  # drop the recorded shapes: the tables are rebuilt from the journal
        conn.execute(delete(t.meta).where(t.meta.c.key.in_(["projection:servicing_requests",
                                                             "projection:policy_parties"])))
    rebuild(ledger.store, ledger.registry, ledger.store.rows.stale(), Opener(ledger.store, ledger.secrets.master_key))
    assert snapshot() == before
    ledger.workflow._states.clear()  # fold the requests again from the journal, not from the cache
    again = [client.get(f"/v1/servicing/{view['request_id']}", headers=headers(ledger, "servicing", "clerk-2"))
             .json() for view in views]
    assert again == views
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, [str(problem) for problem in report.problems]


def test_two_requests_of_one_operation_racing_on_a_policy_leave_one_open(hall: tuple[TestClient, Ledger]) -> None:
    from ledger.errors import Refused

    client, ledger = hall
    policy_no = issue(client, ledger)

    def ask(n: int) -> str:
        return ledger.servicing.submit(policy_no, "identity_correction", {"name": f"王五{n}"}, role="customer",
                                       party=OWNER).status

    outcomes = [o.rule if isinstance(o, Refused) else o
                for o in at_once([partial(ask, n) for n in range(4)], expect=(Refused,))]
    assert sorted(outcomes) == ["REQUEST-OPEN"] * 3 + ["documents_requested"]
    listed = client.get(f"/v1/policies/{policy_no}/servicing", headers=headers(ledger, "customer", OWNER)).json()
    assert [row["operation"] for row in listed] == ["identity_correction"]


def test_the_projection_refuses_a_second_open_request_of_an_operation_on_a_policy(
        hall: tuple[TestClient, Ledger]) -> None:
    from ledger.errors import Refused
    from ledger.kernel import NewEvent

    _, ledger = hall

    def submitted(request_id: str) -> NewEvent:
        return NewEvent("servicing.request.submitted", {
            "request_id": request_id, "application_id": "A1", "policy_no": "LL1", "operation": "surrender",
            "requester": {"role": "policyholder", "party": OWNER}, "high_risk": True, "flags": [],
            "four_eyes": False, "quote": None, "documents": {"required": [], "provided": [], "missing": []}})

    ledger.workflow.record("servicing:S1", [submitted("S1")])
    with pytest.raises(Refused) as refused:  # the service's own check was skipped: the projection still refuses
        ledger.workflow.record("servicing:S2", [submitted("S2")])
    assert refused.value.rule == "REQUEST-OPEN"
    assert ledger.workflow.history("servicing:S2") == []
    ledger.workflow.record("servicing:S1", [NewEvent("servicing.request.withdrawn", {"request_id": "S1"})])
    ledger.workflow.record("servicing:S2", [submitted("S2")])  # once the first is closed, a new one is taken


def test_a_receipt_carries_the_anchor_proof_once_the_chain_confirms_it(settings: Settings) -> None:
    # the embedded chain, with the serving ledger's own anchoring worker running a round every 50 ms
    ledger = Ledger.open(settings.model_copy(update={"chain_url": "embedded", "anchor_interval": 0.05}))
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            policy_no = issue(client, ledger)
            me = headers(ledger, "customer", OWNER)
            rid = client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
                "operation": "address_change", "input": {"address": "杭州市西湖区 3 号"}}).json()["request_id"]
            first = client.get(f"/v1/servicing/{rid}/receipt", headers=me).json()
            assert first["anchor"]["status"] == "pending"
            ledger.log.checkpoint_now()
            deadline = time.monotonic() + 30
            while True:  # the worker's rounds send the anchor, then see it confirmed
                receipt = client.get(f"/v1/servicing/{rid}/receipt", headers=me).json()
                if receipt["anchor"]["status"] == "anchored" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            anchor = receipt["anchor"]
            assert anchor["status"] == "anchored", anchor
            assert anchor["index"] == receipt["receipts"][-1]["entry"]["index"]
            assert anchor["anchor"]["tx_hash"].startswith("0x") and anchor["anchored_checkpoint"]
    finally:
        ledger.close()


def test_verify_recomputes_every_servicing_amount_and_names_one_that_does_not_add_up(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    from ledger.kernel import NewEvent

    client, ledger = hall
    policy_no = issue(client, ledger)
    past_free_look(ledger, clock)
    me = headers(ledger, "customer", OWNER)
    docs = {"ID-DOCUMENT": upload(client, me, b"%PDF id3"), "BANK-ACCOUNT-PROOF": upload(client, me, b"%PDF b3")}
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me,
                       json={"operation": "surrender", "input": {}, "documents": docs}).json()
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, [str(p) for p in report.problems]
    assert report.amounts_checked == 1  # the surrender's quote

    forged = dict(made["quote"], value={"amount": "999999.00", "currency": "CNY"})
    ledger.workflow.record("servicing:SFORGED", [NewEvent("servicing.request.submitted", {
        "request_id": "SFORGED", "application_id": "A-OTHER", "policy_no": "LL0", "operation": "surrender",
        "requester": {"role": "policyholder", "party": OWNER}, "high_risk": True, "flags": [], "four_eyes": False,
        "quote": forged, "documents": {"required": [], "provided": [], "missing": []}})])
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert not report.ok and report.amounts_checked == 2
    assert any("surrender_value" in str(problem) and "999999.00" in str(problem) for problem in report.problems)


def test_automatic_requests_racing_on_one_policy_all_complete(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)

    def change(n: int) -> str:
        operation = "address_change" if n % 2 else "contact_change"
        data = {"address": f"广州市天河区 {n} 号"} if n % 2 else {"phone": f"1390000{n:04d}"}
        return ledger.servicing.submit(policy_no, operation, data, role="customer", party=OWNER).status

    statuses = at_once([partial(change, n) for n in range(6)])
    # each completion writes the contract at the position it was prepared on; one that lost the race is prepared
    # again on the contract as it is then, never refused for it
    assert statuses == ["completed"] * 6
    serviced = ledger.policies.get(ledger.policies.application_of(policy_no)).serviced
    assert len(serviced) == 6


def account_change(client: TestClient, ledger: Ledger, tag: str) -> dict[str, Any]:
    """A payment account change (high-risk: it awaits its one-time code) asked for by the customer on a new
    policy; the request's view. ``tag`` keeps each test's uploads apart."""
    policy_no = issue(client, ledger)
    me = headers(ledger, "customer", OWNER)
    docs = {"ID-DOCUMENT": upload(client, me, f"%PDF id {tag}".encode()),
            "BANK-ACCOUNT-PROOF": upload(client, me, f"%PDF bank {tag}".encode())}
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
        "operation": "payment_account_change", "documents": docs,
        "input": {"bank": "招商银行", "account_no": "6225880112345678", "holder": "王五"}})
    assert made.status_code == 201 and made.json()["status"] == "awaiting_confirmation", made.text
    view: dict[str, Any] = made.json()
    return view


def test_resends_at_once_stay_within_the_limit_and_the_code_in_the_outbox_confirms(
        hall: tuple[TestClient, Ledger], monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.errors import Refused
    from ledger.servicing import decide as d

    client, ledger = hall
    me = headers(ledger, "customer", OWNER)
    request_id = account_change(client, ledger, "resend")["request_id"]  # one code sent with the request
    store = ledger.codes._store
    written: list[bytes] = []
    put = store.put
    monkeypatch.setattr(store, "put", lambda row: written.append(row.code_mac) or put(row))  # counts, then writes

    def resend() -> str:
        ledger.servicing.resend_code(request_id, role="customer", party=OWNER)
        return "sent"

    outcomes = [o.rule if isinstance(o, Refused) else o for o in at_once([resend] * 6, expect=(Refused,))]
    assert sorted(outcomes) == ["OTP-RESEND-LIMIT"] * (7 - d.MAX_CODES) + ["sent"] * (d.MAX_CODES - 1)
    assert ledger.servicing.get(request_id).codes_sent == d.MAX_CODES
    assert len(written) == d.MAX_CODES - 1  # a refused resend draws no code, so none replaced a code sent
    confirmed = client.post(f"/v1/servicing/{request_id}/confirm", headers=me,
                            json={"code": code_for(client, ledger, request_id)})
    assert confirmed.status_code == 200, confirmed.text


def test_codes_are_marked_delivered_by_id_and_version_and_a_bad_body_is_named(
        hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    me = headers(ledger, "customer", OWNER)
    risky = account_change(client, ledger, "delivered")
    messaging = headers(ledger, "system", "messaging")
    [message] = [m for m in client.get("/v1/staff/servicing/codes", headers=messaging).json()
                 if m["id"] == risky["request_id"]]
    for body, field in [({"ids": [message["id"]]}, "messages"),
                        ({"messages": [{"id": message["id"], "version": "é" * 16}]}, "version"),
                        ({"messages": []}, "messages")]:
        answer = client.post("/v1/staff/servicing/codes/delivered", headers=messaging, json=body)
        assert answer.status_code == 422 and field in answer.text, answer.text
    assert client.post("/v1/staff/servicing/codes/delivered", headers=me, json={"messages": [
        {"id": message["id"], "version": message["version"]}]}).status_code == 403
    done = client.post("/v1/staff/servicing/codes/delivered", headers=messaging, json={"messages": [
        {"id": message["id"], "version": message["version"]}]})
    assert done.status_code == 200 and done.json() == {"delivered": 1}
    assert [m for m in client.get("/v1/staff/servicing/codes", headers=messaging).json()
            if m["id"] == risky["request_id"]] == []


def test_a_code_that_could_not_be_stored_after_its_sending_was_recorded_does_not_count(
        hall: tuple[TestClient, Ledger], clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.errors import Refused, StorageError
    from ledger.kernel import Actor
    from ledger.servicing import decide as d
    from ledger.servicing import events as ev

    client, ledger = hall
    me = headers(ledger, "customer", OWNER)
    request_id = account_change(client, ledger, "unsent")["request_id"]
    store = ledger.codes._store
    put = store.put
    failing = iter([True] * (d.MAX_CODES - 1))

    def put_or_fail(row: Any) -> bool:
        if next(failing, False):
            raise StorageError("the database is locked")  # the code store fails after the journal recorded
        return put(row)

    monkeypatch.setattr(store, "put", put_or_fail)
    for _ in range(d.MAX_CODES - 1):  # each sending recorded, its code never stored, and so recorded
        with pytest.raises(StorageError):
            ledger.servicing.resend_code(request_id, role="customer", party=OWNER)
    state = ledger.servicing.get(request_id)
    assert (state.codes_sent, state.codes_unsent) == (d.MAX_CODES, d.MAX_CODES - 1)
    sendings = [step.index for step in state.timeline if step.type == ev.CODE_SENT]
    assert list(state.unsent) == sendings[1:]  # the first (with the request) was stored; the two after were not
    system = Actor("system", "servicing-codes")
    assert d.decide(state, d.CodeUnsent(sent=sendings[1], reason="again", actor=system), clock.now()) == []
    assert d.decide(state, d.CodeUnsent(sent=sendings[0] - 1, reason="none", actor=system), clock.now()) == []
    assert len(d.decide(state, d.CodeUnsent(sent=sendings[0], reason="x", actor=system), clock.now())) == 1
    for _ in range(d.MAX_CODES - 1):  # the two that were never stored do not count: two more can be sent
        ledger.servicing.resend_code(request_id, role="customer", party=OWNER)
    with pytest.raises(Refused) as refused:
        ledger.servicing.resend_code(request_id, role="customer", party=OWNER)
    assert refused.value.rule == "OTP-RESEND-LIMIT"
    confirmed = client.post(f"/v1/servicing/{request_id}/confirm", headers=me,
                            json={"code": code_for(client, ledger, request_id)})
    assert confirmed.status_code == 200, confirmed.text
