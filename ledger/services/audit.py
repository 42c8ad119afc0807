"""Auditing this ledger's own log with its keys: ``lifeledger verify`` (and the chain's roots, if asked)."""

from __future__ import annotations

from ledger.journal.audit import AuditReport, Progress, audit
from ledger.log.note import NoteVerifier
from ledger.projections.registry import Registry
from ledger.services.anchoring import AnchorService
from ledger.store import Store


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
                       **({"progress": progress} if progress is not None else {}))
        if worker is not None:
            for where, what in worker.check_anchors():
                report.add(where, what)
        return report
