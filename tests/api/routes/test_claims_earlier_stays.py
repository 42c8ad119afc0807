"""The fraud rules that compare a claim's hospital stay with the insured's earlier stays see the earlier claims'
stays (first admission, last discharge, diagnosis group), which only their invoices hold."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.claims_more_helpers import seen


def test_a_readmission_soon_after_an_earlier_claims_discharge_is_flagged(hall: tuple[TestClient, Ledger],
                                                                           clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)
    today = ledger.claims.today()
    first = report(client, ledger, policy_no, loss_date=today - timedelta(days=20), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, first, admitted=today - timedelta(days=20), days=4)  # out on day -16
    assert settle(client, ledger, systems, first["claim_id"]).json()["status"] == "closed"
    assert "SPLIT-ADMISSION" not in [f["rule"] for f in seen(client, ledger, first["claim_id"])["flags"]]
    # back in hospital 6 days after that discharge, the same diagnosis: within the rule's 15 days
    second = report(client, ledger, policy_no, loss_date=today - timedelta(days=10), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, second, admitted=today - timedelta(days=10), days=4)
    flags = {f["rule"]: f for f in seen(client, ledger, second["claim_id"])["flags"]}
    assert "SPLIT-ADMISSION" in flags, flags
    assert flags["SPLIT-ADMISSION"]["observed"] == "re-admitted 6 day(s) after a discharge"
