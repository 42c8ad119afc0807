"""Rating family: the insured's new occupation, re-rated.

The premium is re-quoted at the new occupation class (same plan, issue age, sex and extra premium); the amount is
the difference in installments over those still to fall due in the payment term, either way. A class the product
does not cover is refused: the cover would end with its cash value refunded, which a person decides, not this
request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar

from pydantic import Field

from ledger.money import Money
from ledger.servicing.families.base import Context, Input, Person, Prepared, amount_record, refuse
from ledger.servicing.families.plan import requote

__all__ = ["FAMILY", "OccupationChange", "Rating"]


class OccupationChange(Input):
    occupation_class: int = Field(ge=1, le=6, strict=True)
    changed_on: date  # the day the insured's occupation changed (ISO date)


class Rating:
    name: ClassVar[str] = "rating"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"occupation_change": OccupationChange}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """Re-rate the policy for the new class: amount = (new installment - old installment) x installments
        falling due after the request date (positive: the customer pays more; negative: less). Refuses
        CHANGED-AFTER-REQUEST (a change dated after the request), SAME-OCCUPATION-CLASS and UNINSURABLE-CLASS."""
        assert isinstance(data, OccupationChange)
        policy, on = ctx.policy, ctx.on
        new, old = data.occupation_class, policy.occupation_class
        if data.changed_on > on:
            raise refuse("CHANGED-AFTER-REQUEST", f"the change is dated {data.changed_on}, after the request date "
                         f"{on}", f"职业变更日期 {data.changed_on} 晚于申请日 {on}", field="input.changed_on")
        if new == old:
            raise refuse("SAME-OCCUPATION-CLASS", f"the insured is already in occupation class {old}",
                         f"被保险人的职业类别已为 {old} 类", field="input.occupation_class")
        covered = ctx.product.definition.eligibility.occupation_classes
        if new not in covered:
            raise refuse("UNINSURABLE-CLASS", f"{ctx.product.id} covers occupation classes {list(covered)}, not "
                         f"{new}: the cover would end and the cash value be refunded; staff end the policy, "
                         f"this request does not", f"本产品承保职业类别为 {list(covered)}，不承保 {new} 类职业："
                         f"合同将终止并退还现金价值，须由工作人员办理，本申请不予受理", field="input.occupation_class")
        premium = requote(ctx, occupation_class=new)
        before = Money.from_json(policy.premium["modal_premium"], field="premium.modal_premium").rounded()
        after = Money.from_json(premium["modal_premium"])
        remaining = [due for due in policy.due_dates() if due > on]
        difference = (after - before) * len(remaining)
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=difference, inputs={
            "from_class": old, "occupation_class": new, "premium_before": before, "premium_after": after,
            "remaining_dues": [due.isoformat() for due in remaining], "installments": len(remaining),
            "quote": premium})
        return Prepared(
            facts={"occupation_class": new, "from_class": old, "changed_on": data.changed_on.isoformat(),
                   "premium": premium["modal_premium"]},
            amount=amount, changes={"occupation_class": new, "premium": premium})


FAMILY = Rating()
