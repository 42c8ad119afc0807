"""The servicing rules as a pure function: ``decide(state, command, now)`` returns new events or raises ``Refused``.

The service loads the policy, its product and what the family needs into a ``Context``; here the catalog's
eligibility rules are tried, the family prepares the request (facts, amount, changes), the correlation rules flag
it, and the lifecycle moves one step: nothing reads a clock, a file, the database or the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.errors import Refused
from ledger.kernel import Actor, NewEvent
from ledger.log.identifiers import utc_timestamp
from ledger.policies import state as policy_state
from ledger.servicing import events as ev
from ledger.servicing import state as st
from ledger.servicing.correlation import CorrelationRules, Past, evaluate
from ledger.servicing.eligibility import check_eligibility
from ledger.servicing.families.base import Context, Family, Input, Prepared, refuse
from ledger.servicing.state import RequestState

__all__ = ["Approve", "CodeUnsent", "Complete", "Completion", "Confirm", "ProvideDocuments", "ReceivePayment",
           "Reject", "RequestDocuments", "SendCode", "Submit", "Withdraw", "check_approver", "decide", "prepare"]


@dataclass(frozen=True)
class Completion:
    """What completing a request records on the contract: prepared by the service from the policy as it is then,
    with the next e-policy version when the contract changes."""

    ctx: Context
    prepared: Prepared  # the family's preparation on the policy as it is now
    contract_stream: str  # the policy's stream, written at ``policy_seq``
    contract_type: str  # the policy's event type for a change by servicing
    policy_seq: int  # the contract stream's position the completion was prepared on
    document: Mapping[str, Any] | None = None  # version, digest, subject, salt, kind
    epolicy: Mapping[str, Any] | None = None  # the printed view (personal, sealed under the policyholder)
    supersession: NewEvent | None = None


@dataclass(frozen=True)
class Submit:
    request_id: str
    ctx: Context
    family: Family
    data: Input
    actor: Actor
    requester: Mapping[str, Any]  # {"role": policyholder|insured|beneficiary, "party": id, "roles": [all held]}
    on_behalf: bool
    uploads: Mapping[str, str]  # document code -> upload digest, given with the request
    correlation: CorrelationRules
    history: Sequence[Past]  # the policy's earlier requests, for the correlation rules
    open_requests: Sequence[Mapping[str, Any]]  # the policy's open requests: request_id, operation, amount, high_risk
    four_eyes_threshold: str  # amount at which a high-risk request needs two approvers
    cooling_off_hours: int | None  # high-risk only
    expected_by: str  # when the customer may expect it done (ISO date)
    registrations: tuple[NewEvent, ...] = ()  # persons named in the input not yet known, on their own streams
    completion: Completion | None = None  # an automatic operation completes in the same group
    # high-risk only: how many high-risk requests with an amount the policy had seen submitted, read before
    # ``open_requests`` (the projection refuses the request if one more was submitted meanwhile: four eyes)
    exposure: int | None = None


@dataclass(frozen=True)
class SendCode:
    channel: str
    expires_at: str
    tries: int
    actor: Actor


@dataclass(frozen=True)
class CodeUnsent:
    """The code of a sending could not be stored: the sending does not count against the limit."""

    sent: int  # the journal index of the sending's ``servicing.confirmation.sent`` entry
    reason: str
    actor: Actor


@dataclass(frozen=True)
class Confirm:
    channel: str
    actor: Actor


@dataclass(frozen=True)
class RequestDocuments:
    documents: tuple[str, ...]
    reason: str
    actor: Actor


@dataclass(frozen=True)
class ProvideDocuments:
    uploads: Mapping[str, str]  # document code -> upload digest
    actor: Actor
    completion: Completion | None = None  # completes at once if this was all an automatic operation awaited


@dataclass(frozen=True)
class Approve:
    actor: Actor
    note: str
    four_eyes: bool  # two distinct staff members must approve
    cooling_off: timedelta
    completion: Completion | None = None  # completes at once when there is no cooling-off to wait out


@dataclass(frozen=True)
class Reject:
    actor: Actor
    reason: str
    rule: str = "STAFF-DECISION"
    reason_zh: str = ""


@dataclass(frozen=True)
class Withdraw:
    actor: Actor
    reason: str


@dataclass(frozen=True)
class ReceivePayment:
    """The payments system's confirmation of what the customer paid for the request (a loan repayment)."""

    amount: Mapping[str, str]  # Money JSON
    payment_ref: str
    paid_at: str
    actor: Actor


@dataclass(frozen=True)
class Complete:
    completion: Completion
    actor: Actor = field(default_factory=lambda: Actor("system", "servicing-clock"))


MAX_CODES = 3  # one-time codes sent for one request (each with its own bounded tries)


def prepare(ctx: Context, family: Family, data: Input) -> Prepared:
    """Try the operation's eligibility rules (on the policy and the input), then let its family prepare the
    request (raises ``Refused`` naming the first rule that fails: the catalog's before the family's)."""
    check_eligibility(ctx, data.model_dump(mode="json"))
    return family.prepare(ctx, data)


def decide(state: RequestState, command: object, now: datetime) -> list[NewEvent]:
    """The events ``command`` records on the request ``state`` at ``now``; raises ``Refused`` naming the rule."""
    if isinstance(command, Submit):
        return _submit(state, command, now)
    if not state.status:
        raise refuse("NO-REQUEST", "there is no such servicing request", "没有该保全申请")
    base = {"request_id": state.request_id}
    if isinstance(command, SendCode):
        _need(state, (st.AWAITING_CONFIRMATION,), en="send a confirmation code", zh="发送验证码")
        # a code never stored does not count, up to twice the limit of sendings in all
        if state.codes_sent - state.codes_unsent >= MAX_CODES or state.codes_sent >= 2 * MAX_CODES:
            raise refuse("OTP-RESEND-LIMIT", f"no more than {MAX_CODES} codes are sent for one request; ask again "
                         "with a new request or call us", f"每笔申请最多发送 {MAX_CODES} 次验证码")
        return [NewEvent(ev.CODE_SENT, {**base, "channel": command.channel, "expires_at": command.expires_at,
                                        "tries": command.tries, "actor": command.actor.to_json()})]
    if isinstance(command, CodeUnsent):
        _need(state, (st.AWAITING_CONFIRMATION,), en="record a code not sent", zh="记录验证码未发送")
        sendings = {step.index for step in state.timeline if step.type == ev.CODE_SENT}
        if command.sent not in sendings or command.sent in state.unsent:
            return []  # no such sending, or counted out already
        return [NewEvent(ev.CODE_UNSENT, {**base, "sent": command.sent, "reason": command.reason,
                                          "actor": command.actor.to_json()})]
    if isinstance(command, Confirm):
        _need(state, (st.AWAITING_CONFIRMATION,), en="confirm", zh="确认")
        return [NewEvent(ev.CONFIRMED, {**base, "channel": command.channel,
                                        "status": st.after_prerequisites(state.documents_missing),
                                        "actor": command.actor.to_json()})]
    if isinstance(command, RequestDocuments):
        _need(state, (st.UNDER_REVIEW, st.DOCUMENTS_REQUESTED), en="ask for documents", zh="要求补充材料")
        return [NewEvent(ev.DOCUMENTS_REQUESTED, {**base, "documents": list(command.documents),
                                                  "reason": command.reason, "actor": command.actor.to_json()})]
    if isinstance(command, ProvideDocuments):
        return _provide(state, command, now)
    if isinstance(command, Approve):
        return _approve(state, command, now)
    if isinstance(command, Reject):
        _need(state, st.OPEN, en="reject", zh="拒绝")
        if state.status == st.APPROVED and state.operation == "reinstatement" and command.actor.role != "system":
            raise refuse("REINSTATEMENT-QUOTED", "the approved reinstatement's quote stands until it expires; the "
                         "request ends then if it is not paid", "已批准的复效报价在有效期内有效，逾期未缴则申请终止")
        refund = state.payment.get("amount") if state.payment else None
        return [NewEvent(ev.REJECTED, {**base, "rule": command.rule, "reason": command.reason,
                                       "reason_zh": command.reason_zh or command.reason,
                                       "refund": refund, "by": command.actor.party,
                                       "actor": command.actor.to_json()})]
    if isinstance(command, ReceivePayment):
        return _receive(state, command)
    if isinstance(command, Withdraw):
        if state.status == st.APPROVED:
            raise refuse("ALREADY-APPROVED", "an approved request can no longer be withdrawn",
                         "申请已批准，不能撤回")
        _need(state, st.WITHDRAWABLE, en="withdraw", zh="撤回")
        return [NewEvent(ev.WITHDRAWN, {**base, "actor": command.actor.to_json()},
                         personal={"reason": command.reason},
                         personal_subject=state.submitted["requester"]["party"])]
    if isinstance(command, Complete):
        _need(state, (st.APPROVED,), en="complete", zh="办结")
        if state.effective_at is not None and now < state.effective_at:
            raise refuse("COOLING-OFF", f"the cooling-off period runs until {utc_timestamp(state.effective_at)}",
                         f"冷静期至 {utc_timestamp(state.effective_at)} 结束")
        return _complete(state, command.completion, command.actor)
    raise TypeError(f"not a servicing command: {command!r}")


def _need(state: RequestState, statuses: Sequence[str], *, en: str, zh: str) -> None:
    if state.status not in statuses:
        raise Refused(f"REQUEST-STATUS: cannot {en} a request that is {state.status}", rule="REQUEST-STATUS",
                      zh=f"申请当前状态为 {state.status}，不能{zh}")


def _submit(state: RequestState, command: Submit, now: datetime) -> list[NewEvent]:
    if state.status:
        raise refuse("REQUEST-EXISTS", f"request {state.request_id} exists already", "该保全申请已存在")
    ctx, operation = command.ctx, command.ctx.operation
    if ctx.policy.status not in policy_state.LIVE:
        raise refuse("POLICY-CLOSED", f"policy {ctx.policy.policy_no} is {ctx.policy.status}",
                     f"保单 {ctx.policy.policy_no} 已终止（{ctx.policy.status}）")
    same = [row["request_id"] for row in command.open_requests if row["operation"] == operation.code]
    if same:
        raise refuse("REQUEST-OPEN", f"request {same[0]} for {operation.code} on this policy is still open; "
                     "follow it or withdraw it first", f"该保单已有一笔处理中的{operation.names.zh}申请（{same[0]}）")
    prepared = prepare(ctx, command.family, command.data)
    flags = evaluate(command.correlation, operation=operation.code, now=now, history=command.history,
                     open_claims=ctx.open_claims)
    required = [doc.code for doc in operation.documents]
    held = set(command.requester.get("roles", [command.requester["role"]]))
    # a written consent is needed unless the one who must consent is the one asking
    required += [consent.code for consent in operation.consents
                 if consent.written and not held & {consent.party, *consent.unless_requested_by}]
    if command.on_behalf:
        required += ["SIGNED-AUTHORISATION"]
    provided = [code for code in required if code in command.uploads]
    missing = [code for code in required if code not in command.uploads]
    amount = prepared.amount
    # four eyes from the threshold on, counting the policy's other open high-risk amounts (two loans just under
    # the threshold are one large one)
    pending = sum((abs(Decimal(row["amount"])) for row in command.open_requests
                   if row.get("high_risk") and row.get("amount")), Decimal(0))
    four_eyes = operation.high_risk and amount is not None and \
        abs(Decimal(amount["value"]["amount"])) + pending >= Decimal(command.four_eyes_threshold)
    facts = {
        "request_id": command.request_id, "application_id": ctx.policy.application_id,
        "policy_no": ctx.policy.policy_no, "operation": operation.code, "family": operation.family,
        "catalog": dict(ctx.catalog), "requester": dict(command.requester), "on_behalf": command.on_behalf,
        "input": dict(prepared.facts), "quote": amount, "documents": {"required": required, "provided": provided,
                                                                      "missing": missing},
        "consents": [consent.code for consent in operation.consents], "high_risk": operation.high_risk,
        "automatic": operation.automatic, "flags": flags,
        "correlation": {"id": command.correlation.id, "version": command.correlation.version,
                        "digest": command.correlation.digest},
        "cooling_off_hours": command.cooling_off_hours, "four_eyes": four_eyes,
        "expected_by": command.expected_by, "parties": dict(ctx.parties), "actor": command.actor.to_json()}
    if operation.high_risk and command.exposure is not None:
        facts["exposure"] = command.exposure
    details = {"input": command.data.model_dump(mode="json"), **prepared.details}
    # a health declaration is the insured's: sealed under them (erasing them destroys it), whoever asks
    subject = ctx.policy.insured if "answers" in details["input"] and ctx.policy.insured \
        else command.requester["party"]
    events = [*command.registrations,
              NewEvent(ev.SUBMITTED, facts, personal={"details": details, "uploads": dict(command.uploads)},
                       personal_subject=subject)]
    if operation.automatic and not flags and not missing and not prepared.facts.get("new_version") \
            and command.completion is not None:
        events += _approve_and_complete(command.request_id, command.completion, now)
    return events


def _provide(state: RequestState, command: ProvideDocuments, now: datetime) -> list[NewEvent]:
    _need(state, (st.DOCUMENTS_REQUESTED,), en="receive documents for", zh="补充材料")
    unknown = sorted(set(command.uploads) - set(state.documents_missing) - set(state.documents_received))
    if unknown:
        raise refuse("DOCUMENT-NOT-ASKED", f"document {unknown[0]} was not asked for; awaited: "
                     f"{', '.join(state.documents_missing) or 'nothing'}", f"未要求提交材料 {unknown[0]}",
                     field="documents")
    still_missing = tuple(code for code in state.documents_missing if code not in command.uploads)
    events = [NewEvent(ev.DOCUMENTS_RECEIVED, {"request_id": state.request_id, "documents": sorted(command.uploads),
                                               "status": st.after_prerequisites(still_missing),
                                               "actor": command.actor.to_json()},
                       personal={"uploads": dict(command.uploads)},
                       personal_subject=state.submitted["requester"]["party"])]
    submitted = state.submitted
    if not still_missing and submitted["automatic"] and not submitted["flags"] and command.completion is not None:
        events += _approve_and_complete(state.request_id, command.completion, now)
    return events


def check_approver(state: RequestState, staff: str, *, four_eyes: bool) -> None:
    """Raise ``Refused`` unless ``staff`` may approve ``state`` now (under review, not their own request, not
    their second approval of a four-eyes request)."""
    _need(state, (st.UNDER_REVIEW,), en="approve", zh="批准")
    if staff in (state.submitted["requester"]["party"], state.submitted["actor"]["party"]):
        raise refuse("OWN-REQUEST", "staff may not approve a request they made or made for someone",
                     "工作人员不得审批本人提交或代为提交的申请")
    if four_eyes and staff in state.approvals:
        raise refuse("FOUR-EYES", "a second, different staff member must approve this request",
                     "该申请须由另一名工作人员复核批准")


def _approve(state: RequestState, command: Approve, now: datetime) -> list[NewEvent]:
    staff = command.actor.party
    check_approver(state, staff, four_eyes=command.four_eyes)
    base = {"request_id": state.request_id}
    if command.four_eyes and not state.approvals:
        return [NewEvent(ev.APPROVAL_RECORDED, {**base, "by": staff, "note": command.note,
                                                "actor": command.actor.to_json()})]
    effective = now + command.cooling_off
    events = [NewEvent(ev.APPROVED, {**base, "by": [*state.approvals, staff], "note": command.note,
                                     "effective_at": utc_timestamp(effective), "actor": command.actor.to_json()})]
    if command.cooling_off <= timedelta(0) and command.completion is not None:
        events += _complete(state, command.completion, Actor("system", "servicing"))
    return events


def _approve_and_complete(request_id: str, completion: Completion, now: datetime) -> list[NewEvent]:
    """An automatic operation: approved by the rules at once, and done in the same group."""
    approved = NewEvent(ev.APPROVED, {"request_id": request_id, "by": ["rules"], "note": "automatic",
                                      "effective_at": utc_timestamp(now),
                                      "actor": {"role": "system", "party": "servicing-rules"}})
    return [approved, *_complete(RequestState(request_id=request_id), completion,
                                 Actor("system", "servicing-rules"))]


def _complete(state: RequestState, completion: Completion, actor: Actor) -> list[NewEvent]:
    ctx = completion.ctx
    if ctx.policy.status not in policy_state.LIVE:
        raise refuse("POLICY-CLOSED", f"policy {ctx.policy.policy_no} is {ctx.policy.status}",
                     f"保单 {ctx.policy.policy_no} 已终止（{ctx.policy.status}）")
    if ctx.operation.code in st.PAID_IN and not state.payment and state.status:
        raise refuse("PAYMENT-AWAITED", "the payment for this request has not been received yet",
                     "尚未收到该申请的款项")
    if ctx.operation.money.formula == "reinstatement_amount" and ctx.policy.status == policy_state.SUSPENDED:
        raise refuse("REINSTATEMENT-UNPAID", "the premiums overdue and their interest are not paid yet",
                     "复效所需的欠缴保费及利息尚未缴清")
    prepared = completion.prepared
    if ctx.operation.code in st.PAID_IN and state.payment and prepared.amount is not None \
            and dict(prepared.amount["value"]) != dict(state.payment["amount"]):
        raise refuse("PAYMENT-MISMATCH", f"the request now comes to {prepared.amount['value']['amount']}, not the "
                     f"{state.payment['amount']['amount']} paid (the loans changed since it was made); the payment "
                     "is refunded", "申请金额已变化，与所缴款项不一致，款项将退回")
    changes = dict(prepared.changes)
    if "loans" in changes:  # a new loan is known by the request that granted it
        changes["loans"] = [dict(loan, request_id=loan["request_id"] or state.request_id)
                            for loan in changes["loans"]]
    on = ctx.today.isoformat()
    request_id = state.request_id
    completed = NewEvent(ev.COMPLETED, {"request_id": request_id, "on": on, "changes": changes,
                                        "amount": prepared.amount, "document": dict(completion.document or {}),
                                        "payout": prepared.payout, "actor": actor.to_json()})
    previous = [b["party"] for b in ctx.policy.beneficiaries if b.get("party")]
    serviced = NewEvent(completion.contract_type, {
        "application_id": ctx.policy.application_id, "request_id": request_id, "operation": ctx.operation.code,
        "changes": changes, "amount": prepared.amount, "document": dict(completion.document or {}), "on": on,
        "previous_beneficiaries": previous, "settled": prepared.settled, "actor": actor.to_json()},
        personal={"epolicy": dict(completion.epolicy)} if completion.epolicy else {},
        personal_subject=changes.get("policyholder", ctx.policy.policyholder) if completion.epolicy else None,
        stream=completion.contract_stream)
    return [completed, serviced, *([completion.supersession] if completion.supersession else [])]


def _receive(state: RequestState, command: ReceivePayment) -> list[NewEvent]:
    # only an approved request takes money: before, it may still be withdrawn or rejected and the payments
    # system keeps (or returns) what it was sent
    _need(state, (st.APPROVED,), en="receive a payment for", zh="收款")
    if state.operation not in st.PAID_IN:
        raise refuse("NO-PAYMENT-DUE", f"a {state.operation} request takes no payment", "该申请无需缴款")
    if state.payment:
        raise refuse("ALREADY-PAID", f"payment {state.payment['payment_ref']} was recorded for this request already",
                     "该申请的款项已收到")
    quote = state.submitted.get("quote") or {}
    due = quote.get("value")
    if due is None or dict(command.amount) != dict(due):
        raise refuse("PAYMENT-AMOUNT", f"the request asks for {due and due['amount']} {due and due['currency']}, "
                     f"not {command.amount['amount']} {command.amount['currency']}", "缴款金额与申请金额不一致",
                     field="amount")
    return [NewEvent(ev.PAYMENT_RECEIVED, {"request_id": state.request_id, "amount": dict(command.amount),
                                           "payment_ref": command.payment_ref, "paid_at": command.paid_at,
                                           "actor": command.actor.to_json()})]
