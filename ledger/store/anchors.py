"""Storage of the anchoring outbox: deployments, chain jobs and queued document operations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ledger.errors import Conflict, NotFound
from ledger.store import schema as t
from ledger.store.database import storage_error

CHECKPOINT, DOCUMENTS = "checkpoint", "documents"
PENDING, SENT, CONFIRMED, SKIPPED, FAILED = "pending", "sent", "confirmed", "skipped", "failed"
OPEN_STATUSES = (PENDING, SENT)


@dataclass(frozen=True)
class AnchorJob:
    id: int
    kind: str
    chain_id: int
    contract: str
    tree_size: int | None
    root: bytes | None
    status: str
    tx_hash: bytes | None
    block_number: int | None
    block_hash: bytes | None
    confirmations: int
    attempts: int
    last_error: str | None
    next_attempt_at: float
    created_at: str
    sent_at: str | None
    confirmed_at: str | None


@dataclass(frozen=True)
class Lease:
    """Who holds a lease until when, and how the holder's last round ended (``round_at`` None: none yet)."""

    owner: str
    expires_at: float
    round_at: float | None
    last_error: str | None


@dataclass(frozen=True)
class DocumentOp:
    id: int
    idx: int | None  # the journal index of the document.* event behind it
    op: str
    digest: bytes
    subject: bytes | None
    kind: int | None
    version: int | None
    old_digest: bytes | None
    reason_code: int | None
    job_id: int | None
    created_at: str


def _plain(row: Any) -> dict[str, Any]:
    """A row as a dict, with binary columns as bytes (drivers may hand back memoryview)."""
    return {name: (bytes(value) if isinstance(value, memoryview) else value) for name, value in row._mapping.items()}


def _job(row: Any) -> AnchorJob:
    return AnchorJob(**_plain(row))


def _op(row: Any) -> DocumentOp:
    return DocumentOp(**_plain(row))


class AnchorStore:
    """Reads and writes the anchoring tables on the ledger's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads; a driver's error becomes ``StorageError`` (its raw text stays in the log)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading the anchoring outbox") from exc

    def _write(self, statement: Any) -> Any:
        try:
            with self.engine.begin() as conn:
                return conn.execute(statement)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="writing the anchoring outbox") from exc

    # -- deployments ---------------------------------------------------------------------------------------

    def deployment(self, chain_id: int) -> dict[str, str]:
        with self._reading() as conn:
            rows = conn.execute(select(t.chain_deployments).where(t.chain_deployments.c.chain_id == chain_id))
            return {row.contract: row.address for row in rows}

    def record_deployment(self, chain_id: int, addresses: dict[str, str], *, at: str, replace: bool = False) -> None:
        """Record where the contracts live on ``chain_id``; the first record per contract wins unless ``replace``.

        Replacing (after a development chain was reset) retires every job on that chain, confirmed ones too:
        their transactions went with the old chain, so they prove nothing any more. A reset chain may even
        reuse the old addresses, which is why jobs are retired by chain, not by address.
        """
        if replace:
            try:
                with self.engine.begin() as conn:
                    conn.execute(delete(t.chain_deployments).where(t.chain_deployments.c.chain_id == chain_id))
                    retired = select(t.anchor_jobs.c.id).where(
                        t.anchor_jobs.c.chain_id == chain_id, t.anchor_jobs.c.kind == DOCUMENTS,
                        t.anchor_jobs.c.status.in_((*OPEN_STATUSES, CONFIRMED)))
                    # The old registry went with the chain: every document operation is sent again, in order.
                    conn.execute(update(t.document_ops).where(t.document_ops.c.job_id.in_(retired)).values(job_id=None))
                    conn.execute(update(t.anchor_jobs)
                                 .where(t.anchor_jobs.c.chain_id == chain_id,
                                        t.anchor_jobs.c.status.in_((*OPEN_STATUSES, CONFIRMED)))
                                 .values(status=SKIPPED, last_error=f"retired: contracts redeployed at {at} "
                                                                    f"after the chain was reset"))
            except SQLAlchemyError as exc:
                raise storage_error(exc, doing="writing the anchoring outbox") from exc
        for contract, address in addresses.items():
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(t.chain_deployments).values(chain_id=chain_id, contract=contract,
                                                                    address=address, deployed_at=at))
            except IntegrityError:
                continue  # recorded already (by another process): the first record wins
            except SQLAlchemyError as exc:
                raise storage_error(exc, doing="recording a contract deployment") from exc

    # -- jobs ----------------------------------------------------------------------------------------------

    def create_job(self, *, kind: str, chain_id: int, contract: str, at: str, tree_size: int | None = None,
                   root: bytes | None = None) -> int:
        result = self._write(insert(t.anchor_jobs).values(
            kind=kind, chain_id=chain_id, contract=contract, tree_size=tree_size, root=root, status=PENDING,
            confirmations=0, attempts=0, next_attempt_at=0.0, created_at=at))
        return int(result.inserted_primary_key[0])

    def update_job(self, job_id: int, *, expect: Mapping[str, Any] | None = None, **values: Any) -> bool:
        """Set ``values`` on job ``job_id``; True if its row changed.

        With ``expect`` (column -> value) it is a compare-and-set: the row changes only while those columns still
        hold those values, so a process acting on a job as it read it a moment ago cannot overwrite what another
        process (one that took the anchoring lease over) has done with it since.
        """
        statement = update(t.anchor_jobs).where(t.anchor_jobs.c.id == job_id)
        for name, value in (expect or {}).items():
            column = t.anchor_jobs.c[name]
            statement = statement.where(column.is_(None) if value is None else column == value)
        return bool(self._write(statement.values(**values)).rowcount)

    def job(self, job_id: int) -> AnchorJob:
        """An anchoring job; raises ``NotFound``."""
        with self._reading() as conn:
            row = conn.execute(select(t.anchor_jobs).where(t.anchor_jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no anchoring job {job_id}", field="job_id")
        return _job(row)

    def open_jobs(self, kind: str, chain_id: int, contract: str) -> list[AnchorJob]:
        """Jobs of ``kind`` still pending or sent to ``contract`` on ``chain_id``, oldest first."""
        query = (select(t.anchor_jobs)
                 .where(t.anchor_jobs.c.kind == kind, t.anchor_jobs.c.chain_id == chain_id,
                        t.anchor_jobs.c.contract == contract, t.anchor_jobs.c.status.in_(OPEN_STATUSES))
                 .order_by(t.anchor_jobs.c.id))
        with self._reading() as conn:
            return [_job(row) for row in conn.execute(query)]

    def recent_jobs(self, *, kind: str | None = None, limit: int = 50) -> list[AnchorJob]:
        query = select(t.anchor_jobs).order_by(t.anchor_jobs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(t.anchor_jobs.c.kind == kind)
        with self._reading() as conn:
            return [_job(row) for row in conn.execute(query)]

    def largest_checkpoint_job(self, chain_id: int, contract: str) -> AnchorJob | None:
        """The checkpoint job for ``contract`` with the largest tree size that is not skipped.

        Failed jobs count: a size the contract refused is not queued again, only a larger one.
        """
        query = (select(t.anchor_jobs)
                 .where(t.anchor_jobs.c.kind == CHECKPOINT, t.anchor_jobs.c.chain_id == chain_id,
                        t.anchor_jobs.c.contract == contract,
                        t.anchor_jobs.c.status.in_((PENDING, SENT, CONFIRMED, FAILED)))
                 .order_by(t.anchor_jobs.c.tree_size.desc()).limit(1))
        with self._reading() as conn:
            row = conn.execute(query).first()
        return _job(row) if row is not None else None

    def confirmed_anchor_covering(self, index: int, *, contract: str | None = None) -> AnchorJob | None:
        """The smallest confirmed checkpoint anchor (to ``contract``, if given) whose tree includes ``index``."""
        query = (select(t.anchor_jobs)
                 .where(t.anchor_jobs.c.kind == CHECKPOINT, t.anchor_jobs.c.status == CONFIRMED,
                        t.anchor_jobs.c.tree_size > index)
                 .order_by(t.anchor_jobs.c.tree_size).limit(1))
        if contract is not None:
            query = query.where(t.anchor_jobs.c.contract == contract)
        with self._reading() as conn:
            row = conn.execute(query).first()
        return _job(row) if row is not None else None

    def current_contract(self, name: str) -> str | None:
        """Address of contract ``name`` in the most recent deployment on any chain."""
        query = (select(t.chain_deployments.c.address).where(t.chain_deployments.c.contract == name)
                 .order_by(t.chain_deployments.c.deployed_at.desc()).limit(1))
        with self._reading() as conn:
            return conn.execute(query).scalar_one_or_none()

    def largest_confirmed(self, *, contract: str | None) -> AnchorJob | None:
        """The confirmed checkpoint anchor with the largest tree size (to ``contract``, if given)."""
        query = (select(t.anchor_jobs).where(t.anchor_jobs.c.kind == CHECKPOINT, t.anchor_jobs.c.status == CONFIRMED)
                 .order_by(t.anchor_jobs.c.tree_size.desc()).limit(1))
        if contract is not None:
            query = query.where(t.anchor_jobs.c.contract == contract)
        with self._reading() as conn:
            row = conn.execute(query).first()
        return _job(row) if row is not None else None

    def count_jobs(self) -> dict[str, int]:
        query = select(t.anchor_jobs.c.status, func.count()).group_by(t.anchor_jobs.c.status)
        with self._reading() as conn:
            return {status: int(count) for status, count in conn.execute(query)}

    def try_lease(self, name: str, *, owner: str, ttl: float, now: float) -> bool:
        """Take or renew lease ``name`` for ``owner`` until ``now + ttl``; False while another owner holds it."""
        try:
            with self.engine.begin() as conn:
                renewed = conn.execute(
                    update(t.leases).where(t.leases.c.name == name, t.leases.c.owner == owner)
                    .values(expires_at=now + ttl)).rowcount
                if renewed:
                    return True
                # Taken over from an owner whose lease ran out: that owner's last round is not this one's.
                taken = conn.execute(
                    update(t.leases).where(t.leases.c.name == name, t.leases.c.expires_at < now)
                    .values(owner=owner, expires_at=now + ttl, round_at=None, last_error=None)).rowcount
                if taken:
                    return True
                if conn.execute(select(t.leases.c.name).where(t.leases.c.name == name)).first() is not None:
                    return False
                conn.execute(insert(t.leases).values(name=name, owner=owner, expires_at=now + ttl))
                return True
        except IntegrityError:  # another process created the lease first
            return False
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="writing the anchoring outbox") from exc

    def note_round(self, name: str, *, owner: str, at: float, error: str | None) -> None:
        """Record how ``owner``'s round under lease ``name`` ended (``error`` None: it succeeded); nothing if the
        lease has passed to another owner meanwhile."""
        self._write(update(t.leases).where(t.leases.c.name == name, t.leases.c.owner == owner)
                    .values(round_at=at, last_error=error))

    def lease(self, name: str) -> Lease | None:
        """Lease ``name`` as recorded, or None if no process has taken it."""
        query = select(t.leases.c.owner, t.leases.c.expires_at, t.leases.c.round_at, t.leases.c.last_error).where(
            t.leases.c.name == name)
        with self._reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else Lease(owner=row.owner, expires_at=float(row.expires_at),
                                              round_at=None if row.round_at is None else float(row.round_at),
                                              last_error=row.last_error)

    def release_lease(self, name: str, *, owner: str) -> None:
        self._write(delete(t.leases).where(t.leases.c.name == name, t.leases.c.owner == owner))

    # -- document operations -------------------------------------------------------------------------------

    def unassigned_ops(self, *, limit: int) -> list[DocumentOp]:
        query = (select(t.document_ops).where(t.document_ops.c.job_id.is_(None))
                 .order_by(t.document_ops.c.id).limit(limit))
        with self._reading() as conn:
            return [_op(row) for row in conn.execute(query)]

    def create_document_job(self, op_ids: Sequence[int], *, chain_id: int, contract: str, at: str) -> int:
        """Create a documents job and assign ``op_ids`` to it in one transaction."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(insert(t.anchor_jobs).values(
                    kind=DOCUMENTS, chain_id=chain_id, contract=contract, status=PENDING, confirmations=0,
                    attempts=0, next_attempt_at=0.0, created_at=at))
                job_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                assigned = conn.execute(update(t.document_ops)
                                        .where(t.document_ops.c.id.in_(list(op_ids)), t.document_ops.c.job_id.is_(None))
                                        .values(job_id=job_id)).rowcount
                if assigned != len(op_ids):
                    raise Conflict("document operations were taken by another job meanwhile")
                return job_id
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="writing the anchoring outbox") from exc

    def ops_of_job(self, job_id: int) -> list[DocumentOp]:
        query = select(t.document_ops).where(t.document_ops.c.job_id == job_id).order_by(t.document_ops.c.id)
        with self._reading() as conn:
            return [_op(row) for row in conn.execute(query)]
