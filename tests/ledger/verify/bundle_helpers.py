"""Shared by the bundle tests: a real claim worked through the claims API, the builder over a ledger's services,
the selection a test makes (the claim's stream whole and the entries its facts cite), and re-sealing a tampered
bundle's manifest the way a careful forger would."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.clock import FixedClock
from ledger.journal.opening import Opener
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.verify import offline
from ledger.verify.bundle import SECTIONS, BundleBuilder, Selected, Subject
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    Systems,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)


@dataclass
class Worked:
    """A claim worked to its end (reported with documents, invoiced by the hospital, paid, closed)."""

    systems: Systems
    policy_no: str
    claim_id: str


def builder(ledger: Ledger) -> BundleBuilder:
    return BundleBuilder(log=ledger.log, anchoring=ledger.anchoring, documents=ledger.documents,
                         opener=Opener(ledger.store, ledger.secrets.master_key), keys=ledger.keys,
                         clock=ledger.clock)


def work_claim(client: TestClient, ledger: Ledger, clock: FixedClock, *, systems: Systems | None = None,
               policy_no: str | None = None) -> Worked:
    """Report a medical claim with its documents; the hospital's signed invoice completes it (assessed, approved
    automatically: 900.00), the payments system settles it and it closes."""
    if systems is None:
        systems = register_systems(client, ledger)
        no_sample(ledger)
    policy_no = policy_no or medical_policy(client, ledger, clock)
    claim = report(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    assert post_invoice(client, ledger, systems, claim).status_code == 200
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"
    return Worked(systems=systems, policy_no=policy_no, claim_id=claim["claim_id"])


def claim_selection(ledger: Ledger, claim_id: str, *, personal: bool = True) -> tuple[Subject, list[Selected]]:
    """The claim's stream whole, each entry opened, plus every entry its facts cite as evidence."""
    stream = ev.stream_of(claim_id)
    history = ledger.workflow.history(stream)
    chosen = [Selected(index=e.index, reason="the claim's own stream", open_facts=True, open_personal=personal)
              for e in history]
    cited = sorted({cite for e in history for cite in _cited(e.facts)} - {e.index for e in history})
    chosen += [Selected(index=i, reason="evidence cited by the claim's entries", open_facts=True,
                        open_personal=personal) for i in cited]
    return Subject(kind="claim", id=claim_id, streams=(stream,)), chosen


def _cited(facts: Any) -> list[int]:
    """Every entry index a fact names as ``evidence`` (anywhere in the facts)."""
    found: list[int] = []
    if isinstance(facts, dict):
        for name, value in facts.items():
            if name == "evidence" and isinstance(value, int) and value >= 0:
                found.append(value)
            elif name == "evidence" and isinstance(value, list):
                found += [v for v in value if isinstance(v, int) and v >= 0]
            else:
                found += _cited(value)
    elif isinstance(facts, list):
        for value in facts:
            found += _cited(value)
    return found


def claim_bundle(ledger: Ledger, claim_id: str, *, personal: bool = True) -> dict[str, Any]:
    subject, chosen = claim_selection(ledger, claim_id, personal=personal)
    return builder(ledger).build(subject, chosen, grant={"purpose": "test", "facts": True, "personal": personal},
                                 generated_for="auditor-1")


def reseal(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with its manifest's section digests and counts made to fit what it now holds."""
    sealed = copy.deepcopy(bundle)
    manifest = sealed["manifest"]
    manifest["sections"] = {name: digest_str(sha256(canonical_json(sealed[name]))) for name in SECTIONS}
    manifest["counts"].update(entries=len(sealed["entries"]), key_events=len(sealed["keys"]["events"]),
                              documents=len(sealed["documents"]["items"]))
    return sealed


def failure(bundle: dict[str, Any], *, vkey: str | None = None) -> offline.Check:
    """The verifier's first failure on ``bundle``; fails the test if it passes."""
    result = offline.verify(copy.deepcopy(bundle), vkey=vkey)
    assert result.failure is not None, result.text()
    return result.failure
