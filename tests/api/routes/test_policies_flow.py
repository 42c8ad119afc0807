"""A policy's life over HTTP on the real app and a real SQLite file: quote, upload, apply with a declaration,
automatic underwriting, the first premium, issue with the e-policy and its digest, and who may read what."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.policies.rules.samples import CLEAN
from tests.factories import at_once, resident_id

CUSTOMER = "P0000000000000000000A"
STRANGER = "P0000000000000000000B"
PLAN = {"sum_insured": "500000", "term_years": 20, "payment_years": 20, "frequency": "annual"}


def application(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": "term-life", "plan": PLAN,
        "policyholder": {"name": "张三", "id_number": resident_id("1991-03-05"), "phone": "13800001234"},
        "beneficiaries": [{"person": {"name": "李四", "id_number": resident_id("1993-07-01", sex="F")},
                           "share": "100"}],
        "occupation_class": 1, "payment_account": "6222020200112233445",
        "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(CLEAN),
    }
    body.update(changes)
    return body


def test_quote_is_public_and_cites_its_versions(client: TestClient) -> None:
    response = client.post("/v1/quotes", json={"product_id": "term-life", "plan": PLAN, "age": 35, "sex": "M"})
    assert response.status_code == 200, response.text
    quote = response.json()
    assert Decimal(quote["modal_premium"]["amount"]) > 0
    assert quote["modal_premium"]["currency"] == "CNY"
    assert quote["basis"]["product"]["id"] == "term-life" if "product" in quote["basis"] else quote["basis"]
    too_old = client.post("/v1/quotes", json={"product_id": "term-life", "plan": PLAN, "age": 70, "sex": "M"})
    assert too_old.status_code == 422
    assert "AGE" in too_old.text
    padded = {**PLAN, "sum_insured": "300000." + "0" * 200}  # a customer may post 16 MB of it: refused unread
    too_long = client.post("/v1/quotes", json={"product_id": "term-life", "plan": padded, "age": 35, "sex": "M"})
    assert too_long.status_code == 422
    assert "too long" in too_long.json()["detail"] and too_long.json()["field"] == "plan.sum_insured"


def test_apply_underwrite_pay_issue_and_read(client: TestClient, auth: Any, app_ledger: Ledger) -> None:
    customer = auth("customer", CUSTOMER)
    upload = client.post("/v1/uploads", headers={**customer, "Content-Type": "image/png"}, content=b"\x89PNG id card")
    assert upload.status_code == 201, upload.text
    again = client.post("/v1/uploads", headers={**customer, "Content-Type": "image/png"}, content=b"\x89PNG id card")
    assert again.status_code == 201 and again.json() == upload.json()  # the same answer: nothing about others

    submitted = client.post("/v1/applications", headers=customer,
                            json=application(identity_documents=[upload.json()["digest"]]))
    assert submitted.status_code == 201, submitted.text
    app = submitted.json()
    assert app["status"] == "accepted"
    assert app["underwriting"]["outcome"] == "standard"
    assert [r["code"] for r in app["underwriting"]["reasons"]] == ["STD"]
    assert app["underwriting"]["ruleset"]["id"] == "standard"
    premium = app["premium"]["modal_premium"]

    wrong = client.post("/v1/payments", headers=auth("system", "payments"), json={
        "application_id": app["application_id"], "amount": "1.00", "payment_ref": "PAY-0",
        "paid_at": "2026-12-01T08:00:00Z"})
    assert wrong.status_code == 201 and wrong.json()["outcome"] == "parked"
    paid = client.post("/v1/payments", headers=auth("system", "payments"), json={
        "application_id": app["application_id"], "amount": premium["amount"], "payment_ref": "PAY-1",
        "paid_at": "2026-12-01T08:00:00Z"})
    assert paid.status_code == 201, paid.text
    policy = paid.json()["policy"]
    assert paid.json()["outcome"] == "applied"
    assert policy["status"] == "FreeLook"
    policy_no = policy["policy_no"]

    mine = client.get("/v1/policies", headers=customer).json()
    assert [p["policy_no"] for p in mine] == [policy_no]
    assert client.get(f"/v1/policies/{policy_no}", headers=auth("customer", STRANGER)).status_code == 404
    assert client.get(f"/v1/applications/{app['application_id']}",
                      headers=auth("customer", STRANGER)).status_code == 404
    assert client.get("/v1/policies", headers=auth("customer", STRANGER)).json() == []

    documents = client.get(f"/v1/policies/{policy_no}/documents", headers=customer).json()
    assert [d["version"] for d in documents] == [1]
    pdf = client.get(f"/v1/policies/{policy_no}/documents/1", headers=customer)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    digest = "sha256:" + hashlib.sha256(pdf.content).hexdigest()
    assert digest == documents[0]["digest"]
    assert "张三".encode() not in pdf.content
    status = client.get(f"/v1/documents/{digest}").json()
    assert status["status"] == "genuine" and status["version"] == 1
    assert client.get("/v1/documents/sha256:" + "ab" * 32).json()["status"] == "unknown"

    cancelled = client.post(f"/v1/policies/{policy_no}/cancel", headers=customer, json={})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "Cancelled"
    assert client.get(f"/v1/documents/{digest}").json()["status"] == "revoked"


def test_referral_counter_offer_and_idempotency(client: TestClient, auth: Any) -> None:
    customer = auth("customer", CUSTOMER)
    big = application(plan={**PLAN, "sum_insured": "3000000"})
    first = client.post("/v1/applications", headers={**customer, "Idempotency-Key": "k-1"}, json=big)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "referred"
    assert "SI-OVER-AUTO-LIMIT" in [r["code"] for r in first.json()["underwriting"]["reasons"]]
    retry = client.post("/v1/applications", headers={**customer, "Idempotency-Key": "k-1"}, json=big)
    assert retry.json()["application_id"] == first.json()["application_id"]
    other = client.post("/v1/applications", headers={**customer, "Idempotency-Key": "k-1"}, json=application())
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"

    app_id = first.json()["application_id"]
    underwriter = auth("underwriter", "uw-1")
    queue = client.get("/v1/underwriting/queue", headers=underwriter).json()
    assert app_id in [row["application_id"] for row in queue]
    assert client.get("/v1/underwriting/queue", headers=customer).status_code == 403
    offer = client.post(f"/v1/applications/{app_id}/decision", headers=underwriter,
                        json={"action": "counter_offer", "reason": "large sum insured", "extra_premium_pct": "25"})
    assert offer.status_code == 200, offer.text
    assert offer.json()["status"] == "offered"
    assert Decimal(offer.json()["premium"]["modal_premium"]["amount"]) > Decimal(
        first.json()["premium"]["modal_premium"]["amount"])
    again = client.post(f"/v1/applications/{app_id}/decision", headers=underwriter,
                        json={"action": "decline", "reason": "changed my mind"})
    assert again.status_code == 409 and again.json()["rule"] == "POLICY-STATUS"
    accepted = client.post(f"/v1/applications/{app_id}/offer", headers=customer, json={"accept": True})
    assert accepted.json()["status"] == "accepted"


def test_questionnaire_asks_only_what_applies(client: TestClient, auth: Any) -> None:
    customer = auth("customer", CUSTOMER)
    app = client.post("/v1/applications", headers=customer, json=application(answers={})).json()
    assert app["status"] == "awaiting_declaration"
    url = f"/v1/applications/{app['application_id']}/questionnaire"
    first = client.get(url, headers=customer).json()
    ids = [q["id"] for q in first["questions"]]
    assert "hypertension" in ids and "bp_systolic_max" not in ids
    step = client.post(url, headers=customer, json={"answers": {**CLEAN, "hypertension": True}}).json()
    assert step["status"] == "awaiting_declaration"
    follow = [q["id"] for q in step["questionnaire"]["questions"]]
    assert "bp_systolic_max" in follow
    done = client.post(url, headers=customer, json={"answers": {
        "bp_systolic_max": 150, "bp_diastolic_max": 95, "bp_medication": True, "bp_controlled": True,
        "bp_organ_damage": False}}).json()
    assert done["declaration_complete"] is True
    assert done["underwriting"]["outcome"] in ("standard", "rated", "exclusion")
    bad = client.post(url, headers=customer, json={"answers": {"height_cm": "tall"}})
    assert bad.status_code == 409  # declared already: the application has moved on


def test_a_product_version_is_journaled_before_it_is_sold_and_admins_publish_new_ones(
        client: TestClient, auth: Any, app_ledger: Ledger) -> None:
    admin = auth("admin", "ops")
    assert client.get("/v1/admin/products/published", headers=admin).json() == []
    client.post("/v1/applications", headers=auth("customer", CUSTOMER), json=application())
    published = client.get("/v1/admin/products/published", headers=admin).json()
    term = app_ledger.products.catalog.get("term-life")
    assert [(p["product_id"], p["version"], p["digest"]) for p in published] == [("term-life", 1, term.digest)]
    client.post("/v1/applications", headers=auth("customer", STRANGER), json=application())
    assert len(client.get("/v1/admin/products/published", headers=admin).json()) == 1  # once per version

    definition = {k: v for k, v in term.to_json().items() if k not in ("digest", "table_digests")}
    v2 = client.post("/v1/admin/products", headers=admin, json={**definition, "version": 2, "grace_days": 30})
    assert v2.status_code == 201, v2.text
    assert v2.json()["digest"] != term.digest
    assert client.get("/v1/products/term-life").json()["version"] == 2
    clash = client.post("/v1/admin/products", headers=admin, json={**definition, "version": 2, "grace_days": 45})
    assert clash.status_code == 409
    assert client.post("/v1/admin/products", headers=auth("customer", CUSTOMER), json=definition).status_code == 403
    assert [p["version"] for p in client.get("/v1/admin/products/published", headers=admin).json()] == [1, 2]


def issued_policy(client: TestClient, auth: Any, customer: str = CUSTOMER) -> tuple[dict[str, Any], str]:
    app = client.post("/v1/applications", headers=auth("customer", customer), json=application()).json()
    paid = client.post("/v1/payments", headers=auth("system", "payments"), json={
        "application_id": app["application_id"], "amount": app["premium"]["modal_premium"]["amount"],
        "payment_ref": f"PAY-{app['application_id']}", "paid_at": "2026-12-01T08:00:00Z"})
    assert paid.status_code == 201, paid.text
    return app, paid.json()["policy"]["policy_no"]


def test_payments_are_checked_and_a_reference_counts_once(client: TestClient, auth: Any) -> None:
    app, policy_no = issued_policy(client, auth)
    pay = {"policy_no": policy_no, "amount": app["premium"]["modal_premium"]["amount"],
           "payment_ref": f"PAY-{app['application_id']}", "paid_at": "2026-12-01T08:00:00Z"}
    again = client.post("/v1/payments", headers=auth("system", "payments"), json=pay)
    assert again.json()["outcome"] == "parked"  # the same payment twice is not a renewal
    assert client.post("/v1/payments", headers=auth("system", "hospital-x"), json=pay).status_code == 403
    for field, value in (("paid_at", "this is not a time at all"), ("amount", "1e999999"), ("amount", "-5"),
                         ("amount", "0")):
        refused = client.post("/v1/payments", headers=auth("system", "payments"), json={**pay, field: value})
        assert refused.status_code == 422, (field, value, refused.text)
        assert refused.json()["field"] == field


def test_a_stranger_learns_nothing_from_a_policy_number(client: TestClient, auth: Any) -> None:
    _, policy_no = issued_policy(client, auth)
    known = client.get(f"/v1/policies/{policy_no}", headers=auth("customer", STRANGER))
    unknown = client.get("/v1/policies/LL2026000000000000", headers=auth("customer", STRANGER))
    assert known.status_code == unknown.status_code == 404
    assert known.json()["detail"] == f"no policy {policy_no}"
    assert client.get("/v1/staff/notices?limit=-1", headers=auth("servicing", "s-1")).status_code == 422


def test_a_known_customer_applies_as_themself_and_accepting_means_standard_terms(
        client: TestClient, auth: Any) -> None:
    customer = auth("customer", CUSTOMER)
    assert client.post("/v1/applications", headers=customer, json=application()).status_code == 201
    other_person = {"name": "张三", "id_number": resident_id("1998-01-01")}
    refused = client.post("/v1/applications", headers=customer, json=application(policyholder=other_person))
    assert refused.status_code == 422 and refused.json()["field"] == "policyholder.id_number"

    big = client.post("/v1/applications", headers=auth("customer", STRANGER),
                      json=application(plan={**PLAN, "sum_insured": "3000000"})).json()
    underwriter = auth("underwriter", "uw-1")
    extra = client.post(f"/v1/applications/{big['application_id']}/decision", headers=underwriter,
                        json={"action": "accept", "reason": "fine", "extra_premium_pct": "200"})
    assert extra.status_code == 409 and extra.json()["rule"] == "UW-ACCEPT-TERMS"
    bad_exclusion = client.post(f"/v1/applications/{big['application_id']}/decision", headers=underwriter,
                                json={"action": "counter_offer", "reason": "x", "exclusions": [{"foo": "bar"}]})
    assert bad_exclusion.status_code == 422
    other_upload = client.post("/v1/uploads", headers={**auth("customer", STRANGER), "Content-Type": "image/png"},
                               content=b"\x89PNG someone else's card").json()["digest"]
    cited = client.post("/v1/applications", headers=customer, json=application(identity_documents=[other_upload]))
    assert cited.status_code == 422 and cited.json()["field"] == "identity_documents[0]"


def test_versions_published_over_the_api_survive_a_restart(settings: Any) -> None:
    from api.app import create_app
    from api.auth import Role, issue_token

    with TestClient(create_app(settings)) as first:
        ledger = first.app.state.ledger  # type: ignore[attr-defined]
        admin = {"Authorization": "Bearer " + issue_token(ledger.secrets.token, subject="ops", role=Role.ADMIN,
                                                          issuer=settings.jwt_issuer, ttl=60)}
        term = ledger.products.catalog.get("term-life")
        definition = {k: v for k, v in term.to_json().items() if k not in ("digest", "table_digests")}
        assert first.post("/v1/admin/products", headers=admin, json={**definition, "version": 2}).status_code == 201
    with TestClient(create_app(settings)) as second:
        assert second.get("/v1/products/term-life").json()["version"] == 2


def test_one_person_is_one_party_across_applications(client: TestClient, auth: Any, app_ledger: Ledger) -> None:
    spouse = {"name": "李娜", "id_number": resident_id("1990-06-01", sex="F")}
    customer = auth("customer", CUSTOMER)
    plan = {**PLAN, "sum_insured": "400000"}
    first = client.post("/v1/applications", headers=customer,
                        json=application(insured=spouse, relationship="spouse", plan=plan)).json()
    second = client.post("/v1/applications", headers=customer,
                         json=application(insured=spouse, relationship="spouse", plan=plan)).json()
    assert first["insured"] == second["insured"] != CUSTOMER
    third = client.post("/v1/applications", headers=customer,
                        json=application(insured=spouse, relationship="spouse", plan=plan)).json()
    assert third["status"] == "referred"  # 1,200,000 with us on the same person: over the automatic limit
    assert "SI-OVER-AUTO-LIMIT" in [r["code"] for r in third["underwriting"]["reasons"]]

    # The spouse, signing in as the party they are, sees the policies that insure them.
    theirs = client.get("/v1/policies", headers=auth("customer", first["insured"])).json()
    assert {row["application_id"] for row in theirs} == {first["application_id"], second["application_id"],
                                                          third["application_id"]}
    assert {row["role"] for row in theirs} == {"insured"}
    # A customer who applies for themself is found by their identity number when someone else names them.
    named = client.post("/v1/applications", headers=auth("customer", STRANGER), json=application(
        policyholder={"name": "赵七", "id_number": resident_id("1985-02-02")},
        insured=application()["policyholder"], relationship="sibling")).json()
    assert named["insured"] == CUSTOMER
    # Someone who knows only the identity number (not the name it was registered with) is never linked to them.
    guessed = client.post("/v1/applications", headers=auth("customer", STRANGER), json=application(
        policyholder={"name": "赵七", "id_number": resident_id("1985-02-02")},
        insured={"name": "随便", "id_number": application()["policyholder"]["id_number"]},
        relationship="sibling")).json()
    assert guessed["insured"] not in (CUSTOMER, first["insured"])

    app_ledger.subjects.erase(first["insured"])
    fresh = client.post("/v1/applications", headers=customer,
                        json=application(insured=spouse, relationship="spouse", plan=plan)).json()
    assert fresh["insured"] != first["insured"]  # the erased party is no longer found by identity number


def test_staff_apply_for_a_customer_only_with_their_signed_authorisation(client: TestClient, auth: Any) -> None:
    clerk = auth("servicing", "clerk-7")
    assert client.post("/v1/applications", headers=clerk, json=application()).json()["field"] == \
        "policyholder_party"
    party = client.get("/v1/parties:new-id", headers=clerk).json()["party_id"]
    refused = client.post("/v1/applications", headers=clerk, json={**application(), "policyholder_party": party})
    assert refused.status_code == 422 and refused.json()["field"] == "authorization"
    own_file = client.post("/v1/uploads?subject=clerk-7", headers={**clerk, "Content-Type": "application/pdf"},
                           content=b"%PDF-1.4 any file of the clerk's").json()["digest"]
    not_theirs = client.post("/v1/applications", headers=clerk,
                             json={**application(), "policyholder_party": party, "authorization": own_file})
    assert not_theirs.status_code == 422 and not_theirs.json()["field"] == "authorization[0]"
    signed = client.post(f"/v1/uploads?subject={party}", headers={**clerk, "Content-Type": "application/pdf"},
                         content=b"%PDF-1.4 signed authorisation").json()["digest"]
    made = client.post("/v1/applications", headers=clerk,
                       json={**application(), "policyholder_party": party, "authorization": signed})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "accepted" and made.json()["policyholder"] == party
    assert client.get("/v1/parties:new-id", headers=auth("customer", CUSTOMER)).status_code == 403

def test_a_product_file_changed_without_a_new_version_stops_the_sale_after_a_restart(
        settings: Any, tmp_path: Any) -> None:
    import shutil

    from api.app import create_app
    from api.auth import Role, issue_token
    from ledger.products.catalog import default_products_dir

    products = tmp_path / "products"
    shutil.copytree(default_products_dir(), products)
    settings = settings.model_copy(update={"products_dir": products})

    def customer(ledger: Ledger) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(ledger.secrets.token, subject=CUSTOMER,
                                                         role=Role.CUSTOMER, issuer=settings.jwt_issuer, ttl=60)}

    with TestClient(create_app(settings)) as first:
        ledger = first.app.state.ledger  # type: ignore[attr-defined]
        assert first.post("/v1/applications", headers=customer(ledger), json=application()).status_code == 201
    term = products / "term-life.toml"
    term.write_text(term.read_text(encoding="utf-8").replace("grace_days = 60", "grace_days = 30"), encoding="utf-8")
    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        ledger = second.app.state.ledger  # type: ignore[attr-defined]
        refused = second.post("/v1/applications", headers=customer(ledger), json=application())
        assert refused.status_code == 500 and refused.json()["type"].endswith("/misconfigured")
        assert "give the changed definition a new version" in refused.json()["detail"]


def test_another_customers_open_application_does_not_count_against_an_insured(client: TestClient, auth: Any) -> None:
    me = application()["policyholder"]
    stranger = auth("customer", STRANGER)
    unfinished = client.post("/v1/applications", headers=stranger, json=application(
        policyholder={"name": "赵七", "id_number": resident_id("1985-02-02")}, insured=me, relationship="friend",
        plan={**PLAN, "sum_insured": "3000000"}, answers={}))
    assert unfinished.json()["status"] == "awaiting_declaration"
    mine = client.post("/v1/applications", headers=auth("customer", CUSTOMER),
                       json=application(plan={**PLAN, "sum_insured": "100000"})).json()
    assert mine["status"] == "accepted"  # the stranger's open 3,000,000 does not refer my 100,000


def test_two_customers_may_upload_the_same_file_and_each_keeps_it_until_erased(
        client: TestClient, auth: Any, app_ledger: Ledger) -> None:
    same = b"%PDF-1.4 the same scan"
    first = client.post("/v1/uploads", headers={**auth("customer", CUSTOMER), "Content-Type": "application/pdf"},
                        content=same).json()["digest"]
    second = client.post("/v1/uploads", headers={**auth("customer", STRANGER), "Content-Type": "application/pdf"},
                         content=same).json()["digest"]
    assert first == second
    assert app_ledger.uploads.owned_by(first, {STRANGER}) and app_ledger.uploads.owned_by(first, {CUSTOMER})
    cited = client.post("/v1/applications", headers=auth("customer", STRANGER), json=application(
        policyholder={"name": "赵七", "id_number": resident_id("1985-02-02")}, identity_documents=[second]))
    assert cited.status_code == 201, cited.text
    client.post("/v1/applications", headers=auth("customer", CUSTOMER), json=application())
    app_ledger.subjects.erase(CUSTOMER)
    assert not app_ledger.uploads.owned_by(first, {CUSTOMER})
    assert app_ledger.uploads.exists(first)  # the stranger still owns it
    app_ledger.subjects.erase(STRANGER)
    assert not app_ledger.uploads.exists(first)  # nobody owns it: deleted


def test_a_payment_for_no_known_policy_is_parked_not_lost(client: TestClient, auth: Any) -> None:
    parked = client.post("/v1/payments", headers=auth("system", "payments"), json={
        "policy_no": "LL2026999999999999", "amount": "100.00", "payment_ref": "PAY-LOST",
        "paid_at": "2026-12-01T08:00:00Z"})
    assert parked.status_code == 201 and parked.json()["outcome"] == "parked"
    assert "LL2026999999999999" in parked.json()["reason"]
    again = client.post("/v1/payments", headers=auth("system", "payments"), json={
        "policy_no": "LL2026999999999999", "amount": "100.00", "payment_ref": "PAY-LOST",
        "paid_at": "2026-12-01T08:00:00Z"})
    assert again.json()["outcome"] == "parked"  # the same payment again: kept once
    rows = client.get("/v1/staff/payments/parked", headers=auth("servicing", "s-1")).json()
    assert [(r["payment_ref"], r["amount"]) for r in rows] == [("PAY-LOST", "100.00")]
    assert client.get("/v1/staff/payments/parked", headers=auth("customer", CUSTOMER)).status_code == 403


def test_the_same_unknown_payment_delivered_at_once_is_parked_once(client: TestClient, auth: Any) -> None:
    def deliver() -> Any:  # the six pass the service's look together: the projection keeps one
        return client.post("/v1/payments", headers=auth("system", "payments"), json={
            "policy_no": "LL2026999999999998", "amount": "80.00", "payment_ref": "PAY-TWICE",
            "paid_at": "2026-12-01T08:00:00Z"})

    answers = at_once([deliver] * 6)
    assert [(a.status_code, a.json()["outcome"]) for a in answers] == [(201, "parked")] * 6
    rows = client.get("/v1/staff/payments/parked", headers=auth("servicing", "s-1")).json()
    assert [r["payment_ref"] for r in rows].count("PAY-TWICE") == 1


def test_the_projection_refuses_a_reference_parked_again_but_folds_one_parked_before_the_rule(
        client: TestClient, auth: Any, app_ledger: Ledger) -> None:
    import pytest

    from ledger.errors import Refused
    from ledger.kernel import NewEvent
    from ledger.policies import events as ev

    def parked(**marker: Any) -> NewEvent:
        return NewEvent(ev.PAYMENT_PARKED, {
            "application_id": "", "reference": "LL-NONE", "amount": {"amount": "9.00", "currency": "CNY"},
            "payment_ref": "PAY-OLD", "paid_at": "2026-12-01T08:00:00Z", "reason": "no such policy",
            "actor": {"role": "system", "party": "payments"}, **marker})

    app_ledger.workflow.record(ev.UNMATCHED_PAYMENTS, [parked()])
    app_ledger.workflow.record(ev.UNMATCHED_PAYMENTS, [parked()])  # as a race once left it: parked twice
    with pytest.raises(Refused) as refused:  # the service's own look skipped: the projection still refuses
        app_ledger.workflow.record(ev.UNMATCHED_PAYMENTS, [parked(kept_once=True)])
    assert refused.value.rule == "PAYMENT-PARKED"
    rows = client.get("/v1/staff/payments/parked", headers=auth("servicing", "s-1")).json()
    assert [r["payment_ref"] for r in rows] == ["PAY-OLD", "PAY-OLD"]
    app_ledger.log.checkpoint_now()
    report = app_ledger.audit.verify()  # a journal from before the rule replays as it was served
    assert report.ok, [str(problem) for problem in report.problems]


def test_the_served_app_lists_the_servicing_catalog(client: TestClient) -> None:
    answer = client.get("/v1/servicing/operations")
    assert answer.status_code == 200
    codes = {operation["code"] for operation in answer.json()["operations"]}
    assert len(codes) >= 24 and {"beneficiary_change", "surrender", "policy_loan"} <= codes
    assert answer.json()["catalog"]["digest"].startswith("sha256:")
