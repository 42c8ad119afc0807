"""A claim's state folded from its stream, and the transition table every claim follows.

reported → awaiting documents (the whole checklist at once) → complete → awaiting keying (an uploaded invoice or
the medical facts wait for a person to key them) → assessed: approved automatically, or under review (a reviewer
for the fast track, a named handler for major claims) → approved | partially approved → payment pending → paid →
closed; or declined → closed. A declined claim may be appealed (to a different handler) and any closed claim
reopened with new documents; a failed payment waits for a new account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.claims import events as ev
from ledger.kernel import Event, copy_with

AWAITING_DOCUMENTS = "awaiting_documents"
AWAITING_KEYING = "awaiting_keying"
UNDER_REVIEW = "under_review"
PAYMENT_PENDING = "payment_pending"
PAYMENT_FAILED = "payment_failed"  # the account was wrong: waits for the customer's new one
PAID = "paid"
DECLINED = "declined"
CLOSED = "closed"

STATUSES = (AWAITING_DOCUMENTS, AWAITING_KEYING, UNDER_REVIEW, PAYMENT_PENDING, PAYMENT_FAILED, PAID, DECLINED,
            CLOSED)
OPEN = (AWAITING_DOCUMENTS, AWAITING_KEYING, UNDER_REVIEW, PAYMENT_PENDING, PAYMENT_FAILED)
UNDECIDED = (AWAITING_DOCUMENTS, AWAITING_KEYING, UNDER_REVIEW)
GATHERING = (AWAITING_DOCUMENTS, AWAITING_KEYING)  # documents and keyed facts may still change the assessment

_ASSESSABLE = (AWAITING_DOCUMENTS, AWAITING_KEYING, UNDER_REVIEW)
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    ev.REPORTED: {"": (AWAITING_DOCUMENTS, AWAITING_KEYING)},
    ev.DOCUMENTS_RECEIVED: {s: (AWAITING_DOCUMENTS, AWAITING_KEYING, UNDER_REVIEW) for s in UNDECIDED},
    ev.DOCUMENTS_REQUESTED: {UNDER_REVIEW: (AWAITING_DOCUMENTS,), AWAITING_KEYING: (AWAITING_DOCUMENTS,),
                             AWAITING_DOCUMENTS: (AWAITING_DOCUMENTS,)},
    ev.INVOICE_RECEIVED: {s: (s,) for s in UNDECIDED},
    ev.MEDICAL_RECORDED: {s: (s,) for s in UNDECIDED},
    ev.ASSESSED: {s: (UNDER_REVIEW,) for s in _ASSESSABLE},
    ev.HANDLER_ASSIGNED: {s: (s,) for s in (*OPEN, DECLINED)},
    ev.DECIDED: {UNDER_REVIEW: (PAYMENT_PENDING, DECLINED)},
    ev.PAYMENT_INSTRUCTED: {PAYMENT_PENDING: (PAYMENT_PENDING,), UNDER_REVIEW: (UNDER_REVIEW,),
                            PAYMENT_FAILED: (PAYMENT_PENDING,), AWAITING_DOCUMENTS: (AWAITING_DOCUMENTS,),
                            AWAITING_KEYING: (AWAITING_KEYING,)},
    # an advance may settle after the claim is closed or declined: the status stays
    ev.PAYMENT_SETTLED: {**{s: (s, PAID, PAYMENT_FAILED) for s in OPEN}, CLOSED: (CLOSED,), DECLINED: (DECLINED,)},
    ev.ACCOUNT_CHANGED: {s: (s,) for s in OPEN},
    ev.NOTE_RECORDED: {s: (s,) for s in STATUSES},
    ev.FLAG_RESOLVED: {s: (s,) for s in STATUSES},
    ev.REOPENED: {CLOSED: (AWAITING_DOCUMENTS, UNDER_REVIEW), PAID: (AWAITING_DOCUMENTS, UNDER_REVIEW),
                  DECLINED: (AWAITING_DOCUMENTS, UNDER_REVIEW)},
    ev.APPEALED: {DECLINED: (UNDER_REVIEW,), CLOSED: (UNDER_REVIEW,)},
    ev.CLOSED: {PAID: (CLOSED,), DECLINED: (CLOSED,), AWAITING_DOCUMENTS: (CLOSED,), PAYMENT_PENDING: (CLOSED,)},
}


@dataclass(frozen=True)
class Step:
    """One step of the claim's timeline: what happened, when, and who did it (facts only)."""

    index: int
    type: str
    at: datetime
    actor: dict[str, Any]
    facts: dict[str, Any]


@dataclass(frozen=True)
class Mark:
    """When a clock moved: the entry and its recorded time."""

    index: int
    at: datetime


@dataclass(frozen=True)
class ClaimState:
    """Everything the claim rules need about one claim (facts only)."""

    claim_id: str = ""
    status: str = ""
    reported: dict[str, Any] = field(default_factory=dict)  # the report's facts as recorded
    reported_mark: Mark | None = None
    checklist: tuple[str, ...] = ()
    received: tuple[str, ...] = ()  # document codes given (uploaded or structured)
    uploads: dict[str, str] = field(default_factory=dict)  # code -> the latest digest (or "entry:<index>")
    missing: tuple[str, ...] = ()
    complete: Mark | None = None  # documents complete for the first time: the statutory clock starts
    requested: tuple[Mark, ...] = ()  # supplement notices after completion (the clock pauses)
    supplied: tuple[Mark, ...] = ()  # supplements received after a notice (the clock runs again)
    invoices: tuple[dict[str, Any], ...] = ()  # invoice facts, in the order received
    medical: dict[str, Any] = field(default_factory=dict)  # the latest keyed medical facts
    medical_index: int = 0
    assessment: dict[str, Any] = field(default_factory=dict)  # the latest claim.assessed facts
    assessed_index: int = 0
    track: str = ""
    handler: str = ""  # the named handler (major claims; appeals)
    decision: dict[str, Any] = field(default_factory=dict)  # the latest claim.decided facts
    decided: Mark | None = None
    deciders: tuple[str, ...] = ()  # staff who decided the claim before (an appeal goes to someone else)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # payment id -> instruction + settlement
    paid: Mark | None = None
    account_digest: str = ""
    resolved_flags: dict[str, bool] = field(default_factory=dict)  # rule -> confirmed
    reopened: int = 0
    appeals: int = 0
    timeline: tuple[Step, ...] = ()
    last_seq: int = 0

    @property
    def exists(self) -> bool:
        return bool(self.claim_id)

    @property
    def flags(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.assessment.get("flags", ()))

    def keying_needed(self, structured: frozenset[str]) -> list[str]:
        """What still waits for a person to key: invoices uploaded as pictures (structured documents given
        without a hospital's e-invoice), and the medical facts a claim type needs. Empty: assessable."""
        waiting = []
        uploaded_structured = [code for code in self.received if code in structured]
        if uploaded_structured and not self.invoices:
            waiting.append("invoices")
        if self.reported.get("claim_type") in ("critical_illness", "death", "disability", "accident") \
                and not self.medical:
            waiting.append("medical")
        return waiting

    def uploads_given(self) -> list[str]:
        """Every distinct document digest given (structured documents read ``entry:<index>``)."""
        return sorted(set(self.uploads.values()))

    def open_payment(self) -> dict[str, Any] | None:
        return next((p for p in self.payments.values() if p.get("status") in ("instructed", "failed")), None)


def evolve(state: ClaimState, event: Event) -> ClaimState:
    """Fold one recorded event (raises ``AssertionError`` for a transition the table forbids)."""
    nxt = _apply(state, event)
    allowed = TRANSITIONS.get(event.type)
    if allowed is not None and nxt.status not in allowed.get(state.status, ()):
        raise AssertionError(f"{event.type} cannot move a claim from {state.status or 'nothing'!r} to "
                             f"{nxt.status!r} (entry {event.index})")
    f = event.facts
    step = Step(index=event.index, type=event.type, at=event.recorded_at, actor=dict(f.get("actor") or {}),
                facts={k: v for k, v in f.items() if k not in ("actor", "claim_id")})
    return copy_with(nxt, last_seq=event.seq, timeline=(*nxt.timeline, step))


def _apply(state: ClaimState, event: Event) -> ClaimState:
    f, t = event.facts, event.type
    mark = Mark(index=event.index, at=event.recorded_at)
    if t == ev.REPORTED:
        return copy_with(state, claim_id=f["claim_id"], status=AWAITING_DOCUMENTS, reported=dict(f),
                         reported_mark=mark, checklist=tuple(f["checklist"]), missing=tuple(f["checklist"]),
                         account_digest=f.get("account_digest") or "")
    if t == ev.DOCUMENTS_RECEIVED:
        received = tuple(dict.fromkeys((*state.received, *f["documents"])))
        nxt = copy_with(state, received=received, missing=tuple(f["missing"]),
                        uploads={**state.uploads, **f["uploads"]})
        if f["complete"] and state.complete is None:
            nxt = copy_with(nxt, complete=mark)
        elif f["complete"] and len(state.requested) > len(state.supplied):
            nxt = copy_with(nxt, supplied=(*state.supplied, mark))
        return copy_with(nxt, status=_after_documents(nxt, f))
    if t == ev.DOCUMENTS_REQUESTED:
        requested = state.requested
        if state.complete is not None and len(state.requested) == len(state.supplied):
            requested = (*requested, mark)  # the statutory clock pauses until the supplement arrives
        return copy_with(state, status=AWAITING_DOCUMENTS, requested=requested,
                         missing=tuple(dict.fromkeys((*state.missing, *f["documents"]))),
                         received=tuple(code for code in state.received if code not in f["documents"]))
    if t == ev.INVOICE_RECEIVED:
        return copy_with(state, invoices=(*state.invoices, {**f, "index": event.index}))
    if t == ev.MEDICAL_RECORDED:
        return copy_with(state, medical=dict(f), medical_index=event.index)
    if t == ev.ASSESSED:
        return copy_with(state, status=UNDER_REVIEW, assessment=dict(f), assessed_index=event.index,
                         track=f["track"])
    if t == ev.HANDLER_ASSIGNED:
        return copy_with(state, handler=f["handler"])
    if t == ev.DECIDED:
        by = f["by"]
        deciders = state.deciders if not by or by in state.deciders else (*state.deciders, by)
        return copy_with(state, status=DECLINED if f["outcome"] == "decline" else PAYMENT_PENDING, decision=dict(f),
                         decided=state.decided or mark, deciders=deciders)
    if t == ev.PAYMENT_INSTRUCTED:
        payments = {**state.payments, f["payment_id"]: {**f, "status": "instructed", "index": event.index}}
        if f.get("replaces") in payments:  # a failed payment instructed again to a new account
            payments[f["replaces"]] = {**payments[f["replaces"]], "status": "replaced"}
        status = PAYMENT_PENDING if state.status == PAYMENT_FAILED else state.status
        return copy_with(state, payments=payments, status=status)
    if t == ev.PAYMENT_SETTLED:
        held = state.payments[f["payment_id"]]
        payments = {**state.payments, f["payment_id"]: {**held, "status": f["status"], "paid_at": f["paid_at"],
                                                        "reason": f["reason"]}}
        nxt = copy_with(state, payments=payments)
        if held["kind"] == "advance":
            return nxt
        if f["status"] == "paid":
            return copy_with(nxt, status=PAID, paid=state.paid or mark)
        return copy_with(nxt, status=PAYMENT_FAILED)
    if t == ev.ACCOUNT_CHANGED:
        return copy_with(state, account_digest=f["account_digest"])
    if t == ev.FLAG_RESOLVED:
        return copy_with(state, resolved_flags={**state.resolved_flags, f["rule"]: bool(f["confirmed"])})
    if t == ev.REOPENED:
        status = AWAITING_DOCUMENTS if f["documents"] else UNDER_REVIEW
        missing = tuple(f["documents"])
        return copy_with(state, status=status, reopened=state.reopened + 1, missing=missing,
                         received=tuple(code for code in state.received if code not in missing), decision={})
    if t == ev.APPEALED:
        return copy_with(state, status=UNDER_REVIEW, appeals=state.appeals + 1, handler=f["handler"])
    if t == ev.CLOSED:
        return copy_with(state, status=CLOSED)
    return state


def _after_documents(state: ClaimState, f: Mapping[str, Any]) -> str:
    if not f["complete"]:
        return AWAITING_DOCUMENTS
    if state.status == UNDER_REVIEW:
        return UNDER_REVIEW
    return AWAITING_KEYING
