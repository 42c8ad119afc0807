"""Whole-log audit: recompute everything the ledger claims from the journal alone and name every mismatch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto.ed25519 import describe_public_key
from ledger.crypto.keys import LEDGER_KEY_ID, verify_signature
from ledger.errors import LedgerError, SignatureError
from ledger.journal.audit_payloads import PayloadChecker
from ledger.journal.audit_tree import TreeChecker
from ledger.journal.replay import Replay
from ledger.log import merkle
from ledger.log.encoding import canonical_json, payload_commitment, unb64
from ledger.log.note import NoteVerifier
from ledger.log.reserved import KEY_EVENTS, KEY_REGISTERED, KEY_ROTATED, LEDGER_SUBJECT, SUBJECT_ERASED
from ledger.log.statements import EntryRecord, Statement
from ledger.projections import streams, system_keys
from ledger.projections.base import Fact, Projector
from ledger.projections.registry import Registry, core_projectors
from ledger.store import EntryRow, Store

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Problem:
    """One finding: where (``entries[17]``, ``checkpoints[size=40]``, ``system_keys[k1]``) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class AuditReport:
    entries: int = 0
    checkpoints: int = 0
    trusted_roots: int = 0
    uncovered: int = 0  # entries after the latest checkpoint (normal for the last second or so)
    payloads_checked: int = 0
    payloads_erased: int = 0
    amounts_checked: int = 0  # recorded amounts recomputed from their own inputs (servicing and claims)
    projections: list[str] = field(default_factory=list)  # the projection tables compared with a replay
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, what: str) -> None:
        self.problems.append(Problem(where, what))


def _noop(stage: str, done: int, total: int) -> None:
    return None


def audit(store: Store, *, verifier: NoteVerifier, ledger_public_key: bytes, origin: str,
          master_key: bytes | None = None, trusted_roots: Mapping[int, tuple[str, bytes]] | None = None,
          key_evidence: Mapping[int, tuple[bytes, Any]] | None = None, registry: Registry | None = None,
          progress: Progress | None = None) -> AuditReport:
    """Check the whole log; never raises for what it finds, only records problems.

    Entries: contiguous indexes, canonical leaves, denormalised columns equal to the leaf, leaf hashes,
    signatures (strict Ed25519) by keys active at that point of the replay and within their scope, non-decreasing
    ``recorded_at``, stream sequence. Tree: every stored node equals the one recomputed from the leaves.
    Checkpoints: at least one when the log is not empty; signature, body, root equal to the recomputed root;
    consistency proofs between consecutive checkpoints from stored nodes. ``trusted_roots`` (tree size -> (where
    it came from, root)), taken from outside the database (the chain, a checkpoint saved earlier), must equal the
    roots recomputed from the leaves: this is what catches a history rewritten together with its checkpoints.
    Payloads (with ``master_key``): present and matching the salted commitment, personal parts matching the digest
    their payload names, unless their subject's erasure is recorded in the journal and its key destroyed.
    Projections: every table of ``registry`` (default: the log's own) equal to a replay of the journal through
    the same projectors, and every outbox row backed by the entry that wrote it.

    An auditor without the master key passes ``key_evidence`` instead: entry index -> (salt, payload) of every
    key event, as the log publishes them (``GET /v1/log/key/events/{index}``). Each is checked against its
    leaf's payload commitment, and the key history is replayed from them, so every signature is still checked;
    projections whose facts are sealed are then not compared (the report lists the ones that were).
    """
    return _Auditor(store, verifier=verifier, ledger_public_key=ledger_public_key, origin=origin,
                    master_key=master_key, trusted=dict(trusted_roots or {}), key_evidence=key_evidence,
                    registry=registry or Registry(core_projectors()), progress=progress or _noop).run()


class _Auditor:
    def __init__(self, store: Store, *, verifier: NoteVerifier, ledger_public_key: bytes, origin: str,
                 master_key: bytes | None, trusted: dict[int, tuple[str, bytes]],
                 key_evidence: Mapping[int, tuple[bytes, Any]] | None, registry: Registry,
                 progress: Progress) -> None:
        self.store = store
        self.verifier = verifier
        self.ledger_public_key = ledger_public_key
        self.origin = origin
        self.key_evidence = key_evidence
        self.trusted = trusted
        self.progress = progress
        self.report = AuditReport()
        self.payloads = PayloadChecker(store, master_key) if master_key is not None else None
        # Without the master key only what needs no sealed facts can be replayed: stream positions, and key
        # history when its published evidence is given.
        self.replayed: list[Projector] = [p for p in registry.projectors if master_key is not None
                                          or not p.needs_facts
                                          or (key_evidence is not None and p.name == "system_keys")]
        self.replay = Replay(self.replayed)
        self.has_keys = any(p.name == "system_keys" for p in self.replayed)
        self.last_recorded = ""
        self.erasures: dict[str, int] = {}  # subject -> entry recording its erasure
        self.weak_keys: dict[str, str] = {}  # key id -> why its registered public key is weak
        self.tree: TreeChecker | None = None

    def run(self) -> AuditReport:
        report = self.report
        head = self.store.size()
        total = self.store.count_rows("entries")
        if total != head:
            report.add("log_head", f"head says {head} entries, table has {total}")
        checkpoints = list(self.store.iter_checkpoints())
        self.tree = TreeChecker(self.store, wanted={row.tree_size for row in checkpoints} | set(self.trusted))
        expected = 0
        for row in self.store.iter_entries(0, None):
            if row.idx != expected:
                report.add(f"entries[{expected}]", f"missing: the next stored row is index {row.idx}")
                break
            expected += 1
            self.progress("entries", expected, total)
            try:
                self._entry(row)
            except Exception as exc:  # one unreadable entry must not stop the audit of the others
                report.add(f"entries[{row.idx}]", f"could not be checked: {type(exc).__name__}: {exc}")
        report.entries = expected
        if expected < head:
            report.add(f"entries[{expected}]", f"missing: head says {head} entries")
        tree = self.tree
        tree.check_nodes()
        report.uncovered = tree.check_checkpoints(checkpoints, size=expected, verifier=self.verifier,
                                                  origin=self.origin, progress=self.progress)
        report.checkpoints = len(checkpoints)
        tree.check_trusted(self.trusted, size=expected)
        report.trusted_roots = len(self.trusted)
        for where, what in tree.problems:
            report.add(where, what)
        if self.payloads is not None:
            self.payloads.finish(self.erasures)
            for where, what in self.payloads.problems:
                report.add(where, what)
            report.payloads_checked, report.payloads_erased = self.payloads.checked, self.payloads.erased
        self._check_projections()
        return report

    # -- entries -------------------------------------------------------------------------------------------

    def _entry(self, row: EntryRow) -> None:
        report, where = self.report, f"entries[{row.idx}]"
        leaf_hash = merkle.leaf_hash(row.leaf)
        if leaf_hash != row.leaf_hash:
            report.add(where, "stored leaf_hash is not SHA-256(0x00 || leaf)")
        assert self.tree is not None
        self.tree.add(leaf_hash)
        try:
            record = EntryRecord.from_leaf(row.leaf)
        except LedgerError as exc:
            report.add(where, f"leaf is malformed: {exc.message}")
            return
        statement = record.statement
        columns = (row.event_id, row.stream, row.seq, row.type, row.key_id, row.recorded_at)
        in_leaf = (statement.event_id, statement.stream, record.seq, statement.type, record.key_id,
                   record.recorded_at)
        if columns != in_leaf:
            report.add(where, "indexed columns differ from the leaf they were copied from")
        if record.recorded_at < self.last_recorded:
            report.add(where, f"recorded_at {record.recorded_at} is earlier than the entry before "
                              f"({self.last_recorded})")
        self.last_recorded = max(self.last_recorded, record.recorded_at)
        next_seq = streams.last_seq(self.replay.rows, statement.stream) + 1
        if record.seq != next_seq:
            report.add(where, f"seq {record.seq} on {statement.stream} but replay expects {next_seq}")
        self._signature(where, record)
        facts = self.payloads.facts(row.idx, statement) if self.payloads is not None else None
        if statement.type in KEY_EVENTS and self.payloads is None and self.key_evidence is not None:
            facts = self._evidence(row.idx, statement)
        if statement.type == SUBJECT_ERASED and facts is not None:
            self.erasures[str(facts.get("subject"))] = row.idx
        if statement.type in (KEY_REGISTERED, KEY_ROTATED) and facts is not None:
            self._check_registered_key(facts)
        self._fold(where, Fact(index=row.idx, record=record, facts=facts))

    def _signature(self, where: str, record: EntryRecord) -> None:
        statement = record.statement
        try:
            if record.key_id in self.weak_keys:
                raise SignatureError(f"made with key {record.key_id!r}, whose public key is weak "
                                     f"({self.weak_keys[record.key_id]}): it proves nothing")
            if record.key_id == LEDGER_KEY_ID:
                public_key = self.ledger_public_key
            elif self.has_keys:
                public_key = system_keys.signing_key(self.replay.rows, key_id=record.key_id)
            else:
                raise SignatureError(f"key {record.key_id!r} cannot be checked: its registration is sealed and no "
                                     f"published key events were given")
            verify_signature(public_key=public_key, signature=record.signature, data=statement.canonical())
        except LedgerError as exc:
            self.report.add(where, f"signature: {exc.message}")
        if self.has_keys and record.key_id != LEDGER_KEY_ID:
            try:
                system_keys.check_scope(self.replay.rows, key_id=record.key_id, type=statement.type,
                                        stream=statement.stream)
            except LedgerError as exc:
                self.report.add(where, f"outside its key's scope: {exc.message}")

    def _fold(self, where: str, fact: Fact) -> None:
        """Replay the entry through the projectors that can be replayed, each on its own, as a rebuild does."""
        for refusal in self.replay.fold(fact):
            self.report.add(where, f"replay refused the entry in {refusal.projector}: {refusal.message}")

    def _check_registered_key(self, payload: Mapping[str, Any]) -> None:
        """Name a weak public key (small order, non-canonical, mixed order) that a key event registered."""
        key_id = str(payload.get("key_id"))
        try:
            reason = describe_public_key(unb64(payload.get("public_key"), field="public_key"))  # type: ignore[arg-type]
        except LedgerError as exc:
            reason = exc.message
        if reason is not None:
            self.weak_keys[key_id] = reason
            self.report.add(f"system_keys[{key_id}]", f"registered public key is weak: {reason}; no signature by "
                                                      f"it proves anything")

    def _evidence(self, idx: int, statement: Statement) -> dict[str, Any] | None:
        """A key event's published payload, if given and matching the leaf's salted commitment.

        Key events are the ledger's own, sealed under the ledger's subject, which version 2 statements commit to.
        """
        assert self.key_evidence is not None
        where = f"entries[{idx}]"
        if idx not in self.key_evidence:
            self.report.add(where, "key event without evidence: its payload is needed to replay the key history")
            return None
        salt, payload = self.key_evidence[idx]
        try:
            commitment = payload_commitment(salt=salt, payload_canonical=canonical_json(payload),
                                            data_subject=LEDGER_SUBJECT if statement.version >= 2 else None)
        except LedgerError as exc:
            self.report.add(where, f"published key event payload cannot be canonicalised: {exc.message}")
            return None
        if commitment != statement.payload_hash:
            self.report.add(where, "published key event payload does not match the leaf's payload_hash")
            return None
        return payload if isinstance(payload, dict) else None

    # -- projections ---------------------------------------------------------------------------------------

    def _check_projections(self) -> None:
        for projector in self.replayed:
            for spec in projector.tables:
                self.report.projections.append(spec.name)
                if spec.outbox:
                    self._check_outbox(spec.name)
                    continue
                replayed = self.replay.rows.table(spec.name)
                stored = {spec.key_of(row): row for row in self.store.rows.scan(spec.name)}
                for key in sorted(set(stored) | set(replayed), key=repr):
                    if stored.get(key) != replayed.get(key):
                        state = "missing" if key not in stored else (
                            "not derived from any entry" if key not in replayed else "differs from the replay")
                        self.report.add(f"{spec.name}[{_show(key)}]", f"projection row {state}")

    def _check_outbox(self, name: str) -> None:
        """Every outbox row must be the one its entry's replay wrote, and every written row must be there."""
        replayed = {row["idx"]: row for row in self.replay.rows.outbox(name)}
        for row in self.store.rows.scan(name):
            idx = row.get("idx")
            expected = replayed.pop(idx, None) if idx is not None else None
            if idx is None:
                self.report.add(f"{name}[{row['id']}]", "row is not backed by any journal entry (it has no entry "
                                "index: queued by a version that wrote the outbox directly, before document events)")
            elif expected is None:
                self.report.add(f"{name}[{row['id']}]", "row is not backed by any journal entry")
            elif any(row[column] != value for column, value in expected.items()):
                self.report.add(f"{name}[{row['id']}]", f"row differs from what entry {idx} wrote")
        for idx in sorted(replayed):
            self.report.add(f"{name}[idx={idx}]", "row written by this entry is missing")


def _show(key: tuple[Any, ...]) -> str:
    parts = [value.hex() if isinstance(value, bytes) else str(value) for value in key]
    return ",".join(parts)
