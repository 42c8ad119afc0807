"""Logs written under looser rules than today's: the audit names what a stricter intake now refuses.

Each test writes the offending entries the way earlier code did (its permissive check patched in for the
set-up only), then audits with today's code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.app import Ledger
from ledger.crypto.ed25519 import L
from ledger.crypto.keys import SigningKey
from ledger.errors import Forbidden, SignatureError, ValidationFailed
from ledger.journal.audit import AuditReport, audit
from ledger.log.note import NoteVerifier
from ledger.log.statements import SignedEvent, sign_event
from ledger.projections.scopes import KeyScope
from tests.factories import POLICY_ADMIN_SCOPE

IDENTITY = (1).to_bytes(32, "little")  # the identity point: a "key" with no private key behind it


def run_audit(ledger: Ledger) -> AuditReport:
    ledger.log.checkpoint_now()
    return audit(ledger.store, verifier=NoteVerifier.from_vkey(ledger.log.vkey),
                 ledger_public_key=ledger.secrets.ledger.public_key, origin=ledger.settings.origin,
                 master_key=ledger.secrets.master_key)


def openssl_only(*, public_key: bytes, signature: bytes, data: bytes) -> None:
    """Verification as it was: OpenSSL's, which takes small-order keys and checks nothing else."""
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)


def forged(event: SignedEvent, signature: bytes) -> SignedEvent:
    return SignedEvent(statement=event.statement, key_id=event.key_id, signature=signature, payload=event.payload,
                       salt=event.salt, data_subject=event.data_subject)


def test_a_small_order_key_is_refused_now_and_named_in_an_old_log(ledger: Ledger,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationFailed, match=r"small-order point \(order 1\)"):
        ledger.keys.register(key_id="weak-1", owner="policy-admin", public_key=IDENTITY, scope=POLICY_ADMIN_SCOPE)
    with pytest.raises(ValidationFailed, match=r"small-order point \(order 4\)"):
        ledger.keys.register(key_id="weak-0", owner="policy-admin", public_key=bytes(32), scope=POLICY_ADMIN_SCOPE)
    with monkeypatch.context() as old:
        old.setattr("ledger.services.keys.load_public_key", lambda raw, field="public_key": None)
        old.setattr("ledger.projections.system_keys.load_public_key", lambda raw, field="public_key": None)
        old.setattr("ledger.log.statements.verify_signature", openssl_only)
        ledger.keys.register(key_id="weak-1", owner="policy-admin", public_key=IDENTITY, scope=POLICY_ADMIN_SCOPE)
        template = sign_event(key=SigningKey.generate("weak-1"), event_id="forged-1", type="policy.issued",
                              stream="policy:p1", payload={"sum_assured": "9000000"}, data_subject="customer:c1")
        receipt = ledger.intake.append(forged(template, IDENTITY + bytes(32)), owner="policy-admin")  # R = O, S = 0
    report = run_audit(ledger)
    problems = [str(p) for p in report.problems]
    assert "system_keys[weak-1]: registered public key is weak: small-order point (order 1); no signature by it " \
           "proves anything" in problems
    assert any(p.startswith(f"entries[{receipt.index}]: signature: made with key 'weak-1', whose public key is weak")
               for p in problems), problems


def test_a_malleable_signature_is_refused_now_and_named_in_an_old_log(ledger: Ledger, system_key: SigningKey,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    event = sign_event(key=system_key, event_id="e1", type="policy.issued", stream="policy:p1", payload={"a": 1},
                       data_subject="customer:c1")
    s = int.from_bytes(event.signature[32:], "little")
    stretched = forged(event, event.signature[:32] + (s + L).to_bytes(32, "little"))  # verifies like S
    with pytest.raises(SignatureError, match=r"S >= L"):
        ledger.intake.append(stretched, owner="policy-admin")
    with monkeypatch.context() as old:
        old.setattr("ledger.log.statements.verify_signature", lambda **_: None)
        receipt = ledger.intake.append(stretched, owner="policy-admin")
    report = run_audit(ledger)
    assert [str(p) for p in report.problems] == [
        f"entries[{receipt.index}]: signature: S is not reduced modulo L (S >= L)"]


def test_writes_outside_a_key_scope_are_refused_now_and_named_in_an_old_log(ledger: Ledger,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    crm = SigningKey.generate("crm-1")
    ledger.keys.register(key_id=crm.key_id, owner="crm", public_key=crm.public_key,
                         scope=KeyScope.from_json({"types": ["contact.*"], "streams": ["customer"]}))
    ledger.intake.append(sign_event(key=crm, event_id="c1", type="contact.updated", stream="customer:p1", payload={},
                                    data_subject="party:p1"), owner="crm")
    approval = sign_event(key=crm, event_id="c2", type="claim.approved", stream="case:k1", payload={},
                          data_subject="case:k1")
    with pytest.raises(Forbidden,
                       match=r"may write types contact\.\* on streams of kind customer; not 'claim\.approved'"):
        ledger.intake.append(approval, owner="crm")
    with monkeypatch.context() as old:
        old.setattr("ledger.projections.system_keys.check_scope", lambda rows, **_: None)
        receipt = ledger.intake.append(approval, owner="crm")
    report = run_audit(ledger)
    assert [p.where for p in report.problems] == [f"entries[{receipt.index}]"]
    assert "outside its key's scope" in report.problems[0].what


def test_verify_reports_a_payload_nested_too_deep_instead_of_dying(ledger: Ledger, system_key: SigningKey,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    value: object = "deep"
    for _ in range(5000):
        value = [value]
    limit = sys.getrecursionlimit()
    with monkeypatch.context() as old:
        old.setattr("ledger.log.statements.MAX_PAYLOAD_DEPTH", 10**6)
        sys.setrecursionlimit(max(limit, 30_000))  # the old encoder recursed once per level
        try:
            event = sign_event(key=system_key, event_id="deep-1", type="policy.issued", stream="policy:p1",
                               payload={"x": value}, data_subject="customer:c1")
            deep = ledger.intake.append(event, owner="policy-admin")
        finally:
            sys.setrecursionlimit(limit)
    ledger.intake.append(sign_event(key=system_key, event_id="after", type="policy.issued", stream="policy:p2",
                                    payload={"n": 1}, data_subject="customer:c2"), owner="policy-admin")
    ledger.log.checkpoint_now()
    ledger.close()
    env = {**os.environ, "LIFELEDGER_CHAIN_URL": "none", "LIFELEDGER_ORIGIN": ledger.settings.origin}
    result = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--data-dir", str(ledger.settings.data_dir)],
                            capture_output=True, text=True, timeout=120, env=env,
                            cwd=Path(__file__).resolve().parents[3])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"FAIL payloads[{deep.index}]: payload nests objects and arrays more than 64 levels deep" in result.stderr
    assert "verify failed: 1 problem(s); 3 entries" in result.stderr
