"""Correlation rules as data: patterns in a policy's servicing history that send a high-risk request to review.

The rules are one TOML file (``products/servicing/correlation.toml``) read into frozen models, versioned like the
servicing catalog and cited by id, version and ``digest`` (``sha256:`` of the RFC 8785 JSON of the validated rules,
so layout and comments do not change it). A rule is one of three generic shapes (``kind``): ``recent``, ``count``
and ``open_claim``; a new rule of one of these shapes is data, not code.

``evaluate`` is pure (it runs on the decide path): given the request's operation, the moment of the request, the
policy's earlier requests and its open claims, it returns one explained flag per rule that fires. A flag's action
is always ``review``: a person looks at the request; no rule refuses one.

Windows count whole elapsed days (24 hours each) and are inclusive: with ``days = 30``, an earlier request made
30 days and 23 hours before this one is inside the window, one made 31 days before is not. Elapsed days need no
time zone, so the evaluation is the same wherever it runs.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.products.catalog import default_products_dir
from ledger.products.fields import Code, Frozen, Id, Names, Positive, Text, parse_model, read_toml
from ledger.servicing.catalog import OperationCode

__all__ = ["CorrelationRule", "CorrelationRules", "CountRule", "OpenClaimRule", "Past", "RecentRule",
           "default_correlation_path", "evaluate", "load_correlation", "parse_correlation"]

Scope = Literal["servicing", "claims"]  # who tries the rule: the servicing hall, or the claims workflow
_DAY = timedelta(days=1)


def default_correlation_path(products_dir: Path | None = None) -> Path:
    """``<products_dir>/servicing/correlation.toml``; with no ``products_dir``, the shipped rules under the
    repository's ``products/``."""
    return (products_dir or default_products_dir()) / "servicing" / "correlation.toml"


# -- the rules -----------------------------------------------------------------------------------------------

def _refuse_empty_or_repeated(values: tuple[str, ...], *, path: str) -> None:
    if not values:
        raise ValueError(f"{path}: must name at least one, got []")
    for index, value in enumerate(values):
        if value in values[:index]:
            raise ValueError(f"{path}[{index}]: {value!r} is listed twice")


def _check_template(template: str, *, path: str, allowed: frozenset[str]) -> None:
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid template ({exc}), got {template!r}") from None
    for field in fields:
        if field not in allowed:
            raise ValueError(f"{path}: unknown placeholder {{{field}}}, use only "
                             f"{', '.join('{' + name + '}' for name in sorted(allowed))}; got {template!r}")


class _Rule(Frozen):
    code: Code  # the rule a flag names
    applies_to: Scope = "servicing"
    when: tuple[OperationCode, ...]  # servicing operations, or claim types for a claims rule
    zh: Text  # the reason in plain language, a template of the kind's placeholders
    en: Text
    action: Literal["review"] = "review"  # the only action: a person reviews; a rule never refuses

    placeholders: ClassVar[frozenset[str]] = frozenset({"count", "operation"})

    @model_validator(mode="after")
    def _consistent(self) -> _Rule:
        _refuse_empty_or_repeated(self.when, path="when")
        for field in ("zh", "en"):
            _check_template(getattr(self, field), path=field, allowed=self.placeholders)
        return self


class RecentRule(_Rule):
    """Fires on an operation in ``when`` if an earlier request whose operation is in ``prior`` was approved or
    completed within ``days`` before it."""

    kind: Literal["recent"]
    prior: tuple[OperationCode, ...]
    days: Positive

    placeholders: ClassVar[frozenset[str]] = frozenset({"count", "operation", "days", "days_since"})

    @model_validator(mode="after")
    def _prior(self) -> RecentRule:
        _refuse_empty_or_repeated(self.prior, path="prior")
        return self


class CountRule(_Rule):
    """Fires on an operation in ``when`` if at least ``min_count`` requests whose operation is in ``prior`` fall
    within ``days``, counting this request when its own operation is in ``prior``."""

    kind: Literal["count"]
    prior: tuple[OperationCode, ...]
    days: Positive
    min_count: Annotated[int, Field(ge=2)]

    placeholders: ClassVar[frozenset[str]] = frozenset({"count", "operation", "days", "days_since", "min_count"})

    @model_validator(mode="after")
    def _prior(self) -> CountRule:
        _refuse_empty_or_repeated(self.prior, path="prior")
        return self


class OpenClaimRule(_Rule):
    """Fires on an operation in ``when`` while a claim on the policy is open."""

    kind: Literal["open_claim"]


CorrelationRule = Annotated[RecentRule | CountRule | OpenClaimRule, Field(discriminator="kind")]


class CorrelationRules(Frozen):
    """Every correlation rule, in the file's order, with the rules' id, version and digest."""

    id: Id
    version: Positive
    names: Names
    rules: tuple[CorrelationRule, ...]

    @model_validator(mode="after")
    def _consistent(self) -> CorrelationRules:
        if not self.rules:
            raise ValueError("rules: must hold at least one rule, got []")
        for index, rule in enumerate(self.rules):
            if rule.code in {other.code for other in self.rules[:index]}:
                raise ValueError(f"rules[{index}].code: {rule.code!r} is already defined")
        return self

    @cached_property
    def digest(self) -> str:
        """``sha256:`` of the RFC 8785 JSON of the validated rules (defaults filled in)."""
        return digest_str(sha256(canonical_json(self.model_dump(mode="json"))))

    def citation(self) -> dict[str, Any]:
        """``{"id", "version", "digest"}``: what a flag cites as the rules it was raised by."""
        return {"id": self.id, "version": self.version, "digest": self.digest}

    def applying_to(self, scope: Scope) -> tuple[RecentRule | CountRule | OpenClaimRule, ...]:
        """The rules ``scope`` tries (``servicing`` or ``claims``), in the file's order."""
        return tuple(rule for rule in self.rules if rule.applies_to == scope)


def _check_operations(rules: CorrelationRules, operations: Collection[str], *, source: str) -> None:
    known = frozenset(operations)
    for index, rule in enumerate(rules.rules):
        keys = ("when", "prior") if rule.applies_to == "servicing" else ("prior",)  # claims: `when` is claim types
        for key in keys:
            values: tuple[str, ...] = getattr(rule, key, ())
            for position, code in enumerate(values):
                if code not in known:
                    path = f"rules[{index}].{key}[{position}]"
                    raise ValidationFailed(f"{source}: {path}: not an operation of the servicing catalog, got "
                                           f"{code!r}", field=path)


def parse_correlation(raw: Mapping[str, Any], *, source: str,
                      operations: Collection[str] | None = None) -> CorrelationRules:
    """``raw`` (rules as their file states them) validated.

    With ``operations`` (the servicing catalog's codes), every servicing operation a rule names must be one of them
    (a claims rule's ``when`` names claim types and is not checked). Raises ``ValidationFailed`` naming ``source``,
    the path and the value of the first problem: an unknown key or kind, ``days`` below 1, ``min_count`` below 2,
    an empty or repeated list entry, a repeated rule code, a placeholder the rule's kind does not have, an action
    other than ``review``, an operation not in ``operations``.
    """
    rules = parse_model(CorrelationRules, dict(raw), source=source)
    if operations is not None:
        _check_operations(rules, operations, source=source)
    return rules


def load_correlation(path: str | Path, operations: Collection[str] | None = None) -> CorrelationRules:
    """The rules in the TOML file at ``path``, checked against ``operations`` when given.

    Raises ``ValidationFailed`` naming the file if it cannot be read or parsed, and as ``parse_correlation`` does
    (naming the file, the path in it and the value) if its content is wrong.
    """
    file = Path(path)
    return parse_correlation(read_toml(file, source=str(file)), source=str(file), operations=operations)


# -- evaluation ----------------------------------------------------------------------------------------------

def _require_aware(moment: object, *, field: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationFailed(f"{field}: must be a timezone-aware datetime, got {moment!r}", field=field)
    return moment


@dataclass(frozen=True)
class Past:
    """One earlier request of the same policy: its id, its operation and when it was approved or completed
    (timezone-aware; a naive time raises ``ValidationFailed``)."""

    request_id: str
    operation: str
    at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.at, field="at")


@dataclass(frozen=True)
class _Observed:
    count: int
    days_since: int | None  # whole days back to the earliest request that counts (recent: the latest)
    evidence: tuple[str, ...]  # request ids, oldest first, or claim ids as given


def _within(history: Iterable[Past], *, prior: tuple[str, ...], now: datetime, days: int) -> list[tuple[int, Past]]:
    """(whole days ago, request) of each earlier request of ``prior`` at most ``days`` whole days before ``now``,
    oldest first; a request after ``now`` is not earlier and is left out."""
    found = [((now - past.at) // _DAY, past) for past in history if past.operation in prior and past.at <= now]
    return sorted(((ago, past) for ago, past in found if ago <= days),
                  key=lambda item: (item[1].at, item[1].request_id))


def _observe(rule: RecentRule | CountRule | OpenClaimRule, *, operation: str, now: datetime,
             history: Sequence[Past], open_claims: Sequence[str]) -> _Observed | None:
    if isinstance(rule, OpenClaimRule):
        if not open_claims:
            return None
        return _Observed(count=len(open_claims), days_since=None, evidence=tuple(open_claims))
    found = _within(history, prior=rule.prior, now=now, days=rule.days)
    evidence = tuple(past.request_id for _, past in found)
    if isinstance(rule, RecentRule):
        if not found:
            return None
        return _Observed(count=len(found), days_since=found[-1][0], evidence=evidence)
    count = len(found) + (1 if operation in rule.prior else 0)
    if count < rule.min_count:
        return None
    # min_count >= 2, so at least one earlier request was found
    return _Observed(count=count, days_since=found[0][0], evidence=evidence)


def _flag(rules: CorrelationRules, rule: RecentRule | CountRule | OpenClaimRule, *, operation: str,
          observed: _Observed) -> dict[str, Any]:
    days = rule.days if isinstance(rule, RecentRule | CountRule) else None
    min_count = rule.min_count if isinstance(rule, CountRule) else None
    values = {"count": observed.count, "operation": operation, "days": days, "days_since": observed.days_since,
              "min_count": min_count}
    return {
        "rule": rule.code,
        "rules": rules.citation(),
        "threshold": {"days": days, "min_count": min_count},
        "observed": {"count": observed.count, "days_since": observed.days_since, "operation": operation},
        "evidence": list(observed.evidence),
        "zh": rule.zh.format_map(values),
        "en": rule.en.format_map(values),
        "action": rule.action,
    }


def evaluate(rules: CorrelationRules, *, operation: str, now: datetime, history: Sequence[Past],
             open_claims: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The flags the servicing rules raise on a request for ``operation`` made at ``now``: one JSON-ready dict per
    rule that fires, in the file's order, each ``{"rule", "rules": {"id", "version", "digest"}, "threshold":
    {"days", "min_count"}, "observed": {"count", "days_since", "operation"}, "evidence", "zh", "en", "action"}``
    (a threshold the rule's kind does not have, and ``days_since`` of an open-claim flag, are None).

    Requires ``now`` timezone-aware; ``history`` the policy's earlier approved or completed requests, each request
    id once (requests after ``now`` are ignored); ``open_claims`` the ids of the policy's open claims. Rules for
    claims are not tried. Pure: reads no clock, storage or randomness. Raises ``ValidationFailed`` for a naive
    ``now``, a request id listed twice in ``history`` or ``open_claims`` given as one string.
    """
    _require_aware(now, field="now")
    if isinstance(open_claims, str):
        raise ValidationFailed(f"open_claims: must be a list of claim ids, got the string {open_claims!r}",
                               field="open_claims")
    seen: set[str] = set()
    for index, past in enumerate(history):
        if past.request_id in seen:
            raise ValidationFailed(f"history[{index}].request_id: {past.request_id!r} is listed twice",
                                   field=f"history[{index}].request_id")
        seen.add(past.request_id)
    flags: list[dict[str, Any]] = []
    for rule in rules.applying_to("servicing"):
        if operation not in rule.when:
            continue
        observed = _observe(rule, operation=operation, now=now, history=history, open_claims=open_claims)
        if observed is not None:
            flags.append(_flag(rules, rule, operation=operation, observed=observed))
    return flags
