"""An auditor's access: the grants that open payloads to them, and every read they made, on their own stream.

An auditor (a token in the ``auditor`` role) always sees the trail of any policy or claim: every entry's leaf,
type, time, signer and proofs, and the facts of the entries that hold no health data (amounts, decisions, rule
and table versions). More is opened only by a grant an administrator records:

- ``medical``: the events that carry health data (the health questionnaire, medical evidence, hospital invoices
  and notices, the keyed medical facts of a claim, the quoted answers behind a fraud flag), facts and personal
  part;
- ``personal``: the personal part of every event (names, identity numbers, contacts, bank accounts, notes).

A grant names the subjects it covers (``claim:<id>``, ``policy:<policy no>``, or ``*`` for all) and may end on a
date; a later revocation ends it at once. Grants, revocations and reads are events on the stream
``audit:<auditor>``, decided here and signed by the ledger, so who could see what, and who looked at what and
when, is itself in the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from ledger.claims import events as claim_events
from ledger.errors import Refused, ValidationFailed
from ledger.kernel import Actor, Event, NewEvent
from ledger.log.catalog import EventType
from ledger.policies import events as policy_events

GRANTED = "audit.access.granted"
REVOKED = "audit.access.revoked"
READ = "audit.trail.read"
STREAM_PREFIX = "audit:"

FACTS, MEDICAL, PERSONAL = "facts", "medical", "personal"
OPENINGS = (FACTS, MEDICAL, PERSONAL)
GRANTABLE = (MEDICAL, PERSONAL)  # facts need no grant
ALL_SUBJECTS = "*"
SUBJECT_KINDS = ("claim", "policy")
READ_KINDS = ("trail", "bundle")

# Event types whose facts or personal part are health data: opened only under a ``medical`` grant.
# An underwriting decision names the health findings behind it (its reasons, exclusions and the answers that
# triggered them); a reinstatement carries a new health declaration; a handler's note may speak of the health of
# the insured or the deceased.
# The reasons a person writes when asking for underwriting evidence or claim documents, reopening or appealing a
# claim, may name an illness too.
MEDICAL_TYPES = frozenset({
    policy_events.ANSWERED, policy_events.EVIDENCE_REQUESTED, policy_events.EVIDENCE_PROVIDED, policy_events.DECIDED,
    policy_events.REINSTATEMENT_REQUESTED,
    claim_events.MEDICAL_RECORDED, claim_events.INVOICE_RECEIVED, claim_events.HOSPITAL_INVOICE,
    claim_events.HOSPITAL_NOTICE, claim_events.ASSESSED, claim_events.NOTE_RECORDED,
    claim_events.DOCUMENTS_REQUESTED, claim_events.REOPENED, claim_events.APPEALED,
})
# Event types whose facts hold no health data but whose personal part does (a claim's description of the loss;
# the printed e-policy, with its exclusions): their personal part opens only under both grants.
HEALTH_IN_PERSONAL = frozenset({
    claim_events.REPORTED, policy_events.ISSUED, policy_events.REINSTATED, policy_events.SERVICED,
})

_ACTOR = "actor"
TYPES = (
    EventType(GRANTED, frozenset({"auditor", "grant_id", "openings", "subjects", "until", "reason", _ACTOR})),
    EventType(REVOKED, frozenset({"auditor", "grant_id", "reason", _ACTOR})),
    EventType(READ, frozenset({"auditor", "subject", "what", "openings", "grants", "entries", "tree_size",
                               "heads", "key_heads", "selection", "erased", _ACTOR})),
)


def stream_of(auditor: str) -> str:
    """The stream of one auditor's grants and reads; raises ``ValidationFailed`` (field ``auditor``) for a name
    that cannot be a stream's id (it holds a ``:``)."""
    if ":" in auditor:
        raise ValidationFailed(f"an auditor's name cannot hold ':' ({auditor!r}): it names their stream "
                               f"{STREAM_PREFIX}<auditor>", field="auditor")
    return f"{STREAM_PREFIX}{auditor}"


def subject_name(kind: str, subject_id: str) -> str:
    """How a grant and a read name what was looked at: ``claim:<id>`` or ``policy:<policy no>``."""
    return f"{kind}:{subject_id}"


@dataclass(frozen=True)
class Grant:
    """What one grant opens, for which subjects, until when (inclusive; None: until revoked)."""

    grant_id: str
    openings: tuple[str, ...]
    subjects: tuple[str, ...]
    until: date | None
    reason: str
    granted_at: datetime
    granted_by: str
    index: int
    revoked_at: datetime | None = None

    def active(self, on: date) -> bool:
        return self.revoked_at is None and (self.until is None or on <= self.until)

    def covers(self, subject: str) -> bool:
        return ALL_SUBJECTS in self.subjects or subject in self.subjects

    def to_json(self) -> dict[str, Any]:
        return {"grant_id": self.grant_id, "openings": list(self.openings), "subjects": list(self.subjects),
                "until": self.until.isoformat() if self.until else None, "reason": self.reason,
                "granted_at": self.granted_at.isoformat(), "granted_by": self.granted_by, "entry": self.index,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


@dataclass(frozen=True)
class Access:
    """Everything recorded on one auditor's stream: their grants (in order) and how many reads they made."""

    grants: tuple[Grant, ...] = ()
    reads: int = 0

    def opened(self, subject: str, on: date) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The openings an auditor has for ``subject`` on day ``on`` (always ``facts``), and the grants giving
        them."""
        used = [grant for grant in self.grants if grant.active(on) and grant.covers(subject)]
        found = {FACTS} | {opening for grant in used for opening in grant.openings}
        return tuple(o for o in OPENINGS if o in found), tuple(grant.grant_id for grant in used)


@dataclass(frozen=True)
class GrantAccess:
    auditor: str
    grant_id: str
    openings: tuple[str, ...]
    subjects: tuple[str, ...]
    until: date | None
    reason: str
    actor: Actor
    today: date | None = None  # the business date the grant is given on (the UTC date of ``now`` if None)


@dataclass(frozen=True)
class RevokeAccess:
    auditor: str
    grant_id: str
    reason: str
    actor: Actor


@dataclass(frozen=True)
class RecordRead:
    auditor: str
    subject: str
    what: str
    openings: tuple[str, ...]
    grants: tuple[str, ...]
    entries: int
    tree_size: int
    actor: Actor
    heads: Mapping[str, int] = field(default_factory=dict)  # each stream held whole -> its last seq in the read
    key_heads: Mapping[str, int] = field(default_factory=dict)  # each signer's system:<owner> -> its last seq
    selection: str | None = None  # sha256 of the bundle's selection (``selection_digest``); None for a trail
    erased: tuple[tuple[Any, ...], ...] = ()  # (index, "facts" | "personal") openings whose subject is erased


Command = GrantAccess | RevokeAccess | RecordRead


def _refuse(rule: str, en: str, zh: str, *, field: str | None = None) -> Refused:
    return Refused(en, rule=rule, zh=zh, field=field)


def check_subject_name(subject: str) -> str:
    """``subject`` if it is ``*``, ``claim:<id>`` or ``policy:<no>``; else a refusal naming it."""
    kind, sep, rest = subject.partition(":")
    if subject == ALL_SUBJECTS or (sep and kind in SUBJECT_KINDS and rest and len(subject) <= 160):
        return subject
    raise _refuse("AUDIT-GRANT-SUBJECT", f"a grant covers '*', claim:<id> or policy:<policy no>, not {subject!r}",
                  f"授权范围须为 '*'、claim:<编号> 或 policy:<保单号>，而不是 {subject!r}", field="subjects")


class AccessRules:
    """The aggregate of one auditor's stream: fold and the pure decision."""

    def initial(self) -> Access:
        return Access()

    def evolve(self, state: Access, event: Event) -> Access:
        facts = event.facts
        if event.type == GRANTED:
            until = facts.get("until")
            grant = Grant(grant_id=facts["grant_id"], openings=tuple(facts["openings"]),
                          subjects=tuple(facts["subjects"]), until=date.fromisoformat(until) if until else None,
                          reason=facts["reason"], granted_at=event.recorded_at,
                          granted_by=facts[_ACTOR]["party"], index=event.index)
            return replace(state, grants=(*state.grants, grant))
        if event.type == REVOKED:
            grants = tuple(replace(grant, revoked_at=event.recorded_at)
                           if grant.grant_id == facts["grant_id"] and grant.revoked_at is None else grant
                           for grant in state.grants)
            return replace(state, grants=grants)
        if event.type == READ:
            return replace(state, reads=state.reads + 1)
        return state

    def decide(self, state: Access, command: Command, now: datetime) -> Sequence[NewEvent]:
        return decide_access(state, command, now)


def decide_access(state: Access, command: Command, now: datetime) -> list[NewEvent]:
    """The events one command on an auditor's stream records, or a ``Refused`` naming the rule broken."""
    actor = {_ACTOR: command.actor.to_json()}
    if isinstance(command, GrantAccess):
        if not command.openings:
            raise _refuse("AUDIT-GRANT-OPENINGS", "a grant opens medical and/or personal data; name which",
                          "授权须写明开放医疗或个人数据", field="openings")
        for opening in command.openings:
            if opening not in GRANTABLE:
                raise _refuse("AUDIT-GRANT-OPENINGS", f"a grant opens one of {', '.join(GRANTABLE)}, "
                              f"not {opening!r} (facts are open to every auditor)",
                              f"授权只能开放 {'、'.join(GRANTABLE)}，而不是 {opening!r}", field="openings")
        if not command.subjects:
            raise _refuse("AUDIT-GRANT-SUBJECT", "a grant names the claims or policies it covers, or '*'",
                          "授权须写明所涉理赔或保单，或 '*'", field="subjects")
        subjects = tuple(dict.fromkeys(check_subject_name(s) for s in command.subjects))
        if command.until is not None and command.until < (command.today or now.date()):
            raise _refuse("AUDIT-GRANT-UNTIL", f"a grant cannot end in the past ({command.until.isoformat()})",
                          f"授权截止日不能早于今天（{command.until.isoformat()}）", field="until")
        if not command.reason.strip():
            raise _refuse("AUDIT-GRANT-REASON", "a grant states why it is given (the engagement, the request)",
                          "授权须写明理由", field="reason")
        if any(grant.grant_id == command.grant_id for grant in state.grants):
            raise _refuse("AUDIT-GRANT-ID", f"grant {command.grant_id} is recorded already",
                          f"授权 {command.grant_id} 已存在", field="grant_id")
        return [NewEvent(GRANTED, {"auditor": command.auditor, "grant_id": command.grant_id,
                                   "openings": [o for o in OPENINGS if o in command.openings],
                                   "subjects": list(subjects),
                                   "until": command.until.isoformat() if command.until else None,
                                   "reason": command.reason.strip(), **actor})]
    if isinstance(command, RevokeAccess):
        found = [grant for grant in state.grants if grant.grant_id == command.grant_id]
        if not found:
            raise _refuse("AUDIT-GRANT-UNKNOWN", f"auditor {command.auditor} has no grant {command.grant_id}",
                          f"审计员 {command.auditor} 没有授权 {command.grant_id}", field="grant_id")
        if found[0].revoked_at is not None:
            raise _refuse("AUDIT-GRANT-REVOKED", f"grant {command.grant_id} is revoked already",
                          f"授权 {command.grant_id} 已撤销", field="grant_id")
        return [NewEvent(REVOKED, {"auditor": command.auditor, "grant_id": command.grant_id,
                                   "reason": command.reason.strip(), **actor})]
    return [NewEvent(READ, {"auditor": command.auditor, "subject": command.subject, "what": command.what,
                            "openings": list(command.openings), "grants": list(command.grants),
                            "entries": command.entries, "tree_size": command.tree_size,
                            "heads": dict(sorted(command.heads.items())),
                            "key_heads": dict(sorted(command.key_heads.items())), "selection": command.selection,
                            "erased": [list(e) for e in sorted(command.erased)], **actor})]


@dataclass(frozen=True)
class Openings:
    """What an auditor may open of each entry of a trail, by event type."""

    openings: tuple[str, ...] = (FACTS,)
    medical_types: frozenset[str] = field(default=MEDICAL_TYPES)

    def facts(self, event_type: str) -> bool:
        return MEDICAL in self.openings if event_type in self.medical_types else FACTS in self.openings

    def personal(self, event_type: str) -> bool:
        """The personal part opens only with the facts (they hold its commitment): a ``personal`` grant opens the
        personal part of the events that hold no health data; ``medical`` that of the medical events; both that of
        the events whose personal part holds health data beside names (``HEALTH_IN_PERSONAL``)."""
        if not self.facts(event_type):
            return False
        if event_type in HEALTH_IN_PERSONAL:
            return PERSONAL in self.openings and MEDICAL in self.openings
        return PERSONAL in self.openings or (MEDICAL in self.openings and event_type in self.medical_types)

    def to_json(self) -> Mapping[str, Any]:
        return {"openings": list(self.openings), "medical_types": sorted(self.medical_types)}
