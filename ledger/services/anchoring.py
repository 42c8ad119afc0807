"""Anchoring as the edges see it: what is anchored where (a typed status) and proofs that an entry is anchored."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ledger.errors import AnchorUnavailable, NotFound
from ledger.services.log import ConsistencyProof, InclusionProof, LogService
from ledger.store import CheckpointRow
from ledger.store.anchors import CHECKPOINT, AnchorJob, AnchorStore

if TYPE_CHECKING:
    from ledger.anchoring.worker import Anchorer

__all__ = ["AnchorJob", "AnchorProof", "AnchorService", "AnchorStatus", "Deployment", "safe_url"]


@dataclass(frozen=True)
class AnchorStatus:
    """Where anchoring stands: the chain and contracts, the largest anchored size, the lag, and recent anchors."""

    configured: bool
    chain: str | None  # "embedded" or the JSON-RPC URL cut to scheme://host:port
    chain_id: int | None
    contracts: dict[str, str]
    log_size: int
    anchored_tree_size: int
    lag: int
    last_error: str | None  # how the last round of the process doing the work ended (this one or another)
    jobs: dict[str, int]  # anchoring transactions by status
    anchors: list[AnchorJob]  # recent checkpoint anchors, newest first
    standby: bool  # another process holds the anchoring lease and has not said yet how a round of it ended

    @property
    def failed(self) -> int:
        return self.jobs.get("failed", 0)


@dataclass(frozen=True)
class Deployment:
    """The contracts anchoring uses on a chain, and whether they were deployed just now."""

    chain_id: int
    contracts: dict[str, str]  # contract name -> address
    new: bool


@dataclass(frozen=True)
class AnchorProof:
    """Why entry ``index`` is covered by a root anchored on chain.

    ``inclusion`` proves the entry in its first checkpoint; ``consistency`` proves that checkpoint's tree is a
    prefix of the anchored one; ``anchored_inclusion`` proves the entry directly in the anchored tree.
    """

    index: int
    leaf: bytes
    leaf_hash: bytes
    checkpoint: CheckpointRow
    inclusion: InclusionProof
    anchored: AnchorJob
    anchored_checkpoint: CheckpointRow
    consistency: ConsistencyProof
    anchored_inclusion: InclusionProof


class AnchorService:
    def __init__(self, jobs: AnchorStore, *, log: LogService, anchorer: Anchorer | None, chain_url: str) -> None:
        self.jobs = jobs
        self._log = log
        self.anchorer = anchorer
        self._chain = safe_url(chain_url)

    @property
    def configured(self) -> bool:
        return self.anchorer is not None

    def worker(self) -> Anchorer:
        """The anchoring worker; raises ``AnchorUnavailable`` when anchoring is off."""
        if self.anchorer is None:
            raise AnchorUnavailable("anchoring is off (LIFELEDGER_CHAIN_URL=none)")
        return self.anchorer

    def deploy(self, *, redeploy: bool = False) -> Deployment:
        """Deploy the contracts on the configured chain unless they are recorded there already.

        ``redeploy`` deploys anew (after a development chain was reset). Raises ``AnchorUnavailable`` when
        anchoring is off or the chain cannot be reached, ``ValidationFailed`` for ``redeploy`` while the recorded
        contracts are still on the chain.
        """
        chain_id, contracts, new = self.worker().deploy(redeploy=redeploy)
        return Deployment(chain_id=chain_id, contracts=contracts, new=new)

    def run_once(self) -> None:
        """One anchoring round in this process: follow what was sent, queue new work, send what is due.

        Stands by (does nothing) while another process holds the anchoring lease. Raises ``AnchorUnavailable``
        when anchoring is off or the chain cannot be reached.
        """
        self.worker().run_once()

    def status(self, *, limit: int = 20) -> AnchorStatus:
        """What is anchored where: configuration, the latest confirmed anchor, lag, and recent jobs."""
        size = self._log.size()
        jobs = self.jobs.recent_jobs(kind=CHECKPOINT, limit=limit)
        chain_id = self.anchorer.expected_chain_id() if self.anchorer is not None else None
        if chain_id is None and jobs:
            chain_id = jobs[0].chain_id
        latest = self.jobs.largest_confirmed(contract=self._current_contract())
        anchored = latest.tree_size or 0 if latest is not None else 0
        last_error, standby = self._last_round()
        return AnchorStatus(
            configured=self.anchorer is not None, chain=self._chain if self.anchorer is not None else None,
            chain_id=chain_id, contracts=self.jobs.deployment(chain_id) if chain_id is not None else {},
            log_size=size, anchored_tree_size=anchored, lag=size - anchored,
            last_error=last_error, jobs=self.jobs.count_jobs(), anchors=jobs, standby=standby)

    def _last_round(self) -> tuple[str | None, bool]:
        """(error of the last anchoring round, whether its outcome is unknown here).

        A process standing by reports the lease holder's last round, so that every process serving one database
        (``serve --workers``, or several hosts) tells the same story; until the holder has finished a round, or
        once its lease has run out, the standby process knows nothing and says so.
        """
        if self.anchorer is None:
            return None, False
        if not self.anchorer.standby:
            return self.anchorer.last_error, False
        lease = self.jobs.lease("anchoring")
        if lease is None or lease.round_at is None or lease.expires_at < time.time():
            return None, True
        return lease.last_error, False

    def proof(self, index: int) -> AnchorProof:
        """Proofs that entry ``index`` is covered by a confirmed on-chain anchor. Raises ``NotFound``."""
        row = self._log.entry(index)
        anchored = self.jobs.confirmed_anchor_covering(index, contract=self._current_contract())
        if anchored is None or anchored.tree_size is None:
            raise NotFound(f"entry {index} is not yet covered by a confirmed anchor; see /v1/log/anchors",
                           field="index")
        first = self._log.first_checkpoint_covering(index)
        if first is None:
            raise NotFound(f"entry {index} is covered by no checkpoint", field="index")
        size = first.tree_size
        consistency = (self._log.consistency_proof(first=size, second=anchored.tree_size)
                       if size < anchored.tree_size else ConsistencyProof(size, size, []))
        return AnchorProof(index=index, leaf=row.leaf, leaf_hash=row.leaf_hash, checkpoint=first,
                           inclusion=self._log.inclusion_proof(index=index, tree_size=size), anchored=anchored,
                           anchored_checkpoint=self._log.checkpoint(anchored.tree_size), consistency=consistency,
                           anchored_inclusion=self._log.inclusion_proof(index=index, tree_size=anchored.tree_size))

    def _current_contract(self) -> str | None:
        """Address of the LedgerAnchor that anchors go to on the configured chain, if one is recorded."""
        chain_id = self.anchorer.expected_chain_id() if self.anchorer is not None else None
        if chain_id is not None:
            return self.jobs.deployment(chain_id).get("LedgerAnchor")
        return self.jobs.current_contract("LedgerAnchor")


def safe_url(url: str) -> str:
    """A chain URL cut to scheme, host and port (user info, path and query may hold API keys)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
