"""Auditing a log: this ledger's own with its keys (``lifeledger verify``), or a database copy from outside
with nothing but the verifier key and published evidence (``lifeledger audit``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ledger.claims import events as claim_events
from ledger.claims.projection import CLAIMS
from ledger.claims.recompute import ClaimMismatch, Recorded, verify_claim
from ledger.errors import ConfigurationError, NotFound, StorageError, VerificationError
from ledger.journal.audit import AuditReport, Problem, Progress, audit
from ledger.journal.opening import Opener
from ledger.log.note import NoteVerifier
from ledger.projections.base import Projector
from ledger.projections.registry import Registry
from ledger.services.anchoring import AnchorService
from ledger.servicing.events import COMPLETED, SUBMITTED, stream_of
from ledger.servicing.projection import REQUESTS
from ledger.servicing.recompute import verify_amount
from ledger.settings import describe_database, sqlite_file
from ledger.store import Store
from ledger.store.migrate import head_revision

__all__ = ["AuditReport", "AuditService", "Problem", "audit_copy", "current_revision", "schema_revision"]

# The servicing events that record an amount (with its inputs and versions), and the fact that holds it.
RECORDED_AMOUNTS = {SUBMITTED: "quote", COMPLETED: "amount"}

class AuditService:
    def __init__(self, store: Store, *, registry: Registry, vkey: str, ledger_public_key: bytes, origin: str,
                 master_key: bytes, anchoring: AnchorService) -> None:
        self._store = store
        self._registry = registry
        self._vkey = vkey
        self._ledger_public_key = ledger_public_key
        self._origin = origin
        self._master_key = master_key
        self._anchoring = anchoring

    def verify(self, *, chain: bool = False, progress: Progress | None = None) -> AuditReport:
        """Audit the whole log (see ``ledger.journal.audit.audit``); with ``chain``, hold it to the roots anchored
        on chain and check every confirmed anchor there. Raises ``AnchorUnavailable`` if the chain is needed and
        cannot be reached."""
        worker = self._anchoring.worker() if chain else None
        trusted = worker.chain_roots() if worker is not None else {}
        report = audit(self._store, verifier=NoteVerifier.from_vkey(self._vkey),
                       ledger_public_key=self._ledger_public_key, origin=self._origin,
                       master_key=self._master_key, trusted_roots=trusted, registry=self._registry,
                       progress=progress)
        if worker is not None:
            for where, what in worker.check_anchors():
                report.add(where, what)
        self._check_amounts(report)
        return report

    def _check_amounts(self, report: AuditReport) -> None:
        """Recompute every amount a servicing request recorded (its quote, and what it completed with) from the
        record's own inputs and parameters (``ledger.servicing.recompute``): the journal alone must reproduce it.
        Claims are recomputed first (``_check_claims``)."""
        self._check_claims(report)
        if REQUESTS not in self._store.rows.specs:
            return  # a ledger opened without the servicing projection (tools, tests) has no requests to find
        opener = Opener(self._store, self._master_key)
        for row in self._store.rows.scan(REQUESTS):
            for entry, facts in opener.stream(stream_of(row["request_id"])):
                name = RECORDED_AMOUNTS.get(entry.type)
                if name is not None:
                    record = facts.get(name) if facts is not None else None
                    if not isinstance(record, Mapping):
                        continue
                    report.amounts_checked += 1
                    try:
                        verify_amount(record)
                    except VerificationError as exc:
                        report.add(f"entry {entry.idx} ({entry.type})", f"{name}: {exc}")

    def _check_claims(self, report: AuditReport) -> None:
        """Recompute every claim's assessments, automatic approvals, decisions and payment instructions from its
        own stream (``ledger.claims.recompute``); a claim that does not add up is reported at the first entry that
        differs, with the records recomputed up to it counted."""
        if CLAIMS not in self._store.rows.specs:
            return  # a ledger opened without the claims projection has no claims to find
        opener = Opener(self._store, self._master_key)
        for row in self._store.rows.scan(CLAIMS):
            entries = opener.stream(claim_events.stream_of(row["claim_id"]))
            try:
                report.amounts_checked += verify_claim(Recorded(index=entry.idx, type=entry.type, facts=facts)
                                                       for entry, facts in entries)
            except ClaimMismatch as exc:
                report.amounts_checked += exc.checked
                report.add(f"entry {exc.index} ({exc.type})", f"claim {row['claim_id']}: {exc.what}")


def audit_copy(database_url: str, *, verifier: NoteVerifier, projectors: Iterable[Projector],
               trusted_roots: Mapping[int, tuple[str, bytes]] | None = None,
               key_evidence: Mapping[int, tuple[bytes, Any]] | None = None,
               progress: Progress | None = None) -> AuditReport:
    """Audit a ledger's database (a copy will do) without its keys directory or master key, and without changing
    it: the database is neither created nor migrated, and nothing is written to it.

    Everything is checked except the sealed payloads; key history is replayed from ``key_evidence`` (the key
    events the log publishes), and ``trusted_roots`` (saved checkpoints) hold the log to what was seen before.
    Requires the database to be at this code's schema revision (``current_revision``). Raises ``NotFound`` for a
    SQLite file that does not exist, ``ConfigurationError`` for a file that is not a SQLite database or a database
    at another revision, and ``StorageError`` if it cannot be read.
    """
    name = describe_database(database_url)
    path = sqlite_file(database_url)
    if path is not None:
        _check_sqlite_file(path)
    found, current = schema_revision(database_url), current_revision()
    if found != current:
        raise ConfigurationError(
            f"{name} is at schema revision {found}, and this lifeledger audits revision {current} only: it never "
            f"migrates the database it audits, so audit it with the lifeledger release that wrote it")
    registry = Registry(list(projectors))
    store = Store(database_url, specs=registry.specs.values(), read_only=True)  # never migrated nor written
    try:
        return audit(store, verifier=verifier, ledger_public_key=verifier.public_key, origin=verifier.name,
                     trusted_roots=trusted_roots, key_evidence=key_evidence, registry=registry, progress=progress)
    finally:
        store.close()


def _check_sqlite_file(path: Path) -> None:
    """Refuse a SQLite file that is missing or is not a SQLite database (``NotFound``, ``ConfigurationError``)."""
    try:
        if not path.is_file():
            raise NotFound(f"no database at {path.resolve()}")
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path.resolve()}: {exc.strerror or exc}") from exc
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise ConfigurationError(f"{path.resolve()} is not a SQLite database")


def schema_revision(database_url: str) -> str:
    """The schema revision recorded in the database at ``database_url``, read without writing to it.

    Raises ``StorageError`` if the database cannot be read or records no revision (not a lifeledger database).
    """
    store = Store(database_url, read_only=True)
    try:
        found = store.revision()
    finally:
        store.close()
    if found is None:
        raise StorageError(f"{describe_database(database_url)} records no lifeledger schema revision (is it a "
                           f"lifeledger database?)")
    return found


def current_revision() -> str:
    """The schema revision this code migrates a database to."""
    return head_revision()
