"""The claims demo: a month of seeded claims on demo policies, from first notice to payment, over the claims API.

Everything goes through the HTTP API of the app, served in-process on the ledger of the data dir on a clock the demo
moves. Critical illness and life cover is bought two years before the month (past the waiting periods and the
early-claim window), medical, hospital cash and accident cover five months before, one critical-illness policy a
month before (its claim falls in the waiting period). A hospital e-invoice platform and the payments system register
their keys. Then, day by day: customers report claims any day, staff work on working days only (adjusters key
invoice pictures and accident facts, reviewers work the review queue, the named handlers key, note and decide the
major claims), and the payments system settles what is pending at the end of each working day.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.auth import Role
from api.cli.demo_policies import Api, Person, person
from ledger.clock import FixedClock, add_months
from ledger.crypto.keys import SigningKey
from ledger.errors import LedgerError
from ledger.log.encoding import b64
from ledger.log.statements import sign_event
from ledger.policies.rules import samples
from ledger.settings import Settings
from ledger.verify import offline

HANDLERS = ("CH-ZHAO", "CH-QIAN")  # the claims handlers the demo configures when the settings name none
ADJUSTERS = ("AJ-SUN", "AJ-LI", "AJ-ZHOU")
HOSPITAL = "hospital-einvoice"  # the system posting the demo hospitals' signed e-invoices
HOSPITALS = ("H310101", "H310104", "H440305", "H110105", "H510107")
BANKS = ("中国工商银行", "中国建设银行", "招商银行", "中国银行", "交通银行")
MONTH = 30  # days of claims; the demo runs up to 14 more for the last claims to end
KINDS = {  # the demo's kinds of claim: how often (weight), the claim type, the product (death: a life product)
    "medical": (50, "medical", "medical"), "keyed": (12, "medical", "medical"),
    "medical_major": (2, "medical", "medical"), "hospital_cash": (12, "hospital_allowance", "hospital-allowance"),
    "accident": (7, "accident", "accident"), "critical_illness": (6, "critical_illness", "critical-illness"),
    "death": (4, "death", ""), "disability": (4, "disability", "accident")}
CLAIM_TYPES = tuple(dict.fromkeys(claim_type for _, claim_type, _ in KINDS.values()))
LONG = ("critical-illness", "term-life", "whole-life")
SUMS = {"medical": ("1000000",), "hospital-allowance": ("100", "150", "200", "300"),
        "accident": ("200000", "300000", "500000"), "critical-illness": ("200000", "300000", "500000"),
        "term-life": ("500000", "1000000"), "whole-life": ("300000", "500000")}
E_INVOICE = ("medical", "medical_major", "hospital_cash")  # the hospital posts the invoice as a signed event
BANDS = {"small": 70, "review": 22, "standard": 8}  # medical claims by the net benefit aimed at
NETS = {"small": (150, 950), "review": (1200, 4800), "standard": (6000, 40000), "major": (55000, 90000)}
STAYS = (("J18.9", 8), ("K35.8", 6), ("A09.0", 4), ("S52.5", 10), ("E11.9", 9), ("I20.0", 8))
LONG_STAYS = (("C34.9", 11), ("C18.9", 11))
CRITICAL = {"C34.9": 40, "I21.0": 20, "I63.9": 15, "C73": 15, "D05.1": 10}  # diagnoses of critical illness claims
DAILY_COST = 5800  # a stay is at least its total / this many days (the PHANTOM-STAY rule flags above 6000 a day)
ACTIONS = {"approve": 80, "adjust": 7, "decline": 5, "documents": 8}  # what a reviewer does with a claim
TAGS = {"forgets": 0.1, "fails": 0.04}  # customers who forget a document, payments that fail
APPEALS = 0.4  # declines the customer appeals
OPEN = ("awaiting_documents", "awaiting_keying", "under_review", "payment_pending", "payment_failed")
STATUSES = (*OPEN, "paid", "declined", "closed")
DECLINES = (("The treatment was cosmetic, which the policy does not cover.", "整形美容治疗不属于保险责任。",
             "COSMETIC"),
            ("The condition was treated before the cover began (pre-existing).", "投保前已患疾病，不属于保险责任。",
             "PRE-EXISTING"))
DUPLICATE = ("The invoice was already paid in an earlier claim.", "该发票已在此前的理赔中赔付。", "DUPLICATE-INVOICE")
# The showcase, the first claims when the demo makes enough: each shows a path the month must have.
SHOWCASE: tuple[dict[str, Any], ...] = (
    {"kind": "medical", "day": 0}, {"kind": "medical", "day": 1, "tags": {"fails"}},
    {"kind": "medical", "band": "review", "day": 1, "action": "decline", "appeal": "overturn"},
    {"kind": "medical", "band": "review", "day": 2, "action": "decline", "tags": {"reopen"}},
    {"kind": "medical", "band": "review", "day": 2, "action": "documents"},
    {"kind": "medical", "band": "review", "day": 3, "action": "adjust"},
    {"kind": "medical", "day": 3, "tags": {"forgets"}}, {"kind": "keyed", "band": "review", "day": 2},
    {"kind": "hospital_cash", "day": 3}, {"kind": "accident", "day": 4},
    {"kind": "critical_illness", "day": 4, "tags": {"advance"}},
    {"kind": "critical_illness", "day": 6, "tags": {"waiting"}, "appeal": "uphold"},
    {"kind": "death", "day": 5}, {"kind": "disability", "day": 6}, {"kind": "medical_major", "day": 7},
    {"kind": "keyed", "day": 10, "duplicate": 0})  # the first claim's invoice, submitted again


@dataclass(kw_only=True)
class Case:
    """A demo policy: its customer (policyholder and insured), the beneficiary, and how many claims it gets."""

    product: str
    party: str
    who: Person
    sum_insured: str
    beneficiary: Person | None = None
    beneficiary_party: str = ""
    fresh: bool = False  # bought a month before the claims: its claim falls in the waiting period
    policy_no: str = ""


@dataclass(kw_only=True)
class Story:
    """One claim as the demo plans it (kind, day, what the people do) and what became of it."""

    number: int
    kind: str
    day: int
    band: str = "small"
    tags: set[str] = field(default_factory=set)  # forgets, fails, reopen (after a decline), advance, waiting
    action: str = "approve"  # what the reviewer does: approve, adjust, decline, documents
    appeal: str = ""  # overturn | uphold: the customer appeals a decline, and the appeal's outcome
    duplicate: int | None = None  # the showcase claim whose invoice this one submits again
    reviewer: str = ADJUSTERS[0]
    lag: int = 1  # days from the discharge (or the loss) to the report
    stay: int = 0
    diagnosis: str = ""
    case: Case | None = None
    claim_id: str = ""
    status: str = ""
    invoice: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)  # documents the customer gives later
    handled_by: str = ""
    decide_on: int = 0


def plan(rng: random.Random, *, count: int, today: date) -> tuple[list[Story], list[Case]]:
    """``count`` claims (the showcase first, then a seeded mix by ``KINDS``) and the policies they are made on."""
    stories: list[Story] = []
    for n in range(count):
        spec: dict[str, Any] = dict(SHOWCASE[n]) if n < len(SHOWCASE) else {
            "kind": rng.choices(list(KINDS), [w for w, _, _ in KINDS.values()])[0], "day": rng.randrange(MONTH - 3),
            "band": rng.choices(list(BANDS), list(BANDS.values()))[0], "action": rng.choices(
                list(ACTIONS), list(ACTIONS.values()))[0], "tags": {t for t, p in TAGS.items() if rng.random() < p}}
        if spec.get("action") == "decline" and n >= len(SHOWCASE) and rng.random() < APPEALS:
            spec["appeal"] = rng.choice(("overturn", "uphold"))
        s = Story(number=n, reviewer=rng.choice(ADJUSTERS), **{**spec, "tags": set(spec.get("tags", ()))})
        s.band = "major" if s.kind == "medical_major" else s.band
        s.diagnosis, mean = rng.choice(LONG_STAYS if s.band == "major" else STAYS)
        s.stay = rng.randint(max(2, mean - 3), mean + 2)
        if s.kind == "critical_illness":
            s.diagnosis = rng.choices(list(CRITICAL), list(CRITICAL.values()))[0]
        s.lag = rng.randint(20, 50) if s.kind == "disability" else rng.randint(1, 12)
        product = KINDS[s.kind][2] or rng.choice(("term-life", "whole-life"))
        sex, age = rng.choice("MF"), rng.randint(25, 50)
        s.case = stories[s.duplicate].case if s.duplicate is not None else Case(
            product=product, party=f"P{uuid.uuid4().hex[:20].upper()}", fresh="waiting" in s.tags,
            who=person(rng, today=today, age=age, sex=sex), sum_insured=rng.choice(SUMS[product]),
            beneficiary=person(rng, today=today, age=age, sex="F" if sex == "M" else "M") if product in LONG else None)
        stories.append(s)
    return stories, list({id(s.case): s.case for s in stories if s.case is not None}.values())


def amounts(rng: random.Random, *, net: Decimal, deductible: Decimal, social: bool) -> dict[str, str]:
    """An invoice whose medical benefit comes to about ``net``: its total, the items outside any cover, and what
    social insurance paid (the benefit pays the rest above the deductible with social insurance, 60% without)."""
    paid_share = Decimal(rng.randint(35, 60)) / 100 if social else Decimal(0)
    eligible = (net / (Decimal(1) if social else Decimal("0.6")) + deductible) / (1 - paid_share)
    total = (eligible / (1 - Decimal(rng.randint(2, 8)) / 100)).quantize(Decimal("0.01"))
    eligible = eligible.quantize(Decimal("0.01"))
    return {"total": str(total), "ineligible": str(total - eligible),
            "social_insurance_paid": str((eligible * paid_share).quantize(Decimal("0.01")))}


class Calendar(Protocol):
    """The ledger's business calendar, as the demo reads it (through the policy service)."""

    def date_of(self, moment: datetime) -> date: ...
    def start_of(self, day: date) -> datetime: ...
    def is_working_day(self, day: date) -> bool: ...


class ClaimsDemo:
    """The customers, the hospital, the staff and the payments system of the claims demo, over the HTTP API."""

    def __init__(self, api: Api, *, rng: random.Random, clock: FixedClock, calendar: Calendar,
                 policy_clock: Callable[[], dict[str, int]], bar: Progress, payments: str,
                 handlers: tuple[str, ...]) -> None:
        self.api, self.rng, self.clock, self.calendar = api, rng, clock, calendar
        self.policy_clock, self.bar, self.payments, self.handlers = policy_clock, bar, payments, handlers
        self.tally: Counter[str] = Counter()
        self.stories: list[Story] = []
        self.by_claim: dict[str, Story] = {}
        self.agenda: list[tuple[int, str, Story]] = []  # (day, what, claim): what people do on a later day
        self.hospital = SigningKey.generate(f"{HOSPITAL}-{uuid.uuid4().hex[:8]}")
        self.payer = SigningKey.generate(f"{payments}-{uuid.uuid4().hex[:8]}")
        self.start = calendar.date_of(clock.now())
        self.day = 0

    # -- time and money ----------------------------------------------------------------------------------

    def move_to(self, moment: datetime) -> None:
        """Move the clock to ``moment`` (if later) and run the policy clock up to that day."""
        if moment > self.clock.now():
            self.clock.set(moment)
        if self.policy_clock().get("failed"):
            raise LedgerError("the policy clock failed for some policies (rerun with --verbose for the details)")

    def at(self, day: int, hour: float) -> datetime:
        return self.calendar.start_of(self.start + timedelta(days=day)) + timedelta(hours=hour)

    def working(self, day: int) -> bool:
        return self.calendar.is_working_day(self.start + timedelta(days=day))

    def next_working(self, day: int, count: int = 1) -> int:
        while count:
            day += 1
            count -= self.working(day)
        return day

    def stamp(self) -> str:
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def account(self, case: Case, *, new: bool = False) -> dict[str, str]:
        number = int(uuid.uuid5(uuid.NAMESPACE_OID, case.party + "new" * new).hex[:14], 16) % 10**15
        return {"bank": BANKS[(number + new) % len(BANKS)], "number": f"6222{number:015d}", "name": case.who.name}

    def pay(self, target: Mapping[str, str], amount: str) -> dict[str, Any]:
        body = self.api.call("POST", "/v1/payments", who=(Role.SYSTEM, self.payments), what=f"paying {target}",
                             json={**target, "amount": amount, "currency": "CNY", "paid_at": self.stamp(),
                                   "payment_ref": f"PAY-{uuid.uuid4().hex[:16].upper()}"})
        if body["outcome"] != "applied":
            raise LedgerError(f"the premium of {amount} on {target} was parked")
        return body["policy"]  # type: ignore[no-any-return]

    # -- setting up --------------------------------------------------------------------------------------

    def prepare(self, cases: list[Case]) -> None:
        """Register the hospital's and the payments system's keys; buy the cover two years, five months and one
        month before the month of claims, paying the renewals as they fall due; start the month."""
        for key, owner, scope in ((self.hospital, HOSPITAL, {"types": ["medical.*"], "streams": ["hospital"]}),
                                  (self.payer, self.payments, {"types": ["payments.*"], "streams": ["payments"]})):
            self.api.call("POST", "/v1/admin/keys", who=(Role.ADMIN, "demo-admin"), what=f"registering {owner}'s key",
                          json={"key_id": key.key_id, "owner": owner, "public_key": b64(key.public_key),
                                "scope": scope})
        t0 = self.clock.now()
        long = [c for c in cases if c.product in LONG and not c.fresh]
        for months, days, buy in ((0, 0, long), (12, 0, []), (20, 0, [c for c in cases if c.product not in LONG]),
                                  (24, 0, []), (25, -30, [c for c in cases if c.fresh])):
            self.move_to(t0 + (add_months(t0.date(), months) - t0.date()) + timedelta(days=days))
            self.renew(long)
            self.issue(buy)
        self.start = self.calendar.date_of(t0 + (add_months(t0.date(), 25) - t0.date()))

    def issue(self, cases: list[Case]) -> None:
        """Each customer applies with a clean declaration (accepted at once) and pays the first premium."""
        task = self.bar.add_task("buying cover", total=len(cases))
        for case in cases:
            term, years = (1, 1) if case.product not in LONG else (20 if case.product == "term-life" else None, 20)
            body = self.api.call("POST", "/v1/applications", who=(Role.CUSTOMER, case.party), json={
                "product_id": case.product, "occupation_class": 1, "payment_account": self.account(case)["number"],
                "plan": {"sum_insured": case.sum_insured, "term_years": term, "payment_years": years,
                         "frequency": "annual"}, "policyholder": case.who.to_json(),
                "beneficiaries": [{"person": case.beneficiary.to_json(), "share": "100"}] if case.beneficiary else [],
                "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(samples.CLEAN)},
                what=f"applying for {case.product}")
            if body.get("status") != "accepted":
                raise LedgerError(f"a clean application for {case.product} was not accepted ({body.get('status')})")
            policy = self.pay({"application_id": body["application_id"]}, body["premium"]["modal_premium"]["amount"])
            case.policy_no = policy["policy_no"]
            case.beneficiary_party = next((b["party"] for b in policy["beneficiaries"] if b.get("party")), "")
            self.tally[f"policies issued: {case.product}"] += 1
            self.bar.advance(task)

    def renew(self, cases: list[Case]) -> None:
        """The customers pay every premium falling due within a month."""
        horizon = (self.calendar.date_of(self.clock.now()) + timedelta(days=31)).isoformat()
        for case in (c for c in cases if c.policy_no):
            view = self.api.call("GET", f"/v1/policies/{case.policy_no}", who=(Role.CUSTOMER, case.party),
                                 what=f"reading {case.policy_no}")
            while view["next_due"] and view["next_due"] <= horizon:
                view = self.pay({"policy_no": case.policy_no}, view["premium"]["modal_premium"]["amount"])
                self.tally["renewal premiums paid"] += 1

    # -- the month ---------------------------------------------------------------------------------------

    def run(self, stories: list[Story]) -> None:
        """Walk the month day by day (and on until every claim has ended, at most 14 days more): customers and the
        hospital any day; keying at 10:30, the queues at 14:00 and the payments at 16:30 of working days."""
        self.stories = stories
        task = self.bar.add_task("a month of claims", total=MONTH)
        for day in range(MONTH + 14):
            if day >= MONTH and not self.agenda and not any(s.status in OPEN for s in stories):
                break
            self.day = day
            self.move_to(self.at(day, 9))
            self.follow_agenda(staff=False)
            for story in (s for s in stories if s.day == day):
                self.report(story)
            if self.working(day):
                self.move_to(self.at(day, 10.5))
                self.key()
                self.follow_agenda(staff=True)
                self.move_to(self.at(day, 14))
                self.review()
                for handler in self.handlers:
                    self.handle(handler)
                self.move_to(self.at(day, 16.5))
                self.settle()
            self.bar.advance(task)

    def call(self, story: Story, method: str, path: str, *, who: tuple[Role, str], json: Any = None) -> Any:
        """A request on ``story``'s claim; the story's status follows the answer."""
        body = self.api.call(method, f"/v1/claims/{story.claim_id}{path}", who=who, json=json,
                             what=f"{method} claim {story.number} ({story.kind}){path}")
        story.status = body.get("status", story.status)
        return body

    def customer(self, story: Story) -> tuple[Role, str]:
        assert story.case is not None
        return Role.CUSTOMER, story.case.beneficiary_party if story.kind == "death" else story.case.party

    def later(self, story: Story, what: str, days: int) -> None:
        self.agenda.append((self.day + days, what, story))

    def follow_agenda(self, *, staff: bool) -> None:
        """Customers give documents and new accounts and appeal (any day); staff reopen and close (working days)."""
        for item in [i for i in self.agenda if i[0] <= self.day and (i[1] in ("reopen", "close")) == staff]:
            self.agenda.remove(item)
            _, what, story = item
            assert story.case is not None
            if what == "give":
                self.give(story, story.held)
                self.tally["documents given later (forgotten or asked for)"] += 1
            elif what == "account":
                self.call(story, "POST", "/account", who=self.customer(story), json=self.account(story.case, new=True))
                self.tally["new accounts given after a failed payment"] += 1
            elif what == "appeal":
                self.call(story, "POST", "/appeal", who=self.customer(story),
                          json={"reason": "I disagree with the decline: the treatment was necessary."})
                self.tally["appeals"] += 1
            elif what == "reopen":
                self.call(story, "POST", "/reopen", who=(Role.ADJUSTER, story.reviewer), json={
                    "reason": "the customer brought the attending doctor's statement", "documents": ["DIAGNOSIS"]})
                story.held, story.action = ["DIAGNOSIS"], "approved after the reopening"
                self.later(story, "give", 1)
                self.tally["declined claims reopened with a new document"] += 1
            else:
                self.call(story, "POST", "/close", who=(Role.ADJUSTER, story.reviewer),
                          json={"reason": "declined; the reasons and the right to appeal were sent"})
                self.tally["declined claims closed"] += 1

    # -- customers and the hospital ----------------------------------------------------------------------

    def report(self, story: Story) -> None:
        """The first notice of loss with the account to pay, the hospital's e-invoice, and the documents."""
        case = story.case
        assert case is not None
        today = self.start + timedelta(days=story.day)
        loss = today - timedelta(days=story.lag)
        if story.kind in (*E_INVOICE, "keyed"):
            story.invoice = self.invoice(story, today)
            loss = date.fromisoformat(story.invoice["admitted"])
        accident = story.kind in ("accident", "disability") or story.diagnosis.startswith("S")
        view = self.api.call("POST", "/v1/claims", who=self.customer(story), what=f"reporting claim {story.number}",
                             json={"policy_no": case.policy_no, "claim_type": KINDS[story.kind][1],
                                   "cause": "accident" if accident else "illness", "loss_date": loss.isoformat(),
                                   "description": "住院治疗" if story.invoice else "出险报案",
                                   "account": self.account(case)})
        story.claim_id, story.status, missing = view["claim_id"], view["status"], list(view["missing"])
        self.by_claim[story.claim_id] = story
        self.tally["claims reported"] += 1
        if story.kind in E_INVOICE:  # the hospital's platform posts the e-invoice with the discharge summary
            signed = sign_event(key=self.hospital, event_id=f"inv-{uuid.uuid4().hex}", type="medical.invoice.issued",
                                stream="hospital:einvoice", data_subject=HOSPITAL, personal_subject=case.party,
                                payload={"claim_id": story.claim_id, "policy_no": case.policy_no, **story.invoice},
                                personal={"diagnoses": [story.diagnosis], "history": []})
            missing = self.call(story, "POST", "/invoices", who=(Role.SYSTEM, HOSPITAL), json=signed.to_json())[
                "missing"]
            self.tally["e-invoices posted by the hospital (signed)"] += 1
        if "forgets" in story.tags and len(missing) > 1:
            story.held = [missing.pop()]
            self.later(story, "give", self.rng.randint(1, 3))
        self.give(story, missing)

    def invoice(self, story: Story, today: date) -> dict[str, Any]:
        """The hospital's invoice of the stay (or, for a duplicate, the earlier claim's invoice again)."""
        if story.duplicate is not None:
            return dict(self.stories[story.duplicate].invoice)
        facts = {"total": f"{self.rng.randint(25, 90)}00.00", "ineligible": "0.00", "social_insurance_paid": "0.00"}
        if story.kind != "hospital_cash":  # the policy's first claim of the year: the 10,000 deductible applies
            facts = amounts(self.rng, net=Decimal(self.rng.randint(*NETS[story.band])), social=self.rng.random() < 0.8,
                            deductible=Decimal(10000))
        total = Decimal(facts["total"])
        stay = max(story.stay, int((total / DAILY_COST).to_integral_value(ROUND_CEILING)))
        admitted = today - timedelta(days=story.lag + stay)
        drugs = (total * Decimal("0.45")).quantize(Decimal("0.01"))
        return {**facts, "invoice_no": f"E{uuid.uuid4().hex[:14].upper()}", "hospital": self.rng.choice(HOSPITALS),
                "admitted": admitted.isoformat(), "discharged": (admitted + timedelta(days=stay)).isoformat(),
                "categories": {"drugs": str(drugs), "treatment": str(total - drugs)}, "currency": "CNY"}

    def give(self, story: Story, codes: list[str]) -> None:
        """Upload each document (a picture of an invoice to key) and give them to the claim."""
        given: dict[str, str] = {}
        for code in codes:
            picture = story.kind == "keyed" and code in ("INVOICE", "DISCHARGE-SUMMARY", "SOCIAL-INSURANCE-SETTLEMENT")
            data = (b"\xff\xd8\xff\xe0 JFIF " if picture else b"%PDF-1.4\n% ") + \
                f"{code} {story.claim_id} {uuid.uuid4()}".encode()
            given[code] = self.api.call("POST", "/v1/uploads", who=self.customer(story), content=data,
                                        media="image/jpeg" if picture else "application/pdf",
                                        what=f"uploading {code}")["digest"]
        story.uploads.update(given)
        if given:
            self.call(story, "POST", "/documents", who=self.customer(story), json={"documents": given})

    # -- staff -------------------------------------------------------------------------------------------

    def queue(self, kind: str, who: tuple[Role, str]) -> list[tuple[Story, dict[str, Any]]]:
        rows = self.api.call("GET", "/v1/claims/queue", who=who, params={"kind": kind}, what=f"the {kind} queue")
        return [(self.by_claim[row["claim_id"]], row) for row in rows if row["claim_id"] in self.by_claim]

    def key(self) -> None:
        """Adjusters key invoice pictures and accident facts; a major claim's handler keys its medical facts."""
        for story, row in self.queue("keying", (Role.ADJUSTER, ADJUSTERS[0])):
            who = (Role.CLAIMS_HANDLER, row["handler"]) if row["handler"] else (Role.ADJUSTER, story.reviewer)
            if story.kind == "keyed":
                self.call(story, "POST", "/invoices/keyed", who=who, json={
                    **{k: v for k, v in story.invoice.items() if k != "currency"}, "history": [],
                    "digest": story.uploads["INVOICE"], "diagnoses": [story.diagnosis]})
                self.tally["invoices keyed from pictures"] += 1
                continue
            facts: dict[str, Any] = {"diagnoses": [story.diagnosis]}
            if story.kind in ("accident", "disability"):
                grade = self.rng.randint(4, 7) if story.kind == "disability" else self.rng.randint(9, 10)
                facts = {"diagnoses": ["S82.2" if grade < 9 else "S52.5"], "disability_grade": grade}
            elif story.kind == "death":
                death = self.start + timedelta(days=story.day - story.lag)
                facts = {"diagnoses": ["I21.9"], "death_date": death.isoformat(), "death_cause": "illness"}
            self.call(story, "POST", "/medical", who=who, json=facts)
            self.tally[f"medical facts keyed by {'a handler' if row['handler'] else 'an adjuster'}"] += 1

    def review(self) -> None:
        """Reviewers work the review queue: the flags first, then approve, adjust, decline or ask for documents."""
        for story, _ in self.queue("review", (Role.ADJUSTER, ADJUSTERS[0])):
            me = (Role.ADJUSTER, story.reviewer)
            view = self.call(story, "GET", "", who=me)
            duplicate = self.resolve_flags(story, view, me)
            net = Decimal(view["assessment"]["net"])
            if duplicate or not view["review"]["payable"] or net == 0:
                self.decline(story, me, DUPLICATE if duplicate else self.failed_check(view))
            elif story.action == "documents":
                code = next(c for c in ("ADMISSION-RECORD", "ACCIDENT-PROOF", "DIAGNOSIS") if c in view["checklist"])
                self.call(story, "POST", "/decision", who=me, json={"action": "request_documents", "documents": [
                    code], "reason": f"the {code} given cannot be read; please send a clear copy"})
                story.action, story.held = "approve after the documents", [code]
                self.later(story, "give", 1)
                self.tally["reviewer: documents asked for"] += 1
            elif story.action == "adjust":
                amount = (net * Decimal(self.rng.randint(85, 95)) / 100).quantize(Decimal("0.01"))
                self.call(story, "POST", "/decision", who=me, json={
                    "action": "adjust", "amount": str(amount), "clause": "HOSPITAL-EXPENSES",
                    "reason": "imported drugs outside the medical insurance list are not covered"})
                self.tally["reviewer: adjusted with a reason"] += 1
            elif story.action == "decline":
                self.decline(story, me, DECLINES[story.number % len(DECLINES)])
            else:
                self.call(story, "POST", "/decision", who=me, json={"action": "approve"})
                self.tally["reviewer: approved"] += 1

    def resolve_flags(self, story: Story, view: Mapping[str, Any], who: tuple[Role, str]) -> bool:
        """Investigate each open flag: an invoice paid before is confirmed, the rest are cleared; whether any flag
        of the claim stands confirmed."""
        confirmed = any(view["resolved_flags"].values())
        for rule in (f["rule"] for f in view["flags"] if f["rule"] not in view["resolved_flags"]):
            hit = rule == "DUPLICATE-INVOICE"
            self.call(story, "POST", "/flags", who=who, json={"rule": rule, "confirmed": hit, "note": (
                "the same invoice was paid in an earlier claim" if hit else "checked with the hospital: in order")})
            self.tally[f"flags {'confirmed' if hit else 'cleared'}: {rule}"] += 1
            confirmed |= hit
        return confirmed

    @staticmethod
    def failed_check(view: Mapping[str, Any]) -> tuple[str, str, str]:
        """The reason and clause of a decline: the first-review check that failed, or why nothing is payable."""
        failed = [c for c in view["review"]["checks"] if not c["passed"] and c["blocks"]]
        if failed:
            return failed[0]["en"], failed[0]["zh"], failed[0]["clause"]
        assessed = view["assessment"]
        clause = ", ".join(line["coverage"] for line in assessed["lines"]) or "policy terms"
        return (f"Nothing is payable as assessed: {'; '.join(assessed['notes']) or 'no benefit applies'}.",
                "按保险条款计算，本次无应给付金额。", clause)

    def decline(self, story: Story, who: tuple[Role, str], why: tuple[str, str, str]) -> None:
        """Decline with the reason and the clause; later the customer appeals, or staff reopen or close it."""
        reason, reason_zh, clause = why
        appealed = self.call(story, "POST", "/decision", who=who, json={
            "action": "decline", "reason": reason, "reason_zh": reason_zh, "clause": clause})["appeals"]
        self.tally[f"{'handler' if who[0] == Role.CLAIMS_HANDLER else 'reviewer'}: declined with a clause"] += 1
        if story.appeal and not appealed:
            self.later(story, "appeal", 2)
        elif "reopen" in story.tags:
            self.later(story, "reopen", 3)
            story.tags.discard("reopen")
        else:
            self.later(story, "close", 1)

    def handle(self, handler: str) -> None:
        """A handler's own claims under review: a contact note and the flags the day one comes (and an advance
        where liability is clear), then a progress note and the decision on a later working day."""
        me = (Role.CLAIMS_HANDLER, handler)
        for story, row in self.queue("mine", me):
            if row["status"] != "under_review":
                continue
            view = self.call(story, "GET", "", who=me)
            if story.handled_by != f"{handler}/{view['appeals']}":  # new to this handler, or appealed
                story.handled_by = f"{handler}/{view['appeals']}"
                whom = "beneficiary" if story.kind == "death" else "insured"
                self.call(story, "POST", "/notes", who=me, json={
                    "kind": "contact", "text": f"Called the {whom}: explained the assessment and the next steps.",
                    "next_step_by": (self.start + timedelta(days=self.next_working(self.day))).isoformat()})
                self.tally["handler: contact notes"] += 1
                self.resolve_flags(story, view, me)
                story.decide_on = self.next_working(self.day, 3 if "advance" in story.tags else 1)
                if "advance" in story.tags:
                    amount = (Decimal(view["assessment"]["net"]) / 2000).quantize(Decimal(1), ROUND_DOWN) * 1000
                    self.call(story, "POST", "/advance", who=me, json={
                        "amount": str(amount), "reason": "liability is clear; the stage is still being checked"})
                    story.tags.discard("advance")
                    self.tally["advance payments on a major claim"] += 1
                continue
            if self.day < story.decide_on:
                continue
            self.call(story, "POST", "/notes", who=me, json={"kind": "progress", "text": (
                "Checked the diagnosis and the documents against the policy terms; decided today.")})
            self.tally["handler: progress notes"] += 1
            if not view["review"]["payable"] or (view["appeals"] and story.appeal == "uphold"):
                self.decline(story, me, self.failed_check(view) if not view["review"]["payable"] else DECLINES[0])
                self.tally["appeals upheld"] += bool(view["appeals"])
            else:
                self.call(story, "POST", "/decision", who=me, json={"action": "approve"})
                self.tally["appeals overturned: approved" if view["appeals"] else "handler: approved"] += 1

    def settle(self) -> None:
        """The payments system pays every pending instruction; a few accounts turn out closed."""
        who = (Role.SYSTEM, self.payments)
        for p in self.api.call("GET", "/v1/claims/payments/pending", who=who, params={"limit": 1000},
                               what="reading the pending claim payments"):
            story = self.by_claim.get(p["claim_id"])
            failed = story is not None and "fails" in story.tags and p["kind"] == "benefit"
            signed = sign_event(key=self.payer, event_id=f"pay-{uuid.uuid4().hex}", type="payments.claim.settled",
                                stream="payments:claims", data_subject=self.payments, payload={
                                    "claim_id": p["claim_id"], "payment_id": p["payment_id"], "amount": p["amount"],
                                    "currency": p["currency"], "status": "failed" if failed else "paid",
                                    "paid_at": self.stamp(), "reason": "the account is closed" if failed else ""})
            body = self.api.call("POST", f"/v1/claims/{p['claim_id']}/payments", who=who, json=signed.to_json(),
                                 what=f"settling payment {p['payment_id']}")
            self.tally["payments failed: the account is closed" if failed else "payments settled"] += 1
            if story is not None:
                story.status = body["status"]
                if failed:
                    story.tags.discard("fails")
                    self.later(story, "account", 1)


# -- the summary ----------------------------------------------------------------------------------------------

def decided_by(view: Mapping[str, Any]) -> str:
    """Who made the claim's standing decision: "no person" (automatic), "reviewer", "handler"; "" if none."""
    if not view["decision"]:
        return ""
    last = [step for step in view["timeline"] if step["type"] == "claim.decided"][-1]
    return "no person" if view["decision"]["automatic"] else "handler" if last["by"] == "claims_handler" \
        else "reviewer"


def paid(view: Mapping[str, Any]) -> Decimal:
    return sum((Decimal(p["amount"]["amount"]) for p in view["payments"] if p["status"] == "paid"), Decimal(0))


def _table(title: str, *columns: str, left: int = 1) -> Table:
    """A table whose first ``left`` columns are text and the others figures."""
    table = Table(title=title, title_justify="left")
    for n, name in enumerate(columns):
        table.add_column(name, justify="left" if n < left else "right", no_wrap=n < left)
    return table


def summary(demo: ClaimsDemo, finals: Mapping[str, dict[str, Any]], kpis: Mapping[str, Any], *,
            seconds: float) -> list[Table]:
    """The tables printed at the end: claims by type, by status and track, the major claims with their handler
    and notes, the month's KPIs and times to pay as ``GET /v1/kpis`` gives them, and what happened, counted."""
    views = list(finals.values())
    columns = ("claims", "no\nperson", "reviewer", "handler", "declined", "open")
    by_type = _table("claims by type: who approved them, declined, still open", "claim type", *columns)
    for kind in (*CLAIM_TYPES, "all"):
        mine = [v for v in views if kind in ("all", v["claim_type"])]
        row = Counter(decided_by(v) for v in mine if v["decision"] and v["decision"]["outcome"] != "decline")
        row.update({"claims": len(mine), "open": sum(v["status"] in OPEN for v in mine),
                    "declined": sum(bool(v["decision"]) and v["decision"]["outcome"] == "decline" for v in mine)})
        by_type.add_row(kind, *(str(row[c.replace("\n", " ")]) for c in columns))
    tracks = ("fast", "standard", "major", "none")
    by_status = _table("claims by status and track", "status", *tracks, "all")
    counted = Counter((v["status"], v["track"] or "none") for v in views)
    for status in STATUSES:
        by_status.add_row(status, *(str(counted[status, t]) for t in tracks), str(sum(counted[status, t]
                                                                                      for t in tracks)))
    major = _table("major claims: handler, notes and decision", "claim", "type", "handler", "decision", "notes",
                   "paid CNY", left=4)
    for story in demo.stories:
        v = finals.get(story.claim_id)
        if v is not None and v["track"] == "major":
            major.add_row(f"#{story.number}", v["claim_type"], v["handler"] or "-",
                          v["decision"]["outcome"] if v["decision"] else v["status"], str(len(v["notes"])),
                          f"{paid(v):,.2f}")
    figures = _table(f"claims KPIs {kpis['from']} to {kpis['to']} (GET /v1/kpis)", "figure", "value", "count / of")
    names = {"fast_track_within_one_working_day": "fast track paid within "
             f"{kpis['fast_track_within_one_working_day']['target_working_days']} working day",
             "decisions_within_statutory_deadline": "decisions within the statutory deadline",
             "payments_within_deadline": f"paid within {kpis['payments_within_deadline']['payment_days']} days of "
             "the decision", "decline_rate": "decline rate", "automation_rate": "automation rate (no person)",
             "reopen_rate": "reopen rate", "approval_rate": "approval rate (paid, of the claims closed)"}
    figures.add_row("claims complete in the period", str(kpis["claims"]["count"]), "")
    for key, label in names.items():
        f = kpis[key]
        figures.add_row(label, "-" if f["share"] is None else f"{f['share'] * 100:.1f}%", f"{f['count']} / {f['of']}")
    flags = kpis["flags"]
    figures.add_row("flags raised / confirmed", f"{flags['raised']} / {flags['confirmed']}",
                    f"{flags['claims']} claims")
    to_pay = _table("benefits paid, and the time to pay (complete to paid, pauses excluded; GET /v1/kpis)",
                    "claim type", "CNY paid", "paid\nclaims", "median\nhours", "p90\nhours", "median\nwd", "p90\nwd")
    for kind in CLAIM_TYPES:
        f = kpis["time_to_pay"].get(kind, {})
        to_pay.add_row(kind, f"{sum((paid(v) for v in views if v['claim_type'] == kind), Decimal(0)):,.2f}", *(
            str(f.get(k, "-")) for k in ("count", "median_hours", "p90_hours", "median_working_days",
                                         "p90_working_days")))
    table = _table("claims demo", "what", "count")
    rows = {**demo.tally, "claims paid automatically with no person": sum(
        decided_by(v) == "no person" and paid(v) > 0 for v in views), "claims paid after a reviewer's decision": sum(
        decided_by(v) == "reviewer" and paid(v) > 0 for v in views), "claims drawn by the review sample": sum(
        bool((v["automatic"] or {}).get("sampled")) for v in views)}
    for label, n in sorted(rows.items()):
        table.add_row(label, str(n))
    table.add_row("time taken", f"{seconds:.1f} s")
    return [by_type, by_status, major, figures, to_pay, table]


def audit_one(api: Api, stories: Sequence[Story], finals: Mapping[str, dict[str, Any]], *, who: tuple[Role, str],
              vkey: str) -> tuple[str, int] | None:
    """An auditor takes the evidence bundle of the claim with the longest history and verifies it offline, as they
    would on a machine with no access to the ledger: the tally row, or None when no claim was made. Raises
    ``LedgerError`` naming the first check that failed."""
    made = [story for story in stories if story.claim_id and story.claim_id in finals]
    if not made:
        return None
    story = max(made, key=lambda s: (len(finals[s.claim_id or ""]["timeline"]), -s.number))
    bundle = api.call("GET", f"/v1/audit/claims/{story.claim_id}/bundle", who=who,
                      what=f"taking the evidence bundle of claim {story.number}")
    report = offline.verify(bundle, vkey=vkey)
    if report.failure is not None:
        raise LedgerError(f"the evidence bundle of claim {story.number} failed its offline check: "
                          f"{report.failure.name}: {report.failure.detail}")
    return f"entries in the auditor's bundle of claim #{story.number}, verified offline", len(bundle["entries"])


def run_claims_demo(settings: Settings, *, claims: int, seed: int, url: str | None, console: Console,
                    progress: Console) -> dict[str, dict[str, Any]]:
    """Run the claims demo with ``claims`` claims (seeded by ``seed``) on the ledger of ``settings.data_dir`` (made
    if missing) served in-process by Starlette's ``TestClient`` on a clock starting now (or after the journal's last
    entry); print its tables on ``console`` (progress bars on ``progress``) and return each claim's final view by id.
    The handlers are the settings' ``claims_handlers``, or ``HANDLERS`` when they name none. Raises ``LedgerError``
    naming the request and the problem for any answer the demo did not expect, and for a ``url``."""
    if url is not None:
        raise LedgerError("the claims demo runs in-process only (it moves the ledger's clock through two years of "
                          "cover and a month of working days, which a running server's clock cannot do): drop --url")
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.app import Ledger, token_key

    started = time.monotonic()
    rng = random.Random(seed)
    handlers = tuple(settings.claims_handlers) or HANDLERS
    settings = settings.model_copy(update={"clock_interval": 1e9, "claims_handlers": list(handlers)})
    ledger = Ledger.open(settings)
    try:
        size = ledger.log.size()
        last = datetime.fromisoformat(ledger.log.entry(size - 1).recorded_at.replace("Z", "+00:00")) if size \
            else datetime.now(UTC)
    finally:
        ledger.close()
    clock = FixedClock(max(datetime.now(UTC), last + timedelta(seconds=1)).replace(microsecond=0))
    ledger = Ledger.open(settings, clock=clock)
    auditor = (Role.AUDITOR, "AU-demo")
    try:
        with TestClient(create_app(ledger=ledger), raise_server_exceptions=False) as client, \
                Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                         console=progress, transient=True, disable=not progress.is_terminal) as bar:
            api = Api(client, key=token_key(settings), issuer=settings.jwt_issuer)
            demo = ClaimsDemo(api, rng=rng, clock=clock, calendar=ledger.policies.calendar, bar=bar, handlers=handlers,
                              policy_clock=lambda: ledger.policies.run_clock(until=ledger.policies.today()),
                              payments=settings.payment_systems[0])
            stories, cases = plan(rng, count=claims, today=ledger.policies.today())
            demo.prepare(cases)
            demo.run(stories)
            finals = {s.claim_id: api.call("GET", f"/v1/claims/{s.claim_id}", who=(Role.ADJUSTER, "AD-demo"),
                                           what=f"reading claim {s.number}") for s in stories if s.claim_id}
            kpis = api.call("GET", "/v1/kpis", who=auditor, what="reading the month's KPIs", params={
                "from": demo.start.isoformat(), "to": (demo.start + timedelta(days=MONTH - 1)).isoformat()})
            audited = audit_one(api, demo.stories, finals, who=auditor, vkey=ledger.log.vkey)
            if audited is not None:
                demo.tally[audited[0]] = audited[1]
        ledger.log.checkpoint_now()
    finally:
        ledger.close()
    for table in summary(demo, finals, kpis, seconds=time.monotonic() - started):
        console.print(table)
    return finals
