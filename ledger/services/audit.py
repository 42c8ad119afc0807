"""Auditing a log: this ledger's own with its keys (``lifeledger verify``), or a database copy from outside
with nothing but the verifier key and published evidence (``lifeledger audit``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger.journal.audit import AuditReport, Problem, Progress, audit
from ledger.log.note import NoteVerifier
from ledger.projections.base import Projector
from ledger.projections.registry import Registry
from ledger.services.anchoring import AnchorService
from ledger.store import Store

__all__ = ["AuditReport", "AuditService", "Problem", "audit_copy"]


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
        return report


def audit_copy(database_url: str, *, verifier: NoteVerifier, projectors: Iterable[Projector],
               trusted_roots: Mapping[int, tuple[str, bytes]] | None = None,
               key_evidence: Mapping[int, tuple[bytes, Any]] | None = None,
               progress: Progress | None = None) -> AuditReport:
    """Audit a ledger's database (a copy will do) without its keys directory or master key.

    Everything is checked except the sealed payloads; key history is replayed from ``key_evidence`` (the key
    events the log publishes), and ``trusted_roots`` (saved checkpoints) hold the log to what was seen before.
    Raises ``StorageError`` if the database cannot be opened.
    """
    registry = Registry(list(projectors))
    store = Store.open(database_url, specs=registry.specs.values())
    try:
        return audit(store, verifier=verifier, ledger_public_key=verifier.public_key, origin=verifier.name,
                     trusted_roots=trusted_roots, key_evidence=key_evidence, registry=registry, progress=progress)
    finally:
        store.close()
