"""Beneficiary family: naming new death beneficiaries and their shares, or leaving the benefit to the legal heirs.

The full new list replaces the old one when the request completes (an endorsement: a new e-policy version prints
the masked names and shares). Beneficiaries are parties; their names, identity numbers and relationships to the
insured are personal and sealed under the requester.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from ledger.parties.identity import mask_name
from ledger.servicing.families.base import Context, Input, Person, Prepared, refuse

__all__ = ["FAMILY", "MAX_BENEFICIARIES", "Beneficiary", "BeneficiaryChange", "BeneficiaryFamily"]

MAX_BENEFICIARIES = 5
HUNDRED = Decimal(100)


class Beneficiary(Input):
    person: Person
    share: str = Field(pattern=r"^[0-9]{1,3}(\.[0-9]{1,2})?$")  # percent of the death benefit, e.g. "50" or "33.34"
    relationship: str = Field(min_length=1, max_length=32)  # to the insured

    @field_validator("share")
    @classmethod
    def _share_in_range(cls, value: str) -> str:
        if not Decimal(0) < Decimal(value) <= HUNDRED:
            raise ValueError(f"share must be above 0 and at most 100 (percent), got {value}")
        return value


class BeneficiaryChange(Input):
    legal_heirs: bool = Field(default=False, strict=True)  # the benefit goes to the insured's legal heirs
    beneficiaries: tuple[Beneficiary, ...] = Field(default=(), max_length=MAX_BENEFICIARIES)

    @field_validator("beneficiaries")
    @classmethod
    def _named_or_heirs(cls, value: tuple[Beneficiary, ...], info: ValidationInfo) -> tuple[Beneficiary, ...]:
        heirs = info.data.get("legal_heirs", False)
        if heirs and value:
            raise ValueError("name no beneficiary when legal_heirs is true")
        if not heirs and not value:
            raise ValueError(f"name 1 to {MAX_BENEFICIARIES} beneficiaries, or set legal_heirs to true")
        return value


def _key(index: int) -> str:
    return f"beneficiary:{index}"


class BeneficiaryFamily:
    name: ClassVar[str] = "beneficiary"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"beneficiary_change": BeneficiaryChange}

    def persons(self, data: Input) -> Mapping[str, Person]:
        assert isinstance(data, BeneficiaryChange)
        return {_key(index): b.person for index, b in enumerate(data.beneficiaries)}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """The new beneficiaries as parties with their shares, the masked names to print, and the previous list.

        Requires ``ctx.parties`` to hold every ``beneficiary:<i>`` of ``persons``. Raises ``Refused``
        SHARES-NOT-100 (shares adding up to another total), DUPLICATE-BENEFICIARY (one person named twice) or
        INSURED-AS-BENEFICIARY (the insured named as a beneficiary of their own death cover).
        """
        assert isinstance(data, BeneficiaryChange)
        previous = [b["party"] for b in ctx.policy.beneficiaries if b.get("party")]
        if data.legal_heirs:
            heirs = [{"party": None, "share": "100", "legal_heirs": "yes"}]
            return Prepared(facts={"beneficiaries": heirs, "legal_heirs": True, "previous": previous},
                            details={"beneficiaries": []}, changes={"beneficiaries": heirs},
                            printed={"beneficiaries": []})
        total = sum((Decimal(b.share) for b in data.beneficiaries), Decimal(0))
        if total != HUNDRED:
            raise refuse("SHARES-NOT-100", f"the beneficiaries' shares must add up to 100, not {total}",
                         f"受益人份额合计须为100%，当前为{total}%", field="input.beneficiaries")
        parties = [ctx.parties[_key(index)] for index in range(len(data.beneficiaries))]
        numbers = [b.person.id_number.upper() for b in data.beneficiaries]
        for index, (party, number) in enumerate(zip(parties, numbers, strict=True)):
            if party in parties[:index] or number in numbers[:index]:
                raise refuse("DUPLICATE-BENEFICIARY", f"beneficiary {index + 1} is already named above: give "
                             f"each person once with their whole share", "同一受益人不得重复指定，请合并其份额",
                             field=f"input.beneficiaries.{index}.person")
            if party == ctx.policy.insured:
                raise refuse("INSURED-AS-BENEFICIARY", "the insured cannot be a beneficiary of their own death "
                             "cover", "被保险人不能作为本人身故保险金的受益人",
                             field=f"input.beneficiaries.{index}.person")
        shares = [str(Decimal(b.share)) for b in data.beneficiaries]
        new = [{"party": party, "share": share} for party, share in zip(parties, shares, strict=True)]
        details: list[dict[str, Any]] = [
            {"party": party, "name": b.person.name, "id_type": b.person.id_type, "id_number": b.person.id_number,
             "relationship": b.relationship, "share": share}
            for party, b, share in zip(parties, data.beneficiaries, shares, strict=True)]
        return Prepared(
            facts={"beneficiaries": new, "legal_heirs": False, "previous": previous},
            details={"beneficiaries": details},
            changes={"beneficiaries": new},
            printed={"beneficiaries": [[mask_name(b.person.name), f"{share}%"]
                                       for b, share in zip(data.beneficiaries, shares, strict=True)]})


FAMILY = BeneficiaryFamily()
