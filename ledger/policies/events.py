"""Policy event types: which fields are business facts and which are personal (sealed under a person's key).

A policy's whole life, from application to maturity, is one stream ``contract:<application id>``. Facts (plan,
amounts, decisions, reasons, rule and table versions, party ids) are what projections read and what a replay
rebuilds state from; personal fields (health answers, accounts, identity documents, the names printed on the
e-policy) are sealed under the person's own key and vanish with an erasure, leaving every fact in place.
"""

from __future__ import annotations

from ledger.log.catalog import EventType

SUBMITTED = "policy.application.submitted"
ANSWERED = "policy.declaration.answered"
DECIDED = "policy.underwriting.decided"
EVIDENCE_REQUESTED = "policy.underwriting.evidence_requested"
EVIDENCE_PROVIDED = "policy.underwriting.evidence_provided"
OFFER_ACCEPTED = "policy.offer.accepted"
OFFER_REFUSED = "policy.offer.refused"
WITHDRAWN = "policy.application.withdrawn"
PREMIUM_PAID = "policy.premium.paid"
PAYMENT_PARKED = "policy.payment.parked"
ISSUED = "policy.contract.issued"
NOTICE_SENT = "policy.notice.sent"
GRACE_STARTED = "policy.contract.grace_started"
LAPSED = "policy.contract.lapsed"
LAPSE_RESCINDED = "policy.contract.lapse_rescinded"  # the premium was paid within grace, but heard of after the lapse
REINSTATEMENT_REQUESTED = "policy.contract.reinstatement_requested"
REINSTATED = "policy.contract.reinstated"
FREE_LOOK_ENDED = "policy.contract.free_look_ended"
CANCELLED = "policy.contract.cancelled"
MATURED = "policy.contract.matured"
SERVICED = "policy.contract.serviced"  # a completed servicing request changed (or ended) the contract
CLAIM_ENDED = "policy.contract.claim_ended"  # a paid claim whose benefit ends the cover (death, a severe illness)
PREMIUMS_WAIVED = "policy.premiums.waived"  # a paid claim triggered the premium waiver: the dues left are waived

_ACTOR = "actor"

TYPES = (
    EventType(SUBMITTED, frozenset({
        "application_id", "product", "plan", "policyholder", "insured", "beneficiaries", "insured_age",
        "insured_sex", "occupation_class", "quote", "consent", "cover_with_us", "channel", _ACTOR}),
        frozenset({"payment_account", "identity_documents", "relationship", "people", "authorization"})),
    EventType(ANSWERED, frozenset({"application_id", "questionnaire", "complete", _ACTOR}), frozenset({"answers"})),
    EventType(DECIDED, frozenset({"application_id", "decision", "quote", "by", "note", _ACTOR}),
              frozenset({"triggers"})),
    EventType(EVIDENCE_REQUESTED, frozenset({"application_id", "evidence", "reason", _ACTOR})),
    EventType(EVIDENCE_PROVIDED, frozenset({"application_id", _ACTOR}), frozenset({"documents"})),
    EventType(OFFER_ACCEPTED, frozenset({"application_id", _ACTOR})),
    EventType(OFFER_REFUSED, frozenset({"application_id", "reason", _ACTOR})),
    EventType(WITHDRAWN, frozenset({"application_id", "reason", _ACTOR})),
    EventType(PREMIUM_PAID, frozenset({"application_id", "amount", "due_date", "payment_ref", "paid_at",
                                       "interest", "purpose", _ACTOR})),
    EventType(PAYMENT_PARKED, frozenset({"application_id", "amount", "payment_ref", "paid_at", "reason", "reference",
                                         "kept_once", _ACTOR})),
    EventType(ISSUED, frozenset({"application_id", "policy_no", "effective_date", "issued_on", "free_look_end",
                                 "maturity_date", "premium", "schedule", "document", _ACTOR}),
              frozenset({"epolicy"})),
    EventType(NOTICE_SENT, frozenset({"application_id", "kind", "due_date", "channel", "text_zh", "text_en",
                                      "on", _ACTOR})),
    EventType(GRACE_STARTED, frozenset({"application_id", "due_date", "grace_end", _ACTOR})),
    EventType(LAPSED, frozenset({"application_id", "due_date", "on", "reinstate_until", _ACTOR})),
    EventType(LAPSE_RESCINDED, frozenset({"application_id", "due_date", "paid_on", "grace_end", "on", _ACTOR})),
    EventType(REINSTATEMENT_REQUESTED, frozenset({"application_id", "accepted", "dues", "overdue", "interest",
                                                  "total", "interest_rate", "rule", "on", "valid_until", "decision",
                                                  _ACTOR}),
              frozenset({"answers", "triggers"})),
    EventType(REINSTATED, frozenset({"application_id", "on", "dues", "paid_until", "document", _ACTOR}),
              frozenset({"epolicy"})),
    EventType(FREE_LOOK_ENDED, frozenset({"application_id", "on", _ACTOR})),
    EventType(CANCELLED, frozenset({"application_id", "reason", "refund", "basis", "on", _ACTOR})),
    EventType(MATURED, frozenset({"application_id", "on", _ACTOR})),
    EventType(SERVICED, frozenset({"application_id", "request_id", "operation", "changes", "amount", "document",
                                   "on", "previous_beneficiaries", "settled", _ACTOR}),
              frozenset({"epolicy"})),
    EventType(CLAIM_ENDED, frozenset({"application_id", "claim_id", "coverages", "on", _ACTOR})),
    EventType(PREMIUMS_WAIVED, frozenset({"application_id", "claim_id", "dues", "on", _ACTOR})),
)


STREAM_PREFIX = "contract:"
UNMATCHED_PAYMENTS = "ledger:unmatched-payments"  # payments naming no known application or policy, parked for review


def stream_of(application_id: str) -> str:
    """The stream of one application and the policy it becomes."""
    return f"{STREAM_PREFIX}{application_id}"
