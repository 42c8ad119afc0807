"""The identity family: corrections of one's own name and identity document, never of the insured's age or sex."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.errors import Refused, ValidationFailed
from ledger.parties.identity import resident_id_check_char
from ledger.policies.state import PolicyState
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.families import identity
from ledger.servicing.families.base import Context

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG = load_catalog(default_catalog_path())
FAMILY = identity.FAMILY
ON = date(2024, 5, 10)


def resident_id(birth: date, *, male: bool = True) -> str:
    first17 = f"110101{birth:%Y%m%d}{'123' if male else '124'}"
    return first17 + resident_id_check_char(first17)


def context(*, requester: str = "P1", **values: Any) -> Context:
    """A whole-life policy of a man of 30 at its issue on 2022-03-14 (policyholder P1, insured P1)."""
    fields: dict[str, Any] = {"status": "InForce", "effective_date": date(2022, 3, 15), "issued_on": date(2022, 3, 14),
                              "insured_age": 30, "insured_sex": "M", "policyholder": "P1", "insured": "P1"}
    fields.update(values)
    return Context(policy=dataclasses.replace(PolicyState(), **fields), product=PRODUCTS.get("whole-life"),
                   operation=CATALOG.get("identity_correction"),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=ON,
                   now=datetime(2024, 5, 10, 9, tzinfo=UTC), cash_value=None, requester=requester)


def correction(**values: Any) -> identity.IdentityCorrection:
    return identity.IdentityCorrection(**values)


def test_a_name_correction_keeps_the_name_out_of_the_facts() -> None:
    prepared = FAMILY.prepare(context(), correction(name="张三丰"))
    assert prepared.facts == {"fields": ["name"], "party": "P1"}
    assert prepared.details == {"name": "张三丰"}
    assert prepared.changes == {} and prepared.amount is None


def test_a_resident_number_with_the_same_age_and_sex_is_accepted_normalised() -> None:
    number = resident_id(date(1991, 6, 1))  # 30 on 2022-03-14
    prepared = FAMILY.prepare(context(), correction(id_type="resident_id", id_number=number.lower(),
                                                    id_expiry=date(2030, 1, 1)))
    assert prepared.facts == {"fields": ["id_type", "id_number", "id_expiry"], "party": "P1"}
    assert prepared.details == {"id_type": "resident_id", "id_number": number.upper(), "id_expiry": "2030-01-01"}
    assert number not in repr(prepared.facts)


def test_a_birthday_between_application_and_issue_is_not_an_age_change() -> None:
    # born 1991-03-01: 31 at issue on 2022-03-14, but 30 when the application was made before 1 March
    prepared = FAMILY.prepare(context(), correction(id_type="resident_id", id_number=resident_id(date(1991, 3, 1))))
    assert prepared.facts["fields"] == ["id_type", "id_number"]


@pytest.mark.parametrize(("birth", "male"), [
    (date(1990, 1, 1), True),  # 32 at issue: two years older than recorded
    (date(1992, 6, 1), True),  # 29 at issue: younger than recorded
    (date(1991, 6, 1), False),  # the right age, but a woman's number
])
def test_the_insureds_number_may_not_change_their_age_or_sex(birth: date, male: bool) -> None:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(context(), correction(id_type="resident_id", id_number=resident_id(birth, male=male)))
    assert caught.value.rule == "AGE-SEX-CHANGE" and caught.value.field == "input.id_number"


def test_someone_other_than_the_insured_corrects_their_own_number_freely() -> None:
    # P2 (the policyholder) is not the insured P1: their birth date is not the insured's age
    prepared = FAMILY.prepare(context(requester="P2", policyholder="P2"),
                              correction(id_type="resident_id", id_number=resident_id(date(1960, 1, 1), male=False)))
    assert prepared.facts == {"fields": ["id_type", "id_number"], "party": "P2"}


def test_a_passport_number_is_not_read_as_a_resident_number() -> None:
    prepared = FAMILY.prepare(context(), correction(id_type="passport", id_number="E12345678"))
    assert prepared.details == {"id_type": "passport", "id_number": "E12345678"}


def test_a_resident_number_that_does_not_check_is_invalid() -> None:
    number = resident_id(date(1991, 6, 1))
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(ValidationFailed) as caught:
        FAMILY.prepare(context(), correction(id_type="resident_id", id_number=wrong))
    assert caught.value.field == "input.id_number" and "check character" in caught.value.message


def test_a_number_needs_its_document_type() -> None:
    with pytest.raises(ValidationFailed) as caught:
        FAMILY.prepare(context(), correction(id_number=resident_id(date(1991, 6, 1))))
    assert caught.value.field == "input.id_type"


def test_nothing_to_correct_is_refused() -> None:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(context(), correction())
    assert caught.value.rule == "NOTHING-TO-CHANGE"


def test_an_expired_document_is_refused() -> None:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(context(), correction(id_expiry=date(2024, 5, 9)))
    assert caught.value.rule == "ID-EXPIRED"
    assert FAMILY.prepare(context(), correction(id_expiry=ON)).details == {"id_expiry": "2024-05-10"}


@pytest.mark.parametrize("values", [{"id_type": "driving_licence"}, {"name": ""}, {"id_number": "12-34"},
                                    {"nickname": "x"}])
def test_bad_input_names_its_field(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        correction(**values)
    assert caught.value.errors()[0]["loc"] == (next(iter(values)),)
