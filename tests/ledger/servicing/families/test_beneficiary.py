"""The beneficiary family: a full new list of beneficiaries as parties with shares adding up to 100, or the legal
heirs; never the insured; names and relationships only in the sealed details."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.errors import Refused
from ledger.policies.state import PolicyState, with_changes
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.families import beneficiary
from ledger.servicing.families.base import Context, Person

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG = load_catalog(default_catalog_path())
FAMILY = beneficiary.FAMILY
ON = date(2024, 5, 10)
NUMBERS = ["11010119900101123X", "110101199202021234", "110101199403031236", "110101199604041238",
           "110101199805051231"]
NAMES = ["李小红", "王大明", "赵四", "钱五", "孙六"]


def context(parties: dict[str, str], **values: Any) -> Context:
    fields: dict[str, Any] = {"status": "InForce", "policyholder": "P1", "insured": "P2",
                              "beneficiaries": ({"party": "P9", "share": "100"},)}
    fields.update(values)
    return Context(policy=dataclasses.replace(PolicyState(), **fields), product=PRODUCTS.get("whole-life"),
                   operation=CATALOG.get("beneficiary_change"),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=ON,
                   now=datetime(2024, 5, 10, 9, tzinfo=UTC), cash_value=None, parties=parties, requester="P1")


def change(shares: list[str]) -> beneficiary.BeneficiaryChange:
    return beneficiary.BeneficiaryChange(beneficiaries=tuple(
        beneficiary.Beneficiary(person=Person(name=NAMES[i], id_number=NUMBERS[i]), share=share,
                                relationship="child")
        for i, share in enumerate(shares)))


def resolved(count: int) -> dict[str, str]:
    return {f"beneficiary:{i}": f"B{i}" for i in range(count)}


def test_persons_are_keyed_by_position() -> None:
    data = change(["60", "40"])
    persons = FAMILY.persons(data)
    assert list(persons) == ["beneficiary:0", "beneficiary:1"]
    assert persons["beneficiary:1"].id_number == NUMBERS[1]


def test_two_beneficiaries_replace_the_old_one() -> None:
    prepared = FAMILY.prepare(context(resolved(2)), change(["60", "40"]))
    new = [{"party": "B0", "share": "60"}, {"party": "B1", "share": "40"}]
    assert prepared.changes == {"beneficiaries": new}
    assert prepared.facts == {"beneficiaries": new, "legal_heirs": False, "previous": ["P9"]}
    assert prepared.printed == {"beneficiaries": [["李**", "60%"], ["王**", "40%"]]}
    assert prepared.details["beneficiaries"][0] == {"party": "B0", "name": "李小红", "id_type": "resident_id",
                                                    "id_number": NUMBERS[0], "relationship": "child", "share": "60"}
    for secret in (*NUMBERS[:2], *NAMES[:2], "child"):
        assert secret not in repr(prepared.facts)
    assert prepared.amount is None
    after = with_changes(context(resolved(2)).policy, prepared.changes)
    assert after.beneficiaries == tuple(new)


def test_legal_heirs_replace_the_named_beneficiaries() -> None:
    prepared = FAMILY.prepare(context({}), beneficiary.BeneficiaryChange(legal_heirs=True))
    heirs = [{"party": None, "share": "100", "legal_heirs": "yes"}]
    assert prepared.changes == {"beneficiaries": heirs}
    assert prepared.facts == {"beneficiaries": heirs, "legal_heirs": True, "previous": ["P9"]}
    assert prepared.printed == {"beneficiaries": []}
    assert FAMILY.persons(beneficiary.BeneficiaryChange(legal_heirs=True)) == {}


def test_the_previous_list_leaves_out_the_legal_heirs() -> None:
    ctx = context(resolved(1), beneficiaries=({"party": None, "share": "100", "legal_heirs": "yes"},))
    assert FAMILY.prepare(ctx, change(["100"])).facts["previous"] == []


def test_shares_not_adding_to_100_are_refused() -> None:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(context(resolved(2)), change(["60", "30"]))
    assert caught.value.rule == "SHARES-NOT-100" and "90" in caught.value.message


def test_the_insured_cannot_be_a_beneficiary() -> None:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(context({"beneficiary:0": "B0", "beneficiary:1": "P2"}), change(["50", "50"]))
    assert caught.value.rule == "INSURED-AS-BENEFICIARY" and caught.value.field == "input.beneficiaries.1.person"


def test_one_person_named_twice_is_refused() -> None:
    data = beneficiary.BeneficiaryChange(beneficiaries=(
        beneficiary.Beneficiary(person=Person(name="李小红", id_number=NUMBERS[0]), share="50", relationship="child"),
        beneficiary.Beneficiary(person=Person(name="李小红", id_number=NUMBERS[0].lower()), share="50",
                                relationship="child")))
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(context(resolved(2)), data)
    assert caught.value.rule == "DUPLICATE-BENEFICIARY"
    with pytest.raises(Refused) as caught:  # two numbers the service resolved to one party
        FAMILY.prepare(context({"beneficiary:0": "B0", "beneficiary:1": "B0"}), change(["50", "50"]))
    assert caught.value.rule == "DUPLICATE-BENEFICIARY"


def test_legal_heirs_name_nobody() -> None:
    one = (beneficiary.Beneficiary(person=Person(name="李小红", id_number=NUMBERS[0]), share="100",
                                   relationship="child"),)
    with pytest.raises(ValidationError) as caught:
        beneficiary.BeneficiaryChange(legal_heirs=True, beneficiaries=one)
    assert caught.value.errors()[0]["loc"] == ("beneficiaries",)


def test_without_legal_heirs_someone_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        beneficiary.BeneficiaryChange(beneficiaries=())
    assert caught.value.errors()[0]["loc"] == ("beneficiaries",)


def test_at_most_five_beneficiaries() -> None:
    six = tuple(beneficiary.Beneficiary(person=Person(name=f"李{i}", id_number=f"11010119900101{i:04d}"), share="10",
                                        relationship="child") for i in range(6))
    beneficiary.BeneficiaryChange(beneficiaries=six[:5])  # five are fine
    with pytest.raises(ValidationError) as caught:
        beneficiary.BeneficiaryChange(beneficiaries=six)
    assert caught.value.errors()[0]["loc"] == ("beneficiaries",)


@pytest.mark.parametrize("share", ["0", "100.01", "101", "-5", "12.345", "50%", "1e2"])
def test_a_share_is_a_percent_above_0_up_to_100(share: str) -> None:
    with pytest.raises(ValidationError) as caught:
        beneficiary.Beneficiary(person=Person(name="李小红", id_number=NUMBERS[0]), share=share,
                                relationship="child")
    assert caught.value.errors()[0]["loc"] == ("share",)


@st.composite
def hundredths(draw: st.DrawFn) -> list[int]:
    """1 to 5 shares in hundredths of a percent: half the time a split of exactly 100%, else anything."""
    count = draw(st.integers(min_value=1, max_value=5))
    if draw(st.booleans()):
        cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=9_999), min_size=count - 1,
                                   max_size=count - 1)))
        return [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    return draw(st.lists(st.integers(min_value=1, max_value=10_000), min_size=count, max_size=count))


@settings(max_examples=80, deadline=None)
@given(hundredths())
def test_shares_are_accepted_exactly_when_they_add_up_to_100(cents: list[int]) -> None:
    shares = [f"{c // 100}.{c % 100:02d}" for c in cents]
    data = change(shares)
    if sum(cents) == 10_000:
        prepared = FAMILY.prepare(context(resolved(len(cents))), data)
        assert [b["share"] for b in prepared.changes["beneficiaries"]] == shares
        assert [row[1] for row in prepared.printed["beneficiaries"]] == [f"{share}%" for share in shares]
    else:
        with pytest.raises(Refused) as caught:
            FAMILY.prepare(context(resolved(len(cents))), data)
        assert caught.value.rule == "SHARES-NOT-100"
