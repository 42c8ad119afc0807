"""Servicing event types: which fields are business facts and which are personal (sealed under a person's key).

One request's whole life is one stream ``servicing:<request id>``. Facts (operation, policy, who asked in which
role, the amount with its inputs and versions, flags, decisions and reasons) are what the queue and the progress
page read; personal fields (a new address, contact or bank account, the names of new beneficiaries, document
digests) are sealed under the requester's own key and vanish with an erasure, leaving every fact in place.
"""

from __future__ import annotations

from ledger.log.catalog import EventType

SUBMITTED = "servicing.request.submitted"
CODE_SENT = "servicing.confirmation.sent"
CODE_UNSENT = "servicing.confirmation.unsent"  # a sending recorded whose code could not be stored: not counted
CONFIRMED = "servicing.confirmation.confirmed"
DOCUMENTS_REQUESTED = "servicing.documents.requested"
DOCUMENTS_RECEIVED = "servicing.documents.received"
APPROVAL_RECORDED = "servicing.request.approval_recorded"  # the first of two approvals (four eyes)
APPROVED = "servicing.request.approved"
REJECTED = "servicing.request.rejected"
WITHDRAWN = "servicing.request.withdrawn"
PAYMENT_RECEIVED = "servicing.payment.received"  # money the customer owes for the request (a loan repayment)
COMPLETED = "servicing.request.completed"

_ACTOR = "actor"

TYPES = (
    EventType(SUBMITTED, frozenset({
        "request_id", "application_id", "policy_no", "operation", "family", "catalog", "requester", "on_behalf",
        "input", "quote", "documents", "consents", "high_risk", "automatic", "flags", "correlation",
        "cooling_off_hours", "four_eyes", "exposure", "expected_by", "parties", _ACTOR}),
        frozenset({"details", "uploads"})),
    EventType(CODE_SENT, frozenset({"request_id", "channel", "expires_at", "tries", _ACTOR})),
    EventType(CODE_UNSENT, frozenset({"request_id", "sent", "reason", _ACTOR})),
    EventType(CONFIRMED, frozenset({"request_id", "channel", "status", _ACTOR})),
    EventType(DOCUMENTS_REQUESTED, frozenset({"request_id", "documents", "reason", _ACTOR})),
    EventType(DOCUMENTS_RECEIVED, frozenset({"request_id", "documents", "status", _ACTOR}),
              frozenset({"uploads"})),
    EventType(APPROVAL_RECORDED, frozenset({"request_id", "by", "note", _ACTOR})),
    EventType(APPROVED, frozenset({"request_id", "by", "note", "effective_at", _ACTOR})),
    EventType(REJECTED, frozenset({"request_id", "rule", "reason", "reason_zh", "refund", "by", _ACTOR})),
    EventType(WITHDRAWN, frozenset({"request_id", _ACTOR}), frozenset({"reason"})),
    EventType(PAYMENT_RECEIVED, frozenset({"request_id", "amount", "payment_ref", "paid_at", _ACTOR})),
    EventType(COMPLETED, frozenset({"request_id", "on", "changes", "amount", "document", "payout", _ACTOR})),
)

STREAM_PREFIX = "servicing:"


def stream_of(request_id: str) -> str:
    """The stream of one servicing request."""
    return f"{STREAM_PREFIX}{request_id}"
