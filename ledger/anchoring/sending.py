"""Sending the anchoring outbox's jobs: one transaction in flight per kind of job, and nothing sent twice.

The worker (:mod:`ledger.anchoring.worker`) decides what is due; a ``Sender`` turns a job into its contract call (an
anchor of a checkpoint root, or a run of document registrations, one supersession or one revocation), reads the
contract's state first for a job that has attempts behind it, records the transaction before it is broadcast, and
handles the contract's refusals. It also replaces a transaction that has waited unmined too long with higher fees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ledger.anchoring.chain import Chain, ContractCall, SentUncertain, scrub
from ledger.anchoring.contracts import ContractRevert, DocumentRegistryContract, LedgerAnchorContract, Registration
from ledger.anchoring.following import Follower
from ledger.errors import AnchorUnavailable, LedgerError, ValidationFailed
from ledger.log.identifiers import parse_timestamp, utc_timestamp
from ledger.settings import Settings
from ledger.store.anchors import CHECKPOINT, FAILED, PENDING, SENT, SKIPPED, AnchorJob, AnchorStore

log = logging.getLogger(__name__)
Connected = Callable[[], tuple[Chain, LedgerAnchorContract, DocumentRegistryContract]]


class Sender:
    """Sends the worker's due jobs on the chain and contracts it is connected to."""

    def __init__(self, jobs: AnchorStore, follower: Follower, *, settings: Settings, clock: Callable[[], float],
                 connected: Connected, after_send: Callable[[AnchorJob, bytes], None] | None = None) -> None:
        """``connected`` gives the worker's chain and contracts (connecting if need be)."""
        self.jobs = jobs
        self.follower = follower
        self.settings = settings
        self._clock = clock
        self._connected = connected
        self._after_send = after_send  # called between sending and recording (crash tests use it)

    def send_next(self, kind: str, chain: Chain, *, contract: str) -> None:
        """Send the oldest due pending job of ``kind`` to ``contract``, unless one of its jobs is in flight.

        Raises ``AnchorUnavailable`` (``SentUncertain`` included) when the chain cannot take it; the job stays in
        the outbox, to be followed or sent again.
        """
        open_jobs = self.jobs.open_jobs(kind, chain.chain_id, contract)
        if any(job.status == SENT for job in open_jobs):
            return
        due = [job for job in open_jobs if job.status == PENDING and job.next_attempt_at <= self._clock()]
        if due:
            self._send(due[0])

    def _send(self, job: AnchorJob) -> None:
        attempts = job.attempts + 1
        try:
            if job.attempts and self._settle(job):
                return
            # Count the attempt before sending: after a crash from here on, the state check above runs first. Only
            # if the job is still as it was read: a process that took the lease over meanwhile may be sending it.
            if not self.jobs.update_job(job.id, attempts=attempts, expect={"status": PENDING,
                                                                           "attempts": job.attempts}):
                raise _JobMoved(job.id)
            tx_hash = self._submit(job, attempts=attempts)
        except _JobMoved:
            log.warning("anchor job %d was taken up by another process since this one read it; not sent", job.id)
            return
        except ContractRevert as exc:
            if not self._settle(job):
                self._refused(job, exc)
            return
        except SentUncertain as exc:
            # Recorded as sent before the broadcast: following its hash tells whether the node has it.
            self.jobs.update_job(job.id, last_error=scrub(exc.message))
            raise
        except AnchorUnavailable as exc:
            self.follower.retry_later(job, scrub(exc.message))
            raise
        except LedgerError as exc:  # the job itself is malformed: retrying cannot help
            self.jobs.update_job(job.id, status=FAILED, last_error=exc.message)
            log.error("anchor job %d cannot be sent: %s", job.id, exc.message)
            return
        if self._after_send is not None:
            self._after_send(job, tx_hash)
        self.jobs.update_job(job.id, status=SENT, tx_hash=tx_hash, sent_at=utc_timestamp(), last_error=None,
                             block_number=None, block_hash=None, expect={"attempts": attempts})

    def _call(self, job: AnchorJob) -> ContractCall:
        """The contract call that does ``job``'s work."""
        _, anchor, registry = self._connected()
        if job.kind == CHECKPOINT:
            assert job.tree_size is not None and job.root is not None
            return anchor.contract.functions.anchor(job.tree_size, job.root)
        ops = self.jobs.ops_of_job(job.id)
        if not ops:
            raise ValidationFailed(f"documents job {job.id} has no operations")
        first = ops[0]
        if first.op == "register":
            rows = [Registration(op.digest, op.subject or b"", op.kind or 0, op.version or 0) for op in ops]
            return registry.contract.functions.registerBatch([(r.digest, r.subject, r.kind, r.version) for r in rows])
        if first.op == "supersede":
            assert first.old_digest is not None and first.version is not None
            return registry.contract.functions.supersede(first.old_digest, first.digest, first.version)
        return registry.contract.functions.revoke(first.digest, first.reason_code or 0)

    def _submit(self, job: AnchorJob, *, attempts: int) -> bytes:
        chain, _, _ = self._connected()

        def record(tx_hash: bytes) -> None:
            """Mark the job sent before the broadcast, so a lost reply cannot lead to a second send; and only if
            it is still this attempt's (another process taking the job up counts an attempt of its own), else
            nothing is broadcast. A transaction signed again in the same attempt (a stale nonce refused) takes the
            place of the first, which never went out."""
            if not self.jobs.update_job(job.id, status=SENT, tx_hash=tx_hash, sent_at=utc_timestamp(),
                                        block_number=None, block_hash=None, expect={"attempts": attempts}):
                raise _JobMoved(job.id)

        return chain.send(self._call(job), on_signed=record)

    def replace_if_stuck(self, job: AnchorJob, chain: Chain) -> None:
        """Replace a transaction that has waited unmined for ``anchor_stuck_after`` seconds with higher fees."""
        assert job.tx_hash is not None and job.sent_at is not None
        waited = time.time() - parse_timestamp(job.sent_at, field="sent_at").timestamp()
        if waited < self.settings.anchor_stuck_after:
            return
        new_hash = chain.replace(job.tx_hash, self._call(job))
        log.warning("transaction 0x%s of job %d waited %.0f s unmined; replaced by 0x%s with higher fees",
                    job.tx_hash.hex(), job.id, waited, new_hash.hex())
        self.jobs.update_job(job.id, tx_hash=new_hash, sent_at=utc_timestamp(),
                             last_error=f"replaced 0x{job.tx_hash.hex()} (unmined for {waited:.0f} s) with higher fees")

    def _settle(self, job: AnchorJob) -> bool:
        chain, anchor, registry = self._connected()
        return self.follower.settle_from_state(job, chain, anchor, registry)

    def _refused(self, job: AnchorJob, exc: ContractRevert) -> None:
        if exc.error in ("EnforcedPause", "AccessControlUnauthorizedAccount"):
            self.follower.retry_later(job, f"{exc.message}; will try again")
            return
        if exc.error == "LedgerAnchorStaleTreeSize":
            self.jobs.update_job(job.id, status=SKIPPED, last_error=f"a larger checkpoint is anchored: {exc.message}")
            return
        self.jobs.update_job(job.id, status=FAILED, last_error=exc.message)
        log.error("anchor job %d refused by the contract: %s", job.id, exc.message)


class _JobMoved(Exception):
    """The job's row changed since this sender read it (another process took it up): stop, send nothing."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"anchor job {job_id} moved on since it was read")
