"""Contract family: restoring a suspended policy (reinstatement) and ending one in its free-look period.

A reinstatement's amount is the back premiums with simple interest at the product's reinstatement rate; the
contract itself is restored by the policy's own reinstatement events, so the request changes nothing on it and
records the amount. A free-look cancellation refunds the premiums paid, less the catalog's fee, without interest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from ledger.money import Money
from ledger.policies import state as st
from ledger.servicing.catalog import RefundTerms
from ledger.servicing.families.base import Context, Input, Person, Prepared, amount_record, days_between

__all__ = ["FAMILY", "ContractFamily", "FreeLookCancellation", "Reinstatement"]


class Reinstatement(Input):
    # The new health declaration; the service hands it to the policy's reinstatement (which checks it against
    # the questionnaire and underwrites it). It is the insured's health data: never part of the request's facts.
    answers: dict[str, Any] = Field(min_length=1)


class FreeLookCancellation(Input):
    pass


def _modal(policy: st.PolicyState) -> Money:
    return Money.from_json(policy.premium["modal_premium"], field="premium.modal_premium").rounded()


class ContractFamily:
    name: ClassVar[str] = "contract"
    inputs: ClassVar[Mapping[str, type[Input]]] = {
        "reinstatement": Reinstatement, "free_look_cancellation": FreeLookCancellation}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """What the request records and changes; see each operation's method."""
        if isinstance(data, Reinstatement):
            return self._reinstatement(ctx)
        assert isinstance(data, FreeLookCancellation)
        return self._free_look(ctx)

    @staticmethod
    def _reinstatement(ctx: Context) -> Prepared:
        """The amount to reinstate: the policy's accepted reinstatement quote while it holds (on or before its
        valid_until); else the modal premium of every unpaid due date up to the request date, plus simple
        interest at the product's reinstatement rate from each due date to the request date (actual/365, rounded
        once on the total)."""
        policy, on = ctx.policy, ctx.on
        quoted = policy.reinstatement
        if quoted and on <= date.fromisoformat(quoted.get("valid_until", quoted["on"])):
            dues = [date.fromisoformat(due) for due in quoted["dues"]]
            overdue, interest = Money.from_json(quoted["overdue"]), Money.from_json(quoted["interest"])
            total = Money.from_json(quoted["total"])
            inputs: dict[str, Any] = {
                "source": "the policy's accepted reinstatement quote", "quoted_on": quoted["on"],
                "valid_until": quoted.get("valid_until"), "dues": dues, "overdue": overdue,
                "interest_rate": quoted["interest_rate"], "interest": interest}
        else:
            modal = _modal(policy)
            settled = set(policy.paid_dues) | set(policy.waived_dues)
            dues = [due for due in policy.due_dates() if due <= on and due.isoformat() not in settled]
            rate = ctx.product.reinstatement_interest
            days = [days_between(due, on) for due in dues]
            overdue = modal * len(dues)
            interest = Money(modal.amount * rate * Decimal(sum(days)) / Decimal(365), modal.currency).rounded()
            total = overdue + interest
            inputs = {"source": "computed on the request date", "modal_premium": modal,
                      "dues": [{"due": due, "days": n} for due, n in zip(dues, days, strict=True)],
                      "overdue": overdue, "interest_rate": rate, "interest": interest}
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=total, inputs=inputs)
        return Prepared(facts={"overdue": len(dues), "dues": [due.isoformat() for due in dues],
                               "total": total.rounded().to_json()}, amount=amount)

    @staticmethod
    def _free_look(ctx: Context) -> Prepared:
        """End the contract: refund = modal premium x premiums paid - the catalog's fee (not below 0), no
        interest, paid on the request date."""
        terms = ctx.operation.money.parameters
        assert isinstance(terms, RefundTerms), f"{ctx.operation.code} has no refund terms"
        policy, on = ctx.policy, ctx.on
        modal = _modal(policy)
        paid = modal * len(policy.paid_dues)
        refund = Money(max(Decimal(0), (paid - terms.fee).amount), modal.currency).rounded()
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=refund, inputs={
            "modal_premium": modal, "paid_dues": list(policy.paid_dues), "premiums_paid": paid, "fee": terms.fee})
        return Prepared(
            facts={"refund": refund.to_json(), "premiums_paid": len(policy.paid_dues)}, amount=amount,
            changes={"status": st.CANCELLED},
            payout={"amount": refund.to_json(), "pay_by": on.isoformat(), "to": "policyholder"})


FAMILY = ContractFamily()
