"""A typical e-policy view for the tests (also imported by a subprocess that renders it in another process)."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from ledger.documents.epolicy import Beneficiary, Bilingual, EPolicyView, ScheduleRow, verification_url
from ledger.parties.identity import mask_name

BASE_URL = "https://verify.lifeledger.example"
# The people as they are, to check that none of them reaches the PDF unmasked.
POLICYHOLDER, INSURED, BENEFICIARIES = "张三丰", "Li Lei", ("王小明", "欧阳娜娜")


def typical_view(**changes: Any) -> EPolicyView:
    """Version 2 of a 20-pay whole-life critical-illness policy, rated with one exclusion."""
    view = EPolicyView(
        policy_no="P2025000123",
        version=2,
        issued_on=date(2025, 6, 1),
        effective_on=date(2025, 5, 20),
        product_name=Bilingual("安康终身重大疾病保险", "AnKang Whole-Life Critical Illness Insurance"),
        product_id="ci-wholelife-20pay",
        product_version="2025.1",
        product_digest="sha256:" + "ab" * 32,
        policyholder=mask_name(POLICYHOLDER),
        insured=mask_name(INSURED),
        beneficiaries=(Beneficiary(mask_name(BENEFICIARIES[0]), "60%"),
                       Beneficiary(mask_name(BENEFICIARIES[1]), "40%")),
        schedule=(
            ScheduleRow(Bilingual("基本保险金额", "Sum insured"), "CNY 500,000.00"),
            ScheduleRow(Bilingual("保险费及缴费方式", "Premium and frequency"), "CNY 15,656.55 每年 / annual"),
            ScheduleRow(Bilingual("保险期间", "Term"), "终身 / whole life"),
            ScheduleRow(Bilingual("缴费期间", "Payment term"), "20 年 / 20 years"),
            ScheduleRow(Bilingual("下次缴费日", "Next due date"), "2026-05-20"),
            ScheduleRow(Bilingual("核保结论", "Underwriting result"),
                        "加费承保 每年加费 CNY 745.55 除外甲状腺疾病 / Rated: extra premium CNY 745.55 a year; "
                        "exclusion: thyroid disease"),
        ),
        terms=(
            Bilingual("被保险人于等待期(90日)后初次确诊本合同约定的重大疾病。按基本保险金额给付重大疾病保险金。",
                      "A covered critical illness first diagnosed after the 90-day waiting period: the sum insured "
                      "is paid."),
            Bilingual("犹豫期为签收本合同次日起15日。期间解除合同无息退还全部保险费。",
                      "Free-look period: 15 days from the day after receipt; cancelling refunds all premiums."),
            Bilingual("宽限期为60日。宽限期内发生保险事故仍承担保险责任。",
                      "Grace period: 60 days; cover continues during it."),
        ),
        exclusions=(Bilingual("甲状腺及其附属器官的疾病及其并发症",
                              "Diseases of the thyroid and its appendages, and their complications"),),
        verification_url=verification_url(BASE_URL, policy_no="P2025000123", version=2),
        supersedes_digest="sha256:" + "cd" * 32,
    )
    return dataclasses.replace(view, **changes)
