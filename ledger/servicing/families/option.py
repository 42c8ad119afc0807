"""Option family: how a participating policy's dividends are used and how survival benefits and annuities are paid.

The choices a policy may make are its product's (the ``[servicing]`` section of the product file); the current
choice is the policy's ``options``, else the product's default. No money moves; the contract records the new
choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ledger.products.schema import DividendOption, PayoutOption
from ledger.servicing.families.base import Context, Input, Person, Prepared, refuse

__all__ = ["FAMILY", "AnnuityOptionChange", "DividendOptionChange", "Option"]


class DividendOptionChange(Input):
    option: DividendOption


class AnnuityOptionChange(Input):
    option: PayoutOption


@dataclass(frozen=True)
class _Choice:
    key: str  # in the policy's options
    offered: tuple[str, ...]
    default: str | None
    what: str  # in messages
    zh: str


def _choice(ctx: Context, data: Input) -> _Choice:
    terms = ctx.product.definition.servicing
    if isinstance(data, DividendOptionChange):
        return _Choice("dividend_option", tuple(terms.dividend_options) if terms else (),
                       terms.default_dividend_option if terms else None, "dividend option", "红利领取方式")
    return _Choice("payout_option", tuple(terms.payout_options) if terms else (),
                   terms.default_payout_option if terms else None, "payout option", "生存金及年金领取方式")


class Option:
    name: ClassVar[str] = "option"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"dividend_option_change": DividendOptionChange,
                                                   "annuity_option_change": AnnuityOptionChange}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """The new option and the one it replaces.

        Raises ``Refused`` OPTION-NOT-OFFERED (the product does not offer it) or SAME-OPTION (the policy's
        current choice, or the product's default when it has made none).
        """
        assert isinstance(data, DividendOptionChange | AnnuityOptionChange)
        choice = _choice(ctx, data)
        if data.option not in choice.offered:
            raise refuse("OPTION-NOT-OFFERED", f"{ctx.product.id} offers the {choice.what}s {list(choice.offered)}, "
                         f"not {data.option!r}", f"该产品不提供此{choice.zh}", field="input.option")
        current = ctx.policy.options.get(choice.key, choice.default)
        if data.option == current:
            raise refuse("SAME-OPTION", f"the policy's {choice.what} is already {current!r}",
                         f"保单当前已是该{choice.zh}", field="input.option")
        return Prepared(facts={"option": data.option, "from_option": current, "kind": choice.key},
                        changes={"options": {choice.key: data.option}})


FAMILY = Option()
