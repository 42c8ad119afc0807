"""The benefit calculator against the shipped products, with every expected amount worked out by hand."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.claims.assessment import Assessment, assess, coverages_for, most_payable, policy_year_start
from ledger.claims.model import Claim, Cover, Invoice, LoanOwed, Medical, Prior, Versions
from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json
from ledger.products.catalog import Product, ProductCatalog, default_products_dir

# JR/T 0083-2013: grade 1 pays 100% of the sum insured, each grade below 10 points less, grade 10 pays 10%.
SHARES = {grade: Decimal(11 - grade) / 10 for grade in range(1, 11)}
EFFECTIVE = date(2024, 3, 1)
NO_FACTS = Medical()


@functools.cache
def product(product_id: str) -> Product:
    return ProductCatalog.load(default_products_dir()).get(product_id)


def versions(p: Product) -> Versions:
    return Versions(product={"id": p.id, "version": p.version, "digest": p.digest},
                    rules={"id": "claims-rules", "version": 1, "digest": "sha256:" + "0" * 64})


def cover(product_id: str, sum_insured: str, **changes: object) -> Cover:
    """A cover on the product; its unpaid premium and loans are the totals of ``unpaid_dues`` and
    ``loan_details`` unless given."""
    p = product(product_id)
    base = Cover(policy_no="P-1", application_id="A-1", product_id=p.id, product_version=p.version,
                 kind=p.kind, currency="CNY", sum_insured=Decimal(sum_insured), status="InForce",
                 effective_date=EFFECTIVE, issued_on=EFFECTIVE, end_date=None, application_date=date(2024, 2, 20))
    made = replace(base, **changes)  # type: ignore[arg-type]
    totals = replace(made, unpaid_premium=len(made.unpaid_dues) * made.modal_premium,
                     loans=sum((loan.owed for loan in made.loan_details), Decimal(0)))
    given = {key: value for key, value in changes.items() if key in ("unpaid_premium", "loans")}
    return replace(totals, **given)  # type: ignore[arg-type]


def loan(principal: str, rate: str, start: date, as_of: date) -> LoanOwed:
    return LoanOwed.accrued(principal=Decimal(principal), rate=Decimal(rate), start=start, as_of=as_of)


def stay(no: str, admitted: date, discharged: date, *, total: str = "0", ineligible: str = "0",
         social: str = "0") -> Invoice:
    return Invoice(invoice_no=no, hospital="H-1", admitted=admitted, discharged=discharged, total=Decimal(total),
                   ineligible=Decimal(ineligible), social_insurance_paid=Decimal(social))


def claim(claim_type: str, loss_date: date, *, claim_id: str = "C-1", cause: str = "illness",
          invoices: tuple[Invoice, ...] = (), medical: Medical = NO_FACTS) -> Claim:
    return Claim(claim_id=claim_id, policy_no="P-1", claim_type=claim_type, cause=cause, loss_date=loss_date,
                 reported_at=datetime.combine(loss_date, datetime.min.time(), UTC), invoices=invoices,
                 medical=medical)


def run(c: Cover, cl: Claim, prior: tuple[Prior, ...] = ()) -> Assessment:
    p = product(c.product_id)
    return assess(product=p, cover=c, claim=cl, prior=prior, versions=versions(p), disability_shares=SHARES)


def settled(c: Cover, cl: Claim, result: Assessment, *, status: str = "paid") -> Prior:
    """The earlier claim as the claims read model would hold it once paid."""
    year = policy_year_start(c.effective_date, min((i.admitted for i in cl.invoices if i.admitted),
                                                   default=cl.loss_date))
    return Prior(claim_id=cl.claim_id, policy_no=cl.policy_no, insured="I-1", claim_type=cl.claim_type,
                 status=status, reported_at=cl.reported_at, loss_date=cl.loss_date, paid=result.benefit,
                 coverages=result.coverages, policy_year_start=year, deductible_used=result.deductible_used,
                 days_paid=result.days_paid)


# --- policy years -------------------------------------------------------------------------------------------------

def test_policy_year_starts_on_the_anniversary_on_or_before_the_day() -> None:
    assert policy_year_start(EFFECTIVE, date(2024, 3, 1)) == date(2024, 3, 1)
    assert policy_year_start(EFFECTIVE, date(2025, 2, 28)) == date(2024, 3, 1)
    assert policy_year_start(EFFECTIVE, date(2025, 3, 1)) == date(2025, 3, 1)
    leap = date(2024, 2, 29)
    assert policy_year_start(leap, date(2025, 2, 27)) == leap
    assert policy_year_start(leap, date(2025, 2, 28)) == date(2025, 2, 28)


# --- which coverages answer a claim -------------------------------------------------------------------------------

def codes(product_id: str, claim_type: str, cause: str = "illness", options: tuple[str, ...] = ()) -> list[str]:
    return [c.code for c in coverages_for(product(product_id), claim_type=claim_type, cause=cause, options=options)]


def test_coverages_for_each_claim_type() -> None:
    assert codes("medical", "medical") == ["HOSPITAL-EXPENSES"]
    assert codes("hospital-allowance", "hospital_allowance") == ["HOSPITAL-CASH"]
    assert codes("term-life", "medical") == []
    assert codes("critical-illness", "critical_illness") == ["CI-SEVERE", "CI-MODERATE", "CI-MILD"]
    assert codes("critical-illness", "critical_illness", options=("MULTI-SEVERE",)) == [
        "CI-SEVERE", "CI-SEVERE-2", "CI-MODERATE", "CI-MILD"]
    assert codes("critical-illness", "death") == ["DEATH"]
    assert codes("term-life", "death", "accident") == ["DEATH"]  # no accidental-death benefit: the death benefit
    assert codes("accident", "death", "accident") == ["ACCIDENTAL-DEATH"]
    assert codes("accident", "death", "illness") == []
    assert codes("term-life", "disability") == ["TOTAL-DISABILITY"]
    assert codes("accident", "disability", "accident") == ["ACCIDENTAL-DISABILITY"]
    assert codes("accident", "accident", "accident") == ["ACCIDENTAL-DEATH", "ACCIDENTAL-DISABILITY"]
    with pytest.raises(ValidationFailed) as raised:
        codes("term-life", "dental")
    assert raised.value.field == "claim_type"


# --- hospital allowance -------------------------------------------------------------------------------------------

def test_allowance_deducts_days_per_stay_and_counts_one_stay_once() -> None:
    c = cover("hospital-allowance", "200")
    cl = claim("hospital_allowance", date(2024, 5, 1), invoices=(
        stay("INV-1", date(2024, 5, 1), date(2024, 5, 11)),  # 10 days - 3 = 7 payable
        stay("INV-2", date(2024, 5, 1), date(2024, 5, 11)),  # a second bill for the same stay: not counted again
        stay("INV-3", date(2024, 6, 1), date(2024, 6, 3))))  # 2 days, within the 3 deductible days: 0
    result = run(c, cl)
    assert result.days_paid == 7
    assert result.benefit == Decimal("1400.00")  # 7 days x 200
    assert result.net == Decimal("1400.00")
    assert result.coverages == ("HOSPITAL-CASH",)
    assert result.lines[0].inputs["payable_days"] == "7"
    assert (result.lines[0].inputs["effective_date"], result.lines[0].inputs["policy_year_start"]) == (
        "2024-03-01", "2024-03-01")
    assert not result.ends_cover and not result.waiver


def test_allowance_short_stay_pays_nothing_with_a_reason() -> None:
    result = run(cover("hospital-allowance", "200"),
                 claim("hospital_allowance", date(2024, 5, 1),
                       invoices=(stay("INV-1", date(2024, 5, 1), date(2024, 5, 4)),)))  # 3 days - 3 = 0
    assert result.benefit == Decimal("0.00") and result.days_paid == 0 and result.coverages == ()
    assert any("deductible days" in note for note in result.notes)


def test_allowance_yearly_days_cap_across_claims_and_reset_next_policy_year() -> None:
    c = cover("hospital-allowance", "200")
    first = claim("hospital_allowance", date(2024, 4, 1), claim_id="C-1",
                  invoices=(stay("INV-1", date(2024, 4, 1), date(2024, 9, 28)),))  # 180 days
    one = run(c, first)
    assert one.days_paid == 177  # 180 - 3 deductible days
    assert one.benefit == Decimal("35400.00")  # 177 x 200
    prior: tuple[Prior, ...] = (settled(c, first, one),)

    second = claim("hospital_allowance", date(2024, 10, 10), claim_id="C-2",
                   invoices=(stay("INV-2", date(2024, 10, 10), date(2024, 10, 20)),))  # 10 - 3 = 7 payable
    two = run(c, second, prior)
    assert two.days_paid == 3  # 180 max days - 177 already paid this policy year
    assert two.benefit == Decimal("600.00")  # 3 x 200
    assert any("yearly limit of 180 days" in note for note in two.notes)
    prior += (settled(c, second, two),)

    third = claim("hospital_allowance", date(2024, 12, 1), claim_id="C-3",
                  invoices=(stay("INV-3", date(2024, 12, 1), date(2024, 12, 11)),))
    assert run(c, third, prior).benefit == Decimal("0.00")  # 177 + 3 = 180: none left

    next_year = claim("hospital_allowance", date(2025, 3, 5), claim_id="C-4",
                      invoices=(stay("INV-4", date(2025, 3, 5), date(2025, 3, 15)),))  # policy year from 2025-03-01
    four = run(c, next_year, prior)
    assert four.days_paid == 7 and four.benefit == Decimal("1400.00")  # (10 - 3) x 200, the count starts again


def test_allowance_ignores_unsettled_claims_and_other_policies() -> None:
    c = cover("hospital-allowance", "200")
    earlier = claim("hospital_allowance", date(2024, 4, 1),
                    invoices=(stay("INV-1", date(2024, 4, 1), date(2024, 9, 28)),))
    full = settled(c, earlier, run(c, earlier))  # 177 days
    declined = replace(full, status="declined", paid=Decimal(0))  # as ``context.prior_of`` gives them: nothing
    elsewhere = replace(full, policy_no="P-2")
    now = claim("hospital_allowance", date(2024, 10, 10), claim_id="C-2",
                invoices=(stay("INV-2", date(2024, 10, 10), date(2024, 10, 20)),))
    assert run(c, now, (declined, elsewhere)).days_paid == 7  # neither counts: 10 - 3 days
    assert run(c, now, (replace(full, status="under_review", paid=Decimal(0)),)).days_paid == 7  # not decided yet
    for status in ("payment_pending", "payment_failed", "paid", "Closed"):  # approved or closed: 180 - 177 left
        assert run(c, now, (replace(full, status=status),)).days_paid == 3
    assert run(c, now, (replace(full, status="under_review"),)).days_paid == 3  # reopened after it paid: counts


# --- medical ------------------------------------------------------------------------------------------------------

def test_medical_with_social_insurance_pays_the_full_ratio() -> None:
    result = run(cover("medical", "1000000"), claim("medical", date(2024, 6, 1), invoices=(
        stay("INV-1", date(2024, 6, 1), date(2024, 6, 10), total="30000", ineligible="3000", social="12000"),
        stay("INV-2", date(2024, 6, 10), date(2024, 6, 12), total="20000", ineligible="2000", social="8000"))))
    # eligible (30000 - 3000) + (20000 - 2000) = 45000; social 20000; base 45000 - 20000 - 10000 = 15000; x 1
    assert result.benefit == Decimal("15000.00")
    assert result.deductible_used == Decimal("10000")  # min(45000 - 20000, 10000)
    inputs = result.lines[0].inputs
    # both of the product's ratios, and the one social insurance having paid (20000 > 0) chose
    assert (inputs["ratio_with_social_insurance"], inputs["ratio_without_social_insurance"]) == ("1", "0.6")
    assert (inputs["ratio_basis"], inputs["ratio"]) == ("with_social_insurance", "1")
    assert (inputs["effective_date"], inputs["policy_year_start"]) == ("2024-03-01", "2024-03-01")


def test_medical_without_social_insurance_pays_sixty_percent() -> None:
    result = run(cover("medical", "1000000"), claim("medical", date(2024, 6, 1), invoices=(
        stay("INV-1", date(2024, 6, 1), date(2024, 6, 10), total="30000", ineligible="2000"),)))
    # eligible 28000; base 28000 - 0 - 10000 = 18000; x 0.6 = 10800
    assert result.benefit == Decimal("10800.00")
    assert result.deductible_used == Decimal("10000")
    inputs = result.lines[0].inputs
    assert (inputs["ratio_basis"], inputs["ratio"]) == ("without_social_insurance", "0.6")
    assert (inputs["ratio_with_social_insurance"], inputs["ratio_without_social_insurance"]) == ("1", "0.6")


def test_medical_deductible_is_carried_across_claims_of_a_policy_year() -> None:
    c = cover("medical", "1000000")
    first = claim("medical", date(2024, 5, 1), claim_id="C-1",
                  invoices=(stay("INV-1", date(2024, 5, 1), date(2024, 5, 3), total="6000"),))
    one = run(c, first)
    assert one.benefit == Decimal("0.00")  # 6000 < 10000 deductible
    assert one.deductible_used == Decimal("6000")
    assert any("deductible" in note for note in one.notes)
    prior: tuple[Prior, ...] = (settled(c, first, one, status="closed"),)

    second = claim("medical", date(2024, 7, 1), claim_id="C-2",
                   invoices=(stay("INV-2", date(2024, 7, 1), date(2024, 7, 5), total="9000", ineligible="1000"),))
    two = run(c, second, prior)
    assert two.deductible_used == Decimal("4000")  # 10000 - 6000 left
    assert two.benefit == Decimal("2400.00")  # (8000 - 0 - 4000) x 0.6
    prior += (settled(c, second, two),)

    third = claim("medical", date(2024, 9, 1), claim_id="C-3",
                  invoices=(stay("INV-3", date(2024, 9, 1), date(2024, 9, 2), total="1000.05"),))
    three = run(c, third, prior)
    assert three.deductible_used == Decimal("0")
    assert three.benefit == Decimal("600.03")  # 1000.05 x 0.6 = 600.030

    next_year = claim("medical", date(2025, 4, 1), claim_id="C-4",
                      invoices=(stay("INV-4", date(2025, 4, 1), date(2025, 4, 2), total="12000"),))
    assert run(c, next_year, prior).benefit == Decimal("1200.00")  # (12000 - 10000 again) x 0.6


def test_medical_annual_limit_caps_the_claim_and_resets_next_year() -> None:
    c = cover("medical", "1000000")
    big = Prior(claim_id="C-0", policy_no="P-1", insured="I-1", claim_type="medical", status="paid",
                reported_at=datetime(2024, 5, 1, tzinfo=UTC), loss_date=date(2024, 5, 1),
                paid=Decimal("990000"), policy_year_start=date(2024, 3, 1), deductible_used=Decimal("10000"))
    invoice = stay("INV-1", date(2024, 8, 1), date(2024, 8, 20), total="60000", social="30000")
    result = run(c, claim("medical", date(2024, 8, 1), invoices=(invoice,)), (big,))
    # base 60000 - 30000 - 0 deductible left = 30000 x 1; capped by 1000000 - 990000 = 10000
    assert result.benefit == Decimal("10000.00")
    assert result.deductible_used == Decimal("0")
    assert any("annual limit reached" in note for note in result.notes)
    later = replace(invoice, admitted=date(2025, 3, 2), discharged=date(2025, 3, 20))
    # next policy year: 60000 - 30000 - 10000 deductible = 20000 x 1, nothing paid yet that year
    assert run(c, claim("medical", date(2025, 3, 2), invoices=(later,)), (big,)).benefit == Decimal("20000.00")


def test_medical_rejects_impossible_invoice_amounts() -> None:
    bad = stay("INV-9", date(2024, 6, 1), date(2024, 6, 2), total="100", ineligible="150")
    with pytest.raises(ValidationFailed, match="INV-9") as raised:
        run(cover("medical", "1000000"), claim("medical", date(2024, 6, 1), invoices=(bad,)))
    assert raised.value.field == "claim.invoices"


# --- critical illness ---------------------------------------------------------------------------------------------

def ci_claim(group: str, loss_date: date, claim_id: str) -> Claim:
    return claim("critical_illness", loss_date, claim_id=claim_id, medical=Medical(illness_group=group))


def test_critical_illness_mild_three_times_then_nothing() -> None:
    c = cover("critical-illness", "300000")
    prior: tuple[Prior, ...] = ()
    for n, day in enumerate((date(2025, 1, 1), date(2025, 6, 1), date(2026, 1, 1)), start=1):
        cl = ci_claim("mild", day, f"C-{n}")
        result = run(c, cl, prior)
        assert result.benefit == Decimal("90000.00")  # 300000 x 0.3
        assert result.coverages == ("CI-MILD",)
        assert result.waiver and not result.ends_cover  # CI-MILD triggers the premium waiver
        assert result.lines[0].inputs["payouts_before"] == str(n - 1)
        prior += (settled(c, cl, result),)
    fourth = run(c, ci_claim("mild", date(2026, 6, 1), "C-4"), prior)
    assert fourth.benefit == Decimal("0") and fourth.lines == () and fourth.coverages == ()
    assert not fourth.waiver
    assert fourth.notes == ("CI-MILD: all 3 payouts already made",)


def test_critical_illness_moderate_pays_sixty_percent_with_waiver() -> None:
    result = run(cover("critical-illness", "300000"), ci_claim("moderate", date(2025, 1, 1), "C-1"))
    assert result.benefit == Decimal("180000.00")  # 300000 x 0.6
    assert result.waiver and not result.ends_cover


def test_critical_illness_severe_ends_cover_without_multi_severe() -> None:
    c = cover("critical-illness", "300000")
    first = ci_claim("severe", date(2025, 1, 1), "C-1")
    result = run(c, first)
    assert result.benefit == Decimal("300000.00")  # 300000 x 1
    assert result.ends_cover and not result.waiver and result.coverages == ("CI-SEVERE",)
    again = run(c, ci_claim("severe", date(2026, 6, 1), "C-2"), (settled(c, first, result),))
    assert again.benefit == Decimal("0") and again.notes == ("CI-SEVERE: all 1 payouts already made",)


def test_critical_illness_second_severe_needs_the_option_and_the_interval() -> None:
    c = cover("critical-illness", "300000", options=("MULTI-SEVERE",))
    first = ci_claim("severe", date(2025, 1, 1), "C-1")
    one = run(c, first)
    assert one.coverages == ("CI-SEVERE",) and one.benefit == Decimal("300000.00")
    assert not one.ends_cover  # CI-SEVERE-2 is still to come
    assert {k: one.lines[0].inputs[k] for k in ("interval_days", "last_payout_loss_date", "loss_date")} == {
        "interval_days": "0", "last_payout_loss_date": "", "loss_date": "2025-01-01"}  # no severe payout yet
    prior = (settled(c, first, one),)
    soon = run(c, ci_claim("severe", date(2025, 1, 1) + timedelta(days=364), "C-2"), prior)
    assert soon.benefit == Decimal("0")
    assert any("CI-SEVERE-2: needs 365 days" in note for note in soon.notes)
    later = run(c, ci_claim("severe", date(2025, 1, 1) + timedelta(days=365), "C-3"), prior)
    assert later.coverages == ("CI-SEVERE-2",) and later.benefit == Decimal("300000.00")  # 300000 x 1
    # the interval and the loss of the group's last payout, 365 days before this loss
    assert {k: later.lines[0].inputs[k] for k in ("interval_days", "last_payout_loss_date", "loss_date",
                                                   "payouts_before")} == {
        "interval_days": "365", "last_payout_loss_date": "2025-01-01", "loss_date": "2026-01-01",
        "payouts_before": "0"}


def test_critical_illness_claim_needs_the_illness_group() -> None:
    with pytest.raises(ValidationFailed) as raised:
        run(cover("critical-illness", "300000"), claim("critical_illness", date(2025, 1, 1)))
    assert raised.value.field == "medical.illness_group"


def test_death_on_critical_illness_product_pays_the_death_benefit() -> None:
    result = run(cover("critical-illness", "300000"),
                 claim("death", date(2025, 1, 1), medical=Medical(death_date=date(2025, 1, 1))))
    assert result.coverages == ("DEATH",) and result.benefit == Decimal("300000.00") and result.ends_cover


# --- death --------------------------------------------------------------------------------------------------------

def test_death_deducts_loans_and_unpaid_premium_and_refunds_premiums_after_death() -> None:
    assessed_on = date(2025, 5, 10)
    c = cover("term-life", "500000", modal_premium=Decimal("150.00"),
              unpaid_dues=(date(2025, 2, 1), date(2025, 3, 1)),
              loan_details=(loan("10000.00", "0.05", date(2025, 1, 1), assessed_on),
                            loan("2000.00", "0.045", date(2025, 3, 15), assessed_on)),
              paid_dues=(date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1), date(2025, 7, 1)))
    result = run(c, claim("death", date(2025, 5, 2), medical=Medical(death_date=date(2025, 5, 1))))
    assert result.benefit == Decimal("500000.00")  # 500000 x 1
    assert result.refund == Decimal("300.00")  # dues 2025-06-01 and 2025-07-01 after the death: 2 x 150
    # loans: 10000 x 0.05 x 129 days / 365 = 176.712.. -> 176.71; 2000 x 0.045 x 56 / 365 = 13.808.. -> 13.81
    assert [(d.kind, d.amount) for d in result.deductions] == [("unpaid_premium", Decimal("300.00")),
                                                               ("policy_loans", Decimal("12190.52"))]
    assert result.net == Decimal("487809.48")  # 500000 + 300 - 300 - 12190.52
    assert result.ends_cover and result.coverages == ("DEATH",)
    assert result.lines[0].inputs["refunded_dues"] == "2025-06-01,2025-07-01"
    unpaid, loans = result.deductions
    assert unpaid.formula == "count(unpaid_dues) x modal_premium"
    assert unpaid.inputs == {"unpaid_dues": "2025-02-01,2025-03-01", "modal_premium": "150.00"}
    assert loans.inputs == {"loans": [
        {"principal": "10000.00", "rate": "0.05", "start": "2025-01-01", "as_of": "2025-05-10", "days": "129",
         "interest": "176.71"},
        {"principal": "2000.00", "rate": "0.045", "start": "2025-03-15", "as_of": "2025-05-10", "days": "56",
         "interest": "13.81"}]}


def test_the_cover_debts_must_be_the_totals_of_their_details() -> None:
    on = date(2025, 5, 10)
    c = cover("term-life", "500000", modal_premium=Decimal("150.00"), unpaid_dues=(date(2025, 3, 1),))
    death = claim("death", date(2025, 5, 2))
    with pytest.raises(ValidationFailed) as raised:
        run(replace(c, unpaid_premium=Decimal("300.00")), death)  # one unpaid due of 150
    assert raised.value.field == "cover.unpaid_premium"
    owed = cover("term-life", "500000", loan_details=(loan("1000", "0.05", date(2025, 1, 1), on),))
    assert owed.loans == Decimal("1017.67")  # 1000 + 1000 x 0.05 x 129 / 365 = 17.671.. -> 17.67
    with pytest.raises(ValidationFailed) as raised:
        run(replace(owed, loans=Decimal("1000")), death)
    assert raised.value.field == "cover.loans"
    wrong = replace(owed.loan_details[0], interest=Decimal("17.00"), days=129)
    with pytest.raises(ValidationFailed, match=r"17\.00") as raised:
        run(replace(owed, loan_details=(wrong,), loans=wrong.owed), death)
    assert raised.value.field == "cover.loan_details[0]"


def test_loan_interest_is_actual_over_365_half_up_and_none_before_the_start() -> None:
    half = loan("1825", "0.001", date(2025, 1, 1), date(2025, 1, 2))  # 1825 x 0.001 x 1 / 365 = 0.005
    assert (half.days, half.interest, half.owed) == (1, Decimal("0.01"), Decimal("1825.01"))
    early = loan("1000", "0.05", date(2025, 6, 1), date(2025, 5, 1))
    assert (early.days, early.interest) == (0, Decimal("0.00"))


def test_death_refund_uses_the_loss_date_without_a_death_date() -> None:
    c = cover("whole-life", "100000", modal_premium=Decimal("80"), paid_dues=(date(2025, 5, 1), date(2025, 6, 1)))
    result = run(c, claim("death", date(2025, 5, 1)))
    assert result.refund == Decimal("80.00")  # only 2025-06-01 is strictly after 2025-05-01: 1 x 80
    assert result.net == Decimal("100080.00")


def test_net_is_never_below_zero() -> None:
    c = cover("accident", "100000", loan_details=(loan("150000", "0", date(2024, 12, 1), date(2025, 1, 5)),))
    result = run(c, claim("accident", date(2025, 1, 1), cause="accident",
                          medical=Medical(disability_grade=10)))
    assert result.benefit == Decimal("10000.00")  # 100000 x 1 x 0.10 (grade 10)
    assert result.net == Decimal("0.00")  # 10000 - 150000 floored at 0


def test_a_claim_the_product_does_not_cover_pays_nothing_with_a_note() -> None:
    result = run(cover("accident", "100000", modal_premium=Decimal("50"), unpaid_dues=(date(2024, 12, 1),)),
                 claim("death", date(2025, 1, 1), medical=Medical(death_date=date(2025, 1, 1))))
    assert result.lines == () and result.benefit == 0 and result.net == Decimal("0.00") and result.refund == 0
    assert result.notes == ("accident v1 does not cover a death claim (cause illness)",)


# --- disability and accident --------------------------------------------------------------------------------------

def test_accidental_disability_grade_three() -> None:
    result = run(cover("accident", "200000"), claim("disability", date(2025, 1, 1), cause="accident",
                                                    medical=Medical(disability_grade=3)))
    assert result.benefit == Decimal("160000.00")  # 200000 x 1 x 0.80 (grade 3)
    assert result.coverages == ("ACCIDENTAL-DISABILITY",) and not result.ends_cover
    assert result.lines[0].inputs["share"] == "0.8"


def test_accident_claim_with_a_death_date_pays_accidental_death() -> None:
    result = run(cover("accident", "200000"), claim("accident", date(2025, 1, 1), cause="accident",
                                                    medical=Medical(death_date=date(2025, 1, 3))))
    assert result.coverages == ("ACCIDENTAL-DEATH",) and result.benefit == Decimal("200000.00")
    assert result.ends_cover


def test_total_disability_pays_grade_one_only() -> None:
    c = cover("term-life", "500000")
    grade3 = run(c, claim("disability", date(2025, 1, 1), medical=Medical(disability_grade=3)))
    assert grade3.benefit == Decimal("0.00") and grade3.coverages == () and not grade3.ends_cover
    assert any("grade 1" in note for note in grade3.notes)
    grade1 = run(c, claim("disability", date(2025, 1, 1), medical=Medical(disability_grade=1)))
    assert grade1.benefit == Decimal("500000.00") and grade1.ends_cover  # 500000 x 1
    for result in (grade3, grade1):  # the line names the rule and the grades it pays
        assert result.lines[0].formula == "sum_insured x ratio if grade in paid_grades, else 0"
        assert result.lines[0].inputs["paid_grades"] == "1"
    assert (grade3.lines[0].inputs["grade"], grade1.lines[0].inputs["grade"]) == ("3", "1")


def test_disability_needs_a_grade_and_its_share() -> None:
    with pytest.raises(ValidationFailed) as raised:
        run(cover("accident", "200000"), claim("disability", date(2025, 1, 1), cause="accident"))
    assert raised.value.field == "medical.disability_grade"
    p = product("accident")
    with pytest.raises(ValidationFailed) as raised:
        assess(product=p, cover=cover("accident", "200000"), prior=(), versions=versions(p), disability_shares={},
               claim=claim("disability", date(2025, 1, 1), cause="accident", medical=Medical(disability_grade=2)))
    assert raised.value.field == "disability_shares"


# --- inputs that do not belong together ---------------------------------------------------------------------------

def test_inputs_must_belong_together() -> None:
    p = product("term-life")
    c = cover("term-life", "500000")
    cl = claim("death", date(2025, 1, 1))
    other = product("whole-life")
    with pytest.raises(ValidationFailed) as raised:
        assess(product=p, cover=c, claim=cl, prior=(), versions=versions(other), disability_shares=SHARES)
    assert raised.value.field == "versions.product"
    with pytest.raises(ValidationFailed) as raised:
        assess(product=other, cover=c, claim=cl, prior=(), versions=versions(other), disability_shares=SHARES)
    assert raised.value.field == "cover.product_id"
    with pytest.raises(ValidationFailed) as raised:
        run(c, replace(cl, policy_no="P-2"))
    assert raised.value.field == "claim.policy_no"


# --- JSON ---------------------------------------------------------------------------------------------------------

def test_json_round_trip() -> None:
    c = cover("term-life", "500000", modal_premium=Decimal("150.00"), unpaid_dues=(date(2025, 4, 1),),
              loan_details=(loan("1000.5", "0", date(2025, 1, 1), date(2025, 5, 10)),),
              paid_dues=(date(2025, 6, 1),))
    result = run(c, claim("death", date(2025, 5, 2)))
    data = json.loads(canonical_json(result.to_json()))  # JSON-safe
    assert data["net"] == "498999.50" and data["refund"] == "150.00"  # 500000 + 150 - 150 - 1000.50
    assert data["deductions"][1]["inputs"]["loans"][0]["principal"] == "1000.5"
    assert data["versions"]["product"]["digest"] == product("term-life").digest
    assert Assessment.from_json(data) == result
    allowance = run(cover("hospital-allowance", "200"), claim("hospital_allowance", date(2024, 5, 1), invoices=(
        stay("INV-1", date(2024, 5, 1), date(2024, 5, 2)),)))
    assert Assessment.from_json(json.loads(canonical_json(allowance.to_json()))) == allowance


def test_from_json_refuses_malformed_or_inconsistent_values() -> None:
    data = run(cover("term-life", "500000"), claim("death", date(2025, 5, 2))).to_json()
    with pytest.raises(ValidationFailed) as raised:
        Assessment.from_json({**data, "net": "500000.01"})
    assert raised.value.field == "net"
    with pytest.raises(ValidationFailed) as raised:
        Assessment.from_json({**data, "benefit": "1.00"})
    assert raised.value.field == "benefit"
    with pytest.raises(ValidationFailed) as raised:
        Assessment.from_json({**data, "refund": 0.0})
    assert raised.value.field == "refund"
    with pytest.raises(ValidationFailed) as raised:
        Assessment.from_json({key: value for key, value in data.items() if key != "notes"})
    assert raised.value.field == "assessment"
    line = {**data["lines"][0], "inputs": {"sum_insured": 500000}}
    with pytest.raises(ValidationFailed) as raised:
        Assessment.from_json({**data, "lines": [line]})
    assert raised.value.field == "lines[0].inputs"


def test_from_json_refuses_malformed_deduction_inputs() -> None:
    c = cover("term-life", "500000", modal_premium=Decimal("150.00"), unpaid_dues=(date(2025, 4, 1),),
              loan_details=(loan("1000", "0.05", date(2025, 1, 1), date(2025, 5, 10)),))
    data = run(c, claim("death", date(2025, 5, 2))).to_json()
    unpaid, loans = data["deductions"]

    def refused(deduction: dict[str, object], n: int = 0) -> str | None:
        deductions = list(data["deductions"])
        deductions[n] = deduction
        with pytest.raises(ValidationFailed) as raised:
            Assessment.from_json({**data, "deductions": deductions})
        return raised.value.field

    assert refused({k: v for k, v in unpaid.items() if k != "inputs"}) == "deductions[0]"
    assert refused({**unpaid, "inputs": {**unpaid["inputs"], "modal_premium": 150}}) == \
        "deductions[0].inputs.modal_premium"
    assert refused({**unpaid, "formula": None}) == "deductions[0].formula"
    entry = loans["inputs"]["loans"][0]
    assert refused({**loans, "inputs": {"loans": [{**entry, "days": 129}]}}, 1) == "deductions[1].inputs.loans[0]"
    assert refused({**loans, "inputs": {"loans": [{k: v for k, v in entry.items() if k != "interest"}]}}, 1) == \
        "deductions[1].inputs.loans[0]"
    assert refused({**unpaid, "inputs": {**unpaid["inputs"], "unpaid_dues": [entry]}}) == \
        "deductions[0].inputs.unpaid_dues"  # only the loans are a list


# --- properties ---------------------------------------------------------------------------------------------------

cents = st.decimals(min_value=0, max_value=200000, places=2)


def owing(amount: Decimal) -> tuple[LoanOwed, ...]:
    """A loan of ``amount`` with no interest (none: nothing owed)."""
    return (loan(str(amount), "0", date(2024, 3, 1), date(2024, 6, 1)),) if amount else ()


@settings(max_examples=60, deadline=None)
@given(total=cents, ineligible_share=st.decimals(min_value=0, max_value=1, places=2), social=cents,
       paid_before=st.decimals(min_value=0, max_value=1000000, places=2),
       used_before=st.decimals(min_value=0, max_value=10000, places=2), loans=cents)
def test_medical_net_is_never_negative_and_stays_within_the_limit(total: Decimal, ineligible_share: Decimal,
                                                                   social: Decimal, paid_before: Decimal,
                                                                   used_before: Decimal, loans: Decimal) -> None:
    c = cover("medical", "1000000", loan_details=owing(loans))
    ineligible = (total * ineligible_share).quantize(Decimal("0.01"))
    earlier = Prior(claim_id="C-0", policy_no="P-1", insured="I-1", claim_type="medical", status="paid",
                    reported_at=datetime(2024, 4, 1, tzinfo=UTC), loss_date=date(2024, 4, 1), paid=paid_before,
                    policy_year_start=date(2024, 3, 1), deductible_used=used_before)
    result = run(c, claim("medical", date(2024, 6, 1), invoices=(
        stay("INV-1", date(2024, 6, 1), date(2024, 6, 5), total=str(total), ineligible=str(ineligible),
             social=str(social)),)), (earlier,))
    assert result.net >= 0
    assert result.benefit <= Decimal("1000000") - paid_before  # the annual limit left
    assert result.benefit <= max(total - ineligible - social, Decimal(0))  # never more than was spent
    assert result.deductible_used <= Decimal("10000") - used_before


@settings(max_examples=60, deadline=None)
@given(days=st.integers(min_value=0, max_value=400), days_before=st.integers(min_value=0, max_value=200),
       grade=st.integers(min_value=1, max_value=10), loans=cents)
def test_allowance_and_disability_stay_within_their_caps(days: int, days_before: int, grade: int,
                                                          loans: Decimal) -> None:
    c = cover("hospital-allowance", "500", loan_details=owing(loans))
    earlier = Prior(claim_id="C-0", policy_no="P-1", insured="I-1", claim_type="hospital_allowance",
                    status="paid", reported_at=datetime(2024, 4, 1, tzinfo=UTC), loss_date=date(2024, 4, 1),
                    policy_year_start=date(2024, 3, 1), days_paid=days_before)
    admitted = date(2024, 3, 1)
    result = run(c, claim("hospital_allowance", admitted, invoices=(
        stay("INV-1", admitted, admitted + timedelta(days=days)),)), (earlier,))
    assert result.net >= 0
    assert result.days_paid <= max(180 - days_before, 0)
    assert result.benefit == result.days_paid * Decimal("500")
    disability = run(cover("accident", "300000", loan_details=owing(loans)),
                     claim("accident", admitted, cause="accident", medical=Medical(disability_grade=grade)))
    assert disability.net >= 0
    assert Decimal(0) < disability.benefit <= Decimal("300000")


def test_the_most_a_claim_can_pay_before_it_is_assessed() -> None:
    """What caps an advance on a claim not yet assessed: the annual limit of a reimbursement, max_days x the daily
    amount of an allowance, the largest lump sum the claim type can be paid."""
    assert most_payable(product("medical"), cover("medical", "1000000"), claim_type="medical",
                        cause="illness") == Decimal("1000000.00")
    allowance = product("hospital-allowance")
    [daily] = [c.benefit for c in allowance.definition.coverages if c.benefit.kind == "daily_allowance"]
    assert most_payable(allowance, cover("hospital-allowance", "200"), claim_type="hospital_allowance",
                        cause="illness") == Decimal(200 * daily.max_days)
    assert most_payable(product("critical-illness"), cover("critical-illness", "200000"),
                        claim_type="critical_illness", cause="illness") == Decimal("200000.00")  # severe: 100 %
    assert most_payable(product("medical"), cover("medical", "1000000"), claim_type="death", cause="illness") == 0
