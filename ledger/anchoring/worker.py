"""The anchoring worker: turns signed checkpoints and document operations into confirmed chain transactions.

It works from an outbox in the ledger's database (``anchor_jobs``, ``document_ops``), so a slow or failed chain
never blocks appends: anchoring lags and catches up. Each round it
1. follows every sent job until it has the required confirmations, sending it again if the chain dropped it or
   a re-org removed it;
2. queues the newest checkpoint (at most one every ``anchor_interval`` seconds; an older queued one that was never
   sent is skipped, since one transaction covers every entry before it) and the next run of document operations;
3. sends the oldest pending job of each kind, one in flight per kind.

Nothing is sent twice: before sending a job that may have been sent already (it has attempts behind it), the
worker reads the contract's state, so a crash between sending and recording finds the work done on chain. The
contracts refuse a repeated anchor or digest in any case, which bounds the damage of any bug here to gas. Following
sent jobs is :mod:`ledger.anchoring.following`'s part, sending them :mod:`ledger.anchoring.sending`'s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from itertools import takewhile
from typing import Any

from ledger.anchoring import crosscheck
from ledger.anchoring.chain import EMBEDDED, Chain, connect, deploy_all, scrub
from ledger.anchoring.contracts import DocumentRegistryContract, LedgerAnchorContract
from ledger.anchoring.following import Follower
from ledger.anchoring.sending import Sender
from ledger.errors import AnchorUnavailable, LedgerError, ValidationFailed
from ledger.log.identifiers import utc_timestamp
from ledger.settings import Settings
from ledger.store import Store
from ledger.store.anchors import CHECKPOINT, DOCUMENTS, PENDING, SENT, SKIPPED, AnchorJob, AnchorStore

log = logging.getLogger(__name__)
CONTRACTS = ("LedgerAnchor", "DocumentRegistry")


class Anchorer:
    """Runs anchoring rounds, in a background thread (``start``) or one at a time (``run_once``)."""

    def __init__(self, store: Store, *, settings: Settings, clock: Callable[[], float] = time.time,
                 after_send: Callable[[AnchorJob, bytes], None] | None = None) -> None:
        self.store = store
        self.jobs = AnchorStore(store.engine)
        self.settings = settings
        self._clock = clock
        self._chain: Chain | None = None
        self._anchor: LedgerAnchorContract | None = None
        self._registry: DocumentRegistryContract | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_enqueued = float("-inf")
        self.follower = Follower(self.jobs, store, settings=settings, clock=clock)
        self._sender = Sender(self.jobs, self.follower, settings=settings, clock=clock, connected=self._connected,
                              after_send=after_send)
        self._failures = 0
        self._lease_owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.standby = False  # True while another process holds the anchoring lease
        self._renewed_at = float("-inf")  # time.monotonic() of this process's last renewal of the lease
        self.last_error: str | None = None

    # -- connection and deployment -------------------------------------------------------------------------

    def _open_chain(self) -> Chain:
        return connect(self.settings.chain_url, data_dir=self.settings.data_dir,
                       private_key=self.settings.chain_private_key, expected_chain_id=self.settings.chain_id,
                       shared=self.settings.chain_socket)

    def _connected(self) -> tuple[Chain, LedgerAnchorContract, DocumentRegistryContract]:
        if self._chain is None:
            chain = self._open_chain()
            try:
                addresses = self.jobs.deployment(chain.chain_id)
                if not addresses and self.settings.chain_url == EMBEDDED:
                    addresses = self._deploy(chain)
                if set(CONTRACTS) - set(addresses):
                    raise AnchorUnavailable(f"the contracts are not deployed on chain {chain.chain_id}: "
                                            f"run `lifeledger chain deploy`")
                for name in CONTRACTS:
                    if not chain.has_code(addresses[name]):
                        raise _missing_contract(name, addresses[name], chain.chain_id)
            except BaseException:
                chain.close()
                raise
            self._chain = chain
            self._anchor = LedgerAnchorContract(chain, addresses["LedgerAnchor"])
            self._registry = DocumentRegistryContract(chain, addresses["DocumentRegistry"])
        assert self._anchor is not None and self._registry is not None
        return self._chain, self._anchor, self._registry

    def _deploy(self, chain: Chain, *, replace: bool = False) -> dict[str, str]:
        addresses = deploy_all(chain, admin=self.settings.chain_admin)
        self.jobs.record_deployment(chain.chain_id, addresses, at=utc_timestamp(), replace=replace)
        log.info("deployed %s on chain %d", addresses, chain.chain_id)
        return self.jobs.deployment(chain.chain_id)

    def deploy(self, *, redeploy: bool = False) -> tuple[int, dict[str, str], bool]:
        """Deploy the contracts unless this chain has them already: (chain id, addresses, newly deployed).

        ``redeploy`` deploys new contracts even so (after a development chain was reset): anchoring starts again
        on them, with the newest checkpoint, and open jobs for the old contracts are skipped.
        """
        with self._lock:
            chain = self._chain or self._open_chain()
            try:
                existing = self.jobs.deployment(chain.chain_id)
                complete = not set(CONTRACTS) - set(existing)
                if complete and not redeploy:
                    return chain.chain_id, existing, False
                if complete and any(chain.has_code(existing[name]) for name in CONTRACTS):
                    raise ValidationFailed(
                        f"the contracts recorded for chain {chain.chain_id} are still there; --redeploy is only for "
                        f"a chain that was reset", field="redeploy")
                addresses = self._deploy(chain, replace=redeploy)
            finally:
                if chain is not self._chain:
                    chain.close()
            self._drop_connection()  # the next round binds to the new addresses
            return chain.chain_id, addresses, True

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(LedgerError):
            self.jobs.release_lease("anchoring", owner=self._lease_owner)
        with self._lock:
            if self._chain is not None:
                self._chain.close()
            self._chain = self._anchor = self._registry = None

    # -- the loop ------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="anchorer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            delay = min(1.0, self.settings.anchor_interval)
            try:
                self.run_once()
            except LedgerError as exc:
                self._failures += 1
                delay = min(2.0 ** self._failures, 60.0)
                log.warning("anchoring round failed (retry in %.0f s): %s", delay, exc.message)
            except Exception:  # keep the worker alive; the outbox keeps the work
                self._failures += 1
                delay = min(2.0 ** self._failures, 60.0)
                log.exception("anchoring round failed")

    def run_once(self) -> None:
        """One round: follow sent jobs, queue new work, send what is due. Raises ``AnchorUnavailable``.

        Only the process holding the database lease ``anchoring`` works; others stand by (several ``serve``
        processes on one database would otherwise send the same anchors).
        """
        with self._lock:
            try:
                held = self._renew_lease()
            except Exception as exc:  # whether another process works is unknown: this one reports its failure
                self.standby = False
                self.last_error = _shown(exc)
                raise
            if not held:
                self.standby = True
                return
            self.standby = False
            try:
                self._round()
            except Exception as exc:
                self.last_error = _shown(exc)
                self._note_round()
                raise
            self._failures = 0
            self.last_error = None
            self._note_round()

    def _lease_ttl(self) -> float:
        return max(30.0, 3 * self.settings.anchor_interval)

    def _renew_lease(self) -> bool:
        """Take or renew the ``anchoring`` lease for this process; False while another process holds it."""
        held = self.jobs.try_lease("anchoring", owner=self._lease_owner, ttl=self._lease_ttl(), now=time.time())
        if held:
            self._renewed_at = time.monotonic()
        return held

    def _still_held(self) -> bool:
        """Renew the lease before the round writes on: a round that outlived its lease (a slow chain) stops here
        rather than send, or settle jobs, beside the process that took the lease over. Renewed less than a third
        of its time to live ago, the lease cannot have passed on, and is not written again."""
        if time.monotonic() - self._renewed_at < self._lease_ttl() / 3 or self._renew_lease():
            return True
        log.warning("the anchoring lease passed to another process during this round; this one stands by")
        self.standby = True
        return False

    def _note_round(self) -> None:
        """Tell the processes standing by how this round ended (``lease``); a failure to say so is only logged."""
        try:
            self.jobs.note_round("anchoring", owner=self._lease_owner, at=time.time(), error=self.last_error)
        except LedgerError as exc:
            log.warning("could not record the anchoring round's outcome: %s", exc.message)

    def _round(self) -> None:
        try:
            chain, _, _ = self._connected()
            for kind in (CHECKPOINT, DOCUMENTS):
                for job in self.jobs.open_jobs(kind, chain.chain_id, self._address(kind)):
                    if job.status == SENT and self.follower.follow(job, chain, *self._contracts()):
                        if not self._still_held():
                            return
                        self._sender.replace_if_stuck(job, chain)
            if not self._still_held():
                return
            self.follower.watch_confirmed(chain, *self._contracts())
            self._queue_checkpoint(chain)
            self._queue_documents(chain)
            for kind in (CHECKPOINT, DOCUMENTS):
                if not self._still_held():
                    return
                self._sender.send_next(kind, chain, contract=self._address(kind))
        except AnchorUnavailable as exc:
            error = self._explain(exc)
            self._drop_connection()
            if error is exc:
                raise
            raise error from exc

    def _explain(self, exc: AnchorUnavailable) -> AnchorUnavailable:
        """A clearer error when the reason a call failed is that our contract is gone (a reset dev chain)."""
        chain, anchor = self._chain, self._anchor
        if chain is None or anchor is None:
            return exc
        try:
            if not chain.has_code(anchor.address):
                return _missing_contract("LedgerAnchor", anchor.address, chain.chain_id)
        except LedgerError:
            pass
        return exc

    def _contracts(self) -> tuple[LedgerAnchorContract, DocumentRegistryContract]:
        assert self._anchor is not None and self._registry is not None
        return self._anchor, self._registry

    def _address(self, kind: str) -> str:
        """The current contract that jobs of ``kind`` go to."""
        contract = self._anchor if kind == CHECKPOINT else self._registry
        assert contract is not None
        return contract.address

    def _drop_connection(self) -> None:
        if self._chain is not None:
            with contextlib.suppress(LedgerError):
                self._chain.close()
        self._chain = self._anchor = self._registry = None

    # -- queueing ------------------------------------------------------------------------------------------

    def _queue_checkpoint(self, chain: Chain) -> None:
        latest = self.store.latest_checkpoint()
        if latest is None:
            return
        biggest = self.jobs.largest_checkpoint_job(chain.chain_id, self._address(CHECKPOINT))
        if biggest is not None and (biggest.tree_size or 0) >= latest.tree_size:
            return
        now = self._clock()
        if biggest is not None and now - self._last_enqueued < self.settings.anchor_interval:
            return
        anchor = self._anchor
        assert anchor is not None
        for job in self.jobs.open_jobs(CHECKPOINT, chain.chain_id, self._address(CHECKPOINT)):
            if job.status == PENDING and job.attempts == 0:  # never tried: a larger one does its work
                self.jobs.update_job(job.id, status=SKIPPED, expect={"status": PENDING, "attempts": 0},
                                     last_error=f"replaced by the checkpoint of size {latest.tree_size}")
        self.jobs.create_job(kind=CHECKPOINT, chain_id=chain.chain_id, contract=anchor.address,
                             tree_size=latest.tree_size, root=latest.root, at=utc_timestamp())
        self._last_enqueued = now

    def _queue_documents(self, chain: Chain) -> None:
        if self.jobs.open_jobs(DOCUMENTS, chain.chain_id, self._address(DOCUMENTS)):
            return
        ops = self.jobs.unassigned_ops(limit=DocumentRegistryContract.MAX_BATCH_SIZE)
        if not ops:
            return
        run = list(takewhile(lambda op: op.op == "register", ops)) or ops[:1]
        registry = self._registry
        assert registry is not None
        self.jobs.create_document_job([op.id for op in run], chain_id=chain.chain_id, contract=registry.address,
                                      at=utc_timestamp())

    # -- reading -------------------------------------------------------------------------------------------

    def check_anchors(self) -> list[tuple[str, str]]:
        """See :func:`ledger.anchoring.crosscheck.check_anchors`. Raises ``AnchorUnavailable``."""
        with self._lock:
            chain, anchor, _ = self._connected()
            return crosscheck.check_anchors(anchor, self.jobs, self.store, chain_id=chain.chain_id)

    def chain_roots(self) -> dict[int, tuple[str, bytes]]:
        """See :func:`ledger.anchoring.crosscheck.chain_roots`. Raises ``AnchorUnavailable``."""
        with self._lock:
            chain, anchor, _ = self._connected()
            return crosscheck.chain_roots(anchor, self.jobs, chain_id=chain.chain_id)

    def chain_id(self) -> int | None:
        return self._chain.chain_id if self._chain is not None else None

    def expected_chain_id(self) -> int | None:
        """The configured chain's id without connecting: the setting, the embedded chain's, or the connected one."""
        if self.settings.chain_id is not None:
            return self.settings.chain_id
        if self.settings.chain_url == EMBEDDED:
            from ledger.anchoring.embedded import EMBEDDED_CHAIN_ID

            return EMBEDDED_CHAIN_ID
        return self.chain_id()

    def addresses(self) -> dict[str, str]:
        chain_id = self.chain_id()
        return self.jobs.deployment(chain_id) if chain_id is not None else {}

    def document_status(self, digest: bytes) -> dict[str, Any]:
        """The chain's record of ``digest`` (status name, kind, version, registered_at, superseded_by)."""
        with self._lock:
            _, _, registry = self._connected()
            record = registry.document_status(digest)
        return {"status": record.status.name.lower(), "kind": record.kind, "subject": record.subject,
                "version": record.version, "registered_at": record.registered_at,
                "superseded_by": record.superseded_by if any(record.superseded_by) else None}


def _missing_contract(name: str, address: str, chain_id: int) -> AnchorUnavailable:
    return AnchorUnavailable(f"no {name} contract at {address} on chain {chain_id}: the chain was reset or is "
                             f"another one; run `lifeledger chain deploy --redeploy` to start anchoring anew")


def _shown(exc: Exception) -> str:
    """What ``/healthz`` and ``/v1/log/anchors`` may show of a failed round: a ledger error's own message (URLs
    scrubbed); of anything else only its kind, since its text may hold a driver's statement or a node's URL (the
    full error is in the server log)."""
    if isinstance(exc, LedgerError):
        return scrub(exc.message)
    return f"internal error ({type(exc).__name__}); the server log has the details"
