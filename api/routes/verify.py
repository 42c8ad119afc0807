"""The public e-policy verification page (``GET /verify``) and the proof answer it checks in the browser.

The page is static (``api/web``): it fingerprints the file the person holds with SHA-256 on their own device, asks
``GET /v1/documents/{digest}/proof`` by that digest alone, and checks the answer itself (signed checkpoint,
RFC 9162 inclusion and consistency proofs, payload openings). Nothing is answered by policy number.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.problems import responses
from api.routing import Router
from api.schemas import ConsistencyPublic, InclusionPublic
from ledger.errors import ConfigurationError
from ledger.log.encoding import b64
from ledger.services.document_proofs import DocumentProof, DocumentProofService, EntryEvidence

__all__ = ["ASSETS_PATH", "VENDOR_DIR", "VENDOR_PATH", "WEB_DIR", "DocumentProofsDep", "router"]

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
VENDOR_DIR = Path(__file__).resolve().parents[1] / "static" / "vendor" / "@noble"
ASSETS_PATH = "/verify/assets"  # api/web, mounted by api/app.py
VENDOR_PATH = "/verify/vendor/noble"  # @noble/hashes and @noble/curves as scripts/build_assets.py copies them
NEEDED_VENDOR = ("hashes/sha2.js", "curves/ed25519.js")

router = Router(tags=["public verification"], responses=responses(404, 422))


async def get_document_proofs(request: Request) -> DocumentProofService:
    """The proof reader over the ledger's log, anchors, document registry, payload openings and policies."""
    ledger = request.app.state.ledger
    return DocumentProofService(log=ledger.log, anchoring=ledger.anchoring, documents=ledger.documents,
                                open_payload=ledger.subjects.open_payload, facts=ledger.policies)


DocumentProofsDep = Annotated[DocumentProofService, Depends(get_document_proofs)]


class OpeningPublic(BaseModel):
    """What the entry's ``payload_hash`` commits to: ``SHA-256(salt || JCS({"data_subject", "payload"}))``."""

    salt: str = Field(description="base64 of the salt")
    payload: dict[str, Any]
    data_subject: str


class EntryProofPublic(BaseModel):
    """One document event: its leaf, its payload opening and its inclusion in ``proof.checkpoint``."""

    index: int
    leaf: str = Field(description="base64 of the leaf bytes (RFC 8785 JSON of the entry record)")
    recorded_at: str
    opening: OpeningPublic
    inclusion: InclusionPublic | None = Field(description="null while no signed checkpoint covers the entry")

    @classmethod
    def of(cls, entry: EntryEvidence) -> EntryProofPublic:
        return cls(index=entry.index, leaf=b64(entry.leaf), recorded_at=entry.recorded_at,
                   opening=OpeningPublic(salt=b64(entry.salt), payload=entry.payload, data_subject=entry.data_subject),
                   inclusion=InclusionPublic.of(entry.inclusion) if entry.inclusion is not None else None)


class AnchorEvidencePublic(BaseModel):
    """The anchored checkpoint covering the entries, its consistency with ``proof.checkpoint``, and the chain."""

    status: Literal["anchored"] = "anchored"
    checkpoint: str = Field(description="C2SP signed note of the anchored checkpoint")
    consistency: ConsistencyPublic = Field(description="from the anchored tree to the latest checkpoint's tree")
    tree_size: int
    root: str = Field(description="base64 of the root the transaction put on chain")
    chain_id: int
    contract: str
    tx_hash: str | None
    block: int | None
    confirmations: int
    confirmed_at: str | None


class AnchorPendingPublic(BaseModel):
    status: Literal["pending"] = "pending"


class ProofPublic(BaseModel):
    """The material the page checks: every hash and signature, nothing to take on trust but the verifier key."""

    vkey: str = Field(description="the checkpoint verifier key (C2SP vkey), as GET /v1/log/key publishes it")
    checkpoint: str | None = Field(description="the latest signed checkpoint (C2SP signed note)")
    registration: EntryProofPublic = Field(description="the entry that registered the digest")
    status_change: EntryProofPublic | None = Field(description="the entry that superseded or revoked it")
    lineage: list[EntryProofPublic] = Field(
        description="the entries that brought in the versions before this one, oldest first: from the "
                    "document.registered that names the lineage's kind to the supersession before `registration` "
                    "(empty when `registration` is itself a document.registered)")
    anchor: AnchorEvidencePublic | AnchorPendingPublic

    @classmethod
    def of(cls, proof: DocumentProof) -> ProofPublic | None:
        if proof.registration is None:
            return None
        anchor: AnchorEvidencePublic | AnchorPendingPublic = AnchorPendingPublic()
        if proof.anchor is not None:
            job = proof.anchor.job
            anchor = AnchorEvidencePublic(
                checkpoint=proof.anchor.checkpoint.note, consistency=ConsistencyPublic.of(proof.anchor.consistency),
                tree_size=job.tree_size or 0, root=b64(job.root or bytes(32)), chain_id=job.chain_id,
                contract=job.contract, tx_hash="0x" + job.tx_hash.hex() if job.tx_hash else None,
                block=job.block_number, confirmations=job.confirmations, confirmed_at=job.confirmed_at)
        return cls(vkey=proof.vkey, checkpoint=proof.checkpoint.note if proof.checkpoint is not None else None,
                   registration=EntryProofPublic.of(proof.registration),
                   status_change=EntryProofPublic.of(proof.status_change) if proof.status_change else None,
                   lineage=[EntryProofPublic.of(entry) for entry in proof.lineage], anchor=anchor)


@router.get("/v1/documents/{digest}/proof")
def document_proof(proofs: DocumentProofsDep, digest: str) -> dict[str, Any]:
    """Public: the status of a document digest (as ``GET /v1/documents/{digest}``) with ``proof``, the material
    to check it without trusting this service (docs/VERIFY.md); ``proof`` is null for an unknown digest.

    Answers by digest only, to anyone who has one (digests are public on chain): the masked policy facts of
    ``GET /v1/documents/{digest}`` and the document events' openings, whose payloads hold no personal data.
    """
    found = proofs.proof(digest)
    public = ProofPublic.of(found)
    return {**found.status, "proof": public.model_dump(mode="json") if public is not None else None}


@functools.cache
def _page() -> tuple[str, str]:
    """The page's HTML and the CSP hash of its one inline script (the import map)."""
    html = (WEB_DIR / "verify.html").read_text(encoding="utf-8")
    found = re.search(r'<script type="importmap">(.*?)</script>', html, re.DOTALL)
    if found is None:
        raise ConfigurationError(f"{WEB_DIR / 'verify.html'} has no import map")
    digest = base64.b64encode(hashlib.sha256(found.group(1).encode("utf-8")).digest()).decode("ascii")
    return html, f"'sha256-{digest}'"


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
def verify_page() -> HTMLResponse:
    """The verification page. An e-policy's QR code names the policy and version in the URL fragment, which the
    browser never sends (e-policies printed before that carry them in the query); the page's script alone reads
    them. The server never sees a file and never answers by policy number."""
    missing = [name for name in NEEDED_VENDOR if not (VENDOR_DIR / name).is_file()]
    if missing:
        raise ConfigurationError(f"the verification page's scripts are missing ({', '.join(missing)} under "
                                 f"{VENDOR_DIR}); run `make setup` (it copies them from node_modules)")
    html, script_hash = _page()
    policy = (f"default-src 'none'; script-src 'self' {script_hash}; style-src 'self'; connect-src 'self'; "
              "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer",
                                       "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
