"""``lifeledger verify-bundle``: a claim's bundle taken over HTTP and its receipt verify from the command line; a
tampered bundle exits 1 naming the check; an unreadable file, a bad --vkey or address, or a file not of the format
exit 2 with one line."""

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
from tests.ledger.verify.bundle_helpers import AUDITOR, grant, reseal, work_claim

runner = CliRunner()


def test_verify_bundle_from_the_command_line(hall: tuple[TestClient, Ledger], clock: FixedClock,
                                             tmp_path: Path) -> None:
    client, ledger = hall
    worked = work_claim(client, ledger, clock)
    grant(ledger, f"claim:{worked.claim_id}")
    answer = client.get(f"/v1/audit/claims/{worked.claim_id}/bundle", headers=headers(ledger, "auditor", AUDITOR))
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    vkey = ledger.log.vkey
    good = tmp_path / "claim.bundle.json"
    good.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")

    answer = runner.invoke(app, ["verify-bundle", str(good), "--vkey", vkey])
    assert answer.exit_code == 0, answer.output
    assert f"evidence bundle: claim {worked.claim_id}" in answer.output
    assert "verdict: everything checked holds" in answer.output
    assert f"generated: {bundle['entries'][-1]['recorded_at']} for {AUDITOR}" in answer.output

    answer = runner.invoke(app, ["verify-bundle", str(good)])  # no key given: the verdict says whose key held
    assert answer.exit_code == 0, answer.output
    verdict = answer.output.splitlines()[-1]
    assert verdict.startswith(f"verdict: everything checked holds against the key the file carries "
                              f"({ledger.log.origin}, fingerprint sha256:")
    assert "compare it with the key the ledger publishes (GET /v1/log/key) or pass --vkey" in verdict
    answer = runner.invoke(app, ["verify-bundle", str(good), "--json"])
    assert answer.exit_code == 0 and json.loads(answer.output)["key_trusted"] is False

    answer = runner.invoke(app, ["verify-bundle", str(good), "--vkey", vkey, "--json"])
    assert answer.exit_code == 0 and json.loads(answer.output)["ok"] is True
    assert json.loads(answer.output)["key_trusted"] is True

    # the addresses are passed through: anchoring is off here, so the anchor asked for is not there to check
    address = "0x" + "ab" * 20
    answer = runner.invoke(app, ["verify-bundle", str(good), "--vkey", vkey, "--anchor-contract", address])
    assert answer.exit_code == 1, answer.output
    assert f"FAILED anchor: you asked to check the anchor at {address}; the bundle carries none (its anchor is " \
           f"'off')" in answer.output
    for option in ("--anchor-contract", "--registry"):
        answer = runner.invoke(app, ["verify-bundle", str(good), option, "0xnot-an-address"])
        assert answer.exit_code == 2 and f"cannot verify: {option} '0xnot-an-address' is not a contract address" \
            in answer.output, answer.output
    answer = runner.invoke(app, ["verify-bundle", str(good), "--vkey", "not-a-vkey"])
    assert answer.exit_code == 2 and "cannot verify: --vkey: the verifier key is not a C2SP vkey" in answer.output

    tampered = copy.deepcopy(bundle)
    tampered["entries"] = [e for e in tampered["entries"] if e["seq"] != 3 or not e["stream"].startswith("claim:")]
    bad = tmp_path / "bad.bundle.json"
    bad.write_text(json.dumps(reseal(tampered)), encoding="utf-8")
    answer = runner.invoke(app, ["verify-bundle", str(bad), "--vkey", vkey])
    assert answer.exit_code == 1
    assert "FAILED whole streams:" in answer.output and "is not whole" in answer.output

    stripped = copy.deepcopy(bundle)  # the decision's facts taken out and marked as never opened
    decision = next(e for e in stripped["entries"] if e["type"] == "claim.decided")
    del decision["facts"]
    decision["opened"] = {"facts": False, "personal": False}
    bad.write_text(json.dumps(reseal(stripped)), encoding="utf-8")
    answer = runner.invoke(app, ["verify-bundle", str(bad), "--vkey", vkey])
    assert answer.exit_code == 1 and "FAILED selection:" in answer.output, answer.output

    extra = copy.deepcopy(bundle)
    extra["entries"][0]["checked_by"] = "the insurer"
    bad.write_text(json.dumps(extra), encoding="utf-8")
    answer = runner.invoke(app, ["verify-bundle", str(bad), "--vkey", vkey])
    assert answer.exit_code == 2
    assert answer.output.startswith("cannot verify: entries[0] holds the key 'checked_by'"), answer.output

    ledger.log.checkpoint_now()
    receipt = client.get(f"/v1/claims/{worked.claim_id}/receipt", headers=headers(ledger, "adjuster", "a-1")).json()
    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt), encoding="utf-8")
    answer = runner.invoke(app, ["verify-bundle", str(saved), "--vkey", vkey])
    assert answer.exit_code == 0, answer.output
    assert "claim receipt (lifeledger-claim-receipt/1), read as a bundle of its events" in answer.output

    answer = runner.invoke(app, ["verify-bundle", str(tmp_path / "missing.json")])
    assert answer.exit_code == 2 and "cannot verify" in answer.output
    answer = runner.invoke(app, ["verify-bundle", str(tmp_path)])  # a directory: one line, like any unreadable file
    assert (answer.exit_code, answer.output) == (2, f"cannot verify: {tmp_path} is a directory, not a file\n")
    answer = runner.invoke(app, ["verify-bundle", str(tmp_path), "--json"])
    assert answer.exit_code == 2
    assert answer.output.startswith('{\n  "ok": false,\n  "error": "') and "cannot verify: " in answer.output
