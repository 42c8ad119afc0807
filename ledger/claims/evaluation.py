"""The automatic part of a claim: benefit, first review, fraud flags, triage and automatic approval (pure).

Given what the journal says (the cover, the claim, earlier claims and watched changes, the health declaration)
and the versioned rule data, ``evaluate`` returns everything ``claim.assessed`` records. It never declines: a
failed check or a flag sends the claim to a person, who declines quoting the clause; only an approval is
automatic, and only for a small, clean, fast-track claim the review sample did not draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.claims.assessment import Assessment, assess
from ledger.claims.diagnoses import DiagnosisTable
from ledger.claims.fraud import Flag, FraudRules, fraud_flags
from ledger.claims.model import Change, Claim, Cover, Prior, Versions
from ledger.claims.review import DeclarationForm, Review, first_review
from ledger.claims.rules import ClaimRules
from ledger.log.encoding import sha256
from ledger.products.catalog import Product

__all__ = ["Evaluation", "evaluate", "sample_draw"]


@dataclass(frozen=True)
class Evaluation:
    assessment: Assessment
    review: Review
    flags: tuple[Flag, ...]
    track: str  # fast | standard | major
    automatic: dict[str, Any]  # eligible, sampled, draw, rate, seed, approved, why
    versions: Versions

    def review_json(self) -> dict[str, Any]:
        return {"payable": self.review.payable, "checks": [check.to_json() for check in self.review.checks]}


def sample_draw(seed: str, claim_id: str) -> Decimal:
    """The claim's place in [0, 1): ``sha256("<seed>:<claim id>")`` as a fraction of 2^256. Anyone holding the
    published seed and the claim id recomputes it; a claim is sampled when its draw is below the rate."""
    value = int.from_bytes(sha256(f"{seed}:{claim_id}".encode()), "big")
    return (Decimal(value) / Decimal(2 ** 256)).quantize(Decimal("0.000001"))


def evaluate(*, product: Product, cover: Cover, claim: Claim, prior: Sequence[Prior], changes: Sequence[Change],
             declaration: Mapping[str, Any], questionnaire: DeclarationForm | None, rules: ClaimRules,
             fraud: FraudRules, diagnoses: DiagnosisTable, today: date, now: datetime) -> Evaluation:
    """Assess ``claim`` on ``cover`` (see the module docstring); pure."""
    versions = Versions(product={"id": product.id, "version": product.version, "digest": product.digest},
                        rules=rules.cite(), fraud=fraud.version, diagnoses=diagnoses.version)
    assessment = assess(product=product, cover=cover, claim=claim, prior=prior, versions=versions,
                        disability_shares=rules.shares())
    review = first_review(product=product, cover=cover, claim=claim, declaration=declaration,
                          questionnaire=questionnaire, diagnoses=diagnoses, on=today)
    flags = (*review.flags, *fraud_flags(rules=fraud, cover=cover, claim=claim, prior=prior, changes=changes,
                                         diagnoses=diagnoses, amount=assessment.net, now=now))
    t = rules.triage
    net = assessment.net
    if claim.claim_type in t.major_types or net > t.major_threshold:
        track = "major"
    elif claim.claim_type in t.fast_types and net <= t.small_claim_threshold and not flags and review.payable:
        track = "fast"
    else:
        track = "standard"
    draw = sample_draw(t.sample_seed, claim.claim_id)
    eligible = track == "fast" and Decimal(0) < net <= t.auto_approve_threshold
    sampled = eligible and draw < t.sample_rate
    why = ("a small, clean fast-track claim: approved automatically" if eligible and not sampled else
           "drawn by the review sample: a reviewer checks it" if sampled else
           _not_automatic(track=track, net=net, payable=review.payable, flags=len(flags),
                          limit=t.auto_approve_threshold))
    automatic = {"eligible": eligible, "sampled": sampled, "approved": eligible and not sampled,
                 "draw": str(draw), "rate": str(t.sample_rate), "seed": t.sample_seed,
                 "threshold": str(t.auto_approve_threshold), "why": why}
    return Evaluation(assessment=assessment, review=review, flags=tuple(flags), track=track, automatic=automatic,
                      versions=versions)


def _not_automatic(*, track: str, net: Decimal, payable: bool, flags: int, limit: Decimal) -> str:
    if not payable:
        return "a first-review check failed: a person decides"
    if flags:
        return f"{flags} flag(s) raised: a person reviews the claim (the clocks keep running)"
    if track != "fast":
        return f"the {track} track: a person decides"
    if net <= 0:
        return "nothing is payable as assessed: a person decides"
    return f"above the automatic approval limit ({limit}): a reviewer approves"
