"""The claim rules: what each command may do to a claim, and the events it records (pure: no I/O, no clock).

Each command carries everything its rule needs (the service loads it from the journal first); ``decide`` returns
the new events or raises ``Refused`` naming the rule, in Chinese and English. The evaluation that comes before an
assessment (benefit, first review, fraud flags, triage) is pure as well and arrives in ``Assess``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.claims import events as ev
from ledger.claims import state as st
from ledger.claims.state import ClaimState
from ledger.errors import Refused, ValidationFailed
from ledger.kernel import Actor, NewEvent
from ledger.money import Money

__all__ = ["Advance", "Appeal", "Assess", "AssignHandler", "ChangeAccount", "Close", "Decide", "GiveDocuments",
           "Key", "KeyMedical", "Note", "Reopen", "Report", "ResolveFlag", "Settle", "decide"]


def refuse(rule: str, en: str, zh: str, *, field: str | None = None) -> Refused:
    return Refused(f"{rule}: {en}", rule=rule, zh=zh, field=field)


# -- commands --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    claim_id: str
    policy_no: str
    application_id: str
    insured: str
    claim_type: str
    cause: str
    loss_date: date
    today: date
    covered: bool  # the product has a coverage that answers this claim type
    policy_started: date  # the cover's effective date: no loss before it is covered
    checklist: tuple[str, ...]
    rules: dict[str, Any]
    limitation_years: int
    reporter: dict[str, str]  # {"role", "party"}
    channel: str  # customer | staff | system
    on_behalf: str | None
    payee: str
    account_digest: str
    account: dict[str, Any] | None
    description: str
    open_same: str | None  # an open claim of the same type and loss date on this policy
    actor: Actor
    personal_subject: str
    evidence: int | None = None  # the system's signed notice of loss, when a system reports


@dataclass(frozen=True)
class GiveDocuments:
    uploads: Mapping[str, str]  # document code -> upload digest
    registrations: tuple[NewEvent, ...] = ()  # document.registered for each digest new to the registry
    actor: Actor = field(default_factory=lambda: Actor(role="customer", party=""))


@dataclass(frozen=True)
class Key:
    """An invoice with its discharge summary: from a hospital's signed event (``evidence`` its entry) or keyed by
    staff from an upload (``keyed_by``)."""

    invoice: dict[str, Any]  # facts: invoice_no, hospital, admitted, discharged, total, ineligible, ...
    personal: dict[str, Any]  # diagnoses, history
    duplicate_of: str | None  # this invoice number already in this claim
    actor: Actor
    personal_subject: str


@dataclass(frozen=True)
class KeyMedical:
    facts: dict[str, Any]  # illness_group, disability_grade, death_date, death_cause, exclusion_facts, groups
    personal: dict[str, Any]  # diagnoses, history
    actor: Actor
    personal_subject: str


@dataclass(frozen=True)
class Assess:
    """The evaluation's result: benefit, checks, flags, track; ``automatic`` says whether it is approved and
    paid with no person (``approved`` then holds the decision, ``payment`` the instruction)."""

    assessment: dict[str, Any]
    review: dict[str, Any]
    flags: list[dict[str, Any]]
    flag_details: list[dict[str, Any]]
    track: str
    automatic: dict[str, Any]
    versions: dict[str, Any]
    on: date
    handler: str | None  # a named handler to assign (major claims), with ``handler_reason``
    handler_reason: dict[str, Any]
    waiting: Sequence[str]  # what still waits for keying: not assessable while any
    payment: dict[str, Any] | None  # the instruction for an automatic approval
    actor: Actor
    cover_seen: int | None = None  # an automatic approval: the policy's cover uses its evaluation saw (``cover``)


@dataclass(frozen=True)
class Decide:
    action: str  # approve | adjust | decline | request_documents
    staff: str
    reason: str = ""
    reason_zh: str = ""
    clause: str = ""
    amount: Money | None = None  # adjust: the amount approved
    documents: tuple[str, ...] = ()  # request_documents: every missing item in one notice (IL 22)
    known: tuple[str, ...] = ()  # the documents the claim type's checklist names
    payment: dict[str, Any] | None = None  # approve/adjust: the instruction (payment id, payee, account, due)
    actor: Actor = field(default_factory=lambda: Actor(role="adjuster", party=""))
    seen: int | None = None  # the assessment entry the decider saw: refused if the claim was assessed again since
    cover_seen: int | None = None  # approve/adjust: the policy's cover uses the evaluation saw (see ``cover``)


@dataclass(frozen=True)
class Advance:
    amount: Money
    staff: str
    reason: str
    payment: dict[str, Any]
    actor: Actor
    seen: int | None = None  # the assessment entry checked against the policy's cover: refused if assessed again
    cover_seen: int | None = None  # the policy's cover uses the check saw (see ``cover``)
    most: Decimal | None = None  # the most the claim can pay under the cover: the cap before it is assessed


@dataclass(frozen=True)
class Settle:
    payment_id: str
    status: str  # paid | failed
    reason: str
    paid_at: str
    evidence: int
    system: str
    amount: Money
    actor: Actor
    ending: tuple[NewEvent, ...] = ()  # the contract's end when the benefit paid ends the cover


@dataclass(frozen=True)
class ChangeAccount:
    account_digest: str
    account: dict[str, Any]
    payment: dict[str, Any] | None  # a new instruction for the failed payment
    actor: Actor
    personal_subject: str


@dataclass(frozen=True)
class Note:
    kind: str  # contact | progress | assistance
    text: str
    staff: str
    next_step_by: str | None
    actor: Actor
    personal_subject: str


@dataclass(frozen=True)
class ResolveFlag:
    rule: str
    confirmed: bool
    note: str
    staff: str
    actor: Actor
    personal_subject: str


@dataclass(frozen=True)
class AssignHandler:
    handler: str
    reason: dict[str, Any]
    actor: Actor


@dataclass(frozen=True)
class Reopen:
    reason: str
    documents: tuple[str, ...]
    staff: str
    actor: Actor


@dataclass(frozen=True)
class Appeal:
    reason: str
    handler: str
    actor: Actor


@dataclass(frozen=True)
class Close:
    reason: str
    actor: Actor


# -- the rules -------------------------------------------------------------------------------------------------

def decide(state: ClaimState, command: object, now: datetime) -> list[NewEvent]:
    """The events ``command`` records on ``state``; raises ``Refused`` naming the rule, ``ValidationFailed`` for
    malformed input."""
    if isinstance(command, Report):
        return _report(state, command)
    if not state.exists:
        raise refuse("CLAIM-UNKNOWN", "no such claim", "没有这笔理赔")
    handlers = {GiveDocuments: _documents, Key: _key, KeyMedical: _medical, Assess: _assess, Decide: _decide,
                Advance: _advance, Settle: _settle, ChangeAccount: _account, Note: _note,
                ResolveFlag: _resolve, AssignHandler: _assign, Reopen: _reopen, Appeal: _appeal, Close: _close}
    handler = handlers.get(type(command))
    if handler is None:
        raise TypeError(f"not a claim command: {type(command).__name__}")
    events: list[NewEvent] = handler(state, command)  # type: ignore[operator]
    return events


def _new(type: str, state: ClaimState | str, actor: Actor, personal_subject: str | None = None,
         personal: Mapping[str, Any] | None = None, **facts: Any) -> NewEvent:
    claim_id = state if isinstance(state, str) else state.claim_id
    return NewEvent(type=type, facts={"claim_id": claim_id, **facts, "actor": actor.to_json()},
                    personal=dict(personal or {}), personal_subject=personal_subject if personal else None)


def _report(state: ClaimState, c: Report) -> list[NewEvent]:
    if state.exists:
        raise refuse("CLAIM-EXISTS", f"claim {c.claim_id} is already reported", "该理赔已报案")
    if c.loss_date > c.today:
        raise refuse("LOSS-DATE-FUTURE", f"the date of loss {c.loss_date} is after today ({c.today})",
                     f"出险日期{c.loss_date}晚于今天", field="loss_date")
    if c.loss_date < c.policy_started:
        raise refuse("LOSS-BEFORE-COVER", f"the date of loss {c.loss_date} is before the cover began "
                     f"({c.policy_started})", f"出险日期早于保险责任开始日（{c.policy_started}）", field="loss_date")
    if not c.covered:
        raise refuse("CLAIM-TYPE-NOT-COVERED", f"this policy's product has no cover for a {c.claim_type} claim",
                     "本保单的产品不保障此类理赔", field="claim_type")
    until = _add_years(c.loss_date, c.limitation_years)
    if c.today > until:
        raise refuse("LIMITATION-EXPIRED", f"the {c.limitation_years}-year limitation for this claim ended on "
                     f"{until} (IL 26)", f"本类理赔的{c.limitation_years}年诉讼时效已于{until}届满（保险法第26条）",
                     field="loss_date")
    if c.open_same is not None:
        raise refuse("CLAIM-OPEN", f"claim {c.open_same} for the same loss is still open; add documents to it",
                     f"同一事故的理赔（{c.open_same}）仍在处理中，请在该理赔中补充材料")
    personal: dict[str, Any] = {"description": c.description}
    if c.account:
        personal["account"] = c.account
    return [_new(ev.REPORTED, c.claim_id, c.actor, c.personal_subject, personal,
                 policy_no=c.policy_no, application_id=c.application_id, insured=c.insured,
                 claim_type=c.claim_type, cause=c.cause, loss_date=c.loss_date.isoformat(), reporter=c.reporter,
                 on_behalf=c.on_behalf, channel=c.channel, checklist=list(c.checklist), rules=c.rules,
                 limitation_until=until.isoformat(), payee=c.payee, account_digest=c.account_digest,
                 evidence=c.evidence, loss_held=True)]  # one open claim per loss, held as it is recorded


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _documents(state: ClaimState, c: GiveDocuments) -> list[NewEvent]:
    if state.status not in st.UNDECIDED:
        raise refuse("CLAIM-DECIDED", f"the claim is {state.status}; documents are taken before the decision "
                     "(reopen it to add more)", "理赔已作出决定，如需补充材料请申请重新处理")
    unknown = sorted(set(c.uploads) - set(state.checklist))
    if unknown:
        raise ValidationFailed(f"documents: {', '.join(unknown)} is not on this claim's checklist "
                               f"({', '.join(state.checklist)})", field="documents")
    received = set(state.received) | set(c.uploads)
    missing = [code for code in state.missing if code not in received]
    return [_new(ev.DOCUMENTS_RECEIVED, state, c.actor, documents=sorted(c.uploads), uploads=dict(c.uploads),
                 missing=missing, complete=not missing), *c.registrations]


def _key(state: ClaimState, c: Key) -> list[NewEvent]:
    if state.status not in st.UNDECIDED:
        raise refuse("CLAIM-DECIDED", f"the claim is {state.status}; an invoice is taken before the decision",
                     "理赔已作出决定，不再接收发票")
    if c.duplicate_of is not None or any(i["invoice_no"] == c.invoice["invoice_no"] for i in state.invoices):
        raise refuse("INVOICE-IN-CLAIM", f"invoice {c.invoice['invoice_no']} is already in this claim",
                     "该发票已在本次理赔中", field="invoice_no")
    return [_new(ev.INVOICE_RECEIVED, state, c.actor, c.personal_subject, c.personal, **c.invoice)]


def _medical(state: ClaimState, c: KeyMedical) -> list[NewEvent]:
    if state.status not in st.UNDECIDED:
        raise refuse("CLAIM-DECIDED", f"the claim is {state.status}; medical facts are keyed before the decision",
                     "理赔已作出决定，不再录入医疗信息")
    return [_new(ev.MEDICAL_RECORDED, state, c.actor, c.personal_subject, c.personal, **c.facts)]


def _assess(state: ClaimState, c: Assess) -> list[NewEvent]:
    if state.status not in (st.AWAITING_KEYING, st.UNDER_REVIEW):
        raise refuse("NOT-ASSESSABLE", f"the claim is {state.status}: it is assessed once its documents are complete",
                     "材料齐全后方可理算")
    if c.waiting:
        raise refuse("KEYING-PENDING", f"waiting for {', '.join(c.waiting)} to be keyed by a person",
                     "等待工作人员录入发票或医疗信息")
    events = [_new(ev.ASSESSED, state, c.actor, None, None, assessment=c.assessment, review=c.review,
                   flags=c.flags, track=c.track, automatic=c.automatic, versions=c.versions, on=c.on.isoformat())]
    if c.flag_details:
        events[0] = _new(ev.ASSESSED, state, c.actor, state.reported["insured"], {"flag_details": c.flag_details},
                         assessment=c.assessment, review=c.review, flags=c.flags, track=c.track,
                         automatic=c.automatic, versions=c.versions, on=c.on.isoformat())
    if c.handler and c.handler != state.handler:
        events.append(_new(ev.HANDLER_ASSIGNED, state, c.actor, handler=c.handler, reason=c.handler_reason,
                           open_claims=c.handler_reason.get("open_claims")))
    if c.automatic.get("approved"):
        if c.payment is None:
            raise AssertionError("an automatic approval carries its payment instruction")
        _same_account(state, c.payment)
        net = _net(c.assessment)
        before = paid_before(state)
        events.append(_new(ev.DECIDED, state, c.actor, outcome="approve", amount=net.to_json(),
                           assessed=net.to_json(), adjustment=None, reasons=[_approved_reason()], by="",
                           automatic=True, paid_before=str(before), versions=c.versions, **cover(c.cover_seen)))
        if net.amount > before:
            events.append(_payment(state, c.actor, {**c.payment,
                                                    "amount": Money.of(net.amount - before, net.currency).to_json()}))
        elif not any(p.get("status") == "instructed" for p in state.payments.values()):
            events.append(_new(ev.CLOSED, state, c.actor, reason="paid"))  # paid in full before: nothing owed
    return events


def cover(seen: int | None) -> dict[str, Any]:
    """``cover_seen`` for a record that uses a policy's cover (an approval, an advance): how many records that
    change what the policy's claims used (approvals, payment instructions, reopenings) there were when the
    evaluation behind this one read the other claims. The claims read model counts them as they are recorded and
    refuses a record that counted fewer than there are (COVER-STALE): another claim's use raced past its
    evaluation, so it may pay cover that one used; the service evaluates it again."""
    if seen is None:
        raise AssertionError("a record that uses the policy's cover carries the uses its evaluation saw")
    return {"cover_seen": seen}


def _versions(state: ClaimState) -> Any:
    """The product, rule and table versions of the assessment a decision stands on: recorded with the decision
    too, so whoever may see decisions but not the (medical) assessment sees what they rest on."""
    return state.assessment.get("versions") if state.assessment else None


def _net(assessment: Mapping[str, Any]) -> Money:
    """The assessed net benefit as money (the assessment records it as a decimal string and its currency)."""
    return Money.of(assessment["net"], assessment["currency"])


def _approved_reason() -> dict[str, str]:
    return {"rule": "ASSESSED-BENEFIT", "clause": "", "en": "Approved: the benefit is paid as assessed.",
            "zh": "理赔通过：按理算金额给付。"}


def _payment(state: ClaimState, actor: Actor, p: Mapping[str, Any], **extra: Any) -> NewEvent:
    """A payment instruction; a new advance's carries the cover uses its check saw in ``extra`` (an approval's
    instruction is in the approval's group, whose decision carries them)."""
    personal = {"account": p["account"]} if p.get("account") else None
    return _new(ev.PAYMENT_INSTRUCTED, state, actor, p.get("personal_subject"), personal,
                payment_id=p["payment_id"], kind=p["kind"], amount=p["amount"], payee=p["payee"],
                replaces=p.get("replaces"), account_digest=p["account_digest"], due_by=p["due_by"], **extra)


def _same_assessment(state: ClaimState, seen: int | None) -> None:
    """A decision or advance made on an assessment (entry ``seen``) other than the one recorded now is refused."""
    if seen is not None and seen != state.assessed_index:
        raise refuse("ASSESSMENT-CHANGED", f"the claim was assessed again (entry {state.assessed_index}) after the "
                     f"assessment you saw (entry {seen}); look at it again", "理算结果已更新，请重新查看后再作决定")


def _same_account(state: ClaimState, payment: Mapping[str, Any] | None) -> None:
    """A payment instruction prepared on an account the payee has changed since is prepared again."""
    if payment is not None and payment.get("account_digest", state.account_digest) != state.account_digest:
        raise refuse("ACCOUNT-CHANGED", "the payee changed the account while this was prepared; try again",
                     "收款账户刚刚变更，请重试")


def paid_before(state: ClaimState) -> Decimal:
    """Everything instructed on the claim and not failed: advances, and a benefit paid before a reopen. A new
    approval pays only what it adds."""
    return sum((Decimal(p["amount"]["amount"]) for p in state.payments.values() if p.get("status") in _LIVE),
               Decimal(0))


_LIVE = ("instructed", "paid")  # a failed payment, and one replaced by a new instruction, count for nothing


def owed_out(state: ClaimState) -> Decimal:
    """What the claim has out of its policy's cover: everything instructed and not failed, and while the claim is
    undecided, an advance that failed and waits for the payee's new account too (it is sent again there, so the
    other claims count it from the start)."""
    waiting = Decimal(0)
    if state.status in st.UNDECIDED:
        waiting = sum((Decimal(p["amount"]["amount"]) for p in state.payments.values()
                       if p["kind"] == "advance" and p.get("status") == "failed"), Decimal(0))
    return paid_before(state) + waiting


def _decide(state: ClaimState, c: Decide) -> list[NewEvent]:
    if state.status != st.UNDER_REVIEW:
        raise refuse("NOT-UNDER-REVIEW", f"the claim is {state.status}; only a claim under review is decided",
                     "仅审核中的理赔可作出决定")
    if state.handler and c.staff != state.handler:
        raise refuse("HANDLER-ONLY", f"this claim's handler is {state.handler}; only they decide it",
                     f"本案由专属理赔员{state.handler}负责，仅其可作出决定")
    if not state.handler and state.track == "major" and c.action != "request_documents":
        raise refuse("MAJOR-NEEDS-HANDLER", "a major claim is decided by its named handler; a handler takes it first",
                     "重大理赔须由专属理赔员处理，请先指定理赔员")
    if state.appeals and c.staff in state.deciders and c.action != "request_documents":
        raise refuse("APPEAL-SAME-PERSON", "an appeal is decided by someone who did not decide the claim before",
                     "申诉须由未参与原决定的人员处理")
    _same_account(state, c.payment)
    _same_assessment(state, c.seen)
    if c.action == "request_documents":
        if not c.documents:
            raise ValidationFailed("documents: name every missing document in one notice", field="documents")
        unknown = sorted(set(c.documents) - set(c.known))
        if unknown:
            raise ValidationFailed(f"documents: unknown document code(s) {', '.join(unknown)}", field="documents")
        return [_new(ev.DOCUMENTS_REQUESTED, state, c.actor, documents=list(c.documents), reason=c.reason,
                     by=c.staff)]
    net = _net(state.assessment["assessment"])
    if c.action == "decline":
        if not c.reason or not c.clause:
            raise ValidationFailed("a decline gives its reason and quotes the clause (reason, clause)",
                                   field="reason" if not c.reason else "clause")
        if any(p["kind"] == "advance" and p["status"] == "instructed" for p in state.payments.values()):
            raise refuse("ADVANCE-OUTSTANDING", "an advance is still on its way; decline once it is settled",
                         "预付款尚在支付中，待结果确认后再作拒赔决定")
        reason = {"rule": "REVIEWER-DECLINE", "clause": c.clause, "en": c.reason, "zh": c.reason_zh or c.reason}
        return [_new(ev.DECIDED, state, c.actor, outcome="decline", amount=Money.zero(net.currency).to_json(),
                     assessed=net.to_json(), adjustment=None, reasons=[reason], by=c.staff, automatic=False,
                     paid_before=None, versions=_versions(state), assessment_entry=state.assessed_index)]
    amount = net
    adjustment = None
    if c.action == "adjust":
        if c.amount is None or not c.reason:
            raise ValidationFailed("an adjustment gives the amount and its reason", field="amount")
        if c.amount.amount < 0 or c.amount.currency != net.currency or c.amount.amount != c.amount.rounded().amount:
            raise ValidationFailed(f"amount: must be zero or more {net.currency}, in whole cents", field="amount")
        amount = c.amount.rounded()
        if amount.amount > net.amount:
            raise refuse("ADJUST-ABOVE-ASSESSED", f"an adjustment may lower the assessed benefit ({net.amount}), not "
                         "raise it; if the assessment is wrong, correct its facts and it is assessed again",
                         "调整金额不得高于理算金额", field="amount")
        adjustment = {"from": net.to_json(), "to": amount.to_json(), "reason": c.reason}
    elif c.action != "approve":
        raise ValidationFailed("action must be approve, adjust, decline or request_documents", field="action")
    elif not state.assessment["review"]["payable"]:
        raise refuse("REVIEW-FAILED", "a first-review check failed (see the claim's review): decline quoting the "
                     "clause, or adjust with the reason", "初审未通过：请引用条款拒赔，或说明理由后调整金额")
    outcome = "approve" if amount.amount >= net.amount else "partial"
    reasons = [_approved_reason()] if adjustment is None else [{
        "rule": "REVIEWER-ADJUSTED", "clause": c.clause, "en": c.reason, "zh": c.reason_zh or c.reason}]
    before = paid_before(state)
    events = [_new(ev.DECIDED, state, c.actor, outcome=outcome, amount=amount.to_json(), assessed=net.to_json(),
                   adjustment=adjustment, reasons=reasons, by=c.staff, automatic=False, paid_before=str(before),
                   versions=_versions(state), assessment_entry=state.assessed_index, **cover(c.cover_seen))]
    remaining = amount.amount - before
    if remaining > 0:
        if c.payment is None:
            raise AssertionError("an approval carries its payment instruction")
        events.append(_payment(state, c.actor, {**c.payment,
                                                "amount": Money.of(remaining, amount.currency).to_json()}))
    elif not any(p.get("status") == "instructed" for p in state.payments.values()):
        events.append(_new(ev.CLOSED, state, c.actor, reason="paid"))  # paid in full before: nothing owed
    return events


def _advance(state: ClaimState, c: Advance) -> list[NewEvent]:
    if state.status not in st.UNDECIDED or state.complete is None:
        raise refuse("ADVANCE-NOT-OPEN", "an advance is paid on a complete claim whose amount is still open",
                     "预付仅适用于材料齐全、金额尚未确定的理赔")
    if state.handler and c.staff != state.handler:
        raise refuse("HANDLER-ONLY", f"this claim's handler is {state.handler}; only they pay an advance",
                     f"本案由专属理赔员{state.handler}负责")
    _same_account(state, c.payment)
    if c.amount.amount <= 0 or c.amount.amount != c.amount.rounded().amount:
        raise ValidationFailed("amount: an advance is more than zero, in whole cents", field="amount")
    _same_assessment(state, c.seen)
    # earlier advances (one that failed and waits for a new account too), and a benefit paid before a reopen
    before = owed_out(state)
    if state.assessment:
        assessed = _net(state.assessment["assessment"])
        if c.amount.amount + before > assessed.amount:
            raise refuse("ADVANCE-ABOVE-ASSESSED", f"an advance with what was paid on the claim before ({before}) "
                         f"may not exceed the assessed benefit ({assessed.amount})",
                         "预付金额连同此前已付金额不得超过理算金额", field="amount")
    else:  # not assessed yet (the bill not keyed): never more than the cover can pay on this claim
        if c.most is None:
            raise AssertionError("an advance on a claim not yet assessed carries the most its cover can pay")
        if c.amount.amount + before > c.most:
            raise refuse("ADVANCE-ABOVE-COVER", f"an advance with what was paid on the claim before ({before}) may "
                         f"not exceed the most the cover pays on this claim ({c.most}) while it is not assessed",
                         f"理算前预付金额连同此前已付金额不得超过保障可赔付的最高金额（{c.most}元）", field="amount")
    return [_payment(state, c.actor, {**c.payment, "kind": "advance", "amount": c.amount.rounded().to_json()},
                     **cover(c.cover_seen))]


def _settle(state: ClaimState, c: Settle) -> list[NewEvent]:
    held = state.payments.get(c.payment_id)
    if held is None:
        raise refuse("PAYMENT-UNKNOWN", f"claim {state.claim_id} has no payment {c.payment_id}",
                     "该理赔没有这笔付款指令", field="payment_id")
    if held["status"] != "instructed":
        raise refuse("PAYMENT-SETTLED", f"payment {c.payment_id} is already {held['status']}",
                     "该笔付款已有结果", field="payment_id")
    if Money.from_json(held["amount"]) != c.amount:
        raise refuse("PAYMENT-AMOUNT", f"payment {c.payment_id} is {held['amount']['amount']}, not "
                     f"{c.amount.amount}", "付款金额与指令不符", field="amount")
    events = [_new(ev.PAYMENT_SETTLED, state, c.actor, payment_id=c.payment_id, status=c.status, reason=c.reason,
                   paid_at=c.paid_at, evidence=c.evidence, system=c.system)]
    others = [p for p in state.payments.values() if p["payment_id"] != c.payment_id and p["status"] == "instructed"]
    if c.status == "paid" and held["kind"] != "advance":
        events.append(_new(ev.CLOSED, state, c.actor, reason="paid"))
        events.extend(c.ending)
    elif c.status == "paid" and state.status == st.PAYMENT_PENDING and not others \
            and state.decision.get("outcome") in ("approve", "partial"):
        events.append(_new(ev.CLOSED, state, c.actor, reason="paid"))  # the advances paid the whole approval
        events.extend(c.ending)
    return events


def _account(state: ClaimState, c: ChangeAccount) -> list[NewEvent]:
    if state.status not in st.OPEN:
        raise refuse("CLAIM-CLOSED", f"the claim is {state.status}", "理赔已结案")
    events = [_new(ev.ACCOUNT_CHANGED, state, c.actor, c.personal_subject, {"account": c.account},
                   account_digest=c.account_digest)]
    if any(p["status"] == "instructed" for p in state.payments.values()):
        raise refuse("PAYMENT-IN-FLIGHT", "a payment is on its way to the account given; if it fails, you are asked "
                     "for a new one", "款项正在支付至原账户，如支付失败将请您提供新账户")
    failed = [p for p in state.payments.values() if p["status"] == "failed"]
    if failed and c.payment is not None:  # the latest failed payment (a benefit or an advance) goes to the new one
        again = failed[-1]
        amount = Money.from_json(again["amount"])
        if state.decision.get("outcome") in ("approve", "partial"):  # never more than the approval leaves
            left = Money.from_json(state.decision["amount"]).amount - paid_before(state)
            amount = Money.of(min(amount.amount, left), amount.currency)
        elif state.assessment:  # an advance before the decision: never more than the assessment leaves
            left = _net(state.assessment["assessment"]).amount - paid_before(state)
            amount = Money.of(max(min(amount.amount, left), Decimal(0)), amount.currency)
        if amount.amount > 0:
            events.append(_payment(state, c.actor, {**c.payment, "kind": again["kind"], "amount": amount.to_json(),
                                                    "account_digest": c.account_digest, "account": c.account,
                                                    "replaces": again["payment_id"]}))
    return events


def _note(state: ClaimState, c: Note) -> list[NewEvent]:
    if state.handler and c.staff != state.handler:
        raise refuse("HANDLER-ONLY", f"this claim's handler is {state.handler}; only they keep its notes",
                     f"本案由专属理赔员{state.handler}负责")
    if c.kind not in ("contact", "progress", "assistance"):
        raise ValidationFailed("kind must be contact, progress or assistance", field="kind")
    return [_new(ev.NOTE_RECORDED, state, c.actor, c.personal_subject, {"text": c.text}, kind=c.kind, by=c.staff,
                 next_step_by=c.next_step_by)]


def _resolve(state: ClaimState, c: ResolveFlag) -> list[NewEvent]:
    if c.rule not in {flag["rule"] for flag in state.flags}:
        raise refuse("FLAG-UNKNOWN", f"the claim has no {c.rule} flag", "该理赔没有此风险提示", field="rule")
    if c.rule in state.resolved_flags:
        raise refuse("FLAG-RESOLVED", f"the {c.rule} flag is already resolved", "该风险提示已处理", field="rule")
    return [_new(ev.FLAG_RESOLVED, state, c.actor, c.personal_subject, {"note": c.note} if c.note else None,
                 rule=c.rule, confirmed=c.confirmed, by=c.staff)]


def _assign(state: ClaimState, c: AssignHandler) -> list[NewEvent]:
    if state.status not in (*st.OPEN, st.DECLINED):
        raise refuse("CLAIM-CLOSED", f"the claim is {state.status}", "理赔已结案")
    if state.handler == c.handler:
        return []
    return [_new(ev.HANDLER_ASSIGNED, state, c.actor, handler=c.handler, reason=c.reason,
                 open_claims=c.reason.get("open_claims"))]


def _reopen(state: ClaimState, c: Reopen) -> list[NewEvent]:
    if state.status not in (st.CLOSED, st.PAID, st.DECLINED):
        raise refuse("CLAIM-NOT-CLOSED", f"the claim is {state.status}; only a decided claim is reopened",
                     "仅已决定的理赔可重新处理")
    if not c.reason:
        raise ValidationFailed("reason: say why the claim is reopened", field="reason")
    unknown = sorted(set(c.documents) - set(state.checklist))
    if unknown:
        raise ValidationFailed(f"documents: {', '.join(unknown)} is not on this claim's checklist", field="documents")
    return [_new(ev.REOPENED, state, c.actor, reason=c.reason, by=c.staff, documents=list(c.documents))]


def _appeal(state: ClaimState, c: Appeal) -> list[NewEvent]:
    if state.status != st.DECLINED:
        raise refuse("APPEAL-NOT-DECLINED", f"the claim is {state.status}; only a declined claim is appealed",
                     "仅被拒赔的理赔可申诉")
    if c.handler in state.deciders:
        raise refuse("APPEAL-SAME-PERSON", "an appeal goes to someone who did not decide the claim",
                     "申诉须由未参与原决定的人员处理")
    if not c.reason:
        raise ValidationFailed("reason: say why the decision is appealed", field="reason")
    return [_new(ev.APPEALED, state, c.actor, reason=c.reason, handler=c.handler)]


def _close(state: ClaimState, c: Close) -> list[NewEvent]:
    if state.status not in (st.DECLINED, st.AWAITING_DOCUMENTS):
        raise refuse("CLAIM-NOT-CLOSABLE", f"the claim is {state.status}; a paid claim closes itself, an open one "
                     "is decided first", "理赔状态不允许结案")
    return [_new(ev.CLOSED, state, c.actor, reason=c.reason)]


def due_by(day: date, days: int) -> date:
    """The last day of a deadline ``days`` calendar days after ``day``."""
    return day + timedelta(days=days)
