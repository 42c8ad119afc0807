"""A paid death benefit ends the contract: the policy is terminated and its e-policy revoked on chain, in the same
group as the payment's settlement."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import register_systems, settle
from tests.api.routes.claims_more_helpers import paid_death_claim
from tests.api.routes.servicing_helpers import OWNER, policy


def test_a_paid_death_benefit_terminates_the_policy_and_revokes_its_e_policy(hall: tuple[TestClient, Ledger],
                                                                               clock: FixedClock) -> None:
    client, ledger = hall
    death = paid_death_claim(client, ledger, clock)
    policy_no, claim, epolicy, heir = death.policy_no, death.claim, death.epolicy, death.heir
    beneficiary = death.beneficiary

    assert policy(client, ledger, policy_no)["status"] == "Terminated"
    status = client.get(f"/v1/documents/{epolicy}").json()
    assert status["status"] == "revoked", status
    # the beneficiary sees the decision and the payment, not the deceased's medical facts
    seen = client.get(f"/v1/claims/{claim['claim_id']}", headers=heir).json()
    assert seen["decision"]["outcome"] == "approve" and seen["payments"][0]["status"] == "paid"
    assert "medical" not in seen and "invoices" not in seen and "review" not in seen
    assert beneficiary != OWNER


def test_a_mild_illness_payout_waives_the_premiums_left_and_the_cover_goes_on(hall: tuple[TestClient, Ledger],
                                                                             clock: FixedClock) -> None:
    from tests.api.routes.claims_more_helpers import CI_DOCS, critical_illness_policy, file_claim, filed, post

    client, ledger = hall
    systems = register_systems(client, ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = critical_illness_policy(client, ledger, clock)  # 10 annual premiums, the first one paid
    before = policy(client, ledger, policy_no)
    assert before["next_due"] is not None
    claim = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS))
    keyed = post(client, ledger, claim["claim_id"], "medical", {"diagnoses": ["D05.1"], "illness_group": "mild"},
                 role="claims_handler", subject="handler-a")
    assert keyed.status_code == 200, keyed.text
    assert keyed.json()["assessment"]["waiver"] is True  # CI-MILD triggers the premium waiver
    approved = post(client, ledger, claim["claim_id"], "decision", {"action": "approve"}, role="claims_handler",
                    subject="handler-a")
    assert approved.status_code == 200, approved.text
    assert settle(client, ledger, systems, claim["claim_id"]).status_code == 200
    after = policy(client, ledger, policy_no)
    assert after["status"] in ("InForce", "FreeLook") and after["next_due"] is None, after
    state = ledger.policies.get(ledger.policies.application_of(policy_no))
    assert len(state.waived_dues) == 9  # the nine premiums still due
