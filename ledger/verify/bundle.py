"""Evidence bundles, server side: the chosen entries of a claim or policy with everything that proves them offline.

The format (``lifeledger-evidence-bundle/1``) is in docs/FORMATS.md, "Evidence bundles"; ``ledger/verify/offline.py``
checks it with nothing of lifeledger. Which entries go in is the caller's choice (the audit trail's selection);
this module gathers, per entry, its leaf, inclusion proof and the openings granted, then the signers' key history,
the signed checkpoint, the anchor and the documents, and a manifest with the digest of each section.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.clock import Clock, SystemClock
from ledger.errors import ErasedError, NotFound, ValidationFailed, VerificationError
from ledger.journal.opening import Opened, Opener
from ledger.log.encoding import b64, canonical_json, digest_str, parse_digest, payload_commitment, sha256
from ledger.log.identifiers import utc_timestamp
from ledger.log.reserved import DOCUMENT_TYPE_PREFIX, KEY_EVENTS, LEDGER_KEY_ID, LEDGER_SUBJECT
from ledger.log.statements import PERSONAL_FIELD, EntryRecord
from ledger.services.anchoring import AnchorService
from ledger.services.documents import DocumentService
from ledger.services.keys import KeyService
from ledger.services.log import LogService
from ledger.store import EntryRow

BUNDLE_FORMAT = "lifeledger-evidence-bundle/1"
SECTIONS = ("ledger", "checkpoint", "entries", "keys", "anchor", "documents")
ERASED = "erased"
SUBJECT_KINDS = ("claim", "policy")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@dataclass(frozen=True)
class Selected:
    """One entry chosen for the bundle, why (in plain words), and which of its payloads to open."""

    index: int
    reason: str  # "the claim's own stream", "evidence cited by entry 12", "document registration", ...
    open_facts: bool  # include the facts payload opening (salt, payload, data_subject)
    open_personal: bool  # include the personal part opening, if the entry has one (only with its facts)


@dataclass(frozen=True)
class Subject:
    """Whose story the bundle tells, and the streams it holds whole (seq 1..last as of its checkpoint)."""

    kind: str  # "claim" | "policy"
    id: str  # claim id / policy number
    streams: tuple[str, ...]


class BundleBuilder:
    """Builds evidence bundles from the ledger's services; reads only, except for cutting a checkpoint when the
    latest one does not cover the selection yet."""

    def __init__(self, *, log: LogService, anchoring: AnchorService, documents: DocumentService, opener: Opener,
                 keys: KeyService, clock: Clock | None = None) -> None:
        self._log = log
        self._anchoring = anchoring
        self._documents = documents
        self._opener = opener
        self._keys = keys
        self._clock = clock or SystemClock()

    # -- per entry -----------------------------------------------------------------------------------------

    def entries(self, selected: Sequence[Selected], *, tree_size: int) -> list[dict[str, Any]]:
        """Per entry, in index order: index, reason, leaf (base64) and leaf hash, its fields (event_id, type,
        stream, seq, recorded_at, key_id), its inclusion proof into the tree of ``tree_size`` entries, and the
        openings asked for (``"erased"`` where the data subject's key is gone).

        Requires every index below ``tree_size`` and no index twice; raises ``ValidationFailed`` otherwise,
        ``NotFound`` for an index the log does not have.
        """
        seen = [LEDGER_SUBJECT]
        return [self._entry(choice, tree_size, seen) for choice in _ordered(selected, tree_size=tree_size)]

    def _entry(self, choice: Selected, tree_size: int, seen: list[str]) -> dict[str, Any]:
        row = self._log.entry(choice.index)
        item = _described(row, tree_size=tree_size, hashes=self._proof(row.idx, tree_size))
        item["reason"] = choice.reason
        if choice.open_facts:  # a personal part is opened only with its facts, which hold its commitment
            facts, _ = self._facts(row, seen)
            item["facts"] = facts
            if choice.open_personal:
                personal = self._personal(row, facts=facts, seen=seen)
                if personal is not None:
                    item["personal"] = personal
        return item

    def _proof(self, index: int, tree_size: int) -> list[str]:
        return [b64(h) for h in self._log.inclusion_proof(index=index, tree_size=tree_size).hashes]

    def _facts(self, row: EntryRow, seen: list[str]) -> tuple[dict[str, Any] | str, str | None]:
        """The facts opening of ``row`` and the data subject it is sealed under (``"erased"`` once erased)."""
        try:
            opened = self._opener.payload(row.idx)
        except ErasedError:
            return ERASED, None
        statement = EntryRecord.from_leaf(row.leaf).statement

        def matches(subject: str) -> bool:
            bound = subject if statement.version >= 2 else None
            return payload_commitment(salt=opened.salt, payload_canonical=opened.payload_bytes,
                                      data_subject=bound) == statement.payload_hash

        subject = self._subject(row.idx, matches, seen)
        if subject is None:
            raise VerificationError(f"entry {row.idx}'s stored payload does not match its leaf's payload_hash; run "
                                    f"`lifeledger verify`")
        return _opening(opened, subject), subject

    def _personal(self, row: EntryRow, *, facts: dict[str, Any] | str, seen: list[str]) -> dict[str, Any] | str | None:
        """The personal part's opening, None when the entry has none, ``"erased"`` when it (or the facts that
        commit to it) can no longer be read."""
        if isinstance(facts, dict) and PERSONAL_FIELD not in facts["payload"]:
            return None
        try:
            opened = self._opener.personal(row.idx)
        except ErasedError:
            return ERASED
        if opened is None:
            return None
        if not isinstance(facts, dict):
            return ERASED  # without its facts nothing shows what the part was committed to
        named = facts["payload"][PERSONAL_FIELD]

        def matches(subject: str) -> bool:
            return bool(digest_str(payload_commitment(salt=opened.salt, payload_canonical=opened.payload_bytes,
                                                      data_subject=subject)) == named)

        subject = self._subject(row.idx, matches, seen)
        if subject is None:
            raise VerificationError(f"entry {row.idx}'s stored personal part does not match the digest its facts "
                                    f"name")
        return _opening(opened, subject)

    def _subject(self, index: int, matches: Callable[[str], bool], seen: list[str]) -> str | None:
        """The data subject an opening was committed under: the subjects already met in this bundle are tried
        first (a claim's entries share a handful), then the ones the store names for the entry."""
        for subject in seen:
            if matches(subject):
                return subject
        for subject in sorted(self._log.subjects_of(index)):
            if matches(subject):
                seen.append(subject)
                return subject
        return None

    # -- the bundle ------------------------------------------------------------------------------------------

    def build(self, subject: Subject, selected: Sequence[Selected], *, grant: Mapping[str, Any],
              generated_for: str, record: Selected | None = None) -> dict[str, Any]:
        """The bundle: manifest (format, generated_at, subject, grant, counts, digest of each section), the ledger's
        origin and vkey, the latest signed checkpoint, the entries (as ``entries``, each with ``opened``: its
        ``open_facts`` and ``open_personal`` as selected, which the read record's selection digest commits to and
        the verifier holds what the entry carries to), the key history of every system key that signed one of
        them (each key event with its public opening and inclusion proof), the anchor (anchored checkpoint,
        consistency proof to the bundle's checkpoint, chain id, contract, transaction, block and the ABI fragment
        of ``rootOf`` and ``CheckpointAnchored``), and the documents named in opened ``document.*`` entries with
        their on-chain registrations.

        Requires a non-empty selection without repeats in which each of ``subject.streams`` runs from seq 1
        without a gap (``ValidationFailed`` otherwise). Cuts a checkpoint when the latest one does not cover the
        selection; raises ``NotFound`` if none can (an index beyond the log).

        ``record`` is the ledger's record of the read that asked for the bundle (``audit.trail.read``), written
        after the selection: the bundle carries it like any entry, but the anchor is the one covering the
        selection and its key history, which an anchor confirmed before the read can.
        """
        _check_subject(subject)
        if not selected:
            raise ValidationFailed("a bundle needs at least one entry", field="selected")
        last = max(choice.index for choice in selected)
        chosen = [*selected, record] if record is not None else list(selected)
        checkpoint = self._log.latest_covering(max(choice.index for choice in chosen))
        size = checkpoint.tree_size
        entries = self.entries(chosen, tree_size=size)
        for entry, choice in zip(entries, _ordered(chosen, tree_size=size), strict=True):
            entry["opened"] = {"facts": choice.open_facts, "personal": choice.open_personal}
        _check_whole(subject, entries)
        keys = self._key_history(entries, tree_size=size)
        covering = max([last, *(event["index"] for event in keys["events"])])
        sections: dict[str, Any] = {
            "ledger": {"origin": self._log.origin, "vkey": self._log.vkey, "key_id": LEDGER_KEY_ID},
            "checkpoint": {"tree_size": size, "note": checkpoint.note},
            "entries": entries,
            "keys": keys,
            "anchor": self._anchor(covering, tree_size=size),
            "documents": self._document_section(entries),
        }
        opened = [e for e in entries if isinstance(e.get("facts"), dict)]
        manifest = {
            "format": BUNDLE_FORMAT,
            "generated_at": utc_timestamp(self._clock.now()),
            "generated_for": generated_for,
            "subject": {"kind": subject.kind, "id": subject.id, "streams": list(subject.streams)},
            "grant": dict(grant),
            "counts": {"entries": len(entries), "key_events": len(keys["events"]),
                       "documents": len(sections["documents"]["items"]), "opened_facts": len(opened),
                       "opened_personal": sum(isinstance(e.get("personal"), dict) for e in entries),
                       "erased": sum(ERASED in (e.get("facts"), e.get("personal")) for e in entries)},
            "sections": {name: digest_str(sha256(canonical_json(sections[name]))) for name in SECTIONS},
        }
        return {"format": BUNDLE_FORMAT, "manifest": manifest, **sections}

    def _key_history(self, entries: Sequence[Mapping[str, Any]], *, tree_size: int) -> dict[str, Any]:
        """Every key event on the streams ``system:<owner>`` of the systems whose keys signed an entry, in order."""
        owners = sorted({self._keys.get(str(e["key_id"])).owner for e in entries if e["key_id"] != LEDGER_KEY_ID})
        events: list[dict[str, Any]] = []
        for owner in owners:
            for row, _ in self._opener.stream(f"system:{owner}"):
                if row.idx >= tree_size or row.type not in KEY_EVENTS:
                    continue
                evidence = self._log.key_event_evidence(row.idx)
                item = _described(row, tree_size=tree_size, hashes=self._proof(row.idx, tree_size))
                item["opening"] = {"payload": evidence.payload, "salt": b64(evidence.salt),
                                   "data_subject": LEDGER_SUBJECT}
                events.append(item)
        events.sort(key=lambda event: int(event["index"]))
        return {"ledger_key_id": LEDGER_KEY_ID, "events": events}

    def _anchor(self, last: int, *, tree_size: int) -> dict[str, Any]:
        """The confirmed anchor covering entry ``last`` and the consistency proof between its tree and the bundle's
        checkpoint; ``{"status": "off"}`` without anchoring, ``{"status": "pending"}`` before one is confirmed."""
        if not self._anchoring.configured:
            return {"status": "off"}
        try:
            proof = self._anchoring.proof(last)
        except NotFound:
            return {"status": "pending"}
        job = proof.anchored
        anchored = proof.anchored_checkpoint.tree_size
        first, second = sorted((anchored, tree_size))
        hashes = self._log.consistency_proof(first=first, second=second).hashes if first < second else []
        return {"status": "anchored", "tree_size": anchored, "root": b64(proof.anchored_checkpoint.root),
                "checkpoint": proof.anchored_checkpoint.note,
                "consistency": {"first": first, "second": second, "hashes": [b64(h) for h in hashes]},
                "chain_id": job.chain_id, "contract": job.contract,
                "tx_hash": "0x" + job.tx_hash.hex() if job.tx_hash else None, "block_number": job.block_number,
                "confirmations": job.confirmations, "abi": abi_fragment("LedgerAnchor", ("rootOf",
                                                                                         "CheckpointAnchored"))}

    def _document_section(self, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The digests named in the opened facts of ``document.*`` entries, each with the entries naming it, what
        the ledger records of it now, and the chain transactions that carried its operations."""
        named: dict[str, list[int]] = {}
        for entry in entries:
            facts = entry.get("facts")
            if not str(entry["type"]).startswith(DOCUMENT_TYPE_PREFIX) or not isinstance(facts, dict):
                continue
            for name in ("digest", "old_digest"):
                digest = facts["payload"].get(name)
                if isinstance(digest, str):
                    named.setdefault(digest, []).append(int(entry["index"]))
        items = []
        for digest, indexes in named.items():
            raw = parse_digest(digest, field="digest")
            try:
                record = self._documents.get(raw)
                recorded: dict[str, Any] | None = {
                    "status": record.status, "kind": record.kind, "version": record.version,
                    "subject": digest_str(record.subject), "registered_index": record.registered_idx,
                    "changed_index": record.changed_idx}
            except NotFound:
                recorded = None
            registrations = [{"op": r.op, "status": r.status, "chain_id": r.chain_id, "contract": r.contract,
                              "tx_hash": "0x" + r.tx_hash.hex() if r.tx_hash else None,
                              "block_number": r.block_number, "confirmations": r.confirmations}
                             for r in self._documents.chain(raw)]
            items.append({"digest": digest, "entries": sorted(set(indexes)), "recorded": recorded,
                          "registrations": registrations})
        return {"abi": abi_fragment("DocumentRegistry", ("documentStatus",)), "items": items}


@functools.lru_cache(maxsize=8)
def _artifact_abi(contract: str) -> tuple[dict[str, Any], ...]:
    with (ARTIFACTS / f"{contract}.json").open(encoding="utf-8") as handle:
        return tuple(json.load(handle)["abi"])


def abi_fragment(contract: str, names: Sequence[str]) -> list[dict[str, Any]]:
    """The ABI entries of ``contract`` (its compiled artifact) named ``names``, in that order. Raises ``NotFound``
    for a name the contract does not have."""
    abi = {item.get("name"): item for item in _artifact_abi(contract)}
    missing = [name for name in names if name not in abi]
    if missing:
        raise NotFound(f"{contract}'s ABI has no {', '.join(missing)}")
    return [json.loads(json.dumps(abi[name])) for name in names]


def _described(row: EntryRow, *, tree_size: int, hashes: list[str]) -> dict[str, Any]:
    return {"index": row.idx, "leaf": b64(row.leaf), "leaf_hash": b64(row.leaf_hash), "event_id": row.event_id,
            "type": row.type, "stream": row.stream, "seq": row.seq, "recorded_at": row.recorded_at,
            "key_id": row.key_id, "inclusion": {"tree_size": tree_size, "hashes": hashes}}


def _opening(opened: Opened, subject: str) -> dict[str, Any]:
    return {"payload": opened.payload, "salt": b64(opened.salt), "data_subject": subject}


def _ordered(selected: Sequence[Selected], *, tree_size: int) -> list[Selected]:
    chosen = sorted(selected, key=lambda choice: choice.index)
    for before, after in itertools.pairwise(chosen):
        if before.index == after.index:
            raise ValidationFailed(f"entry {after.index} is selected twice", field="selected")
    for choice in chosen:
        if not 0 <= choice.index < tree_size:
            raise ValidationFailed(f"entry {choice.index} is outside the tree of {tree_size} entries",
                                   field="selected")
        if not choice.reason:
            raise ValidationFailed(f"entry {choice.index} is selected without a reason", field="selected")
    return chosen


def _check_subject(subject: Subject) -> None:
    if subject.kind not in SUBJECT_KINDS:
        raise ValidationFailed(f"subject kind {subject.kind!r} is not one of {', '.join(SUBJECT_KINDS)}",
                               field="subject.kind")
    if not subject.id or not subject.streams:
        raise ValidationFailed("a subject needs an id and at least one stream it holds whole", field="subject")


def _check_whole(subject: Subject, entries: Sequence[Mapping[str, Any]]) -> None:
    """Each stream the subject holds whole must run seq 1..n in the selection: the verifier refuses a gap."""
    for stream in subject.streams:
        seqs = [int(e["seq"]) for e in entries if e["stream"] == stream]
        if not seqs or seqs != list(range(1, len(seqs) + 1)):
            raise ValidationFailed(f"the selection does not hold {stream} whole (seq {seqs[:5]}...): a bundle's "
                                   f"subject streams run from seq 1 without a gap", field="selected")
