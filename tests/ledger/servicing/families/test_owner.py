"""The owner family: the contract handed to a new policyholder (a party), whose masked name the next e-policy
prints."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from ledger.errors import Refused
from ledger.policies.state import PolicyState, with_changes
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.families import owner
from ledger.servicing.families.base import Context, Person

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG = load_catalog(default_catalog_path())
FAMILY = owner.FAMILY
ON = date(2024, 5, 10)
NEW = Person(name="欧阳娜娜", id_number="110101199001011237", phone="13800138000")


def context(new_party: str) -> Context:
    state = dataclasses.replace(PolicyState(), status="InForce", policyholder="P1", insured="P2")
    return Context(policy=state, product=PRODUCTS.get("whole-life"), operation=CATALOG.get("owner_change"),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=ON,
                   now=datetime(2024, 5, 10, 9, tzinfo=UTC), cash_value=None, parties={"new_policyholder": new_party},
                   requester="P1")


def test_the_new_policyholder_is_the_person_named() -> None:
    data = owner.OwnerChange(new_policyholder=NEW, relationship="parent")
    assert FAMILY.persons(data) == {"new_policyholder": NEW}


def test_the_contract_passes_to_the_new_party() -> None:
    ctx = context("P3")
    prepared = FAMILY.prepare(ctx, owner.OwnerChange(new_policyholder=NEW, relationship="parent"))
    assert prepared.facts == {"policyholder": "P3", "previous": "P1"}
    assert prepared.changes == {"policyholder": "P3"}
    assert prepared.printed == {"policyholder": "欧***"}
    assert prepared.details == {"new_policyholder": {"party": "P3", "name": "欧阳娜娜", "id_type": "resident_id",
                                                     "id_number": "110101199001011237", "phone": "13800138000"},
                                "relationship": "parent"}
    for secret in ("欧阳娜娜", "110101199001011237", "13800138000", "parent"):
        assert secret not in repr(prepared.facts)
    assert prepared.amount is None
    assert with_changes(ctx.policy, prepared.changes).policyholder == "P3"


def test_the_current_policyholder_is_refused() -> None:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(context("P1"), owner.OwnerChange(new_policyholder=NEW, relationship="self"))
    assert caught.value.rule == "SAME-OWNER" and caught.value.field == "input.new_policyholder"


@pytest.mark.parametrize("values", [{"relationship": ""}, {"relationship": "x" * 33}])
def test_a_relationship_is_1_to_32_characters(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        owner.OwnerChange(new_policyholder=NEW, **values)
    assert caught.value.errors()[0]["loc"] == ("relationship",)
