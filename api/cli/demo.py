"""Demo load: a registered system posts realistic, signed policy lifecycle events through the HTTP API."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.auth import Role, issue_token
from ledger.app import token_key
from ledger.crypto.keys import SigningKey
from ledger.errors import LedgerError
from ledger.log import merkle, proofs
from ledger.log.checkpoint import open_checkpoint
from ledger.log.encoding import b64, unb64
from ledger.log.identifiers import utc_timestamp
from ledger.log.note import NoteVerifier
from ledger.log.statements import sign_event
from ledger.settings import Settings

SYSTEM = "policy-admin"
SCOPE = {"types": ["policy.*", "premium.*", "servicing.*", "claim.*"], "streams": ["policy"]}
PRODUCTS = [("TERM20", "Term life 20 years"), ("WL-PLUS", "Whole life with cash value"),
            ("CI-30", "Critical illness 30")]
CITIES = ["Shanghai", "Beijing", "Shenzhen", "Chengdu", "Hangzhou", "Wuhan", "Nanjing", "Xi'an"]


def lifecycle(rng: random.Random) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Yield (data subject, stream, type, payload) for one policy's plausible life, forever cycling new policies."""
    while True:
        policy = f"policy:{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
        customer = f"customer:c-{rng.randrange(10**6):06d}"
        product, label = rng.choice(PRODUCTS)
        premium = Decimal(rng.randrange(2000, 30000)) / 100
        sum_assured = Decimal(rng.randrange(50, 1000) * 1000)
        yield customer, policy, "policy.applied", {
            "product": product, "product_name": label, "sum_assured": {"amount": str(sum_assured), "currency": "CNY"},
            "health_declaration": {"smoker": rng.random() < 0.2, "height_cm": rng.randrange(150, 200)}}
        yield customer, policy, "policy.underwritten", {"decision": "standard", "rule_version": "uw-2026.3"}
        yield customer, policy, "policy.issued", {"document_version": 1, "premium": {"amount": str(premium),
                                                                                      "currency": "CNY"}}
        for month in range(rng.randrange(1, 5)):
            yield customer, policy, "premium.collected", {"period": f"2026-{month + 1:02d}",
                                                          "amount": {"amount": str(premium), "currency": "CNY"}}
        if rng.random() < 0.3:
            yield customer, policy, "servicing.address_changed", {"city": rng.choice(CITIES),
                                                                   "request": f"srv-{rng.randrange(10**6)}"}
        if rng.random() < 0.1:
            yield customer, policy, "claim.notified", {"claim": f"clm-{rng.randrange(10**6)}",
                                                        "kind": "hospital_cash", "days": rng.randrange(1, 10)}


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise LedgerError(f"{what} failed with HTTP {response.status_code}: {detail}")
    return response.json()  # type: ignore[no-any-return]


def run_demo(settings: Settings, *, url: str, events: int, batch: int, console: Console) -> None:
    """Register a fresh demo key, post ``events`` events in batches, then verify the last one's receipt."""
    signer = token_key(settings)
    admin = issue_token(signer, subject="demo-admin", role=Role.ADMIN, issuer=settings.jwt_issuer, ttl=3600)
    system = issue_token(signer, subject=SYSTEM, role=Role.SYSTEM, issuer=settings.jwt_issuer, ttl=3600)
    key = SigningKey.generate(f"demo-{uuid.uuid4().hex[:8]}")
    rng = random.Random()
    start = datetime.now(UTC) - timedelta(days=30)
    with httpx.Client(base_url=url, timeout=60) as client:
        try:
            client.get("/healthz").raise_for_status()
        except httpx.HTTPError as exc:
            raise LedgerError(f"no lifeledger answering at {url}: {exc}") from exc
        _check(client.post("/v1/admin/keys", headers={"Authorization": f"Bearer {admin}"},
                           json={"key_id": key.key_id, "owner": SYSTEM, "public_key": b64(key.public_key),
                                 "scope": SCOPE}),
               "registering the demo key")
        console.print(f"registered system key {key.key_id} for {SYSTEM}")
        source = lifecycle(rng)
        recorded = rejected = 0
        last_event = ""
        with Progress(TextColumn("posting events"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task("post", total=events)
            while recorded + rejected < events:
                chunk = []
                for n in range(min(batch, events - recorded - rejected)):
                    subject, stream, kind, payload = next(source)
                    last_event = f"demo-{uuid.uuid4()}"
                    occurred = start + timedelta(seconds=recorded + rejected + n)
                    chunk.append(sign_event(key=key, event_id=last_event, type=kind, stream=stream, payload=payload,
                                            data_subject=subject, occurred_at=utc_timestamp(occurred)).to_json())
                body = _check(client.post("/v1/events:batch", headers={"Authorization": f"Bearer {system}"},
                                          json={"events": chunk}), "posting a batch")
                recorded += body["recorded"] + body["duplicates"]
                rejected += body["rejected"]
                bar.update(task, completed=recorded + rejected)
        receipt = _check(client.get(f"/v1/events/{last_event}/receipt", params={"wait": 5},
                                    headers={"Authorization": f"Bearer {system}"}), "fetching a receipt")
        vkey = _check(client.get("/v1/log/key"), "fetching the log key")["vkey"]
    console.print(f"recorded {recorded} events, {rejected} rejected")
    if receipt["status"] != "checkpointed":
        console.print("last receipt is still pending a checkpoint; fetch it again shortly")
        return
    checkpoint = open_checkpoint(receipt["checkpoint"], NoteVerifier.from_vkey(vkey), origin=settings.origin)
    proof = receipt["inclusion"]
    proofs.verify_inclusion(index=proof["index"], size=proof["tree_size"],
                            leaf_hash=merkle.leaf_hash(unb64(receipt["leaf"], field="leaf")),
                            proof=[unb64(h, field="hash", length=32) for h in proof["hashes"]], root=checkpoint.root)
    console.print(f"last event {last_event}: entry {proof['index']} verified in signed checkpoint "
                  f"of {checkpoint.size} entries (root {b64(checkpoint.root)})")
