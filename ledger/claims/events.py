"""Claim event types: which fields are business facts and which are personal (sealed under a person's key).

One claim's whole life is one stream ``claim:<claim id>``, written only by the ledger's workflow. Facts (policy,
claim type, loss date, the documents given, amounts with their inputs and versions, checks, flags, decisions and
reasons, payments, the digests of the uploaded documents, which are registered on chain as well) are what the
queues, clocks and KPIs read; personal fields (the description, diagnoses and medical history, a flag's quoted
health answers, bank accounts, a handler's note text) are sealed
under the insured's (or the payee's) own key and vanish with an erasure, leaving every fact in place.

Three types come from outside systems, signed with the system's own key: a hospital platform's first notice of
loss (``medical.claim.notified``), a hospital's e-invoice with its discharge summary (``medical.invoice.issued``)
and a payments system's settlement (``payments.claim.settled``). The claim then records what it took from them,
citing the entry.
"""

from __future__ import annotations

from ledger.log.catalog import EventType

REPORTED = "claim.reported"
DOCUMENTS_RECEIVED = "claim.documents.received"
DOCUMENTS_REQUESTED = "claim.documents.requested"
INVOICE_RECEIVED = "claim.invoice.received"
MEDICAL_RECORDED = "claim.medical.recorded"
ASSESSED = "claim.assessed"
HANDLER_ASSIGNED = "claim.handler.assigned"
DECIDED = "claim.decided"
PAYMENT_INSTRUCTED = "claim.payment.instructed"
PAYMENT_SETTLED = "claim.payment.settled"
ACCOUNT_CHANGED = "claim.account.changed"
NOTE_RECORDED = "claim.note.recorded"
FLAG_RESOLVED = "claim.flag.resolved"
REOPENED = "claim.reopened"
APPEALED = "claim.appealed"
CLOSED = "claim.closed"

HOSPITAL_INVOICE = "medical.invoice.issued"  # signed by a hospital or e-invoice platform
HOSPITAL_NOTICE = "medical.claim.notified"  # a hospital or medical-data platform's first notice of loss
PAYMENT_SETTLEMENT = "payments.claim.settled"  # signed by the payments system

_ACTOR = "actor"
_ID = "claim_id"

TYPES = (
    EventType(REPORTED, frozenset({
        _ID, "policy_no", "application_id", "insured", "claim_type", "cause", "loss_date", "reporter", "on_behalf",
        "channel", "checklist", "rules", "limitation_until", "payee", "account_digest", "evidence", "loss_held",
        _ACTOR}),
        frozenset({"description", "account"})),
    EventType(DOCUMENTS_RECEIVED, frozenset({_ID, "documents", "uploads", "missing", "complete", _ACTOR})),
    EventType(DOCUMENTS_REQUESTED, frozenset({_ID, "documents", "reason", "by", _ACTOR})),
    EventType(INVOICE_RECEIVED, frozenset({
        _ID, "invoice_no", "hospital", "admitted", "discharged", "total", "ineligible", "social_insurance_paid",
        "categories", "currency", "source", "evidence", "digest", "keyed_by", _ACTOR}),
        frozenset({"diagnoses", "history"})),
    EventType(MEDICAL_RECORDED, frozenset({
        _ID, "illness_group", "disability_grade", "death_date", "death_cause", "exclusion_facts", "diagnosis_groups",
        "keyed_by", _ACTOR}),
        frozenset({"diagnoses", "history"})),
    EventType(ASSESSED, frozenset({
        _ID, "assessment", "review", "flags", "track", "automatic", "versions", "on", _ACTOR}),
        frozenset({"flag_details"})),
    EventType(HANDLER_ASSIGNED, frozenset({_ID, "handler", "reason", "open_claims", _ACTOR})),
    EventType(DECIDED, frozenset({
        _ID, "outcome", "amount", "assessed", "adjustment", "reasons", "by", "automatic", "paid_before", "versions",
        "assessment_entry", "cover_seen", _ACTOR})),
    EventType(PAYMENT_INSTRUCTED, frozenset({
        _ID, "payment_id", "kind", "amount", "payee", "account_digest", "due_by", "replaces", "cover_seen", _ACTOR}),
        frozenset({"account"})),
    EventType(PAYMENT_SETTLED, frozenset({
        _ID, "payment_id", "status", "reason", "paid_at", "evidence", "system", _ACTOR})),
    EventType(ACCOUNT_CHANGED, frozenset({_ID, "account_digest", _ACTOR}), frozenset({"account"})),
    EventType(NOTE_RECORDED, frozenset({_ID, "kind", "by", "next_step_by", _ACTOR}), frozenset({"text"})),
    EventType(FLAG_RESOLVED, frozenset({_ID, "rule", "confirmed", "by", _ACTOR}), frozenset({"note"})),
    EventType(REOPENED, frozenset({_ID, "reason", "by", "documents", _ACTOR})),
    EventType(APPEALED, frozenset({_ID, "reason", "handler", _ACTOR})),
    EventType(CLOSED, frozenset({_ID, "reason", _ACTOR})),
    EventType(HOSPITAL_INVOICE, frozenset({
        _ID, "policy_no", "invoice_no", "hospital", "admitted", "discharged", "total", "ineligible",
        "social_insurance_paid", "categories", "currency"}),
        frozenset({"diagnoses", "history", "patient"})),
    EventType(HOSPITAL_NOTICE, frozenset({"policy_no", "claim_type", "cause", "loss_date", "hospital"}),
              frozenset({"description", "patient"})),
    EventType(PAYMENT_SETTLEMENT, frozenset({_ID, "payment_id", "status", "amount", "currency", "paid_at",
                                             "reason"})),
)

STREAM_PREFIX = "claim:"


def stream_of(claim_id: str) -> str:
    """The stream of one claim."""
    return f"{STREAM_PREFIX}{claim_id}"
