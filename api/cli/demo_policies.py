"""The policy demo: seeded customers apply, are underwritten, pay and live a policy year, all over the HTTP API."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.auth import Role, issue_token
from ledger.clock import FixedClock, add_months
from ledger.crypto.keys import SigningKey
from ledger.errors import LedgerError
from ledger.parties.identity import resident_id_check_char
from ledger.policies.rules import samples
from ledger.settings import Settings

T = TypeVar("T")
WORKERS = 4  # customers acting at once: enough to share the journal's group commits, few enough for 2 cores
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈姚卢"
GIVEN = {"M": ("伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "辉", "鹏", "浩", "建国", "志强",
               "海涛", "子轩", "浩然", "俊杰"),
         "F": ("芳", "娜", "秀英", "敏", "静", "丽", "艳", "娟", "霞", "秀兰", "燕", "玲", "桂英", "婷", "雪",
               "欣怡", "雨涵", "梓涵", "慧", "晓红")}
AREAS = ("110105", "310115", "440305", "510107", "330106", "420106", "320102", "610113", "500103", "370202")
PRODUCT_WEIGHTS = {"term-life": 30, "whole-life": 18, "critical-illness": 22, "medical": 15, "accident": 15}
RIDER_SHARE = 0.15  # customers who add a rider product to their base policy
# The named sample declarations and what the shipped rule set decides for each on term life.
SAMPLES: Mapping[str, Mapping[str, Any]] = {name: sample.answers for name, sample in samples.SAMPLES.items()
                                            if sample.occupation_class == 1}
# How often each is declared.
DECLARATIONS = {"clean": 50, "hypertension_controlled": 4, "prediabetes": 4, "thyroid_tirads_3_large": 3,
                "hbv_carrier": 3, "bp_high": 4, "diabetes": 3, "bmi_33": 4, "hazardous_pursuit": 5,
                "tumour_under_investigation": 3, "cancer": 3, "other_cover_3m": 4, "glucose_conflict": 3}
OVER_LIMIT_SHARE = 0.06  # sums insured over the product's automatic limit: referred to an underwriter
# The first applications show every outcome on term life (the samples' stated outcomes): (sample, over the limit).
SHOWCASE = (("clean", False), ("bp_high", False), ("hazardous_pursuit", False), ("tumour_under_investigation", False),
            ("cancer", False), ("other_cover_3m", False), ("clean", True))
OUTCOMES = ("standard", "rated", "exclusion", "postpone", "decline", "refer")
REASONS = {"accept": "risk acceptable on the declaration and the sum insured",
           "counter_offer": "cover offered with an extra premium for the declared condition",
           "request_evidence": "a recent medical examination report is needed",
           "decline": "the combined risk is beyond what we can cover"}
DONE = {"accept": "underwriter: accepted", "counter_offer": "underwriter: counter-offers",
        "request_evidence": "underwriter: evidence requested", "decline": "underwriter: declined"}
LIVE = ("FreeLook", "InForce", "Grace")
CLOCK_EVENTS = {"policy.notice.sent": "renewal and grace notices sent",  # the event types the clock records
                "policy.contract.grace_started": "grace periods started", "policy.contract.lapsed": "policies lapsed",
                "policy.contract.matured": "policies matured"}
# Premium modes as customers choose them, where the plan offers several: mostly annual (年交), some monthly.
FREQUENCY_WEIGHTS = {"annual": 60, "semiannual": 8, "quarterly": 8, "monthly": 24}
FAKE_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@dataclass(frozen=True, kw_only=True)
class Person:
    name: str
    id_number: str
    sex: str
    phone: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "id_number": self.id_number, "phone": self.phone}


@dataclass(frozen=True, kw_only=True)
class Customer:
    """A seeded customer: who they are, what they declare and how (in the application or step by step)."""

    party: str  # random per run: the same seed twice on one ledger makes new people, not clashing ids
    person: Person
    age: int
    answers: Mapping[str, Any]
    occupation_class: int
    beneficiaries: tuple[tuple[Person, int], ...]
    account: str
    stepwise: bool
    id_card: bytes  # the identity document they upload


@dataclass(kw_only=True)
class Case:
    """One application as the demo follows it, updated from each answer the API gives (a working record)."""

    customer: Customer
    product: str
    plan: dict[str, Any]
    declared: dict[str, Any] = field(default_factory=dict)
    application_id: str = ""
    status: str = ""
    outcome: str = ""
    policy_no: str = ""
    premium: str = ""
    next_due: str | None = None
    documents: tuple[str, ...] = ()  # digests of the e-policy versions
    evidence_given: bool = False
    stops_paying: int | None = None  # the month from which the customer pays no more renewals
    late_in: int | None = None  # the month whose renewal the customer pays a month late (in grace)
    reinstates: bool = False

    def follow(self, body: Mapping[str, Any]) -> None:
        self.application_id = body.get("application_id") or self.application_id
        self.status = body.get("status", self.status)
        self.policy_no = body.get("policy_no") or self.policy_no
        self.next_due = body.get("next_due", self.next_due)
        self.documents = tuple(doc["digest"] for doc in body.get("documents", ())) or self.documents
        premium = body.get("premium") or {}
        if premium.get("modal_premium"):
            self.premium = premium["modal_premium"]["amount"]


@dataclass(frozen=True, kw_only=True)
class Terms:
    """What a product offers, as ``GET /v1/products/{id}`` publishes it."""

    id: str
    kind: str
    rider: bool
    long_term: bool  # not one-year cover: a single premium is paid annually, once
    pays_on_death: bool  # a death benefit: the customer names beneficiaries
    ages: range
    max_expiry_age: int | None
    max_payment_end_age: int | None
    sum_min: Decimal
    sum_max: Decimal
    step: Decimal
    limit: Decimal
    terms: tuple[int | str, ...]
    payment_terms: tuple[int, ...]
    frequencies: tuple[str, ...]
    occupation_classes: tuple[int, ...]

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Terms:
        e, plans = p["eligibility"], p["plans"]
        deaths = [c for c in p["coverages"] if "death" in str(c.get("benefit", {}).get("group", ""))]
        return cls(id=p["id"], kind=p["kind"], rider=bool(p.get("rider")), long_term=tuple(plans["terms"]) != (1,),
                   pays_on_death=bool(deaths),
                   ages=range(e["issue_age_min"], e["issue_age_max"] + 1), max_expiry_age=e.get("max_expiry_age"),
                   max_payment_end_age=e.get("max_payment_end_age"),
                   sum_min=Decimal(e["sum_insured_min"]["amount"]), sum_max=Decimal(e["sum_insured_max"]["amount"]),
                   step=Decimal(e["sum_insured_step"]["amount"]), limit=Decimal(p["automatic_limit"]["amount"]),
                   terms=tuple(plans["terms"]), payment_terms=tuple(plans["payment_terms"]),
                   frequencies=tuple(plans["frequencies"]), occupation_classes=tuple(e["occupation_classes"]))

    def grid(self, age: int) -> list[tuple[int | str, int]]:
        """The (term, payment years) this product offers at issue age ``age``."""
        out: list[tuple[int | str, int]] = []
        for term in self.terms if age in self.ages else ():
            for years in self.payment_terms:
                expiry, paid_by = self.max_expiry_age, self.max_payment_end_age
                if isinstance(term, int) and (years > term or (expiry is not None and age + term > expiry)):
                    continue
                if paid_by is None or age + years <= paid_by:
                    out.append((term, years))
        return out

    def plan(self, rng: random.Random, age: int, *, over_limit: bool, renewing: bool = False) -> dict[str, Any]:
        """A plan for issue age ``age`` (one with a renewal schedule if ``renewing``), its sum insured up to the
        automatic limit or, ``over_limit``, above it."""
        grid = [g for g in self.grid(age) if not renewing or g[1] > 1] or self.grid(age)
        term, years = rng.choice(grid)
        choices = [f for f in self.frequencies if not renewing or f == "monthly"] or list(self.frequencies)
        frequency = "annual" if self.long_term and years == 1 else \
            rng.choices(choices, [FREQUENCY_WEIGHTS.get(f, 10) for f in choices])[0]
        low, high = (self.limit + self.step, self.sum_max) if over_limit else (self.sum_min,
                                                                               min(self.sum_max, self.limit))
        amounts = [self.sum_min + self.step * k for k in range(int((self.sum_max - self.sum_min) / self.step) + 1)]
        fits = [a for a in amounts if low <= a <= high]
        round_ = [a for a in fits if a % (self.step * 10) == 0] or fits
        return {"sum_insured": str(rng.choice(round_)), "term_years": None if term == "whole_life" else term,
                "payment_years": years, "frequency": frequency}


class Api:
    """The demo's HTTP client: a bearer token per role and subject, and a ``LedgerError`` naming the request and
    the problem detail for any status it did not expect. It sends no ``Idempotency-Key``: it never retries, and a
    kept answer costs the server two more commits per command."""

    def __init__(self, client: httpx.Client, *, key: SigningKey, issuer: str) -> None:
        self._client = client
        self._key = key
        self._issuer = issuer
        self._tokens: dict[tuple[Role, str], dict[str, str]] = {}

    def auth(self, role: Role, subject: str) -> dict[str, str]:
        if (role, subject) not in self._tokens:
            token = issue_token(self._key, subject=subject, role=role, issuer=self._issuer, ttl=4 * 3600)
            self._tokens[role, subject] = {"Authorization": f"Bearer {token}"}
        return self._tokens[role, subject]

    def call(self, method: str, path: str, *, who: tuple[Role, str] | None, what: str, json: Any = None,
             content: bytes | None = None, media: str | None = None, params: Mapping[str, Any] | None = None
             ) -> Any:
        """Send one request as ``who`` (None: anonymous) and return its JSON body; raises ``LedgerError``
        naming ``what``, the request and the problem detail for any status but 200 and 201."""
        headers = dict(self.auth(*who)) if who else {}
        if media:
            headers["Content-Type"] = media
        try:
            response = self._client.request(method, path, headers=headers, json=json, content=content,
                                            params=params)
        except httpx.HTTPError as exc:
            raise LedgerError(f"{what}: {method} {path} failed: {exc}") from exc
        if response.status_code not in (200, 201):
            try:
                problem = response.json()
                detail = str(problem.get("detail") or problem.get("title") or response.text)
                if problem.get("rule") and problem["rule"] not in detail:
                    detail += f" (rule {problem['rule']})"
            except ValueError:
                detail = response.text[:200] or response.reason_phrase
            raise LedgerError(f"{what}: {method} {path} answered HTTP {response.status_code}: {detail}")
        return response.json()


def person(rng: random.Random, *, today: date, age: int, sex: str) -> Person:
    """A person of ``age`` (last birthday) on ``today`` with a well-formed resident identity number."""
    latest = add_months(today, -12 * age)
    earliest = add_months(today, -12 * (age + 1)) + timedelta(days=1)
    birth = date.fromordinal(rng.randint(earliest.toordinal(), latest.toordinal()))
    serial = rng.randrange(100) * 10 + rng.choice((1, 3, 5, 7, 9) if sex == "M" else (0, 2, 4, 6, 8))
    first17 = f"{rng.choice(AREAS)}{birth:%Y%m%d}{serial:03d}"
    return Person(name=rng.choice(SURNAMES) + rng.choice(GIVEN[sex]), sex=sex,
                  id_number=first17 + resident_id_check_char(first17),
                  phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}")


def customer(rng: random.Random, *, today: date, sample: str, showcase: bool = False) -> Customer:
    """A seeded customer aged 20-60 declaring ``sample``, with a normal build of their own unless the sample is
    about the build; a ``showcase`` customer is one the samples describe (aged up to 45, occupation class 1)."""
    sex = rng.choice("MF")
    age = rng.randint(20, 45 if showcase else 60)
    occupation = 1 if showcase else rng.choices((1, 2, 3), (70, 20, 10))[0]
    answers = dict(SAMPLES[sample])
    if sample != "bmi_33":
        height = rng.randint(165, 188) if sex == "M" else rng.randint(152, 172)
        bmi = Decimal(rng.randint(190, 255)) / 10
        answers |= {"height_cm": height, "weight_kg": str((bmi * height * height / 10000).quantize(Decimal("0.1")))}
    beneficiaries: tuple[tuple[Person, int], ...] = ()
    if rng.random() < 0.5:
        shares = rng.choice(((100,), (50, 50), (60, 40)))
        beneficiaries = tuple((person(rng, today=today, age=rng.randint(1, 70), sex=rng.choice("MF")), share)
                              for share in shares)
    return Customer(party=f"P{uuid.uuid4().hex[:20].upper()}", person=person(rng, today=today, age=age, sex=sex),
                    age=age, answers=answers, occupation_class=occupation,
                    beneficiaries=beneficiaries, account=f"6222{rng.randrange(10**15):015d}",
                    stepwise=rng.random() < 0.35, id_card=FAKE_PNG + rng.randbytes(48))


def plan_cases(rng: random.Random, *, count: int, today: date, products: Mapping[str, Terms]) -> list[Case]:
    """``count`` customers and their applications: the showcase first (every outcome, the first customer paying
    monthly), then a seeded mix. Some customers add a rider to their base policy; the rider is applied for first,
    since the sums insured already with us count against each product's own automatic limit."""
    bases = [t for t in products.values() if not t.rider]
    riders = [t for t in products.values() if t.rider]
    names = [n for n in DECLARATIONS if n in SAMPLES]
    cases: list[Case] = []
    for n in range(count):
        showcase = n < len(SHOWCASE)
        sample, over = SHOWCASE[n] if showcase else (rng.choices(names, [DECLARATIONS[x] for x in names])[0],
                                                     rng.random() < OVER_LIMIT_SHARE)
        who = customer(rng, today=today, sample=sample, showcase=showcase)
        fits = [t for t in bases if t.grid(who.age) and who.occupation_class in t.occupation_classes
                and (not over or t.sum_max > t.limit)]
        if not fits:  # no product takes this customer over its automatic limit: within it, then
            over = False
            fits = [t for t in bases if t.grid(who.age) and who.occupation_class in t.occupation_classes]
        base = products["term-life"] if showcase else rng.choices(fits, [PRODUCT_WEIGHTS.get(t.id, 10)
                                                                         for t in fits])[0]
        for rider in riders:
            if rng.random() < RIDER_SHARE and rider.grid(who.age):
                cases.append(Case(customer=who, product=rider.id, plan=rider.plan(rng, who.age, over_limit=False)))
        cases.append(Case(customer=who, product=base.id,
                          plan=base.plan(rng, who.age, over_limit=over, renewing=n == 0)))
    return cases


def answer_for(question: Mapping[str, Any], declared: Mapping[str, Any]) -> Any:
    """The customer's answer to ``question``: what they declare, else nothing to declare (no, the first option or
    the lowest value) for a question their declaration does not cover."""
    if question["id"] in declared:
        return declared[question["id"]]
    kind = question.get("type")
    if kind == "yes_no":
        return False
    if kind == "choice":
        return question["options"][0]["value"]
    return question.get("min", 0) if kind == "number" else str(question.get("min", "0"))


class PolicyDemo:
    """Steps 1-4 of the demo (apply, underwrite, offers, first premiums), cancellations and the clock's year."""

    def __init__(self, api: Api, *, rng: random.Random, now: Callable[[], datetime], bar: Progress,
                 payments: str) -> None:
        self.api = api
        self.payments = payments  # the system whose tokens confirm payments
        self.rng = rng
        self.now = now
        self.bar = bar
        self.tally: Counter[str] = Counter()
        self.cases: list[Case] = []
        self.products: dict[str, Terms] = {}
        self._uploads: dict[str, str] = {}
        self._lock = threading.Lock()

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.tally[what] += n

    def each(self, description: str, items: Sequence[T], work: Callable[[T], object]) -> None:
        """Run ``work`` on every item, a few at a time (independent customers act at once, as they would), and
        advance a progress bar; the first failure stops the rest and is raised. Every random choice is drawn
        before, on this thread, so a seed gives the same demo whatever order the requests finish in."""
        task = self.bar.add_task(description, total=len(items))
        pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="demo")
        try:
            for _ in pool.map(work, items):
                self.bar.advance(task)
        finally:
            pool.shutdown(cancel_futures=True)

    def read_products(self) -> dict[str, Terms]:
        listed = self.api.call("GET", "/v1/products", who=None, what="listing the products")
        self.products = {p["id"]: Terms.from_json(self.api.call("GET", f"/v1/products/{p['id']}", who=None,
                                                                what=f"reading product {p['id']}"))
                         for p in listed}
        return self.products

    def apply_all(self, cases: list[Case]) -> None:
        """Quote, upload an identity document and apply for every case, declaring in the application or step by
        step through the questionnaire."""
        self.cases = list(cases)
        by_customer: dict[str, list[Case]] = {}
        for case in cases:  # a customer's own applications go in one after the other, in order
            by_customer.setdefault(case.customer.party, []).append(case)
        task = self.bar.add_task("identity cards", total=len(by_customer))
        for mine in by_customer.values():  # one at a time: see _upload
            self._uploads[mine[0].customer.party] = self._upload(mine[0].customer, mine[0].customer.id_card,
                                                                 media="image/png", what="an identity card")
            self.bar.advance(task)

        def apply_in_order(mine: list[Case]) -> None:
            for case in mine:
                self.apply(case)

        self.each("applying", list(by_customer.values()), apply_in_order)
        self.tally["customers"], self.tally["applications"] = len(by_customer), len(cases)

    def apply(self, case: Case) -> None:
        c = case.customer
        me = (Role.CUSTOMER, c.party)
        self.api.call("POST", "/v1/quotes", who=None, what=f"quoting {case.product} for {c.party}", json={
            "product_id": case.product, "plan": case.plan, "age": c.age, "sex": c.person.sex,
            "occupation_class": c.occupation_class})
        named = self.products[case.product].pays_on_death
        body = self.api.call("POST", "/v1/applications", who=me, what=f"applying for {case.product} as {c.party}",
                             json={"product_id": case.product, "plan": case.plan, "policyholder": c.person.to_json(),
                                   "beneficiaries": [{"person": p.to_json(), "share": str(share)}
                                                     for p, share in c.beneficiaries] if named else [],
                                   "occupation_class": c.occupation_class, "payment_account": c.account,
                                   "identity_documents": [self._uploads[c.party]],
                                   "consent": {"terms_read": True, "insured_consents": True},
                                   "answers": {} if c.stepwise else dict(c.answers)})
        case.declared = {} if c.stepwise else dict(c.answers)
        case.follow(body)
        if case.status == "awaiting_declaration":
            body = self.declare(case)
        self.count("declared step by step" if c.stepwise else "declared in the application")
        case.outcome = body["underwriting"]["outcome"]
        self.count(f"outcome: {case.outcome}")

    def declare(self, case: Case) -> dict[str, Any]:
        """Answer the questionnaire a few questions at a time, only what ``GET .../questionnaire`` asks."""
        me = (Role.CUSTOMER, case.customer.party)
        path = f"/v1/applications/{case.application_id}/questionnaire"
        for _ in range(100):
            asked = self.api.call("GET", path, who=me, what=f"reading the questionnaire of {case.application_id}")
            if asked["complete"] or not asked["questions"]:
                raise LedgerError(f"{path} asks nothing more but the application is {case.status!r}")
            answers = {q["id"]: answer_for(q, case.customer.answers) for q in asked["questions"][:10]}
            case.declared |= answers
            body: dict[str, Any] = self.api.call("POST", path, who=me, json={"answers": answers},
                                                 what=f"answering the questionnaire of {case.application_id}")
            self.count("questionnaire steps")
            case.follow(body)
            if body["declaration_complete"]:
                return body
        raise LedgerError(f"the questionnaire of {case.application_id} still asks questions after 100 rounds")

    def underwrite(self) -> None:
        """Underwriters work the queue: accept most, counter-offer some, decline or ask for evidence for a few;
        asked customers upload a report and the underwriter decides again."""
        mine = {case.application_id: case for case in self.cases}
        order = {case.application_id: n for n, case in enumerate(self.cases)}  # not the queue's submission order,
        # which follows how concurrent applications happened to finish: the seed decides the rest
        referred = [case for case in self.cases if case.status == "referred"]
        self.rng.shuffle(referred)
        n = len(referred)
        evidence, decline = (max(1, round(n * 0.12)) if n >= 3 else 0), (max(1, round(n * 0.1)) if n >= 4 else 0)
        counter = max(1, round(n * 0.2)) if n >= 2 else 0
        actions = ["request_evidence"] * evidence + ["decline"] * decline + ["counter_offer"] * counter
        plan = {case.application_id: action for case, action in zip(referred, actions, strict=False)}
        task = self.bar.add_task("underwriting", total=n + evidence)
        underwriters = ("UW-ZHOU", "UW-CHEN")
        for _ in range(10):
            queue = self.api.call("GET", "/v1/underwriting/queue", who=(Role.UNDERWRITER, underwriters[0]),
                                  params={"limit": 1000}, what="reading the underwriting queue")
            rows = sorted((row for row in queue if row["application_id"] in mine),
                          key=lambda row: order[row["application_id"]])
            if not rows:
                return
            for row in rows:
                case = mine[row["application_id"]]
                if row["status"] == "evidence_requested":
                    self.provide_evidence(case)
                    continue
                action = plan.pop(case.application_id, "accept")
                if case.evidence_given:
                    action = self.rng.choice(("accept", "counter_offer"))
                self.decide(case, action, underwriter=self.rng.choice(underwriters))
                self.bar.advance(task)
        raise LedgerError("the underwriting queue still holds the demo's applications after 10 rounds")

    def _upload(self, who: Customer, data: bytes, *, media: str, what: str) -> str:
        """Upload ``data`` (made unique to ``who``) as ``who`` and return its digest.

        Uploads are sent while no other request of the demo is in flight: with SQLite, the server stores an
        upload in a transaction that reads before it writes, and a journal commit landing in between makes it
        answer 503 ("database is locked").
        """
        return str(self.api.call("POST", "/v1/uploads", who=(Role.CUSTOMER, who.party), content=data +
                                 who.party.encode(), media=media, what=f"uploading {what} of {who.party}")["digest"])

    def decide(self, case: Case, action: str, *, underwriter: str) -> None:
        body: dict[str, Any] = {"action": action, "reason": REASONS[action]}
        if action == "counter_offer":
            body["extra_premium_pct"] = str(self.rng.choice((25, 50, 75)))
        if action == "request_evidence":
            body["evidence"] = "medical examination report (blood pressure, fasting glucose, liver function)"
        case.follow(self.api.call("POST", f"/v1/applications/{case.application_id}/decision", json=body,
                                  who=(Role.UNDERWRITER, underwriter), what=f"{action} on {case.application_id}"))
        self.count(DONE[action])

    def provide_evidence(self, case: Case) -> None:
        report = b"%PDF-1.4\n% medical examination report\n" + self.rng.randbytes(64) + case.application_id.encode()
        digest = self._upload(case.customer, report, media="application/pdf", what="a medical report")
        case.follow(self.api.call("POST", f"/v1/applications/{case.application_id}/evidence",
                                  who=(Role.CUSTOMER, case.customer.party), json={"documents": [digest]},
                                  what=f"providing evidence for {case.application_id}"))
        case.evidence_given = True
        self.count("customers: evidence provided")

    def answer_offers(self) -> None:
        """Customers accept most offers on changed terms (rated, exclusion, counter-offers) and refuse a few."""
        offered = [case for case in self.cases if case.status == "offered"]
        refusing = {id(c) for c in self.rng.sample(offered, max(1, round(len(offered) * 0.12)))} \
            if len(offered) >= 2 else set()

        def answer(case: Case) -> None:
            accept = id(case) not in refusing
            case.follow(self.api.call(
                "POST", f"/v1/applications/{case.application_id}/offer", who=(Role.CUSTOMER, case.customer.party),
                json={"accept": accept, "reason": "" if accept else "the extra premium is too high"},
                what=f"answering the offer on {case.application_id}"))
            self.count("offers accepted" if accept else "offers refused")

        self.each("answering offers", offered, answer)

    def pay(self, case: Case, amount: str, *, what: str, first: bool = False) -> dict[str, Any]:
        """Confirm one payment as the payments system; returns the answer (``outcome``: applied or parked, and
        the ``policy`` as it left it)."""
        target = {"application_id": case.application_id} if first else {"policy_no": case.policy_no}
        body: dict[str, Any] = self.api.call("POST", "/v1/payments", who=(Role.SYSTEM, self.payments), json={
            **target, "amount": amount, "currency": "CNY", "payment_ref": f"PAY-{uuid.uuid4().hex[:16].upper()}",
            "paid_at": self.now().strftime("%Y-%m-%dT%H:%M:%SZ")}, what=what)
        case.follow(body["policy"])
        self.count(f"payments {body['outcome']}")
        return body

    def first_premiums(self) -> None:
        """Pay the first premium of every accepted application, which issues it (a couple of payments are
        deliberately wrong first: they must be parked)."""
        accepted = [case for case in self.cases if case.status == "accepted"]
        wrong = {id(c) for c in self.rng.sample(accepted, min(len(accepted), 2 if len(accepted) >= 5 else 1))}

        def first(case: Case) -> None:
            if id(case) in wrong:
                off = str(Decimal(case.premium) + 10)
                if self.pay(case, off, what=f"paying {off} on {case.application_id}", first=True)["outcome"] \
                        != "parked":
                    raise LedgerError(f"a wrong first premium of {off} on {case.application_id} was not parked")
            self.pay(case, case.premium, what=f"paying the first premium of {case.application_id}", first=True)
            if not case.policy_no:
                raise LedgerError(f"{case.application_id} was paid but not issued (status {case.status!r})")
            self.count("policies issued")

        self.each("first premiums", accepted, first)

    def cancel_some(self) -> None:
        """One or two customers change their minds within the free-look period."""
        free = [case for case in self.cases if case.status == "FreeLook" and case.stops_paying is None
                and case.late_in is None]
        for case in self.rng.sample(free, min(len(free), 1 if len(self.cases) < 50 else 2)):
            case.follow(self.api.call("POST", f"/v1/policies/{case.policy_no}/cancel", json={"reason": "free_look"},
                                      who=(Role.CUSTOMER, case.customer.party),
                                      what=f"cancelling {case.policy_no} in the free-look period"))
            self.count("cancelled in free look")

    def plan_year(self) -> None:
        """Choose who stops paying (and lapses), who pays one renewal late (in grace) and which of those who
        lapse ask to be reinstated (those whose own declaration was accepted at standard rates first)."""
        renewing = [case for case in self.cases if case.status in LIVE and case.plan["frequency"] != "annual"]
        self.rng.shuffle(renewing)
        stop = max(1, round(len(renewing) * 0.1)) if renewing else 0
        late = max(1, round(len(renewing) * 0.08)) if len(renewing) >= 3 else 0
        for case in renewing[:stop]:
            case.stops_paying = self.rng.randint(1, 5)  # a due day is missed by month 6: lapsed by month 9
        for case in sorted(renewing[:stop], key=lambda c: c.outcome != "standard")[:(stop + 1) // 2]:
            case.reinstates = True
        for case in renewing[stop:stop + late]:
            case.late_in = self.rng.randint(1, 8)

    def month(self, m: int, *, horizon: date) -> None:
        """Month ``m`` of the year (the clock has run to its first day): customers pay every renewal due before
        ``horizon`` (the next month's first day) unless they stopped or pay late this month; lapsed ones who want
        to ask for reinstatement."""

        def act(case: Case) -> None:
            stopped = case.stops_paying is not None and m >= case.stops_paying
            me = (Role.CUSTOMER, case.customer.party)
            view = self.api.call("GET", f"/v1/policies/{case.policy_no}", who=me, what=f"reading {case.policy_no}")
            case.follow(view)
            if case.status == "Suspended" and case.reinstates:
                reinstated = self.reinstate(case)
                if reinstated is None:
                    return
                view, stopped = reinstated, False  # back in force: they pay again what falls due
            while not stopped and view["status"] in LIVE and view["next_due"] and \
                    date.fromisoformat(view["next_due"]) < horizon:
                view = self.pay(case, case.premium,
                                what=f"paying the renewal of {case.policy_no} due {view['next_due']}")["policy"]

        def due(case: Case) -> bool:  # from what the customer knows since the last answer
            if case.stops_paying is not None and m >= case.stops_paying:
                return case.reinstates  # they watch their policy, to ask for reinstatement once it lapses
            return case.late_in != m and case.next_due is not None and date.fromisoformat(case.next_due) < horizon

        self.each(f"month {m:>2}", [c for c in self.cases if c.policy_no and c.status in (*LIVE, "Suspended")
                                     and due(c)], act)

    def reinstate(self, case: Case) -> dict[str, Any] | None:
        """Ask to reinstate with a new declaration (the customer's own); pay the premiums overdue plus interest
        if accepted. Returns the policy as the payment left it, or None if reinstatement was refused."""
        body = self.api.call("POST", f"/v1/policies/{case.policy_no}/reinstatement",
                             who=(Role.CUSTOMER, case.customer.party), json={"answers": case.declared},
                             what=f"asking to reinstate {case.policy_no}")
        case.reinstates = False
        if not body.get("reinstatement"):
            self.count("reinstatements refused")
            return None
        total = body["reinstatement"]["total"]["amount"]
        answer = self.pay(case, total, what=f"paying the reinstatement of {case.policy_no}")
        if answer["outcome"] != "applied":
            raise LedgerError(f"the reinstatement payment of {total} on {case.policy_no} was parked")
        case.stops_paying = None
        self.count("reinstated")
        return answer["policy"]  # type: ignore[no-any-return]

    def count_documents(self) -> None:
        """Ask the public document registry about every e-policy version issued (no token: anyone can check a
        digest); count those it knows (genuine, superseded or revoked)."""

        def check(digest: str) -> None:
            known = self.api.call("GET", f"/v1/documents/{digest}", who=None, what=f"checking e-policy {digest}")
            self.count("e-policies registered", known["status"] != "unknown")

        self.each("e-policies", [digest for case in self.cases for digest in case.documents], check)

ROWS = ("customers", "applications", "declared in the application", "declared step by step", "questionnaire steps",
        *(f"outcome: {o}" for o in OUTCOMES), *DONE.values(), "customers: evidence provided", "offers accepted",
        "offers refused", "policies issued", "e-policies registered", "payments applied", "payments parked",
        "cancelled in free look")
YEAR_ROWS = (*CLOCK_EVENTS.values(), "reinstated", "reinstatements refused")


def summary(tally: Mapping[str, int], *, seconds: float, year: bool) -> Table:
    """The table printed at the end: every count, the clock's year (or a dash where it did not run) and the
    time taken."""
    table = Table(title="policy demo", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for row in ROWS:
        table.add_row(row, str(tally.get(row, 0)))
    for row in YEAR_ROWS:
        table.add_row(row, str(tally.get(row, 0)) if year else "-")
    table.add_row("time taken", f"{seconds:.1f} s")
    return table


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    with Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        yield bar


def _steps(demo: PolicyDemo, *, count: int, today: date) -> None:
    products = demo.read_products()
    if "term-life" not in products:
        raise LedgerError("the catalog has no term-life product, which the demo's first applications need")
    demo.apply_all(plan_cases(demo.rng, count=count, today=today, products=products))
    demo.underwrite()
    demo.answer_offers()
    demo.first_premiums()
    demo.plan_year()


def run_policy_demo(settings: Settings, *, policies: int, seed: int, url: str | None, console: Console,
                    progress: Console) -> Counter[str]:
    """Run the policy demo for ``policies`` customers (choices seeded by ``seed``), print its summary table on
    ``console`` (the progress bars go to ``progress``) and return the counts.

    With ``url`` it drives that server: steps 1-4 and free-look cancellations, with tokens signed by the token key
    of ``settings.data_dir``. Without it, it opens the ledger of ``settings.data_dir`` (made if missing) on a
    fixed clock, serves the app in-process and moves the clock month by month through a year (``_in_process``).
    Raises ``LedgerError`` naming the request and the problem for any answer the demo did not expect.
    """
    started = time.monotonic()
    rng = random.Random(seed)
    if url is None:
        demo = _in_process(settings, policies=policies, rng=rng, progress=progress)
        console.print(summary(demo.tally, seconds=time.monotonic() - started, year=True))
        return demo.tally
    from zoneinfo import ZoneInfo

    from ledger.app import token_key

    key = token_key(settings)
    with httpx.Client(base_url=url, timeout=60) as client, _progress(progress) as bar:
        demo = PolicyDemo(Api(client, key=key, issuer=settings.jwt_issuer), rng=rng, bar=bar,
                          now=lambda: datetime.now(UTC), payments=settings.payment_systems[0])
        demo.api.call("GET", "/healthz", who=None, what=f"asking {url} whether a lifeledger answers")
        _steps(demo, count=policies, today=datetime.now(ZoneInfo(settings.time_zone)).date())
        demo.cancel_some()
        demo.count_documents()
    console.print(summary(demo.tally, seconds=time.monotonic() - started, year=False))
    console.print("the clock's year (renewals, notices, grace, lapse, reinstatement) needs the in-process mode: "
                  "run without --url", highlight=False)
    return demo.tally


def _in_process(settings: Settings, *, policies: int, rng: random.Random, progress: Console) -> PolicyDemo:
    """The demo on the ledger of ``settings.data_dir`` with a clock standing at now, served in-process by
    Starlette's ``TestClient``: real HTTP requests and answers through the whole app (routing, auth, problem
    details, the ledger's own threads) without a socket or a second process, so the demo can move the clock the
    app reads. Runs steps 1-4, cancels in the free-look period on day 10, then each month runs the policy clock up
    to that day and lets the customers act; cuts a checkpoint before closing, so `verify` covers everything."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.app import Ledger, token_key

    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    # The background policy clock would only repeat what the demo runs itself: keep it from ever firing.
    ledger = Ledger.open(settings.model_copy(update={"clock_interval": 1e9}), clock=clock)
    try:
        with TestClient(create_app(ledger=ledger), raise_server_exceptions=False) as client, \
                _progress(progress) as bar:
            demo = PolicyDemo(Api(client, key=token_key(settings), issuer=settings.jwt_issuer), rng=rng, bar=bar,
                              now=clock.now, payments=settings.payment_systems[0])
            start, day0 = clock.now(), ledger.policies.today()
            _steps(demo, count=policies, today=day0)

            def run_clock(moment: datetime) -> None:
                clock.set(moment)
                today = ledger.policies.today()
                counts = ledger.policies.run_clock(until=today)
                if counts.get("failed"):
                    raise LedgerError(f"the policy clock failed for {counts['failed']} policies up to {today} "
                                      "(rerun with --verbose for the details)")
                for kind, n in counts.items():
                    demo.count(CLOCK_EVENTS.get(kind, kind), n)

            run_clock(start + timedelta(days=10))
            demo.cancel_some()
            for m in range(1, 13):
                run_clock(start + (add_months(day0, m) - day0))
                demo.month(m, horizon=add_months(day0, m + 1))
            demo.count_documents()
        ledger.log.checkpoint_now()
    finally:
        ledger.close()
    return demo
