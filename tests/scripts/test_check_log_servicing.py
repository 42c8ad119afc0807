"""``scripts/check_log.py --receipt`` on servicing receipts, run against a live ``lifeledger serve``: every event
of a real request is checked, and a tampered leaf, another request's or the contract's event, receipts out of
order, a pending receipt and an untrusted key in the document are all caught."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.auth import Role, issue_token
from api.cli.common import settings_for
from ledger.app import token_key
from ledger.policies.rules.samples import CLEAN
from tests.conftest import load_script
from tests.factories import resident_id
from tests.servers import serving

check_log = load_script("check_log")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_log.py"
OWNER = "P00000000000000000S01"


@dataclass(frozen=True)
class Hall:
    """A live log holding one policy and two completed address changes on it, with their servicing receipts."""

    url: str
    vkey: str
    first: dict[str, Any]  # the servicing receipt of the first request
    second: dict[str, Any]  # ... of the second one, made after the first completed
    timeline: list[str]  # the event types of the first request, as its view lists them
    contract_receipt: dict[str, Any]  # the receipt of an event on the policy's contract stream


def _headers(data: Path, role: str, subject: str) -> dict[str, str]:
    settings = settings_for(data)
    token = issue_token(token_key(settings), subject=subject, role=Role(role), issuer=settings.jwt_issuer, ttl=600)
    return {"Authorization": f"Bearer {token}"}


def _issue_policy(client: httpx.Client, data: Path, me: dict[str, str]) -> str:
    body = {"product_id": "whole-life",
            "plan": {"sum_insured": "200000", "term_years": None, "payment_years": 10, "frequency": "annual"},
            "policyholder": {"name": "王五", "id_number": resident_id("1986-04-02"), "phone": "13900001111"},
            "beneficiaries": [{"person": {"name": "赵六", "id_number": resident_id("1988-09-09", sex="F")},
                               "share": "100"}],
            "occupation_class": 1, "payment_account": "6222020200112233445",
            "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(CLEAN)}
    submitted = client.post("/v1/applications", headers=me, json=body)
    assert submitted.status_code == 201, submitted.text
    application = submitted.json()
    paid = client.post("/v1/payments", headers=_headers(data, "system", "payments"), json={
        "application_id": application["application_id"],
        "amount": application["premium"]["modal_premium"]["amount"],
        "payment_ref": f"PAY-{application['application_id']}",
        "paid_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert paid.status_code == 201, paid.text
    return str(paid.json()["policy"]["policy_no"])


def _address_change(client: httpx.Client, me: dict[str, str], policy_no: str, address: str) -> str:
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me,
                       json={"operation": "address_change", "input": {"address": address}})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "completed", made.json()
    return str(made.json()["request_id"])


def _checkpointed_receipt(client: httpx.Client, me: dict[str, str], request_id: str) -> dict[str, Any]:
    """The servicing receipt once a checkpoint covers all its events (the server cuts one every 0.3 s)."""
    deadline = time.monotonic() + 30
    while True:
        answer = client.get(f"/v1/servicing/{request_id}/receipt", headers=me)
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        if all(r["status"] == "checkpointed" for r in document["receipts"]):
            return document
        assert time.monotonic() < deadline, document
        time.sleep(0.2)


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hall]:
    with serving(tmp_path_factory.mktemp("servicing-receipts") / "data") as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        me = _headers(server.data, "customer", OWNER)
        policy_no = _issue_policy(client, server.data, me)
        first = _address_change(client, me, policy_no, "上海市浦东新区世纪大道 100 号")
        second = _address_change(client, me, policy_no, "北京市海淀区中关村大街 8 号")
        auditor = _headers(server.data, "auditor", "acme-audit")
        timeline = [step["type"] for step in client.get(f"/v1/servicing/{first}", headers=me).json()["timeline"]]
        first_doc = _checkpointed_receipt(client, me, first)
        size = client.get("/healthz").json()["tree_size"]
        entries = [client.get(f"/v1/log/entries/{i}", headers=auditor).json() for i in range(size)]
        contract_event = next(e["event_id"] for e in entries if e.get("stream", "").startswith("contract:"))
        contract_receipt = client.get(f"/v1/events/{contract_event}/receipt", headers=auditor).json()
        assert contract_receipt["status"] == "checkpointed", contract_receipt
        yield Hall(url=server.url, vkey=client.get("/v1/log/key").json()["vkey"], first=first_doc,
                   second=_checkpointed_receipt(client, me, second), timeline=timeline,
                   contract_receipt=contract_receipt)


def _run(hall: Hall, document: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], *,
         vkey: str | None = None) -> tuple[int, str, str]:
    """Run the checker in this process on ``document`` written to a file: (exit status, stdout, stderr)."""
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    status = check_log.main(["--url", hall.url, "--vkey", vkey or hall.vkey, "--receipt", str(path)])
    out, err = capsys.readouterr()
    return status, out, err


def _other_vkey(name: str) -> str:
    """A well-formed C2SP Ed25519 vkey under ``name`` for a key the log never signed with."""
    raw = b"\x01" + Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_hash = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
    return f"{name}+{key_hash}+{base64.b64encode(raw).decode()}"


# -- the tests ------------------------------------------------------------------------------------------------

def test_every_event_of_a_servicing_request_checks_out_from_a_separate_process(hall: Hall, tmp_path: Path) -> None:
    path = tmp_path / "servicing-receipt.json"
    path.write_text(json.dumps(hall.first, ensure_ascii=False), encoding="utf-8")
    run = subprocess.run([sys.executable, str(SCRIPT), "--url", hall.url, "--vkey", hall.vkey, "--receipt",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    receipts = hall.first["receipts"]
    assert len(receipts) == len(hall.timeline) >= 3
    lines = [line.split() for line in run.stdout.splitlines() if line.startswith("  entry ")]
    # one line per event: its index, the type its leaf states, its event id, ok
    expected = [(r["entry"]["index"], kind, r["entry"]["event_id"], "ok")
                for r, kind in zip(receipts, hall.timeline, strict=True)]
    assert [(int(w[1]), w[2], w[3], w[4]) for w in lines] == expected
    request_id = hall.first["request_id"]
    assert f"request {request_id} (address_change, completed)" in run.stdout
    assert f"ok: {len(receipts)} events of request {request_id} are in their signed checkpoints" in run.stdout


def test_the_functions_return_what_each_leaf_states(hall: Hall) -> None:
    with httpx.Client(base_url=hall.url, timeout=30) as client:
        _, size, root = check_log.open_checkpoint(client.get("/v1/log/checkpoint").text, hall.vkey)
        seen: list[int] = []
        events = check_log.check_servicing_receipt(client, hall.first, hall.vkey, (size, root),
                                                   report=lambda event: seen.append(event.index))
        stream = f"servicing:{hall.first['request_id']}"
        assert {event.stream for event in events} == {stream}
        assert [event.type for event in events] == hall.timeline
        assert seen == [r["entry"]["index"] for r in hall.first["receipts"]]
        # the loop takes any one stream: the contract's own event passes when that is the stream expected
        contract_stream = hall.contract_receipt["entry"]["stream"]
        [contract_event] = check_log.check_receipts(client, [hall.contract_receipt], hall.vkey, (size, root),
                                                    stream=contract_stream)
        assert contract_event.index == hall.contract_receipt["entry"]["index"]
        assert contract_event.stream == contract_stream


def test_a_single_event_receipt_is_still_checked(hall: Hall, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(hall, hall.contract_receipt, tmp_path, capsys)
    assert status == 0, err
    assert f"ok: entry {hall.contract_receipt['entry']['index']} is in its signed checkpoint" in out


def test_one_tampered_byte_of_a_leaf_fails(hall: Hall, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = copy.deepcopy(hall.first)
    leaf = bytearray(base64.b64decode(forged["receipts"][1]["leaf"]))
    leaf[len(leaf) // 2] ^= 0x01
    forged["receipts"][1]["leaf"] = base64.b64encode(bytes(leaf)).decode()
    status, out, err = _run(hall, forged, tmp_path, capsys)
    index = forged["receipts"][1]["entry"]["index"]
    assert status == 1 and f"does not hash to its leaf_hash (entry {index})" in err, err
    assert out.count("  entry ") == 1  # the first event was checked and shown before the forged one


def test_another_requests_event_cannot_be_passed_off(hall: Hall, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    mixed = copy.deepcopy(hall.first)
    mixed["receipts"][-1] = hall.second["receipts"][0]  # genuine, checkpointed, later in the log: order holds
    status, _, err = _run(hall, mixed, tmp_path, capsys)
    assert status == 1, err
    assert f"is on stream 'servicing:{hall.second['request_id']}', not 'servicing:{hall.first['request_id']}'" in err
    renamed = copy.deepcopy(hall.first)
    renamed["request_id"] = hall.second["request_id"]  # the same receipts under another request's name
    status, _, err = _run(hall, renamed, tmp_path, capsys)
    assert status == 1 and f"not 'servicing:{hall.second['request_id']}'" in err, err


def test_a_contract_event_is_not_a_servicing_event(hall: Hall, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    document = {**hall.first, "receipts": [hall.contract_receipt]}
    status, _, err = _run(hall, document, tmp_path, capsys)
    assert status == 1 and f"is on stream {hall.contract_receipt['entry']['stream']!r}" in err, err


def test_receipts_out_of_order_fail(hall: Hall, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shuffled = copy.deepcopy(hall.first)
    shuffled["receipts"] = shuffled["receipts"][::-1]
    status, _, err = _run(hall, shuffled, tmp_path, capsys)
    assert status == 1 and "receipts are out of order: receipts[1]" in err, err
    repeated = copy.deepcopy(hall.first)
    repeated["receipts"] = [repeated["receipts"][0], repeated["receipts"][0]]
    status, _, err = _run(hall, repeated, tmp_path, capsys)
    assert status == 1 and "out of order" in err, err


def test_a_pending_receipt_says_which_event_and_to_fetch_again(hall: Hall, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    pending = copy.deepcopy(hall.first)
    receipt = pending["receipts"][-1]
    receipt.update(status="pending", checkpoint=None, inclusion=None)
    status, _, err = _run(hall, pending, tmp_path, capsys)
    event, index = receipt["entry"]["event_id"], receipt["entry"]["index"]
    assert status == 1
    assert err.strip().splitlines() == [
        f"FAILED: event {event} (entry {index}) is still pending: no checkpoint covers it yet; "
        "fetch the receipt again in a second"]


def test_the_documents_own_vkey_is_not_trusted(hall: Hall, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    name = hall.vkey.split("+", 1)[0]
    impostor = _other_vkey(name)
    claimed = {**hall.first, "vkey": impostor}
    status, _, err = _run(hall, claimed, tmp_path, capsys)  # checked with the trusted key, whatever it claims
    assert status == 0, err
    status, _, err = _run(hall, claimed, tmp_path, capsys, vkey=impostor)
    assert status == 1 and f"carries no signature by {name}" in err, err


def test_a_document_of_another_format_is_bad_input(hall: Hall, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(hall, {**hall.first, "format": "lifeledger-servicing-receipt/9"}, tmp_path, capsys)
    assert status == 2 and "lifeledger-servicing-receipt/9" in err, err
    status, _, err = _run(hall, {**hall.first, "receipts": []}, tmp_path, capsys)
    assert status == 1 and "holds no receipts" in err, err


def test_an_entry_that_misstates_its_leaf_fails(hall: Hall, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    relabelled = copy.deepcopy(hall.contract_receipt)
    stream = f"servicing:{hall.first['request_id']}"
    relabelled["entry"]["stream"] = stream  # the unsigned label says servicing; the signed leaf does not
    status, _, err = _run(hall, {**hall.first, "receipts": [relabelled]}, tmp_path, capsys)
    assert status == 1 and f"says stream {stream!r} but its leaf says" in err, err
