"""The coverages a product offers (benefit shapes), the plan options that add cover, and exclusions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ledger.products.fields import Code, DecimalStr, Frozen, MoneyField, Positive, Text, check_share

__all__ = ["Benefit", "Coverage", "DailyAllowance", "Exclusion", "LumpSum", "Option", "PremiumWaiver",
           "Reimbursement"]


class Exclusion(Frozen):
    code: Code
    zh: Text
    en: Text


class LumpSum(Frozen):
    """A share of the sum insured, paid up to ``max_payouts`` times (``interval_days`` apart)."""

    kind: Literal["lump_sum"]
    group: Literal["death", "total_disability", "severe", "moderate", "mild", "accidental_death",
                   "accidental_disability"]
    ratio: DecimalStr
    max_payouts: Positive = 1
    interval_days: Annotated[int, Field(ge=0)] = 0
    ends_cover: bool = False

    @model_validator(mode="after")
    def _ratio(self) -> LumpSum:
        if not 0 < self.ratio <= 1:
            raise ValueError(f"ratio: must be within (0, 1], got {self.ratio}")
        return self


class Reimbursement(Frozen):
    """(eligible expenses - deductible - social insurance paid) x ratio, within the annual limit (the sum insured)."""

    kind: Literal["reimbursement"]
    deductible: MoneyField
    ratio: DecimalStr
    ratio_without_social_insurance: DecimalStr
    annual_limit: Literal["sum_insured"] = "sum_insured"

    @model_validator(mode="after")
    def _ratios(self) -> Reimbursement:
        check_share(self.ratio, name="ratio")
        check_share(self.ratio_without_social_insurance, name="ratio_without_social_insurance")
        return self


class DailyAllowance(Frozen):
    """(days in hospital - deductible days) x the daily amount (the sum insured), at most ``max_days`` a year."""

    kind: Literal["daily_allowance"]
    daily_amount: Literal["sum_insured"] = "sum_insured"
    deductible_days: Annotated[int, Field(ge=0)]
    max_days: Positive


class PremiumWaiver(Frozen):
    """Premiums still due are waived after a payout under any of ``triggers`` (coverage codes)."""

    kind: Literal["premium_waiver"]
    triggers: Annotated[tuple[Code, ...], Field(min_length=1)]


Benefit = Annotated[LumpSum | Reimbursement | DailyAllowance | PremiumWaiver, Field(discriminator="kind")]


class Coverage(Frozen):
    code: Code
    zh: Text
    en: Text
    benefit: Benefit
    waiting_period_applies: bool = True
    option: Code | None = None  # only with this plan option


class Option(Frozen):
    """A plan option the buyer may add, priced as a factor on the table premium."""

    code: Code
    zh: Text
    en: Text
    premium_factor: DecimalStr

    @model_validator(mode="after")
    def _factor(self) -> Option:
        if self.premium_factor <= 0:
            raise ValueError(f"premium_factor: must be > 0, got {self.premium_factor}")
        return self
