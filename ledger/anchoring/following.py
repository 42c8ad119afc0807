"""Following sent anchoring jobs to confirmation, and settling jobs from what the contracts already hold."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ledger.anchoring.chain import EMBEDDED, Chain
from ledger.anchoring.contracts import DocumentRegistryContract, DocumentStatus, LedgerAnchorContract
from ledger.errors import LedgerError
from ledger.log.identifiers import utc_timestamp
from ledger.settings import Settings
from ledger.store import Store
from ledger.store.anchors import (
    CHECKPOINT,
    CONFIRMED,
    DOCUMENTS,
    FAILED,
    PENDING,
    SENT,
    SKIPPED,
    AnchorJob,
    AnchorStore,
    DocumentOp,
)

log = logging.getLogger(__name__)
BACKOFF_MAX = 300.0
WATCH_DEPTH = 12  # confirmed jobs with fewer confirmations than this are re-checked for re-orgs


class Follower:
    """Reads the chain on behalf of the worker; every decision it takes is written to the job's row."""

    def __init__(self, jobs: AnchorStore, store: Store, *, settings: Settings, clock: Callable[[], float]) -> None:
        self.jobs = jobs
        self.store = store
        self.settings = settings
        self.clock = clock
        self.watched_head: bytes | None = None  # hash of the head block at the last re-org watch

    def retry_later(self, job: AnchorJob, reason: str) -> None:
        attempts = job.attempts + 1
        self.jobs.update_job(job.id, status=PENDING, attempts=attempts, last_error=reason,
                             next_attempt_at=self.clock() + min(2.0 ** attempts, BACKOFF_MAX))

    def is_ours(self, tree_size: int, root: bytes) -> bool:
        """Whether ``root`` is the root of this log's signed checkpoint of ``tree_size``."""
        if tree_size > self.store.size():
            return False
        try:
            return self.store.checkpoint(tree_size).root == root
        except LedgerError:
            return False

    def settle_from_state(self, job: AnchorJob, chain: Chain, anchor: LedgerAnchorContract,
                          registry: DocumentRegistryContract) -> bool:
        """Mark ``job`` from the contract's state if its work is already on chain; True if it was.

        A larger anchored size that is this log's covers the job (skipped); one that is not is an alarm
        (failed): someone else anchors with this contract.
        """
        if job.kind == CHECKPOINT:
            assert job.tree_size is not None
            found = anchor.root_of(job.tree_size)
            if found is None:
                latest = anchor.latest()
                if latest.tree_size <= job.tree_size:
                    return False
                if self.is_ours(latest.tree_size, latest.root):
                    self.jobs.update_job(job.id, status=SKIPPED,
                                         last_error=f"covered by the anchored checkpoint of size {latest.tree_size}")
                else:
                    message = (f"chain {chain.chain_id} holds tree size {latest.tree_size} with a root that is not "
                               f"this log's: someone else anchors with this contract; anchoring cannot go on")
                    self.jobs.update_job(job.id, status=FAILED, last_error=message)
                    log.error(message)
                return True
            if found.root != job.root:
                self.jobs.update_job(job.id, status=FAILED,
                                     last_error=f"chain holds a different root for tree size {job.tree_size}")
                log.error("chain %d holds a different root for tree size %d", chain.chain_id, job.tree_size)
                return True
            self.record_block(job, chain, found.block_number, None, note="found on chain")
            return True
        ops = self.jobs.ops_of_job(job.id)
        if not ops or not ops_on_chain(ops, registry):
            return False
        self.jobs.update_job(job.id, status=CONFIRMED, confirmed_at=utc_timestamp(), last_error="found on chain")
        return True

    def follow(self, job: AnchorJob, chain: Chain, anchor: LedgerAnchorContract,
               registry: DocumentRegistryContract) -> bool:
        """Advance a sent job: confirmations, a revert, or a transaction the chain no longer knows.

        Returns True while the transaction waits in the mempool, unmined.
        """
        assert job.tx_hash is not None
        receipt = chain.receipt(job.tx_hash)
        if receipt is None:
            if chain.confirmations(job.tx_hash) is None:  # the chain no longer knows it: dropped or re-orged out
                log.warning("transaction 0x%s of job %d vanished; sending again", job.tx_hash.hex(), job.id)
                chain.forget_nonce()
                self.jobs.update_job(job.id, status=PENDING, tx_hash=None,
                                     last_error="transaction dropped or re-orged out; sending again")
                return False
            return True
        if receipt["status"] != 1:
            if not self.settle_from_state(job, chain, anchor, registry):
                self.retry_later(job, f"transaction 0x{job.tx_hash.hex()} reverted")
            return False
        self.record_block(job, chain, int(receipt["blockNumber"]), bytes(receipt["blockHash"]))
        return False

    def record_block(self, job: AnchorJob, chain: Chain, block_number: int, block_hash: bytes | None,
                     note: str | None = None) -> None:
        confirmations = max(0, chain.block_number() - block_number + 1)
        values: dict[str, Any] = {"block_number": block_number, "confirmations": confirmations}
        if block_hash is not None:
            values["block_hash"] = block_hash
        if note is not None:
            values["last_error"] = note
        missing = self.settings.anchor_confirmations - confirmations
        if missing > 0 and self.settings.chain_url == EMBEDDED:
            # The embedded chain mines only when it receives a transaction; mine empty blocks so a wait for
            # N confirmations ends (there are no re-orgs on it for them to guard against).
            chain.mine_empty(missing)
            confirmations += missing
            values["confirmations"] = confirmations
        if confirmations >= self.settings.anchor_confirmations:
            values.update(status=CONFIRMED, confirmed_at=job.confirmed_at or utc_timestamp())
        else:
            values.update(status=SENT)
        self.jobs.update_job(job.id, **values)

    def watch_confirmed(self, chain: Chain, anchor: LedgerAnchorContract, registry: DocumentRegistryContract) -> None:
        """Re-check recently confirmed jobs: a re-org that removed one puts it back in the queue.

        Only when the head block changed since the last look (by hash, so a re-org to the same height counts);
        a quiet chain costs one call per round.
        """
        number, head = chain.head()
        if head == self.watched_head:
            return
        self.watched_head = head
        for job in self.jobs.recent_jobs(limit=40):
            contract = anchor.address if job.kind == CHECKPOINT else registry.address
            if (job.status != CONFIRMED or job.confirmations >= WATCH_DEPTH or job.chain_id != chain.chain_id
                    or job.contract != contract):
                continue
            block = self._still_there(job, anchor, registry)
            if block is None:
                log.warning("job %d (%s) vanished from chain %d; sending again", job.id, job.kind, chain.chain_id)
                chain.forget_nonce()
                self.watched_head = None
                self.jobs.update_job(job.id, status=PENDING, tx_hash=None, confirmations=0, confirmed_at=None,
                                     last_error="vanished from the chain (re-org); sending again")
                continue
            confirmations = max(0, number - block + 1) if block else job.confirmations
            if (confirmations, block or job.block_number) != (job.confirmations, job.block_number):
                self.jobs.update_job(job.id, confirmations=confirmations, block_number=block or job.block_number)

    def _still_there(self, job: AnchorJob, anchor: LedgerAnchorContract,
                     registry: DocumentRegistryContract) -> int | None:
        """The block holding the job's work (0 when unknown but present), or None if the chain lost it."""
        if job.kind == CHECKPOINT:
            assert job.tree_size is not None
            found = anchor.root_of(job.tree_size)
            return None if found is None else found.block_number
        ops = self.jobs.ops_of_job(job.id)
        if job.kind == DOCUMENTS and ops and not ops_on_chain(ops[:1], registry):
            return None
        return 0


def ops_on_chain(ops: list[DocumentOp], registry: DocumentRegistryContract) -> bool:
    """Whether every operation of a job is reflected on chain (a batch counts only when all of it is)."""
    first = ops[0]
    if first.op == "register":
        return all(registry.document_status(op.digest).status != DocumentStatus.UNKNOWN for op in ops)
    if first.op == "supersede":
        assert first.old_digest is not None
        return registry.document_status(first.old_digest).superseded_by == first.digest
    return registry.document_status(first.digest).status == DocumentStatus.REVOKED
