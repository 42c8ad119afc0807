"""A servicing request's state folded from its stream, and the transition table every request follows.

submitted → (awaiting confirmation) → (documents requested → received) → under review → approved → completed,
or rejected, or withdrawn before approval. Automatic operations go from submitted to completed in one group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.kernel import Event, copy_with
from ledger.servicing import events as ev

SUBMITTED = "submitted"
AWAITING_CONFIRMATION = "awaiting_confirmation"
DOCUMENTS_REQUESTED = "documents_requested"
UNDER_REVIEW = "under_review"
APPROVED = "approved"  # waits out its cooling-off (high-risk) or a payment (reinstatement)
COMPLETED = "completed"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

STATUSES = (AWAITING_CONFIRMATION, DOCUMENTS_REQUESTED, UNDER_REVIEW, APPROVED, COMPLETED, REJECTED, WITHDRAWN)
OPEN = (AWAITING_CONFIRMATION, DOCUMENTS_REQUESTED, UNDER_REVIEW, APPROVED)
CLOSED = (COMPLETED, REJECTED, WITHDRAWN)
WITHDRAWABLE = (AWAITING_CONFIRMATION, DOCUMENTS_REQUESTED, UNDER_REVIEW)  # before approval only

_ANY_OPEN = {s: (s,) for s in OPEN}
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    ev.SUBMITTED: {"": (AWAITING_CONFIRMATION, DOCUMENTS_REQUESTED, UNDER_REVIEW)},
    ev.CODE_SENT: {AWAITING_CONFIRMATION: (AWAITING_CONFIRMATION,)},
    ev.CODE_UNSENT: {AWAITING_CONFIRMATION: (AWAITING_CONFIRMATION,)},
    ev.CONFIRMED: {AWAITING_CONFIRMATION: (DOCUMENTS_REQUESTED, UNDER_REVIEW)},
    ev.DOCUMENTS_REQUESTED: {UNDER_REVIEW: (DOCUMENTS_REQUESTED,), DOCUMENTS_REQUESTED: (DOCUMENTS_REQUESTED,)},
    ev.DOCUMENTS_RECEIVED: {DOCUMENTS_REQUESTED: (DOCUMENTS_REQUESTED, UNDER_REVIEW)},
    ev.APPROVAL_RECORDED: {UNDER_REVIEW: (UNDER_REVIEW,)},
    ev.APPROVED: {UNDER_REVIEW: (APPROVED,)},
    ev.REJECTED: {s: (REJECTED,) for s in OPEN},
    ev.WITHDRAWN: {s: (WITHDRAWN,) for s in WITHDRAWABLE},
    ev.COMPLETED: {APPROVED: (COMPLETED,)},
    ev.PAYMENT_RECEIVED: {s: (s,) for s in OPEN},
}

# Operations whose money comes in from the customer through the request itself: approved, they complete only
# once the payment is recorded (a reinstatement is paid to the policy, a rider with the premiums it joins).
PAID_IN = frozenset({"loan_repayment"})


@dataclass(frozen=True)
class Step:
    """One step of the timeline a customer sees: what happened, when, and who did it."""

    index: int
    type: str
    at: datetime
    status: str
    actor: dict[str, Any]
    note: str = ""


@dataclass(frozen=True)
class RequestState:
    """Everything the lifecycle rules need about one request (facts only)."""

    request_id: str = ""
    status: str = ""
    submitted: dict[str, Any] = field(default_factory=dict)  # the submission's facts as recorded
    confirmed: bool = False
    code_sent: dict[str, Any] = field(default_factory=dict)
    codes_sent: int = 0
    unsent: tuple[int, ...] = ()  # journal indexes of sendings whose codes could not be stored (not counted)
    documents_missing: tuple[str, ...] = ()  # codes still awaited
    documents_received: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()  # staff ids who approved (four eyes: two distinct)
    approved_at: datetime | None = None
    effective_at: datetime | None = None  # the end of the cooling-off: completion may not come before
    outcome: dict[str, Any] = field(default_factory=dict)  # completed / rejected / withdrawn facts
    payment: dict[str, Any] = field(default_factory=dict)  # the customer's payment for the request, if any
    timeline: tuple[Step, ...] = ()
    last_seq: int = 0

    @property
    def codes_unsent(self) -> int:
        return len(self.unsent)

    @property
    def operation(self) -> str:
        return str(self.submitted.get("operation", ""))

    @property
    def application_id(self) -> str:
        return str(self.submitted.get("application_id", ""))

    @property
    def high_risk(self) -> bool:
        return bool(self.submitted.get("high_risk"))

    @property
    def flagged(self) -> bool:
        return bool(self.submitted.get("flags"))


def evolve(state: RequestState, event: Event) -> RequestState:
    """Fold one recorded event into the state (raises ``AssertionError`` for a transition the table forbids)."""
    nxt = _apply(state, event)
    allowed = TRANSITIONS.get(event.type)
    if allowed is not None and nxt.status not in allowed.get(state.status, ()):
        raise AssertionError(f"{event.type} cannot move a servicing request from {state.status or 'nothing'!r} to "
                             f"{nxt.status!r} (entry {event.index})")
    actor = dict(event.facts.get("actor") or {})
    note = str(event.facts.get("reason") or event.facts.get("note") or "")
    step = Step(index=event.index, type=event.type, at=event.recorded_at, status=nxt.status, actor=actor, note=note)
    return copy_with(nxt, timeline=(*nxt.timeline, step), last_seq=event.seq)


def after_prerequisites(missing: tuple[str, ...]) -> str:
    """Where a request goes once nothing but its documents may hold it."""
    return DOCUMENTS_REQUESTED if missing else UNDER_REVIEW


def _apply(state: RequestState, event: Event) -> RequestState:
    f = event.facts
    type = event.type
    if type == ev.SUBMITTED:
        missing = tuple(f["documents"]["missing"])
        status = AWAITING_CONFIRMATION if f["high_risk"] else after_prerequisites(missing)
        return copy_with(state, request_id=f["request_id"], status=status, submitted=dict(f),
                         documents_missing=missing, documents_received=tuple(f["documents"]["provided"]))
    if type == ev.CODE_SENT:
        return copy_with(state, code_sent=dict(f), codes_sent=state.codes_sent + 1)
    if type == ev.CODE_UNSENT:
        return copy_with(state, unsent=(*state.unsent, int(f["sent"])))
    if type == ev.CONFIRMED:
        return copy_with(state, confirmed=True, status=after_prerequisites(state.documents_missing))
    if type == ev.DOCUMENTS_REQUESTED:
        wanted = tuple(dict.fromkeys((*state.documents_missing, *f["documents"])))
        # a document asked for again is awaited again, even if one was received before
        received = tuple(code for code in state.documents_received if code not in f["documents"])
        return copy_with(state, status=DOCUMENTS_REQUESTED, documents_missing=wanted, documents_received=received)
    if type == ev.DOCUMENTS_RECEIVED:
        received = tuple(dict.fromkeys((*state.documents_received, *f["documents"])))
        missing = tuple(code for code in state.documents_missing if code not in f["documents"])
        return copy_with(state, documents_received=received, documents_missing=missing,
                         status=after_prerequisites(missing))
    if type == ev.APPROVAL_RECORDED:
        return copy_with(state, approvals=(*state.approvals, f["by"]))
    if type == ev.APPROVED:
        effective = datetime.fromisoformat(f["effective_at"].replace("Z", "+00:00"))
        return copy_with(state, status=APPROVED, approvals=tuple(dict.fromkeys((*state.approvals, *f["by"]))),
                         approved_at=event.recorded_at, effective_at=effective)
    if type == ev.REJECTED:
        return copy_with(state, status=REJECTED, outcome=dict(f))
    if type == ev.WITHDRAWN:
        return copy_with(state, status=WITHDRAWN, outcome=dict(f))
    if type == ev.COMPLETED:
        return copy_with(state, status=COMPLETED, outcome=dict(f))
    if type == ev.PAYMENT_RECEIVED:
        return copy_with(state, payment=dict(f))
    return state
