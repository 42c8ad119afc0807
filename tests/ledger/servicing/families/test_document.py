"""The document family: an e-policy reissued as a copy of its current version, or as a corrected new version."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.policies.state import PolicyState
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.families import document
from ledger.servicing.families.base import Context

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG = load_catalog(default_catalog_path())
FAMILY = document.FAMILY
ON = date(2024, 5, 10)
VERSIONS = ({"version": 1, "digest": "sha256:aa", "issued_on": "2022-03-14"},
            {"version": 2, "digest": "sha256:bb", "issued_on": "2023-01-02"})


def context(documents: tuple[dict[str, Any], ...] = VERSIONS) -> Context:
    state = dataclasses.replace(PolicyState(), status="InForce", policyholder="P1", insured="P1",
                                documents=documents)
    return Context(policy=state, product=PRODUCTS.get("whole-life"), operation=CATALOG.get("epolicy_reissue"),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=ON,
                   now=datetime(2024, 5, 10, 9, tzinfo=UTC), cash_value=None, requester="P1")


def test_a_copy_reprints_the_current_version() -> None:
    prepared = FAMILY.prepare(context(), document.EpolicyReissue(kind="copy", reason="lost the e-mail"))
    assert prepared.facts == {"kind": "copy", "new_version": False, "of": {"version": 2, "digest": "sha256:bb"}}
    assert prepared.details == {"reason": "lost the e-mail"}
    assert prepared.changes == {} and prepared.amount is None and prepared.printed == {}


def test_a_corrected_version_is_a_new_version() -> None:
    prepared = FAMILY.prepare(context(), document.EpolicyReissue(kind="corrected", reason="address misprinted"))
    assert prepared.facts["kind"] == "corrected" and prepared.facts["new_version"] is True
    assert prepared.changes == {}
    assert "address misprinted" not in repr(prepared.facts)


def test_a_policy_without_a_printed_version_names_none() -> None:
    prepared = FAMILY.prepare(context(()), document.EpolicyReissue(kind="copy", reason="first copy"))
    assert prepared.facts == {"kind": "copy", "new_version": False}


@pytest.mark.parametrize(("values", "field"), [({"kind": "reprint", "reason": "x"}, "kind"),
                                               ({"kind": "copy", "reason": ""}, "reason"),
                                               ({"kind": "copy", "reason": "x" * 201}, "reason"),
                                               ({"kind": "copy"}, "reason")])
def test_bad_input_names_its_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        document.EpolicyReissue(**values)
    assert caught.value.errors()[0]["loc"] == (field,)
