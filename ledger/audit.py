"""Whole-log audit: recompute everything the ledger claims from the journal alone and name every mismatch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger import merkle
from ledger.encoding import salted_hash
from ledger.errors import ErasedError, LedgerError
from ledger.keys import verify_signature
from ledger.note import Checkpoint, NoteVerifier
from ledger.projections import KEY_EVENTS, Projection
from ledger.sealing import unseal, unwrap_key
from ledger.statements import EntryRecord
from ledger.store import Store

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
          master_key: bytes | None = None, progress: Progress = _noop) -> AuditReport:
    """Check the whole log; never raises for what it finds, only records problems.

    Entries: contiguous indexes, canonical leaves, denormalised columns equal to the leaf, leaf hashes,
    signatures by keys active at that point of the replay, non-decreasing ``recorded_at``, stream sequence.
    Tree: every stored node equals the one recomputed from the leaves. Checkpoints: signature, body, root
    equal to the recomputed root, and consistency proofs between consecutive checkpoints from stored nodes.
    Payloads (with ``master_key``): present and matching the salted hash unless their subject was erased.
    Projections: equal to a replay of the journal.
    """
    report = AuditReport()
    head = store.size()
    total_rows = store.count_rows("entries")
    if total_rows != head:
        report.add("log_head", f"head says {head} entries, table has {total_rows}")
    checkpoint_rows = list(store.iter_checkpoints())
    wanted_roots = {row.tree_size for row in checkpoint_rows}
    roots: dict[int, bytes] = {}
    computed_nodes: dict[merkle.NodeId, bytes] = {}
    replay = Projection()
    frontier = merkle.Frontier.empty()
    last_recorded = ""
    expected = 0
    payload_rows = {idx: (subject, sealed) for idx, subject, sealed in store.iter_payloads()} \
        if master_key is not None else {}
    data_keys: dict[str, bytes | None] = {}
    for row in store.iter_entries(0, None):
        if row.idx != expected:
            report.add(f"entries[{expected}]", f"missing: the next stored row is index {row.idx}")
            break
        expected += 1
        progress("entries", expected, total_rows)
        where = f"entries[{row.idx}]"
        leaf_hash = merkle.leaf_hash(row.leaf)
        if leaf_hash != row.leaf_hash:
            report.add(where, "stored leaf_hash is not SHA-256(0x00 || leaf)")
        frontier, nodes = frontier.extend([leaf_hash])
        computed_nodes.update(nodes)
        if frontier.size in wanted_roots:
            roots[frontier.size] = frontier.root()
        try:
            record = EntryRecord.from_leaf(row.leaf)
        except LedgerError as exc:
            report.add(where, f"leaf is malformed: {exc.message}")
            continue
        statement = record.statement
        columns = (row.event_id, row.stream, row.seq, row.type, row.key_id, row.recorded_at)
        in_leaf = (statement.event_id, statement.stream, record.seq, statement.type, record.key_id,
                   record.recorded_at)
        if columns != in_leaf:
            report.add(where, "indexed columns differ from the leaf they were copied from")
        if record.recorded_at < last_recorded:
            report.add(where, f"recorded_at {record.recorded_at} is earlier than the entry before ({last_recorded})")
        last_recorded = max(last_recorded, record.recorded_at)
        if record.seq != replay.next_seq(statement.stream):
            report.add(where, f"seq {record.seq} on {statement.stream} but replay expects "
                              f"{replay.next_seq(statement.stream)}")
        try:
            public_key = ledger_public_key if record.key_id == "ledger" else replay.signing_key(key_id=record.key_id)
            verify_signature(public_key=public_key, signature=record.signature, data=statement.canonical())
        except LedgerError as exc:
            report.add(where, f"signature: {exc.message}")
        payload = _check_payload(report, where, row.idx, statement.payload_hash, payload_rows, data_keys, store,
                                 master_key)
        if statement.type in KEY_EVENTS and payload is None and master_key is not None:
            report.add(where, "key event payload is unreadable, so key history cannot be replayed")
            continue
        try:
            replay.apply(index=row.idx, record=record, payload=payload)
        except LedgerError as exc:
            report.add(where, f"replay refused the entry: {exc.message}")
    report.entries = expected
    if expected < head:
        report.add(f"entries[{expected}]", f"missing: head says {head} entries")
    _check_nodes(report, store, computed_nodes)
    _check_checkpoints(report, store, checkpoint_rows, roots, verifier=verifier, origin=origin, size=expected,
                       progress=progress)
    if master_key is not None:
        _check_projection(report, store.full_projection(), replay)
        extra = sorted(set(payload_rows) - set(range(expected)))
        for idx in extra[:10]:
            report.add(f"payloads[{idx}]", "payload row has no journal entry")
    return report


def _check_payload(report: AuditReport, where: str, idx: int, payload_hash: bytes,
                   rows: dict[int, tuple[str, bytes]], data_keys: dict[str, bytes | None], store: Store,
                   master_key: bytes | None) -> Any:
    if master_key is None:
        return None
    if idx not in rows:
        report.add(where, "payload row is missing")
        return None
    subject, sealed = rows[idx]
    if subject not in data_keys:
        wrapped = store.wrapped_keys([subject]).get(subject)
        try:
            data_keys[subject] = None if wrapped is None else unwrap_key(master_key=master_key, subject=subject,
                                                                        wrapped=wrapped)
        except LedgerError as exc:
            report.add(f"subject_keys[{subject}]", exc.message)
            data_keys[subject] = None
    try:
        opened = unseal(data_key=data_keys[subject], index=idx, sealed=sealed)
    except ErasedError:
        report.payloads_erased += 1
        return None
    except LedgerError as exc:
        report.add(f"payloads[{idx}]", exc.message)
        return None
    report.payloads_checked += 1
    if salted_hash(salt=opened.salt, payload=opened.payload) != payload_hash:
        report.add(f"payloads[{idx}]", "payload does not match the leaf's payload_hash")
    return opened.payload


def _check_nodes(report: AuditReport, store: Store, computed: dict[merkle.NodeId, bytes]) -> None:
    seen = 0
    for node, digest in store.iter_nodes():
        seen += 1
        if node not in computed:
            report.add(f"tree_nodes[{node[0]},{node[1]}]", "node is not part of the tree the leaves build")
        elif computed[node] != digest:
            report.add(f"tree_nodes[{node[0]},{node[1]}]", "stored hash differs from the recomputed one")
    if seen < len(computed):
        report.add("tree_nodes", f"{len(computed) - seen} node(s) missing")


def _check_checkpoints(report: AuditReport, store: Store, rows: list[Any], roots: dict[int, bytes], *,
                       verifier: NoteVerifier, origin: str, size: int, progress: Progress) -> None:
    previous = None
    for number, row in enumerate(rows, start=1):
        progress("checkpoints", number, len(rows))
        where = f"checkpoints[size={row.tree_size}]"
        report.checkpoints += 1
        try:
            body = verifier.verify(row.note)
            checkpoint = Checkpoint.from_body(body.decode("utf-8"))
        except LedgerError as exc:
            report.add(where, f"signed note does not verify: {exc.message}")
            continue
        if (checkpoint.origin, checkpoint.size, checkpoint.root) != (origin, row.tree_size, row.root):
            report.add(where, "note body differs from the stored origin, size or root")
        if row.tree_size > size:
            report.add(where, f"covers {row.tree_size} entries but the log has {size}")
            continue
        if roots.get(row.tree_size) != checkpoint.root:
            report.add(where, "signed root differs from the root recomputed from the leaves")
        if previous is not None:
            try:
                proof = merkle.consistency_proof(previous.size, checkpoint.size, store.read_nodes)
                merkle.verify_consistency(first=previous.size, second=checkpoint.size, first_root=previous.root,
                                          second_root=checkpoint.root, proof=proof)
            except LedgerError as exc:
                report.add(where, f"not consistent with checkpoint of size {previous.size}: {exc.message}")
        previous = checkpoint


def _check_projection(report: AuditReport, stored: Projection, replay: Projection) -> None:
    for name, table_stored, table_replay in (("streams", stored.streams, replay.streams),
                                             ("system_keys", stored.keys, replay.keys)):
        for key in sorted(set(table_stored) | set(table_replay)):
            if table_stored.get(key) != table_replay.get(key):
                state = "missing" if key not in table_stored else (
                    "not derived from any entry" if key not in table_replay else "differs from the replay")
                report.add(f"{name}[{key}]", f"projection row {state}")
