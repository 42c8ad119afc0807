"""Receipts a customer keeps: each event of a request or claim with its inclusion proof, and the anchor proof of
the latest one once a confirmed on-chain anchor covers it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.schemas import AnchorProofPublic, AnchorPublic, ConsistencyPublic, FullReceiptPublic, InclusionPublic
from ledger.errors import NotFound
from ledger.log.encoding import b64
from ledger.services.anchoring import AnchorService
from ledger.services.log import LogService


def entry_receipts(log: LogService, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Each event's receipt: its leaf, and the signed checkpoint and inclusion proof once one covers it."""
    return [FullReceiptPublic.of(log.receipt(event_id)).model_dump(mode="json") for event_id in event_ids]


def anchor_proof(anchoring: AnchorService, last: int) -> dict[str, Any]:
    """Entry ``last`` under a root anchored on chain, once one is confirmed (as ``/v1/log/anchors/proof``);
    ``{"status": "pending"}`` before."""
    try:
        proof = anchoring.proof(last)
    except NotFound:
        return {"status": "pending", "index": last, "see": f"/v1/log/anchors/proof?index={last}"}
    return {"status": "anchored", **AnchorProofPublic(
        index=last, leaf_hash=b64(proof.leaf_hash), checkpoint=proof.checkpoint.note,
        inclusion=InclusionPublic.of(proof.inclusion), consistency=ConsistencyPublic.of(proof.consistency),
        anchored_checkpoint=proof.anchored_checkpoint.note,
        anchored_inclusion=InclusionPublic.of(proof.anchored_inclusion),
        anchor=AnchorPublic.of(proof.anchored)).model_dump(mode="json")}
