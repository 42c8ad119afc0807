"""What a claim looks like to whoever asks: its status, the timeline in plain language (Chinese and English), what
comes next and from whom, its clocks, and only what the audience may see.

Staff and auditors see every fact. The insured and the policyholder see the assessment, the decision with its
reasons and the handler's notes, not the fraud flags (signals for an investigator, never a reason given to a
customer). A beneficiary sees a death claim's decision and payment, not the deceased's medical details.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.claims import events as ev
from ledger.claims import state as st
from ledger.claims.clocks import ClockRules, Mark, clocks
from ledger.claims.state import ClaimState
from ledger.clock import BusinessCalendar
from ledger.log.identifiers import utc_timestamp

STAFF = ("adjuster", "claims_handler")

_TEXT: dict[str, tuple[str, str]] = {
    ev.REPORTED: ("已收到理赔报案，所需材料清单已一次性告知。",
                  "The claim was reported; the full list of documents was given at once."),
    ev.DOCUMENTS_RECEIVED: ("已收到理赔材料。", "Documents were received."),
    ev.DOCUMENTS_REQUESTED: ("请补充材料（一次性告知全部缺少的材料）。",
                             "Please send the missing documents (all of them are listed)."),
    ev.INVOICE_RECEIVED: ("已收到医疗发票及出院小结。", "The medical invoice and discharge summary were received."),
    ev.MEDICAL_RECORDED: ("已录入医疗信息。", "The medical facts were recorded."),
    ev.ASSESSED: ("已完成理算和初审。", "The benefit was assessed and the first review done."),
    ev.HANDLER_ASSIGNED: ("已为您指定专属理赔员。", "A dedicated claims handler was assigned."),
    ev.DECIDED: ("已作出理赔决定。", "The claim was decided."),
    ev.PAYMENT_INSTRUCTED: ("已发出付款指令。", "The payment was instructed."),
    ev.PAYMENT_SETTLED: ("付款结果已确认。", "The payment result came back."),
    ev.ACCOUNT_CHANGED: ("收款账户已更新。", "The payment account was updated."),
    ev.NOTE_RECORDED: ("理赔员记录了处理进展。", "The handler recorded progress."),
    ev.FLAG_RESOLVED: ("风险提示已核实。", "A review flag was resolved."),
    ev.REOPENED: ("理赔已重新处理。", "The claim was reopened."),
    ev.APPEALED: ("已收到您的申诉，将由未参与原决定的人员处理。",
                  "The appeal was received; someone who did not decide the claim will review it."),
    ev.CLOSED: ("理赔已结案。", "The claim was closed."),
}

_NEXT: dict[str, tuple[str, str, str]] = {  # status -> (who acts, zh, en)
    st.AWAITING_DOCUMENTS: ("customer", "请上传清单中尚缺的材料。",
                            "Upload the documents still missing from the list."),
    st.AWAITING_KEYING: ("insurer", "工作人员正在录入发票或医疗信息。",
                         "Staff are keying the invoices or medical facts."),
    st.UNDER_REVIEW: ("insurer", "理赔人员正在审核。", "A claims reviewer is deciding."),
    st.PAYMENT_PENDING: ("insurer", "款项正在支付中。", "The payment is on its way."),
    st.PAYMENT_FAILED: ("customer", "付款未成功，请提供新的收款账户。",
                        "The payment failed: give a new account to be paid to."),
    st.PAID: ("", "款项已支付。", "Paid."),
    st.DECLINED: ("customer", "如不同意，可提出申诉。", "If you disagree, you may appeal."),
    st.CLOSED: ("", "理赔已结案。", "Closed."),
}

_MEDICAL = {ev.INVOICE_RECEIVED, ev.MEDICAL_RECORDED}


def marks_of(state: ClaimState) -> list[Mark]:
    """The entries that move the claim's clocks, in order."""
    out: list[Mark] = []
    complete_seen = False
    for step in state.timeline:
        f = step.facts
        if step.type == ev.REPORTED:
            out.append(Mark(kind="reported", at=step.at, index=step.index))
        elif step.type == ev.DOCUMENTS_RECEIVED and f.get("complete"):
            out.append(Mark(kind="complete" if not complete_seen else "supplied", at=step.at, index=step.index))
            complete_seen = True
        elif step.type == ev.DOCUMENTS_REQUESTED and complete_seen:
            out.append(Mark(kind="requested", at=step.at, index=step.index))
        elif step.type == ev.DECIDED:
            declined = f.get("outcome") == "decline"
            out.append(Mark(kind="declined" if declined else "decided", at=step.at, index=step.index))
            if declined:  # the decline, with its reasons and clause, is written to the customer as it is made
                out.append(Mark(kind="notice", at=step.at, index=step.index))
        elif step.type == ev.PAYMENT_SETTLED and f.get("status") == "paid":
            out.append(Mark(kind="paid", at=step.at, index=step.index))
    return out


def claim_view(state: ClaimState, *, audience: str, calendar: BusinessCalendar, rules: ClockRules,
               now: datetime, pseudonym: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The claim as ``audience`` may see it (see the module docstring)."""
    r = state.reported
    staff = audience in STAFF
    medical_ok = staff or audience in ("insured", "policyholder")  # never a beneficiary or another reporter
    who, next_zh, next_en = _NEXT.get(state.status, ("", "", ""))
    view: dict[str, Any] = {
        "claim_id": state.claim_id, "policy_no": r["policy_no"], "claim_type": r["claim_type"], "cause": r["cause"],
        "loss_date": r["loss_date"], "status": state.status, "track": state.track or None,
        "handler": state.handler or None, "checklist": list(state.checklist), "received": list(state.received),
        "missing": list(state.missing), "limitation_until": r["limitation_until"],
        "next": {"from": who, "zh": next_zh, "en": next_en},
        "decision": _decision(state.decision) if state.decision else None,
        "payments": [_payment(p) for p in state.payments.values()],
        "clocks": clocks(marks_of(state), calendar=calendar, rules=rules, complex=state.track == "major",
                         now=now).to_json(),
        "timeline": [_step(step, staff=staff, medical_ok=medical_ok) for step in state.timeline
                     if staff or step.type not in (ev.FLAG_RESOLVED,)],
    }
    if state.assessment and medical_ok:
        view["assessment"] = {**state.assessment["assessment"], "entry": state.assessed_index}
        view["review"] = state.assessment["review"] if staff else {"payable": state.assessment["review"]["payable"]}
    elif state.assessment:
        view["assessment"] = {k: state.assessment["assessment"][k] for k in ("net", "currency")}
    if staff:
        view.update(flags=list(state.flags), resolved_flags=state.resolved_flags, automatic=state.assessment.get(
            "automatic"), versions=state.assessment.get("versions"), reporter=r["reporter"], insured=r["insured"],
            payee=r["payee"], rules=r["rules"], medical=state.medical or None, invoices=list(state.invoices),
            reopened=state.reopened, appeals=state.appeals)
    return view


def _decision(f: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": f["outcome"], "amount": f["amount"], "assessed": f["assessed"], "reasons": f["reasons"],
            "adjustment": f.get("adjustment"), "automatic": f["automatic"]}


def _payment(p: dict[str, Any]) -> dict[str, Any]:
    return {"payment_id": p["payment_id"], "kind": p["kind"], "amount": p["amount"], "status": p["status"],
            "due_by": p["due_by"], "paid_at": p.get("paid_at")}


def _step(step: st.Step, *, staff: bool, medical_ok: bool) -> dict[str, Any]:
    zh, en = _TEXT.get(step.type, (step.type, step.type))
    out: dict[str, Any] = {"index": step.index, "type": step.type, "at": utc_timestamp(step.at), "zh": zh,
                           "en": en, "by": step.actor.get("role")}
    f = step.facts
    if step.type == ev.DOCUMENTS_REQUESTED:
        out["documents"] = f["documents"]
        out["reason"] = f["reason"]
    elif step.type == ev.DECIDED:
        out["outcome"] = f["outcome"]
        out["reasons"] = f["reasons"]
    elif step.type == ev.NOTE_RECORDED:
        out["kind"] = f["kind"]
        out["next_step_by"] = f["next_step_by"]
    elif step.type in _MEDICAL and not medical_ok:
        out["zh"], out["en"] = "已收到医疗材料。", "Medical documents were received."
    if staff:
        out["facts"] = f
        out["actor"] = step.actor
    return out
