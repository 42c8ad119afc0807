"""Storage the domain needs beside the journal: uploaded files by content, answers to idempotent commands,
the doc-op chain state of a digest, and the notices outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ledger.store import schema as t
from ledger.store.database import storage_error


@dataclass(frozen=True)
class Upload:
    digest: bytes
    subject: str
    media_type: str
    size: int
    data: bytes
    created_at: str


@dataclass(frozen=True)
class Remembered:
    """The first answer given to one caller's idempotency key, and a hash of the request it answered."""

    request_hash: bytes
    status: int
    body: bytes


@dataclass(frozen=True)
class ChainRegistration:
    """Where a document operation stands on chain: its job's chain, contract, transaction and block."""

    op: str
    status: str
    chain_id: int | None
    contract: str | None
    tx_hash: bytes | None
    block_number: int | None
    confirmations: int


class DomainStore:
    """Uploads, idempotency answers, the notices outbox, and the chain state of document operations."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- uploads ---------------------------------------------------------------------------------------------

    def put_upload(self, upload: Upload) -> bool:
        """Store a file once; returns False if the same bytes were stored before (the first owner keeps it)."""
        try:
            with self._engine.begin() as conn:
                found = conn.execute(select(t.uploads.c.digest).where(t.uploads.c.digest == upload.digest)).first()
                if found is not None:
                    return False
                conn.execute(insert(t.uploads).values(
                    digest=upload.digest, subject=upload.subject, media_type=upload.media_type, size=upload.size,
                    data=upload.data, created_at=upload.created_at))
                return True
        except IntegrityError:
            return False  # stored meanwhile by another request
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="storing an upload") from exc

    def upload(self, digest: bytes) -> Upload | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(t.uploads).where(t.uploads.c.digest == digest)).first()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading an upload") from exc
        if row is None:
            return None
        return Upload(digest=bytes(row.digest), subject=row.subject, media_type=row.media_type, size=row.size,
                      data=bytes(row.data), created_at=row.created_at)

    def delete_uploads(self, subject: str) -> int:
        """Delete every file of a data subject (on erasure); returns how many."""
        try:
            with self._engine.begin() as conn:
                return int(conn.execute(delete(t.uploads).where(t.uploads.c.subject == subject)).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="deleting uploads") from exc

    # -- idempotency -----------------------------------------------------------------------------------------

    def remembered(self, principal: str, key: str) -> Remembered | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(t.idempotency).where(t.idempotency.c.principal == principal,
                                                               t.idempotency.c.key == key)).first()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading an idempotency key") from exc
        return None if row is None else Remembered(bytes(row.request_hash), int(row.status), bytes(row.body))

    def remember(self, principal: str, key: str, answer: Remembered, *, at: str) -> Remembered:
        """Keep the first answer for (principal, key); if another request kept one first, return that one."""
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(t.idempotency).values(
                    principal=principal, key=key, request_hash=answer.request_hash, status=answer.status,
                    body=answer.body, created_at=at))
            return answer
        except IntegrityError:
            first = self.remembered(principal, key)
            assert first is not None
            return first
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="keeping an idempotent answer") from exc

    # -- notices outbox --------------------------------------------------------------------------------------

    def notices(self, *, undelivered: bool = True, limit: int = 100) -> list[dict[str, Any]]:
        query = select(t.policy_notices).order_by(t.policy_notices.c.id).limit(limit)
        if undelivered:
            query = query.where(t.policy_notices.c.delivered_at.is_(None))
        try:
            with self._engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading notices") from exc

    def mark_delivered(self, ids: list[int], *, at: str) -> int:
        try:
            with self._engine.begin() as conn:
                return int(conn.execute(update(t.policy_notices).where(t.policy_notices.c.id.in_(ids),
                                                                         t.policy_notices.c.delivered_at.is_(None))
                                        .values(delivered_at=at)).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="marking notices delivered") from exc

    # -- documents on chain ----------------------------------------------------------------------------------

    def chain_registrations(self, digest: bytes) -> list[ChainRegistration]:
        """The chain jobs that carried operations on ``digest`` (register, supersede, revoke), oldest first."""
        ops, jobs = t.document_ops, t.anchor_jobs
        query = (select(ops.c.op, jobs.c.status, jobs.c.chain_id, jobs.c.contract, jobs.c.tx_hash,
                        jobs.c.block_number, jobs.c.confirmations)
                 .select_from(ops.outerjoin(jobs, jobs.c.id == ops.c.job_id))
                 .where((ops.c.digest == digest) | (ops.c.old_digest == digest)).order_by(ops.c.id))
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading document operations") from exc
        return [ChainRegistration(op=row.op, status=row.status or "queued", chain_id=row.chain_id,
                                  contract=row.contract, tx_hash=bytes(row.tx_hash) if row.tx_hash else None,
                                  block_number=row.block_number, confirmations=int(row.confirmations or 0))
                for row in rows]
