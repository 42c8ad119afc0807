"""Cross-checks between the log and the chain: the roots anchored on chain, and anchors that disagree with the log."""

from __future__ import annotations

from ledger.anchoring.contracts import AnchoredRoot, LedgerAnchorContract
from ledger.errors import LedgerError
from ledger.store import Store
from ledger.store.anchors import CHECKPOINT, CONFIRMED, AnchorStore


def _confirmed_on_chain(anchor: LedgerAnchorContract, jobs: AnchorStore) -> list[tuple[int, AnchoredRoot | None]]:
    """Every tree size recorded as confirmed on ``anchor``, with what the contract holds for it now."""
    sizes = sorted({job.tree_size for job in jobs.recent_jobs(kind=CHECKPOINT, limit=1_000_000)
                    if job.status == CONFIRMED and job.contract == anchor.address and job.tree_size is not None})
    return [(size, anchor.root_of(size)) for size in sizes]


def chain_roots(anchor: LedgerAnchorContract, jobs: AnchorStore, *, chain_id: int) -> dict[int, tuple[str, bytes]]:
    """Roots read from the chain, by tree size: the latest anchor and every anchor recorded as confirmed.

    An audit compares them with roots recomputed from the leaves (``audit(trusted_roots=...)``), which is what
    exposes a history rewritten in the database together with its checkpoints. Raises ``AnchorUnavailable``.
    """
    label = f"chain {chain_id} LedgerAnchor {anchor.address}"
    roots = {size: (label, found.root) for size, found in _confirmed_on_chain(anchor, jobs) if found is not None}
    latest = anchor.latest()
    if latest.tree_size:
        roots[latest.tree_size] = (label, latest.root)
    return roots


def check_anchors(anchor: LedgerAnchorContract, jobs: AnchorStore, store: Store, *,
                  chain_id: int) -> list[tuple[str, str]]:
    """Compare every confirmed anchor with the chain: (where, what) for each mismatch; empty if all agree.

    Each confirmed tree size must hold, on chain, the root of our signed checkpoint of that size; the chain's
    latest anchored size must not exceed the log. Raises ``AnchorUnavailable``.
    """
    problems: list[tuple[str, str]] = []
    for size, found in _confirmed_on_chain(anchor, jobs):
        where = f"anchors[size={size}]"
        try:
            ours = store.checkpoint(size).root
        except LedgerError:
            problems.append((where, "anchored size has no checkpoint in the log"))
            continue
        if found is None:
            problems.append((where, f"not on chain {chain_id}"))
        elif found.root != ours:
            problems.append((where, "the root on chain differs from our signed checkpoint"))
    latest = anchor.latest()
    if latest.tree_size > store.size():
        problems.append(("anchors", f"chain holds tree size {latest.tree_size}, the log has fewer entries"))
    return problems
