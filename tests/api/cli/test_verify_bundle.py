"""``lifeledger verify-bundle``: a claim's bundle and receipt verify from the command line; a tampered bundle
exits 1 naming the check, an unreadable file 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.main import app
from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.servicing_helpers import headers
from tests.ledger.verify.bundle_helpers import claim_bundle, reseal, work_claim

runner = CliRunner()


def test_verify_bundle_from_the_command_line(hall: tuple[TestClient, Ledger], clock: FixedClock,
                                             tmp_path: Path) -> None:
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    bundle = claim_bundle(ledger, worked.claim_id)
    vkey = ledger.log.vkey
    good = tmp_path / "claim.bundle.json"
    good.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")

    answer = runner.invoke(app, ["verify-bundle", str(good), "--vkey", vkey])
    assert answer.exit_code == 0, answer.output
    assert f"evidence bundle: claim {worked.claim_id}" in answer.output
    assert "verdict: everything checked holds" in answer.output

    answer = runner.invoke(app, ["verify-bundle", str(good)])  # no key given: it says whose key it trusted
    assert answer.exit_code == 0 and "the bundle's own verifier key was trusted" in answer.output

    answer = runner.invoke(app, ["verify-bundle", str(good), "--vkey", vkey, "--json"])
    assert answer.exit_code == 0 and json.loads(answer.output)["ok"] is True

    tampered = copy.deepcopy(bundle)
    tampered["entries"] = [e for e in tampered["entries"] if e["seq"] != 3 or not e["stream"].startswith("claim:")]
    bad = tmp_path / "bad.bundle.json"
    bad.write_text(json.dumps(reseal(tampered)), encoding="utf-8")
    answer = runner.invoke(app, ["verify-bundle", str(bad), "--vkey", vkey])
    assert answer.exit_code == 1
    assert "FAILED whole streams:" in answer.output and "is not whole" in answer.output

    ledger.log.checkpoint_now()
    receipt = client.get(f"/v1/claims/{worked.claim_id}/receipt", headers=headers(ledger, "adjuster", "a-1")).json()
    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt), encoding="utf-8")
    answer = runner.invoke(app, ["verify-bundle", str(saved), "--vkey", vkey])
    assert answer.exit_code == 0, answer.output
    assert "claim receipt (lifeledger-claim-receipt/1), read as a bundle of its events" in answer.output

    answer = runner.invoke(app, ["verify-bundle", str(tmp_path / "missing.json")])
    assert answer.exit_code == 2 and "cannot verify" in answer.output
