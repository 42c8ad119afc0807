"""The proof material for a document digest, checked here with RFC 8785, RFC 9162 and C2SP code that is not the
service's: genuine, superseded (a corrected e-policy) and revoked (free-look cancellation) e-policies with the
policy facts the public may see and the neutral words of a revocation, the lineage that proves a later version's
kind, unknown and malformed digests, a digest registered by no contract, a proof taken before a checkpoint covers
the entries, a registry that points at the wrong entry, and the on-chain anchor."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.errors import ValidationFailed, VerificationError
from ledger.log.checkpoint import open_checkpoint
from ledger.log.note import NoteVerifier
from ledger.log.proofs import verify_consistency, verify_inclusion
from ledger.services.document_proofs import DocumentProof, DocumentProofService, EntryEvidence
from ledger.services.documents import Registration
from ledger.settings import Settings
from tests.ledger.policies.test_lifecycle import CUSTOMER, ME, START, apply, pay_due


def open_ledger(tmp_path: Path, **changes: Any) -> Ledger:
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "checkpoint_interval": 0.1, "chain_url": "none",
                              "origin": "test.lifeledger/log", "render_workers": 0, **changes}
    ledger = Ledger.open(Settings(**values), clock=FixedClock(START))
    ledger.start(policy_clock=False, anchoring=False)
    return ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def proofs(ledger: Ledger, *, wait: float = 5.0) -> DocumentProofService:
    return DocumentProofService(log=ledger.log, anchoring=ledger.anchoring, documents=ledger.documents,
                                open_payload=ledger.subjects.open_payload, facts=ledger.policies,
                                checkpoint_wait=wait)


def issued(ledger: Ledger) -> tuple[str, str]:
    """A policy issued on its first premium: its application id and e-policy v1's digest."""
    app = apply(ledger)
    assert pay_due(ledger, app, "first") == "applied"
    return app, ledger.policies.get(app).documents[0]["digest"]


def digest_of(pdf: bytes) -> str:
    return "sha256:" + hashlib.sha256(pdf).hexdigest()


def checked_entry(entry: EntryEvidence, proof: DocumentProof, *, vkey_key: bytes) -> dict[str, Any]:
    """The entry's statement after checking its leaf's inclusion in the checkpoint, its payload opening against
    the statement's payload_hash and its signature; raises (the test fails) if any does not hold."""
    assert proof.checkpoint is not None and entry.inclusion is not None
    checkpoint = open_checkpoint(proof.checkpoint.note, NoteVerifier.from_vkey(proof.vkey))
    assert entry.inclusion.tree_size == checkpoint.size
    verify_inclusion(index=entry.index, size=checkpoint.size, leaf_hash=hashlib.sha256(b"\x00" + entry.leaf).digest(),
                     proof=entry.inclusion.hashes, root=checkpoint.root)
    record = json.loads(entry.leaf)
    assert rfc8785.dumps(record) == entry.leaf
    statement = record["statement"]
    committed = hashlib.sha256(entry.salt + rfc8785.dumps({"data_subject": entry.data_subject,
                                                           "payload": entry.payload})).hexdigest()
    assert statement["payload_hash"] == f"sha256:{committed}" and statement["v"] == 2
    assert record["key_id"] == "ledger"
    Ed25519PublicKey.from_public_bytes(vkey_key).verify(base64.b64decode(record["signature"]),
                                                        rfc8785.dumps(statement))
    assert record["recorded_at"] == entry.recorded_at
    return dict(statement)


def vkey_public_key(vkey: str) -> bytes:
    return base64.b64decode(vkey.split("+", 2)[2])[1:]


def test_a_genuine_e_policy_comes_with_its_registration_proven_and_the_policy_facts_masked(ledger: Ledger) -> None:
    app, digest = issued(ledger)
    state = ledger.policies.get(app)
    proof = proofs(ledger).proof(digest)
    assert proof.status["status"] == "genuine" and proof.status["version"] == 1
    assert proof.status["policy"] == {
        "policy_no": "*" * (len(state.policy_no) - 4) + state.policy_no[-4:], "version": 1,
        "issued_on": START.date().isoformat(),
        "product": {"id": "term-life", "version": 1, "name": {"zh": "定期寿险", "en": "Term Life"}}}
    assert proof.status["revocation"] is None and proof.status["superseded_by"] is None
    assert proof.registration is not None and proof.status_change is None and proof.anchor is None
    assert proof.lineage == ()  # a document.registered names its kind itself
    statement = checked_entry(proof.registration, proof, vkey_key=vkey_public_key(proof.vkey))
    assert statement["type"] == "document.registered"
    assert proof.registration.payload["digest"] == digest and proof.registration.payload["version"] == 1
    assert proof.registration.data_subject == "ledger"
    assert proof.vkey == ledger.log.vkey
    pdf = ledger.policies.document_pdf(app, 1)
    assert digest_of(pdf) == digest
    assert proofs(ledger).status(digest) == proof.status


def reissued(ledger: Ledger, app: str) -> str:
    """Have the customer's e-policy reissued as corrected (version 2); returns the new version's digest."""
    policy_no = ledger.policies.get(app).policy_no
    request = ledger.servicing.submit(policy_no, "epolicy_reissue", {"kind": "corrected", "reason": "姓名有误"},
                                      role="customer", party=CUSTOMER)
    assert ledger.servicing.approve(request.request_id, staff="clerk-1").status == "completed"
    return str(ledger.policies.get(app).documents[1]["digest"])


def test_a_corrected_version_supersedes_the_first_and_both_answers_prove_it(ledger: Ledger) -> None:
    app, v1 = issued(ledger)
    v2 = reissued(ledger, app)

    old = proofs(ledger).proof(v1)
    assert old.status["status"] == "superseded" and old.status["superseded_by"] == v2
    assert old.status["superseded_by_version"] == 2 and old.status["policy"]["version"] == 1
    assert old.registration is not None and old.status_change is not None
    key = vkey_public_key(old.vkey)
    first = checked_entry(old.registration, old, vkey_key=key)
    change = checked_entry(old.status_change, old, vkey_key=key)
    assert change["type"] == "document.superseded" and change["stream"] == first["stream"]
    assert old.status_change.payload == {"digest": v2, "old_digest": v1, "version": 2}

    new = proofs(ledger).proof(v2)
    assert new.status["status"] == "genuine" and new.status["policy"]["version"] == 2
    assert new.registration is not None and new.status_change is None
    # version 2 entered the register by the supersession: that entry is its registration, and its lineage is
    # version 1's registration, which names the kind
    assert new.registration.index == old.status_change.index
    assert checked_entry(new.registration, new, vkey_key=key)["type"] == "document.superseded"
    assert [entry.index for entry in new.lineage] == [old.registration.index]
    assert checked_entry(new.lineage[0], new, vkey_key=key)["type"] == "document.registered"
    assert new.lineage[0].payload["kind"] == 1 and new.lineage[0].payload["digest"] == v1


def test_a_third_version_carries_its_whole_lineage_oldest_first(ledger: Ledger) -> None:
    app, v1 = issued(ledger)
    policy_no = ledger.policies.get(app).policy_no
    for n in range(2):
        request = ledger.servicing.submit(policy_no, "epolicy_reissue", {"kind": "corrected", "reason": f"第{n}次"},
                                          role="customer", party=CUSTOMER)
        assert ledger.servicing.approve(request.request_id, staff="clerk-1").status == "completed"
    v2, v3 = (document["digest"] for document in ledger.policies.get(app).documents[1:])
    proof = proofs(ledger).proof(v3)
    assert proof.registration is not None and proof.status["version"] == 3
    key = vkey_public_key(proof.vkey)
    steps = [*(checked_entry(entry, proof, vkey_key=key) for entry in proof.lineage),
             checked_entry(proof.registration, proof, vkey_key=key)]
    assert [step["type"] for step in steps] == ["document.registered", "document.superseded", "document.superseded"]
    assert len({step["stream"] for step in steps}) == 1
    payloads = [entry.payload for entry in (*proof.lineage, proof.registration)]
    assert [payload["digest"] for payload in payloads] == [v1, v2, v3]
    assert [payload.get("old_digest") for payload in payloads] == [None, v1, v2]
    assert [entry.index for entry in proof.lineage] == sorted(entry.index for entry in proof.lineage)


def test_a_free_look_cancellation_revokes_the_e_policy_and_says_why_in_the_codes_words(ledger: Ledger) -> None:
    app, digest = issued(ledger)
    ledger.policies.cancel_in_free_look(app, actor=ME)
    proof = proofs(ledger).proof(digest)
    assert proof.status["status"] == "revoked"
    # the code's words only: the contract's own story (a free-look cancellation) is not the public's
    assert proof.status["revocation"] == {"reason_code": 1, "reason": {"zh": "保险合同已解除",
                                                                       "en": "The contract was cancelled"}}
    assert proof.status_change is not None and proof.registration is not None
    statement = checked_entry(proof.status_change, proof, vkey_key=vkey_public_key(proof.vkey))
    assert statement["type"] == "document.revoked"
    assert proof.status_change.payload == {"digest": digest, "reason_code": 1}
    assert proof.status_change.index > proof.registration.index


def test_an_unknown_digest_has_no_proof_and_a_malformed_one_is_refused(ledger: Ledger) -> None:
    issued(ledger)
    unknown = "sha256:" + "ab" * 32
    proof = proofs(ledger).proof(unknown)
    assert proof.status == {"digest": unknown, "status": "unknown", "chain": []}
    assert (proof.registration, proof.status_change, proof.checkpoint, proof.anchor) == (None, None, None, None)
    for bad in ("sha256:" + "AB" * 32, "ab" * 32, "sha256:" + "ab" * 31, "sha256:" + "ab" * 32 + "\n"):
        with pytest.raises(ValidationFailed) as refused:
            proofs(ledger).proof(bad)
        assert refused.value.field == "digest"


def test_a_digest_no_contract_issued_has_no_policy_facts(ledger: Ledger) -> None:
    issued(ledger)  # the registration below follows a contract's group: it must not borrow that policy
    digest = hashlib.sha256(b"a claim document").digest()
    ledger.documents.register([Registration(digest=digest, subject=hashlib.sha256(b"subject").digest(), kind=7)])
    proof = proofs(ledger).proof("sha256:" + digest.hex())
    assert proof.status["status"] == "genuine" and proof.status["kind"] == 7 and proof.status["policy"] is None
    assert proof.registration is not None and proof.registration.payload["kind"] == 7


def test_entries_not_yet_in_a_checkpoint_have_no_inclusion_until_one_is_cut(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path, checkpoint_interval=3600)
    try:
        _, digest = issued(ledger)
        early = proofs(ledger, wait=0).proof(digest)
        assert early.registration is not None and early.registration.inclusion is None
        assert early.checkpoint is None or early.checkpoint.tree_size <= early.registration.index
        ledger.log.checkpoint_now()
        late = proofs(ledger, wait=0).proof(digest)
        assert late.registration is not None and late.registration.inclusion is not None
        checked_entry(late.registration, late, vkey_key=vkey_public_key(late.vkey))
    finally:
        ledger.close()


class _Misfiled:
    """A document registry whose row for the digest points at another entry (a store out of step with its log)."""

    def __init__(self, documents: Any, index: int) -> None:
        self._documents, self._index = documents, index

    def get(self, digest: bytes) -> Any:
        return replace(self._documents.get(digest), registered_idx=self._index)


def test_an_entry_that_does_not_name_the_digest_is_never_handed_out(ledger: Ledger) -> None:
    _, digest = issued(ledger)
    service = DocumentProofService(log=ledger.log, anchoring=ledger.anchoring,
                                   documents=_Misfiled(ledger.documents, 0),  # type: ignore[arg-type]
                                   open_payload=ledger.subjects.open_payload, facts=ledger.policies)
    with pytest.raises(VerificationError) as refused:
        service.proof(digest)
    assert f"does not name document {digest}" in str(refused.value)


def test_once_anchored_the_proof_carries_the_anchored_checkpoint_and_its_consistency(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path, chain_url="embedded", anchor_interval=0.01)
    try:
        app, digest = issued(ledger)
        assert proofs(ledger).proof(digest).anchor is None  # nothing anchored yet
        ledger.log.checkpoint_now()
        for _ in range(4):
            ledger.anchoring.run_once()
        issued(ledger)  # more entries after the anchor: the latest checkpoint outgrows the anchored one
        ledger.log.checkpoint_now()
        proof = proofs(ledger).proof(digest)
        assert proof.anchor is not None and proof.checkpoint is not None and proof.registration is not None
        anchored = open_checkpoint(proof.anchor.checkpoint.note, NoteVerifier.from_vkey(proof.vkey))
        latest = open_checkpoint(proof.checkpoint.note, NoteVerifier.from_vkey(proof.vkey))
        assert anchored.size < latest.size and proof.registration.index < anchored.size
        assert proof.anchor.job.root == anchored.root and proof.anchor.job.tree_size == anchored.size
        assert proof.anchor.job.status == "confirmed" and proof.anchor.job.tx_hash is not None
        assert (proof.anchor.consistency.first, proof.anchor.consistency.second) == (anchored.size, latest.size)
        verify_consistency(first=anchored.size, second=latest.size, first_root=anchored.root,
                           second_root=latest.root, proof=proof.anchor.consistency.hashes)
        chain = proof.status["chain"]
        assert [op["op"] for op in chain] == ["register"] and chain[0]["tx_hash"].startswith("0x")
        assert chain[0]["chain_id"] == proof.anchor.job.chain_id
        assert ledger.policies.get(app).documents[0]["digest"] == digest
    finally:
        ledger.close()


class _Looping:
    """A registry whose row for ``digest`` names ``index`` as its registration (the lineage walk must not loop)."""

    def __init__(self, documents: Any, digest: str, index: int) -> None:
        self._documents, self._digest, self._index = documents, bytes.fromhex(digest.split(":")[1]), index

    def get(self, digest: bytes) -> Any:
        found = self._documents.get(digest)
        return replace(found, registered_idx=self._index) if digest == self._digest else found


def test_a_lineage_that_runs_forward_in_the_journal_is_refused(ledger: Ledger) -> None:
    app, v1 = issued(ledger)
    v2 = reissued(ledger, app)
    registered = proofs(ledger).proof(v2).registration
    assert registered is not None
    service = DocumentProofService(log=ledger.log, anchoring=ledger.anchoring,
                                   documents=_Looping(ledger.documents, v1, registered.index),  # type: ignore[arg-type]
                                   open_payload=ledger.subjects.open_payload, facts=ledger.policies)
    with pytest.raises(VerificationError) as refused:
        service.proof(v2)
    assert f"supersedes {v1}, registered by the later entry {registered.index}" in str(refused.value)
