"""Identity family: correcting one's own name, identity document type, number or expiry.

Nothing on the contract changes and no money moves. The new values are personal and sealed under the requester,
so the request's facts say only which fields changed and whose they are. A correction that would change the
insured's age or sex is not this operation (it re-rates the contract): a new resident identity number of the
insured must encode the sex and an age the policy recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from ledger.errors import ValidationFailed
from ledger.parties.identity import age_on, check_resident_id
from ledger.servicing.families.base import Context, Input, Person, Prepared, refuse

__all__ = ["FAMILY", "Identity", "IdentityCorrection"]

IdType = Literal["resident_id", "passport", "hk_macau_permit", "taiwan_permit", "foreign_permanent_resident_id"]


class IdentityCorrection(Input):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    id_type: IdType | None = None
    id_number: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{5,30}$")
    id_expiry: date | None = None


class Identity:
    name: ClassVar[str] = "identity"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"identity_correction": IdentityCorrection}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """The correction's facts (which fields, whose) and its sealed details (the new values).

        Raises ``Refused`` NOTHING-TO-CHANGE (no field given), ID-EXPIRED (an expiry before the request date) or
        AGE-SEX-CHANGE (the insured's new resident identity number encodes another sex, or a birth date that does
        not give the age the policy recorded), and ``ValidationFailed`` for a number given without its type or a
        resident identity number that does not check.
        """
        assert isinstance(data, IdentityCorrection)
        fields = [name for name in ("name", "id_type", "id_number", "id_expiry") if getattr(data, name) is not None]
        if not fields:
            raise refuse("NOTHING-TO-CHANGE", "give the corrected name, document type, number or expiry",
                         "请填写更正后的姓名、证件类型、证件号码或有效期", field="input")
        if data.id_expiry is not None and data.id_expiry < ctx.on:
            raise refuse("ID-EXPIRED", f"the document expired on {data.id_expiry.isoformat()}, before "
                         f"{ctx.on.isoformat()}: correct it with a valid document",
                         "证件已过有效期，请使用有效证件更正", field="input.id_expiry")
        id_number = data.id_number
        if id_number is not None:
            if data.id_type is None:
                raise ValidationFailed("input.id_type must be given with input.id_number (the number's document "
                                       "type)", field="input.id_type")
            if data.id_type == "resident_id":
                id_number = self._resident_number(ctx, id_number)
        details = {name: getattr(data, name) for name in fields}
        if id_number is not None:
            details["id_number"] = id_number
        if data.id_expiry is not None:
            details["id_expiry"] = data.id_expiry.isoformat()
        return Prepared(facts={"fields": fields, "party": ctx.requester}, details=details)

    @staticmethod
    def _resident_number(ctx: Context, number: str) -> str:
        """``number`` checked and normalised; for the insured, also refused if it changes their age or sex."""
        resident = check_resident_id(number, field="input.id_number", on=ctx.on)
        policy = ctx.policy
        if ctx.requester != policy.insured:
            return resident.number
        # The application date is not among the policy's facts: it lies in the year before issue, so the age the
        # policy recorded is the number's age at issue or one less (a birthday between application and issue).
        issued = policy.issued_on or policy.effective_date or ctx.on
        age_at_issue = age_on(resident.birth_date, issued) if resident.birth_date <= issued else -1
        if resident.sex != policy.insured_sex or policy.insured_age not in (age_at_issue, age_at_issue - 1):
            raise refuse("AGE-SEX-CHANGE", "the new identity number gives the insured another age or sex than the "
                         "policy records; an age or sex correction is a separate request",
                         "新证件号码显示的被保险人年龄或性别与保单记载不符，年龄或性别更正须另行申请",
                         field="input.id_number")
        return resident.number


FAMILY = Identity()
