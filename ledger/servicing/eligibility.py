"""The catalog's eligibility rules tried against a policy's facts: pure, and each refusal names its rule.

Every rule of an operation is tried in the catalog's order; the first that fails refuses the request with the
rule's code and its plain-language reason in Chinese and English (the catalog's text).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.errors import Refused
from ledger.policies import state as st
from ledger.servicing.catalog import (
    AnniversaryRule,
    EligibilityRule,
    FeatureRule,
    KindRule,
    PolicyYearsRule,
    PremiumsPaidRule,
    ReportedWithinRule,
    StateRule,
    StatusRule,
)
from ledger.servicing.families.base import Context

__all__ = ["check_eligibility", "next_anniversary", "policy_years"]


def check_eligibility(ctx: Context, facts: Mapping[str, Any]) -> None:
    """Raise ``Refused`` naming the first of the operation's rules the policy (or the request's input, as JSON:
    ``changed_on``, ``new_sum_insured``, ``frequency``, ``rider``) fails."""
    for rule in ctx.operation.eligibility:
        if not _holds(rule, ctx, facts):
            raise Refused(f"{rule.code}: {rule.en}", rule=rule.code, zh=rule.zh)


def policy_years(policy: st.PolicyState, on: date) -> int:
    """Whole policy years completed on ``on`` (0 in the first year)."""
    if policy.effective_date is None:
        return 0
    years = 0
    while st.add_months(policy.effective_date, 12 * (years + 1)) <= on:
        years += 1
    return years


def next_anniversary(policy: st.PolicyState, on: date) -> date:
    """The first policy anniversary after ``on``."""
    assert policy.effective_date is not None
    return st.add_months(policy.effective_date, 12 * (policy_years(policy, on) + 1))


def _status_on(policy: st.PolicyState, on: date) -> str:
    """The policy's status as it stood on the request date where the clock has moved it since: a request made
    within the free-look period keeps its right when the review ends after it."""
    if policy.status in st.LIVE and policy.status != st.SUSPENDED and policy.free_look_end is not None \
            and on <= policy.free_look_end:
        return st.FREE_LOOK
    return policy.status


def _in_arrears(policy: st.PolicyState, on: date) -> bool:
    due = policy.next_due()
    return due is not None and due < on


def _holds(rule: EligibilityRule, ctx: Context, facts: Mapping[str, Any]) -> bool:
    policy, on = ctx.policy, ctx.on
    if isinstance(rule, StatusRule):
        return _status_on(policy, on) in rule.statuses
    if isinstance(rule, KindRule):
        return ctx.product.kind in rule.kinds
    if isinstance(rule, FeatureRule):
        return ctx.product.has_feature(rule.feature)
    if isinstance(rule, AnniversaryRule):
        return policy.effective_date is not None and \
            (next_anniversary(policy, on) - on).days <= rule.window_days
    if isinstance(rule, ReportedWithinRule):
        changed = facts.get("changed_on")
        return changed is not None and 0 <= (on - date.fromisoformat(changed)).days <= rule.days
    if isinstance(rule, PolicyYearsRule):
        return policy_years(policy, on) >= rule.min_years
    if isinstance(rule, PremiumsPaidRule):
        return len(policy.paid_dues) >= rule.min_count
    assert isinstance(rule, StateRule)
    return _STATE_CHECKS[rule.check](ctx, facts)


def _cash_value_positive(ctx: Context, facts: Mapping[str, Any]) -> bool:
    if ctx.cash_value is None:
        return False
    return Decimal(ctx.cash_value(ctx.on)["amount"]["amount"]) > 0


def _sum_assured_floor(ctx: Context, facts: Mapping[str, Any]) -> bool:
    new = facts.get("new_sum_insured")
    if isinstance(new, Mapping):  # Money JSON
        new = new.get("amount")
    try:
        value = Decimal(str(new))
    except ArithmeticError:
        return False
    return value.is_finite() and value >= ctx.product.definition.eligibility.sum_insured_min.amount


def _frequency_offered(ctx: Context, facts: Mapping[str, Any]) -> bool:
    new = facts.get("frequency")
    return new in ctx.product.definition.plans.frequencies and new != ctx.policy.plan.get("frequency")


def _reinstatement_window(ctx: Context, facts: Mapping[str, Any]) -> bool:
    until = ctx.policy.reinstate_until
    return ctx.policy.status == st.SUSPENDED and until is not None and ctx.on <= until


def _rider_attached(ctx: Context, facts: Mapping[str, Any]) -> bool:
    wanted = facts.get("rider")
    return any(rider["product"]["id"] == wanted for rider in ctx.policy.riders)


_STATE_CHECKS = {
    "no_open_loan": lambda ctx, facts: not ctx.policy.loans,
    "open_loan": lambda ctx, facts: bool(ctx.policy.loans),
    "no_arrears": lambda ctx, facts: not _in_arrears(ctx.policy, ctx.on),
    # The ledger runs no premium debit of its own: a debit in progress is the payments system's to report.
    "no_debit_in_progress": lambda ctx, facts: True,
    "no_open_claim": lambda ctx, facts: not ctx.open_claims,
    "cash_value": _cash_value_positive,
    "reinstatement_window": _reinstatement_window,
    "rider_attached": _rider_attached,
    "base_policy": lambda ctx, facts: not ctx.product.definition.rider,
    "sum_assured_floor": _sum_assured_floor,
    "frequency_offered": _frequency_offered,
}
