"""The fraud rules: each rule fires at its threshold and not just short of it; flags explain and never decline."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.claims.diagnoses import DiagnosisTable
from ledger.claims.fraud import Flag, FraudRules, default_fraud_path, fraud_flags
from ledger.claims.model import Change, Claim, Cover, Invoice, Medical, Prior
from ledger.errors import ValidationFailed

EFFECTIVE = date(2023, 1, 1)
LOSS = date(2024, 6, 1)
NOW = datetime(2024, 6, 20, 10, 0, tzinfo=UTC)
REPORTED = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules() -> FraudRules:
    return FraudRules.load()


@pytest.fixture(scope="module")
def table() -> DiagnosisTable:
    return DiagnosisTable.load()


def raw() -> dict[str, Any]:
    with default_fraud_path().open("rb") as handle:
        return tomllib.load(handle)


def make_cover(**changes: Any) -> Cover:
    base = Cover(policy_no="P-1", application_id="A-1", product_id="medical", product_version=1, kind="medical",
                 currency="CNY", sum_insured=Decimal("2000000"), status="InForce", effective_date=EFFECTIVE,
                 issued_on=EFFECTIVE, end_date=None, application_date=date(2022, 12, 20), insured="PTY-INSURED")
    return replace(base, **changes)


def make_invoice(**changes: Any) -> Invoice:
    base = Invoice(invoice_no="INV-1", hospital="H-100", admitted=LOSS, discharged=LOSS + timedelta(days=5),
                   total=Decimal("5000"), ineligible=Decimal(0), social_insurance_paid=Decimal(0),
                   diagnoses=("J18.9",), index=40, digest="sha256:aa")
    return replace(base, **changes)


def make_claim(**changes: Any) -> Claim:
    base = Claim(claim_id="CLM-9", policy_no="P-1", claim_type="medical", cause="illness", loss_date=LOSS,
                 reported_at=REPORTED, invoices=(make_invoice(),), medical=Medical(diagnoses=("J18.9",)),
                 payee="PTY-INSURED", account_digest="acct:1")
    return replace(base, **changes)


def make_prior(**changes: Any) -> Prior:
    base = Prior(claim_id="CLM-1", policy_no="P-1", insured="PTY-INSURED", claim_type="medical", status="paid",
                 reported_at=REPORTED - timedelta(days=200), loss_date=LOSS - timedelta(days=202),
                 paid=Decimal("800"), index=10)
    return replace(base, **changes)


def run(rules: FraudRules, table: DiagnosisTable, *, cover: Cover | None = None, claim: Claim | None = None,
        prior: tuple[Prior, ...] = (), changes: tuple[Change, ...] = (), amount: str = "1000",
        now: datetime = NOW) -> dict[str, Flag]:
    flags = fraud_flags(rules=rules, cover=cover or make_cover(), claim=claim or make_claim(), prior=prior,
                        changes=changes, diagnoses=table, amount=Decimal(amount), now=now)
    found = {flag.rule: flag for flag in flags}
    assert len(found) == len(flags), "one flag per rule"
    return found


def test_an_ordinary_claim_raises_no_flag(rules: FraudRules, table: DiagnosisTable) -> None:
    assert run(rules, table, prior=(make_prior(),)) == {}


# -- EARLY-CLAIM ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("claim_type", "days", "fires"), [
    ("medical", 90, True), ("medical", 91, False),
    ("critical_illness", 730, True), ("critical_illness", 731, False), ("death", 730, True), ("death", 731, False),
])
def test_early_claim_after_the_effective_date(rules: FraudRules, table: DiagnosisTable, claim_type: str, days: int,
                                              fires: bool) -> None:
    cover = make_cover(effective_date=LOSS - timedelta(days=days))
    found = run(rules, table, cover=cover, claim=make_claim(claim_type=claim_type))
    assert ("EARLY-CLAIM" in found) is fires
    if fires:
        flag = found["EARLY-CLAIM"]
        assert flag.observed == f"{days} days after cover began"
        assert flag.threshold == f"loss within {days} days"
        assert flag.action == "investigate"


def test_early_claim_after_reinstatement_or_added_cover(rules: FraudRules, table: DiagnosisTable) -> None:
    found = run(rules, table, cover=make_cover(reinstated_on=LOSS - timedelta(days=30)))
    assert found["EARLY-CLAIM"].observed == "30 days after the policy was reinstated"
    added = Change(operation="rider_add", on=datetime(2024, 5, 22, 8, tzinfo=UTC), index=77)
    found = run(rules, table, changes=(added,))
    assert found["EARLY-CLAIM"].observed == "10 days after cover was added"
    assert found["EARLY-CLAIM"].evidence == (77,)
    moved = Change(operation="address_change", on=datetime(2024, 5, 22, 8, tzinfo=UTC), index=78)
    assert "EARLY-CLAIM" not in run(rules, table, changes=(moved,))


# -- LARGE-AMOUNT --------------------------------------------------------------------------------------------

def test_large_amount_at_the_threshold(rules: FraudRules, table: DiagnosisTable) -> None:
    flag = run(rules, table, amount="300000")["LARGE-AMOUNT"]
    assert flag.threshold == ">= 300000 CNY" and flag.observed == "300000 CNY"
    assert flag.action == "pay_and_audit"
    assert "LARGE-AMOUNT" not in run(rules, table, amount="299999.99")


# -- FREQUENCY -----------------------------------------------------------------------------------------------

def test_frequency_counts_this_insureds_claims_in_a_year(rules: FraudRules, table: DiagnosisTable) -> None:
    one = make_prior(claim_id="CLM-1", reported_at=REPORTED - timedelta(days=365, hours=23), index=11)
    two = make_prior(claim_id="CLM-2", reported_at=REPORTED - timedelta(days=30), index=12)
    flag = run(rules, table, prior=(one, two))["FREQUENCY"]
    assert flag.observed == "3 claims" and flag.evidence == (11, 12)
    assert "FREQUENCY" not in run(rules, table, prior=(two,))
    too_old = replace(one, reported_at=REPORTED - timedelta(days=366))
    assert "FREQUENCY" not in run(rules, table, prior=(too_old, two))
    someone_else = replace(one, insured="PTY-OTHER")
    assert "FREQUENCY" not in run(rules, table, prior=(someone_else, two))
    this_claim = replace(one, claim_id="CLM-9")
    assert "FREQUENCY" not in run(rules, table, prior=(this_claim, two))


# -- DUPLICATE-INVOICE ---------------------------------------------------------------------------------------

def test_duplicate_invoice_by_number_or_digest_on_any_policy(rules: FraudRules, table: DiagnosisTable) -> None:
    other = make_prior(claim_id="CLM-5", insured="PTY-OTHER", policy_no="P-7", invoice_nos=("INV-1",), index=55)
    flag = run(rules, table, prior=(other,))["DUPLICATE-INVOICE"]
    assert flag.evidence == (40, 55)
    assert "CLM-5" in flag.observed
    assert flag.personal_json() == {"invoices": ["INV-1"]}
    assert "INV-1" not in str(flag.to_json())
    by_digest = replace(other, invoice_nos=("INV-X",), digests=("sha256:aa",))
    assert "DUPLICATE-INVOICE" in run(rules, table, prior=(by_digest,))
    distinct = replace(other, invoice_nos=("INV-2",), digests=("sha256:bb",))
    assert "DUPLICATE-INVOICE" not in run(rules, table, prior=(distinct,))
    no_digest = make_claim(invoices=(make_invoice(digest=""),))
    assert "DUPLICATE-INVOICE" not in run(rules, table, claim=no_digest, prior=(replace(distinct, digests=("",)),))


# -- SPLIT-ADMISSION -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("gap", "group", "fires"), [
    (15, "PNEUMONIA", True), (0, "PNEUMONIA", True), (16, "PNEUMONIA", False), (3, "APPENDICITIS", False),
])
def test_split_admission_after_an_earlier_claim(rules: FraudRules, table: DiagnosisTable, gap: int, group: str,
                                                fires: bool) -> None:
    earlier = make_prior(admitted=LOSS - timedelta(days=gap + 6), discharged=LOSS - timedelta(days=gap),
                         diagnosis_group=group, index=21)
    found = run(rules, table, prior=(earlier,))
    assert ("SPLIT-ADMISSION" in found) is fires
    if fires:
        flag = found["SPLIT-ADMISSION"]
        assert flag.observed == f"re-admitted {gap} day(s) after a discharge"
        assert flag.evidence == (21, 40)
        assert flag.personal == {"groups": ["PNEUMONIA"]}
        assert "PNEUMONIA" not in str(flag.to_json())


def test_split_admission_within_one_claim(rules: FraudRules, table: DiagnosisTable) -> None:
    first = make_invoice(invoice_no="INV-1", admitted=LOSS, discharged=LOSS + timedelta(days=4), index=40)
    second = make_invoice(invoice_no="INV-2", admitted=LOSS + timedelta(days=6), discharged=LOSS + timedelta(days=9),
                          index=41, digest="sha256:bb")
    assert run(rules, table, claim=make_claim(invoices=(first, second)))["SPLIT-ADMISSION"].evidence == (40, 41)
    later = replace(second, admitted=LOSS + timedelta(days=20), discharged=LOSS + timedelta(days=22))
    assert "SPLIT-ADMISSION" not in run(rules, table, claim=make_claim(invoices=(first, later)))


# -- LENGTH-OF-STAY ------------------------------------------------------------------------------------------

def test_length_of_stay_far_above_the_groups_norm(rules: FraudRules, table: DiagnosisTable) -> None:
    pneumonia = table.group_of("J18")
    assert pneumonia is not None and pneumonia.stay.limit_days == Decimal(16)  # 2 x 8 days
    long_stay = make_invoice(discharged=LOSS + timedelta(days=17))
    flag = run(rules, table, claim=make_claim(invoices=(long_stay,)))["LENGTH-OF-STAY"]
    assert flag.observed == "17 days, 2.1 x the mean"
    assert flag.evidence == (40,) and flag.action == "pay_and_audit"
    assert flag.personal == {"groups": ["PNEUMONIA"]} and "PNEUMONIA" not in str(flag.to_json())
    at_limit = make_invoice(discharged=LOSS + timedelta(days=16))
    assert "LENGTH-OF-STAY" not in run(rules, table, claim=make_claim(invoices=(at_limit,)))


def test_length_of_stay_takes_the_most_lenient_diagnosis_and_skips_unknown_ones(rules: FraudRules,
                                                                             table: DiagnosisTable) -> None:
    stay = make_invoice(discharged=LOSS + timedelta(days=20), diagnoses=("J18.9", "I63.9"))  # stroke: 2 x 12
    assert "LENGTH-OF-STAY" not in run(rules, table, claim=make_claim(invoices=(stay,)))
    unknown = make_invoice(discharged=LOSS + timedelta(days=60), diagnoses=("Z00.0",))
    assert "LENGTH-OF-STAY" not in run(rules, table, claim=make_claim(invoices=(unknown,)))


def test_length_of_stay_reads_one_stay_billed_in_parts(rules: FraudRules, table: DiagnosisTable) -> None:
    """Back-to-back bills (each begins the day the last ends) are one stay, as the allowance pays them: two
    9-day pneumonia bills are an 18-day stay, above the group's 16."""
    first = make_invoice(discharged=LOSS + timedelta(days=9))
    second = replace(first, invoice_no="INV-2", admitted=LOSS + timedelta(days=9), discharged=LOSS + timedelta(days=18),
                     index=41, digest="sha256:bb")
    flag = run(rules, table, claim=make_claim(invoices=(first, second)))["LENGTH-OF-STAY"]
    assert flag.observed == "18 days, 2.2 x the mean" and flag.evidence == (40, 41)


def test_overlapping_bills_count_their_days_once_towards_the_cumulative_stay(rules: FraudRules,
                                                                             table: DiagnosisTable) -> None:
    first = make_invoice(discharged=LOSS + timedelta(days=10))
    overlapping = replace(first, invoice_no="INV-2", admitted=LOSS + timedelta(days=5),
                          discharged=LOSS + timedelta(days=15), index=41, digest="sha256:bb")  # 15 days in all
    earlier = make_prior(admitted=LOSS - timedelta(days=300), discharged=LOSS - timedelta(days=215), index=22)  # 85
    assert "PHANTOM-STAY" not in run(rules, table, claim=make_claim(invoices=(first, overlapping)), prior=(earlier,))
    longer = replace(earlier, discharged=LOSS - timedelta(days=214))  # 86 + 15 = 101 days
    flag = run(rules, table, claim=make_claim(invoices=(first, overlapping)), prior=(longer,))["PHANTOM-STAY"]
    assert "101 days in hospital" in flag.observed


# -- PHANTOM-STAY --------------------------------------------------------------------------------------------

def test_phantom_stay_by_daily_cost(rules: FraudRules, table: DiagnosisTable) -> None:
    costly = make_invoice(discharged=LOSS + timedelta(days=2), total=Decimal("12000.02"))  # 6000.01 a day
    flag = run(rules, table, claim=make_claim(invoices=(costly,)))["PHANTOM-STAY"]
    assert "highest daily cost 6000.01 CNY" in flag.observed
    assert flag.threshold.startswith("daily cost > 6000 CNY")
    assert flag.evidence == (40,)
    at_limit = replace(costly, total=Decimal("12000"))
    assert "PHANTOM-STAY" not in run(rules, table, claim=make_claim(invoices=(at_limit,)))


def test_phantom_stay_by_cumulative_days(rules: FraudRules, table: DiagnosisTable) -> None:
    stay = make_invoice(discharged=LOSS + timedelta(days=10))  # 10 days
    earlier = make_prior(admitted=LOSS - timedelta(days=300), discharged=LOSS - timedelta(days=209), index=22)
    flag = run(rules, table, claim=make_claim(invoices=(stay,)), prior=(earlier,))["PHANTOM-STAY"]
    assert "101 days in hospital" in flag.observed and flag.evidence == (22, 40)
    shorter = replace(earlier, discharged=LOSS - timedelta(days=210))  # 90 + 10 days
    assert "PHANTOM-STAY" not in run(rules, table, claim=make_claim(invoices=(stay,)), prior=(shorter,))
    outside = replace(earlier, admitted=LOSS - timedelta(days=366), discharged=LOSS - timedelta(days=270))
    assert "PHANTOM-STAY" not in run(rules, table, claim=make_claim(invoices=(stay,)), prior=(outside,))


def test_a_claim_without_a_stay_is_not_a_phantom_stay(rules: FraudRules, table: DiagnosisTable) -> None:
    earlier = make_prior(admitted=LOSS - timedelta(days=300), discharged=LOSS - timedelta(days=150))
    assert "PHANTOM-STAY" not in run(rules, table, claim=make_claim(invoices=()), prior=(earlier,))


# -- WATCHLIST-HOSPITAL --------------------------------------------------------------------------------------

def test_watchlist_hospital(table: DiagnosisTable) -> None:
    data = raw()
    assert data["watchlist_hospital"]["hospitals"] == []  # maintained by the insurer
    data["watchlist_hospital"]["hospitals"] = ["H-WATCHED"]
    rules = FraudRules.parse(data, source="fraud.toml")
    watched = make_claim(invoices=(make_invoice(hospital="H-WATCHED"),))
    flag = run(rules, table, claim=watched)["WATCHLIST-HOSPITAL"]
    assert flag.evidence == (40,) and flag.personal == {"hospitals": ["H-WATCHED"]}
    assert "H-WATCHED" not in str(flag.to_json())
    assert "WATCHLIST-HOSPITAL" not in run(rules, table)


# -- BENEFICIARY-CHANGE-BEFORE-DEATH -------------------------------------------------------------------------

@pytest.mark.parametrize(("operation", "days_before", "claim_type", "fires"), [
    ("beneficiary_change", 180, "death", True), ("owner_change", 3, "death", True),
    ("beneficiary_change", -2, "death", True),  # changed after the death
    ("beneficiary_change", 181, "death", False), ("contact_change", 10, "death", False),
    ("beneficiary_change", 10, "medical", False),
])
def test_beneficiary_change_before_death(rules: FraudRules, table: DiagnosisTable, operation: str,
                                         days_before: int, claim_type: str, fires: bool) -> None:
    change = Change(operation=operation, on=datetime.combine(LOSS - timedelta(days=days_before),
                                                             datetime.min.time(), UTC) + timedelta(hours=23), index=61)
    claim = make_claim(claim_type=claim_type, invoices=(), medical=Medical(death_cause="illness", death_date=LOSS))
    found = run(rules, table, claim=claim, changes=(change,))
    assert ("BENEFICIARY-CHANGE-BEFORE-DEATH" in found) is fires
    if fires:
        assert found["BENEFICIARY-CHANGE-BEFORE-DEATH"].evidence == (61,)


# -- ACCOUNT-CHANGE-BEFORE-PAYOUT ----------------------------------------------------------------------------

def test_account_change_before_payout(rules: FraudRules, table: DiagnosisTable) -> None:
    recent = Change(operation="payout_account_change", on=NOW - timedelta(days=30, hours=23), index=71)
    flag = run(rules, table, changes=(recent,))["ACCOUNT-CHANGE-BEFORE-PAYOUT"]
    assert flag.observed == "changed 30 day(s) ago" and flag.evidence == (71,)
    old = replace(recent, on=NOW - timedelta(days=31))
    assert "ACCOUNT-CHANGE-BEFORE-PAYOUT" not in run(rules, table, changes=(old,))
    later = replace(recent, on=NOW + timedelta(hours=1))
    assert "ACCOUNT-CHANGE-BEFORE-PAYOUT" not in run(rules, table, changes=(later,))
    other = replace(recent, operation="address_change")
    assert "ACCOUNT-CHANGE-BEFORE-PAYOUT" not in run(rules, table, changes=(other,))


# -- SHARED-ACCOUNT ------------------------------------------------------------------------------------------

def test_shared_account_across_other_insureds(rules: FraudRules, table: DiagnosisTable) -> None:
    a = make_prior(claim_id="CLM-A", insured="PTY-A", account_digest="acct:1", index=81)
    b = make_prior(claim_id="CLM-B", insured="PTY-B", account_digest="acct:1", index=82)
    flag = run(rules, table, prior=(a, b))["SHARED-ACCOUNT"]
    assert flag.observed == "2 other insured(s)" and flag.evidence == (81, 82)
    assert flag.personal == {"insureds": ["PTY-A", "PTY-B"]}
    assert "PTY-A" not in str(flag.to_json())
    assert "SHARED-ACCOUNT" not in run(rules, table, prior=(a,))
    assert "SHARED-ACCOUNT" not in run(rules, table, prior=(a, replace(b, insured="PTY-INSURED")))
    assert "SHARED-ACCOUNT" not in run(rules, table, prior=(a, replace(b, paid=Decimal(0))))
    assert "SHARED-ACCOUNT" not in run(rules, table, prior=(a, replace(b, account_digest="acct:2")))
    assert "SHARED-ACCOUNT" not in run(rules, table, claim=make_claim(account_digest=""), prior=(a, b))


# -- the flags and the rules ---------------------------------------------------------------------------------

def test_a_flag_cites_the_rules_and_explains_itself(rules: FraudRules, table: DiagnosisTable) -> None:
    flag = run(rules, table, amount="500000")["LARGE-AMOUNT"]
    assert flag.version == rules.version == {"id": "claims-fraud", "version": 1, "digest": rules.digest}
    facts = flag.to_json()
    assert set(facts) == {"rule", "version", "threshold", "observed", "evidence", "action", "en", "zh"}
    assert facts["evidence"] == [] and facts["action"] in ("pay", "pay_and_audit", "investigate")
    assert "500000" in flag.en and "500000" in flag.zh
    assert flag.personal_json() == {}


def test_every_rule_of_one_claim_fires_in_the_files_order(rules: FraudRules, table: DiagnosisTable) -> None:
    flags = fraud_flags(rules=rules, cover=make_cover(effective_date=LOSS - timedelta(days=10)),
                        claim=make_claim(), prior=(), changes=(), diagnoses=table, amount=Decimal("400000"), now=NOW)
    assert [flag.rule for flag in flags] == ["EARLY-CLAIM", "LARGE-AMOUNT"]


def test_a_disabled_rule_does_not_run(table: DiagnosisTable) -> None:
    data = raw()
    data["large_amount"]["enabled"] = False
    rules = FraudRules.parse(data, source="fraud.toml")
    assert "LARGE-AMOUNT" not in run(rules, table, amount="900000")


def test_bad_inputs_are_refused(rules: FraudRules, table: DiagnosisTable) -> None:
    with pytest.raises(ValidationFailed, match="now: must be a timezone-aware datetime"):
        run(rules, table, now=datetime(2024, 6, 20, 10))
    with pytest.raises(ValidationFailed, match=r"changes\[0\].on: must be a timezone-aware"):
        run(rules, table, changes=(Change(operation="owner_change", on=datetime(2024, 1, 1), index=1),))
    with pytest.raises(ValidationFailed, match=r"cover\.currency: the fraud rules state amounts in CNY, got 'USD'"):
        run(rules, table, cover=make_cover(currency="USD"))


def test_the_shipped_rules_hold_the_domain_defaults(rules: FraudRules) -> None:
    d = rules.definition
    assert (d.early_claim.days, d.early_claim.serious_days) == (90, 730)
    assert d.large_amount.min_amount == Decimal("300000")
    assert (d.frequency.min_claims, d.frequency.window_days) == (3, 365)
    assert d.split_admission.days == 15
    assert (d.phantom_stay.daily_cost_multiple, d.phantom_stay.max_cumulative_days) == (Decimal(5), 100)
    assert d.beneficiary_change_before_death.days == 180
    assert d.account_change_before_payout.days == 30


@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("large_amount", "action", "decline", "large_amount.action: must be one of"),
    ("frequency", "min_claims", 1, "frequency.min_claims: must be >= 2, got 1"),
    ("split_admission", "days", 0, "split_admission.days: must be > 0, got 0"),
    ("early_claim", "serious_types", ["death", "funeral"], "early_claim.serious_types[1]: not a claim type"),
    ("phantom_stay", "average_daily_cost", 1200.5, "phantom_stay.average_daily_cost: must be a decimal string"),
    ("large_amount", "min_amount", "0", "large_amount.min_amount: must be > 0, got 0"),
    ("shared_account", "colour", "red", "shared_account.colour: is not a known key"),
])
def test_a_bad_rule_is_named_with_its_path_and_value(section: str, key: str, value: Any, expected: str) -> None:
    data = raw()
    data[section][key] = value
    with pytest.raises(ValidationFailed) as caught:
        FraudRules.parse(data, source="fraud.toml")
    assert caught.value.message.startswith(f"fraud.toml: {expected}"), caught.value.message
    shown = value[-1] if isinstance(value, list) else value
    assert key == "colour" or repr(shown) in caught.value.message or str(shown) in caught.value.message


def test_a_bad_rule_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "fraud.toml"
    bad.write_text(default_fraud_path().read_text(encoding="utf-8").replace('action = "pay_and_audit"',
                                                                            'action = "decline"', 1),
                   encoding="utf-8")
    with pytest.raises(ValidationFailed, match=rf"^{bad}: large_amount\.action: must be one of .*'decline'"):
        FraudRules.load(bad)


def test_a_missing_rule_or_file_is_named(tmp_path: Path) -> None:
    data = raw()
    del data["shared_account"]
    with pytest.raises(ValidationFailed, match=r"^fraud.toml: shared_account: is required"):
        FraudRules.parse(data, source="fraud.toml")
    missing = tmp_path / "none.toml"
    with pytest.raises(ValidationFailed, match=f"{missing}: cannot be read"):
        FraudRules.load(missing)
