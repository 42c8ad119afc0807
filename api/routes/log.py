"""The public log API (modelled on RFC 6962 §4): checkpoints, keys, entries and proofs. No authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import PlainTextResponse

from api.deps import AnchoringDep, KeysDep, LogDep, OptionalPrincipal, may_read_entry
from api.params import MAX_INDEX, PlainInt
from api.problems import responses
from api.routing import Router
from api.schemas import (
    AnchorProofPublic,
    AnchorPublic,
    AnchorsPublic,
    ConsistencyPublic,
    EntryPublic,
    InclusionPublic,
    KeyEventPublic,
    KeyPublic,
    LogKeyPublic,
)
from ledger.errors import NotFound
from ledger.log.encoding import b64

router = Router(prefix="/v1/log", tags=["public log"], responses=responses(404, 422, 503))


@router.get("/checkpoint", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"example": "lifeledger.local/log\n8\nXcna...=\n\n— ..."}}}})
def get_checkpoint(log: LogDep) -> PlainTextResponse:
    """The latest signed checkpoint as a C2SP signed note."""
    latest = log.latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint yet: the log is empty")
    return PlainTextResponse(latest.note, media_type="text/plain; charset=utf-8")


@router.get("/key")
def get_key(log: LogDep, keys: KeysDep) -> LogKeyPublic:
    """The checkpoint verifier key (C2SP vkey) and the history of every registered system key."""
    return LogKeyPublic(origin=log.origin, vkey=log.vkey, system_keys=[KeyPublic.of(k) for k in keys.registered()])


@router.get("/key/events/{index}")
def get_key_event(log: LogDep, index: Annotated[PlainInt, Path(ge=0, le=MAX_INDEX)]) -> KeyEventPublic:
    """A key event's leaf, payload and salt, to check against the leaf's payload_hash.

    Key history is public (it holds no personal data), so these leaves are published with their openings.
    """
    return KeyEventPublic.of(log.key_event_evidence(index))


@router.get("/entries/{index}", response_model_exclude_none=True)
def get_entry(log: LogDep, principal: OptionalPrincipal,
              index: Annotated[PlainInt, Path(ge=0, le=MAX_INDEX)]) -> EntryPublic:
    """One journal entry: its leaf hash for anyone; the leaf and its fields only for those entitled to them.

    Entitled are the system whose key signed the entry, an auditor, and the customer whose event it is (send a
    bearer token). Everyone else learns the leaf hash only: enough to check inclusion and consistency proofs,
    nothing about which stream had which kind of event when.
    """
    row = log.entry(index)
    if not may_read_entry(log, principal, index):
        return EntryPublic(index=row.idx, leaf_hash=b64(row.leaf_hash))
    return EntryPublic(index=row.idx, leaf=b64(row.leaf), leaf_hash=b64(row.leaf_hash), event_id=row.event_id,
                       type=row.type, stream=row.stream, seq=row.seq, recorded_at=row.recorded_at)


@router.get("/proofs/inclusion")
def get_inclusion(log: LogDep, index: Annotated[PlainInt, Query(ge=0, le=MAX_INDEX)],
                  tree_size: Annotated[PlainInt, Query(ge=1, le=MAX_INDEX)]) -> InclusionPublic:
    """RFC 9162 §2.1.3 inclusion proof of entry ``index`` in the tree of ``tree_size`` entries."""
    proof = log.inclusion_proof(index=index, tree_size=tree_size)
    return InclusionPublic.of(proof)


@router.get("/proofs/consistency")
def get_consistency(log: LogDep, first: Annotated[PlainInt, Query(ge=1, le=MAX_INDEX)],
                    second: Annotated[PlainInt, Query(ge=1, le=MAX_INDEX)]) -> ConsistencyPublic:
    """RFC 9162 §2.1.4 consistency proof between the trees of ``first`` and ``second`` entries."""
    proof = log.consistency_proof(first=first, second=second)
    return ConsistencyPublic.of(proof)


@router.get("/anchors")
def get_anchors(anchoring: AnchoringDep) -> AnchorsPublic:
    """Checkpoints anchored on chain: chain id, contract, tx hash, block, confirmations and status."""
    return AnchorsPublic.of(anchoring.status())


@router.get("/anchors/proof")
def get_anchor_proof(anchoring: AnchoringDep, log: LogDep, principal: OptionalPrincipal,
                     index: Annotated[PlainInt, Query(ge=0, le=MAX_INDEX)]) -> AnchorProofPublic:
    """Proof that entry ``index`` is covered by a root anchored on chain (404 until one is confirmed).

    Check: the leaf hash's inclusion in ``checkpoint``; ``consistency`` from it to ``anchored_checkpoint``; both
    notes' signatures; and that the contract's ``rootOf(anchor.tree_size)`` returns the anchored checkpoint's
    root. The leaf itself is included only for those entitled to it (as for ``/v1/log/entries``).
    """
    proof = anchoring.proof(index)
    leaf = b64(proof.leaf) if may_read_entry(log, principal, index) else None
    return AnchorProofPublic(
        index=index, leaf=leaf, leaf_hash=b64(proof.leaf_hash), checkpoint=proof.checkpoint.note,
        inclusion=InclusionPublic.of(proof.inclusion), consistency=ConsistencyPublic.of(proof.consistency),
        anchored_checkpoint=proof.anchored_checkpoint.note,
        anchored_inclusion=InclusionPublic.of(proof.anchored_inclusion),
        anchor=AnchorPublic.of(proof.anchored))
