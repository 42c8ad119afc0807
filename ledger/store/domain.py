"""Storage the domain needs beside the journal: uploaded files by content, answers to idempotent commands,
the doc-op chain state of a digest, and the notices outbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ledger.errors import StorageError
from ledger.store import schema as t
from ledger.store.database import storage_error
from ledger.store.locking import WriteLock
from ledger.store.readers import ReaderPool


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

    def __init__(self, engine: Engine, *, write_lock: WriteLock | None = None,
                 readers: ReaderPool | None = None) -> None:
        self._engine = engine
        self._readers = readers  # pooled DBAPI connections for the reads every application makes
        self._mark = "?" if engine.dialect.name == "sqlite" else "%s"
        self._write_lock = write_lock  # the journal writer's, on SQLite (see WriterSession)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction, taken in turn with the journal writer on SQLite."""
        if self._write_lock is None:
            with self._engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self._engine.begin() as conn:
            yield conn

    # -- uploads ---------------------------------------------------------------------------------------------

    def put_upload(self, upload: Upload) -> None:
        """Store a file once and record ``upload.subject`` as one of its owners, in one transaction of two
        insert-or-ignore statements (no read first: a read-then-write transaction on SQLite can lose the lock to
        a commit in between, and the primary keys say what is new).

        On PostgreSQL the file's row is locked before the owner is added, so an erasure deleting the files
        nobody else owns (``delete_uploads``) waits for this owner, or has deleted the file already and it is
        stored again; SQLite takes whole write transactions one at a time."""
        data = {"digest": upload.digest, "subject": upload.subject, "media_type": upload.media_type,
                "size": upload.size, "data": upload.data, "created_at": upload.created_at}
        owner = {"digest": upload.digest, "subject": upload.subject, "created_at": upload.created_at}
        try:
            with self._writing() as conn:
                conn.execute(self._insert_or_ignore(t.uploads, ["digest"]), [data])
                if self._engine.dialect.name == "postgresql":
                    self._hold_upload(conn, data)
                conn.execute(self._insert_or_ignore(t.upload_owners, ["digest", "subject"]), [owner])
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="storing an upload") from exc

    def _hold_upload(self, conn: Connection, data: dict[str, Any]) -> None:
        """Lock the file's row until the transaction ends; store it again if an erasure deleted it meanwhile."""
        held = select(t.uploads.c.digest).where(t.uploads.c.digest == data["digest"]).with_for_update()
        for _ in range(5):
            if conn.execute(held).first() is not None:
                return
            conn.execute(self._insert_or_ignore(t.uploads, ["digest"]), [data])
        raise StorageError("the upload was deleted by erasures five times over while it was stored; send it again")

    def _insert_or_ignore(self, table: Any, key: list[str]) -> Any:
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing(index_elements=key)
        return insert(table).prefix_with("OR IGNORE")

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

    def upload_owned(self, digest: bytes, subjects: set[str]) -> bool:
        """Whether one of ``subjects`` owns the file with this digest."""
        if not subjects:
            return False
        try:
            with self._engine.connect() as conn:
                # An owner row without its file (the last other owner erased in between) owns nothing.
                row = conn.execute(select(t.upload_owners.c.subject)
                                   .join(t.uploads, t.uploads.c.digest == t.upload_owners.c.digest)
                                   .where(t.upload_owners.c.digest == digest,
                                          t.upload_owners.c.subject.in_(sorted(subjects)))).first()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading an upload") from exc
        return row is not None

    def delete_uploads(self, subject: str) -> int:
        """Forget a data subject as an owner (on erasure) and delete those of its files nobody else owns; returns
        how many files were deleted.

        On PostgreSQL the subject's files are locked first (in digest order, as an upload locks its file before
        adding its owner: one order, no deadlock), then its owner rows are deleted, then any file whose owner row
        was committed in between is locked too, and only then are the files nobody owns deleted: an upload of one
        of them by another owner, under way, is seen."""
        owners = t.upload_owners
        theirs = select(owners.c.digest).where(owners.c.subject == subject)
        locking = self._engine.dialect.name == "postgresql"
        try:
            with self._writing() as conn:
                locked = self._lock_uploads(conn, theirs) if locking else set()
                removed = conn.execute(delete(owners).where(owners.c.subject == subject).returning(owners.c.digest))
                digests = sorted({bytes(row[0]) for row in removed})
                if not digests:
                    return 0
                if locking and set(digests) - locked:
                    self._lock_uploads(conn, sorted(set(digests) - locked))
                orphaned = ~select(owners.c.digest).where(owners.c.digest == t.uploads.c.digest).exists()
                return int(conn.execute(delete(t.uploads).where(t.uploads.c.digest.in_(digests), orphaned)).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="deleting uploads") from exc

    def _lock_uploads(self, conn: Connection, digests: Any) -> set[bytes]:
        """Lock the ``uploads`` rows of these digests (a list, or a select of them) until the transaction ends;
        returns the digests locked."""
        rows = conn.execute(select(t.uploads.c.digest).where(t.uploads.c.digest.in_(digests))
                            .order_by(t.uploads.c.digest).with_for_update())
        return {bytes(row[0]) for row in rows}

    # -- the party index -------------------------------------------------------------------------------------

    def parties_of(self, fingerprints: list[bytes]) -> dict[bytes, str]:
        """The parties these fingerprints name (absent ones are left out), in one read."""
        if not fingerprints:
            return {}
        if self._readers is not None:
            marks = ", ".join([self._mark] * len(fingerprints))
            rows = self._readers.query(f"SELECT fingerprint, party_id FROM party_index WHERE fingerprint IN ({marks})",
                                       fingerprints)
            return {bytes(fingerprint): str(party_id) for fingerprint, party_id in rows}
        try:
            with self._engine.connect() as conn:
                found = conn.execute(select(t.party_index).where(t.party_index.c.fingerprint.in_(fingerprints)))
                return {bytes(row.fingerprint): str(row.party_id) for row in found}
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading the party index") from exc

    def party_of(self, fingerprint: bytes) -> str | None:
        if self._readers is not None:
            rows = self._readers.query(f"SELECT party_id FROM party_index WHERE fingerprint = {self._mark}",
                                       (fingerprint,))
            return str(rows[0][0]) if rows else None
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(t.party_index.c.party_id)
                                   .where(t.party_index.c.fingerprint == fingerprint)).first()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading the party index") from exc
        return None if row is None else str(row.party_id)

    def forget_party(self, party_id: str) -> int:
        """Delete a party's index rows (on erasure); returns how many."""
        try:
            with self._writing() as conn:
                return int(conn.execute(delete(t.party_index).where(t.party_index.c.party_id == party_id)).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="deleting from the party index") from exc

    # -- idempotency -----------------------------------------------------------------------------------------

    def remembered(self, principal: str, key: str) -> Remembered | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(t.idempotency).where(t.idempotency.c.principal == principal,
                                                               t.idempotency.c.key == key)).first()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading an idempotency key") from exc
        return None if row is None else Remembered(bytes(row.request_hash), int(row.status), bytes(row.body))

    def reserve(self, principal: str, key: str, request_hash: bytes, *, at: str,
                stale_before: str = "") -> Remembered | None:
        """Claim (principal, key) for a request about to run (status 0, no body); returns None when claimed, or
        the row another request holds (still running: status 0; finished: its answer). A claim with no answer
        made before ``stale_before`` (same timestamp format) is taken over for the same request."""
        try:
            with self._writing() as conn:
                conn.execute(insert(t.idempotency).values(principal=principal, key=key, request_hash=request_hash,
                                                          status=0, body=b"", created_at=at))
            return None
        except IntegrityError:
            held = self.remembered(principal, key)
            if held is None:  # released meanwhile: claim it again
                return self.reserve(principal, key, request_hash, at=at, stale_before=stale_before)
            if held.status == 0 and held.request_hash == request_hash and stale_before:
                try:
                    with self._writing() as conn:
                        taken = conn.execute(update(t.idempotency).where(
                            t.idempotency.c.principal == principal, t.idempotency.c.key == key,
                            t.idempotency.c.status == 0, t.idempotency.c.created_at < stale_before,
                        ).values(created_at=at)).rowcount
                except SQLAlchemyError as exc:
                    raise storage_error(exc, doing="claiming an idempotency key") from exc
                if taken:
                    return None
            return held
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="claiming an idempotency key") from exc

    def settle(self, principal: str, key: str, *, status: int, body: bytes) -> None:
        """Keep the answer of a claimed key."""
        try:
            with self._writing() as conn:
                conn.execute(update(t.idempotency).where(t.idempotency.c.principal == principal,
                                                         t.idempotency.c.key == key)
                             .values(status=status, body=body))
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="keeping an idempotent answer") from exc

    def release(self, principal: str, key: str) -> None:
        """Give up a claimed key whose request failed (a retry may use it again)."""
        try:
            with self._writing() as conn:
                conn.execute(delete(t.idempotency).where(t.idempotency.c.principal == principal,
                                                         t.idempotency.c.key == key,
                                                         t.idempotency.c.status == 0))
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="releasing an idempotency key") from exc

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
            with self._writing() as conn:
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
