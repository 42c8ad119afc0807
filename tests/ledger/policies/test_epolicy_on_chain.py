"""The e-policy on the embedded chain: the PDF a customer downloads hashes to a digest the DocumentRegistry
contract reports as valid; after reinstatement the old version reports superseded by the new one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.anchoring.contracts import DocumentRegistryContract, DocumentStatus
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.money import Money
from ledger.policies.rules.samples import CLEAN
from ledger.policies.service import Actor
from tests.ledger.anchoring.test_worker_embedded import make_settings
from tests.ledger.policies.test_lifecycle import ME, apply, pay_due


@pytest.fixture
def chained(tmp_path: Path) -> Iterator[tuple[Ledger, FixedClock]]:
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    ledger = Ledger.open(make_settings(tmp_path), clock=clock)
    ledger.start(anchoring=False, policy_clock=False)
    try:
        yield ledger, clock
    finally:
        ledger.close()


def settle(ledger: Ledger) -> None:
    assert ledger.anchoring.anchorer is not None
    for _ in range(6):
        ledger.anchoring.anchorer.run_once()


def test_downloaded_e_policy_is_valid_on_chain_and_superseded_after_a_new_version(
        chained: tuple[Ledger, FixedClock]) -> None:
    ledger, clock = chained
    app = apply(ledger, frequency="monthly")
    pay_due(ledger, app, "first")
    pdf = ledger.policies.document_pdf(app, 1)
    v1 = hashlib.sha256(pdf).digest()
    settle(ledger)
    anchorer = ledger.anchoring.anchorer
    assert anchorer is not None and anchorer._chain is not None
    registry = DocumentRegistryContract(anchorer._chain, anchorer.addresses()["DocumentRegistry"])
    assert registry.document_status(v1).status == DocumentStatus.VALID
    assert registry.document_status(v1).version == 1
    status = ledger.policies.document_status("sha256:" + v1.hex())
    assert status["status"] == "genuine"
    assert status["chain"][0]["status"] == "confirmed" and status["chain"][0]["tx_hash"].startswith("0x")

    ledger.policies.run_clock(until=datetime(2026, 6, 5).date())
    clock.set(datetime(2026, 6, 10, 2, 0, tzinfo=UTC))
    due = ledger.policies.request_reinstatement(app, dict(CLEAN), actor=ME).reinstatement
    ledger.policies.pay(app, amount=Money.from_json(due["total"]), payment_ref="r", paid_at="2026-06-10T02:00:00Z",
                        actor=Actor("system", "payments"))
    v2 = hashlib.sha256(ledger.policies.document_pdf(app, 2)).digest()
    settle(ledger)
    assert registry.document_status(v1).status == DocumentStatus.SUPERSEDED
    assert registry.document_status(v1).superseded_by == v2
    assert registry.document_status(v2).status == DocumentStatus.VALID
    assert registry.document_status(v2).version == 2
