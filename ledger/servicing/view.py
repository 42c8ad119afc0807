"""How servicing is shown: an operation as the catalog route publishes it, and a request as its progress page
shows it (state, timeline, what is awaited from whom, expected completion)."""

from __future__ import annotations

from typing import Any

from ledger.log.identifiers import utc_timestamp
from ledger.servicing import state as st
from ledger.servicing.catalog import Operation, ServicingCatalog
from ledger.servicing.families.base import Family
from ledger.servicing.state import RequestState

__all__ = ["public_operation", "request_view"]


def public_operation(operation: Operation, catalog: ServicingCatalog, family: Family | None) -> dict[str, Any]:
    """An operation as the catalog route publishes it: names, who may ask, consents, documents, rules, money, and
    the JSON Schema of its input."""
    on_behalf = "staff_on_behalf" in operation.requesters
    model = family.inputs.get(operation.code) if family is not None else None
    return {
        "code": operation.code,
        "family": operation.family,
        "names": operation.names.model_dump(),
        "description": operation.description.model_dump(),
        "requesters": list(operation.requesters),
        "consents": [consent.model_dump(mode="json") for consent in operation.consents],
        "documents": [document.model_dump(mode="json") for document in operation.documents],
        # what staff acting for the customer add to the documents
        "staff_documents": [document.model_dump(mode="json") for document in catalog.staff_documents]
        if on_behalf else [],
        "eligibility": [{"code": rule.code, "check": rule.check, "zh": rule.zh, "en": rule.en,
                         "parameters": rule.parameters()} for rule in operation.eligibility],
        "changes_contract": operation.changes_contract,
        "ends_contract": operation.ends_contract,
        "underwriting": operation.underwriting,
        "money": {"direction": operation.money.direction, "formula": operation.money.formula,
                  "expression": operation.money.expression,
                  "parameters": operation.money.parameters.model_dump(mode="json")},
        "high_risk": operation.high_risk,
        "automatic": operation.automatic,
        "cooling_off_hours": catalog.cooling_off_hours(operation),
        "input_schema": model.model_json_schema() if model is not None else None,
        "sources": list(operation.sources),
    }


_AWAITED = {
    st.AWAITING_CONFIRMATION: ("customer", "确认短信验证码", "the one-time code sent to your phone"),
    st.DOCUMENTS_REQUESTED: ("customer", "补充材料", "the documents listed"),
    st.UNDER_REVIEW: ("servicing", "保全人员审核", "a servicing clerk's review"),
}


def request_view(state: RequestState) -> dict[str, Any]:
    """A request as its owner and staff see it (facts only: no personal details)."""
    s = state.submitted
    awaited: dict[str, Any] | None = None
    if state.status in _AWAITED:
        who, zh, en = _AWAITED[state.status]
        awaited = {"from": who, "zh": zh, "en": en}
        if state.status == st.DOCUMENTS_REQUESTED:
            awaited["documents"] = list(state.documents_missing)
        if state.status == st.UNDER_REVIEW and s.get("four_eyes") and state.approvals:
            awaited.update(zh="另一名保全人员复核", en="a second servicing clerk's approval")
    elif state.status == st.APPROVED:
        until = utc_timestamp(state.effective_at) if state.effective_at else None
        if s.get("operation") == "reinstatement":
            awaited = {"from": "customer", "zh": "缴纳复效款项", "en": "the reinstatement payment"}
        elif s.get("operation") in st.PAID_IN and not state.payment:
            awaited = {"from": "customer", "zh": "缴纳款项", "en": "the payment", "amount": (s.get("quote") or {})
                       .get("value")}
        else:
            awaited = {"from": "clock", "zh": f"冷静期至 {until}", "en": f"the cooling-off period until {until}",
                       "until": until}
    return {
        "request_id": state.request_id,
        "policy_no": s.get("policy_no"),
        "operation": state.operation,
        "status": state.status,
        "requester": s.get("requester"),
        "on_behalf": s.get("on_behalf"),
        "high_risk": state.high_risk,
        "input": s.get("input"),
        "quote": s.get("quote"),
        "flags": s.get("flags", []),
        "documents": {"required": s.get("documents", {}).get("required", []),
                      "received": list(state.documents_received), "missing": list(state.documents_missing)},
        "four_eyes": s.get("four_eyes", False),
        "approvals": list(state.approvals),
        "cooling_off_until": utc_timestamp(state.effective_at) if state.effective_at and s.get("high_risk")
        else None,
        "awaiting": awaited,
        "expected_by": s.get("expected_by"),
        "outcome": state.outcome or None,
        "payment": state.payment or None,
        "catalog": s.get("catalog"),
        "timeline": [{"index": step.index, "type": step.type, "at": utc_timestamp(step.at), "status": step.status,
                      "actor": step.actor, **({"note": step.note} if step.note else {})}
                     for step in state.timeline],
        "version": state.last_seq,
    }
