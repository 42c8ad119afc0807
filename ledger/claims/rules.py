"""The claim rules as data: document checklists, triage thresholds, automatic approval and its sample, clocks.

One TOML file (``products/claims/rules.toml``) read into frozen models and cited by id, version and ``digest``
(``sha256:`` of the RFC 8785 JSON of the validated rules, so comments and layout do not change it). ``triage`` and
``sampled`` are pure: the claims workflow runs them on its decide path and records what they returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from ledger.claims.clocks import ClockRules
from ledger.claims.model import CLAIM_TYPES
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.products.catalog import default_products_dir
from ledger.products.fields import Code, DecimalStr, Frozen, Id, Names, Positive, Text, parse_model, read_toml

__all__ = ["ClaimRules", "Document", "default_rules_path", "load_rules", "parse_rules"]


def default_rules_path(products_dir: Path | None = None) -> Path:
    """``<products_dir>/claims/rules.toml`` (default: the shipped ``products/``)."""
    return (products_dir or default_products_dir()) / "claims" / "rules.toml"


class Document(Frozen):
    code: Code
    zh: Text
    en: Text
    structured: bool = False  # a hospital's signed e-invoice event stands for the upload


class Triage(Frozen):
    fast_types: tuple[str, ...]
    small_claim_threshold: DecimalStr
    major_types: tuple[str, ...]
    major_threshold: DecimalStr
    auto_approve_threshold: DecimalStr
    sample_rate: DecimalStr
    sample_seed: Text

    @model_validator(mode="after")
    def _consistent(self) -> Triage:
        for name in ("fast_types", "major_types"):
            for index, kind in enumerate(getattr(self, name)):
                if kind not in CLAIM_TYPES:
                    raise ValueError(f"{name}[{index}]: not a claim type ({', '.join(CLAIM_TYPES)}), got {kind!r}")
        if not 0 <= self.sample_rate <= 1:
            raise ValueError(f"sample_rate: must be within [0, 1], got {self.sample_rate}")
        if self.auto_approve_threshold > self.small_claim_threshold:
            raise ValueError(f"auto_approve_threshold: must not exceed small_claim_threshold "
                             f"({self.small_claim_threshold}), got {self.auto_approve_threshold}")
        return self


class Clocks(Frozen):
    decision_days: Positive
    complex_decision_days: Positive
    escalate_day: Positive
    payment_days: Positive
    decline_notice_days: Positive
    advance_days: Positive
    fast_track_working_days: Positive
    due_soon_days: Annotated[int, Field(ge=0)]


class Limitation(Frozen):
    life_years: Positive
    other_years: Positive
    life_types: tuple[str, ...]


class Disability(Frozen):
    grade_shares: dict[str, DecimalStr]

    @model_validator(mode="after")
    def _grades(self) -> Disability:
        expected = {str(grade) for grade in range(1, 11)}
        if set(self.grade_shares) != expected:
            raise ValueError(f"grade_shares: must give grades 1 to 10, got {sorted(self.grade_shares)}")
        for grade, share in self.grade_shares.items():
            if not 0 < share <= 1:
                raise ValueError(f"grade_shares.{grade}: must be within (0, 1], got {share}")
        return self


class ClaimRules(Frozen):
    id: Id
    version: Positive
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    names: Names
    triage: Triage
    clocks: Clocks
    limitation: Limitation
    disability: Disability
    documents: tuple[Document, ...]
    checklists: dict[str, tuple[Code, ...]]

    @model_validator(mode="after")
    def _checklists(self) -> ClaimRules:
        codes = [document.code for document in self.documents]
        for index, code in enumerate(codes):
            if code in codes[:index]:
                raise ValueError(f"documents[{index}].code: {code!r} is declared twice")
        for kind in CLAIM_TYPES:
            if kind not in self.checklists:
                raise ValueError(f"checklists: no checklist for claim type {kind!r}")
        for kind, listed in self.checklists.items():
            if kind not in CLAIM_TYPES:
                raise ValueError(f"checklists.{kind}: not a claim type ({', '.join(CLAIM_TYPES)})")
            for index, code in enumerate(listed):
                if code not in codes:
                    raise ValueError(f"checklists.{kind}[{index}]: no such document, got {code!r}")
        return self

    @cached_property
    def digest(self) -> str:
        return digest_str(sha256(canonical_json(self.model_dump(mode="json"))))

    def cite(self) -> dict[str, Any]:
        """``{"id", "version", "digest"}``: what a claim records as the rules it was decided by."""
        return {"id": self.id, "version": self.version, "digest": self.digest}

    def document(self, code: str) -> Document:
        return next(document for document in self.documents if document.code == code)

    def checklist(self, claim_type: str) -> tuple[str, ...]:
        return self.checklists[claim_type]

    def structured(self) -> frozenset[str]:
        """The document codes a hospital's signed e-invoice stands for."""
        return frozenset(document.code for document in self.documents if document.structured)

    def clock_rules(self) -> ClockRules:
        c = self.clocks
        return ClockRules(decision_days=c.decision_days, complex_decision_days=c.complex_decision_days,
                          escalate_day=c.escalate_day, payment_days=c.payment_days,
                          decline_notice_days=c.decline_notice_days, advance_days=c.advance_days,
                          fast_track_working_days=c.fast_track_working_days, due_soon_days=c.due_soon_days)

    def shares(self) -> dict[int, Decimal]:
        return {int(grade): share for grade, share in self.disability.grade_shares.items()}

    def limitation_years(self, claim_type: str) -> int:
        return self.limitation.life_years if claim_type in self.limitation.life_types else self.limitation.other_years


def parse_rules(raw: Mapping[str, Any], *, source: str) -> ClaimRules:
    """``raw`` validated; raises ``ValidationFailed`` naming ``source``, the path and the value of the first
    problem (an unknown key, a claim type or document that does not exist, a share outside (0, 1], ...)."""
    return parse_model(ClaimRules, dict(raw), source=source)


def load_rules(path: str | Path | None = None) -> ClaimRules:
    """The rules in the TOML file at ``path`` (default: the shipped rules); raises ``ValidationFailed`` naming the
    file if it cannot be read or is wrong."""
    file = Path(path) if path is not None else default_rules_path()
    return parse_rules(read_toml(file, source=str(file)), source=str(file))
