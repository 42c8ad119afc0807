"""The servicing read model: every request with its state, for the queue, a policy's list and the progress page.
Folded from facts only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ledger.errors import Refused
from ledger.log.statements import Statement
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec
from ledger.servicing import events as ev
from ledger.servicing import state as st

REQUESTS = "servicing_requests"
OPEN = "servicing_open"  # the one open request of each operation on a policy
EXPOSURE = "servicing_exposure"  # per policy: high-risk requests with an amount submitted so far (four eyes)

_TYPES = frozenset(t.name for t in ev.TYPES)
_STATUS_AFTER = {ev.APPROVED: st.APPROVED, ev.REJECTED: st.REJECTED, ev.WITHDRAWN: st.WITHDRAWN,
                 ev.COMPLETED: st.COMPLETED}


class ServicingProjector:
    needs_facts: ClassVar[bool] = True
    name: ClassVar[str] = "servicing"
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec(REQUESTS, (
            Column("request_id", "text"), Column("application_id", "text"), Column("policy_no", "text"),
            Column("operation", "text"), Column("status", "text"), Column("requester", "text"),
            Column("requester_role", "text"), Column("high_risk", "int"), Column("flagged", "int"),
            Column("four_eyes", "int"), Column("approvals", "int"), Column("first_approver", "text", True),
            Column("amount", "text", True), Column("currency", "text", True), Column("submitted_at", "text"),
            Column("updated_at", "text"), Column("effective_at", "text", True), Column("updated_idx", "int"),
        ), key=("request_id",), indexes=(("status",), ("application_id",), ("requester",))),
        TableSpec(OPEN, (Column("application_id", "text"), Column("operation", "text"),
                         Column("request_id", "text")), key=("application_id", "operation")),
        TableSpec(EXPOSURE, (Column("application_id", "text"), Column("submitted", "int")),
                  key=("application_id",)),
    )

    def handles(self, type: str) -> bool:
        return type in _TYPES

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        if facts is None or not facts.get("request_id"):
            return []
        return [(REQUESTS, (facts["request_id"],))]

    def apply(self, rows: Rows, fact: Fact) -> None:
        f = fact.workflow_facts(ev.STREAM_PREFIX)
        if f is None:
            return
        at = fact.record.recorded_at
        if fact.type == ev.SUBMITTED:
            held = rows.get(OPEN, (f["application_id"], f["operation"]))
            if held is not None and held["request_id"] != f["request_id"]:
                # two requests raced past the service's check: the second is not recorded
                raise Refused(f"REQUEST-OPEN: request {held['request_id']} for {f['operation']} on this policy is "
                              "still open; follow it or withdraw it first", rule="REQUEST-OPEN",
                              zh=f"该保单已有一笔处理中的同类申请（{held['request_id']}）")
            rows.put(OPEN, {"application_id": f["application_id"], "operation": f["operation"],
                            "request_id": f["request_id"]})
            quote = f["quote"] or {}
            value = quote.get("value") or {}
            if f["high_risk"] and value.get("amount"):
                _expose(rows, f)
            status = st.AWAITING_CONFIRMATION if f["high_risk"] else \
                st.after_prerequisites(tuple(f["documents"]["missing"]))
            rows.put(REQUESTS, {
                "request_id": f["request_id"], "application_id": f["application_id"], "policy_no": f["policy_no"],
                "operation": f["operation"], "status": status, "requester": f["requester"]["party"],
                "requester_role": f["requester"]["role"], "high_risk": int(f["high_risk"]),
                "flagged": int(bool(f["flags"])), "four_eyes": int(f["four_eyes"]), "approvals": 0,
                "first_approver": None, "amount": value.get("amount"), "currency": value.get("currency"),
                "submitted_at": at, "updated_at": at, "effective_at": None, "updated_idx": fact.index})
            return
        current = rows.get(REQUESTS, (f["request_id"],))
        if current is None:
            return
        row = dict(current, updated_at=at, updated_idx=fact.index)
        if fact.type in _STATUS_AFTER:
            row["status"] = _STATUS_AFTER[fact.type]
            if row["status"] in st.CLOSED:
                key = (row["application_id"], row["operation"])
                held = rows.get(OPEN, key)
                if held is not None and held["request_id"] == row["request_id"]:
                    rows.delete(OPEN, key)
        if fact.type == ev.APPROVED:
            row.update(approvals=len(f["by"]), effective_at=f["effective_at"])
        elif fact.type == ev.APPROVAL_RECORDED:
            row.update(approvals=row["approvals"] + 1, first_approver=f["by"])
        elif fact.type in (ev.CONFIRMED, ev.DOCUMENTS_RECEIVED):
            row["status"] = f["status"]
        elif fact.type == ev.DOCUMENTS_REQUESTED:
            row["status"] = st.DOCUMENTS_REQUESTED
        elif fact.type == ev.COMPLETED and f["amount"]:
            row.update(amount=f["amount"]["value"]["amount"], currency=f["amount"]["value"]["currency"])
        rows.put(REQUESTS, row)


def _expose(rows: Rows, f: Mapping[str, Any]) -> None:
    """Count a high-risk request with an amount on its policy. One decided without four eyes on fewer such
    requests than there are now raced another past the service's read of the open amounts: it is not recorded
    (the service decides it again, counting the other, before the refusal reaches anyone)."""
    held = rows.get(EXPOSURE, (f["application_id"],))
    submitted = held["submitted"] if held is not None else 0
    seen = f.get("exposure")
    if seen is not None and not f["four_eyes"] and seen != submitted:
        raise Refused("REQUEST-STALE: another high-risk request on this policy was submitted at the same time; "
                      "send this one again so that both count", rule="REQUEST-STALE",
                      zh="该保单同时提交了另一笔高风险申请，请重新提交本申请")
    rows.put(EXPOSURE, {"application_id": f["application_id"], "submitted": submitted + 1})
