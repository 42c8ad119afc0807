"""The policy rules as a pure function: ``decide(state, command, now)`` returns new events or raises ``Refused``.

Nothing here reads a clock, a file, the database or the chain: the service loads the product, the questionnaire,
the rule set and the answers given so far, puts them in the command, and records what comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.errors import Refused, ValidationFailed
from ledger.kernel import Actor as Actor  # re-exported: the policies service and routes name it here
from ledger.kernel import Event, NewEvent
from ledger.money import Money
from ledger.policies import events as ev
from ledger.policies import state as st
from ledger.policies.rules.questionnaire import Questionnaire, check_answers, is_complete
from ledger.policies.rules.ruleset import RuleSet
from ledger.policies.rules.underwriting import UnderwritingInput, decide_underwriting
from ledger.policies.state import PolicyState, add_months, grace_end_of

Repricer = Callable[[Decimal], dict[str, Any]]  # extra premium % -> the quote's JSON (premium, basis, inputs)


@dataclass(frozen=True)
class Submit:
    """An application, recorded with the people it registers and, when it carries a complete declaration, its
    automatic underwriting: one group, all or none."""

    application_id: str
    facts: Mapping[str, Any]  # product, plan, parties, insured age and sex, occupation class, quote, consent
    personal: Mapping[str, Any]  # payment account, identity document digests, relationship, printed names
    actor: Actor
    parties: tuple[NewEvent, ...] = ()  # registrations of people not yet known, on their own streams
    declaration: Answer | None = None  # answers sent with the application


@dataclass(frozen=True)
class Answer:
    answers: Mapping[str, Any]  # this round's answers
    previous: Mapping[str, Any]  # every answer given before (opened by the service)
    questionnaire: Questionnaire
    rules: RuleSet
    automatic_limit: Money
    reprice: Repricer
    actor: Actor


@dataclass(frozen=True)
class Underwrite:
    """An underwriter's action on a referral: accept, counter_offer, request_evidence or decline."""

    action: str
    reason: str
    actor: Actor
    reprice: Repricer
    extra_premium_pct: Decimal = Decimal(0)
    exclusions: tuple[Mapping[str, str], ...] = ()
    postpone_months: int | None = None
    evidence: str = ""


@dataclass(frozen=True)
class ProvideEvidence:
    documents: tuple[str, ...]
    actor: Actor


@dataclass(frozen=True)
class RespondToOffer:
    accept: bool
    actor: Actor
    reason: str = ""


@dataclass(frozen=True)
class Withdraw:
    reason: str
    actor: Actor


@dataclass(frozen=True)
class Pay:
    """A payment confirmed by the payments system. ``issue`` (a first premium) and ``reinstate`` (a paid-up
    reinstatement) are prepared by the service so that the payment and what it completes land together."""

    amount: Money
    payment_ref: str
    paid_at: str
    actor: Actor
    today: date
    issue: Issue | None = None
    reinstate: Reinstate | None = None
    paid_on: date | None = None  # the business date of ``paid_at`` (not after ``today``); None: ``today``


@dataclass(frozen=True)
class Issue:
    policy_no: str
    today: date
    document: Mapping[str, Any]  # version, digest, subject commitment, salt
    epolicy: Mapping[str, Any]  # the printed (masked) view: personal, sealed under the policyholder
    registration: NewEvent  # the document registry event that queues the digest for the chain
    free_look_days: int
    grace_days: int
    actor: Actor


@dataclass(frozen=True)
class Tick:
    """The clock: perform every transition due on ``today`` (each once: the state remembers what was done)."""

    today: date
    notice_days: tuple[int, ...] = (30, 7)
    # The business date the clock runs on, when it catches up on an earlier ``today``: a reminder of a due date
    # (or a grace end) already past by then is not sent. None: ``today``.
    sent_on: date | None = None
    reinstatement_years: int = 2
    actor: Actor = field(default_factory=lambda: Actor("system", "clock"))
    # For a suspended policy: its cash value on a day (amount, basis, inputs) and the revocation of its e-policy,
    # to end the contract when the reinstatement window has passed (IL 37).
    cash_value: Callable[[date], Mapping[str, Any]] | None = None
    revocation: NewEvent | None = None


@dataclass(frozen=True)
class RequestReinstatement:
    """Reinstate a suspended policy: a new, complete health declaration, underwritten; the premiums overdue plus
    simple interest at ``interest_rate`` a year from each due date are then payable (IL 37)."""

    answers: Mapping[str, Any]
    questionnaire: Questionnaire
    rules: RuleSet
    automatic_limit: Money
    interest_rate: Decimal
    today: date
    actor: Actor


@dataclass(frozen=True)
class Reinstate:
    """Put a suspended policy whose reinstatement is paid back in force, with a new e-policy version that
    supersedes the current one on chain."""

    today: date
    document: Mapping[str, Any]
    epolicy: Mapping[str, Any]
    supersession: NewEvent
    actor: Actor


@dataclass(frozen=True)
class CancelInFreeLook:
    today: date
    actor: Actor
    revocation: NewEvent  # the document registry event that revokes the e-policy on chain


def refuse(rule: str, en: str, zh: str, *, field: str | None = None) -> Refused:
    return Refused(f"{en} (rule {rule})", rule=rule, zh=zh, field=field)


def _need(state: PolicyState, statuses: Sequence[str], *, doing_en: str, doing_zh: str) -> None:
    if state.status not in statuses:
        current = state.status or "none"
        raise refuse("POLICY-STATUS", f"cannot {doing_en} while the application or policy is {current!r}",
                     f"当前状态（{current}）不能{doing_zh}")


def decide(state: PolicyState, command: object, now: datetime) -> list[NewEvent]:
    """The events ``command`` leads to from ``state`` at ``now``; raises ``Refused`` naming the rule."""
    if isinstance(command, Submit):
        if state.status:
            raise refuse("APPLICATION-EXISTS", "this application was submitted already", "该投保申请已提交")
        submitted = NewEvent(ev.SUBMITTED, {**command.facts, "application_id": command.application_id,
                                            "actor": command.actor.to_json()},
                             personal=command.personal, personal_subject=command.facts["policyholder"])
        recorded = [*command.parties, submitted]
        if command.declaration is not None:
            recorded += _answer(_then(state, submitted, now), command.declaration)
        return recorded
    if isinstance(command, Answer):
        return _answer(state, command)
    if isinstance(command, Underwrite):
        return _underwrite(state, command)
    if isinstance(command, ProvideEvidence):
        _need(state, (st.EVIDENCE_REQUESTED,), doing_en="provide evidence", doing_zh="补充资料")
        return [NewEvent(ev.EVIDENCE_PROVIDED, {"application_id": state.application_id,
                                                "actor": command.actor.to_json()},
                         personal={"documents": list(command.documents)}, personal_subject=state.insured)]
    if isinstance(command, RespondToOffer):
        _need(state, (st.OFFERED,), doing_en="answer an offer", doing_zh="答复核保条件")
        if command.accept:
            return [NewEvent(ev.OFFER_ACCEPTED, {"application_id": state.application_id,
                                                 "actor": command.actor.to_json()})]
        return [NewEvent(ev.OFFER_REFUSED, {"application_id": state.application_id, "reason": command.reason,
                                            "actor": command.actor.to_json()})]
    if isinstance(command, Withdraw):
        _need(state, (st.AWAITING_DECLARATION, st.REFERRED, st.EVIDENCE_REQUESTED, st.OFFERED, st.ACCEPTED),
              doing_en="withdraw", doing_zh="撤回申请")
        if state.first_premium_paid:
            raise refuse("PREMIUM-PAID", "the first premium is paid; the policy is being issued",
                         "首期保费已缴，保单正在签发")
        return [NewEvent(ev.WITHDRAWN, {"application_id": state.application_id, "reason": command.reason,
                                        "actor": command.actor.to_json()})]
    if isinstance(command, Pay):
        return _pay(state, command)
    if isinstance(command, Issue):
        return _issue(state, command)
    if isinstance(command, Tick):
        return _tick(state, command)
    if isinstance(command, RequestReinstatement):
        return _request_reinstatement(state, command)
    if isinstance(command, Reinstate):
        return _reinstate(state, command)
    if isinstance(command, CancelInFreeLook):
        _need(state, (st.FREE_LOOK,), doing_en="cancel in the free-look period", doing_zh="犹豫期退保")
        assert state.free_look_end is not None
        if command.today > state.free_look_end:
            raise refuse("FREE-LOOK-OVER", f"the free-look period ended on {state.free_look_end}",
                         f"犹豫期已于 {state.free_look_end} 结束")
        paid = Money(state.modal_premium() * len(state.paid_dues), state.premium["modal_premium"]["currency"])
        return [NewEvent(ev.CANCELLED, {"application_id": state.application_id, "reason": "free_look",
                                        "refund": paid.rounded().to_json(), "on": command.today.isoformat(),
                                        "actor": command.actor.to_json()}),
                command.revocation]
    raise TypeError(f"no policy rule for {type(command).__name__}")


def split_decision(decided: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A decision's facts (outcome, terms, reason codes and sentences, versions) and, apart, the health answers
    each reason was triggered by, which are the insured's personal data."""
    reasons = [dict(reason) for reason in decided.get("reasons", [])]
    triggers = {str(reason.get("code")): reason.pop("answers", {}) for reason in reasons}
    return {**decided, "reasons": reasons}, {"triggers": triggers}


def _answer(state: PolicyState, command: Answer) -> list[NewEvent]:
    _need(state, (st.AWAITING_DECLARATION,), doing_en="answer the health questionnaire", doing_zh="填写健康告知")
    merged = {**command.previous, **command.answers}
    check_answers(command.questionnaire, merged)
    complete = is_complete(command.questionnaire, merged)
    q = command.questionnaire
    recorded = [NewEvent(ev.ANSWERED, {"application_id": state.application_id,
                                       "questionnaire": {"id": q.id, "version": q.version, "digest": q.digest},
                                       "complete": complete, "actor": command.actor.to_json()},
                         personal={"answers": dict(command.answers)}, personal_subject=state.insured)]
    if not complete:
        return recorded
    given = UnderwritingInput(
        product_id=state.product["id"], product_kind=state.product["kind"], age=state.insured_age,
        sex=state.insured_sex, occupation_class=state.occupation_class,
        height_cm=Decimal(str(merged["height_cm"])), weight_kg=Decimal(str(merged["weight_kg"])),
        sum_insured=Money.from_json(state.plan["sum_insured"]),
        cover_with_us=Money.from_json(state.cover_with_us),
        automatic_limit=command.automatic_limit, answers=merged)
    decision = decide_underwriting(command.rules, command.questionnaire, given)
    decided, triggers = split_decision(decision.to_json())
    quote = command.reprice(Decimal(decided.get("extra_premium_pct", "0"))) if decision.outcome in (
        "standard", "rated", "exclusion") else {}
    recorded.append(NewEvent(ev.DECIDED, {"application_id": state.application_id, "decision": decided,
                                          "quote": quote, "by": "auto", "note": "",
                                          "actor": command.actor.to_json()},
                             personal=triggers, personal_subject=state.insured))
    return recorded


MANUAL = {
    "accept": ("standard", "UW-ACCEPT", "Accepted by the underwriter at standard rates", "核保员按标准体承保"),
    "counter_offer": ("rated", "UW-COUNTER-OFFER", "The underwriter offers cover on changed terms",
                      "核保员提出变更承保条件"),
    "decline": ("decline", "UW-DECLINE", "Declined by the underwriter", "核保员拒保"),
    "postpone": ("postpone", "UW-POSTPONE", "Postponed by the underwriter", "核保员延期承保"),
}


def _underwrite(state: PolicyState, command: Underwrite) -> list[NewEvent]:
    _need(state, (st.REFERRED, st.EVIDENCE_REQUESTED), doing_en="decide an application that is not referred",
          doing_zh="处理未转人工核保的申请")
    if not command.reason.strip():
        raise refuse("UW-REASON", "every underwriting action needs a reason", "核保决定须说明理由", field="reason")
    if command.action == "request_evidence":
        if not command.evidence.strip():
            raise refuse("UW-EVIDENCE", "name the evidence requested", "请写明所需资料", field="evidence")
        return [NewEvent(ev.EVIDENCE_REQUESTED, {"application_id": state.application_id,
                                                 "evidence": command.evidence, "reason": command.reason,
                                                 "actor": command.actor.to_json()})]
    if command.action not in MANUAL:
        raise refuse("UW-ACTION", f"unknown underwriting action {command.action!r}; one of accept, counter_offer, "
                     "request_evidence, postpone, decline", "未知的核保操作", field="action")
    outcome, code, en, zh = MANUAL[command.action]
    extra = command.extra_premium_pct
    if command.action == "accept" and (extra > 0 or command.exclusions):
        raise refuse("UW-ACCEPT-TERMS", "an acceptance is at standard terms; use counter_offer for an extra premium "
                     "or an exclusion (the customer then accepts or refuses them)",
                     "按标准体承保不能附加费或除外责任；请使用变更承保条件，由客户确认", field="action")
    if command.action == "counter_offer":
        if extra <= 0 and not command.exclusions:
            raise refuse("UW-COUNTER-OFFER", "a counter-offer needs an extra premium or an exclusion",
                         "变更承保条件须有加费或除外责任", field="extra_premium_pct")
        outcome = "rated" if extra > 0 else "exclusion"
    if command.action == "postpone" and not command.postpone_months:
        raise refuse("UW-POSTPONE", "a postponement needs a number of months", "延期须注明月数",
                     field="postpone_months")
    decision = {
        "outcome": outcome, "extra_premium_pct": str(extra if outcome in ("rated", "exclusion") else 0),
        "exclusions": [dict(x) for x in command.exclusions], "postpone_months": command.postpone_months,
        "reasons": [{"code": code, "en": f"{en}: {command.reason}", "zh": f"{zh}：{command.reason}"}],
        "ruleset": state.decision.get("ruleset"), "questionnaire": state.decision.get("questionnaire"),
    }
    quote = command.reprice(extra) if outcome in ("standard", "rated", "exclusion") else {}
    return [NewEvent(ev.DECIDED, {"application_id": state.application_id, "decision": decision, "quote": quote,
                                  "by": command.actor.party, "note": command.reason,
                                  "actor": command.actor.to_json()})]


REINSTATEMENT_RULE = "reinstatement-interest-v1"  # simple interest, actual days / 365, per overdue premium
GRACE_REMINDER_DAYS = 30  # a second grace notice at D+30 (DOMAIN.md §2: notices at D+1 and D+30)


def _request_reinstatement(state: PolicyState, command: RequestReinstatement) -> list[NewEvent]:
    _need(state, (st.SUSPENDED,), doing_en="reinstate", doing_zh="复效")
    assert state.reinstate_until is not None
    if state.reinstatement_paid:
        raise refuse("REINSTATEMENT-PAID", "the reinstatement is paid and being completed", "复效款项已缴，正在办理")
    if state.maturity_date is not None and command.today >= state.maturity_date:
        raise refuse("REINSTATEMENT-MATURED", f"the policy's term ended on {state.maturity_date}; there is nothing "
                     "to reinstate", f"保险期间已于 {state.maturity_date} 届满，无法复效")
    if command.today > state.reinstate_until:
        raise refuse("REINSTATEMENT-WINDOW", f"the reinstatement period ended on {state.reinstate_until} (IL 37: "
                     "two years from suspension)",
                     f"复效期已于 {state.reinstate_until} 届满（保险法第三十七条：中止后两年内）")
    check_answers(command.questionnaire, command.answers)
    if not is_complete(command.questionnaire, command.answers):
        raise ValidationFailed("reinstatement needs a complete new health declaration", field="answers")
    given = UnderwritingInput(
        product_id=state.product["id"], product_kind=state.product["kind"], age=state.insured_age,
        sex=state.insured_sex, occupation_class=state.occupation_class,
        height_cm=Decimal(str(command.answers["height_cm"])), weight_kg=Decimal(str(command.answers["weight_kg"])),
        sum_insured=Money.from_json(state.plan["sum_insured"]), cover_with_us=Money.zero(state.plan["sum_insured"]
                                                                                          ["currency"]),
        automatic_limit=command.automatic_limit, answers=command.answers)
    decision = decide_underwriting(command.rules, command.questionnaire, given)
    decided, triggers = split_decision(decision.to_json())
    accepted = decision.outcome == "standard"
    premium = Money.from_json(state.premium["modal_premium"]).rounded()
    dues = [due for due in state.due_dates() if due.isoformat() not in state.paid_dues and due <= command.today]
    # The quote holds until the day before another premium falls due (its dues would change), within the window.
    later = [due for due in state.due_dates() if due > command.today]
    valid_until = min([state.reinstate_until, *([later[0] - timedelta(days=1)] if later else []),
                       *([state.maturity_date - timedelta(days=1)] if state.maturity_date else [])])
    overdue = Money(premium.amount * len(dues), premium.currency)
    days = sum((command.today - due).days for due in dues)
    interest = Money(premium.amount * command.interest_rate * Decimal(days) / Decimal(365), premium.currency).rounded()
    return [NewEvent(ev.REINSTATEMENT_REQUESTED, {
        "application_id": state.application_id, "accepted": accepted, "dues": [due.isoformat() for due in dues],
        "overdue": overdue.to_json(), "interest": interest.to_json(), "total": (overdue + interest).to_json(),
        "interest_rate": str(command.interest_rate), "rule": REINSTATEMENT_RULE, "on": command.today.isoformat(),
        "valid_until": valid_until.isoformat(),
        "decision": decided, "actor": command.actor.to_json()},
        personal={"answers": dict(command.answers), **triggers}, personal_subject=state.insured)]


def _then(state: PolicyState, new: NewEvent, now: datetime) -> PolicyState:
    """The state after ``new`` (not yet recorded): for a decision that goes on in the same group."""
    return st.evolve(state, Event(index=-1, seq=state.last_seq + 1, type=new.type, event_id="", recorded_at=now,
                                  facts=new.facts))


def _pay(state: PolicyState, command: Pay) -> list[NewEvent]:
    paid = _payment(state, command)
    if paid[0].type != ev.PREMIUM_PAID:
        return paid
    purpose = paid[0].facts["purpose"]
    now = datetime.combine(command.today, datetime.min.time(), tzinfo=UTC)
    if purpose == "first" and command.issue is not None:
        return [*paid, *_issue(_then(state, paid[0], now), command.issue)]
    if purpose == "reinstatement" and command.reinstate is not None:
        return [*paid, *_reinstate(_then(state, paid[0], now), command.reinstate)]
    return paid


def _payment(state: PolicyState, command: Pay) -> list[NewEvent]:
    base = {"application_id": state.application_id, "amount": command.amount.to_json(),
            "payment_ref": command.payment_ref, "paid_at": command.paid_at, "actor": command.actor.to_json()}

    def park(reason: str) -> list[NewEvent]:
        return [NewEvent(ev.PAYMENT_PARKED, {**base, "reason": reason})]

    if command.payment_ref in state.payment_refs:
        return park(f"payment {command.payment_ref} was recorded on this policy already")
    if not state.premium:
        return park("no premium is due on this application")
    paid_on = command.paid_on or command.today
    if state.status == st.SUSPENDED:
        rescinding = _paid_within_grace(state, command, paid_on)
        if rescinding:
            return rescinding
        if not state.reinstatement or state.reinstatement_paid:
            return park("the policy is suspended; ask for reinstatement first")
        valid_until = date.fromisoformat(state.reinstatement["valid_until"])
        if state.reinstate_until is not None and command.today >= _suspension_end(state)[0]:
            return park(f"the policy ended on {_suspension_end(state)[0]} without reinstatement; nothing is due")
        if command.today > valid_until:
            return park(f"the reinstatement quote of {state.reinstatement['on']} was valid until {valid_until}; "
                        "ask for reinstatement again")
        total = Money.from_json(state.reinstatement["total"])
        if command.amount != total:
            return park(f"the amount {command.amount} does not match the reinstatement amount, {total}")
        return [NewEvent(ev.PREMIUM_PAID, {**base, "due_date": None, "interest": state.reinstatement["interest"],
                                           "purpose": "reinstatement"})]
    due_amount = Money.from_json(state.premium["modal_premium"]).rounded()
    if command.amount != due_amount:  # exactly: a fraction of a cent more or less is not the premium
        return park(f"the amount {command.amount} does not match the premium due, {due_amount}")
    if state.status == st.ACCEPTED and not state.first_premium_paid:
        return [NewEvent(ev.PREMIUM_PAID, {**base, "due_date": None, "interest": None, "purpose": "first"})]
    if state.status in (st.FREE_LOOK, st.IN_FORCE, st.GRACE):
        due = state.next_due()
        if due is None:
            return park("every premium of the payment term is paid")
        if due > add_months(command.today, 2):
            return park(f"the next premium is due on {due}, more than two months away")
        grace_end = grace_end_of(due, state.grace_days)
        if paid_on > grace_end:  # the contract lapses at the end of grace (IL 36), whether or not the clock has run
            return park(f"the premium due on {due} was paid on {paid_on}, after its grace period ended on "
                        f"{grace_end}; the policy lapses, so ask for reinstatement")
        return [NewEvent(ev.PREMIUM_PAID, {**base, "due_date": due.isoformat(), "interest": None,
                                           "purpose": "renewal"})]
    return park(f"no premium is due while the application or policy is {state.status!r}")


def _paid_within_grace(state: PolicyState, command: Pay, paid_on: date) -> list[NewEvent]:
    """A lapsed policy's overdue premium, paid within its grace period but heard of after the clock lapsed the
    policy: the premium is applied and the lapse rescinded (IL 36 suspends a contract only if the premium is not
    paid within grace), with a notice. Nothing (an empty list) if the payment is not that."""
    due = state.next_due()
    if due is None or state.reinstatement_paid or state.lapsed_on is None:
        return []
    grace_end = grace_end_of(due, state.grace_days)
    premium = Money.from_json(state.premium["modal_premium"]).rounded()
    if paid_on > grace_end or command.amount != premium:
        return []
    base = {"application_id": state.application_id, "actor": command.actor.to_json()}
    return [NewEvent(ev.PREMIUM_PAID, {**base, "amount": command.amount.to_json(), "payment_ref": command.payment_ref,
                                       "paid_at": command.paid_at, "due_date": due.isoformat(), "interest": None,
                                       "purpose": "renewal"}),
            NewEvent(ev.LAPSE_RESCINDED, {**base, "due_date": due.isoformat(), "paid_on": paid_on.isoformat(),
                                          "grace_end": grace_end.isoformat(), "on": command.today.isoformat()}),
            _notice(base, "lapse_rescinded", due, command.today, state, paid_on=paid_on)]


def _reinstate(state: PolicyState, command: Reinstate) -> list[NewEvent]:
    _need(state, (st.SUSPENDED,), doing_en="reinstate", doing_zh="复效")
    if not state.reinstatement or not state.reinstatement_paid:
        raise refuse("REINSTATEMENT-UNPAID", "the premiums overdue and their interest are not paid yet",
                     "复效所需的欠缴保费及利息尚未缴清")
    dues = list(state.reinstatement["dues"])
    paid_until = state.next_due(paying=dues) or state.maturity_date  # the schedule's next date, not due + period
    return [NewEvent(ev.REINSTATED, {"application_id": state.application_id, "on": command.today.isoformat(),
                                     "dues": dues, "paid_until": paid_until.isoformat() if paid_until else None,
                                     "document": dict(command.document), "actor": command.actor.to_json()},
                     personal={"epolicy": dict(command.epolicy)}, personal_subject=state.policyholder),
            command.supersession]


def _issue(state: PolicyState, command: Issue) -> list[NewEvent]:
    _need(state, (st.ACCEPTED,), doing_en="issue a policy", doing_zh="签发保单")
    if not state.first_premium_paid:
        raise refuse("FIRST-PREMIUM", "the first premium is not paid yet", "首期保费尚未缴纳")
    plan = state.plan
    effective = command.today + timedelta(days=1)  # cover starts at 00:00 the day after issue (practice)
    term_years = plan.get("term_years")
    maturity = add_months(effective, 12 * int(term_years)) if term_years else None
    per_year = 12 // st.MONTHS[plan["frequency"]]
    installments = int(plan["payment_years"]) * per_year
    free_look_end = command.today + timedelta(days=command.free_look_days) if command.free_look_days else None
    return [NewEvent(ev.ISSUED, {
        "application_id": state.application_id, "policy_no": command.policy_no,
        "effective_date": effective.isoformat(), "issued_on": command.today.isoformat(),
        "free_look_end": free_look_end.isoformat() if free_look_end else None,
        "maturity_date": maturity.isoformat() if maturity else None, "premium": state.premium,
        "schedule": {"frequency": plan["frequency"], "installments": installments,
                     "grace_days": command.grace_days},
        "document": dict(command.document), "actor": command.actor.to_json()},
        personal={"epolicy": dict(command.epolicy)}, personal_subject=state.policyholder),
        command.registration]


def _tick(state: PolicyState, command: Tick) -> list[NewEvent]:
    today = command.today
    out: list[NewEvent] = []
    actor = command.actor.to_json()
    base = {"application_id": state.application_id, "actor": actor}
    status = state.status
    if status == st.SUSPENDED and state.reinstate_until is not None:
        ended, reason = _suspension_end(state)
        if today < ended:
            return out
        if state.reinstatement_paid or command.cash_value is None or command.revocation is None:
            return out  # a paid reinstatement is completed first; without a cash value nothing can be refunded
        paid_to = state.paid_until() or ended  # premiums stopped here: the cash value of what was paid
        value = command.cash_value(min(paid_to, ended))
        return [NewEvent(ev.CANCELLED, {**base, "reason": reason, "refund": value["amount"],
                                        "basis": {"rule": "IL 37: cash value refunded", **value["basis"]},
                                        "on": ended.isoformat()}),
                _notice(base, "terminated" if reason == "reinstatement_window_ended" else "expired_suspended",
                        ended, today, state),
                command.revocation]
    if status == st.FREE_LOOK and state.free_look_end is not None and today > state.free_look_end:
        out.append(NewEvent(ev.FREE_LOOK_ENDED, {**base, "on": today.isoformat()}))
        status = st.IN_FORCE
    if status in (st.FREE_LOOK, st.IN_FORCE, st.GRACE) and state.maturity_date and today >= state.maturity_date:
        out.append(NewEvent(ev.MATURED, {**base, "on": state.maturity_date.isoformat()}))
        return out
    due = state.next_due()
    sent_on = max(command.sent_on or today, today)
    if status in (st.FREE_LOOK, st.IN_FORCE) and due is not None:
        for days in sorted(command.notice_days):  # the nearest window first: a late clock sends that one only
            kind = f"renewal_d{days}"
            if (due - timedelta(days=days) <= today < due and sent_on < due
                    and (kind, due.isoformat()) not in state.notices):
                out.append(_notice(base, kind, due, today, state))
                break  # the nearest notice only: a clock that was stopped does not send a burst
        if today > due:
            grace_end = grace_end_of(due, state.grace_days)
            out.append(NewEvent(ev.GRACE_STARTED, {**base, "due_date": due.isoformat(),
                                                   "grace_end": grace_end.isoformat()}))
            if sent_on <= grace_end:  # a clock catching up after grace tells no one cover continues until then
                out.append(_notice(base, "grace_started", due, today, state, grace_end=grace_end))
            status = st.GRACE
            if today > grace_end:
                out.extend(_lapse(base, due, today, state, command))
            return out
    if status == st.GRACE and due is not None and state.grace_end is not None:
        if today > state.grace_end:
            out.extend(_lapse(base, due, today, state, command))
        elif (today >= due + timedelta(days=GRACE_REMINDER_DAYS) and sent_on <= state.grace_end
              and ("grace_d30", due.isoformat()) not in state.notices):
            out.append(_notice(base, "grace_d30", due, today, state, grace_end=state.grace_end))
    return out


def _suspension_end(state: PolicyState) -> tuple[date, str]:
    """When a suspended policy ends if not reinstated: the day after the two-year window, or its maturity date
    if that comes first (the cover would have ended anyway)."""
    assert state.reinstate_until is not None
    window = state.reinstate_until + timedelta(days=1)
    if state.maturity_date is not None and state.maturity_date < window:
        return state.maturity_date, "matured_while_suspended"
    return window, "reinstatement_window_ended"


def _lapse(base: Mapping[str, Any], due: date, today: date, state: PolicyState, command: Tick) -> list[NewEvent]:
    until = add_months(today, 12 * command.reinstatement_years)
    return [NewEvent(ev.LAPSED, {**base, "due_date": due.isoformat(), "on": today.isoformat(),
                                 "reinstate_until": until.isoformat()}),
            _notice(base, "suspended", due, today, state, reinstate_until=until)]


NOTICE_TEXT = {
    "renewal_d30": ("Your premium of {amount} for policy {policy} is due on {due}.",
                    "您的保单 {policy} 续期保费 {amount} 将于 {due} 到期。"),
    "renewal_d7": ("Reminder: your premium of {amount} for policy {policy} is due on {due}.",
                   "提醒：您的保单 {policy} 续期保费 {amount} 将于 {due} 到期。"),
    "grace_started": ("The premium due on {due} for policy {policy} is unpaid; cover continues in the grace "
                      "period until {grace_end}.", "保单 {policy} 于 {due} 到期的保费未缴，宽限期至 {grace_end}，"
                      "期间保障继续有效。"),
    "grace_d30": ("Reminder: the premium due on {due} for policy {policy} is still unpaid; the grace period ends "
                  "on {grace_end}.", "提醒：保单 {policy} 于 {due} 到期的保费仍未缴纳，宽限期将于 {grace_end} 结束。"),
    "terminated": ("Policy {policy} has ended: it was not reinstated within two years of its suspension. Its cash "
                   "value is refunded.", "保单 {policy} 中止后两年内未复效，合同已解除，将退还现金价值。"),
    "expired_suspended": ("Policy {policy} has reached the end of its term while suspended and has ended. Its "
                          "cash value is refunded.",
                          "保单 {policy} 在效力中止期间保险期间届满，合同终止，将退还现金价值。"),
    "lapse_rescinded": ("The premium due on {due} for policy {policy} was paid on {paid_on}, within the grace "
                        "period: the policy is in force again and was never suspended.",
                        "保单 {policy} 于 {due} 到期的保费已于 {paid_on} 在宽限期内缴纳，保单继续有效，效力未曾中止。"),
    "suspended": ("Policy {policy} is suspended: the premium due on {due} was not paid within the grace period. "
                  "You may reinstate it until {reinstate_until}.", "保单 {policy} 因 {due} 到期保费在宽限期内未缴"
                  "而效力中止，可于 {reinstate_until} 前申请复效。"),
}


def _notice(base: Mapping[str, Any], kind: str, due: date, today: date, state: PolicyState,
            **extra: date) -> NewEvent:
    en, zh = NOTICE_TEXT[kind]
    values = {"amount": str(Money.from_json(state.premium["modal_premium"]).rounded()), "policy": state.policy_no,
              "due": due.isoformat(), **{k: v.isoformat() for k, v in extra.items()}}
    return NewEvent(ev.NOTICE_SENT, {**base, "kind": kind, "due_date": due.isoformat(), "channel": "sms",
                                     "text_en": en.format(**values), "text_zh": zh.format(**values),
                                     "on": today.isoformat()})


def next_tick(state: PolicyState, *, after: date, notice_days: Sequence[int] = (30, 7),
              sent_on: date | None = None) -> date | None:
    """The first day on or after ``after`` on which a ``Tick`` (run on ``sent_on``, as ``Tick.sent_on``) would
    change ``state`` (None: nothing is due).

    The clock jumps from one such day to the next instead of visiting every day of every policy.
    """
    if state.status == st.SUSPENDED and state.reinstate_until is not None:
        if state.reinstatement_paid:
            return None  # the reinstatement is completed by the clock's other pass, not ended
        return max(_suspension_end(state)[0], after)
    if state.status not in (st.FREE_LOOK, st.IN_FORCE, st.GRACE):
        return None
    days: list[date] = []
    if state.status == st.FREE_LOOK and state.free_look_end is not None:
        days.append(state.free_look_end + timedelta(days=1))
    if state.maturity_date is not None:
        days.append(state.maturity_date)
    due = state.next_due()
    if due is not None and state.status in (st.FREE_LOOK, st.IN_FORCE):
        days += [due - timedelta(days=n) for n in notice_days
                 if (f"renewal_d{n}", due.isoformat()) not in state.notices and (sent_on is None or sent_on < due)]
        days.append(due + timedelta(days=1))
    if state.status == st.GRACE and state.grace_end is not None:
        days.append(state.grace_end + timedelta(days=1))
        if (due is not None and ("grace_d30", due.isoformat()) not in state.notices
                and (sent_on is None or sent_on <= state.grace_end)):
            days.append(due + timedelta(days=GRACE_REMINDER_DAYS))
    ahead = [day for day in days if day >= after]
    return min(ahead) if ahead else None
