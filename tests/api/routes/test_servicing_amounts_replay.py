"""Every servicing amount recorded over real HTTP requests is recomputed from the journal alone.

One ledger on a fixed clock takes a realistic run of money-moving requests (a free-look cancellation, an occupation
change, a rider added and removed, a partial withdrawal, a policy loan and part of its repayment, a reinstatement
paid, a sum-assured decrease and two surrenders, one with a loan still open). Then only the journal is read:
entry by entry, the facts of every ledger-signed ``servicing.request.submitted`` (its ``quote``),
``servicing.request.completed`` and ``policy.contract.serviced`` (their ``amount``) are opened and each amount is
recomputed by ``ledger.servicing.recompute`` from its own inputs and parameters. No service, read model, product
catalog or table is consulted for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.crypto.keys import LEDGER_KEY_ID
from ledger.errors import VerificationError
from ledger.policies.events import SERVICED
from ledger.policies.rules.samples import CLEAN
from ledger.servicing import events as ev
from ledger.servicing.recompute import FORMULAS, explain, verify_amount
from tests.api.routes.servicing_helpers import (
    drive,
    headers,
    issue,
    move_to,
    past_free_look,
    submit,
    uploads,
)

ANNIVERSARY = date(2027, 12, 2)
CASH_OUT = ("ID-DOCUMENT", "BANK-ACCOUNT-PROOF")
# Where an amount sits in the facts of each event that records one.
AMOUNT_FIELDS = {ev.SUBMITTED: "quote", ev.COMPLETED: "amount", SERVICED: "amount"}
# Formulas whose records lack an input their recomputation needs (formula -> the input): none at present. A
# family that stops recording one shows up here, not as a silent skip.
NOT_RECOMPUTABLE: dict[str, str] = {}


def pay(client: TestClient, ledger: Ledger, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Post a payment as the payments system; its answer."""
    answer = client.post(path, headers=headers(ledger, "system", "payments"), json=body)
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()
    return result


def requests_made(client: TestClient, ledger: Ledger, clock: FixedClock) -> dict[str, str]:
    """Drive the money-moving requests to their end, each policy held by a person of its own (cover held with
    us adds up against the automatic underwriting limit); request id -> operation."""
    made: dict[str, str] = {}
    holders: dict[str, str] = {}  # policy number -> its policyholder and insured

    def policy(serial: int, **plan: Any) -> str:
        customer = f"P00000000000000000S{serial}"
        policy_no = issue(client, ledger, customer=customer, serial=serial, **plan)
        holders[policy_no] = customer
        return policy_no

    def pay_premium(policy_no: str) -> None:
        """Pay the policy's next premium, as ``pay_due`` does for a policy of the helpers' one customer."""
        shown = client.get(f"/v1/policies/{policy_no}", headers=headers(ledger, "customer", holders[policy_no]))
        due = shown.json()["next_due"]
        paid = pay(client, ledger, "/v1/payments", {
            "policy_no": policy_no, "amount": shown.json()["premium"]["modal_premium"]["amount"],
            "payment_ref": f"PAY-{policy_no}-{due}", "paid_at": ledger.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        assert paid["outcome"] == "applied", paid

    def ask(policy_no: str, operation: str, data: dict[str, Any], *docs: str, until: str = "completed") -> str:
        customer = holders[policy_no]
        given = uploads(client, headers(ledger, "customer", customer), *docs)
        view = submit(client, ledger, policy_no, operation, data, docs=given, customer=customer)
        driven = drive(client, ledger, clock, view, customer=customer, until=until)
        assert driven.view["status"] == until, driven.path
        made[driven.request_id] = operation
        return driven.request_id

    single = policy(21, sum_insured="1000000", payment_years=1)  # a cash value to lend and withdraw
    cancelled = policy(22)
    ridered = policy(23)
    accident = policy(24, product="accident", sum_insured="500000", payment_years=1, term_years=1,
                      frequency="monthly")
    regular = policy(25)
    lapsing = policy(26)

    ask(cancelled, "free_look_cancellation", {}, "ID-DOCUMENT")
    clock.advance(timedelta(days=3))
    changed = (ledger.policies.today() - timedelta(days=2)).isoformat()
    ask(accident, "occupation_change", {"occupation_class": 4, "changed_on": changed}, "OCCUPATION-PROOF")
    past_free_look(ledger, clock)

    move_to(ledger, clock, date(2027, 11, 20))
    pay_premium(regular)
    move_to(ledger, clock, ANNIVERSARY - timedelta(days=10))
    rider = {"rider": "hospital-allowance", "plan": {"sum_insured": "100", "term_years": 1, "payment_years": 1},
             "answers": dict(CLEAN)}
    ask(ridered, "rider_add", rider)
    pay_premium(ridered)  # the anniversary's installment, the rider's too

    move_to(ledger, clock, date(2027, 12, 10))
    ask(single, "partial_withdrawal", {"amount": "5000"}, *CASH_OUT)
    ask(single, "policy_loan", {"amount": "10000"}, *CASH_OUT)

    move_to(ledger, clock, date(2028, 1, 15))  # 44 days into the rider's year: part of its premium comes back
    ask(ridered, "rider_remove", {"rider": "hospital-allowance"}, "ID-DOCUMENT")

    move_to(ledger, clock, ANNIVERSARY + timedelta(days=65))  # the lapsing policy's 2027 premium is long unpaid
    reinstating = ask(lapsing, "reinstatement", {"answers": dict(CLEAN)}, until="approved")
    shown = client.get(f"/v1/servicing/{reinstating}", headers=headers(ledger, "customer", holders[lapsing]))
    quoted = shown.json()["quote"]["value"]["amount"]
    paid = pay(client, ledger, "/v1/payments", {"policy_no": lapsing, "amount": quoted, "payment_ref": "REINSTATE-1",
                                                "paid_at": "2028-02-05T01:00:00Z"})
    assert paid["outcome"] == "applied", paid
    assert ledger.servicing.run_clock() == {"completed": 1}

    move_to(ledger, clock, date(2028, 3, 9))
    repaying = ask(single, "loan_repayment", {"amount": "5000"}, until="approved")
    repaid = pay(client, ledger, f"/v1/servicing/{repaying}/payments", {
        "amount": "5000.00", "payment_ref": "REPAY-1", "paid_at": "2028-03-09T02:00:00Z"})
    assert repaid["status"] == "completed", repaid

    move_to(ledger, clock, date(2028, 11, 20))
    pay_premium(regular)
    move_to(ledger, clock, date(2028, 12, 10))
    ask(regular, "sum_assured_decrease", {"new_sum_insured": "120000"}, "ID-DOCUMENT")
    ask(regular, "surrender", {}, *CASH_OUT)
    ask(single, "surrender", {}, *CASH_OUT)  # with what is left of its loan still open
    return made


def journal_amounts(ledger: Ledger) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(entry index, event type, facts) of every ledger-signed entry that records an amount, read entry by entry
    from the journal and opened with the ledger's own key."""
    for index in range(ledger.log.size()):
        row = ledger.log.entry(index)
        if row.type in AMOUNT_FIELDS and row.key_id == LEDGER_KEY_ID:
            facts = ledger.subjects.open_payload(index).payload
            if facts.get(AMOUNT_FIELDS[row.type]) is not None:
                yield index, row.type, facts


def test_every_recorded_servicing_amount_recomputes_from_the_journal_alone(hall: tuple[TestClient, Ledger],
                                                                          clock: FixedClock) -> None:
    client, ledger = hall
    made = requests_made(client, ledger, clock)
    assert len(made) == 11

    verified: Counter[tuple[str, str]] = Counter()  # (request id, event type)
    formulas: dict[str, str] = {}
    failed: list[str] = []
    not_recomputable: dict[str, str] = {}
    for index, event_type, facts in journal_amounts(ledger):
        record = facts[AMOUNT_FIELDS[event_type]]
        try:
            verify_amount(record)
        except VerificationError as error:
            if "cannot be recomputed" in error.message:
                not_recomputable[record["formula"]] = error.message
            else:
                failed.append(f"entry {index} ({event_type}): {error.message}")
            continue
        verified[(facts["request_id"], event_type)] += 1
        formulas[facts["request_id"]] = record["formula"]

    assert failed == []
    assert not_recomputable == NOT_RECOMPUTABLE
    # each money-moving request's quote, completed amount and contract change, once each, and nothing else
    assert set(verified) == {(rid, kind) for rid in made for kind in AMOUNT_FIELDS}
    assert sum(verified.values()) == 3 * len(made) == 33
    # every formula that moves money, two surrenders
    assert Counter(formulas.values()) == Counter({**dict.fromkeys(FORMULAS, 1), "surrender_value": 2})


def test_the_replayed_amounts_carry_what_their_formulas_turn_on(hall: tuple[TestClient, Ledger],
                                                                 clock: FixedClock) -> None:
    """The run reaches the branches worth recomputing: debts with a loan's interest in a surrender, a rider's cash
    value above zero, a loan repaid in part, a reinstatement completed by its payment."""
    client, ledger = hall
    requests_made(client, ledger, clock)
    completed = {facts["request_id"]: facts["amount"] for _, event_type, facts in journal_amounts(ledger)
                 if event_type == ev.COMPLETED}
    by_formula: dict[str, list[dict[str, Any]]] = {}
    for record in completed.values():
        by_formula.setdefault(record["formula"], []).append(record)

    surrendered = [explain(record) for record in by_formula["surrender_value"]]
    assert sorted(bool(result.parts["debts"].amount) for result in surrendered) == [False, True]
    # the single premium bought the whole term; the annual one is refunded for the rest of its year
    assert sorted(bool(result.parts["refundable_premium"].amount) for result in surrendered) == [False, True]
    assert explain(by_formula["rider_cash_value"][0]).value.amount > 0
    repayment = by_formula["loan_repayment"][0]
    assert [entry["closed"] for entry in repayment["inputs"]["applied"]] == [False]
    assert explain(repayment).parts["owed"].amount > explain(repayment).value.amount
    reinstated = by_formula["reinstatement_amount"][0]
    assert set(reinstated["inputs"]) == {"quoted", "payment", "requested"}
    assert reinstated["value"] == reinstated["inputs"]["payment"]["amount"]
    lent = explain(by_formula["loan_limit"][0])
    assert lent.value <= lent.parts["limit"]
