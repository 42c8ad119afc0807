"""The claims first review: the policy checks a claim must pass, and the health-declaration answers it contradicts.

``first_review`` is pure. Each check is kept, passed or not, with the rule, the clause it applies, the inputs it
read (as strings) and a plain explanation in English and Chinese, so a decision can show every reason. A failed
check either blocks payment (cover not in force, waiting period, an exclusion, suicide within two years) or only
routes the claim to a person (nondisclosure, which may rescind the contract only within two years of formation).

The questionnaire is read through a structural type (``DeclarationForm``): the policies package's
``Questionnaire`` fits it, and the claims package need not import another resource package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from ledger.claims.diagnoses import DiagnosisTable
from ledger.claims.fraud import Flag
from ledger.claims.model import Claim, Cover, History
from ledger.clock import add_months
from ledger.errors import ValidationFailed
from ledger.products.catalog import Product
from ledger.products.coverages import Coverage, DailyAllowance, LumpSum, Reimbursement

__all__ = ["Check", "DeclarationForm", "Review", "StatutoryTerms", "first_review"]

_GROUPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "death": ("death", "accidental_death"), "critical_illness": ("severe", "moderate", "mild"),
    "disability": ("total_disability", "accidental_disability"),
    "accident": ("accidental_death", "accidental_disability")}


class _Text(Protocol):
    @property
    def zh(self) -> str: ...
    @property
    def en(self) -> str: ...


class _Question(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def text(self) -> _Text: ...


class DeclarationForm(Protocol):
    """What the review reads of a health questionnaire: its citation and its questions by id."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def digest(self) -> str: ...
    @property
    def by_id(self) -> Mapping[str, _Question]: ...


@dataclass(frozen=True)
class StatutoryTerms:
    """The statutory periods the review applies (PRC Insurance Law); the defaults are the law's."""

    contestable_years: int = 2  # IL 16: no rescission for nondisclosure after 2 years from formation
    rescind_days: int = 30  # IL 16: the right to rescind lapses 30 days after the insurer learns of the cause
    suicide_years: int = 2  # IL 44: from formation or reinstatement


@dataclass(frozen=True)
class Check:
    """One check of the first review, passed or not, explained. ``blocks``: a failure stops payment."""

    code: str
    passed: bool
    rule: str
    clause: str
    en: str
    zh: str
    inputs: dict[str, str] = field(default_factory=dict)
    blocks: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "passed": self.passed, "blocks": self.blocks, "rule": self.rule,
                "clause": self.clause, "en": self.en, "zh": self.zh, "inputs": dict(self.inputs)}


@dataclass(frozen=True)
class Review:
    """Every check of the first review and the nondisclosure flags it raised."""

    checks: tuple[Check, ...]
    flags: tuple[Flag, ...] = ()

    @property
    def declines(self) -> tuple[Check, ...]:
        """The failed checks that block payment."""
        return tuple(check for check in self.checks if not check.passed and check.blocks)

    @property
    def payable(self) -> bool:
        """No failed check blocks payment (flags only route the claim)."""
        return not self.declines

    def to_json(self) -> dict[str, Any]:
        """The facts: checks, flags' facts and the verdict (the flags' personal parts are left out)."""
        return {"checks": [check.to_json() for check in self.checks], "flags": [f.to_json() for f in self.flags],
                "payable": self.payable}


def _in_force(cover: Cover, claim: Claim) -> Check:
    loss = claim.loss_date
    inputs = {"loss_date": loss.isoformat(), "effective_date": cover.effective_date.isoformat(),
              "end_date": "" if cover.end_date is None else cover.end_date.isoformat(),
              "suspensions": ", ".join(f"{s.start}..{s.end or ''}" for s in cover.suspensions),
              "grace": "" if cover.grace is None else f"{cover.grace.start}..{cover.grace.end or ''}"}
    rule = "the loss must fall within the cover period and outside any suspension; grace counts as in force"

    def made(passed: bool, clause: str, en: str, zh: str) -> Check:
        return Check(code="IN-FORCE", passed=passed, rule=rule, clause=clause, en=en, zh=zh, inputs=inputs)

    if loss < cover.effective_date:
        return made(False, "policy terms", f"The loss on {loss} is before the cover began on {cover.effective_date}.",
                    f"出险日{loss}早于保单生效日{cover.effective_date}，不在保险期间内。")
    if cover.end_date is not None and loss >= cover.end_date:
        return made(False, "policy terms", f"The loss on {loss} is on or after the day the cover ended, "
                                           f"{cover.end_date}.",
                    f"出险日{loss}在保险合同终止日{cover.end_date}当日或之后，不在保险期间内。")
    for lapse in cover.suspensions:
        if lapse.contains(loss):
            until = f"to {lapse.end}" if lapse.end else "and still suspended"
            return made(False, "IL 37", f"The loss on {loss} falls while the policy was suspended (from "
                                        f"{lapse.start} {until}); a lapsed policy gives no cover (IL 37).",
                        f"出险日{loss}处于保单效力中止期间（自{lapse.start}起"
                        f"{f'至{lapse.end}' if lapse.end else '，尚未复效'}），效力中止期间发生的保险事故不予赔付。")
    if cover.grace is not None and cover.grace.contains(loss):
        return made(True, "IL 36", f"The loss on {loss} is in the grace period (from {cover.grace.start}): the "
                                   f"policy is in force; the unpaid premium, {cover.unpaid_premium}, is deducted "
                                   "from the benefit (IL 36).",
                    f"出险日{loss}处于宽限期内（自{cover.grace.start}起），保单有效；未交保险费"
                    f"{cover.unpaid_premium}元从保险金中扣除。")
    return made(True, "policy terms", f"The loss on {loss} is within the cover period, which began on "
                                      f"{cover.effective_date}.",
                f"出险日{loss}在保险期间内（{cover.effective_date}起）。")


def _claimed_coverages(product: Product, cover: Cover, claim_type: str) -> tuple[Coverage, ...]:
    """The coverages that could pay ``claim_type`` on this cover (every coverage when none matches)."""
    offered = tuple(c for c in product.definition.coverages if c.option is None or c.option in cover.options)
    groups = _GROUPS_BY_TYPE.get(claim_type, ())
    found = tuple(c for c in offered if (isinstance(c.benefit, LumpSum) and c.benefit.group in groups)
                  or (claim_type == "medical" and isinstance(c.benefit, Reimbursement))
                  or (claim_type == "hospital_allowance" and isinstance(c.benefit, DailyAllowance)))
    return found or offered


def _clock_start(cover: Cover, on: date) -> date:
    """When the waiting period and the suicide clock last started before ``on``: the effective date, or the latest
    reinstatement on or before ``on``. A loss before a lapse is judged by the contract as it stood then, not by a
    reinstatement that came after it."""
    backs = [lapse.end + timedelta(days=1) for lapse in cover.suspensions if lapse.end is not None]
    return max([cover.effective_date, *(back for back in (*backs, cover.reinstated_on) if back and back <= on)])


def _waiting_period(product: Product, cover: Cover, claim: Claim) -> Check:
    days = product.waiting_period_days
    covers = product.definition.waiting_period_covers
    start = _clock_start(cover, claim.loss_date)
    restarted = start != cover.effective_date
    ends = start + timedelta(days=days)
    coverages = _claimed_coverages(product, cover, claim.claim_type)
    inputs = {"waiting_period_days": str(days), "waiting_period_covers": covers, "cause": claim.cause,
              "start": start.isoformat(), "loss_date": claim.loss_date.isoformat(),
              "coverages": ", ".join(c.code for c in coverages)}
    clause = f"{product.id} v{product.version}: waiting_period_days"

    def made(passed: bool, en: str, zh: str) -> Check:
        return Check(code="WAITING-PERIOD", passed=passed, clause=clause, en=en, zh=zh, inputs=inputs,
                     rule="no illness benefit for a loss inside the waiting period from the effective date, "
                          "restarted on reinstatement; accidents exempt where the product says so")

    if days == 0:
        return made(True, "The product has no waiting period.", "本产品无等待期。")
    if claim.cause == "accident" and covers == "illness":
        return made(True, "The waiting period applies to illness only; an accident is covered from the first day.",
                    "等待期仅适用于疾病，意外事故自保单生效之日起即获保障。")
    if not any(c.waiting_period_applies for c in coverages):
        return made(True, "The benefits claimed have no waiting period.", "所申请的保险责任不设等待期。")
    since = "reinstatement" if restarted else "the effective date"
    if claim.loss_date >= ends:
        return made(True, f"The loss on {claim.loss_date} is after the {days}-day waiting period from {since} "
                          f"({start}), which ended on {ends}.",
                    f"出险日{claim.loss_date}在等待期（自{start}起{days}天，至{ends}止）届满之后。")
    return made(False, f"The loss on {claim.loss_date} falls within the {days}-day waiting period from {since} "
                       f"({start}, ends {ends}): the benefit is not payable; what is refunded follows the "
                       "product's waiting-period clause.",
                f"出险日{claim.loss_date}处于等待期内（自{'复效' if restarted else '生效'}日{start}起{days}天，"
                f"至{ends}止），不承担给付责任，按条款约定处理（如退还保险费）。")


def _exclusions(product: Product, cover: Cover, claim: Claim, diagnoses: DiagnosisTable) -> list[Check]:
    codes = [*claim.medical.diagnoses, *(code for inv in claim.invoices for code in inv.diagnoses)]
    underwriting = {e["code"]: e for e in cover.exclusions}
    clauses = {e.code: {"code": e.code, "zh": e.zh, "en": e.en} for e in product.definition.exclusions}
    hits: dict[str, tuple[str, Mapping[str, str]]] = {}  # code -> (source, exclusion)
    for group in diagnoses.groups_of(codes):
        for code in group.exclusions:
            if code in underwriting:
                hits.setdefault(code, ("underwriting", underwriting[code]))
    unmatched = []
    for code in claim.exclusion_facts:
        if code in clauses:
            hits.setdefault(code, ("product", clauses[code]))
        elif code in underwriting:
            hits.setdefault(code, ("underwriting", underwriting[code]))
        else:
            unmatched.append(code)
    rule = "no benefit for a loss an exclusion of the product or of the underwriting decision covers"
    inputs = {"underwriting_exclusions": ", ".join(underwriting), "exclusion_facts": ", ".join(claim.exclusion_facts)}
    if not hits:
        note = f" Facts that are not exclusions of this cover: {', '.join(unmatched)}." if unmatched else ""
        return [Check(code="EXCLUSION", passed=True, rule=rule, clause="exclusions", inputs=inputs,
                      en="No exclusion of the product or of the underwriting decision applies." + note,
                      zh="未触及产品条款或核保结论中的责任免除。")]
    checks = []
    for code, (source, exclusion) in hits.items():
        where_en = "set at underwriting on this policy" if source == "underwriting" else "of the product's clause"
        where_zh = "核保时对本保单约定的除外责任" if source == "underwriting" else "产品条款的责任免除"
        checks.append(Check(code="EXCLUSION", passed=False, rule=rule, clause=code,
                            inputs={**inputs, "exclusion": code, "source": source},
                            en=f"The claim falls under an exclusion {where_en} ({code}): {exclusion.get('en', '')}.",
                            zh=f"本案属于{where_zh}（{code}）：{exclusion.get('zh', '')}。"))
    return checks


def _suicide(cover: Cover, claim: Claim, terms: StatutoryTerms) -> Check:
    cause = claim.medical.death_cause or ""
    died = claim.medical.death_date or claim.loss_date
    start = _clock_start(cover, died)
    since_en, since_zh = ("reinstatement", "复效") if start != cover.effective_date else ("formation", "合同成立")
    until = add_months(start, 12 * terms.suicide_years)
    inputs = {"claim_type": claim.claim_type, "death_cause": cause, "death_date": died.isoformat(),
              "start": start.isoformat(), "until": until.isoformat()}
    rule = f"no death benefit for suicide within {terms.suicide_years} years of formation or reinstatement"

    def made(passed: bool, en: str, zh: str) -> Check:
        return Check(code="SUICIDE", passed=passed, rule=rule, clause="IL 44", en=en, zh=zh, inputs=inputs)

    if claim.claim_type != "death" or cause != "suicide":
        return made(True, "The claim is not for a death by suicide.", "本案不属于自杀身故。")
    if died >= until:
        return made(True, f"The suicide on {died} is more than {terms.suicide_years} years after {since_en} "
                          f"({start}); the death benefit is payable (IL 44).",
                    f"被保险人于{died}自杀，距{since_zh}之日（{start}）已满{terms.suicide_years}年，按约定给付（第44条）。")
    return made(False, f"The suicide on {died} is within {terms.suicide_years} years of {since_en} ({start}, until "
                       f"{until}): the death benefit is not payable and the cash value is refunded (IL 44), unless "
                       "the insured then lacked civil capacity, which a person confirms.",
                f"被保险人于{died}自杀，在{since_zh}之日（{start}）起{terms.suicide_years}年内：不承担给付保险金责任，"
                "按照合同约定退还现金价值（第44条）；自杀时为无民事行为能力人的除外，需人工确认。")


def _contradicting(question: str, history: Sequence[History], *, cover: Cover,
                   diagnoses: DiagnosisTable) -> list[tuple[History, str]]:
    """The conditions first diagnosed before the application that ``question`` asks about, with their groups."""
    window = diagnoses.window_days(question)
    found = []
    for item in history:
        group = diagnoses.group_of(item.code)
        if group is None or question not in group.questions or item.since >= cover.application_date:
            continue
        if window is None or item.since >= cover.application_date - timedelta(days=window):
            found.append((item, group.code))
    return found


def _nondisclosure_flag(question: _Question, found: list[tuple[History, str]], *, form: DeclarationForm,
                        cover: Cover, diagnoses: DiagnosisTable, contestable: bool, terms: StatutoryTerms) -> Flag:
    qid = question.id
    if contestable:
        en_tail = ("This does not by itself make the claim unpayable: a person reviews whether the fact was "
                   f"material and decides, within {terms.rescind_days} days of learning of it, whether to rescind "
                   "(IL 16).")
        zh_tail = (f"此项本身不影响赔付：由人工判断是否属于重要事实，并在知道之日起{terms.rescind_days}日内"
                   "决定是否解除合同（第16条）。")
    else:
        en_tail = (f"The contract was formed more than {terms.contestable_years} years ago and can no longer be "
                   "rescinded for nondisclosure (IL 16): this flag is for information only.")
        zh_tail = (f"合同成立已超过{terms.contestable_years}年，保险人不得以未如实告知解除合同（第16条），"
                   "本提示仅供参考。")
    return Flag(rule="NONDISCLOSURE", version=diagnoses.version,
                threshold=f"question {qid} answered no; a condition it asks about first diagnosed before the "
                          f"application on {cover.application_date}",
                observed=f"{len(found)} such condition(s) in the medical records",
                evidence=tuple(sorted({item.source_index for item, _ in found})),
                action="investigate" if contestable else "pay",
                en=f"The medical records show a condition that health-declaration question {qid} asks about, first "
                   f"diagnosed before the application, and the answer given was no. {en_tail}",
                zh=f"病历显示投保前已确诊健康告知问题{qid}所询问的疾病，而投保时回答为“否”。{zh_tail}",
                personal={"questionnaire": {"id": form.id, "version": form.version, "digest": form.digest},
                          "question": {"id": qid, "zh": question.text.zh, "en": question.text.en},
                          "answer": {"value": False, "zh": "否", "en": "no"},
                          "conditions": [{"code": item.code, "since": item.since.isoformat(), "group": group}
                                         for item, group in found]})


def _check_form(cover: Cover, declaration: Mapping[str, Any], questionnaire: DeclarationForm | None) -> None:
    if questionnaire is None:
        if declaration:
            raise ValidationFailed("questionnaire: the declaration's questionnaire is needed to read its answers",
                                   field="questionnaire")
        return
    held = cover.questionnaire.get("digest")
    if held and held != questionnaire.digest:
        raise ValidationFailed(f"questionnaire: the declaration was made on {cover.questionnaire.get('id')} "
                               f"v{cover.questionnaire.get('version')} ({held}), got {questionnaire.id} "
                               f"v{questionnaire.version} ({questionnaire.digest})", field="questionnaire")


def _declaration_checks(cover: Cover, claim: Claim, declaration: Mapping[str, Any],
                        questionnaire: DeclarationForm | None, diagnoses: DiagnosisTable, on: date,
                        terms: StatutoryTerms) -> tuple[list[Check], list[Flag]]:
    until = add_months(cover.effective_date, 12 * terms.contestable_years)
    contestable = on < until
    flags: list[Flag] = []
    if questionnaire is not None:
        for qid, answer in declaration.items():
            question = questionnaire.by_id.get(qid)
            if question is None or question.type != "yes_no" or answer is not False:
                continue
            found = _contradicting(qid, claim.medical.history, cover=cover, diagnoses=diagnoses)
            if found:
                flags.append(_nondisclosure_flag(question, found, form=questionnaire, cover=cover,
                                                 diagnoses=diagnoses, contestable=contestable, terms=terms))
    asked = "" if questionnaire is None else f"{questionnaire.id} v{questionnaire.version}"
    questions = ", ".join(f.personal["question"]["id"] for f in flags)
    nondisclosure = Check(
        code="NONDISCLOSURE", passed=not flags, blocks=False, clause="IL 16; SPC-II 6",
        rule="a condition known before the application and asked about must have been declared",
        inputs={"questionnaire": asked, "application_date": cover.application_date.isoformat(),
                "questions": questions},
        en=(f"The medical records contradict the 'no' given to question(s) {questions}; a person reviews it. This "
            "does not block payment by itself." if flags else
            "Nothing in the medical records contradicts an answer of the health declaration."),
        zh=(f"病历与健康告知问题{questions}的“否”答复不符，转人工审核；此项本身不阻止赔付。" if flags else
            "病历与健康告知的答复未见矛盾。"))
    inputs = {"effective_date": cover.effective_date.isoformat(), "contestable_until": until.isoformat(),
              "on": on.isoformat(), "nondisclosure_flags": str(len(flags))}
    years = terms.contestable_years
    if not contestable:
        en = (f"The contract was formed on {cover.effective_date}, more than {years} years ago: it can no longer be "
              "rescinded for nondisclosure (IL 16); a nondisclosure flag is for information only.")
        zh = (f"合同于{cover.effective_date}成立，已超过{years}年，保险人不得以未如实告知解除合同（第16条），"
              "相关提示仅供参考。")
    elif flags:
        en = (f"Within {years} years of formation (until {until}): the insurer may rescind for a material "
              f"nondisclosure within {terms.rescind_days} days of learning of it (IL 16); a person decides.")
        zh = (f"合同成立未满{years}年（至{until}）：如未告知事项足以影响承保，保险人可在知道之日起"
              f"{terms.rescind_days}日内解除合同（第16条），由人工决定。")
    else:
        en = f"Within {years} years of formation (until {until}), and no nondisclosure was found."
        zh = f"合同成立未满{years}年（至{until}），未发现未如实告知。"
    incontestability = Check(code="INCONTESTABILITY", passed=not (contestable and flags), blocks=False,
                             clause="IL 16", inputs=inputs, en=en, zh=zh,
                             rule=f"nondisclosure may rescind only within {years} years of formation")
    return [nondisclosure, incontestability], flags


def first_review(*, product: Product, cover: Cover, claim: Claim, declaration: Mapping[str, Any],
                 questionnaire: DeclarationForm | None, diagnoses: DiagnosisTable, on: date,
                 terms: StatutoryTerms | None = None) -> Review:
    """The first review of ``claim`` on ``cover`` as of business date ``on``.

    Requires ``product`` the version the cover was issued on, ``declaration`` the health answers given at
    application (question id -> answer; only a yes/no answer ``False`` can be contradicted), ``questionnaire``
    the questionnaire they answered (None only with no declaration), ``diagnoses`` the diagnosis table. Checks,
    in order: IN-FORCE, WAITING-PERIOD, EXCLUSION (one per exclusion that applies, or one passed), SUICIDE,
    NONDISCLOSURE, INCONTESTABILITY. Pure. Raises ``ValidationFailed`` for a product that is not the cover's, a
    questionnaire other than the one the cover cites, a declaration without its questionnaire, or a diagnosis
    that is not an ICD-10 code.
    """
    if (product.id, product.version) != (cover.product_id, cover.product_version):
        raise ValidationFailed(f"product: the cover is on {cover.product_id} v{cover.product_version}, got "
                               f"{product.id} v{product.version}", field="product")
    _check_form(cover, declaration, questionnaire)
    terms = terms or StatutoryTerms()
    checks = [_in_force(cover, claim), _waiting_period(product, cover, claim),
              *_exclusions(product, cover, claim, diagnoses), _suicide(cover, claim, terms)]
    declared, flags = _declaration_checks(cover, claim, declaration, questionnaire, diagnoses, on, terms)
    return Review(checks=(*checks, *declared), flags=tuple(flags))
