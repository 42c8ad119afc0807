"""Loading the catalog: every shipped product, errors that name file, path and value, digests, publishing."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

import ledger
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.products.catalog import ProductCatalog, default_products_dir, product_digest
from tests.ledger.products.conftest import edit

KINDS = {"term-life": "term_life", "whole-life": "whole_life", "whole-life-participating": "whole_life",
         "critical-illness": "critical_illness",
         "medical": "medical", "hospital-allowance": "hospital_allowance", "accident": "accident"}


def raw_definition(product_id: str) -> dict[str, Any]:
    with (default_products_dir() / f"{product_id}.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_default_directory_is_the_repository_products() -> None:
    assert default_products_dir() == Path(ledger.__file__).resolve().parents[1] / "products"
    assert (default_products_dir() / "term-life.toml").is_file()


def test_every_shipped_product_loads_with_its_tables(catalog: ProductCatalog) -> None:
    current = {product.id: product for product in catalog.current()}
    assert {key: product.kind for key, product in current.items()} == KINDS
    for product in current.values():
        assert product.version == 1 and product.currency == "CNY"
        assert product.questionnaire == "health" and product.underwriting == "standard"
        assert product.grace_days == 60 and product.reinstatement_years == 2
        assert product.automatic_limit.amount > 0
        assert product.digest.startswith("sha256:") and len(product.digest) == 71
        assert product.rates.id == product.definition.tables.rates
        assert (product.cash_values is not None) == product.definition.long_term
    assert current["critical-illness"].waiting_period_days == 90
    assert current["medical"].waiting_period_days == current["hospital-allowance"].waiting_period_days == 30
    assert current["accident"].waiting_period_days == 0
    assert current["term-life"].free_look_days == 15


def test_get_versions_and_not_found(catalog: ProductCatalog) -> None:
    assert catalog.get("term-life").version == 1
    assert catalog.get("term-life", 1) is catalog.get("term-life")
    assert catalog.versions("accident") == [1]
    with pytest.raises(NotFound, match="no product 'annuity'"):
        catalog.get("annuity")
    with pytest.raises(NotFound, match="has no version 7"):
        catalog.get("term-life", 7)
    with pytest.raises(NotFound):
        catalog.versions("annuity")


def test_digests_are_stable_and_ignore_layout(products_copy: Path, catalog: ProductCatalog) -> None:
    again = ProductCatalog.load(products_copy)
    assert [p.digest for p in again.current()] == [p.digest for p in catalog.current()]
    path = products_copy / "term-life.toml"
    edit(path, "# 定期寿险", "# a comment that changes nothing\n# 定期寿险")
    edit(path, 'grace_days = 60', 'grace_days    =    60')
    assert ProductCatalog.load(products_copy).get("term-life").digest == catalog.get("term-life").digest


def test_digest_changes_with_the_definition_or_a_table(products_copy: Path, catalog: ProductCatalog) -> None:
    edit(products_copy / "accident.toml", 'zh = "意外身故保险金"', 'zh = "意外身故金"')
    assert ProductCatalog.load(products_copy).get("accident").digest != catalog.get("accident").digest
    changed = raw_definition("term-life")
    changed["grace_days"] = 30
    held = ProductCatalog.load(default_products_dir())
    changed["version"] = 2
    assert held.publish(changed).digest != catalog.get("term-life").digest
    product = catalog.get("term-life")
    assert product_digest(product.definition, product.rates, product.cash_values) == product.digest
    other_rates = dataclasses.replace(product.rates, digest="sha256:" + "0" * 64)
    assert product_digest(product.definition, other_rates, product.cash_values) != product.digest
    assert product_digest(product.definition, product.rates, None) != product.digest


def load_error(directory: Path) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        ProductCatalog.load(directory)
    return caught.value


@pytest.mark.parametrize(("old", "new", "message", "field"), [
    ("terms = [10, 20, 30]", "terms = [10, -5, 30]", "plans.terms[1]: must be > 0, got -5", "plans.terms[1]"),
    ('interest = "0.025"', "interest = 0.025", 'basis.interest: must be a decimal string such as "0.025" or '
     '"100000", got 0.025', "basis.interest"),
    ("occupation_classes = [1, 2, 3, 4]", "occupation_classes = [1, 7]",
     "eligibility.occupation_classes[1]: must be <= 6, got 7", "eligibility.occupation_classes[1]"),
    ('kind = "term_life"', 'kind = "annuity"', "kind: must be one of", "kind"),
    ("grace_days = 60", "grace_days = 60\ngrace_period = 60", "grace_period: is not a known key", "grace_period"),
    ('automatic_limit = "1000000"', 'automatic_limit = { amount = "1000000", currency = "USD" }',
     "automatic_limit: currency must be the product's CNY, got USD", "automatic_limit"),
    ('sum_insured_max = "3000000"', 'sum_insured_max = "50000"',
     "eligibility.sum_insured_max: must be >= sum_insured_min (100000), got 50000", "eligibility.sum_insured_max"),
    ('monthly = "0.09"', 'monthly = "-0.09"', "plans.modal_factors.monthly: must be > 0, got -0.09",
     "plans.modal_factors.monthly"),
    ('kind = "lump_sum"', 'kind = "lottery"', "coverages[0].benefit.kind: must be one of", "coverages[0].benefit.kind"),
    ('rule = "table"', 'rule = "unearned_premium"\nexpense_ratio = "0.3"',
     'cash_value.rule: a term_life product takes its cash values from a table', "cash_value.rule"),
])
def test_bad_product_files_name_file_path_and_value(products_copy: Path, old: str, new: str, message: str,
                                                     field: str) -> None:
    edit(products_copy / "term-life.toml", old, new)
    error = load_error(products_copy)
    assert error.message.startswith(f"products/term-life.toml: {message}"), error.message
    assert error.field == field


def test_kind_rules_are_checked(products_copy: Path) -> None:
    edit(products_copy / "accident.toml", "waiting_period_days = 0", "waiting_period_days = 30")
    error = load_error(products_copy)
    assert error.message == "products/accident.toml: waiting_period_days: an accident product has none, got 30"
    assert error.field == "waiting_period_days"


def test_unreadable_toml_is_named(products_copy: Path) -> None:
    (products_copy / "broken.toml").write_text("id = \n", encoding="utf-8")
    assert load_error(products_copy).message.startswith("products/broken.toml: not valid TOML")


def test_a_table_whose_content_no_longer_matches_its_digest(products_copy: Path) -> None:
    path = products_copy / "tables" / "accident-v1-rates.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    table["rows"][0]["values"][0] += 1
    path.write_text(json.dumps(table), encoding="utf-8")
    error = load_error(products_copy)
    assert error.message.startswith("products/tables/accident-v1-rates.json: digest: does not match")
    assert error.field == "digest"


def test_a_missing_table_is_named(products_copy: Path) -> None:
    (products_copy / "tables" / "medical-v1-rates.json").unlink()
    error = load_error(products_copy)
    assert error.message == "products/medical.toml: tables.rates: no rate table 'medical-v1-rates'"


def test_tables_from_another_basis_are_refused(products_copy: Path) -> None:
    edit(products_copy / "term-life.toml", 'loading = "0.30"', 'loading = "0.25"')
    error = load_error(products_copy)
    assert error.message.startswith("products/term-life.toml: tables.rates: table 'term-life-v1-rates' was derived "
                                    "from another basis")


def test_tables_from_an_edited_mortality_table_are_refused(products_copy: Path) -> None:
    edit(products_copy / "mortality" / "cl-2010-2013.toml", '"0.000797"', '"0.000798"')
    error = load_error(products_copy)
    assert "another version of mortality table 'cl-2010-2013'" in error.message
    assert error.message.startswith("products/critical-illness.toml: tables.rates:")


def test_a_table_missing_offered_plans_is_refused(products_copy: Path) -> None:
    edit(products_copy / "term-life.toml", "issue_age_min = 18", "issue_age_min = 16")
    error = load_error(products_copy)
    assert "has no value for term 10, 1-pay, sex M, age 16" in error.message


def test_two_files_with_one_id_and_version(products_copy: Path) -> None:
    (products_copy / "term-life-copy.toml").write_bytes((products_copy / "term-life.toml").read_bytes())
    error = load_error(products_copy)
    assert error.message == ("products/term-life.toml: version: term-life v1 is also defined in "
                             "products/term-life-copy.toml")


def test_publish_accepts_a_newer_version_and_keeps_the_old() -> None:
    held = ProductCatalog.load(default_products_dir())
    first = held.get("whole-life")
    raw = raw_definition("whole-life")
    raw["version"] = 2
    raw["free_look_days"] = 20
    published = held.publish(raw)
    assert published.version == 2 and published.free_look_days == 20
    assert held.get("whole-life") is published and held.get("whole-life", 1) is first
    assert held.versions("whole-life") == [1, 2]
    assert [p.version for p in held.current() if p.id == "whole-life"] == [2]
    assert held.publish(raw) is published  # the same content again: the held version


def test_publish_refuses_conflicts_and_bad_content() -> None:
    held = ProductCatalog.load(default_products_dir())
    raw = raw_definition("term-life")
    raw["grace_days"] = 30
    with pytest.raises(Conflict, match="version 1 is already held with other content") as caught:
        held.publish(raw)
    assert caught.value.field == "version"
    raw["version"] = 3
    held.publish(raw)
    raw["version"] = 2
    with pytest.raises(Conflict, match=r"version must be newer than the newest held \(3\), got 2"):
        held.publish(raw)
    raw["version"] = 4
    raw["plans"] = {**raw["plans"], "terms": [10, -5]}
    with pytest.raises(ValidationFailed, match=r"^product 'term-life' v4: plans\.terms\[1\]: must be > 0, got -5"):
        held.publish(raw)
    raw = raw_definition("term-life")
    raw["version"] = 5
    raw["tables"] = {"rates": "term-life-v5-rates", "cash_values": "term-life-v1-cash-values"}
    with pytest.raises(ValidationFailed, match=r"tables\.rates: no rate table 'term-life-v5-rates'"):
        held.publish(raw)
    assert held.versions("term-life") == [1, 3]
