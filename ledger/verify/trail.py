"""The auditor's trail of a claim or a policy: which entries touch it, what the auditor may open of each, and the
record of every read.

A claim's trail holds its own stream whole, the entries it cites as evidence (a hospital's notice and
e-invoices, the payments system's settlements), the registrations of its documents, the contract's events it
caused (a benefit that ended the cover, premiums waived), the e-policy's lineage and the insured's party stream.
A policy's trail holds its contract stream whole, its e-policy lineage, every servicing request and claim made
on it (each whole, with their evidence and documents) and the party streams of everyone on the contract.

Every trail or bundle an auditor takes is recorded first, as ``audit.trail.read`` on their stream
(``ledger.verify.grants``): what they looked at, what was opened to them and under which grants, and how much.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ledger.claims import projection as claims_proj
from ledger.claims.events import stream_of as claim_stream
from ledger.errors import Conflict, ErasedError, NotFound, ValidationFailed
from ledger.journal.opening import Opener
from ledger.kernel import Actor
from ledger.log.encoding import canonical_json, digest_str, parse_digest, sha256
from ledger.log.reserved import LEDGER_KEY_ID
from ledger.policies import projection as policies_proj
from ledger.policies.events import stream_of as contract_stream
from ledger.projections import documents as docs
from ledger.services.documents import DocumentService
from ledger.services.keys import KeyService
from ledger.services.log import LogService
from ledger.servicing import projection as servicing_proj
from ledger.servicing.events import stream_of as servicing_stream
from ledger.verify import grants as g
from ledger.verify.bundle import BundleBuilder, Selected, Subject
from ledger.workflow import Workflow, new_id

__all__ = ["Actor", "Selection", "TrailService"]

# Keys under which a fact cites the rule, table and product versions that produced an amount or a decision.
CITATION_KEYS = ("versions", "rules", "rule", "basis", "product", "ruleset", "rule_set", "table", "tables", "catalog")
MAX_CITATION_DEPTH = 6
READ_REASON = "the ledger's record of this read, naming the last seq of each stream held whole"
READ_ATTEMPTS = 5  # selections made again when a whole stream moved before the read was recorded
# Where a workflow event names a person by party id (the actor, who may be staff, is left out).
PARTY_KEYS = ("policyholder", "insured", "party", "payee", "reporter", "owner", "new_owner")
PARTY_ID = re.compile(r"P[0-9A-F]{20}")


class Rows(Protocol):
    def get(self, table: str, key: Any) -> Mapping[str, Any] | None: ...

    def select(self, table: str, *, where: Mapping[str, Any] | None = None, order_by: Sequence[str] = (),
               limit: int | None = None) -> Sequence[Mapping[str, Any]]: ...


class ContractState(Protocol):
    @property
    def documents(self) -> Sequence[Mapping[str, Any]]: ...


class Contracts(Protocol):
    """What the trail reads of the policies: the application behind a number, and the contract's state (its
    e-policy versions)."""

    def application_of(self, policy_no: str) -> str: ...

    def get(self, application_id: str) -> ContractState: ...


@dataclass
class Selection:
    """The entries of one subject's trail, each with the reason it is there, and the streams held whole (each
    with the last seq selected)."""

    kind: str
    id: str
    reasons: dict[int, str] = field(default_factory=dict)
    types: dict[int, str] = field(default_factory=dict)
    signers: dict[int, str] = field(default_factory=dict)  # index -> the key id that signed it
    heads: dict[str, int] = field(default_factory=dict)  # each stream held whole -> the last seq selected

    @property
    def subject(self) -> Subject:
        return Subject(kind=self.kind, id=self.id, streams=tuple(self.heads))

    def add(self, index: int, event_type: str, reason: str, *, key_id: str) -> None:
        if index not in self.reasons:
            self.reasons[index] = reason
            self.types[index] = event_type
            self.signers[index] = key_id

    def selected(self, openings: g.Openings) -> list[Selected]:
        return [Selected(index=index, reason=self.reasons[index], open_facts=openings.facts(self.types[index]),
                         open_personal=openings.personal(self.types[index]))
                for index in sorted(self.reasons)]


class TrailService:
    """Trails and evidence bundles for auditors, and the grants that decide what they open."""

    def __init__(self, *, workflow: Workflow, opener: Opener, log: LogService, documents: DocumentService,
                 keys: KeyService, read: Rows, contracts: Contracts, builder: BundleBuilder,
                 today: Callable[[], date]) -> None:
        self._workflow = workflow
        self._opener = opener
        self._log = log
        self._documents = documents
        self._keys = keys
        self._read = read
        self._contracts = contracts
        self._builder = builder
        self._today = today  # the business date (grants end on a day where the insurer is)
        self._rules = g.AccessRules()

    # -- grants --------------------------------------------------------------------------------------------------

    def grant(self, auditor: str, *, openings: Sequence[str], subjects: Sequence[str], until: date | None,
              reason: str, actor: Actor) -> g.Grant:
        """Record a grant opening ``openings`` of ``subjects`` to ``auditor``; raises ``Refused`` naming the rule
        a bad grant breaks."""
        for name in subjects:
            self._check_exists(name)
        command = g.GrantAccess(auditor=auditor, grant_id=new_id("G"), openings=tuple(openings),
                                subjects=tuple(subjects), until=until, reason=reason, actor=actor,
                                today=self._today())
        state = self._workflow.run(self._rules, g.stream_of(auditor), command).state
        return state.grants[-1]

    def _check_exists(self, name: str) -> None:
        """A grant names claims and policies that exist (or ``*``); raises ``ValidationFailed`` naming one that
        does not."""
        kind, _, subject_id = name.partition(":")
        try:
            if kind == "claim" and self._read.get(claims_proj.CLAIMS, (subject_id,)) is None:
                raise NotFound(f"no claim {subject_id}")
            if kind == "policy":
                self._contracts.application_of(subject_id)
        except NotFound:
            raise ValidationFailed(f"a grant names {name}, which does not exist", field="subjects") from None

    def revoke(self, auditor: str, grant_id: str, *, reason: str, actor: Actor) -> g.Grant:
        """End a grant now; raises ``Refused`` if the auditor has no such grant or it is revoked already."""
        command = g.RevokeAccess(auditor=auditor, grant_id=grant_id, reason=reason, actor=actor)
        state = self._workflow.run(self._rules, g.stream_of(auditor), command).state
        return next(grant for grant in state.grants if grant.grant_id == grant_id)

    def access(self, auditor: str) -> g.Access:
        """An auditor's grants (active or not) and how many reads they made."""
        return self._workflow.load(self._rules, g.stream_of(auditor))[0]

    def reads(self, auditor: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The auditor's recorded reads, newest first: what, when, what was opened, under which grants."""
        found = [event for event in self._workflow.history(g.stream_of(auditor)) if event.type == g.READ]
        return [{"entry": event.index, "at": event.recorded_at.isoformat(), "subject": event.facts["subject"],
                 "what": event.facts["what"], "openings": event.facts["openings"], "grants": event.facts["grants"],
                 "entries": event.facts["entries"], "tree_size": event.facts["tree_size"]}
                for event in reversed(found)][:limit]

    # -- trails and bundles -----------------------------------------------------------------------------------

    def claim_trail(self, claim_id: str, *, auditor: str) -> dict[str, Any]:
        """Every entry touching the claim with its proof in the latest checkpoint and what the auditor's grants
        open of it; the read is recorded first. Raises ``NotFound`` for an unknown claim."""
        return self._trail(self.select_claim(claim_id), auditor=auditor)

    def policy_trail(self, policy_no: str, *, auditor: str) -> dict[str, Any]:
        """As ``claim_trail``, for a policy (``NotFound`` for an unknown policy number)."""
        return self._trail(self.select_policy(policy_no), auditor=auditor)

    def claim_bundle(self, claim_id: str, *, auditor: str) -> dict[str, Any]:
        """The claim's evidence bundle (``docs/FORMATS.md``); the read is recorded first."""
        return self._bundle(lambda: self.select_claim(claim_id), auditor=auditor)

    def policy_bundle(self, policy_no: str, *, auditor: str) -> dict[str, Any]:
        """The policy's evidence bundle; the read is recorded first."""
        return self._bundle(lambda: self.select_policy(policy_no), auditor=auditor)

    def _openings(self, selection: Selection, auditor: str) -> tuple[g.Openings, tuple[str, ...], str]:
        name = g.subject_name(selection.subject.kind, selection.subject.id)
        openings, used = self.access(auditor).opened(name, self._today())
        return g.Openings(openings), used, name

    def _record(self, auditor: str, *, name: str, what: str, openings: g.Openings, used: tuple[str, ...],
                entries: int, tree_size: int, heads: Mapping[str, int], key_heads: Mapping[str, int] | None = None,
                selection: str | None = None, erased: Sequence[Sequence[Any]] = ()) -> int:
        command = g.RecordRead(auditor=auditor, subject=name, what=what, openings=openings.openings, grants=used,
                               entries=entries, tree_size=tree_size, heads=heads, key_heads=key_heads or {},
                               selection=selection, erased=tuple(tuple(e) for e in erased),
                               actor=Actor("auditor", auditor))
        return self._workflow.run(self._rules, g.stream_of(auditor), command).events[-1].index


    def _trail(self, selection: Selection, *, auditor: str) -> dict[str, Any]:
        openings, used, name = self._openings(selection, auditor)
        selected = selection.selected(openings)
        checkpoint = self._log.latest_covering(max(selection.reasons))
        tree_size, note = checkpoint.tree_size, checkpoint.note
        entries = self._builder.entries(selected, tree_size=tree_size)
        for entry in entries:
            facts = entry.get("facts")
            payload = facts.get("payload") if isinstance(facts, Mapping) else None
            entry["citations"] = citations(payload) if isinstance(payload, Mapping) else None
        read = self._record(auditor, name=name, what="trail", openings=openings, used=used, entries=len(entries),
                            tree_size=tree_size, heads=selection.heads)
        subject = selection.subject
        return {"subject": {"kind": subject.kind, "id": subject.id, "streams": list(subject.streams)},
                "auditor": auditor, "openings": list(openings.openings), "grants": list(used),
                "medical_types": sorted(openings.medical_types), "recorded_as": read, "tree_size": tree_size,
                "checkpoint": note, "entries": entries}

    def _bundle(self, select: Callable[[], Selection], *, auditor: str) -> dict[str, Any]:
        """The read is recorded first and the bundle carries that record, which commits to the selection (which
        entries, which openings, which of them are erased), the last seq of every stream held whole and of every
        signer's key history: a bundle cut short, padded, or with openings taken out no longer matches what the
        ledger signed. If anything touching the subject was written between the selection and the record (a new
        event, a new stream, an erasure), the selection is made again and another read recorded."""
        for _ in range(READ_ATTEMPTS):
            selection = select()
            openings, used, name = self._openings(selection, auditor)
            selected = selection.selected(openings)
            key_heads = self._key_heads(selection)
            erased = self._erased(selection, selected)
            digest = selection_digest(selected)
            read = self._record(auditor, name=name, what="bundle", openings=openings, used=used,
                                entries=len(selected), tree_size=self._log.size(), heads=selection.heads,
                                key_heads=key_heads, selection=digest, erased=erased)
            again = select()
            chosen = again.selected(self._openings(again, auditor)[0])
            if (selection_digest(chosen), again.heads, self._key_heads(again), self._erased(again, chosen)) == \
                    (digest, selection.heads, key_heads, erased):
                break
        else:
            raise Conflict(f"the streams of {selection.subject.kind} {selection.subject.id} kept moving while the "
                           f"bundle was made; try again", field="subject")
        record = Selected(index=read, reason=READ_REASON, open_facts=True, open_personal=False)
        grant = {**openings.to_json(), "grants": list(used), "recorded_as": read}
        return self._builder.build(selection.subject, selected, grant=grant, generated_for=auditor, record=record)

    def _erased(self, selection: Selection, selected: Sequence[Selected]) -> list[list[Any]]:
        """``[index, "facts" | "personal"]`` for every opening of the selection whose data subject's key is
        destroyed: the ledger says so in the read record, so a bundle cannot pass off an opening it took out as
        erased. The ledger seals the facts it signs under its own subject, never erased: only the facts of
        entries another system signed are opened to find out."""
        found: list[list[Any]] = []
        for choice in selected:
            if not choice.open_facts:
                continue
            if selection.signers[choice.index] != LEDGER_KEY_ID:
                try:
                    self._opener.payload(choice.index)
                except ErasedError:
                    found.append([choice.index, "facts"])
                    continue
            if choice.open_personal:
                try:
                    self._opener.personal(choice.index)
                except ErasedError:
                    found.append([choice.index, "personal"])
        return found

    def _key_heads(self, selection: Selection) -> dict[str, int]:
        """The last seq of the key history (``system:<owner>``) of every system whose key signed a selected
        entry."""
        owners = {self._keys.get(key_id).owner for key_id in set(selection.signers.values())
                  if key_id != LEDGER_KEY_ID}
        heads: dict[str, int] = {}
        for owner in sorted(owners):
            rows = self._opener.stream(f"system:{owner}")
            if rows:
                heads[f"system:{owner}"] = rows[-1][0].seq
        return heads

    # -- what touches a subject ----------------------------------------------------------------------------------

    def select_claim(self, claim_id: str) -> Selection:
        """The entries of a claim's trail. Raises ``NotFound`` for an unknown claim."""
        row = self._read.get(claims_proj.CLAIMS, (claim_id,))
        if row is None:
            raise NotFound(f"no claim {claim_id}", field="claim_id")
        application_id = str(row["application_id"])
        selection = Selection(kind="claim", id=claim_id)
        named = self._whole(selection, claim_stream(claim_id), "the claim's own stream", evidence=True)
        for stream in self._claim_documents([claim_id]):
            self._whole(selection, stream, "a document of the claim, registered on chain")
        for stream in self._lineages(application_id):
            self._whole(selection, stream, "the e-policy's versions")
        for party in sorted({str(row["insured"]), *named}):
            self._whole(selection, f"party:{party}", "the party record of someone the claim names")
        for entry, facts in self._opener.stream(contract_stream(application_id)):
            if facts is not None and facts.get("claim_id") == claim_id:
                selection.add(entry.idx, entry.type, "a change to the contract the claim caused", key_id=entry.key_id)
        return selection

    def select_policy(self, policy_no: str) -> Selection:
        """The entries of a policy's trail. Raises ``NotFound`` for an unknown policy number."""
        application_id = self._contracts.application_of(policy_no)
        requests = [str(r["request_id"]) for r in self._read.select(
            servicing_proj.REQUESTS, where={"application_id": application_id}, order_by=("request_id",))]
        claims = [str(r["claim_id"]) for r in self._read.select(
            claims_proj.CLAIMS, where={"application_id": application_id}, order_by=("claim_id",))]
        parties = {str(r["party_id"]) for r in self._read.select(
            policies_proj.PARTIES, where={"application_id": application_id})}
        selection = Selection(kind="policy", id=policy_no)
        parties |= self._whole(selection, contract_stream(application_id), "the contract's own stream",
                               evidence=True)
        for stream in self._lineages(application_id):
            self._whole(selection, stream, "the e-policy's versions")
        for request_id in requests:
            parties |= self._whole(selection, servicing_stream(request_id), f"servicing request {request_id}",
                                   evidence=True)
        for claim_id in claims:
            parties |= self._whole(selection, claim_stream(claim_id), f"claim {claim_id}", evidence=True)
        for stream in self._claim_documents(claims):
            self._whole(selection, stream, "a claim document, registered on chain")
        for party in sorted(parties):  # everyone ever on the contract: a replaced beneficiary too
            self._whole(selection, f"party:{party}", "a party to the contract, now or before")
        return selection

    def _whole(self, selection: Selection, stream: str, reason: str, *, evidence: bool = False) -> set[str]:
        """Every entry of ``stream`` (held whole once it has one); with ``evidence``, also the entries its facts
        cite as evidence. Returns the parties its facts name."""
        named: set[str] = set()
        for entry, facts in self._opener.stream(stream):
            selection.add(entry.idx, entry.type, reason, key_id=entry.key_id)
            selection.heads[stream] = max(selection.heads.get(stream, 0), entry.seq)
            if facts is None:
                continue
            named |= parties_named(facts)
            if evidence:
                for cited in cited_entries(facts):
                    if cited < entry.idx:
                        row = self._log.entry(cited)
                        selection.add(cited, row.type, f"evidence cited by entry {entry.idx}", key_id=row.key_id)
        return named

    def _lineages(self, application_id: str) -> list[str]:
        """The document streams of the contract's e-policy versions (one per lineage, in order)."""
        found: dict[str, None] = {}
        for document in self._contracts.get(application_id).documents:
            subject = str(document.get("subject") or "")
            if subject.startswith("sha256:"):
                found[docs.stream_of(parse_digest(subject, field="subject"))] = None
        return list(found)

    def _claim_documents(self, claim_ids: Iterable[str]) -> list[str]:
        """The document streams of the uploads given to the claims (each registered on chain)."""
        found: dict[str, None] = {}
        for claim_id in claim_ids:
            for row in self._read.select(claims_proj.DOCUMENTS, where={"claim_id": claim_id}, order_by=("idx",)):
                try:
                    record = self._documents.get(parse_digest(str(row["digest"]), field="digest"))
                except (NotFound, ValidationFailed):
                    continue  # a picture keyed by a person is an upload, not a registered document
                found[docs.stream_of(record.subject)] = None
        return list(found)


def parties_named(facts: Mapping[str, Any]) -> set[str]:
    """The party ids a workflow event's facts name as policyholder, insured, beneficiary, payee, reporter or owner
    (wherever they sit; the ``actor``, who may be staff, is left out)."""
    found: set[str] = set()

    def walk(value: Any, depth: int) -> None:
        if depth > MAX_CITATION_DEPTH:
            return
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key == "actor":
                    continue
                if key in PARTY_KEYS and isinstance(inner, str) and PARTY_ID.fullmatch(inner):
                    found.add(inner)
                else:
                    walk(inner, depth + 1)
        elif isinstance(value, list | tuple):
            for inner in value[:100]:
                walk(inner, depth + 1)

    walk(facts, 0)
    return found


def selection_digest(selected: Sequence[Selected]) -> str:
    """What the ledger's record of a bundle's read commits to: ``sha256:`` of the RFC 8785 bytes of
    ``[[index, open_facts, open_personal], ...]`` in index order (docs/FORMATS.md, "Evidence bundles")."""
    rows = [[choice.index, choice.open_facts, choice.open_personal]
            for choice in sorted(selected, key=lambda c: c.index)]
    return digest_str(sha256(canonical_json(rows)))


def cited_entries(facts: Mapping[str, Any]) -> list[int]:
    """The entry indexes a workflow event cites as its evidence (``"evidence": <index>`` or a list of indexes, as a
    fraud flag cites), in the facts or in a value they hold one level down (an invoice, a settlement)."""
    found: list[int] = []
    values: list[Any] = [facts, *(v for v in facts.values() if isinstance(v, Mapping))]
    for value in values:
        cited = value.get("evidence")
        for item in cited if isinstance(cited, list) else [cited]:
            if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
                found.append(item)
    return found


def citations(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The rule, table and product versions an event's facts cite, by where they were found (``assessment.basis``
    ...), without the inputs: what the trail shows beside each decision and amount."""
    found: dict[str, Any] = {}

    def walk(value: Any, path: str, depth: int) -> None:
        if depth > MAX_CITATION_DEPTH:
            return
        if isinstance(value, Mapping):
            for key, inner in value.items():
                where = f"{path}.{key}" if path else str(key)
                if key in CITATION_KEYS and not isinstance(inner, list | tuple):
                    found[where] = _without_inputs(inner)
                elif key != "inputs":
                    walk(inner, where, depth + 1)
        elif isinstance(value, list | tuple):
            for position, inner in enumerate(value[:50]):
                walk(inner, f"{path}[{position}]", depth + 1)

    walk(facts, "", 0)
    return found


def _without_inputs(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: inner for key, inner in value.items() if key != "inputs"}
    return value
