"""Owner family: handing the contract to a new policyholder, who takes over its rights and duties.

The new policyholder is a party; the next e-policy version prints their masked name. Their name, identity number
and relationship to the insured are personal and sealed under the requester.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from ledger.parties.identity import mask_name
from ledger.servicing.families.base import Context, Input, Person, Prepared, refuse

__all__ = ["FAMILY", "NEW_POLICYHOLDER", "Owner", "OwnerChange"]

NEW_POLICYHOLDER = "new_policyholder"  # the person key ``persons`` names and ``ctx.parties`` resolves


class OwnerChange(Input):
    new_policyholder: Person
    relationship: str = Field(min_length=1, max_length=32)  # to the insured


class Owner:
    name: ClassVar[str] = "owner"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"owner_change": OwnerChange}

    def persons(self, data: Input) -> Mapping[str, Person]:
        assert isinstance(data, OwnerChange)
        return {NEW_POLICYHOLDER: data.new_policyholder}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """The new policyholder as a party, the previous one, and the masked name the next e-policy prints.

        Requires ``ctx.parties[NEW_POLICYHOLDER]``. Raises ``Refused`` SAME-OWNER when that party already holds
        the policy.
        """
        assert isinstance(data, OwnerChange)
        party = ctx.parties[NEW_POLICYHOLDER]
        if party == ctx.policy.policyholder:
            raise refuse("SAME-OWNER", "the person named is already the policyholder",
                         "新投保人与现投保人为同一人", field="input.new_policyholder")
        person = data.new_policyholder
        return Prepared(
            facts={"policyholder": party, "previous": ctx.policy.policyholder},
            details={"new_policyholder": {"party": party, "name": person.name, "id_type": person.id_type,
                                          "id_number": person.id_number, "phone": person.phone},
                     "relationship": data.relationship},
            changes={"policyholder": party},
            printed={"policyholder": mask_name(person.name)})


FAMILY = Owner()
