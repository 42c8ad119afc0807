"""The servicing catalog: the shipped file, the rules it must keep, loader errors that name file, path and value,
its digest, and the public descriptions the service gives."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest

import ledger
from ledger.errors import NotFound, ValidationFailed
from ledger.servicing.catalog import (
    FORMULAS,
    MIN_OPERATIONS,
    MoneyRule,
    ServicingCatalog,
    default_catalog_path,
    load_catalog,
    parse_catalog,
)
from ledger.servicing.service import ServicingService

# Issue 9 section 1, item by item, and the code each is offered under.
ISSUE_ITEMS = {
    "contact details change": "contact_change",
    "address change": "address_change",
    "payment account change": "payment_account_change",
    "premium payment method change": "payment_method_change",
    "premium frequency change": "frequency_change",
    "beneficiary change": "beneficiary_change",
    "policyholder (owner) change": "owner_change",
    "insured's occupation change (re-rating)": "occupation_change",
    "name / identity correction": "identity_correction",
    "policy loan": "policy_loan",
    "loan repayment": "loan_repayment",
    "automatic premium loan switch": "auto_premium_loan",
    "partial withdrawal": "partial_withdrawal",
    "full surrender": "surrender",
    "reinstatement": "reinstatement",
    "sum-assured decrease": "sum_assured_decrease",
    "rider add": "rider_add",
    "rider remove": "rider_remove",
    "bonus / dividend option change": "dividend_option_change",
    "annuity payout option change": "annuity_option_change",
    "premium holiday": "premium_holiday",
    "e-policy reissue": "epolicy_reissue",
    "free-look cancellation": "free_look_cancellation",
    "survival benefit / maturity claim account change": "payout_account_change",
}
# Issue 9 section 3: these need a second confirmation and a cooling-off period.
HIGH_RISK = {"beneficiary_change", "payment_account_change", "owner_change", "surrender", "policy_loan",
             "partial_withdrawal"}
# Products whose cash values come from a table (long-term cover).
CASH_VALUE_KINDS = {"term_life", "whole_life", "critical_illness"}


def raw_catalog() -> dict[str, Any]:
    with default_catalog_path().open("rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def catalog() -> ServicingCatalog:
    return load_catalog(default_catalog_path())


def index_of(raw: dict[str, Any], code: str) -> int:
    return next(i for i, operation in enumerate(raw["operations"]) if operation["code"] == code)


def rule(catalog: ServicingCatalog, code: str, check: str) -> Any:
    return next(r for r in catalog.get(code).eligibility if r.check == check)


# -- the shipped catalog -------------------------------------------------------------------------------------

def test_default_path_is_the_repository_catalog() -> None:
    assert default_catalog_path() == Path(ledger.__file__).resolve().parents[1] / "products" / "servicing" / \
        "catalog.toml"
    assert default_catalog_path().is_file()
    assert default_catalog_path(Path("/srv/products")) == Path("/srv/products/servicing/catalog.toml")


def test_the_shipped_catalog_offers_every_operation_of_the_issue(catalog: ServicingCatalog) -> None:
    codes = [operation.code for operation in catalog.operations()]
    assert catalog.id == "servicing" and catalog.version == 1
    assert len(codes) >= MIN_OPERATIONS == 24
    assert len(set(codes)) == len(codes)
    missing = {item: code for item, code in ISSUE_ITEMS.items() if code not in codes}
    assert not missing
    for operation in catalog.operations():
        assert operation.names.zh and operation.names.en and operation.description.zh and operation.description.en
        assert operation.requesters and operation.eligibility and operation.sources


def test_the_high_risk_operations_are_flagged_never_automatic_and_cool_off(catalog: ServicingCatalog) -> None:
    default = raw_catalog()["defaults"]["cooling_off_hours"]
    flagged = {operation.code for operation in catalog.operations() if operation.high_risk}
    assert flagged >= HIGH_RISK
    # one more by decision: a payout account change redirects money as a payment account change does
    assert flagged - HIGH_RISK == {"payout_account_change"}
    for operation in catalog.operations():
        hours = catalog.cooling_off_hours(operation)
        if operation.high_risk:
            assert not operation.automatic, operation.code
            assert hours == (operation.cooling_off_hours if operation.cooling_off_hours is not None else default)
            assert hours is not None and hours >= 0
        else:
            assert hours is None, operation.code


def test_only_harmless_operations_are_approved_at_once(catalog: ServicingCatalog) -> None:
    automatic = {operation.code for operation in catalog.operations() if operation.automatic}
    assert automatic == {"contact_change", "address_change", "epolicy_reissue"}
    for code in automatic:
        operation = catalog.get(code)
        assert operation.money.direction == "none" and not operation.consents and not operation.underwriting
        assert not operation.changes_contract


def test_consents_follow_the_insurance_law(catalog: ServicingCatalog) -> None:
    beneficiary = catalog.get("beneficiary_change")
    (consent,) = beneficiary.consents
    assert consent.party == "insured" and consent.written and consent.unless_requested_by == ("insured",)
    assert {"IL 41", "SPC-III 10"} <= set(beneficiary.sources)
    owner = catalog.get("owner_change")
    assert {(c.party, c.written) for c in owner.consents} == {("insured", True), ("new_policyholder", True)}
    assert "IL 34" in owner.sources
    assert [c.party for c in catalog.get("policy_loan").consents] == ["insured"]


def test_the_policyholder_alone_ends_or_borrows_on_the_contract(catalog: ServicingCatalog) -> None:
    for code in ("surrender", "policy_loan", "partial_withdrawal", "free_look_cancellation", "owner_change"):
        assert set(catalog.get(code).requesters) == {"policyholder", "staff_on_behalf"}, code
    assert "insured" in catalog.get("beneficiary_change").requesters
    assert "beneficiary" in catalog.get("identity_correction").requesters


def test_what_changes_and_what_ends_the_contract(catalog: ServicingCatalog) -> None:
    ends = {operation.code for operation in catalog.operations() if operation.ends_contract}
    assert ends == {"surrender", "free_look_cancellation"}
    for code in ("beneficiary_change", "owner_change", "partial_withdrawal", "sum_assured_decrease", "rider_add",
                 "rider_remove", "reinstatement", "frequency_change", "occupation_change"):
        assert catalog.get(code).changes_contract, code
    for code in ("contact_change", "address_change", "policy_loan", "loan_repayment", "epolicy_reissue"):
        assert not catalog.get(code).changes_contract, code
    assert {op.code for op in catalog.operations() if op.underwriting} == {"reinstatement", "rider_add"}


def test_money_numbers_are_the_domain_defaults(catalog: ServicingCatalog) -> None:
    loan = catalog.get("policy_loan").money
    assert (loan.direction, loan.formula) == ("out", "loan_limit")
    assert loan.parameters.model_dump(mode="json") == {"ratio": "0.80", "max_months": 6, "interest_rate": "0.05"}
    withdrawal = catalog.get("partial_withdrawal").money.parameters.model_dump(mode="json")
    assert withdrawal["fees_by_policy_year"] == ["0.03", "0.01", "0.01", "0.01", "0.01"]
    assert withdrawal["fee_after"] == "0"
    surrender = catalog.get("surrender").money
    assert (surrender.direction, surrender.formula) == ("out", "surrender_value")
    assert surrender.parameters.model_dump() == {"pay_within_days": 30}
    assert catalog.get("loan_repayment").money.direction == "in"
    assert catalog.get("reinstatement").money.formula == "reinstatement_amount"
    assert catalog.get("free_look_cancellation").money.formula == "free_look_refund"
    assert catalog.get("occupation_change").money.direction == "either"


def test_every_formula_is_known_and_moves_money_its_way(catalog: ServicingCatalog) -> None:
    named = set()
    for variant in get_args(get_args(MoneyRule)[0]):
        named |= set(get_args(variant.model_fields["formula"].annotation))
    assert named == set(FORMULAS)
    for operation in catalog.operations():
        assert operation.money.direction == FORMULAS[operation.money.formula][0], operation.code


def test_eligibility_is_data_with_codes_and_sentences(catalog: ServicingCatalog) -> None:
    assert set(rule(catalog, "policy_loan", "product_kind").kinds) == CASH_VALUE_KINDS
    assert rule(catalog, "partial_withdrawal", "product_kind").kinds == ("whole_life",)
    assert rule(catalog, "frequency_change", "anniversary").window_days == 30
    assert rule(catalog, "occupation_change", "reported_within").days == 10
    assert rule(catalog, "reinstatement", "policy_status").statuses == ("Suspended",)
    assert rule(catalog, "free_look_cancellation", "policy_status").statuses == ("FreeLook",)
    for code in ("partial_withdrawal", "sum_assured_decrease"):  # reductions wait for loans and arrears
        checks = {r.check for r in catalog.get(code).eligibility}
        assert {"no_open_loan", "no_arrears", "no_debit_in_progress"} <= checks, code
    for operation in catalog.operations():
        assert any(r.check == "policy_status" for r in operation.eligibility), operation.code
        for r in operation.eligibility:
            assert re.fullmatch(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)*", r.code) and r.zh and r.en


def test_get_names_an_unknown_code(catalog: ServicingCatalog) -> None:
    assert catalog.get("surrender").code == "surrender"
    with pytest.raises(NotFound, match="'teleport'") as caught:
        catalog.get("teleport")
    assert caught.value.field == "code"


# -- loader errors -------------------------------------------------------------------------------------------

def _set(code: str, key: str, value: Any, *, at: str = "") -> Callable[[dict[str, Any]], str]:
    """Set ``key`` of operation ``code``; the error is expected at ``key`` + ``at`` (or at ``at`` if it is a key)."""
    def change(raw: dict[str, Any]) -> str:
        index = index_of(raw, code)
        raw["operations"][index][key] = value
        where = key + at if at.startswith("[") or not at else at
        return f"operations[{index}].{where}"
    return change


def _money(code: str, key: str, value: Any) -> Callable[[dict[str, Any]], str]:
    def change(raw: dict[str, Any]) -> str:
        index = index_of(raw, code)
        raw["operations"][index]["money"]["parameters"][key] = value
        return f"operations[{index}].money.parameters.{key}"
    return change


def _duplicate_code(raw: dict[str, Any]) -> str:
    raw["operations"][1]["code"] = raw["operations"][0]["code"]
    return "operations[1].code"


def _too_few(raw: dict[str, Any]) -> str:
    del raw["operations"][-1]
    return "operations"


def _wrong_direction(raw: dict[str, Any]) -> str:
    index = index_of(raw, "policy_loan")
    raw["operations"][index]["money"]["direction"] = "in"
    return f"operations[{index}].money.direction"


def _unknown_formula(raw: dict[str, Any]) -> str:
    index = index_of(raw, "surrender")
    raw["operations"][index]["money"]["formula"] = "goodwill"
    return f"operations[{index}].money.formula"


def _unknown_check(raw: dict[str, Any]) -> str:
    index = index_of(raw, "rider_add")
    raw["operations"][index]["eligibility"][1]["check"] = "full_moon"
    return f"operations[{index}].eligibility[1].check"


def _unknown_status(raw: dict[str, Any]) -> str:
    index = index_of(raw, "surrender")
    raw["operations"][index]["eligibility"][0]["statuses"] = ["InForce", "Dormant"]
    return f"operations[{index}].eligibility[0].statuses[1]"


@pytest.mark.parametrize(("change", "value"), [
    (_set("contact_change", "requesters", ["policyholder", "neighbour"], at="[1]"), "'neighbour'"),
    (_set("contact_change", "requesters", ["insured", "insured"]), "'insured'"),
    (_set("surrender", "automatic", True), "True"),
    (_set("policy_loan", "cooling_off_hours", -1), "-1"),
    (_set("address_change", "cooling_off_hours", 24), "24"),
    (_set("owner_change", "high_risk", "yes"), "'yes'"),
    (_set("reinstatement", "automatic", True), "True"),
    (_set("surrender", "changes_contract", True, at="ends_contract"), "True"),
    (_set("surrender", "sources", ["Insurance Law"], at="[0]"), "'Insurance Law'"),
    (_set("surrender", "colour", "red"), "colour"),
    (_money("policy_loan", "ratio", "1.2"), "1.2"),
    (_money("policy_loan", "ratio", 0.8), "0.8"),
    (_money("policy_loan", "max_months", 0), "0"),
    (_money("partial_withdrawal", "fee_after", "-0.01"), "-0.01"),
    (_duplicate_code, "'contact_change'"),
    (_too_few, "23"),
    (_wrong_direction, "'in'"),
    (_unknown_formula, "'goodwill'"),
    (_unknown_check, "'full_moon'"),
    (_unknown_status, "'Dormant'"),
])
def test_a_wrong_catalog_is_refused_naming_source_path_and_value(change: Callable[[dict[str, Any]], str],
                                                                   value: str) -> None:
    raw = copy.deepcopy(raw_catalog())
    path = change(raw)
    with pytest.raises(ValidationFailed) as caught:
        parse_catalog(raw, source="servicing/catalog.toml")
    message = caught.value.message
    assert message.startswith(f"servicing/catalog.toml: {path}: "), message
    assert value in message.split(";")[0], message
    assert caught.value.field == path


def test_a_file_with_a_mistake_is_named_by_its_path(tmp_path: Path) -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    broken = tmp_path / "catalog.toml"
    broken.write_text(text.replace('ratio = "0.80", max_months = 6', 'ratio = 0.80, max_months = 6', 1),
                      encoding="utf-8")
    index = index_of(raw_catalog(), "policy_loan")
    with pytest.raises(ValidationFailed, match=re.escape(
            f"{broken}: operations[{index}].money.parameters.ratio: must be a decimal string")) as caught:
        load_catalog(broken)
    assert "got 0.8" in caught.value.message


def test_a_file_that_is_not_toml_or_not_there_is_named(tmp_path: Path) -> None:
    garbled = tmp_path / "catalog.toml"
    garbled.write_text("id = \"servicing\"\nversion = = 1\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match=re.escape(f"{garbled}: not valid TOML")):
        load_catalog(garbled)
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ValidationFailed, match=re.escape(f"{missing}: cannot be read")):
        load_catalog(missing)


# -- digest --------------------------------------------------------------------------------------------------

def test_the_digest_is_stable_and_ignores_layout(catalog: ServicingCatalog, tmp_path: Path) -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", catalog.digest)
    assert load_catalog(default_catalog_path()).digest == catalog.digest
    text = default_catalog_path().read_text(encoding="utf-8")
    stripped = tmp_path / "catalog.toml"  # no comments, no blank lines: the same content
    stripped.write_text("\n".join(line for line in text.splitlines()
                                  if line.strip() and not line.lstrip().startswith("#")) + "\n", encoding="utf-8")
    assert stripped.read_text(encoding="utf-8") != text
    assert load_catalog(stripped).digest == catalog.digest


@pytest.mark.parametrize("change", [
    _money("policy_loan", "ratio", "0.75"),
    _set("surrender", "cooling_off_hours", 48),
    _set("contact_change", "requesters", ["policyholder"]),
])
def test_the_digest_follows_the_content(catalog: ServicingCatalog, change: Callable[[dict[str, Any]], str]) -> None:
    raw = copy.deepcopy(raw_catalog())
    change(raw)
    assert parse_catalog(raw, source="changed").digest != catalog.digest


def test_an_operation_may_set_its_own_cooling_off() -> None:
    raw = copy.deepcopy(raw_catalog())
    raw["operations"][index_of(raw, "surrender")]["cooling_off_hours"] = 72
    raw["defaults"]["cooling_off_hours"] = 12
    changed = parse_catalog(raw, source="changed")
    assert changed.cooling_off_hours(changed.get("surrender")) == 72
    assert changed.cooling_off_hours(changed.get("policy_loan")) == 12
    assert changed.cooling_off_hours(changed.get("contact_change")) is None


# -- the public descriptions ---------------------------------------------------------------------------------

def test_the_service_describes_every_operation(catalog: ServicingCatalog) -> None:
    service = ServicingService(catalog)
    assert service.catalog_version() == {"id": "servicing", "version": 1, "digest": catalog.digest}
    described = service.operations()
    assert [entry["code"] for entry in described] == [operation.code for operation in catalog.operations()]
    loan = service.operation("policy_loan")
    assert loan["money"] == {"direction": "out", "formula": "loan_limit", "expression": FORMULAS["loan_limit"][1],
                             "parameters": {"ratio": "0.80", "max_months": 6, "interest_rate": "0.05"}}
    assert loan["high_risk"] is True and loan["automatic"] is False
    assert loan["cooling_off_hours"] == raw_catalog()["defaults"]["cooling_off_hours"]
    assert loan["staff_documents"] == [{"code": "SIGNED-AUTHORISATION", "zh": "客户签署的授权委托书",
                                        "en": "The customer's signed authorisation"}]
    kinds = next(r for r in loan["eligibility"] if r["check"] == "product_kind")
    assert set(kinds["parameters"]["kinds"]) == CASH_VALUE_KINDS and kinds["zh"] and kinds["en"]
    assert service.operation("contact_change")["cooling_off_hours"] is None
    withdrawal = service.operation("partial_withdrawal")["money"]["parameters"]
    assert withdrawal["min_amount"] == {"amount": "1000", "currency": "CNY"}
    assert Decimal(withdrawal["max_ratio"]) == Decimal("0.80")


def test_the_service_hands_out_copies(catalog: ServicingCatalog) -> None:
    service = ServicingService(catalog)
    service.operations()[0]["requesters"].append("stranger")
    service.operation("surrender")["money"]["parameters"]["pay_within_days"] = 365
    assert "stranger" not in service.operations()[0]["requesters"]
    assert service.operation("surrender")["money"]["parameters"]["pay_within_days"] == 30
    with pytest.raises(NotFound, match="'teleport'"):
        service.operation("teleport")


def test_the_service_loads_the_shipped_file_by_default(catalog: ServicingCatalog) -> None:
    assert ServicingService.load().catalog_version()["digest"] == catalog.digest
