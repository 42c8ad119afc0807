"""The e-policy of one policy version: its printed view built from the policy's facts and masked names, the view
as JSON (kept, sealed under the policyholder, in the issue event) and back, and its PDF."""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger.documents.epolicy import Beneficiary, Bilingual, EPolicyView, ScheduleRow, render_epolicy, verification_url
from ledger.money import Money
from ledger.policies.state import MONTHS, PolicyState, add_months
from ledger.products.catalog import Product

FREQUENCY = {"annual": Bilingual("年交", "annual"), "semiannual": Bilingual("半年交", "semi-annual"),
             "quarterly": Bilingual("季交", "quarterly"), "monthly": Bilingual("月交", "monthly")}


def view_for(state: PolicyState, *, product: Product, policy_no: str, version: int, issued_on: date,
             people: dict[str, Any], public_url: str, supersedes: str | None,
             next_due: date | None = None, key_id: str | None = None) -> EPolicyView:
    """The view of version ``version`` issued on ``issued_on`` (for version 1 cover starts the next day and the
    next premium is due one period later; a later version names its own ``next_due``)."""
    effective_on = state.effective_date or date.fromordinal(issued_on.toordinal() + 1)
    plan = state.plan
    premium = state.premium
    frequency = FREQUENCY[plan["frequency"]]
    term = f"{plan['term_years']} 年 / years" if plan.get("term_years") else "终身 / whole life"
    decision = state.decision
    outcome = decision.get("outcome", "standard")
    extra = decision.get("extra_premium_pct") or "0"
    result = {"standard": "标准体 / standard", "rated": f"加费 {extra}% / extra premium {extra}%",
              "exclusion": "除外承保 / with exclusions"}.get(outcome, outcome)
    installments = int(plan["payment_years"]) * (12 // MONTHS[plan["frequency"]])
    if version == 1:
        next_due = add_months(effective_on, MONTHS[plan["frequency"]]) if installments > 1 else None
    schedule = (
        ScheduleRow(Bilingual("保险金额", "Sum insured"), str(Money.from_json(plan["sum_insured"]).rounded())),
        ScheduleRow(Bilingual("保险费", "Premium"),
                    f"{Money.from_json(premium['modal_premium']).rounded()} ({frequency.zh} / {frequency.en})"),
        ScheduleRow(Bilingual("保险期间", "Term"), term),
        ScheduleRow(Bilingual("交费期间", "Payment term"), f"{plan['payment_years']} 年 / years"),
        ScheduleRow(Bilingual("下期应交日", "Next premium due"), next_due.isoformat() if next_due else "—"),
        ScheduleRow(Bilingual("核保结论", "Underwriting"), result),
    )
    definition = product.definition
    terms = tuple(Bilingual(c.zh, c.en) for c in definition.coverages)
    exclusions = tuple(Bilingual(x.get("zh", ""), x.get("en", "")) for x in decision.get("exclusions", []))
    beneficiaries = tuple(Beneficiary(name, share) for name, share in people.get("beneficiaries", []))
    return EPolicyView(
        policy_no=policy_no, version=version, issued_on=issued_on, effective_on=effective_on,
        product_name=Bilingual(definition.names.zh, definition.names.en), product_id=product.id,
        product_version=str(product.version), product_digest=product.digest,
        policyholder=people["policyholder"], insured=people["insured"], beneficiaries=beneficiaries,
        schedule=schedule, terms=terms, exclusions=exclusions,
        verification_url=verification_url(public_url, policy_no=policy_no, version=version, key_id=key_id),
        supersedes_digest=supersedes)


def render(view: EPolicyView) -> bytes:
    return render_epolicy(view)


def view_json(view: EPolicyView) -> dict[str, Any]:
    """The view as JSON: what the issue event keeps so the PDF can be rendered again, byte for byte."""
    return {
        "policy_no": view.policy_no, "version": view.version, "issued_on": view.issued_on.isoformat(),
        "effective_on": view.effective_on.isoformat(), "product_name": [view.product_name.zh, view.product_name.en],
        "product_id": view.product_id, "product_version": view.product_version,
        "product_digest": view.product_digest, "policyholder": view.policyholder, "insured": view.insured,
        "beneficiaries": [[b.name, b.share] for b in view.beneficiaries],
        "schedule": [[row.label.zh, row.label.en, row.value] for row in view.schedule],
        "terms": [[t.zh, t.en] for t in view.terms], "exclusions": [[x.zh, x.en] for x in view.exclusions],
        "verification_url": view.verification_url, "supersedes_digest": view.supersedes_digest,
    }


def view_from_json(raw: dict[str, Any]) -> EPolicyView:
    return EPolicyView(
        policy_no=raw["policy_no"], version=raw["version"], issued_on=date.fromisoformat(raw["issued_on"]),
        effective_on=date.fromisoformat(raw["effective_on"]), product_name=Bilingual(*raw["product_name"]),
        product_id=raw["product_id"], product_version=raw["product_version"],
        product_digest=raw["product_digest"], policyholder=raw["policyholder"], insured=raw["insured"],
        beneficiaries=tuple(Beneficiary(name, share) for name, share in raw["beneficiaries"]),
        schedule=tuple(ScheduleRow(Bilingual(zh, en), value) for zh, en, value in raw["schedule"]),
        terms=tuple(Bilingual(zh, en) for zh, en in raw["terms"]),
        exclusions=tuple(Bilingual(zh, en) for zh, en in raw["exclusions"]),
        verification_url=raw["verification_url"], supersedes_digest=raw["supersedes_digest"])
