"""Plan family: lowering the sum assured (a partial surrender), and adding or removing a rider.

A decrease pays the share of the cash value (less the same share of debts) that the sum given up held, and the
premium is re-quoted for the new sum. A rider is priced by its own product for the insured's age now, starts at
the next policy anniversary and is paid with the base policy's installments; removing it refunds its cash value
(the unearned part of what was paid for it, by its product's rule) less any of its premium left unpaid. This
module also holds how a policy's plan and rating are read back for a re-quote, which the cash and rating families
use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from ledger.clock import add_months
from ledger.money import Money, parse_decimal
from ledger.policies.state import MONTHS, PolicyState
from ledger.products.catalog import Product
from ledger.products.pricing import Plan, cash_value
from ledger.products.schema import UnearnedPremiumCashValue
from ledger.servicing.eligibility import next_anniversary, policy_years
from ledger.servicing.families.base import Context, Input, Person, Prepared, amount_record, days_between, refuse
from ledger.servicing.families.loan import Amount, cash_value_on, debts_on
from ledger.servicing.families.payment import premium_json

__all__ = ["FAMILY", "PlanFamily", "RiderAdd", "RiderPlan", "RiderRemove", "SumAssuredDecrease",
           "extra_premium_pct", "policy_plan", "requote"]

PRODUCT_ID = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class SumAssuredDecrease(Input):
    new_sum_insured: Amount


class RiderPlan(Input):
    sum_insured: Amount  # in the rider product's units (hospital-allowance: the daily amount)
    term_years: int = Field(ge=1, le=100, strict=True)
    payment_years: int = Field(ge=1, le=100, strict=True)


class RiderAdd(Input):
    rider: str = Field(pattern=PRODUCT_ID, max_length=64)  # the rider's product id
    plan: RiderPlan
    # the insured's new health declaration on the rider's questionnaire: underwritten by the service before the
    # request is recorded, sealed with the request's details, never a fact
    answers: dict[str, Any] = Field(min_length=1)


class RiderRemove(Input):
    rider: str = Field(pattern=PRODUCT_ID, max_length=64)


# -- re-quoting a policy's plan --------------------------------------------------------------------------------

def policy_plan(policy: PolicyState, product: Product, *, sum_insured: Money | None = None) -> Plan:
    """The policy's plan as pricing takes it (its sum insured replaced by ``sum_insured`` if given)."""
    raw = policy.plan
    stated = raw["sum_insured"]
    current = Money.from_json(stated, field="plan.sum_insured") if isinstance(stated, Mapping) else \
        Money.of(stated, product.currency, field="plan.sum_insured")
    return Plan.of(product, sum_insured=current if sum_insured is None else sum_insured,
                   term_years=raw.get("term_years"), payment_years=raw.get("payment_years"),
                   frequency=raw.get("frequency", "annual"), options=raw.get("options", ()))


def extra_premium_pct(policy: PolicyState) -> Decimal:
    """The underwriting extra premium (percent) the policy's premium carries: its premium's, else its decision's,
    else 0."""
    stated = policy.premium.get("extra_premium_pct", policy.decision.get("extra_premium_pct", "0"))
    return parse_decimal(stated, field="premium.extra_premium_pct")


def requote(ctx: Context, *, sum_insured: Money | None = None, occupation_class: int | None = None
            ) -> dict[str, Any]:
    """The policy's premium re-quoted (JSON as a policy keeps it) for a new sum insured and/or occupation class,
    at its issue age, sex and extra premium. Raises ``Refused`` naming the pricing rule if the product does not
    price the plan."""
    policy = ctx.policy
    base = premium_json(ctx.product, policy_plan(policy, ctx.product, sum_insured=sum_insured),
                        age=policy.insured_age, sex=policy.insured_sex,
                        occupation_class=policy.occupation_class if occupation_class is None else occupation_class,
                        extra_premium_pct=extra_premium_pct(policy))
    riders = policy.premium.get("riders_modal_premium")
    # the riders still attached keep their installments: each due collects the new base premium and theirs
    return with_rider_installment(base, Money.from_json(riders)) if riders else base


def _sum_insured(policy: PolicyState, product: Product) -> Money:
    return policy_plan(policy, product).sum_insured


# -- the family ------------------------------------------------------------------------------------------------

class PlanFamily:
    name: ClassVar[str] = "plan"
    inputs: ClassVar[Mapping[str, type[Input]]] = {
        "sum_assured_decrease": SumAssuredDecrease, "rider_add": RiderAdd, "rider_remove": RiderRemove}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """What the request records and changes; see each operation's method for its refusals."""
        if isinstance(data, SumAssuredDecrease):
            return self._decrease(ctx, data)
        if isinstance(data, RiderAdd):
            return self._rider_add(ctx, data)
        assert isinstance(data, RiderRemove)
        return self._rider_remove(ctx, data)

    @staticmethod
    def _decrease(ctx: Context, data: SumAssuredDecrease) -> Prepared:
        """Lower the sum assured to ``new_sum_insured``; pays ``(cash value - debts) x decrease / sum assured``
        (not below 0). Refuses NOT-A-DECREASE, BELOW-PRODUCT-MINIMUM and SUM-INSURED-STEP."""
        on, currency = ctx.on, ctx.product.currency
        rules = ctx.product.definition.eligibility
        current = _sum_insured(ctx.policy, ctx.product)
        new = Money(data.new_sum_insured, currency).rounded()
        if not new < current:
            raise refuse("NOT-A-DECREASE", f"the new sum assured must be below the current {current.amount}, got "
                         f"{new.amount}", f"新保额须低于现保额 {current.amount} 元，申请为 {new.amount} 元",
                         field="input.new_sum_insured")
        if new < rules.sum_insured_min:
            raise refuse("BELOW-PRODUCT-MINIMUM", f"the product's smallest sum assured is "
                         f"{rules.sum_insured_min.amount}, got {new.amount}",
                         f"产品最低保额为 {rules.sum_insured_min.amount} 元，申请为 {new.amount} 元",
                         field="input.new_sum_insured")
        if (new.amount - rules.sum_insured_min.amount) % rules.sum_insured_step.amount != 0:
            raise refuse("SUM-INSURED-STEP", f"sums assured go in steps of {rules.sum_insured_step.amount} from "
                         f"{rules.sum_insured_min.amount}, got {new.amount}",
                         f"保额须自 {rules.sum_insured_min.amount} 元起按 {rules.sum_insured_step.amount} 元递增，"
                         f"申请为 {new.amount} 元", field="input.new_sum_insured")
        decrease = current - new
        cash = cash_value_on(ctx)
        debts = debts_on(ctx.policy, on)
        share = decrease.amount / current.amount
        paid = Money(max(Decimal(0), (cash.amount.amount - debts.total.amount) * share), currency)
        premium = requote(ctx, sum_insured=new)
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=paid, inputs={
            "cash_value": cash.record, "debts": debts.to_json(), "sum_insured": current, "new_sum_insured": new,
            "decrease": decrease}, tables=cash.tables())
        pay = paid.rounded()
        return Prepared(
            facts={"new_sum_insured": new.to_json(), "sum_insured": current.to_json(),
                   "decrease": decrease.to_json(), "paid": pay.to_json(), "premium": premium["modal_premium"]},
            amount=amount, changes={"plan": {"sum_insured": new.to_json()}, "premium": premium},
            payout={"amount": pay.to_json(), "pay_by": on.isoformat(), "to": "policyholder"})

    @staticmethod
    def _rider_add(ctx: Context, data: RiderAdd) -> Prepared:
        """Attach the rider product ``rider`` from the next policy anniversary, priced for the insured's age now
        at the base policy's frequency; the amount is its first installment. Refuses RIDER-ATTACHED,
        RIDER-NOT-ON-SALE, NOT-A-RIDER and the pricing rules (AGE-OUT-OF-RANGE, FREQUENCY-NOT-OFFERED, ...)."""
        policy, on = ctx.policy, ctx.on
        if any(rider["product"]["id"] == data.rider for rider in policy.riders):
            raise refuse("RIDER-ALREADY-ATTACHED", f"the policy already carries rider {data.rider!r}",
                         f"保单已附加该附加险（{data.rider}）", field="input.rider")
        product = ctx.products.get(data.rider)
        if product is None:
            raise refuse("RIDER-NOT-ON-SALE", f"no product {data.rider!r} is on sale", f"产品 {data.rider} 不在售",
                         field="input.rider")
        if not product.definition.rider:
            raise refuse("NOT-A-RIDER", f"{data.rider!r} is a base product, not a rider",
                         f"{data.rider} 为主险产品，不能作为附加险", field="input.rider")
        decided = dict(ctx.underwriting or {})
        if decided.get("outcome") in ("decline", "postpone"):
            reasons = "; ".join(str(reason.get("en", "")) for reason in decided.get("reasons", []))
            reasons_zh = "；".join(str(reason.get("zh", "")) for reason in decided.get("reasons", []))
            raise refuse("RIDER-DECLINED", f"the new health declaration does not allow this rider ({reasons})",
                         f"根据新的健康告知，无法附加该附加险（{reasons_zh}）", field="input.answers")
        if decided.get("outcome") in ("rated", "exclusion"):
            # the hall adds riders at standard terms only: an extra premium or an exclusion is an underwriter's
            # offer for the customer to accept, which an online request does not carry
            raise refuse("RIDER-NONSTANDARD", "the new health declaration calls for changed terms (an extra premium "
                         "or an exclusion); an underwriter offers those, not the servicing hall",
                         "根据新的健康告知需加费或除外承保，请联系核保人员办理", field="input.answers")
        start = next_anniversary(policy, on)
        if start.isoformat() in set(policy.paid_dues) | set(policy.waived_dues):
            # approved after the anniversary's premium was paid without it: the rider starts with the next due
            # that is still to be paid (its installment joins that due and every one after it), never before
            upcoming = policy.next_due()
            if upcoming is None:
                raise refuse("NO-PREMIUM-DUE", "every premium of the policy is paid: a rider has no installment to "
                             "join", "主险保费已全部交清，附加险无法随主险交费", field="input.rider")
            start = upcoming
        age = policy.insured_age + policy_years(policy, start)
        plan = Plan.of(product, sum_insured=Money(data.plan.sum_insured, product.currency).rounded(),
                       term_years=data.plan.term_years, payment_years=data.plan.payment_years,
                       frequency=policy.plan.get("frequency", "annual"))
        premium = premium_json(product, plan, age=age, sex=policy.insured_sex,
                               occupation_class=policy.occupation_class, extra_premium_pct=Decimal(0))
        first = Money.from_json(premium["modal_premium"])
        reference = {"id": product.id, "version": product.version, "digest": product.digest}
        plan_json = {"sum_insured": plan.sum_insured.to_json(), "term_years": plan.term_years,
                     "payment_years": plan.payment_years, "frequency": plan.frequency}
        rider = {"product": reference, "plan": plan_json, "premium": premium, "from": start.isoformat()}
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=first, inputs={
            "rider": reference, "plan": plan_json, "age": age, "sex": policy.insured_sex,
            "occupation_class": policy.occupation_class, "premium": premium, "from": start})
        return Prepared(
            facts={"rider": product.id, "version": product.version, "sum_insured": plan.sum_insured.to_json(),
                   "from": start.isoformat(), "premium": premium["modal_premium"],
                   **({"underwriting": decided} if decided else {})},
            amount=amount, changes={"riders": [*(dict(item) for item in policy.riders), rider],
                                    "premium": with_rider_installment(policy.premium, first)})

    @staticmethod
    def _rider_remove(ctx: Context, data: RiderRemove) -> Prepared:
        """Detach the rider ``rider`` and refund its cash value less its premium left unpaid (not below 0).

        The rider is paid with the base policy's installments from its start: the premium paid for it is its
        installment times the base due dates of its first year that are paid, and its cash value is its product's
        one-year rule over the days those installments paid for (as a one-year policy's). Refuses
        RIDER-NOT-ATTACHED, RIDER-VERSION-UNAVAILABLE (its product version is not the one on sale) and
        RIDER-CASH-VALUE-RULE (a rider whose cash value is not the one-year rule)."""
        policy, on, currency = ctx.policy, ctx.on, ctx.product.currency
        found = [rider for rider in policy.riders if rider["product"]["id"] == data.rider]
        if not found:
            raise refuse("RIDER-NOT-ATTACHED", f"the policy carries no rider {data.rider!r}",
                         f"保单未附加该附加险（{data.rider}）", field="input.rider")
        rider = found[0]
        product = ctx.products.get(data.rider)
        if product is None or product.digest != rider["product"]["digest"]:
            raise refuse("RIDER-VERSION-UNAVAILABLE", f"the rider was written under {data.rider} "
                         f"v{rider['product']['version']}, which is not the version on sale; staff compute its refund",
                         "该附加险的产品版本已非在售版本，退费由工作人员核算", field="input.rider")
        rule = product.definition.cash_value
        if not isinstance(rule, UnearnedPremiumCashValue):
            raise refuse("RIDER-CASH-VALUE-RULE", f"{data.rider} has a cash-value table, not the one-year rule; staff "
                         "compute its refund", "该附加险按现金价值表计算退费，由工作人员核算", field="input.rider")
        raw = rider["plan"]
        plan = Plan.of(product, sum_insured=Money.from_json(raw["sum_insured"]), term_years=raw["term_years"],
                       payment_years=raw["payment_years"], frequency=raw["frequency"])
        start = date.fromisoformat(rider["from"])
        end = add_months(start, 12 * (plan.term_years or 1))
        months = MONTHS[plan.frequency]
        dues = []  # the rider's installments: the base due dates of its term
        due = start
        while due < end:
            dues.append(due)
            due = add_months(start, months * len(dues))
        settled = set(policy.paid_dues) | set(policy.waived_dues)
        paid = [d for d in dues if d.isoformat() in policy.paid_dues]
        unpaid = [d for d in dues if d <= on and d.isoformat() not in settled]
        installment = Money.from_json(rider["premium"]["modal_premium"]).rounded()
        premium_paid = installment * len(paid)
        first_unpaid = next((d for d in dues if d.isoformat() not in policy.paid_dues), None)
        paid_to = end if first_unpaid is None else first_unpaid
        covered = max(days_between(start, paid_to), 1)
        elapsed = min(days_between(start, on), covered)
        age = int(rider["premium"]["inputs"]["age"])
        value = cash_value(product, plan, age=age, sex=policy.insured_sex, policy_year=1, elapsed_days=elapsed,
                           premium_paid=premium_paid, term_days=covered)
        owed = installment * len(unpaid)
        refund = Money(max(Decimal(0), (value.amount - owed).amount), currency)
        amount = amount_record(ctx, formula=ctx.operation.money.formula, amount=refund, inputs={
            "rider": rider["product"], "from": start, "installment": installment,
            "paid_dues": [d.isoformat() for d in paid], "premium_paid": premium_paid, "paid_to": paid_to,
            "covered_days": covered, "elapsed_days": elapsed, "cash_value": value.to_json(),
            "unpaid_dues": [d.isoformat() for d in unpaid], "unpaid": owed})
        pay = refund.rounded()
        return Prepared(
            facts={"rider": data.rider, "refund": pay.to_json()}, amount=amount,
            changes={"riders": [dict(item) for item in policy.riders if item is not rider],
                     "premium": with_rider_installment(policy.premium, -installment)},
            payout={"amount": pay.to_json(), "pay_by": on.isoformat(), "to": "policyholder"})


def with_rider_installment(premium: Mapping[str, Any], installment: Money) -> dict[str, Any]:
    """The contract's premium with a rider's installment added (or, negative, taken off): every due from then on
    collects the base premium and its riders' together; ``riders_modal_premium`` keeps the riders' share."""
    modal = Money.from_json(premium["modal_premium"]).rounded()
    riders = Money.from_json(premium.get("riders_modal_premium") or Money.zero(modal.currency).to_json())
    return {**premium, "modal_premium": (modal + installment).rounded().to_json(),
            "riders_modal_premium": (riders + installment).rounded().to_json()}


FAMILY = PlanFamily()
