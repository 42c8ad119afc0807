"""Payment family: the accounts premiums are debited from and benefits paid to, how and how often premiums are
paid, and premium holidays.

No money moves in any of these. Account changes are personal (sealed under the requester) and leave the contract
as it is; a new payment method, a new frequency (from the next policy anniversary, re-quoted with the product's
modal factor) and a premium holiday (due dates not collected) change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field

from ledger.clock import add_months
from ledger.money import Money
from ledger.products.catalog import Product
from ledger.products.pricing import Plan, PlanRefused, quote
from ledger.products.schema import INSTALLMENTS, Frequency
from ledger.servicing.catalog import HolidayMoney
from ledger.servicing.eligibility import next_anniversary
from ledger.servicing.families.base import Context, Input, Person, Prepared, refuse

__all__ = ["FAMILY", "FrequencyChange", "Payment", "PaymentAccountChange", "PaymentMethodChange",
           "PayoutAccountChange", "PremiumHoliday", "premium_json"]

Method = Literal["bank_debit", "wechat_pay", "alipay", "bank_transfer"]
DEFAULT_METHOD = "bank_debit"  # a policy whose plan names no method pays by bank debit (the application's)
# A bound on the input alone; the catalog's max_months is the limit a request is held to.
HOLIDAY_MONTHS_CAP = 120


class _AccountChange(Input):
    bank: str = Field(min_length=2, max_length=60)
    account_no: str = Field(pattern=r"^[0-9]{12,19}$")
    holder: str = Field(min_length=1, max_length=64)


class PaymentAccountChange(_AccountChange):
    """The bank account renewal premiums are debited from."""


class PayoutAccountChange(_AccountChange):
    """The bank account survival benefits, annuities and the maturity benefit are paid to."""


class PaymentMethodChange(Input):
    method: Method


class FrequencyChange(Input):
    frequency: Frequency


class PremiumHoliday(Input):
    months: int = Field(ge=1, le=HOLIDAY_MONTHS_CAP, strict=True)


def premium_json(product: Product, plan: Plan, *, age: int, sex: str, occupation_class: int,
                 extra_premium_pct: Decimal) -> dict[str, Any]:
    """The premium of ``plan`` as a policy keeps it (annual and modal premium, frequency, basis and inputs).

    Raises ``Refused`` naming the pricing rule (FREQUENCY-NOT-OFFERED, AGE-OUT-OF-RANGE, ...) when the product
    does not offer the plan to this insured.
    """
    try:
        q = quote(product, plan, age=age, sex=sex, occupation_class=occupation_class,
                  extra_premium_pct=extra_premium_pct)
    except PlanRefused as error:
        raise refuse(error.rule, f"the product does not price this plan: {error.message}",
                     "产品不提供该保障计划", field="input") from None
    return {"product_id": product.id, "annual_premium": q.annual_premium.to_json(),
            "modal_premium": q.modal_premium.to_json(), "frequency": q.frequency,
            "installments_per_year": q.installments_per_year, "extra_premium_pct": str(extra_premium_pct),
            "basis": q.basis, "inputs": q.inputs}


def _policy_plan(ctx: Context, *, frequency: Frequency) -> Plan:
    raw = ctx.policy.plan
    sum_insured = raw["sum_insured"]
    money = Money.from_json(sum_insured, field="plan.sum_insured") if isinstance(sum_insured, Mapping) else \
        Money.of(sum_insured, ctx.product.currency, field="plan.sum_insured")
    return Plan.of(ctx.product, sum_insured=money, term_years=raw.get("term_years"),
                   payment_years=raw.get("payment_years"), frequency=frequency, options=raw.get("options", ()))


class Payment:
    name: ClassVar[str] = "payment"
    inputs: ClassVar[Mapping[str, type[Input]]] = {
        "payment_account_change": PaymentAccountChange, "payment_method_change": PaymentMethodChange,
        "frequency_change": FrequencyChange, "payout_account_change": PayoutAccountChange,
        "premium_holiday": PremiumHoliday}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """What the request records and changes; see each operation's method for its refusals."""
        if isinstance(data, _AccountChange):
            return self._account(ctx, data)
        if isinstance(data, PaymentMethodChange):
            return self._method(ctx, data)
        if isinstance(data, FrequencyChange):
            return self._frequency(ctx, data)
        assert isinstance(data, PremiumHoliday)
        return self._holiday(ctx, data)

    @staticmethod
    def _account(ctx: Context, data: _AccountChange) -> Prepared:
        """A new debit or payout account: personal details only (whether it is in the right name is checked by
        staff against the uploaded bank card)."""
        which = "payment_account" if isinstance(data, PaymentAccountChange) else "payout_account"
        return Prepared(facts={"fields": [which], "party": ctx.requester},
                        details={which: {"bank": data.bank, "account_no": data.account_no, "holder": data.holder}})

    @staticmethod
    def _method(ctx: Context, data: PaymentMethodChange) -> Prepared:
        """Refuses SAME-METHOD (the method the policy pays by now)."""
        current = ctx.policy.plan.get("payment_method", DEFAULT_METHOD)
        if data.method == current:
            raise refuse("SAME-METHOD", f"premiums are already paid by {current}",
                         "保单当前已使用该交费方式", field="input.method")
        return Prepared(facts={"method": data.method, "from_method": current},
                        changes={"plan": {"payment_method": data.method}})

    @staticmethod
    def _frequency(ctx: Context, data: FrequencyChange) -> Prepared:
        """The new frequency from the next policy anniversary: every due date of the new schedule before it counts
        as settled, and the premium is the product's quote at the new frequency (with any extra premium).

        Refuses INSTALLMENT-DUE-FIRST when an installment of the current schedule falling due before the
        anniversary is unpaid (the new schedule would never collect it), NO-PREMIUMS-LEFT when the payment term
        ends by the anniversary, and as ``premium_json`` does.
        """
        policy = ctx.policy
        assert policy.effective_date is not None
        start = policy.effective_date
        if policy.riders:
            raise refuse("RIDERS-ATTACHED", "a policy carrying riders keeps its premium frequency (the riders' "
                         "installments follow it); remove the riders first", "附加险随主险按原交费频率交费，"
                         "请先解除附加险再变更交费频率", field="input.frequency")
        anniversary = next_anniversary(policy, ctx.on)
        done = set(policy.paid_dues) | set(policy.waived_dues)
        owing = [due for due in policy.due_dates() if due < anniversary and due.isoformat() not in done]
        if owing:
            raise refuse("INSTALLMENT-DUE-FIRST", f"the installment due on {owing[0].isoformat()} at the current "
                         f"frequency is unpaid: pay it before the frequency changes on {anniversary.isoformat()}",
                         f"请先交纳{owing[0].isoformat()}到期的保费，再变更交费频率")
        plan = _policy_plan(ctx, frequency=data.frequency)
        per_year = INSTALLMENTS[data.frequency]
        months = 12 // per_year
        installments = plan.payment_years * per_year
        dues = [add_months(start, k * months) for k in range(installments)]
        settled = [due for due in dues if due < anniversary]
        if len(settled) == len(dues):
            raise refuse("NO-PREMIUMS-LEFT", f"the payment term ends before the anniversary on "
                         f"{anniversary.isoformat()}: no premium is left to pay at another frequency",
                         "交费期在下一个保单周年日前届满，无需变更交费频率", field="input.frequency")
        extra = Decimal(str(policy.decision.get("extra_premium_pct") or "0"))
        premium = premium_json(ctx.product, plan, age=policy.insured_age, sex=policy.insured_sex,
                               occupation_class=policy.occupation_class, extra_premium_pct=extra)
        return Prepared(
            facts={"frequency": data.frequency, "from_frequency": policy.plan.get("frequency"),
                   "effective_on": anniversary.isoformat(), "premium": premium["modal_premium"]},
            changes={"plan": {"frequency": data.frequency}, "premium": premium, "installments": installments,
                     "paid_dues": [due.isoformat() for due in settled]},
            settled=len(settled))

    @staticmethod
    def _holiday(ctx: Context, data: PremiumHoliday) -> Prepared:
        """The due dates of the next ``months`` months from the first unpaid one, within the payment term, are
        waived. Refuses MONTHS-ABOVE-MAX (more than the catalog's max_months) and NOTHING-DUE (no due date in
        the holiday)."""
        terms = ctx.operation.money
        assert isinstance(terms, HolidayMoney), "premium_holiday takes its max_months from the catalog"
        limit = terms.parameters.max_months
        if data.months > limit:
            raise refuse("MONTHS-ABOVE-MAX", f"a premium holiday lasts at most {limit} months, not {data.months}",
                         f"保费缓交期最长{limit}个月", field="input.months")
        policy = ctx.policy
        first = policy.next_due()
        if first is None:
            raise refuse("NOTHING-DUE", "every premium of the payment term is paid or waived already",
                         "交费期内已无待交保费", field="input.months")
        until = add_months(first, data.months)
        done = set(policy.paid_dues) | set(policy.waived_dues)
        waived = [due.isoformat() for due in policy.due_dates()
                  if first <= due < until and due.isoformat() not in done]
        return Prepared(facts={"months": data.months, "from": first.isoformat(), "until": until.isoformat(),
                               "waived": len(waived)},
                        changes={"waived_dues": waived})


FAMILY = Payment()
