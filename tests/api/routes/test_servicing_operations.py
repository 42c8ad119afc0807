"""Every operation of the servicing catalog driven over HTTP on the real app, from submission to completed: the
documents and consents it needs, the one-time code of high-risk ones, the clerk's review (four eyes above the
catalog's amount), the cooling-off run out on the servicing clock; then what the policy, its e-policy versions
and the recorded amount show. Each operation is also refused at least once, naming its rule or input field.
Requests on behalf of a customer, withdrawal, the four-eyes rule and the clerk's queue filters are tried too."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.policies.rules.samples import CLEAN
from tests.api.routes.servicing_helpers import (
    OWNER,
    STRANGER,
    clerk,
    documents,
    drive,
    headers,
    issue,
    move_to,
    past_free_look,
    pay_due,
    policy,
    refusal,
    submit,
    upload,
    uploads,
)
from tests.factories import at_once, resident_id

ANNIVERSARY = date(2027, 12, 2)


def me(ledger: Ledger, customer: str = OWNER) -> dict[str, str]:
    return headers(ledger, "customer", customer)


def ask(client: TestClient, ledger: Ledger, policy_no: str, operation: str, data: dict[str, Any], *,
        docs: dict[str, str] | None = None, customer: str = OWNER) -> Any:
    """The raw answer to a request (for refusals)."""
    return client.post(f"/v1/policies/{policy_no}/servicing", headers=me(ledger, customer),
                       json={"operation": operation, "input": data, "documents": docs or {}})


def assert_new_version(client: TestClient, ledger: Ledger, policy_no: str, *, versions: int = 2) -> None:
    """The policy's e-policy has ``versions`` versions, each superseded by the next, the last genuine, and the
    last one's PDF hashes to the digest recorded for it."""
    rows = documents(client, ledger, policy_no)
    assert [row["version"] for row in rows] == list(range(1, versions + 1))
    assert [row["status"] for row in rows] == ["superseded"] * (versions - 1) + ["genuine"]
    pdf = client.get(f"/v1/policies/{policy_no}/documents/{versions}", headers=me(ledger))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "sha256:" + hashlib.sha256(pdf.content).hexdigest() == rows[-1]["digest"]
    assert rows[-1]["digest"] != rows[-2]["digest"]


def assert_one_version(client: TestClient, ledger: Ledger, policy_no: str) -> None:
    rows = documents(client, ledger, policy_no)
    assert [(row["version"], row["status"]) for row in rows] == [(1, "genuine")]


def assert_amount(record: dict[str, Any], *, formula: str, product: str = "whole-life") -> Decimal:
    """An amount as recorded: value, formula, inputs and the versions that produced it; its value."""
    assert record["formula"] == formula
    assert record["value"]["currency"] == "CNY"
    assert record["inputs"], record
    assert record["product"]["id"] == product and record["product"]["version"] == 1
    assert record["product"]["digest"].startswith("sha256:")
    assert record["catalog"]["id"] == "servicing" and record["catalog"]["version"] == 1
    assert record["catalog"]["digest"].startswith("sha256:")
    return Decimal(record["value"]["amount"])


def sum_insured(shown: dict[str, Any]) -> Decimal:
    return Decimal(shown["plan"]["sum_insured"]["amount"])


def modal(shown: dict[str, Any]) -> Decimal:
    return Decimal(shown["premium"]["modal_premium"]["amount"])


def single_premium(client: TestClient, ledger: Ledger, clock: FixedClock) -> str:
    """A single-premium whole-life policy of 1,000,000 one policy year on (its cash value is then about 85,000:
    enough to lend or withdraw more than the four-eyes amount)."""
    policy_no = issue(client, ledger, sum_insured="1000000", payment_years=1)
    move_to(ledger, clock, date(2027, 12, 10))
    assert policy(client, ledger, policy_no)["status"] == "InForce"
    return policy_no


# -- contact and identity ----------------------------------------------------------------------------------------

def test_contact_change_completes_at_once(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    assert refusal(ask(client, ledger, policy_no, "contact_change", {"phone": "13x"}), 422) == "input.phone"
    assert refusal(ask(client, ledger, policy_no, "contact_change", {})) == "NOTHING-TO-CHANGE"
    view = submit(client, ledger, policy_no, "contact_change", {"phone": "13900002222", "email": "w5@example.cn"})
    assert view["status"] == "completed" and view["approvals"] == ["rules"]
    assert view["input"] == {"fields": ["phone", "email"], "party": OWNER}
    assert "13900002222" not in str(view) and "w5@example.cn" not in str(view)  # sealed, never in the view
    assert view["outcome"]["amount"] is None
    assert_one_version(client, ledger, policy_no)


def test_address_change_completes_at_once(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    assert refusal(ask(client, ledger, policy_no, "address_change", {"address": "x"}), 422) == "input.address"
    assert refusal(ask(client, ledger, policy_no, "address_change", {"address": "上海市静安区 1 号",
                                                                     "postcode": "2000"}), 422) == "input.postcode"
    view = submit(client, ledger, policy_no, "address_change", {"address": "上海市静安区南京西路 1 号",
                                                                "postcode": "200040"})
    assert view["status"] == "completed"
    assert [s["type"] for s in view["timeline"]] == [
        "servicing.request.submitted", "servicing.request.approved", "servicing.request.completed"]
    assert_one_version(client, ledger, policy_no)


def test_identity_correction_is_reviewed_then_completed(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "CHANGE-PROOF")
    expired = ask(client, ledger, policy_no, "identity_correction", {"id_expiry": "2020-01-01"}, docs=docs)
    assert refusal(expired) == "ID-EXPIRED"
    older = ask(client, ledger, policy_no, "identity_correction",
                {"id_type": "resident_id", "id_number": resident_id("1970-04-02")}, docs=docs)
    assert refusal(older) == "AGE-SEX-CHANGE"
    assert refusal(ask(client, ledger, policy_no, "identity_correction", {"name": ""}, docs=docs), 422) == \
        "input.name"
    view = submit(client, ledger, policy_no, "identity_correction",
                  {"name": "王伍", "id_type": "resident_id", "id_number": resident_id("1986-04-02", serial=13),
                   "id_expiry": "2036-01-01"}, docs={"ID-DOCUMENT": docs["ID-DOCUMENT"]})
    assert view["status"] == "documents_requested" and view["awaiting"]["documents"] == ["CHANGE-PROOF"]
    rid = view["request_id"]
    early = client.post(f"/v1/servicing/{rid}/decision", headers=clerk(ledger), json={"action": "approve"})
    assert refusal(early) == "REQUEST-STATUS"
    given = client.post(f"/v1/servicing/{rid}/documents", headers=me(ledger),
                        json={"documents": {"CHANGE-PROOF": docs["CHANGE-PROOF"]}})
    assert given.status_code == 200 and given.json()["status"] == "under_review"
    assert given.json()["awaiting"]["from"] == "servicing"
    driven = drive(client, ledger, clock, given.json())
    assert driven.path == ["under_review", "completed"] and driven.approvers == ["clerk-1"]
    assert driven.view["input"]["fields"] == ["name", "id_type", "id_number", "id_expiry"]
    assert "王伍" not in str(driven.view)
    assert_one_version(client, ledger, policy_no)


# -- payment ---------------------------------------------------------------------------------------------------

def test_payment_account_change_needs_the_code_review_and_cooling_off(hall: tuple[TestClient, Ledger],
                                                                      clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    account = {"bank": "招商银行", "account_no": "6225880112345678", "holder": "王五"}
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    assert refusal(ask(client, ledger, policy_no, "payment_account_change", {**account, "account_no": "12-34"},
                       docs=docs), 422) == "input.account_no"
    view = submit(client, ledger, policy_no, "payment_account_change", account, docs=docs)
    assert view["status"] == "awaiting_confirmation" and view["high_risk"] and not view["four_eyes"]
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["awaiting_confirmation", "under_review", "approved", "completed"]
    assert driven.view["cooling_off_until"] is not None
    assert driven.view["input"] == {"fields": ["payment_account"], "party": OWNER}
    assert "6225880112345678" not in str(driven.view)
    assert_one_version(client, ledger, policy_no)


def test_payment_method_change(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    docs = uploads(client, me(ledger), "DEBIT-AUTHORISATION")
    assert refusal(ask(client, ledger, policy_no, "payment_method_change", {"method": "bank_debit"},
                       docs=docs)) == "SAME-METHOD"
    assert refusal(ask(client, ledger, policy_no, "payment_method_change", {"method": "cheque"}, docs=docs),
                   422) == "input.method"
    driven = drive(client, ledger, clock, submit(client, ledger, policy_no, "payment_method_change",
                                                 {"method": "alipay"}, docs=docs))
    assert driven.path == ["under_review", "completed"]
    assert driven.view["outcome"]["changes"] == {"plan": {"payment_method": "alipay"}}
    assert policy(client, ledger, policy_no)["plan"]["payment_method"] == "alipay"
    # the catalog says the contract does not change: no new e-policy version
    assert_one_version(client, ledger, policy_no)


def test_frequency_change_from_the_next_anniversary(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    assert refusal(ask(client, ledger, policy_no, "frequency_change", {"frequency": "monthly"})) == \
        "POLICY-IN-FORCE"  # still in its free-look period
    past_free_look(ledger, clock)
    assert refusal(ask(client, ledger, policy_no, "frequency_change", {"frequency": "monthly"})) == "AT-ANNIVERSARY"
    move_to(ledger, clock, ANNIVERSARY - timedelta(days=20))
    before = policy(client, ledger, policy_no)
    assert before["status"] == "InForce" and before["next_due"] == ANNIVERSARY.isoformat()
    assert refusal(ask(client, ledger, policy_no, "frequency_change", {"frequency": "annual"})) == \
        "FREQUENCY-OFFERED"
    assert refusal(ask(client, ledger, policy_no, "frequency_change", {"frequency": "weekly"}), 422) == \
        "input.frequency"
    driven = drive(client, ledger, clock, submit(client, ledger, policy_no, "frequency_change",
                                                 {"frequency": "monthly"}))
    assert driven.path == ["under_review", "completed"]
    assert driven.view["input"]["effective_on"] == ANNIVERSARY.isoformat()
    after = policy(client, ledger, policy_no)
    assert after["plan"]["frequency"] == "monthly"
    assert modal(after) == (Decimal(before["premium"]["annual_premium"]["amount"]) * Decimal("0.09")).quantize(
        Decimal("0.01"))
    assert after["next_due"] == ANNIVERSARY.isoformat()
    assert_new_version(client, ledger, policy_no)


def test_frequency_change_collects_the_installment_due_before_it(hall: tuple[TestClient, Ledger],
                                                                  clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger, frequency="monthly")
    for month in range(1, 11):  # the monthly installments of 2027-01-02 to 2027-10-02, each paid on time
        move_to(ledger, clock, date(2027, month, 1))
        pay_due(client, ledger, policy_no)
    move_to(ledger, clock, date(2027, 11, 2))  # the day the November installment falls due, 30 days before
    assert policy(client, ledger, policy_no)["next_due"] == "2027-11-02"
    # annual premiums from the anniversary would never collect the November installment
    owing = ask(client, ledger, policy_no, "frequency_change", {"frequency": "annual"})
    assert refusal(owing) == "INSTALLMENT-DUE-FIRST" and "2027-11-02" in owing.json()["detail"]
    pay_due(client, ledger, policy_no)
    driven = drive(client, ledger, clock, submit(client, ledger, policy_no, "frequency_change",
                                                 {"frequency": "annual"}))
    assert driven.path == ["under_review", "completed"]
    after = policy(client, ledger, policy_no)
    assert after["plan"]["frequency"] == "annual" and after["next_due"] == ANNIVERSARY.isoformat()
    assert modal(after) == Decimal(after["premium"]["annual_premium"]["amount"])
    assert_new_version(client, ledger, policy_no)


def test_premium_holiday_after_two_policy_years(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    past_free_look(ledger, clock)
    assert refusal(ask(client, ledger, policy_no, "premium_holiday", {"months": 12})) == "MIN-POLICY-YEARS"
    for year in (2027, 2028):
        move_to(ledger, clock, date(year, 11, 20))
        pay_due(client, ledger, policy_no)
    move_to(ledger, clock, date(2028, 12, 10))
    before = policy(client, ledger, policy_no)
    assert before["status"] == "InForce" and before["next_due"] == "2029-12-02"
    assert refusal(ask(client, ledger, policy_no, "premium_holiday", {"months": 13})) == "MONTHS-ABOVE-MAX"
    assert refusal(ask(client, ledger, policy_no, "premium_holiday", {"months": "12"}), 422) == "input.months"
    driven = drive(client, ledger, clock, submit(client, ledger, policy_no, "premium_holiday", {"months": 12}))
    assert driven.path == ["under_review", "completed"]
    assert driven.view["input"] == {"months": 12, "from": "2029-12-02", "until": "2030-12-02", "waived": 1}
    assert policy(client, ledger, policy_no)["next_due"] == "2030-12-02"
    assert_new_version(client, ledger, policy_no)


def test_payout_account_change_on_a_participating_policy(hall: tuple[TestClient, Ledger],
                                                         clock: FixedClock) -> None:
    client, ledger = hall
    plain = issue(client, ledger)
    participating = issue(client, ledger, product="whole-life-participating")
    account = {"bank": "中国银行", "account_no": "6013820100012345", "holder": "王五"}
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    assert refusal(ask(client, ledger, plain, "payout_account_change", account, docs=docs)) == \
        "PAYS-SURVIVAL-BENEFIT"
    driven = drive(client, ledger, clock, submit(client, ledger, participating, "payout_account_change", account,
                                                 docs=docs))
    assert driven.path == ["awaiting_confirmation", "under_review", "approved", "completed"]
    assert driven.view["input"] == {"fields": ["payout_account"], "party": OWNER}
    assert_one_version(client, ledger, participating)


# -- beneficiary and owner -------------------------------------------------------------------------------------

def test_beneficiary_change_prints_a_new_version(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BENEFICIARY-ID", "RELATIONSHIP-PROOF")
    child = {"name": "王小七", "id_number": resident_id("2012-02-02", sex="F")}
    uneven = ask(client, ledger, policy_no, "beneficiary_change", {"beneficiaries": [
        {"person": child, "share": "60", "relationship": "child"}]}, docs=docs)
    assert refusal(uneven) == "SHARES-NOT-100"
    himself = ask(client, ledger, policy_no, "beneficiary_change", {"beneficiaries": [
        {"person": {"name": "王五", "id_number": resident_id("1986-04-02")}, "share": "100",
         "relationship": "self"}]}, docs=docs)
    assert refusal(himself) == "INSURED-AS-BENEFICIARY"
    view = submit(client, ledger, policy_no, "beneficiary_change", {"beneficiaries": [
        {"person": child, "share": "100", "relationship": "child"}]}, docs=docs)
    # the policyholder is the insured: no written consent of the insured is asked for
    assert view["documents"]["required"] == ["ID-DOCUMENT", "BENEFICIARY-ID", "RELATIONSHIP-PROOF"]
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["awaiting_confirmation", "under_review", "approved", "completed"]
    new_party = driven.view["input"]["beneficiaries"][0]["party"]
    assert policy(client, ledger, policy_no)["beneficiaries"] == [{"party": new_party, "share": "100"}]
    assert_new_version(client, ledger, policy_no)


def test_owner_change_hands_the_policy_over(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    wife = {"name": "李娜", "id_number": resident_id("1988-03-03", sex="F"), "phone": "13900003333"}
    codes = ("ID-DOCUMENT", "NEW-OWNER-ID", "RELATIONSHIP-PROOF", "NEW-OWNER-CONSENT")
    docs = uploads(client, me(ledger), *codes)
    data = {"new_policyholder": wife, "relationship": "spouse"}
    assert refusal(ask(client, ledger, policy_no, "owner_change", data, docs=docs)) == "POLICY-ACTIVE"  # free look
    past_free_look(ledger, clock)
    same = ask(client, ledger, policy_no, "owner_change",
               {"new_policyholder": {"name": "王五", "id_number": resident_id("1986-04-02")},
                "relationship": "self"}, docs=docs)
    assert refusal(same) == "SAME-OWNER"
    assert refusal(ask(client, ledger, policy_no, "owner_change", {"relationship": "spouse"}, docs=docs),
                   422) == "input.new_policyholder"
    view = submit(client, ledger, policy_no, "owner_change", data, docs=docs)
    # the insured asks, so only the new policyholder's written consent is needed
    assert view["documents"]["required"] == list(codes)
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["awaiting_confirmation", "under_review", "approved", "completed"]
    new_owner = driven.view["input"]["policyholder"]
    assert new_owner != OWNER and driven.view["input"]["previous"] == OWNER
    shown = policy(client, ledger, policy_no)  # still readable by the insured
    assert shown["policyholder"] == new_owner and shown["insured"] == OWNER
    assert_new_version(client, ledger, policy_no)
    # the former policyholder, now only the insured, can no longer ask for what only a policyholder may
    assert refusal(ask(client, ledger, policy_no, "payment_method_change", {"method": "alipay"})) == \
        "REQUESTER-ROLE"


# -- rating ----------------------------------------------------------------------------------------------------

def test_occupation_change_re_rates_the_premium(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger, product="accident", sum_insured="500000", payment_years=1, term_years=1,
                      frequency="monthly")  # accident cover is rated by occupation class
    clock.advance(timedelta(days=3))
    today = ledger.policies.today()
    docs = uploads(client, me(ledger), "OCCUPATION-PROOF")
    late = ask(client, ledger, policy_no, "occupation_change",
               {"occupation_class": 3, "changed_on": (today - timedelta(days=11)).isoformat()}, docs=docs)
    assert refusal(late) == "REPORTED-IN-TIME"
    uninsurable = ask(client, ledger, policy_no, "occupation_change",
                      {"occupation_class": 5, "changed_on": today.isoformat()}, docs=docs)
    assert refusal(uninsurable) == "UNINSURABLE-CLASS"
    assert refusal(ask(client, ledger, policy_no, "occupation_change",
                       {"occupation_class": 9, "changed_on": today.isoformat()}, docs=docs), 422) == \
        "input.occupation_class"
    before = policy(client, ledger, policy_no)
    view = submit(client, ledger, policy_no, "occupation_change",
                  {"occupation_class": 4, "changed_on": (today - timedelta(days=3)).isoformat()}, docs=docs)
    quoted = assert_amount(view["quote"], formula="occupation_rerating", product="accident")
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["under_review", "completed"]
    after = policy(client, ledger, policy_no)
    assert after["occupation_class"] == 4
    # class 4 costs 3.2 times class 1: 500,000 x 1.00 / 10,000 x 3.2 x 0.085 a month
    assert modal(before) == Decimal("4.25") and modal(after) == Decimal("13.60")
    # the difference over the 11 monthly installments still to fall due
    assert quoted == (modal(after) - modal(before)) * 11
    assert assert_amount(driven.view["outcome"]["amount"], formula="occupation_rerating", product="accident") == \
        quoted
    assert_new_version(client, ledger, policy_no)
    # the next installment is paid at the new rate: the one-year cash value counts each at what was paid for it
    due = date.fromisoformat(after["next_due"])
    move_to(ledger, clock, due)
    pay_due(client, ledger, policy_no)
    move_to(ledger, clock, due + timedelta(days=10))
    quote = submit(client, ledger, policy_no, "surrender", {},
                   docs=uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF"))["quote"]
    inputs = quote["inputs"]["cash_value"]["basis"]["inputs"]
    assert Decimal(inputs["premium"]["amount"]) == modal(before) + modal(after)  # 4.25 + 13.60, not 2 x 13.60
    assert [Decimal(item["premium"]["amount"]) for item in inputs["premiums_paid"]] == [modal(before), modal(after)]


# -- loans -----------------------------------------------------------------------------------------------------

def test_policy_loan_above_the_four_eyes_amount_then_its_repayment(hall: tuple[TestClient, Ledger],
                                                                  clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger, sum_insured="1000000", payment_years=1)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    assert refusal(ask(client, ledger, policy_no, "policy_loan", {"amount": "1000"}, docs=docs)) == \
        "POLICY-IN-FORCE"  # not in the free-look period
    assert refusal(ask(client, ledger, policy_no, "loan_repayment", {})) == "POLICY-HAS-LOAN-STATUS"
    move_to(ledger, clock, date(2027, 12, 10))
    assert refusal(ask(client, ledger, policy_no, "loan_repayment", {})) == "OPEN-LOAN"
    assert refusal(ask(client, ledger, policy_no, "policy_loan", {"amount": "500000"}, docs=docs)) == \
        "ABOVE-LOAN-LIMIT"
    assert refusal(ask(client, ledger, policy_no, "policy_loan", {"amount": 60000.5}, docs=docs), 422) == \
        "input.amount"
    assert refusal(ask(client, ledger, policy_no, "policy_loan", {"amount": "60000", "months": 7}, docs=docs)) == \
        "ABOVE-MAX-MONTHS"
    view = submit(client, ledger, policy_no, "policy_loan", {"amount": "60000"}, docs=docs)
    assert view["four_eyes"] is True and view["documents"]["missing"] == []
    lent = assert_amount(view["quote"], formula="loan_limit")
    assert lent == Decimal("60000.00")
    limit = Decimal(view["quote"]["inputs"]["limit"]["amount"])
    cash = Decimal(view["quote"]["inputs"]["cash_value"]["amount"]["amount"])
    assert limit == (cash * Decimal("0.80")).quantize(Decimal("0.01")) and limit >= lent
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["awaiting_confirmation", "under_review", "approved", "completed"]
    assert driven.approvers == ["clerk-1", "clerk-2"] and driven.view["approvals"] == ["clerk-1", "clerk-2"]
    outcome = driven.view["outcome"]
    assert assert_amount(outcome["amount"], formula="loan_limit") == lent
    assert outcome["payout"]["amount"] == {"amount": "60000.00", "currency": "CNY"}
    loan = outcome["changes"]["loans"][0]
    assert loan["request_id"] == driven.request_id and loan["rate"] == "0.05"
    # asked for on 2027-12-10; its cooling-off ran out, and the loan was paid out, on 2027-12-11: it runs from then
    assert outcome["on"] == loan["start"] == "2027-12-11" and loan["due"] == "2028-06-11"
    assert outcome["payout"]["pay_by"] == "2027-12-11"
    assert_one_version(client, ledger, policy_no)  # a lien, not a new contract version

    move_to(ledger, clock, date(2028, 3, 9))  # 89 days after the payout
    assert refusal(ask(client, ledger, policy_no, "loan_repayment", {"amount": "70000"})) == "ABOVE-AMOUNT-OWED"
    assert refusal(ask(client, ledger, policy_no, "loan_repayment", {"amount": "0"}), 422) == "input.amount"
    repaid = drive(client, ledger, clock, submit(client, ledger, policy_no, "loan_repayment", {}))
    assert repaid.path == ["under_review", "approved"]  # approved, it waits for the money
    assert repaid.view["awaiting"]["from"] == "customer"
    interest = (Decimal(60000) * Decimal("0.05") * 89 / 365).quantize(Decimal("0.01"))  # from the payout
    owed = {"amount": str(Decimal(60000) + interest), "currency": "CNY"}
    assert repaid.view["awaiting"]["amount"] == owed
    payments = headers(ledger, "system", "payments")
    short = client.post(f"/v1/servicing/{repaid.request_id}/payments", headers=payments, json={
        "amount": "100.00", "payment_ref": "REPAY-0", "paid_at": "2028-03-09T02:00:00Z"})
    assert refusal(short) == "PAYMENT-AMOUNT"
    assert client.post(f"/v1/servicing/{repaid.request_id}/payments", headers=me(ledger), json={
        "amount": owed["amount"], "payment_ref": "REPAY-1", "paid_at": "2028-03-09T02:00:00Z"}).status_code == 403
    paid = client.post(f"/v1/servicing/{repaid.request_id}/payments", headers=payments, json={
        "amount": owed["amount"], "payment_ref": "REPAY-1", "paid_at": "2028-03-09T02:00:00Z"})
    assert paid.status_code == 200, paid.text
    repaid.view = paid.json()
    assert repaid.view["status"] == "completed" and repaid.view["payment"]["payment_ref"] == "REPAY-1"
    again = client.post(f"/v1/servicing/{repaid.request_id}/payments", headers=payments, json={
        "amount": owed["amount"], "payment_ref": "REPAY-2", "paid_at": "2028-03-09T02:00:00Z"})
    assert refusal(again) == "REQUEST-STATUS"  # money never moves twice
    amount = assert_amount(repaid.view["outcome"]["amount"], formula="loan_repayment")
    assert amount == Decimal(60000) + interest
    assert repaid.view["outcome"]["changes"] == {"loans": []}
    assert repaid.view["input"]["closed"] == [driven.request_id]


def test_automatic_premium_loan_on(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    assert refusal(ask(client, ledger, policy_no, "auto_premium_loan", {"enabled": False})) == "ALREADY-OFF"
    assert refusal(ask(client, ledger, policy_no, "auto_premium_loan", {"enabled": "yes"}), 422) == \
        "input.enabled"
    accident = issue(client, ledger, product="accident", sum_insured="500000", payment_years=1, term_years=1)
    assert refusal(ask(client, ledger, accident, "auto_premium_loan", {"enabled": True})) == \
        "HAS-CASH-VALUE-TABLE"
    driven = drive(client, ledger, clock, submit(client, ledger, policy_no, "auto_premium_loan", {"enabled": True}))
    assert driven.path == ["under_review", "completed"]
    assert driven.view["outcome"]["changes"] == {"auto_premium_loan": True}
    assert driven.view["input"]["ratio"] == "0.80"
    assert refusal(ask(client, ledger, policy_no, "auto_premium_loan", {"enabled": True})) == "ALREADY-ON"
    assert_one_version(client, ledger, policy_no)


# -- cash ------------------------------------------------------------------------------------------------------

def test_partial_withdrawal_lowers_the_sum_assured(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = single_premium(client, ledger, clock)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    assert refusal(ask(client, ledger, policy_no, "partial_withdrawal", {"amount": "500"}, docs=docs)) == \
        "BELOW-MINIMUM"
    assert refusal(ask(client, ledger, policy_no, "partial_withdrawal", {"amount": "90000"}, docs=docs)) == \
        "ABOVE-WITHDRAWAL-LIMIT"
    view = submit(client, ledger, policy_no, "partial_withdrawal", {"amount": "55000"}, docs=docs)
    assert view["four_eyes"] is True
    paid = assert_amount(view["quote"], formula="partial_withdrawal")
    assert paid == Decimal("55000") - Decimal("550.00")  # the second policy year's 1 % fee
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["awaiting_confirmation", "under_review", "approved", "completed"]
    assert len(driven.approvers) == 2
    cash = Decimal(view["quote"]["inputs"]["cash_value"]["amount"]["amount"])
    proportional = Decimal(1000000) * (1 - Decimal(55000) / cash)
    after = policy(client, ledger, policy_no)
    assert sum_insured(after) == (proportional // 10000) * 10000  # down onto the product's 10,000 grid
    assert sum_insured(after) == Decimal(driven.view["input"]["new_sum_insured"]["amount"])
    assert modal(after) < Decimal("507725")
    assert_new_version(client, ledger, policy_no)


def test_two_high_risk_requests_under_the_four_eyes_amount_together_need_four_eyes(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = single_premium(client, ledger, clock)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    # 30,000 each is under the 50,000 four-eyes amount; together they are over it
    asks = [("policy_loan", {"amount": "30000"}), ("partial_withdrawal", {"amount": "30000"})]
    # both read the policy's open amounts before either is recorded
    views = at_once([partial(submit, client, ledger, policy_no, operation, data, docs=docs)
                     for operation, data in asks])
    # the one recorded first saw nothing else open; the other counts it, whichever order they landed in
    assert sorted(view["four_eyes"] for view in views) == [False, True], [
        (view["operation"], view["four_eyes"]) for view in views]
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, [str(problem) for problem in report.problems]


def test_surrender_ends_the_contract(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    assert refusal(ask(client, ledger, policy_no, "surrender", {}, docs=docs)) == "POLICY-SURRENDERABLE"
    assert refusal(ask(client, ledger, policy_no, "surrender", {"reason": "x" * 501}, docs=docs), 422) == \
        "input.reason"
    move_to(ledger, clock, date(2027, 6, 2))
    view = submit(client, ledger, policy_no, "surrender", {"reason": "不再需要"}, docs=docs)
    value = assert_amount(view["quote"], formula="surrender_value")
    assert value > 0 and view["four_eyes"] is False
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["awaiting_confirmation", "under_review", "approved", "completed"]
    assert assert_amount(driven.view["outcome"]["amount"], formula="surrender_value") == value
    assert driven.view["outcome"]["payout"]["pay_by"] == "2027-07-02"
    assert policy(client, ledger, policy_no)["status"] == "Surrendered"
    rows = documents(client, ledger, policy_no)
    assert [(row["version"], row["status"]) for row in rows] == [(1, "revoked")]


# -- contract --------------------------------------------------------------------------------------------------

def test_free_look_cancellation_refunds_the_premium(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    late = issue(client, ledger)
    docs = uploads(client, me(ledger), "ID-DOCUMENT")
    premium = modal(policy(client, ledger, policy_no))
    view = submit(client, ledger, policy_no, "free_look_cancellation", {}, docs=docs)
    assert assert_amount(view["quote"], formula="free_look_refund") == premium
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["under_review", "completed"]
    assert driven.view["outcome"]["payout"]["amount"]["amount"] == str(premium)
    assert policy(client, ledger, policy_no)["status"] == "Cancelled"
    assert [row["status"] for row in documents(client, ledger, policy_no)] == ["revoked"]
    ended = ask(client, ledger, policy_no, "epolicy_reissue", {"kind": "copy", "reason": "lost"})
    assert refusal(ended) == "POLICY-NOT-CLOSED"  # nothing more on an ended contract
    past_free_look(ledger, clock)
    assert refusal(ask(client, ledger, late, "free_look_cancellation", {}, docs=docs)) == "IN-FREE-LOOK"
    assert refusal(ask(client, ledger, late, "free_look_cancellation", {"fee": "0"}, docs=docs), 422) == \
        "input.fee"


def test_reinstatement_waits_for_its_payment(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    assert refusal(ask(client, ledger, policy_no, "reinstatement", {"answers": dict(CLEAN)})) == "POLICY-SUSPENDED"
    assert refusal(ask(client, ledger, policy_no, "reinstatement", {"answers": {}}), 422) == "input.answers"
    move_to(ledger, clock, ANNIVERSARY + timedelta(days=65))  # the 2027 premium unpaid past its 60 days of grace
    lapsed = policy(client, ledger, policy_no)
    assert lapsed["status"] == "Suspended", lapsed
    view = submit(client, ledger, policy_no, "reinstatement", {"answers": dict(CLEAN)})
    total = assert_amount(view["quote"], formula="reinstatement_amount")
    assert total > modal(lapsed)  # the premium overdue and its interest
    approved = drive(client, ledger, clock, view, until="approved")
    assert approved.path == ["under_review", "approved"]
    assert approved.view["awaiting"]["from"] == "customer"
    assert ledger.servicing.run_clock() == {}  # waiting for the payment  # nothing until it is paid
    paid = client.post("/v1/payments", headers=headers(ledger, "system", "payments"), json={
        "policy_no": policy_no, "amount": str(total), "payment_ref": "REINSTATE-1",
        "paid_at": "2028-02-05T01:00:00Z"})
    assert paid.status_code == 201 and paid.json()["outcome"] == "applied", paid.text
    assert ledger.servicing.run_clock() == {"completed": 1}
    done = client.get(f"/v1/servicing/{approved.request_id}", headers=me(ledger)).json()
    assert done["status"] == "completed"
    assert assert_amount(done["outcome"]["amount"], formula="reinstatement_amount") == total
    assert policy(client, ledger, policy_no)["status"] == "InForce"
    # the policy's reinstatement prints the next version once paid; completing the request adds no other
    assert_new_version(client, ledger, policy_no)


# -- plan ------------------------------------------------------------------------------------------------------

def test_sum_assured_decrease_after_two_years(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    docs = uploads(client, me(ledger), "ID-DOCUMENT")
    past_free_look(ledger, clock)
    assert refusal(ask(client, ledger, policy_no, "sum_assured_decrease", {"new_sum_insured": "100000"},
                       docs=docs)) == "MIN-POLICY-YEARS"
    for year in (2027, 2028):
        move_to(ledger, clock, date(year, 11, 20))
        pay_due(client, ledger, policy_no)
    move_to(ledger, clock, date(2028, 12, 10))
    before = policy(client, ledger, policy_no)
    assert before["status"] == "InForce"
    for wrong, rule in (("105000", "SUM-INSURED-STEP"), ("40000", "ABOVE-PRODUCT-MINIMUM"),
                        ("200000", "NOT-A-DECREASE")):
        assert refusal(ask(client, ledger, policy_no, "sum_assured_decrease", {"new_sum_insured": wrong},
                           docs=docs)) == rule
    view = submit(client, ledger, policy_no, "sum_assured_decrease", {"new_sum_insured": "120000"}, docs=docs)
    paid = assert_amount(view["quote"], formula="partial_surrender_value")
    cash = Decimal(view["quote"]["inputs"]["cash_value"]["amount"]["amount"])
    assert paid == (cash * Decimal("0.4")).quantize(Decimal("0.01"))  # 80,000 of 200,000 given up
    driven = drive(client, ledger, clock, view)
    assert driven.path == ["under_review", "completed"]
    after = policy(client, ledger, policy_no)
    assert sum_insured(after) == Decimal("120000")
    assert modal(after) < modal(before)
    assert driven.view["outcome"]["payout"]["amount"]["amount"] == str(paid)
    assert_new_version(client, ledger, policy_no)


def test_rider_add_then_rider_remove(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    rider = {"rider": "hospital-allowance", "plan": {"sum_insured": "100", "term_years": 1, "payment_years": 1},
             "answers": dict(CLEAN)}
    past_free_look(ledger, clock)
    assert refusal(ask(client, ledger, policy_no, "rider_add", rider)) == "AT-ANNIVERSARY"
    docs = uploads(client, me(ledger), "ID-DOCUMENT")
    not_attached = ask(client, ledger, policy_no, "rider_remove", {"rider": "hospital-allowance"}, docs=docs)
    assert refusal(not_attached) == "RIDER-ATTACHED" and "must carry the rider" in not_attached.json()["detail"]
    move_to(ledger, clock, ANNIVERSARY - timedelta(days=10))
    assert refusal(ask(client, ledger, policy_no, "rider_add", {**rider, "rider": "term-life"})) == "NOT-A-RIDER"
    assert refusal(ask(client, ledger, policy_no, "rider_add", {**rider, "rider": "no-such-rider"})) == \
        "RIDER-NOT-ON-SALE"
    assert refusal(ask(client, ledger, policy_no, "rider_add", {**rider, "rider": "Hospital Allowance"}), 422) == \
        "input.rider"
    base = modal(policy(client, ledger, policy_no))
    view = submit(client, ledger, policy_no, "rider_add", rider)
    first = assert_amount(view["quote"], formula="rider_premium")
    assert first == Decimal("50.40")  # 36 a year per 100 of daily amount x 1.4, the factor at 41: its start
    added = drive(client, ledger, clock, view)
    assert added.path == ["under_review", "completed"]
    attached = added.view["outcome"]["changes"]["riders"]
    assert [(r["product"]["id"], r["from"]) for r in attached] == [("hospital-allowance", ANNIVERSARY.isoformat())]
    assert modal(policy(client, ledger, policy_no)) == base + Decimal("50.40")  # each due collects the rider too
    assert_new_version(client, ledger, policy_no)
    assert refusal(ask(client, ledger, policy_no, "rider_add", rider)) == "RIDER-ALREADY-ATTACHED"

    removed = drive(client, ledger, clock, submit(client, ledger, policy_no, "rider_remove",
                                                  {"rider": "hospital-allowance"}, docs=docs))
    assert removed.path == ["under_review", "completed"]
    refund = assert_amount(removed.view["outcome"]["amount"], formula="rider_cash_value")
    assert refund == 0  # nothing was paid for it before it started
    assert removed.view["outcome"]["changes"]["riders"] == []
    assert modal(policy(client, ledger, policy_no)) == base  # its installment is off again
    assert_new_version(client, ledger, policy_no, versions=3)


# -- options ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("operation", "current", "chosen", "key", "feature_rule"), [
    ("dividend_option_change", "accumulate", "paid_up_additions", "dividend_option", "PARTICIPATING"),
    ("annuity_option_change", "cash", "annuity_monthly", "payout_option", "PAYS-SURVIVAL-BENEFIT"),
])
def test_option_changes_on_a_participating_policy(hall: tuple[TestClient, Ledger], clock: FixedClock, operation: str,
                                                  current: str, chosen: str, key: str, feature_rule: str) -> None:
    client, ledger = hall
    plain = issue(client, ledger)
    policy_no = issue(client, ledger, product="whole-life-participating")
    assert refusal(ask(client, ledger, policy_no, operation, {"option": chosen})) == "POLICY-ACTIVE"  # free look
    past_free_look(ledger, clock)
    assert refusal(ask(client, ledger, plain, operation, {"option": chosen})) == feature_rule
    assert refusal(ask(client, ledger, policy_no, operation, {"option": current})) == "SAME-OPTION"
    assert refusal(ask(client, ledger, policy_no, operation, {"option": "lottery"}), 422) == "input.option"
    driven = drive(client, ledger, clock, submit(client, ledger, policy_no, operation, {"option": chosen}))
    assert driven.path == ["under_review", "completed"]
    assert driven.view["input"] == {"option": chosen, "from_option": current, "kind": key}
    assert driven.view["outcome"]["changes"] == {"options": {key: chosen}}
    assert refusal(ask(client, ledger, policy_no, operation, {"option": chosen})) == "SAME-OPTION"  # it stuck
    assert_new_version(client, ledger, policy_no)


# -- document --------------------------------------------------------------------------------------------------

def test_epolicy_reissue_of_a_copy_completes_at_once(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    assert refusal(ask(client, ledger, policy_no, "epolicy_reissue", {"kind": "new", "reason": "lost"}), 422) == \
        "input.kind"
    assert refusal(ask(client, ledger, policy_no, "epolicy_reissue", {"kind": "copy"}), 422) == "input.reason"
    copy = submit(client, ledger, policy_no, "epolicy_reissue", {"kind": "copy", "reason": "手机丢失"})
    assert copy["status"] == "completed"
    v1 = documents(client, ledger, policy_no)[0]
    assert copy["input"] == {"kind": "copy", "new_version": False, "of": {"version": 1, "digest": v1["digest"]}}
    assert "手机丢失" not in str(copy)  # the reason is sealed with the details
    assert_one_version(client, ledger, policy_no)
    past_free_look(ledger, clock)
    move_to(ledger, clock, ANNIVERSARY + timedelta(days=65))  # lapsed: a suspended policy may still have a copy
    assert policy(client, ledger, policy_no)["status"] == "Suspended"
    assert submit(client, ledger, policy_no, "epolicy_reissue", {"kind": "copy", "reason": "再次"})["status"] == \
        "completed"


# -- who may ask, on whose behalf, withdrawal, four eyes, the queue --------------------------------------------

def test_only_a_party_holding_an_allowed_role_may_ask(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    beneficiary = policy(client, ledger, policy_no)["beneficiaries"][0]["party"]
    address = {"address": "北京市朝阳区建国路 1 号"}
    stranger = ask(client, ledger, policy_no, "address_change", address, customer=STRANGER)
    assert refusal(stranger, 404) == "policy_no"
    as_beneficiary = ask(client, ledger, policy_no, "address_change", address, customer=beneficiary)
    assert refusal(as_beneficiary) == "REQUESTER-ROLE"
    assert "policyholder, insured" in as_beneficiary.json()["detail"]
    assert refusal(ask(client, ledger, policy_no, "surrender", {}, customer=beneficiary)) == "REQUESTER-ROLE"
    # a beneficiary may correct their own identity details
    docs = uploads(client, me(ledger, beneficiary), "ID-DOCUMENT", "CHANGE-PROOF")
    own = submit(client, ledger, policy_no, "identity_correction", {"name": "赵陆"}, docs=docs,
                 customer=beneficiary)
    assert own["requester"] == {"role": "beneficiary", "party": beneficiary, "roles": ["beneficiary"]}
    assert drive(client, ledger, clock, own, customer=beneficiary).view["status"] == "completed"
    # the policyholder sees it; the stranger does not
    assert client.get(f"/v1/servicing/{own['request_id']}", headers=me(ledger)).status_code == 200
    assert client.get(f"/v1/servicing/{own['request_id']}", headers=me(ledger, STRANGER)).status_code == 404


def test_staff_acting_for_a_customer_need_the_signed_authorisation(hall: tuple[TestClient, Ledger],
                                                                   clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    staff = clerk(ledger, "clerk-9")
    address = {"operation": "address_change", "input": {"address": "广州市天河区体育西路 2 号"}}
    unnamed = client.post(f"/v1/policies/{policy_no}/servicing", headers=staff, json=address)
    assert refusal(unnamed, 422) == "on_behalf_of"
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=staff, json={**address, "on_behalf_of": OWNER})
    assert made.status_code == 201, made.text
    view = made.json()
    assert view["on_behalf"] is True and view["requester"]["party"] == OWNER
    assert view["status"] == "documents_requested"
    assert view["documents"]["missing"] == ["SIGNED-AUTHORISATION"] and view["awaiting"]["from"] == "customer"
    rid = view["request_id"]
    wrong = client.post(f"/v1/servicing/{rid}/documents", headers=staff,
                        json={"documents": {"ID-DOCUMENT": upload(client, staff, b"%PDF id", subject=OWNER)}})
    assert refusal(wrong) == "DOCUMENT-NOT-ASKED"
    signed = upload(client, staff, b"%PDF signed authorisation", subject=OWNER)  # the customer's file
    given = client.post(f"/v1/servicing/{rid}/documents", headers=staff,
                        json={"documents": {"SIGNED-AUTHORISATION": signed}})
    assert given.status_code == 200, given.text
    done = given.json()
    assert done["status"] == "completed" and done["documents"]["received"] == ["SIGNED-AUTHORISATION"]
    assert done["timeline"][0]["actor"] == {"role": "servicing", "party": "clerk-9"}
    # a customer asks for themselves only
    posing = client.post(f"/v1/policies/{policy_no}/servicing", headers=me(ledger, STRANGER),
                         json={**address, "on_behalf_of": OWNER})
    assert refusal(posing, 403) == "on_behalf_of"


def test_withdrawal_before_approval_only(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "CHANGE-PROOF")
    pending = submit(client, ledger, policy_no, "identity_correction", {"name": "王伍"}, docs=docs)
    rid = pending["request_id"]
    assert client.post(f"/v1/servicing/{rid}/withdraw", headers=me(ledger, STRANGER), json={}).status_code == 404
    withdrawn = client.post(f"/v1/servicing/{rid}/withdraw", headers=me(ledger), json={"reason": "写错了"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert "写错了" not in withdrawn.text  # the customer's reason is sealed under them, not a fact
    late = client.post(f"/v1/servicing/{rid}/decision", headers=clerk(ledger), json={"action": "approve"})
    assert refusal(late) == "REQUEST-STATUS"
    assert refusal(client.post(f"/v1/servicing/{rid}/withdraw", headers=me(ledger), json={})) == "REQUEST-STATUS"

    account = {"bank": "招商银行", "account_no": "6225880112345678", "holder": "王五"}
    bank = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    approved = drive(client, ledger, clock, submit(client, ledger, policy_no, "payment_account_change", account,
                                                   docs=bank), until="approved")
    assert approved.view["status"] == "approved" and approved.view["awaiting"]["from"] == "clock"
    refused = client.post(f"/v1/servicing/{approved.request_id}/withdraw", headers=me(ledger), json={})
    assert refusal(refused) == "ALREADY-APPROVED"


def test_four_eyes_needs_a_second_different_clerk(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = single_premium(client, ledger, clock)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    small = drive(client, ledger, clock, submit(client, ledger, policy_no, "policy_loan", {"amount": "10000"},
                                                docs=docs))
    assert small.view["four_eyes"] is False and small.approvers == ["clerk-1"]  # below the catalog's 50,000
    view = submit(client, ledger, policy_no, "policy_loan", {"amount": "50000"}, docs=docs)
    assert view["four_eyes"] is True
    rid = view["request_id"]
    confirmed = drive(client, ledger, clock, view, until="under_review")
    assert confirmed.view["status"] == "under_review"
    first = client.post(f"/v1/servicing/{rid}/decision", headers=clerk(ledger, "clerk-7"), json={"action": "approve"})
    assert first.status_code == 200 and first.json()["status"] == "under_review"
    assert first.json()["approvals"] == ["clerk-7"]
    assert first.json()["awaiting"]["en"] == "a second servicing clerk's approval"
    again = client.post(f"/v1/servicing/{rid}/decision", headers=clerk(ledger, "clerk-7"), json={"action": "approve"})
    assert refusal(again) == "FOUR-EYES"
    second = client.post(f"/v1/servicing/{rid}/decision", headers=clerk(ledger, "clerk-8"),
                         json={"action": "approve"})
    assert second.status_code == 200 and second.json()["status"] == "approved"
    assert second.json()["approvals"] == ["clerk-7", "clerk-8"]


def test_the_queue_filters_by_operation_risk_and_flag(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = single_premium(client, ledger, clock)
    account = {"bank": "招商银行", "account_no": "6225880112345678", "holder": "王五"}
    bank = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    changed = drive(client, ledger, clock, submit(client, ledger, policy_no, "payment_account_change", account,
                                                  docs=bank))
    assert changed.view["status"] == "completed"
    # money taken out within 30 days of an account change is flagged for a person to look at
    loan = drive(client, ledger, clock, submit(client, ledger, policy_no, "policy_loan", {"amount": "10000"},
                                               docs=bank), until="under_review")
    assert loan.view["status"] == "under_review"
    assert [flag["rule"] for flag in loan.view["flags"]] == ["ACCOUNT-THEN-CASH"]
    correction = submit(client, ledger, policy_no, "identity_correction", {"name": "王伍"},
                        docs=uploads(client, me(ledger), "ID-DOCUMENT", "CHANGE-PROOF"))
    staff = clerk(ledger)

    def queued(query: str) -> list[str]:
        answer = client.get(f"/v1/servicing/queue{query}", headers=staff)
        assert answer.status_code == 200, answer.text
        return [row["request_id"] for row in answer.json()]

    both = [loan.request_id, correction["request_id"]]
    assert queued("") == both  # oldest first
    assert queued("?operation=policy_loan") == [loan.request_id]
    assert queued("?operation=identity_correction") == [correction["request_id"]]
    assert queued("?high_risk=true") == [loan.request_id]
    assert queued("?high_risk=false") == [correction["request_id"]]
    assert queued("?flagged=true") == [loan.request_id]
    assert queued("?flagged=false") == [correction["request_id"]]
    assert queued("?flagged=true&operation=identity_correction") == []
    assert queued("?limit=1") == [loan.request_id]
    assert refusal(client.get("/v1/servicing/queue?operation=teleport", headers=staff), 404) == "code"
    assert refusal(client.get("/v1/servicing/queue?limit=0", headers=staff), 422) == "limit"
    assert client.get("/v1/servicing/queue", headers=me(ledger)).status_code == 403


def test_every_operation_of_the_catalog_is_driven_here(hall: tuple[TestClient, Ledger]) -> None:
    client, _ = hall
    catalog = client.get("/v1/servicing/operations").json()["operations"]
    assert sorted(op["code"] for op in catalog) == sorted(DRIVEN)


# The operations this module drives to completed (a new catalog operation needs its test here).
DRIVEN = (
    "contact_change", "address_change", "identity_correction", "payment_account_change", "payment_method_change",
    "frequency_change", "premium_holiday", "payout_account_change", "beneficiary_change", "owner_change",
    "occupation_change", "policy_loan", "loan_repayment", "auto_premium_loan", "partial_withdrawal", "surrender",
    "free_look_cancellation", "reinstatement", "sum_assured_decrease", "rider_add", "rider_remove",
    "dividend_option_change", "annuity_option_change", "epolicy_reissue")


def test_a_reinstatement_is_not_restored_before_the_clerk_approves(hall: tuple[TestClient, Ledger],
                                                                    clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    move_to(ledger, clock, ANNIVERSARY + timedelta(days=65))
    view = submit(client, ledger, policy_no, "reinstatement", {"answers": dict(CLEAN)})
    assert view["status"] == "under_review"
    early = client.post("/v1/payments", headers=headers(ledger, "system", "payments"), json={
        "policy_no": policy_no, "amount": view["quote"]["value"]["amount"], "payment_ref": "R-1",
        "paid_at": "2028-02-05T01:00:00Z"})
    assert early.status_code == 201 and early.json()["outcome"] == "parked"  # nothing to reinstate yet
    rejected = client.post(f"/v1/servicing/{view['request_id']}/decision", headers=clerk(ledger),
                           json={"action": "reject", "reason": "declaration contradicts the claim file"})
    assert rejected.json()["status"] == "rejected"
    assert policy(client, ledger, policy_no)["status"] == "Suspended"


def test_the_clerk_who_entered_a_request_for_a_customer_cannot_approve_it(hall: tuple[TestClient, Ledger],
                                                                         clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    staff = clerk(ledger, "clerk-9")
    docs = {c: upload(client, staff, f"%PDF {c}".encode(), subject=OWNER)
            for c in ("ID-DOCUMENT", "CHANGE-PROOF", "SIGNED-AUTHORISATION")}
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=staff, json={
        "operation": "identity_correction", "input": {"name": "王伍"}, "documents": docs, "on_behalf_of": OWNER})
    assert made.status_code == 201, made.text
    own = client.post(f"/v1/servicing/{made.json()['request_id']}/decision", headers=staff,
                      json={"action": "approve"})
    assert refusal(own) == "OWN-REQUEST"


def test_a_corrected_epolicy_version_is_reviewed_by_staff(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    corrected = submit(client, ledger, policy_no, "epolicy_reissue", {"kind": "corrected", "reason": "姓名有误"})
    assert corrected["status"] == "under_review"


def test_a_repayment_takes_money_only_once_approved_and_only_for_what_it_still_closes(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = single_premium(client, ledger, clock)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    lent = drive(client, ledger, clock, submit(client, ledger, policy_no, "policy_loan", {"amount": "10000"},
                                                docs=docs))
    assert lent.view["status"] == "completed"
    payments = headers(ledger, "system", "payments")
    view = submit(client, ledger, policy_no, "loan_repayment", {})
    owed = view["quote"]["value"]["amount"]
    pay = {"amount": owed, "payment_ref": "RP-1", "paid_at": "2028-01-10T02:00:00Z"}
    early = client.post(f"/v1/servicing/{view['request_id']}/payments", headers=payments, json=pay)
    assert refusal(early) == "REQUEST-STATUS"  # under review: the payments system keeps the money
    repaid = drive(client, ledger, clock, view)
    assert repaid.path == ["under_review", "approved"]
    messaging = headers(ledger, "system", "messaging")
    assert client.post(f"/v1/servicing/{repaid.request_id}/payments", headers=messaging,
                       json=pay).status_code == 403  # only the payment systems confirm payments

    # a second loan after the approval: the repayment quoted would now close a loan nobody paid for
    more = drive(client, ledger, clock, submit(client, ledger, policy_no, "policy_loan", {"amount": "5000"},
                                               docs=uploads(client, me(ledger), "ID-DOCUMENT",
                                                            "BANK-ACCOUNT-PROOF")))
    assert more.view["status"] == "completed"
    paid = client.post(f"/v1/servicing/{repaid.request_id}/payments", headers=payments, json=pay)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "rejected" and paid.json()["outcome"]["rule"] == "PAYMENT-MISMATCH"
    assert paid.json()["outcome"]["refund"] == {"amount": owed, "currency": "CNY"}  # recorded, to go back
    again = client.post(f"/v1/servicing/{repaid.request_id}/payments", headers=payments, json=pay)
    assert again.status_code == 200 and again.json()["status"] == "rejected"  # the same payment, once
    loans = ledger.policies.get(ledger.policies.application_of(policy_no)).loans
    assert len(loans) == 2  # nothing was closed


def test_an_approved_repayment_never_paid_ends_after_thirty_days(hall: tuple[TestClient, Ledger],
                                                                  clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = single_premium(client, ledger, clock)
    docs = uploads(client, me(ledger), "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
    drive(client, ledger, clock, submit(client, ledger, policy_no, "policy_loan", {"amount": "10000"}, docs=docs))
    repaid = drive(client, ledger, clock, submit(client, ledger, policy_no, "loan_repayment", {}))
    assert repaid.view["status"] == "approved"
    assert ledger.servicing.run_clock() == {}  # waiting for the money, not ended
    clock.advance(timedelta(days=31))
    assert ledger.servicing.run_clock() == {"rejected": 1}
    ended = client.get(f"/v1/servicing/{repaid.request_id}", headers=me(ledger)).json()
    assert ended["outcome"]["rule"] == "PAYMENT-NOT-RECEIVED"
    assert submit(client, ledger, policy_no, "loan_repayment", {})["status"] == "under_review"  # may ask again


def test_a_request_of_a_former_policyholder_ends_when_the_policy_changes_hands(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    past_free_look(ledger, clock)
    pending = submit(client, ledger, policy_no, "payment_method_change", {"method": "alipay"},
                     docs=uploads(client, me(ledger), "DEBIT-AUTHORISATION"))
    assert pending["status"] == "under_review"
    new_owner = {"new_policyholder": {"name": "李雷", "id_number": resident_id("1980-01-01", serial=77)},
                 "relationship": "spouse"}
    owner_docs = uploads(client, me(ledger), "INSURED-CONSENT", "NEW-OWNER-CONSENT", "ID-DOCUMENT", "NEW-OWNER-ID",
                         "RELATIONSHIP-PROOF")
    owned = drive(client, ledger, clock, submit(client, ledger, policy_no, "owner_change", new_owner,
                                                docs=owner_docs))
    assert owned.view["status"] == "completed"
    late = client.post(f"/v1/servicing/{pending['request_id']}/decision", headers=clerk(ledger),
                       json={"action": "approve"})
    assert refusal(late) == "REQUESTER-ROLE"  # the former owner may no longer ask for it: it cannot be approved
    rejected = client.post(f"/v1/servicing/{pending['request_id']}/decision", headers=clerk(ledger),
                           json={"action": "reject", "reason": "the requester no longer owns the policy"})
    assert rejected.json()["status"] == "rejected"
    assert ledger.policies.get(ledger.policies.application_of(policy_no)).plan.get("payment_method") is None


def test_a_reinstatement_declaration_is_checked_when_it_is_made(hall: tuple[TestClient, Ledger],
                                                                clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    move_to(ledger, clock, ANNIVERSARY + timedelta(days=65))
    partial = ask(client, ledger, policy_no, "reinstatement", {"answers": {"height_cm": 180}})
    assert refusal(partial, 422) == "input.answers"
    assert "complete new health declaration" in partial.json()["detail"]
    wrong = ask(client, ledger, policy_no, "reinstatement", {"answers": {**CLEAN, "height_cm": "tall"}})
    assert refusal(wrong, 422).startswith("input.answers")


def test_a_rider_is_underwritten_on_a_new_declaration(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    move_to(ledger, clock, ANNIVERSARY - timedelta(days=10))
    plan = {"sum_insured": "100", "term_years": 1, "payment_years": 1}
    cancer = {**CLEAN, "tumour": True, "tumour_kind": "malignant"}
    declined = ask(client, ledger, policy_no, "rider_add", {"rider": "hospital-allowance", "plan": plan,
                                                            "answers": cancer})
    assert refusal(declined) == "RIDER-DECLINED"
    assert declined.json()["detail_zh"].startswith("根据新的健康告知")  # the reason, in both languages
    missing = ask(client, ledger, policy_no, "rider_add", {"rider": "hospital-allowance", "plan": plan})
    assert refusal(missing, 422) == "input.answers"
    view = submit(client, ledger, policy_no, "rider_add", {"rider": "hospital-allowance", "plan": plan,
                                                          "answers": dict(CLEAN)})
    assert view["input"]["underwriting"]["outcome"] == "standard"
    assert "height_cm" not in str(view)  # the declaration itself is sealed, never a fact


def test_an_approved_reinstatement_ends_when_its_quote_is_withdrawn_or_expires(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    move_to(ledger, clock, ANNIVERSARY + timedelta(days=65))
    approved = drive(client, ledger, clock, submit(client, ledger, policy_no, "reinstatement",
                                                   {"answers": dict(CLEAN)}), until="approved")
    assert approved.view["status"] == "approved"
    # the customer asks the policy directly with a declaration it declines: the servicing quote is gone
    declined = client.post(f"/v1/policies/{policy_no}/reinstatement", headers=me(ledger),
                           json={"answers": {**CLEAN, "tumour": True, "tumour_kind": "malignant"}})
    assert declined.status_code == 200, declined.text
    assert ledger.servicing.run_clock() == {"rejected": 1}  # not stuck: ended, naming why
    ended = client.get(f"/v1/servicing/{approved.request_id}", headers=me(ledger)).json()
    assert ended["outcome"]["rule"] == "REINSTATEMENT-NO-QUOTE"

    again = drive(client, ledger, clock, submit(client, ledger, policy_no, "reinstatement",
                                                {"answers": dict(CLEAN)}), until="approved")
    assert again.view["status"] == "approved"  # underwritten anew at the approval
    quote = ledger.policies.get(ledger.policies.application_of(policy_no)).reinstatement
    assert ledger.servicing.run_clock() == {}  # the quote stands: waiting for the payment
    # past the quote's last day (the day before the next premium falls due)
    clock.advance(timedelta(days=(date.fromisoformat(quote["valid_until"]) - ledger.policies.today()).days + 2))
    assert ledger.servicing.run_clock() == {"rejected": 1}
    expired = client.get(f"/v1/servicing/{again.request_id}", headers=me(ledger)).json()
    assert expired["outcome"]["rule"] == "REINSTATEMENT-EXPIRED"
    assert policy(client, ledger, policy_no)["status"] == "Suspended"


def test_a_rider_on_changed_terms_is_left_to_an_underwriter(hall: tuple[TestClient, Ledger],
                                                                     clock: FixedClock) -> None:
    from ledger.policies.rules.samples import SAMPLES

    client, ledger = hall
    policy_no = issue(client, ledger)
    move_to(ledger, clock, ANNIVERSARY - timedelta(days=10))
    plan = {"sum_insured": "100", "term_years": 1, "payment_years": 1}
    # controlled hypertension: the hospital-allowance rules cover it with an exclusion
    excluded = ask(client, ledger, policy_no, "rider_add", {
        "rider": "hospital-allowance", "plan": plan, "answers": dict(SAMPLES["hypertension_controlled"].answers)})
    assert refusal(excluded) == "RIDER-NONSTANDARD"
    assert "hypertension" not in excluded.text.lower()  # the refusal names the rule, not the answers
    # a finding to look into: referred, so the clerk sees the outcome and decides
    referred = submit(client, ledger, policy_no, "rider_add", {
        "rider": "hospital-allowance", "plan": plan, "answers": dict(SAMPLES["prediabetes"].answers)})
    assert referred["status"] == "under_review" and referred["input"]["underwriting"]["outcome"] == "refer"
