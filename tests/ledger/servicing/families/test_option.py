"""The option family: dividend and payout options among those the product offers, never the current one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.errors import Refused
from ledger.policies.state import PolicyState, with_changes
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.families import option
from ledger.servicing.families.base import Context, Input

PRODUCTS = ProductCatalog.load(default_products_dir())
CATALOG = load_catalog(default_catalog_path())
FAMILY = option.FAMILY
ON = date(2024, 5, 10)


def context(operation: str, *, product: str = "whole-life-participating", options: dict[str, Any] | None = None
            ) -> Context:
    state = dataclasses.replace(PolicyState(), status="InForce", policyholder="P1", insured="P1",
                                options=options or {})
    return Context(policy=state, product=PRODUCTS.get(product), operation=CATALOG.get(operation),
                   catalog={"id": CATALOG.id, "version": CATALOG.version, "digest": CATALOG.digest}, today=ON,
                   now=datetime(2024, 5, 10, 9, tzinfo=UTC), cash_value=None, requester="P1")


def refused(rule: str, ctx: Context, data: Input) -> None:
    with pytest.raises(Refused) as caught:
        FAMILY.prepare(ctx, data)
    assert caught.value.rule == rule and caught.value.field == "input.option"


def test_the_product_states_the_choices_and_defaults() -> None:
    terms = PRODUCTS.get("whole-life-participating").definition.servicing
    assert terms is not None
    assert terms.default_dividend_option == "accumulate" and terms.default_payout_option == "cash"


def test_a_dividend_option_change_from_the_products_default() -> None:
    ctx = context("dividend_option_change")
    prepared = FAMILY.prepare(ctx, option.DividendOptionChange(option="cash"))
    assert prepared.facts == {"option": "cash", "from_option": "accumulate", "kind": "dividend_option"}
    assert prepared.changes == {"options": {"dividend_option": "cash"}}
    assert prepared.amount is None
    assert with_changes(ctx.policy, prepared.changes).options == {"dividend_option": "cash"}


def test_the_default_dividend_option_is_the_current_one_until_changed() -> None:
    refused("SAME-OPTION", context("dividend_option_change"), option.DividendOptionChange(option="accumulate"))
    ctx = context("dividend_option_change", options={"dividend_option": "paid_up_additions"})
    refused("SAME-OPTION", ctx, option.DividendOptionChange(option="paid_up_additions"))
    assert FAMILY.prepare(ctx, option.DividendOptionChange(option="accumulate")).facts["from_option"] == \
        "paid_up_additions"


def test_a_payout_option_change_keeps_the_dividend_option() -> None:
    ctx = context("annuity_option_change", options={"dividend_option": "cash"})
    prepared = FAMILY.prepare(ctx, option.AnnuityOptionChange(option="annuity_monthly"))
    assert prepared.facts == {"option": "annuity_monthly", "from_option": "cash", "kind": "payout_option"}
    assert prepared.changes == {"options": {"payout_option": "annuity_monthly"}}
    assert with_changes(ctx.policy, prepared.changes).options == {"dividend_option": "cash",
                                                                  "payout_option": "annuity_monthly"}
    refused("SAME-OPTION", context("annuity_option_change"), option.AnnuityOptionChange(option="cash"))


def test_a_product_without_the_options_offers_none() -> None:
    assert PRODUCTS.get("whole-life").definition.servicing is None
    refused("OPTION-NOT-OFFERED", context("dividend_option_change", product="whole-life"),
            option.DividendOptionChange(option="cash"))
    refused("OPTION-NOT-OFFERED", context("annuity_option_change", product="whole-life"),
            option.AnnuityOptionChange(option="cash"))


def test_an_option_the_product_does_not_list_is_refused() -> None:
    product = PRODUCTS.get("whole-life-participating")
    terms = product.definition.servicing
    assert terms is not None
    narrower = dataclasses.replace(product, definition=product.definition.model_copy(
        update={"servicing": terms.model_copy(update={"dividend_options": ("cash", "accumulate")})}))
    ctx = dataclasses.replace(context("dividend_option_change"), product=narrower)
    refused("OPTION-NOT-OFFERED", ctx, option.DividendOptionChange(option="paid_up_additions"))
    assert FAMILY.prepare(ctx, option.DividendOptionChange(option="cash")).changes == \
        {"options": {"dividend_option": "cash"}}


@pytest.mark.parametrize(("model", "code"), [(option.DividendOptionChange, "annuity_monthly"),
                                             (option.AnnuityOptionChange, "paid_up_additions"),
                                             (option.DividendOptionChange, "bitcoin")])
def test_codes_of_the_other_kind_are_invalid_input(model: type[Input], code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"option": code})
    assert caught.value.errors()[0]["loc"] == ("option",)
