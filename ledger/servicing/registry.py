"""The operation families: one module each (``ledger.servicing.families``), registered here by the family name the
catalog uses.

Adding an operation is its catalog entry plus its input model and ``prepare`` branch in its family's module;
adding a family is its module plus one line here.
"""

from __future__ import annotations

from collections.abc import Mapping

from ledger.servicing.families import (
    beneficiary,
    cash,
    contact,
    contract,
    document,
    identity,
    loan,
    option,
    owner,
    payment,
    plan,
    rating,
)
from ledger.servicing.families.base import Family

FAMILIES: Mapping[str, Family] = {family.name: family for family in (
    contact.FAMILY, identity.FAMILY, payment.FAMILY, beneficiary.FAMILY, owner.FAMILY, rating.FAMILY, loan.FAMILY,
    cash.FAMILY, contract.FAMILY, plan.FAMILY, option.FAMILY, document.FAMILY)}
