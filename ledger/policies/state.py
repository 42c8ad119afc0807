"""A policy's state folded from its stream, the status transition table, and the premium calendar it follows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.clock import add_months as add_months
from ledger.kernel import Event, copy_with
from ledger.policies import events as ev

# Application statuses (before issue), then the policy statuses of DOMAIN.md (ACORD-like).
AWAITING_DECLARATION = "awaiting_declaration"
REFERRED = "referred"
EVIDENCE_REQUESTED = "evidence_requested"
OFFERED = "offered"  # rated or with an exclusion: the customer accepts or refuses the terms
ACCEPTED = "accepted"  # waits for the first premium
POSTPONED = "postponed"
DECLINED = "declined"
WITHDRAWN = "withdrawn"
OFFER_REFUSED = "offer_refused"
FREE_LOOK = "FreeLook"
IN_FORCE = "InForce"
GRACE = "Grace"
SUSPENDED = "Suspended"
CANCELLED = "Cancelled"
MATURED = "Matured"
TERMINATED = "Terminated"
SURRENDERED = "Surrendered"

APPLICATION_STATUSES = (AWAITING_DECLARATION, REFERRED, EVIDENCE_REQUESTED, OFFERED, ACCEPTED, POSTPONED,
                        DECLINED, WITHDRAWN, OFFER_REFUSED)
POLICY_STATUSES = (FREE_LOOK, IN_FORCE, GRACE, SUSPENDED, CANCELLED, MATURED, TERMINATED, SURRENDERED)
CLOSED = (POSTPONED, DECLINED, WITHDRAWN, OFFER_REFUSED, CANCELLED, MATURED, TERMINATED, SURRENDERED)
LIVE = (FREE_LOOK, IN_FORCE, GRACE, SUSPENDED)  # a contract that servicing may still change

# Which event may move which status to which: anything else is a bug in ``decide`` and fails the fold loudly.
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    ev.SUBMITTED: {"": (AWAITING_DECLARATION,)},
    ev.ANSWERED: {AWAITING_DECLARATION: (AWAITING_DECLARATION,), SUSPENDED: (SUSPENDED,)},
    ev.DECIDED: {AWAITING_DECLARATION: (ACCEPTED, OFFERED, REFERRED, POSTPONED, DECLINED),
                 REFERRED: (ACCEPTED, OFFERED, POSTPONED, DECLINED, REFERRED),
                 EVIDENCE_REQUESTED: (ACCEPTED, OFFERED, POSTPONED, DECLINED, REFERRED)},
    ev.EVIDENCE_REQUESTED: {REFERRED: (EVIDENCE_REQUESTED,)},
    ev.EVIDENCE_PROVIDED: {EVIDENCE_REQUESTED: (REFERRED,)},
    ev.OFFER_ACCEPTED: {OFFERED: (ACCEPTED,)},
    ev.OFFER_REFUSED: {OFFERED: (OFFER_REFUSED,)},
    ev.WITHDRAWN: {s: (WITHDRAWN,) for s in (AWAITING_DECLARATION, REFERRED, EVIDENCE_REQUESTED, OFFERED,
                                               ACCEPTED)},
    ev.ISSUED: {ACCEPTED: (FREE_LOOK, IN_FORCE)},
    ev.FREE_LOOK_ENDED: {FREE_LOOK: (IN_FORCE,), GRACE: (GRACE,)},
    ev.GRACE_STARTED: {IN_FORCE: (GRACE,), FREE_LOOK: (GRACE,)},
    ev.LAPSED: {GRACE: (SUSPENDED,)},
    ev.LAPSE_RESCINDED: {SUSPENDED: (IN_FORCE,)},
    ev.REINSTATEMENT_REQUESTED: {SUSPENDED: (SUSPENDED,)},
    ev.REINSTATED: {SUSPENDED: (IN_FORCE,)},
    ev.CANCELLED: {FREE_LOOK: (CANCELLED,), SUSPENDED: (TERMINATED,)},
    ev.MATURED: {IN_FORCE: (MATURED,), GRACE: (MATURED,), FREE_LOOK: (MATURED,)},
    # a servicing request keeps the status or ends the contract (surrender, free-look cancellation)
    ev.SERVICED: {s: (s, SURRENDERED, CANCELLED, TERMINATED) for s in LIVE},
    ev.CLAIM_ENDED: {s: (TERMINATED,) for s in LIVE},
}

# What a completed servicing request may change on the contract (``policy.contract.serviced`` facts "changes").
SERVICEABLE = frozenset({"status", "policyholder", "beneficiaries", "plan", "premium", "occupation_class", "loans",
                         "auto_premium_loan", "waived_dues", "options", "riders", "paid_dues", "installments"})

MONTHS = {"annual": 12, "semiannual": 6, "quarterly": 3, "monthly": 1}


@dataclass(frozen=True)
class PolicyState:
    """Everything the rules need about one application and the policy it becomes (facts only)."""

    application_id: str = ""
    status: str = ""
    product: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    policyholder: str = ""
    insured: str = ""
    beneficiaries: tuple[dict[str, Any], ...] = ()
    insured_age: int = 0
    insured_sex: str = ""
    occupation_class: int = 0
    cover_with_us: dict[str, Any] = field(default_factory=dict)  # sums insured already with us, at application
    quote: dict[str, Any] = field(default_factory=dict)  # the premium as quoted at application
    premium: dict[str, Any] = field(default_factory=dict)  # the premium after underwriting (with any rating)
    decision: dict[str, Any] = field(default_factory=dict)  # the latest underwriting decision
    questionnaire: dict[str, Any] = field(default_factory=dict)
    declaration_complete: bool = False
    first_premium_paid: bool = False
    paid_dues: tuple[str, ...] = ()  # ISO due dates paid
    parked: int = 0
    payment_refs: frozenset[str] = frozenset()  # every payment recorded (applied or parked), by reference
    policy_no: str = ""
    effective_date: date | None = None
    issued_on: date | None = None
    free_look_end: date | None = None
    maturity_date: date | None = None
    installments: int = 0
    grace_days: int = 60
    grace_end: date | None = None
    lapsed_on: date | None = None
    reinstate_until: date | None = None
    notices: frozenset[tuple[str, str]] = frozenset()  # (kind, due date) sent
    documents: tuple[dict[str, Any], ...] = ()  # e-policy versions: version, digest, issued_on
    reinstatement: dict[str, Any] = field(default_factory=dict)  # accepted request: dues, amounts; {} if none
    reinstatement_paid: bool = False
    loans: tuple[dict[str, Any], ...] = ()  # open policy loans: request_id, principal, rate, start, due
    auto_premium_loan: bool = False
    waived_dues: tuple[str, ...] = ()  # ISO due dates not collected (a premium holiday, a claim's premium waiver)
    # ISO due date -> the installment (Money JSON) paid for it, at the premium of the day (a re-rating changes later
    # ones only); a due settled otherwise (waived, or a frequency change) has none
    due_premiums: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # dividend and survival-benefit payout options
    riders: tuple[dict[str, Any], ...] = ()  # riders attached by servicing: product, plan, premium, from
    serviced: tuple[dict[str, Any], ...] = ()  # completed servicing requests: request_id, operation, on
    # The contract's history as the claim rules read it: when the declaration was given, the suspensions
    # (lapsed on, reinstated on or None while suspended), the grace periods (due date, last day) and the day the
    # contract ended (cancelled, surrendered, terminated).
    submitted_at: datetime | None = None
    suspensions: tuple[tuple[date, date | None], ...] = ()
    graces: tuple[tuple[date, date], ...] = ()
    ended_on: date | None = None
    last_seq: int = 0

    @property
    def is_policy(self) -> bool:
        return self.status in POLICY_STATUSES

    def due_dates(self) -> list[date]:
        """Every premium due date of the payment term (the first is the effective date)."""
        if self.effective_date is None:
            return []
        months = MONTHS[self.plan["frequency"]]
        return [add_months(self.effective_date, k * months) for k in range(self.installments)]

    def next_due(self, *, paying: Iterable[str] = ()) -> date | None:
        """The first due date not yet paid (None once every premium of the payment term is paid); ``paying``
        names due dates (ISO) to count as paid too, as a reinstatement pays the overdue ones."""
        paid = set(self.paid_dues) | set(self.waived_dues) | set(paying)
        return next((d for d in self.due_dates() if d.isoformat() not in paid), None)

    def paid_until(self) -> date | None:
        """Cover is paid up to (not including) this date: the next unpaid due date, or maturity."""
        due = self.next_due()
        return due if due is not None else self.maturity_date

    def modal_premium(self) -> Decimal:
        return Decimal(self.premium["modal_premium"]["amount"])

    def due_premium(self, due: str) -> dict[str, Any]:
        """The installment (Money JSON) paid for the ISO due date ``due``: as recorded, else the current modal
        premium (a due settled by a frequency change, which no payment recorded)."""
        recorded = self.due_premiums.get(due)
        return dict(recorded) if recorded is not None else dict(self.premium["modal_premium"])


def _date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def evolve(state: PolicyState, event: Event) -> PolicyState:
    """Fold one recorded event into the state (raises ``AssertionError`` for a transition the table forbids)."""
    facts = event.facts
    nxt = _history(_apply(state, event.type, facts), event)
    allowed = TRANSITIONS.get(event.type)
    if allowed is not None and nxt.status not in allowed.get(state.status, ()):
        raise AssertionError(f"{event.type} cannot move a policy from {state.status or 'nothing'!r} to "
                             f"{nxt.status!r} (entry {event.index})")
    return copy_with(nxt, last_seq=event.seq)


def _history(state: PolicyState, event: Event) -> PolicyState:
    """The dated history the claim rules read (see ``PolicyState``)."""
    f = event.facts
    if event.type == ev.SUBMITTED:
        return copy_with(state, submitted_at=event.recorded_at)
    if event.type == ev.LAPSED:
        return copy_with(state, suspensions=(*state.suspensions, (date.fromisoformat(f["on"]), None)))
    if event.type == ev.LAPSE_RESCINDED and state.suspensions and state.suspensions[-1][1] is None:
        return copy_with(state, suspensions=state.suspensions[:-1])  # void: the contract was never suspended
    if event.type == ev.REINSTATED and state.suspensions and state.suspensions[-1][1] is None:
        return copy_with(state, suspensions=(*state.suspensions[:-1],
                                             (state.suspensions[-1][0], date.fromisoformat(f["on"]))))
    if event.type == ev.GRACE_STARTED:
        return copy_with(state, graces=(*state.graces, (date.fromisoformat(f["due_date"]),
                                                       date.fromisoformat(f["grace_end"]))))
    if event.type in (ev.CANCELLED, ev.CLAIM_ENDED) or (event.type == ev.SERVICED and f["changes"].get("status")):
        return copy_with(state, ended_on=date.fromisoformat(f["on"]))
    return state


def _apply(state: PolicyState, type: str, f: Any) -> PolicyState:
    if type == ev.SUBMITTED:
        return copy_with(state, application_id=f["application_id"], status=AWAITING_DECLARATION,
                         product=f["product"], plan=f["plan"], policyholder=f["policyholder"], insured=f["insured"],
                         beneficiaries=tuple(f["beneficiaries"]), insured_age=f["insured_age"],
                         insured_sex=f["insured_sex"], occupation_class=f["occupation_class"], quote=f["quote"],
                         cover_with_us=f["cover_with_us"],
                         premium=f["quote"])
    if type == ev.ANSWERED:
        return copy_with(state, questionnaire=f["questionnaire"], declaration_complete=bool(f["complete"]))
    if type == ev.DECIDED:
        outcome = f["decision"]["outcome"]
        status = {"standard": ACCEPTED, "rated": OFFERED, "exclusion": OFFERED, "postpone": POSTPONED,
                  "decline": DECLINED, "refer": REFERRED}[outcome]
        return copy_with(state, status=status, decision=f["decision"], premium=f["quote"] or state.premium)
    if type == ev.EVIDENCE_REQUESTED:
        return copy_with(state, status=EVIDENCE_REQUESTED)
    if type == ev.EVIDENCE_PROVIDED:
        return copy_with(state, status=REFERRED)
    if type == ev.OFFER_ACCEPTED:
        return copy_with(state, status=ACCEPTED)
    if type == ev.OFFER_REFUSED:
        return copy_with(state, status=OFFER_REFUSED)
    if type == ev.WITHDRAWN:
        return copy_with(state, status=WITHDRAWN)
    if type in (ev.PREMIUM_PAID, ev.PAYMENT_PARKED):
        state = copy_with(state, payment_refs=state.payment_refs | {f["payment_ref"]})
    if type == ev.PREMIUM_PAID:
        if f.get("purpose") == "first":
            return copy_with(state, first_premium_paid=True)
        if f.get("purpose") == "reinstatement":
            return copy_with(state, reinstatement_paid=True)
        return copy_with(state, paid_dues=(*state.paid_dues, f["due_date"]), grace_end=None,
                         due_premiums={**state.due_premiums, f["due_date"]: f["amount"]},
                         status=IN_FORCE if state.status == GRACE else state.status)
    if type == ev.PAYMENT_PARKED:
        return copy_with(state, parked=state.parked + 1)
    if type == ev.ISSUED:
        effective = date.fromisoformat(f["effective_date"])
        free_look_end = _date(f["free_look_end"])
        schedule = f["schedule"]
        return copy_with(state, status=FREE_LOOK if free_look_end is not None else IN_FORCE,
                         policy_no=f["policy_no"], effective_date=effective, issued_on=_date(f["issued_on"]),
                         free_look_end=free_look_end, maturity_date=_date(f["maturity_date"]),
                         installments=int(schedule["installments"]), grace_days=int(schedule["grace_days"]),
                         premium=f["premium"], paid_dues=(effective.isoformat(),),
                         due_premiums={effective.isoformat(): f["premium"]["modal_premium"]},
                         documents=(*state.documents, dict(f["document"], issued_on=f["issued_on"])))
    if type == ev.NOTICE_SENT:
        return copy_with(state, notices=state.notices | {(f["kind"], f["due_date"])})
    if type == ev.GRACE_STARTED:
        return copy_with(state, status=GRACE, grace_end=date.fromisoformat(f["grace_end"]))
    if type == ev.LAPSED:
        return copy_with(state, status=SUSPENDED, lapsed_on=date.fromisoformat(f["on"]),
                         reinstate_until=date.fromisoformat(f["reinstate_until"]))
    if type == ev.LAPSE_RESCINDED:
        return copy_with(state, status=IN_FORCE, grace_end=None, lapsed_on=None, reinstate_until=None,
                         reinstatement={}, reinstatement_paid=False)
    if type == ev.REINSTATEMENT_REQUESTED:
        return copy_with(state, reinstatement=f if f["accepted"] else {}, reinstatement_paid=False)
    if type == ev.REINSTATED:
        # the overdue installments are paid at the premium the reinstatement quoted them at, the current one
        return copy_with(state, status=IN_FORCE, paid_dues=tuple(sorted(set(state.paid_dues) | set(f["dues"]))),
                         due_premiums={**state.due_premiums,
                                       **{due: state.premium["modal_premium"] for due in f["dues"]}},
                         grace_end=None, lapsed_on=None, reinstate_until=None, reinstatement={},
                         reinstatement_paid=False,
                         documents=(*state.documents, dict(f["document"], issued_on=f["on"])))
    if type == ev.FREE_LOOK_ENDED:
        return copy_with(state, status=IN_FORCE if state.status == FREE_LOOK else state.status)
    if type == ev.CANCELLED:
        return copy_with(state, status=CANCELLED if state.status == FREE_LOOK else TERMINATED)
    if type == ev.MATURED:
        return copy_with(state, status=MATURED)
    if type == ev.CLAIM_ENDED:
        return copy_with(state, status=TERMINATED)
    if type == ev.PREMIUMS_WAIVED:
        return copy_with(state, waived_dues=tuple(sorted(set(state.waived_dues) | set(f["dues"]))))
    if type == ev.SERVICED:
        return with_changes(state, f["changes"], document=f["document"], on=f["on"],
                            serviced={"request_id": f["request_id"], "operation": f["operation"], "on": f["on"]})
    return state


def with_changes(state: PolicyState, changes: Any, *, document: Any = None, on: str | None = None,
                 serviced: dict[str, Any] | None = None) -> PolicyState:
    """The contract after a servicing request's ``changes`` (the fold, and the preview an e-policy is printed
    from before the request is recorded)."""
    unknown = set(changes) - SERVICEABLE
    if unknown:
        raise AssertionError(f"servicing cannot change {sorted(unknown)} of a contract")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "plan":
            values["plan"] = {**state.plan, **value}
        elif name == "options":
            values["options"] = {**state.options, **value}
        elif name in ("beneficiaries", "loans", "riders"):
            values[name] = tuple(value)
        elif name in ("paid_dues", "waived_dues"):
            values[name] = tuple(sorted(set(getattr(state, name)) | set(value)))
        else:
            values[name] = value
    if document:
        values["documents"] = (*state.documents, dict(document, issued_on=on))
    if serviced is not None:
        values["serviced"] = (*state.serviced, serviced)
    return copy_with(state, **values)


def grace_end_of(due: date, grace_days: int) -> date:
    """The last day of grace: ``grace_days`` counted from the day after the due date (IL 36)."""
    return due + timedelta(days=grace_days)
