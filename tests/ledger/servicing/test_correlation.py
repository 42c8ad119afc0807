"""Correlation rules of the servicing hall: the shipped file, each rule on hand-made histories at the edges of its
window, the contents of a flag, loader errors that name file, path and value, and the digest."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import ledger
from ledger.errors import ValidationFailed
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.correlation import (
    CorrelationRules,
    CountRule,
    Past,
    default_correlation_path,
    evaluate,
    load_correlation,
    parse_correlation,
)

NOW = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)
CASH = ("surrender", "policy_loan", "partial_withdrawal")
ACCOUNTS = ("payment_account_change", "payout_account_change")


def raw_rules() -> dict[str, Any]:
    with default_correlation_path().open("rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def rules() -> CorrelationRules:
    return load_correlation(default_correlation_path())


def ago(days: float, *, request_id: str, operation: str) -> Past:
    return Past(request_id=request_id, operation=operation, at=NOW - timedelta(days=days))


def fired(rules: CorrelationRules, operation: str, history: list[Past], open_claims: tuple[str, ...] = ()
          ) -> dict[str, dict[str, Any]]:
    flags = evaluate(rules, operation=operation, now=NOW, history=history, open_claims=open_claims)
    return {flag["rule"]: flag for flag in flags}


def index_of(raw: dict[str, Any], code: str) -> int:
    return next(i for i, rule in enumerate(raw["rules"]) if rule["code"] == code)


def fails(raw: dict[str, Any], *, operations: list[str] | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_correlation(raw, source="rules.toml", operations=operations)
    return caught.value


# -- the shipped file ----------------------------------------------------------------------------------------

def test_default_path_is_the_repository_file() -> None:
    assert default_correlation_path() == Path(ledger.__file__).resolve().parents[1] / "products" / "servicing" / \
        "correlation.toml"
    assert default_correlation_path(Path("/srv/products")) == Path("/srv/products/servicing/correlation.toml")


def test_the_shipped_rules_load_against_the_shipped_catalog() -> None:
    catalog = load_catalog(default_catalog_path())
    codes = {operation.code for operation in catalog.operations()}
    rules = load_correlation(default_correlation_path(), codes)
    assert (rules.id, rules.version) == ("servicing-correlation", 1)
    assert [rule.code for rule in rules.rules] == [
        "BENEFICIARY-CHANGE-OPEN-CLAIM", "ACCOUNT-THEN-CASH", "ACCOUNT-CHANGES-IN-MONTH", "OWNER-THEN-SURRENDER",
        "BENEFICIARY-THEN-CASH", "CONTACT-THEN-HIGH-RISK", "BENEFICIARY-CHANGE-BEFORE-DEATH-CLAIM"]
    high_risk = {operation.code for operation in catalog.operations() if operation.high_risk}
    for rule in rules.rules:
        assert rule.action == "review"
        named = set(getattr(rule, "prior", ())) | (set(rule.when) if rule.applies_to == "servicing" else set())
        assert named <= codes, rule.code
        # the rules watch the high-risk operations only, and what comes before them (a new phone number that
        # receives their codes)
        assert set(rule.when) - {"death"} <= high_risk, rule.code
        assert set(getattr(rule, "prior", ())) <= high_risk | {"contact_change"}, rule.code
    assert [rule.code for rule in rules.applying_to("claims")] == ["BENEFICIARY-CHANGE-BEFORE-DEATH-CLAIM"]


def test_the_shipped_thresholds(rules: CorrelationRules) -> None:
    by_code = {rule.code: rule for rule in rules.rules}
    assert {code: getattr(rule, "days", None) for code, rule in by_code.items()} == {
        "BENEFICIARY-CHANGE-OPEN-CLAIM": None, "ACCOUNT-THEN-CASH": 30, "ACCOUNT-CHANGES-IN-MONTH": 30,
        "OWNER-THEN-SURRENDER": 180, "BENEFICIARY-THEN-CASH": 30, "CONTACT-THEN-HIGH-RISK": 30,
        "BENEFICIARY-CHANGE-BEFORE-DEATH-CLAIM": 180}
    count_rule = by_code["ACCOUNT-CHANGES-IN-MONTH"]
    assert isinstance(count_rule, CountRule) and count_rule.min_count == 3


# -- each rule at the edges of its window ---------------------------------------------------------------------

@pytest.mark.parametrize("operation", CASH)
@pytest.mark.parametrize("account", ACCOUNTS)
def test_account_then_cash_is_inclusive_of_day_30(rules: CorrelationRules, operation: str, account: str) -> None:
    inside = ago(30, request_id="R-ACC", operation=account)
    late_on_day_30 = ago(30.99, request_id="R-ACC", operation=account)
    outside = ago(31, request_id="R-ACC", operation=account)
    assert fired(rules, operation, [inside])["ACCOUNT-THEN-CASH"]["observed"]["days_since"] == 30
    assert "ACCOUNT-THEN-CASH" in fired(rules, operation, [late_on_day_30])
    assert "ACCOUNT-THEN-CASH" not in fired(rules, operation, [outside])


def test_account_then_cash_names_the_most_recent_change(rules: CorrelationRules) -> None:
    history = [ago(20, request_id="R-2", operation="payout_account_change"),
               ago(5, request_id="R-3", operation="payment_account_change"),
               ago(45, request_id="R-1", operation="payment_account_change"),
               ago(3, request_id="R-X", operation="address_change")]
    flag = fired(rules, "surrender", history)["ACCOUNT-THEN-CASH"]
    assert flag["observed"] == {"count": 2, "days_since": 5, "operation": "surrender"}
    assert flag["evidence"] == ["R-2", "R-3"]  # oldest first, only the account changes within 30 days
    assert "5" in flag["en"] and "30" in flag["en"] and "5天前" in flag["zh"]


def test_account_then_cash_is_not_tried_on_other_operations(rules: CorrelationRules) -> None:
    history = [ago(1, request_id="R-1", operation="payment_account_change")]
    assert "ACCOUNT-THEN-CASH" not in fired(rules, "loan_repayment", history)
    assert "ACCOUNT-THEN-CASH" not in fired(rules, "beneficiary_change", history)


def test_a_request_after_now_is_not_earlier(rules: CorrelationRules) -> None:
    later = Past(request_id="R-1", operation="payment_account_change", at=NOW + timedelta(hours=1))
    assert "ACCOUNT-THEN-CASH" not in fired(rules, "surrender", [later])
    same_moment = Past(request_id="R-1", operation="payment_account_change", at=NOW)
    assert fired(rules, "surrender", [same_moment])["ACCOUNT-THEN-CASH"]["observed"]["days_since"] == 0


@pytest.mark.parametrize("operation", ACCOUNTS)
def test_account_changes_in_month_counts_this_request(rules: CorrelationRules, operation: str) -> None:
    two_before = [ago(29, request_id="R-1", operation="payment_account_change"),
                  ago(2, request_id="R-2", operation="payout_account_change")]
    flag = fired(rules, operation, two_before)["ACCOUNT-CHANGES-IN-MONTH"]
    assert flag["observed"] == {"count": 3, "days_since": 29, "operation": operation}
    assert flag["evidence"] == ["R-1", "R-2"]
    assert flag["threshold"] == {"days": 30, "min_count": 3}
    assert "3" in flag["en"] and "3次" in flag["zh"]
    # one earlier change is not enough, even counting this one
    assert "ACCOUNT-CHANGES-IN-MONTH" not in fired(rules, operation, two_before[1:])


def test_account_changes_in_month_window(rules: CorrelationRules) -> None:
    on_day_30 = [ago(30, request_id="R-1", operation="payout_account_change"),
                 ago(10, request_id="R-2", operation="payout_account_change")]
    on_day_31 = [ago(31, request_id="R-1", operation="payout_account_change"),
                 ago(10, request_id="R-2", operation="payout_account_change")]
    assert "ACCOUNT-CHANGES-IN-MONTH" in fired(rules, "payment_account_change", on_day_30)
    assert "ACCOUNT-CHANGES-IN-MONTH" not in fired(rules, "payment_account_change", on_day_31)


def test_account_changes_in_month_is_tried_only_on_an_account_change(rules: CorrelationRules) -> None:
    three_before = [ago(day, request_id=f"R-{day}", operation="payment_account_change") for day in (1, 2, 3)]
    assert "ACCOUNT-CHANGES-IN-MONTH" not in fired(rules, "address_change", three_before)
    assert "ACCOUNT-CHANGES-IN-MONTH" not in fired(rules, "surrender", three_before)


def test_a_count_rule_does_not_count_this_request_unless_it_is_a_prior_operation() -> None:
    raw = raw_rules()
    rule = raw["rules"][index_of(raw, "ACCOUNT-CHANGES-IN-MONTH")]
    rule["when"] = ["surrender"]  # tried on a surrender, counting account changes only
    rules = parse_correlation(raw, source="rules.toml")
    two = [ago(1, request_id="R-1", operation="payment_account_change"),
           ago(2, request_id="R-2", operation="payment_account_change")]
    assert "ACCOUNT-CHANGES-IN-MONTH" not in fired(rules, "surrender", two)
    three = [*two, ago(3, request_id="R-3", operation="payout_account_change")]
    assert fired(rules, "surrender", three)["ACCOUNT-CHANGES-IN-MONTH"]["observed"]["count"] == 3


@pytest.mark.parametrize("operation", CASH)
def test_owner_then_surrender_within_180_days(rules: CorrelationRules, operation: str) -> None:
    flag = fired(rules, operation, [ago(180, request_id="R-OWN", operation="owner_change")])["OWNER-THEN-SURRENDER"]
    assert flag["observed"]["days_since"] == 180 and flag["evidence"] == ["R-OWN"]
    assert "OWNER-THEN-SURRENDER" not in fired(rules, operation, [ago(181, request_id="R-OWN",
                                                                       operation="owner_change")])


def test_beneficiary_then_cash_on_surrender_and_withdrawal_only(rules: CorrelationRules) -> None:
    inside = [ago(30, request_id="R-BEN", operation="beneficiary_change")]
    outside = [ago(31, request_id="R-BEN", operation="beneficiary_change")]
    for operation in ("surrender", "partial_withdrawal"):
        assert fired(rules, operation, inside)["BENEFICIARY-THEN-CASH"]["evidence"] == ["R-BEN"]
        assert "BENEFICIARY-THEN-CASH" not in fired(rules, operation, outside)
    assert "BENEFICIARY-THEN-CASH" not in fired(rules, "policy_loan", inside)


@pytest.mark.parametrize("operation", ["beneficiary_change", "owner_change"])
def test_beneficiary_change_while_a_claim_is_open(rules: CorrelationRules, operation: str) -> None:
    flag = fired(rules, operation, [], ("CLM-7", "CLM-9"))["BENEFICIARY-CHANGE-OPEN-CLAIM"]
    assert flag["observed"] == {"count": 2, "days_since": None, "operation": operation}
    assert flag["evidence"] == ["CLM-7", "CLM-9"]
    assert flag["threshold"] == {"days": None, "min_count": None}
    assert "2" in flag["en"] and "2件" in flag["zh"]
    assert "BENEFICIARY-CHANGE-OPEN-CLAIM" not in fired(rules, operation, [])
    assert "BENEFICIARY-CHANGE-OPEN-CLAIM" not in fired(rules, "surrender", [], ("CLM-7",))


def test_the_claims_rule_is_not_tried_by_the_servicing_hall(rules: CorrelationRules) -> None:
    claims_rule = rules.applying_to("claims")[0]
    changes = [ago(10, request_id="R-BEN", operation="beneficiary_change"),
               ago(10.5, request_id="R-OWN", operation="owner_change")]
    for operation in (*claims_rule.when, *CASH, "beneficiary_change", "owner_change"):
        assert claims_rule.code not in fired(rules, operation, changes, ("CLM-1",))
    # the same rule made a servicing rule would fire: what stops it is applies_to alone
    raw = raw_rules()
    raw["rules"][index_of(raw, claims_rule.code)]["applies_to"] = "servicing"
    as_servicing = parse_correlation(raw, source="rules.toml")
    assert fired(as_servicing, "death", changes)[claims_rule.code]["evidence"] == ["R-OWN", "R-BEN"]


def test_a_quiet_history_raises_no_flag(rules: CorrelationRules) -> None:
    history = [ago(2, request_id="R-1", operation="address_change"),
               ago(400, request_id="R-2", operation="owner_change"),
               ago(200, request_id="R-3", operation="payment_account_change")]
    for operation in (*CASH, *ACCOUNTS, "beneficiary_change", "owner_change"):
        assert evaluate(rules, operation=operation, now=NOW, history=history) == []


# -- what a flag carries -------------------------------------------------------------------------------------

def test_every_flag_cites_the_rules_and_explains_itself(rules: CorrelationRules) -> None:
    history = [ago(1, request_id="R-1", operation="payment_account_change"),
               ago(2, request_id="R-2", operation="payout_account_change"),
               ago(3, request_id="R-3", operation="beneficiary_change"),
               ago(4, request_id="R-4", operation="owner_change"),
               ago(5, request_id="R-5", operation="contact_change")]
    raised = evaluate(rules, operation="surrender", now=NOW, history=history, open_claims=["CLM-1"])
    raised += evaluate(rules, operation="payment_account_change", now=NOW, history=history)
    raised += evaluate(rules, operation="owner_change", now=NOW, history=history, open_claims=["CLM-1"])
    assert {flag["rule"] for flag in raised} == {code for code in (rule.code for rule in rules.applying_to(
        "servicing"))}
    for flag in raised:
        assert set(flag) == {"rule", "rules", "threshold", "observed", "evidence", "zh", "en", "action"}
        assert flag["rules"] == {"id": "servicing-correlation", "version": 1, "digest": rules.digest}
        assert set(flag["threshold"]) == {"days", "min_count"}
        assert set(flag["observed"]) == {"count", "days_since", "operation"} and flag["observed"]["count"] >= 1
        assert flag["evidence"] and all(isinstance(item, str) for item in flag["evidence"])
        assert flag["action"] == "review"
        assert "{" not in flag["zh"] + flag["en"] and flag["zh"] != flag["en"]


def test_evaluate_is_repeatable_and_leaves_its_inputs_alone(rules: CorrelationRules) -> None:
    history = [ago(1, request_id="R-1", operation="payment_account_change")]
    kept = copy.deepcopy(history)
    first = evaluate(rules, operation="surrender", now=NOW, history=history)
    assert evaluate(rules, operation="surrender", now=NOW, history=history) == first and history == kept


def test_evaluate_works_in_any_time_zone(rules: CorrelationRules) -> None:
    shanghai = timezone(timedelta(hours=8))
    history = [Past(request_id="R-1", operation="owner_change", at=(NOW - timedelta(days=180)).astimezone(shanghai))]
    assert fired(rules, "surrender", history)["OWNER-THEN-SURRENDER"]["observed"]["days_since"] == 180


def test_evaluate_refuses_bad_input(rules: CorrelationRules) -> None:
    with pytest.raises(ValidationFailed, match="now: must be a timezone-aware") as caught:
        evaluate(rules, operation="surrender", now=NOW.replace(tzinfo=None), history=[])
    assert caught.value.field == "now"
    with pytest.raises(ValidationFailed, match="at: must be a timezone-aware"):
        Past(request_id="R-1", operation="surrender", at=NOW.replace(tzinfo=None))
    twice = [ago(1, request_id="R-1", operation="payment_account_change"),
             ago(2, request_id="R-1", operation="payment_account_change")]
    with pytest.raises(ValidationFailed, match=r"history\[1\].request_id: 'R-1' is listed twice"):
        evaluate(rules, operation="surrender", now=NOW, history=twice)
    with pytest.raises(ValidationFailed, match="open_claims: must be a list of claim ids, got the string 'CLM-1'"):
        evaluate(rules, operation="owner_change", now=NOW, history=[], open_claims="CLM-1")


# -- validation ----------------------------------------------------------------------------------------------

def test_repeated_rule_codes_are_refused() -> None:
    raw = raw_rules()
    raw["rules"].append(copy.deepcopy(raw["rules"][1]))
    error = fails(raw)
    last = len(raw["rules"]) - 1
    assert str(error) == f"rules.toml: rules[{last}].code: 'ACCOUNT-THEN-CASH' is already defined"
    assert error.field == f"rules[{last}].code"


@pytest.mark.parametrize(("code", "key", "value", "expected"), [
    ("ACCOUNT-THEN-CASH", "days", 0, "days: must be > 0, got 0"),
    ("ACCOUNT-CHANGES-IN-MONTH", "min_count", 1, "min_count: must be >= 2, got 1"),
    ("ACCOUNT-THEN-CASH", "kind", "sometimes", "kind: must be one of 'recent', 'count', 'open_claim', got "
                                               "'sometimes'"),
    ("ACCOUNT-THEN-CASH", "action", "refuse", "action: must be one of 'review', got 'refuse'"),
    ("ACCOUNT-THEN-CASH", "applies_to", "underwriting", "applies_to: must be one of 'servicing' or 'claims', got "
                                                        "'underwriting'"),
    ("ACCOUNT-THEN-CASH", "when", [], "when: must name at least one, got []"),
    ("ACCOUNT-THEN-CASH", "prior", ["owner_change", "owner_change"], "prior[1]: 'owner_change' is listed twice"),
    ("ACCOUNT-THEN-CASH", "prior", ["Owner Change"], "prior[0]: must match"),
    ("ACCOUNT-THEN-CASH", "en", "Changed {weeks} weeks ago", "en: unknown placeholder {weeks}"),
    ("ACCOUNT-THEN-CASH", "zh", "账户{days_since天前", "zh: not a valid template"),
    ("BENEFICIARY-CHANGE-OPEN-CLAIM", "en", "Within {days} days", "en: unknown placeholder {days}"),
    ("BENEFICIARY-CHANGE-OPEN-CLAIM", "days", 30, "days: is not a known key"),
    ("BENEFICIARY-THEN-CASH", "min_count", 2, "min_count: is not a known key"),
])
def test_errors_name_the_file_the_path_and_the_value(code: str, key: str, value: Any, expected: str) -> None:
    raw = raw_rules()
    index = index_of(raw, code)
    raw["rules"][index][key] = value
    error = fails(raw)
    assert str(error).startswith(f"rules.toml: rules[{index}].{expected}"), str(error)
    assert error.field is not None and error.field.startswith(f"rules[{index}].{key}")


def test_a_missing_threshold_is_refused() -> None:
    raw = raw_rules()
    index = index_of(raw, "OWNER-THEN-SURRENDER")
    del raw["rules"][index]["days"]
    assert str(fails(raw)) == f"rules.toml: rules[{index}].days: is required"


def test_operations_not_in_the_catalog_are_refused_when_the_catalog_is_given() -> None:
    codes = [operation.code for operation in load_catalog(default_catalog_path()).operations()]
    raw = raw_rules()
    index = index_of(raw, "OWNER-THEN-SURRENDER")
    raw["rules"][index]["prior"] = ["owner_change", "owner_swap"]
    parse_correlation(raw, source="rules.toml")  # without the catalog there is nothing to check against
    error = fails(raw, operations=codes)
    assert str(error) == (f"rules.toml: rules[{index}].prior[1]: not an operation of the servicing catalog, got "
                          f"'owner_swap'")
    assert error.field == f"rules[{index}].prior[1]"
    raw = raw_rules()
    raw["rules"][index]["when"] = ["surrender", "cash_out"]
    assert f"rules[{index}].when[1]: not an operation of the servicing catalog, got 'cash_out'" in str(
        fails(raw, operations=codes))


def test_a_claims_rule_names_claim_types_in_when() -> None:
    codes = [operation.code for operation in load_catalog(default_catalog_path()).operations()]
    raw = raw_rules()
    index = index_of(raw, "BENEFICIARY-CHANGE-BEFORE-DEATH-CLAIM")
    assert "death" not in codes
    parse_correlation(raw, source="rules.toml", operations=codes)
    raw["rules"][index]["prior"] = ["beneficiary_swap"]  # but what it looks back for is a servicing operation
    assert f"rules[{index}].prior[0]" in str(fails(raw, operations=codes))


def test_a_file_with_no_rules_is_refused() -> None:
    raw = raw_rules()
    raw["rules"] = []
    assert str(fails(raw)) == "rules.toml: rules: must hold at least one rule, got []"


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    with pytest.raises(ValidationFailed, match=f"{missing}: cannot be read"):
        load_correlation(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text('id = "servicing-correlation"\nversion = \n', encoding="utf-8")
    with pytest.raises(ValidationFailed, match=f"{broken}: not valid TOML"):
        load_correlation(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(default_correlation_path().read_text(encoding="utf-8").replace("days = 180", "days = -5", 1),
                     encoding="utf-8")
    with pytest.raises(ValidationFailed, match=rf"{wrong}: rules\[3\]\.days: must be > 0, got -5"):
        load_correlation(wrong)


# -- digest --------------------------------------------------------------------------------------------------

def test_the_digest_ignores_layout_and_comments(tmp_path: Path) -> None:
    text = default_correlation_path().read_text(encoding="utf-8")
    plain = tmp_path / "plain.toml"
    plain.write_text("\n".join(line for line in text.splitlines() if not line.startswith("#")), encoding="utf-8")
    commented = tmp_path / "commented.toml"
    commented.write_text("# another comment\n\n" + text.replace('kind = "recent"', 'kind    =   "recent"  # shape'),
                         encoding="utf-8")
    first, second = load_correlation(plain), load_correlation(commented)
    assert first.digest == second.digest == load_correlation(default_correlation_path()).digest
    assert first.digest.startswith("sha256:") and len(first.digest) == len("sha256:") + 64
    # a default written out is the same content
    raw = raw_rules()
    del raw["rules"][1]["action"]
    assert parse_correlation(raw, source="rules.toml").digest == first.digest


def test_the_digest_follows_the_content() -> None:
    base = parse_correlation(raw_rules(), source="rules.toml").digest
    raw = raw_rules()
    raw["rules"][index_of(raw, "ACCOUNT-THEN-CASH")]["days"] = 31
    assert parse_correlation(raw, source="rules.toml").digest != base
    raw = raw_rules()
    raw["version"] = 2
    assert parse_correlation(raw, source="rules.toml").digest != base


def test_a_new_phone_number_puts_the_high_risk_requests_after_it_to_review(rules: CorrelationRules) -> None:
    history = [ago(30, request_id="R-9", operation="contact_change")]
    flags = evaluate(rules, operation="payment_account_change", now=NOW, history=history)
    assert [flag["rule"] for flag in flags] == ["CONTACT-THEN-HIGH-RISK"]
    assert flags[0]["evidence"] == ["R-9"] and flags[0]["observed"]["days_since"] == 30
    later = [ago(31, request_id="R-9", operation="contact_change")]
    assert evaluate(rules, operation="payment_account_change", now=NOW, history=later) == []
    assert evaluate(rules, operation="address_change", now=NOW, history=history) == []
