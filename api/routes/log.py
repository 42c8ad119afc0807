"""The public log API (modelled on RFC 6962 §4): checkpoints, keys, entries and proofs. No authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from api.deps import LedgerDep
from api.problems import responses
from api.schemas import (
    AnchorProofPublic,
    AnchorPublic,
    AnchorsPublic,
    ConsistencyPublic,
    EntryPublic,
    InclusionPublic,
    KeyPublic,
    LogKeyPublic,
)
from ledger.encoding import b64
from ledger.errors import NotFound

MAX_INDEX = 2**63 - 1  # the largest index a BIGINT column holds
router = APIRouter(prefix="/v1/log", tags=["public log"], responses=responses(404, 422, 503))


@router.get("/checkpoint", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"example": "lifeledger.local/log\n8\nXcna...=\n\n— ..."}}}})
def get_checkpoint(ledger: LedgerDep) -> PlainTextResponse:
    """The latest signed checkpoint as a C2SP signed note."""
    latest = ledger.latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint yet: the log is empty")
    return PlainTextResponse(latest.note, media_type="text/plain; charset=utf-8")


@router.get("/key")
def get_key(ledger: LedgerDep) -> LogKeyPublic:
    """The checkpoint verifier key (C2SP vkey) and the history of every registered system key."""
    return LogKeyPublic(origin=ledger.settings.origin, vkey=ledger.note_signer.vkey,
                        system_keys=[KeyPublic.of(k) for k in ledger.system_keys()])


@router.get("/key/events/{index}")
def get_key_event(ledger: LedgerDep, index: Annotated[int, Path(ge=0, le=MAX_INDEX)]) -> dict[str, object]:
    """Payload and salt of a key event, to check against its leaf's payload_hash (key events hold no personal data)."""
    return ledger.key_event_evidence(index)


@router.get("/entries/{index}")
def get_entry(ledger: LedgerDep, index: Annotated[int, Path(ge=0, le=MAX_INDEX)]) -> EntryPublic:
    """One journal entry: its leaf bytes and leaf hash. The payload is not part of the public log."""
    row = ledger.entry(index)
    return EntryPublic(index=row.idx, leaf=b64(row.leaf), leaf_hash=b64(row.leaf_hash), event_id=row.event_id,
                       type=row.type, stream=row.stream, seq=row.seq, recorded_at=row.recorded_at)


@router.get("/proofs/inclusion")
def get_inclusion(ledger: LedgerDep, index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
                  tree_size: Annotated[int, Query(ge=1, le=MAX_INDEX)]) -> InclusionPublic:
    """RFC 9162 §2.1.3 inclusion proof of entry ``index`` in the tree of ``tree_size`` entries."""
    proof = ledger.inclusion_proof(index=index, tree_size=tree_size)
    return InclusionPublic.of(proof)


@router.get("/proofs/consistency")
def get_consistency(ledger: LedgerDep, first: Annotated[int, Query(ge=1, le=MAX_INDEX)],
                    second: Annotated[int, Query(ge=1, le=MAX_INDEX)]) -> ConsistencyPublic:
    """RFC 9162 §2.1.4 consistency proof between the trees of ``first`` and ``second`` entries."""
    proof = ledger.consistency_proof(first=first, second=second)
    return ConsistencyPublic.of(proof)


@router.get("/anchors")
def get_anchors(ledger: LedgerDep) -> AnchorsPublic:
    """Checkpoints anchored on chain: chain id, contract, tx hash, block, confirmations and status."""
    state = ledger.anchor_status()
    return AnchorsPublic(status="configured" if state["configured"] else "not_configured",
                         chain=state["chain"] if state["configured"] else None, chain_id=state["chain_id"],
                         contracts=state["contracts"], log_size=state["log_size"],
                         anchored_tree_size=state["anchored_tree_size"], lag=state["lag"], jobs=state["jobs"],
                         last_error=state["last_error"], anchors=[AnchorPublic.of(j) for j in state["anchors"]])


@router.get("/anchors/proof")
def get_anchor_proof(ledger: LedgerDep, index: Annotated[int, Query(ge=0, le=MAX_INDEX)]) -> AnchorProofPublic:
    """Proof that entry ``index`` is covered by a root anchored on chain (404 until one is confirmed).

    Check: the leaf's inclusion in ``checkpoint``; ``consistency`` from it to ``anchored_checkpoint``; both notes'
    signatures; and that the contract's ``rootOf(anchor.tree_size)`` returns the anchored checkpoint's root.
    """
    proof = ledger.anchor_proof(index)
    return AnchorProofPublic(
        index=index, leaf=b64(proof.leaf), checkpoint=proof.checkpoint.note,
        inclusion=InclusionPublic.of(proof.inclusion), consistency=ConsistencyPublic.of(proof.consistency),
        anchored_checkpoint=proof.anchored_checkpoint.note,
        anchored_inclusion=InclusionPublic.of(proof.anchored_inclusion),
        anchor=AnchorPublic.of(proof.anchored))
