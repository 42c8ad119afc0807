"""The policy read models: applications and policies by id and number, who is party to which, the underwriting
queue, the notices outbox for the messaging system, and the payments parked for review (one row per payment
reference that matched nothing). Folded from facts only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, ClassVar

from ledger.errors import Conflict, Refused, SignatureError
from ledger.log.reserved import LEDGER_KEY_ID
from ledger.log.statements import Statement
from ledger.policies import events as ev
from ledger.policies import state as st
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec

POLICIES, PARTIES, NUMBERS, NOTICES, PARKED = "policies", "policy_parties", "policy_numbers", "policy_notices", \
    "policy_payments_parked"
UNMATCHED = "policy_payments_unmatched"  # the payment references parked with no application: each kept once

_TYPES = frozenset(t.name for t in ev.TYPES)
_DECIDED_STATUS = {"standard": st.ACCEPTED, "rated": st.OFFERED, "exclusion": st.OFFERED, "postpone": st.POSTPONED,
                   "decline": st.DECLINED, "refer": st.REFERRED}


class PoliciesProjector:
    needs_facts: ClassVar[bool] = True
    name: ClassVar[str] = "policies"
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec(POLICIES, (
            Column("application_id", "text"), Column("policy_no", "text", True), Column("status", "text"),
            Column("product_id", "text"), Column("product_version", "int"), Column("policyholder", "text"),
            Column("insured", "text"), Column("sum_insured", "text"), Column("currency", "text"),
            Column("modal_premium", "text", True), Column("frequency", "text"),
            Column("outcome", "text", True), Column("submitted_at", "text"), Column("decided_at", "text", True),
            Column("issued_on", "text", True), Column("effective_date", "text", True),
            Column("next_due", "text", True), Column("grace_end", "text", True),
            Column("maturity_date", "text", True), Column("epolicy_version", "int", True),
            Column("epolicy_digest", "text", True), Column("installments", "int"), Column("paid", "int"),
            Column("updated_idx", "int"),
        ), key=("application_id",), indexes=(("status",), ("policy_no",))),
        TableSpec(PARTIES, (Column("party_id", "text"), Column("application_id", "text"), Column("role", "text")),
                  key=("party_id", "application_id", "role")),
        TableSpec(NUMBERS, (Column("policy_no", "text"), Column("application_id", "text")), key=("policy_no",)),
        TableSpec(NOTICES, (
            Column("idx", "int"), Column("application_id", "text"), Column("policy_no", "text"),
            Column("kind", "text"), Column("due_date", "text"), Column("channel", "text"),
            Column("text_zh", "text"), Column("text_en", "text"), Column("created_at", "text"),
        ), key=("idx",), outbox=True),
        TableSpec(PARKED, (
            Column("idx", "int"), Column("application_id", "text"), Column("payment_ref", "text"),
            Column("amount", "text"), Column("currency", "text"), Column("reason", "text"),
            Column("paid_at", "text"),
        ), key=("idx",)),
        TableSpec(UNMATCHED, (Column("payment_ref", "text"), Column("idx", "int")), key=("payment_ref",)),
    )

    def handles(self, type: str) -> bool:
        return type in _TYPES

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        if facts is None or not facts.get("application_id"):
            return []
        return [(POLICIES, (facts["application_id"],))]

    def apply(self, rows: Rows, fact: Fact) -> None:
        """Fold one policy event of a ``contract:`` stream (written only by the ledger's workflow key)."""
        stream = fact.statement.stream
        if not stream.startswith(ev.STREAM_PREFIX) and stream != ev.UNMATCHED_PAYMENTS:
            return  # a system's own event that happens to share a type name: not a policy of ours
        if fact.record.key_id != LEDGER_KEY_ID:
            raise SignatureError(f"{fact.type} is written only by the ledger's workflows, not by "
                                 f"{fact.record.key_id!r}", field="key_id")
        f = fact.facts
        if f is None:
            return
        app_id = f["application_id"]
        if stream == ev.UNMATCHED_PAYMENTS:
            if fact.type == ev.PAYMENT_PARKED:
                if f.get("kept_once") and rows.get(UNMATCHED, (f["payment_ref"],)) is not None:
                    # the same payment delivered twice at once: both passed the service's look; one is kept (one
                    # parked before the rule was held here, without ``kept_once``, is folded as it was)
                    raise Refused(f"PAYMENT-PARKED: payment {f['payment_ref']} is parked already",
                                  rule="PAYMENT-PARKED", zh=f"该笔付款（{f['payment_ref']}）已挂账待查")
                rows.put(UNMATCHED, {"payment_ref": f["payment_ref"], "idx": fact.index})
                rows.put(PARKED, {"idx": fact.index, "application_id": "", "payment_ref": f["payment_ref"],
                                  "amount": f["amount"]["amount"], "currency": f["amount"]["currency"],
                                  "reason": f["reason"], "paid_at": f["paid_at"]})
            return
        if fact.type == ev.SUBMITTED:
            plan = f["plan"]
            row: dict[str, Any] = {
                "application_id": app_id, "policy_no": None, "status": st.AWAITING_DECLARATION,
                "product_id": f["product"]["id"], "product_version": int(f["product"]["version"]),
                "policyholder": f["policyholder"], "insured": f["insured"],
                "sum_insured": plan["sum_insured"]["amount"], "currency": plan["sum_insured"]["currency"],
                "modal_premium": f["quote"]["modal_premium"]["amount"], "frequency": plan["frequency"],
                "outcome": None, "submitted_at": fact.record.recorded_at, "decided_at": None, "issued_on": None,
                "effective_date": None, "next_due": None, "grace_end": None, "maturity_date": None,
                "epolicy_version": None, "epolicy_digest": None, "installments": 0, "paid": 0,
                "updated_idx": fact.index}
            rows.put(POLICIES, row)
            roles = [("policyholder", f["policyholder"]), ("insured", f["insured"])]
            roles += [("beneficiary", b["party"]) for b in f["beneficiaries"] if b.get("party")]
            for role, party in roles:
                rows.put(PARTIES, {"party_id": party, "application_id": app_id, "role": role})
            return
        current = rows.get(POLICIES, (app_id,))
        if current is None:
            return
        row = dict(current, updated_idx=fact.index)
        if fact.type == ev.DECIDED:
            outcome = f["decision"]["outcome"]
            row.update(status=_DECIDED_STATUS[outcome], outcome=outcome, decided_at=fact.record.recorded_at)
            if f["quote"]:
                row["modal_premium"] = f["quote"]["modal_premium"]["amount"]
        elif fact.type in _SIMPLE:
            row["status"] = _SIMPLE[fact.type]
        elif fact.type == ev.ISSUED:
            taken = rows.get(NUMBERS, (f["policy_no"],))
            if taken is not None and taken["application_id"] != app_id:
                raise Conflict(f"policy number {f['policy_no']} is taken", field="policy_no")
            row.update(status=st.FREE_LOOK if f["free_look_end"] else st.IN_FORCE, policy_no=f["policy_no"],
                       issued_on=f["issued_on"], effective_date=f["effective_date"],
                       maturity_date=f["maturity_date"], epolicy_version=f["document"]["version"],
                       epolicy_digest=f["document"]["digest"], installments=int(f["schedule"]["installments"]),
                       paid=1, frequency=f["schedule"]["frequency"])
            row["next_due"] = _next_due(row)
            rows.put(NUMBERS, {"policy_no": f["policy_no"], "application_id": app_id})
        elif fact.type == ev.PREMIUM_PAID and f.get("purpose") == "renewal":
            row.update(paid=row["paid"] + 1, grace_end=None,
                       status=st.IN_FORCE if row["status"] == st.GRACE else row["status"])
            row["next_due"] = _next_due(row)
        elif fact.type == ev.GRACE_STARTED:
            row.update(status=st.GRACE, grace_end=f["grace_end"])
        elif fact.type == ev.LAPSED:
            row.update(status=st.SUSPENDED)
        elif fact.type == ev.LAPSE_RESCINDED:
            row.update(status=st.IN_FORCE, grace_end=None)
        elif fact.type == ev.FREE_LOOK_ENDED:
            row["status"] = st.IN_FORCE if row["status"] == st.FREE_LOOK else row["status"]
        elif fact.type == ev.CANCELLED:
            row["status"] = st.CANCELLED if f["reason"] == "free_look" else st.TERMINATED
        elif fact.type == ev.REINSTATED:
            row.update(status=st.IN_FORCE, grace_end=None, paid=row["paid"] + len(f["dues"]),
                       epolicy_version=f["document"]["version"], epolicy_digest=f["document"]["digest"])
            row["next_due"] = _next_due(row)
        elif fact.type == ev.SERVICED:
            _serviced(rows, row, f)
        elif fact.type == ev.PREMIUMS_WAIVED:  # waived installments count as settled
            row["paid"] = row["paid"] + len(f["dues"])
            row["next_due"] = _next_due(row)
        elif fact.type == ev.NOTICE_SENT:
            rows.put(NOTICES, {"idx": fact.index, "application_id": app_id, "policy_no": row["policy_no"] or "",
                               "kind": f["kind"], "due_date": f["due_date"], "channel": f["channel"],
                               "text_zh": f["text_zh"], "text_en": f["text_en"],
                               "created_at": fact.record.recorded_at})
        elif fact.type == ev.PAYMENT_PARKED:
            rows.put(PARKED, {"idx": fact.index, "application_id": app_id, "payment_ref": f["payment_ref"],
                              "amount": f["amount"]["amount"], "currency": f["amount"]["currency"],
                              "reason": f["reason"], "paid_at": f["paid_at"]})
        rows.put(POLICIES, row)


def _serviced(rows: Rows, row: dict[str, Any], f: Mapping[str, Any]) -> None:
    """A completed servicing request: the columns it changes, and who is party to the contract in which role."""
    changes = f["changes"]
    app_id = row["application_id"]
    if "status" in changes:
        row["status"] = changes["status"]
    if "plan" in changes:
        plan = changes["plan"]
        if "sum_insured" in plan:
            row["sum_insured"] = plan["sum_insured"]["amount"]
        if "frequency" in plan:
            row["frequency"] = plan["frequency"]
    if "premium" in changes:
        row["modal_premium"] = changes["premium"]["modal_premium"]["amount"]
    if "installments" in changes:
        row["installments"] = int(changes["installments"])
    if f.get("settled") is not None:  # installments paid or waived once the schedule changed
        row["paid"] = int(f["settled"])
        row["next_due"] = _next_due(row)
    elif changes.get("waived_dues"):  # a premium holiday settles the installments it waives
        row["paid"] = row["paid"] + len(changes["waived_dues"])
        row["next_due"] = _next_due(row)
    if f["document"]:
        row.update(epolicy_version=f["document"]["version"], epolicy_digest=f["document"]["digest"])
    if "policyholder" in changes:
        rows.delete(PARTIES, (row["policyholder"], app_id, "policyholder"))
        row["policyholder"] = changes["policyholder"]
        rows.put(PARTIES, {"party_id": changes["policyholder"], "application_id": app_id, "role": "policyholder"})
    if "beneficiaries" in changes:
        for old in f.get("previous_beneficiaries", ()):
            rows.delete(PARTIES, (old, app_id, "beneficiary"))
        for new in changes["beneficiaries"]:
            if new.get("party"):
                rows.put(PARTIES, {"party_id": new["party"], "application_id": app_id, "role": "beneficiary"})


_SIMPLE = {ev.EVIDENCE_REQUESTED: st.EVIDENCE_REQUESTED, ev.EVIDENCE_PROVIDED: st.REFERRED,
           ev.OFFER_ACCEPTED: st.ACCEPTED, ev.OFFER_REFUSED: st.OFFER_REFUSED, ev.WITHDRAWN: st.WITHDRAWN,
           ev.MATURED: st.MATURED, ev.CLAIM_ENDED: st.TERMINATED}


def _next_due(row: Mapping[str, Any]) -> str | None:
    """The first unpaid due date: premiums fall due every period from the effective date, ``installments`` times."""
    if row["effective_date"] is None or row["paid"] >= row["installments"]:
        return None
    effective = date.fromisoformat(row["effective_date"])
    return st.add_months(effective, st.MONTHS[row["frequency"]] * row["paid"]).isoformat()
