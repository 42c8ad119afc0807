"""The claims fraud rules: versioned thresholds as data, and the pure check that turns a claim into explained flags.

The rules are one TOML file (``products/claims/fraud.toml``) read into frozen models and cited by id, version and
``digest`` (``sha256:`` of the RFC 8785 JSON of the validated rules). ``fraud_flags`` is pure: given the cover,
the claim, earlier claims, the policy's servicing changes, the diagnosis table, the amount and the moment of the
check, it returns one ``Flag`` per rule that fires. A flag never declines a claim: it recommends an action (pay,
pay and audit afterwards, investigate) and routes the claim while its statutory clocks keep running.

A flag's facts (``to_json``) hold no medical or identifying detail; what an investigator needs beyond the journal
indices (diagnosis groups, invoice numbers, hospital codes, other insureds) is in its ``personal`` part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from ledger.claims.diagnoses import DiagnosisTable
from ledger.claims.model import CLAIM_TYPES, Change, Claim, Cover, Invoice, Prior, merged_stays, stay_days
from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.money import round_cent
from ledger.products.catalog import default_products_dir
from ledger.products.fields import DecimalStr, Frozen, Id, Names, Positive, Text, parse_model, read_toml

__all__ = ["Action", "Flag", "FraudFile", "FraudRules", "Rule", "default_fraud_path", "fraud_flags"]

Action = Literal["pay", "pay_and_audit", "investigate"]
OperationCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
_DAY = timedelta(days=1)


def default_fraud_path(products_dir: Path | None = None) -> Path:
    """``<products_dir>/claims/fraud.toml`` (default: the shipped ``products/``)."""
    return (products_dir or default_products_dir()) / "claims" / "fraud.toml"


# -- the rules -----------------------------------------------------------------------------------------------

def _claim_type(value: str) -> str:
    if value not in CLAIM_TYPES:
        raise ValueError(f"not a claim type ({', '.join(CLAIM_TYPES)}), got {value!r}")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"must be > 0, got {value}")
    return value


ClaimType = Annotated[str, AfterValidator(_claim_type)]
PositiveDecimal = Annotated[DecimalStr, AfterValidator(_positive)]


class Rule(Frozen):
    """What every rule states: its recommended action, and whether it runs."""

    action: Action
    enabled: bool = True


class EarlyClaim(Rule):
    days: Positive
    serious_days: Positive
    serious_types: tuple[ClaimType, ...] = ()
    increase_operations: tuple[OperationCode, ...] = ()


class LargeAmount(Rule):
    min_amount: PositiveDecimal


class Frequency(Rule):
    window_days: Positive
    min_claims: Annotated[int, Field(ge=2)]


class SplitAdmission(Rule):
    days: Positive


class PhantomStay(Rule):
    average_daily_cost: PositiveDecimal
    daily_cost_multiple: PositiveDecimal
    max_cumulative_days: Positive
    cumulative_window_days: Positive


class Watchlist(Rule):
    hospitals: tuple[Text, ...] = ()


class ChangeBeforeDeath(Rule):
    days: Positive
    claim_types: Annotated[tuple[ClaimType, ...], Field(min_length=1)]
    operations: Annotated[tuple[OperationCode, ...], Field(min_length=1)]


class AccountChange(Rule):
    days: Positive
    operations: Annotated[tuple[OperationCode, ...], Field(min_length=1)]


class SharedAccount(Rule):
    min_other_insureds: Positive


class FraudFile(Frozen):
    """The rules as their file states them."""

    id: Id
    version: Positive
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    names: Names
    early_claim: EarlyClaim
    large_amount: LargeAmount
    frequency: Frequency
    duplicate_invoice: Rule
    split_admission: SplitAdmission
    length_of_stay: Rule
    phantom_stay: PhantomStay
    watchlist_hospital: Watchlist
    beneficiary_change_before_death: ChangeBeforeDeath
    account_change_before_payout: AccountChange
    shared_account: SharedAccount


@dataclass(frozen=True)
class FraudRules:
    """The validated rules and their digest."""

    definition: FraudFile
    digest: str

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, source: str) -> FraudRules:
        """``raw`` validated; raises ``ValidationFailed`` naming ``source``, the path and the value of the first
        problem (an unknown key or action, a missing rule, a window below one day, an unknown claim type, ...)."""
        definition = parse_model(FraudFile, dict(raw), source=source)
        return cls(definition=definition, digest=digest_str(sha256(canonical_json(definition.model_dump(mode="json")))))

    @classmethod
    def load(cls, path: str | Path | None = None) -> FraudRules:
        """The rules in the TOML file at ``path`` (default: the shipped rules). Raises ``ValidationFailed`` naming
        the file if it cannot be read or parsed, and as ``parse`` does if its content is wrong."""
        file = Path(path) if path is not None else default_fraud_path()
        return cls.parse(read_toml(file, source=str(file)), source=str(file))

    @property
    def version(self) -> dict[str, Any]:
        """``{"id", "version", "digest"}``: what each flag cites as the rules that raised it."""
        return {"id": self.definition.id, "version": self.definition.version, "digest": self.digest}


# -- flags ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Flag:
    """One explained finding: the rule, the rules' version, threshold, observation, evidence and recommendation.

    ``personal`` holds the details that identify or describe the insured's health (JSON-ready); the rest are
    facts. A flag routes a claim; it never declines one.
    """

    rule: str
    version: dict[str, Any]
    threshold: str
    observed: str
    evidence: tuple[int, ...]
    action: Action
    en: str
    zh: str
    personal: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The facts: everything but ``personal``."""
        return {"rule": self.rule, "version": dict(self.version), "threshold": self.threshold,
                "observed": self.observed, "evidence": list(self.evidence), "action": self.action,
                "en": self.en, "zh": self.zh}

    def personal_json(self) -> dict[str, Any]:
        """The personal part (to be sealed under the insured's key); empty when the flag has none."""
        return dict(self.personal)


@dataclass(frozen=True)
class _Input:
    rules: FraudRules
    cover: Cover
    claim: Claim
    prior: Sequence[Prior]
    changes: Sequence[Change]
    diagnoses: DiagnosisTable
    amount: Decimal
    now: datetime

    def flag(self, rule: str, section: Rule, *, threshold: str, observed: str, evidence: Sequence[int], en: str,
             zh: str, personal: dict[str, Any] | None = None) -> Flag:
        return Flag(rule=rule, version=self.rules.version, threshold=threshold, observed=observed,
                    evidence=tuple(sorted(set(evidence))), action=section.action, en=en, zh=zh,
                    personal=personal or {})

    def own_prior(self) -> list[Prior]:
        """Earlier claims of this claim's insured (not this claim)."""
        return [p for p in self.prior if p.insured == self.cover.insured and p.claim_id != self.claim.claim_id]

    def groups(self, invoice: Invoice) -> tuple[str, ...]:
        codes = invoice.diagnoses or self.claim.medical.diagnoses
        return tuple(group.code for group in self.diagnoses.groups_of(codes))


def _early_claim(i: _Input) -> Flag | None:
    r = i.rules.definition.early_claim
    window = r.serious_days if i.claim.claim_type in r.serious_types else r.days
    starts: list[tuple[date, str, str, tuple[int, ...]]] = [(i.cover.effective_date, "cover began", "生效", ())]
    if i.cover.reinstated_on is not None:
        starts.append((i.cover.reinstated_on, "the policy was reinstated", "复效", ()))
    starts += [(c.on.date(), "cover was added", "增加保障", (c.index,)) for c in i.changes
               if c.operation in r.increase_operations]
    near = sorted(((i.claim.loss_date - day).days, en, zh, ev) for day, en, zh, ev in starts
                  if 0 <= (i.claim.loss_date - day).days <= window)
    if not near:
        return None
    days, en, zh, evidence = near[0]
    return i.flag("EARLY-CLAIM", r, threshold=f"loss within {window} days", observed=f"{days} days after {en}",
                  evidence=evidence,
                  en=f"The loss happened {days} day(s) after {en} (this claim type is watched for {window} days); "
                     "a person checks whether the condition existed before.",
                  zh=f"出险日距保单{zh}仅{days}天（此类理赔关注{window}天内），需人工核实是否带病投保。")


def _large_amount(i: _Input) -> Flag | None:
    r = i.rules.definition.large_amount
    if i.amount < r.min_amount:
        return None
    currency = i.rules.definition.currency
    return i.flag("LARGE-AMOUNT", r, threshold=f">= {r.min_amount} {currency}", observed=f"{i.amount} {currency}",
                  evidence=(), en=f"The amount, {i.amount} {currency}, is at or above {r.min_amount} {currency}.",
                  zh=f"理赔金额{i.amount}元，达到大额标准{r.min_amount}元。")


def _frequency(i: _Input) -> Flag | None:
    r = i.rules.definition.frequency
    at = i.claim.reported_at
    recent = [p for p in i.own_prior() if p.reported_at <= at and (at - p.reported_at) // _DAY <= r.window_days]
    count = len(recent) + 1
    if count < r.min_claims:
        return None
    return i.flag("FREQUENCY", r, threshold=f">= {r.min_claims} claims in {r.window_days} days",
                  observed=f"{count} claims", evidence=[p.index for p in recent],
                  en=f"Counting this one, the insured reported {count} claims within {r.window_days} days "
                     f"({r.min_claims} or more are reviewed).",
                  zh=f"连同本次，被保险人{r.window_days}天内已报案{count}次（达到{r.min_claims}次即复核）。")


def _duplicate_invoice(i: _Input) -> Flag | None:
    r = i.rules.definition.duplicate_invoice
    hits = [(inv, p) for inv in i.claim.invoices for p in i.prior if p.claim_id != i.claim.claim_id and (
        (inv.invoice_no and inv.invoice_no in p.invoice_nos) or (inv.digest and inv.digest in p.digests))]
    if not hits:
        return None
    claims = sorted({p.claim_id for _, p in hits})
    return i.flag("DUPLICATE-INVOICE", r, threshold="an invoice number or document digest in another claim",
                  observed=f"{len({inv.index for inv, _ in hits})} invoice(s) also in claim(s) {', '.join(claims)}",
                  evidence=[inv.index for inv, _ in hits] + [p.index for _, p in hits],
                  en=f"An invoice of this claim was already submitted with claim(s) {', '.join(claims)}.",
                  zh=f"本案发票已在其他理赔案件（{'、'.join(claims)}）中提交过。",
                  personal={"invoices": sorted({inv.invoice_no or inv.digest for inv, _ in hits})})


def _split_admission(i: _Input) -> Flag | None:
    r = i.rules.definition.split_admission
    earlier: list[tuple[date, str, int]] = [(p.discharged, p.diagnosis_group, p.index) for p in i.own_prior()
                                            if p.discharged is not None and p.diagnosis_group]
    earlier += [(inv.discharged, group, inv.index) for inv in i.claim.invoices if inv.discharged is not None
                for group in i.groups(inv)]
    hits = [((inv.admitted - discharged).days, group, index, inv.index)  # gap, group, earlier, this invoice
            for inv in i.claim.invoices if inv.admitted is not None for discharged, group, index in earlier
            if group in i.groups(inv) and 0 <= (inv.admitted - discharged).days <= r.days and index != inv.index]
    if not hits:
        return None
    gap = min(hit[0] for hit in hits)
    return i.flag("SPLIT-ADMISSION", r, threshold=f"re-admission within {r.days} days for the same diagnosis group",
                  observed=f"re-admitted {gap} day(s) after a discharge",
                  evidence=[hit[2] for hit in hits] + [hit[3] for hit in hits],
                  en=f"The insured was admitted again {gap} day(s) after a discharge for the same diagnosis group "
                     f"(within {r.days} days); a person checks whether one stay was split into two.",
                  zh=f"被保险人出院后{gap}天内因同类诊断再次入院（{r.days}天内），需人工核实是否分解住院。",
                  personal={"groups": sorted({hit[1] for hit in hits})})


def _stays(invoices: Sequence[Invoice]) -> list[tuple[int, list[Invoice]]]:
    """The claim's hospital stays as the allowance counts them (bills that overlap or touch are one stay): each
    stay's days and its bills."""
    billed = [inv for inv in invoices if inv.admitted is not None and inv.discharged is not None]
    out = []
    for admitted, discharged in merged_stays((inv.admitted, inv.discharged) for inv in billed
                                             if inv.admitted is not None and inv.discharged is not None):
        bills = [inv for inv in billed if inv.admitted is not None and admitted <= inv.admitted <= discharged]
        out.append((stay_days(admitted, discharged), bills))
    return out


def _length_of_stay(i: _Input) -> Flag | None:
    r = i.rules.definition.length_of_stay
    hits: list[tuple[Decimal, int, list[Invoice], str]] = []  # days / mean, days, its bills, group
    for days, bills in _stays(i.claim.invoices):
        diagnoses = list(dict.fromkeys(d for inv in bills for d in (inv.diagnoses or i.claim.medical.diagnoses)))
        norms = [(g.stay.limit_days, g) for g in i.diagnoses.groups_of(diagnoses)]
        if not norms:
            continue
        limit, group = max(norms, key=lambda item: item[0])  # the most lenient of its diagnoses
        if days > limit:
            hits.append((days / group.stay.mean_days, days, bills, group.code))
    if not hits:
        return None
    ratio, days, _, _ = max(hits, key=lambda hit: hit[0])
    shown = ratio.quantize(Decimal("0.1"))
    return i.flag("LENGTH-OF-STAY", r, threshold="stay > the diagnosis group's far_multiple x mean stay",
                  observed=f"{days} days, {shown} x the mean",
                  evidence=[inv.index for hit in hits for inv in hit[2]],
                  en=f"A stay of {days} days is {shown} times the usual stay for its diagnosis, far above the norm.",
                  zh=f"住院{days}天，为该诊断平均住院日的{shown}倍，远超常规。",
                  personal={"groups": sorted({hit[3] for hit in hits})})


def _phantom_stay(i: _Input) -> Flag | None:
    r = i.rules.definition.phantom_stay
    stays = [inv for inv in i.claim.invoices if inv.days > 0]
    if not stays:
        return None
    limit = r.average_daily_cost * r.daily_cost_multiple
    costly = [inv for inv in stays if inv.total / inv.days > limit]
    since = i.claim.loss_date - timedelta(days=r.cumulative_window_days)
    earlier = [(p.index, max((p.discharged - p.admitted).days, 1)) for p in i.own_prior()
               if p.admitted is not None and p.discharged is not None and since <= p.admitted <= i.claim.loss_date]
    total_days = sum(days for days, _ in _stays(stays)) + sum(days for _, days in earlier)  # overlaps once
    if not costly and total_days <= r.max_cumulative_days:
        return None
    currency = i.rules.definition.currency
    daily = round_cent(max(inv.total / inv.days for inv in stays))
    evidence = [inv.index for inv in costly]
    if total_days > r.max_cumulative_days:
        evidence += [inv.index for inv in stays] + [index for index, _ in earlier]
    return i.flag("PHANTOM-STAY", r,
                  threshold=f"daily cost > {limit} {currency} ({r.daily_cost_multiple} x {r.average_daily_cost}) or "
                            f"> {r.max_cumulative_days} days in hospital within {r.cumulative_window_days} days",
                  observed=f"highest daily cost {daily} {currency}; {total_days} days in hospital",
                  evidence=evidence,
                  en=f"The stay cost up to {daily} {currency} a day (the local average is {r.average_daily_cost}) and "
                     f"the insured spent {total_days} days in hospital within {r.cumulative_window_days} days; a "
                     "person checks that the stay took place.",
                  zh=f"住院日均费用最高{daily}元（当地平均{r.average_daily_cost}元），{r.cumulative_window_days}天内"
                     f"累计住院{total_days}天，需人工核实是否挂床或虚假住院。")


def _watchlist(i: _Input) -> Flag | None:
    r = i.rules.definition.watchlist_hospital
    hits = [inv for inv in i.claim.invoices if inv.hospital in r.hospitals]
    if not hits:
        return None
    return i.flag("WATCHLIST-HOSPITAL", r, threshold="hospital on the watch list",
                  observed=f"{len(hits)} invoice(s) from a watched hospital", evidence=[inv.index for inv in hits],
                  en="An invoice of this claim comes from a hospital on the investigation unit's watch list.",
                  zh="本案发票出自反欺诈关注名单上的医院。",
                  personal={"hospitals": sorted({inv.hospital for inv in hits})})


def _change_before_death(i: _Input) -> Flag | None:
    r = i.rules.definition.beneficiary_change_before_death
    if i.claim.claim_type not in r.claim_types:
        return None
    hits = [((i.claim.loss_date - c.on.date()).days, c) for c in i.changes
            if c.operation in r.operations and (i.claim.loss_date - c.on.date()).days <= r.days]
    if not hits:
        return None
    days, change = min(hits, key=lambda hit: abs(hit[0]))
    when_en = f"{days} day(s) before the death" if days >= 0 else f"{-days} day(s) after the death"
    when_zh = f"身故前{days}天" if days >= 0 else f"身故后{-days}天"
    return i.flag("BENEFICIARY-CHANGE-BEFORE-DEATH", r, threshold=f"a change within {r.days} days before the death",
                  observed=f"{change.operation} {when_en}", evidence=[c.index for _, c in hits],
                  en=f"The beneficiaries or the policyholder were changed {when_en} (the rule looks at {r.days} "
                     "days); a claims investigator reviews it.",
                  zh=f"受益人或投保人于{when_zh}变更（关注{r.days}天内），需由理赔调查人员复核。")


def _account_change(i: _Input) -> Flag | None:
    r = i.rules.definition.account_change_before_payout
    hits = [((i.now - c.on) // _DAY, c) for c in i.changes
            if c.operation in r.operations and c.on <= i.now and (i.now - c.on) // _DAY <= r.days]
    if not hits:
        return None
    days = min(days for days, _ in hits)
    return i.flag("ACCOUNT-CHANGE-BEFORE-PAYOUT", r, threshold=f"an account change within {r.days} days",
                  observed=f"changed {days} day(s) ago", evidence=[c.index for _, c in hits],
                  en=f"The policy's payment or payout account was changed {days} day(s) before this payout (within "
                     f"{r.days} days); a person checks who will receive the money.",
                  zh=f"本保单的交费或领取账户在{days}天前刚变更（{r.days}天内），需人工核实收款人。")


def _shared_account(i: _Input) -> Flag | None:
    r = i.rules.definition.shared_account
    if not i.claim.account_digest:
        return None
    hits = [p for p in i.prior if p.account_digest == i.claim.account_digest and p.insured != i.cover.insured
            and p.claim_id != i.claim.claim_id and p.paid > 0]
    others = sorted({p.insured for p in hits})
    if len(others) < r.min_other_insureds:
        return None
    return i.flag("SHARED-ACCOUNT", r, threshold=f"payments for >= {r.min_other_insureds} other insureds",
                  observed=f"{len(others)} other insured(s)", evidence=[p.index for p in hits],
                  en=f"The payee's account already received claim payments for {len(others)} other insured(s); a "
                     "person checks who holds it.",
                  zh=f"收款账户已收取过其他{len(others)}位被保险人的理赔款，需人工核实账户归属。",
                  personal={"insureds": others})


_RULES: tuple[tuple[str, Callable[[_Input], Flag | None]], ...] = (
    ("early_claim", _early_claim), ("large_amount", _large_amount), ("frequency", _frequency),
    ("duplicate_invoice", _duplicate_invoice), ("split_admission", _split_admission),
    ("length_of_stay", _length_of_stay), ("phantom_stay", _phantom_stay), ("watchlist_hospital", _watchlist),
    ("beneficiary_change_before_death", _change_before_death),
    ("account_change_before_payout", _account_change), ("shared_account", _shared_account))


def _aware(moment: datetime, *, field: str) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationFailed(f"{field}: must be a timezone-aware datetime, got {moment!r}", field=field)


def fraud_flags(*, rules: FraudRules, cover: Cover, claim: Claim, prior: Sequence[Prior],
                changes: Sequence[Change], diagnoses: DiagnosisTable, amount: Decimal, now: datetime) -> list[Flag]:
    """The flags the enabled rules raise on ``claim``, in the rules' order (at most one per rule).

    Requires ``cover`` the claim's policy in ``rules.currency``; ``prior`` earlier claims as the read model holds
    them, of this insured and of others (duplicate invoices and shared accounts look across insureds; frequency,
    split admissions and cumulative stays read this insured's only); ``changes`` the policy's servicing changes;
    ``amount`` the benefit assessed; ``now`` (timezone-aware) the moment the check runs. A change's day is the
    date of its ``on`` in the offset it carries. Pure. Raises ``ValidationFailed`` for a naive ``now``,
    ``claim.reported_at``, earlier claim's ``reported_at`` or change's ``on``, and for a cover in another currency.
    """
    if cover.currency != rules.definition.currency:
        raise ValidationFailed(f"cover.currency: the fraud rules state amounts in {rules.definition.currency}, "
                               f"got {cover.currency!r}", field="cover.currency")
    for name, moment in [("now", now), ("claim.reported_at", claim.reported_at),
                         *((f"prior[{n}].reported_at", p.reported_at) for n, p in enumerate(prior)),
                         *((f"changes[{n}].on", c.on) for n, c in enumerate(changes))]:
        _aware(moment, field=name)
    given = _Input(rules=rules, cover=cover, claim=claim, prior=prior, changes=changes, diagnoses=diagnoses,
                   amount=amount, now=now)
    return [flag for name, check in _RULES if getattr(rules.definition, name).enabled
            for flag in (check(given),) if flag is not None]
