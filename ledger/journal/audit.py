"""Whole-log audit: recompute everything the ledger claims from the journal alone and name every mismatch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto.ed25519 import describe_public_key
from ledger.crypto.keys import LEDGER_KEY_ID, verify_signature
from ledger.crypto.sealing import unseal, unwrap_key
from ledger.errors import ErasedError, LedgerError, SignatureError
from ledger.log import merkle
from ledger.log.encoding import canonical_json, payload_commitment, unb64
from ledger.log.note import Checkpoint, NoteVerifier
from ledger.log.statements import LEDGER_SUBJECT, EntryRecord, Statement
from ledger.projections.system_keys import KEY_EVENTS, KEY_REGISTERED, KEY_ROTATED, SUBJECT_ERASED, Projection
from ledger.store import CheckpointRow, EntryRow, Store

Progress = Callable[[str, int, int], None]
HASH = 32


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
          key_evidence: Mapping[int, tuple[bytes, Any]] | None = None, progress: Progress = _noop) -> AuditReport:
    """Check the whole log; never raises for what it finds, only records problems.

    Entries: contiguous indexes, canonical leaves, denormalised columns equal to the leaf, leaf hashes,
    signatures by keys active at that point of the replay, non-decreasing ``recorded_at``, stream sequence.
    Tree: every stored node equals the one recomputed from the leaves. Checkpoints: at least one when the log
    is not empty; signature, body, root equal to the recomputed root; consistency proofs between consecutive
    checkpoints from stored nodes. ``trusted_roots`` (tree size -> (where it came from, root)), taken from
    outside the database (the chain, a checkpoint saved earlier), must equal the roots recomputed from the
    leaves: this is what catches a history rewritten together with its checkpoints. Payloads (with
    ``master_key``): present and matching the salted hash, unless their subject's erasure is recorded in the
    journal and its key destroyed. Projections (with ``master_key`` or ``key_evidence``): equal to a replay.

    An auditor without the master key passes ``key_evidence`` instead: entry index -> (salt, payload) of every
    key event, as the log publishes them (``GET /v1/log/key/events/{index}``). Each is checked against its
    leaf's payload hash, and the key history is replayed from them, so every signature is still checked.
    """
    return _Auditor(store, verifier=verifier, ledger_public_key=ledger_public_key, origin=origin,
                    master_key=master_key, trusted=dict(trusted_roots or {}), key_evidence=key_evidence,
                    progress=progress).run()


class _Auditor:
    def __init__(self, store: Store, *, verifier: NoteVerifier, ledger_public_key: bytes, origin: str,
                 master_key: bytes | None, trusted: dict[int, tuple[str, bytes]],
                 key_evidence: Mapping[int, tuple[bytes, Any]] | None, progress: Progress) -> None:
        self.store = store
        self.verifier = verifier
        self.ledger_public_key = ledger_public_key
        self.origin = origin
        self.master_key = master_key
        self.key_evidence = key_evidence
        self.trusted = trusted
        self.progress = progress
        self.report = AuditReport()
        self.replay = Projection()
        self.frontier = merkle.Frontier.empty()
        self.levels: list[bytearray] = []  # recomputed perfect-subtree hashes, level by level, in index order
        self.roots: dict[int, bytes] = {}
        self.last_recorded = ""
        self.data_keys: dict[str, bytes | None] = {}
        self.missing_key_rows: set[str] = set()
        self.keyless: dict[str, int] = {}  # subject -> first entry whose key was destroyed
        self.erasures: dict[str, int] = {}  # subject -> entry recording its erasure
        self.weak_keys: dict[str, str] = {}  # key id -> why its registered public key is weak
        self._rows: Iterator[tuple[int, str, bytes]] = iter(())
        self._held: tuple[int, str, bytes] | None = None

    def run(self) -> AuditReport:
        report = self.report
        head = self.store.size()
        total = self.store.count_rows("entries")
        if total != head:
            report.add("log_head", f"head says {head} entries, table has {total}")
        checkpoints = list(self.store.iter_checkpoints())
        wanted = {row.tree_size for row in checkpoints} | set(self.trusted)
        self._rows = self._payload_rows()
        expected = 0
        for row in self.store.iter_entries(0, None):
            if row.idx != expected:
                report.add(f"entries[{expected}]", f"missing: the next stored row is index {row.idx}")
                break
            expected += 1
            self.progress("entries", expected, total)
            try:
                self._entry(row, wanted)
            except Exception as exc:  # one unreadable entry must not stop the audit of the others
                report.add(f"entries[{row.idx}]", f"could not be checked: {type(exc).__name__}: {exc}")
        report.entries = expected
        if expected < head:
            report.add(f"entries[{expected}]", f"missing: head says {head} entries")
        extra = self._next_payload()
        if extra is not None:
            report.add(f"payloads[{extra[0]}]", "payload row has no journal entry")
        self._check_nodes()
        self._check_checkpoints(checkpoints, size=expected)
        self._check_trusted(size=expected)
        if self.master_key is not None:
            self._check_erasures()
        if self.master_key is not None or self.key_evidence is not None:
            _check_projection(report, self.store.full_projection(), self.replay)
        return report

    # -- entries -------------------------------------------------------------------------------------------

    def _entry(self, row: EntryRow, wanted: set[int]) -> None:
        report, where = self.report, f"entries[{row.idx}]"
        leaf_hash = merkle.leaf_hash(row.leaf)
        if leaf_hash != row.leaf_hash:
            report.add(where, "stored leaf_hash is not SHA-256(0x00 || leaf)")
        self.frontier, nodes = self.frontier.extend([leaf_hash])
        for (level, _), digest in nodes:
            while len(self.levels) <= level:
                self.levels.append(bytearray())
            self.levels[level] += digest
        if self.frontier.size in wanted:
            self.roots[self.frontier.size] = self.frontier.root()
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
        if record.seq != self.replay.next_seq(statement.stream):
            report.add(where, f"seq {record.seq} on {statement.stream} but replay expects "
                              f"{self.replay.next_seq(statement.stream)}")
        try:
            if record.key_id in self.weak_keys:
                raise SignatureError(f"made with key {record.key_id!r}, whose public key is weak "
                                     f"({self.weak_keys[record.key_id]}): it proves nothing")
            public_key = (self.ledger_public_key if record.key_id == LEDGER_KEY_ID
                          else self.replay.signing_key(key_id=record.key_id))
            verify_signature(public_key=public_key, signature=record.signature, data=statement.canonical())
        except LedgerError as exc:
            report.add(where, f"signature: {exc.message}")
        try:
            self.replay.check_scope(key_id=record.key_id, type=statement.type, stream=statement.stream)
        except LedgerError as exc:
            report.add(where, f"outside its key's scope: {exc.message}")
        payload = self._payload(row.idx, statement)
        if self.master_key is None:
            if self.key_evidence is None:
                return
            if statement.type in KEY_EVENTS:
                payload = self._evidence(row.idx, statement)
                if payload is None:
                    return
        elif statement.type in (*KEY_EVENTS, SUBJECT_ERASED) and payload is None:
            report.add(where, "the ledger's own event has no readable payload, so it cannot be replayed")
            return
        if statement.type == SUBJECT_ERASED and payload is not None:
            self.erasures[str(payload.get("subject"))] = row.idx
        if statement.type in (KEY_REGISTERED, KEY_ROTATED) and payload is not None:
            self._check_registered_key(payload)
        try:
            self.replay.apply(index=row.idx, record=record, payload=payload)
        except LedgerError as exc:
            report.add(where, f"replay refused the entry: {exc.message}")

    def _check_registered_key(self, payload: Any) -> None:
        """Name a weak public key (small order, non-canonical, mixed order) that a key event registered."""
        key_id = str(payload.get("key_id"))
        try:
            reason = describe_public_key(unb64(payload.get("public_key"), field="public_key"))
        except LedgerError as exc:
            reason = exc.message
        if reason is not None:
            self.weak_keys[key_id] = reason
            self.report.add(f"system_keys[{key_id}]", f"registered public key is weak: {reason}; no signature by "
                                                      f"it proves anything")

    def _evidence(self, idx: int, statement: Statement) -> Any:
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
        return payload

    # -- payloads ------------------------------------------------------------------------------------------

    def _payload_rows(self) -> Iterator[tuple[int, str, bytes]]:
        if self.master_key is None:
            return iter(())
        return self.store.iter_payloads()

    def _next_payload(self) -> tuple[int, str, bytes] | None:
        if self._held is not None:
            row, self._held = self._held, None
            return row
        return next(self._rows, None)

    def _payload(self, idx: int, statement: Statement) -> Any:
        """The entry's payload if it can be read and matches the statement's commitment (rows are read in order).

        The commitment is recomputed from the stored canonical bytes and, for version 2 statements, the subject
        the payload row is sealed under, so a payload filed under another subject than the signer's is named.
        """
        if self.master_key is None:
            return None
        report = self.report
        while True:
            row = self._next_payload()
            if row is None or row[0] > idx:
                self._held = row
                report.add(f"entries[{idx}]", "payload row is missing")
                return None
            if row[0] == idx:
                break
            report.add(f"payloads[{row[0]}]", "payload row has no journal entry")
        _, subject, sealed = row
        data_key = self._data_key(subject)
        try:
            opened = unseal(data_key=data_key, index=idx, subject=subject, sealed=sealed)
        except ErasedError:
            report.payloads_erased += 1
            self.keyless.setdefault(subject, idx)
            return None
        except LedgerError as exc:
            report.add(f"payloads[{idx}]", exc.message)
            return None
        report.payloads_checked += 1
        commitment = payload_commitment(salt=opened.salt, payload_canonical=opened.payload_bytes,
                                        data_subject=subject if statement.version >= 2 else None)
        if commitment != statement.payload_hash:
            report.add(f"payloads[{idx}]", "payload or its data subject does not match the leaf's payload_hash")
            return None
        try:
            return opened.payload
        except LedgerError as exc:
            report.add(f"payloads[{idx}]", exc.message)
            return None

    def _data_key(self, subject: str) -> bytes | None:
        assert self.master_key is not None
        if subject not in self.data_keys:
            wrapped = self.store.wrapped_keys([subject])
            if subject not in wrapped:
                self.missing_key_rows.add(subject)
                self.report.add(f"subject_keys[{subject}]", "no key row for a subject that has payloads")
                self.data_keys[subject] = None
            elif wrapped[subject] is None:
                self.data_keys[subject] = None
            else:
                try:
                    self.data_keys[subject] = unwrap_key(master_key=self.master_key, subject=subject,
                                                         wrapped=wrapped[subject])  # type: ignore[arg-type]
                except LedgerError as exc:
                    self.report.add(f"subject_keys[{subject}]", exc.message)
                    self.data_keys[subject] = None
        return self.data_keys[subject]

    def _check_erasures(self) -> None:
        for subject, idx in sorted(self.keyless.items(), key=lambda item: item[1]):
            if subject not in self.erasures and subject not in self.missing_key_rows:
                self.report.add(f"subject_keys[{subject}]", f"key destroyed (first unreadable payload: entry "
                                                            f"{idx}) but no erasure is recorded in the journal")
        erased_keys = self.store.wrapped_keys(sorted(self.erasures))
        for subject, idx in self.erasures.items():
            if erased_keys.get(subject) is not None:
                self.report.add(f"subject_keys[{subject}]", f"erasure recorded at entry {idx} but the key exists")

    # -- tree and checkpoints ------------------------------------------------------------------------------

    def _check_nodes(self) -> None:
        seen = 0
        for (level, idx), digest in self.store.iter_nodes():
            seen += 1
            computed = self.levels[level][idx * HASH:(idx + 1) * HASH] if level < len(self.levels) else b""
            if not computed:
                self.report.add(f"tree_nodes[{level},{idx}]", "node is not part of the tree the leaves build")
            elif computed != digest:
                self.report.add(f"tree_nodes[{level},{idx}]", "stored hash differs from the recomputed one")
        expected = sum(len(level) // HASH for level in self.levels)
        if seen < expected:
            self.report.add("tree_nodes", f"{expected - seen} node(s) missing")

    def _check_checkpoints(self, rows: list[CheckpointRow], *, size: int) -> None:
        report = self.report
        if size and not rows:
            report.add("checkpoints", f"none: no signed checkpoint covers any of the {size} entries")
        previous = None
        for number, row in enumerate(rows, start=1):
            self.progress("checkpoints", number, len(rows))
            where = f"checkpoints[size={row.tree_size}]"
            report.checkpoints += 1
            try:
                checkpoint = Checkpoint.from_body(self.verifier.verify(row.note).decode("utf-8"))
            except LedgerError as exc:
                report.add(where, f"signed note does not verify: {exc.message}")
                continue
            if (checkpoint.origin, checkpoint.size, checkpoint.root) != (self.origin, row.tree_size, row.root):
                report.add(where, "note body differs from the stored origin, size or root")
            if row.tree_size > size:
                report.add(where, f"covers {row.tree_size} entries but the log has {size}")
                continue
            if self.roots.get(row.tree_size) != checkpoint.root:
                report.add(where, "signed root differs from the root recomputed from the leaves")
            if previous is not None:
                try:
                    proof = merkle.consistency_proof(previous.size, checkpoint.size, self.store.read_nodes)
                    merkle.verify_consistency(first=previous.size, second=checkpoint.size, first_root=previous.root,
                                              second_root=checkpoint.root, proof=proof)
                except LedgerError as exc:
                    report.add(where, f"not consistent with checkpoint of size {previous.size}: {exc.message}")
            previous = checkpoint
        report.uncovered = size - (rows[-1].tree_size if rows else 0)

    def _check_trusted(self, *, size: int) -> None:
        for tree_size, (source, root) in sorted(self.trusted.items()):
            self.report.trusted_roots += 1
            where = f"trusted[size={tree_size}]"
            if tree_size > size:
                self.report.add(where, f"{source} covers {tree_size} entries but the log has {size}")
            elif self.roots.get(tree_size) != root:
                self.report.add(where, f"{source}: root differs from the root recomputed from the leaves")


def _check_projection(report: AuditReport, stored: Projection, replay: Projection) -> None:
    for name, table_stored, table_replay in (("streams", stored.streams, replay.streams),
                                             ("system_keys", stored.keys, replay.keys)):
        for key in sorted(set(table_stored) | set(table_replay)):
            if table_stored.get(key) != table_replay.get(key):
                state = "missing" if key not in table_stored else (
                    "not derived from any entry" if key not in table_replay else "differs from the replay")
                report.add(f"{name}[{key}]", f"projection row {state}")
