"""A product's [servicing] terms: loan rate, dividends and survival benefits; digests of products without them."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.products.catalog import ProductCatalog, default_products_dir, product_digest
from ledger.products.fields import parse_model
from ledger.products.schema import ProductDefinition, ServicingTerms

PARTICIPATING = "whole-life-participating"
# The digests the six products shipped before [servicing] existed were published and sold under.
SHIPPED = {
    "accident": "sha256:909f6a6a44fc08967cd40e1c96ab15c1180c9553f812a442be434d43c5704dcb",
    "critical-illness": "sha256:2b10f6a8f35bf89a50ba206464eefd068956e9df0fbd3218b2e5cd048a963329",
    "hospital-allowance": "sha256:bc35fad4828fdb5dff7da2588e746d17dba490dc865c9439445dc18e3b36f6f1",
    "medical": "sha256:80e92f607caefc28250ab583b0daaa1831fe0ee5c8b990d076083d71cb83bf40",
    "term-life": "sha256:449f97bdf63610cdfc428f85bfd3bf41780bff48382617523eefcbb2d549fb33",
    "whole-life": "sha256:8e92ed47b9f7df9b9073e7b7532ca86db1b99f23fe670856b9ba0799bb87e650",
}


def raw_definition(product_id: str) -> dict[str, Any]:
    with (default_products_dir() / f"{product_id}.toml").open("rb") as handle:
        return tomllib.load(handle)


def with_servicing(product_id: str, **servicing: Any) -> dict[str, Any]:
    raw = raw_definition(product_id)
    raw["servicing"] = servicing
    return raw


def test_participating_product_loads_with_its_terms(catalog: ProductCatalog) -> None:
    product = catalog.get(PARTICIPATING)
    assert product.version == 1 and product.kind == "whole_life"
    assert (product.definition.names.zh, product.definition.names.en) == ("分红型终身寿险", "Participating Whole Life")
    assert product.has_feature("dividends") and product.has_feature("survival_benefit")
    assert product.definition.has_feature("dividends")
    assert product.loan_rate == Decimal("0.05")
    terms = product.definition.servicing
    assert terms is not None
    assert terms.dividend_options == ("cash", "offset_premium", "accumulate", "paid_up_additions")
    assert terms.default_dividend_option == "accumulate"
    assert terms.payout_options == ("cash", "accumulate", "annuity_monthly", "annuity_annual")
    assert terms.default_payout_option == "cash"
    # the whole-life basis and tables, accepted by the catalog's table checks; a product of its own all the same
    whole_life = catalog.get("whole-life")
    assert product.definition.basis == whole_life.definition.basis
    assert product.rates is whole_life.rates and product.cash_values is whole_life.cash_values
    assert product.digest != whole_life.digest


def test_products_without_the_section_have_no_features_and_no_loan_rate(catalog: ProductCatalog) -> None:
    for product_id in SHIPPED:
        product = catalog.get(product_id)
        assert product.definition.servicing is None and product.loan_rate is None
        assert not product.has_feature("dividends") and not product.has_feature("survival_benefit")


def test_features_are_independent() -> None:
    terms = ServicingTerms.model_validate({"features": ["survival_benefit"], "payout_options": ["annuity_annual"],
                                          "default_payout_option": "annuity_annual"})
    assert terms.has_feature("survival_benefit") and not terms.has_feature("dividends")
    assert terms.loan_rate is None and terms.dividend_options == ()


DIVIDENDS = {"features": ["dividends"], "dividend_options": ["cash", "accumulate"], "default_dividend_option": "cash"}
PAYOUTS = {"features": ["survival_benefit"], "payout_options": ["cash"], "default_payout_option": "cash"}


@pytest.mark.parametrize(("product_id", "servicing", "field", "message"), [
    (PARTICIPATING, {**DIVIDENDS, "features": ["dividends", "dividends"]}, "servicing.features",
     "servicing.features: must not repeat, got ['dividends', 'dividends']"),
    (PARTICIPATING, {"features": ["dividends"]}, "servicing.dividend_options",
     "servicing.dividend_options: a product with feature 'dividends' must offer at least one, got []"),
    (PARTICIPATING, {"features": ["dividends"], "dividend_options": ["cash"]}, "servicing.default_dividend_option",
     "servicing.default_dividend_option: is required with feature 'dividends'"),
    (PARTICIPATING, {**DIVIDENDS, "default_dividend_option": "paid_up_additions"},
     "servicing.default_dividend_option",
     "servicing.default_dividend_option: must be one of dividend_options ['cash', 'accumulate'], "
     "got 'paid_up_additions'"),
    (PARTICIPATING, {**PAYOUTS, "default_payout_option": "annuity_monthly"}, "servicing.default_payout_option",
     "servicing.default_payout_option: must be one of payout_options ['cash'], got 'annuity_monthly'"),
    (PARTICIPATING, {"features": ["survival_benefit"], "default_payout_option": "cash"}, "servicing.payout_options",
     "servicing.payout_options: a product with feature 'survival_benefit' must offer at least one, got []"),
    (PARTICIPATING, {**DIVIDENDS, "dividend_options": ["cash", "cash"]}, "servicing.dividend_options",
     "servicing.dividend_options: must not repeat, got ['cash', 'cash']"),
    (PARTICIPATING, {"dividend_options": ["cash"]}, "servicing.dividend_options",
     "servicing.dividend_options: only a product with feature 'dividends' states them, got ['cash']"),
    (PARTICIPATING, {**DIVIDENDS, "default_payout_option": "cash"}, "servicing.default_payout_option",
     "servicing.default_payout_option: only a product with feature 'survival_benefit' states it, got 'cash'"),
    (PARTICIPATING, {**DIVIDENDS, "dividend_options": ["cash", "bonus"]}, "servicing.dividend_options[1]",
     "servicing.dividend_options[1]: must be one of 'cash', 'offset_premium', 'accumulate' or 'paid_up_additions', "
     "got 'bonus'"),
    (PARTICIPATING, {"features": ["maturity"]}, "servicing.features[0]",
     "servicing.features[0]: must be one of 'dividends' or 'survival_benefit', got 'maturity'"),
    (PARTICIPATING, {"loan_rate": "1"}, "servicing.loan_rate", "servicing.loan_rate: must be within [0, 1), got 1"),
    (PARTICIPATING, {"loan_rate": "-0.01"}, "servicing.loan_rate",
     "servicing.loan_rate: must be within [0, 1), got -0.01"),
    (PARTICIPATING, {"loan_rate": 0.05}, "servicing.loan_rate",
     "servicing.loan_rate: must be a decimal string such as \"0.025\" or \"100000\", got 0.05"),
    (PARTICIPATING, {"loan_rate": "0.05", "cash_value_rate": "0.03"}, "servicing.cash_value_rate",
     "servicing.cash_value_rate: is not a known key"),
    ("medical", {"loan_rate": "0.05"}, "servicing.loan_rate",
     "servicing.loan_rate: only long-term products have a cash value to lend against (this one is medical), "
     "got 0.05"),
    ("accident", DIVIDENDS, "servicing.features",
     "servicing.features: only long-term products pay dividends or survival benefits (this one is accident), "
     "got ['dividends']"),
])
def test_malformed_terms_are_refused_naming_path_and_value(product_id: str, servicing: dict[str, Any], field: str,
                                                           message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_model(ProductDefinition, with_servicing(product_id, **servicing), source=f"products/{product_id}.toml")
    assert caught.value.message.startswith(f"products/{product_id}.toml: {message}")
    assert caught.value.field == field


def old_digest(definition: ProductDefinition, rates: Any, cash_values: Any) -> str:
    """The digest formula of the catalog before [servicing] existed: the definition's JSON had no such key."""
    tables = {"rates": {"id": rates.id, "digest": rates.digest},
              "cash_values": None if cash_values is None else {"id": cash_values.id, "digest": cash_values.digest}}
    body = {"definition": definition.model_dump(mode="json", exclude={"servicing"}), "tables": tables}
    return digest_str(sha256(canonical_json(body)))


def test_digests_of_products_without_the_section_are_unchanged(catalog: ProductCatalog) -> None:
    held = {product.id: product for product in catalog.current() if product.definition.servicing is None}
    assert set(SHIPPED) <= set(held)
    for product_id, product in held.items():
        assert product.digest == old_digest(product.definition, product.rates, product.cash_values), product_id
        assert product_id not in SHIPPED or product.digest == SHIPPED[product_id], product_id
        assert "servicing" not in product.to_json()


def test_a_servicing_section_changes_the_digest(catalog: ProductCatalog) -> None:
    whole_life = catalog.get("whole-life")
    for servicing in ({}, {"loan_rate": "0.05"}, DIVIDENDS):
        definition = parse_model(ProductDefinition, with_servicing("whole-life", **servicing), source="whole-life")
        changed = product_digest(definition, whole_life.rates, whole_life.cash_values)
        assert changed != whole_life.digest, servicing
    rate_4 = parse_model(ProductDefinition, with_servicing("whole-life", loan_rate="0.04"), source="whole-life")
    rate_5 = parse_model(ProductDefinition, with_servicing("whole-life", loan_rate="0.05"), source="whole-life")
    assert (product_digest(rate_4, whole_life.rates, whole_life.cash_values)
            != product_digest(rate_5, whole_life.rates, whole_life.cash_values))


def test_the_published_definition_republishes_to_the_same_digest(catalog: ProductCatalog,
                                                                  products_copy: Path) -> None:
    """The journal records ``to_json`` without digests and republishes it (ProductService.restore)."""
    for product_id in (PARTICIPATING, "whole-life"):
        (products_copy / f"{product_id}.toml").unlink()
    empty = ProductCatalog.load(products_copy)
    for product_id in (PARTICIPATING, "whole-life"):
        product = catalog.get(product_id)
        body = {k: v for k, v in product.to_json().items() if k not in ("digest", "table_digests")}
        again = empty.publish(body)
        assert again.digest == product.digest and again.loan_rate == product.loan_rate
        assert again.definition == product.definition


def test_a_new_version_may_add_the_section(catalog: ProductCatalog) -> None:
    held = ProductCatalog.load(default_products_dir())
    raw = with_servicing("whole-life", loan_rate="0.045")
    raw["version"] = 2
    published = held.publish(raw)
    assert published.loan_rate == Decimal("0.045") and not published.has_feature("dividends")
    assert published.digest != catalog.get("whole-life").digest
    assert held.get("whole-life", 1).digest == SHIPPED["whole-life"]
