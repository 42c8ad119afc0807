"""Contact family: the policyholder's or insured's mobile number, e-mail and postal address.

Nothing on the contract changes and no money moves; the new details are personal and sealed under the
requester, so the request's facts say only which fields changed and whose they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from ledger.servicing.families.base import Context, Input, Person, Prepared, refuse


class ContactChange(Input):
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{6,15}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)


class AddressChange(Input):
    address: str = Field(min_length=4, max_length=200)
    postcode: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


class Contact:
    name: ClassVar[str] = "contact"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"contact_change": ContactChange, "address_change": AddressChange}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        if isinstance(data, ContactChange):
            fields = [name for name in ("phone", "email") if getattr(data, name) is not None]
            if not fields:
                raise refuse("NOTHING-TO-CHANGE", "give a new phone number, e-mail or both",
                             "请填写新的手机号码或电子邮箱", field="input")
            details = {name: str(getattr(data, name)) for name in fields}
        else:
            assert isinstance(data, AddressChange)
            fields = ["address"]
            details = {"address": data.address, **({"postcode": data.postcode} if data.postcode else {})}
        return Prepared(facts={"fields": fields, "party": ctx.requester}, details=details)


FAMILY = Contact()
