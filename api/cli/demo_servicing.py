"""The servicing demo: seeded customers ask for every servicing operation on demo policies over two policy years.

Everything goes through the HTTP API of the app, served in-process on the ledger of the data dir with a clock that
stands still until the demo moves it: customers apply for the policies the demo needs and pay their premiums; at
eight moments of the policies' first two years (in the free-look period, in force, after a lapse, before the first
anniversary, in the second year, and in the third) they ask for a realistic mix of the 24 operations of the
servicing catalog; staff work the queue (approve most, reject some with a reason, ask for documents for some, a
second clerk for four-eyes requests); high-risk requests are confirmed with the one-time code the demo reads from
the outbox as the messaging system; some customers withdraw; the correlation rules flag what follows an account,
beneficiary or owner change. Cooling-off periods end because the demo moves the ledger's clock past them and runs
the servicing clock (what ``serve`` runs every few minutes), not by shortening them.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.auth import Role
from api.cli.demo_policies import CLOCK_EVENTS, WORKERS, Api, Person, person
from ledger.clock import FixedClock, add_months
from ledger.errors import LedgerError
from ledger.policies.rules import samples
from ledger.settings import Settings

T = TypeVar("T")

# When in the policies' life customers ask, as (months, days) after the day the demo's policies are issued.
STAGES: Mapping[str, tuple[int, int]] = {
    "free_look": (0, 3),  # within the 15-day free-look period
    "in_force": (0, 20),  # past it
    "lapsed": (4, 5),  # the policies whose owners stopped paying are suspended
    "anniversary": (11, 10),  # within 30 days before the first policy anniversary
    "year_two": (12, 20),  # the second premium paid: cash values worth borrowing against
    "cash": (12, 24),  # loans, withdrawals and surrenders, days after the account and owner changes completed
    "repay": (14, 0),
    "year_three": (24, 20),  # two policy years complete, three premiums paid
}
LAST_MONTH = 24


@dataclass(frozen=True)
class Use:
    """How customers use an operation: how often (relative weight) and at which stages."""

    weight: int
    stages: tuple[str, ...]


ANY_TIME = ("free_look", "in_force", "year_two", "year_three")
USES: Mapping[str, Use] = {
    "address_change": Use(22, ANY_TIME), "contact_change": Use(20, ANY_TIME),
    "beneficiary_change": Use(8, ("free_look", "in_force", "year_two")),
    "policy_loan": Use(7, ("cash",)), "surrender": Use(4, ("cash", "year_three")),
    "loan_repayment": Use(4, ("repay", "year_three")), "epolicy_reissue": Use(4, ANY_TIME),
    "payment_account_change": Use(4, ("free_look", "in_force", "year_two", "cash")),
    "identity_correction": Use(2, ("free_look", "in_force", "year_two")),
    "payment_method_change": Use(2, ("in_force", "year_two")), "frequency_change": Use(2, ("anniversary",)),
    "payout_account_change": Use(2, ("in_force", "year_two")), "premium_holiday": Use(1, ("year_three",)),
    "owner_change": Use(1, ("in_force", "year_two")), "occupation_change": Use(1, ("free_look", "in_force")),
    "auto_premium_loan": Use(2, ("in_force", "year_two")), "partial_withdrawal": Use(2, ("cash", "year_three")),
    "reinstatement": Use(1, ("lapsed",)), "free_look_cancellation": Use(1, ("free_look",)),
    "sum_assured_decrease": Use(1, ("year_three",)), "rider_add": Use(1, ("anniversary",)),
    "rider_remove": Use(1, ("year_two",)), "dividend_option_change": Use(2, ("in_force", "year_two")),
    "annuity_option_change": Use(1, ("in_force", "year_two")),
}
ENDS_OR_MOVES = ("surrender", "free_look_cancellation", "owner_change")
REPEATABLE = ("address_change", "contact_change", "epolicy_reissue")  # may be asked twice on a policy in a stage
# Why the demo skipped a request, for reasons of its own rather than a rule of the catalog.
DEMO_REASONS = {"ONE-AT-A-TIME": "every policy the rules allow has this request open already",
                "POLICY-NOT-CLOSED": "the policy has ended"}  # random requests leave showcase ones alone
CASH_TO_CUSTOMER = ("policy_loan", "partial_withdrawal", "surrender")

# The showcase policies: (product, payment years, sum insured, frequency, stops paying to be reinstated).
SHOWCASE_CASES: tuple[tuple[str, int, str, str, bool], ...] = (
    ("whole-life-participating", 10, "300000", "annual", False),  # 0: options, rider, account changes, withdrawal
    ("whole-life-participating", 1, "800000", "annual", False),  # 1: beneficiary change, then a four-eyes surrender
    ("whole-life-participating", 5, "500000", "annual", False),  # 2: annuity option, loan and its repayment
    ("whole-life", 20, "200000", "annual", False),  # 3: identity, payment method, frequency, premium holiday
    ("term-life", 20, "500000", "annual", False),  # 4: contact, address, occupation, sum-assured decrease
    ("critical-illness", 20, "300000", "annual", False),  # 5: reissue, automatic loan, owner change, new owner's loan
    ("whole-life", 20, "200000", "monthly", True),  # 6: lapses and is reinstated
    ("term-life", 20, "300000", "annual", False),  # 7: cancelled in the free-look period
)


@dataclass(frozen=True)
class Showcase:
    """A request the demo always makes when it makes enough: every operation once, and the correlations."""

    operation: str
    stage: str
    case: int
    staff: str = "approve"  # approve | reject | documents
    withdraws: bool = False


SHOWCASE: tuple[Showcase, ...] = (
    Showcase("contact_change", "free_look", 4), Showcase("address_change", "free_look", 4),
    Showcase("epolicy_reissue", "free_look", 5), Showcase("free_look_cancellation", "free_look", 7),
    Showcase("occupation_change", "free_look", 4), Showcase("identity_correction", "free_look", 3, "documents"),
    Showcase("dividend_option_change", "in_force", 0), Showcase("annuity_option_change", "in_force", 2),
    Showcase("payment_method_change", "in_force", 3, "reject"), Showcase("auto_premium_loan", "in_force", 5,
                                                                         withdraws=True),
    Showcase("reinstatement", "lapsed", 6),
    Showcase("frequency_change", "anniversary", 3), Showcase("rider_add", "anniversary", 0),
    Showcase("rider_remove", "year_two", 0), Showcase("payment_account_change", "year_two", 0),
    Showcase("payout_account_change", "year_two", 0), Showcase("beneficiary_change", "year_two", 1),
    Showcase("owner_change", "year_two", 5),
    Showcase("partial_withdrawal", "cash", 0),  # after two account changes: ACCOUNT-THEN-CASH
    Showcase("surrender", "cash", 1),  # after the beneficiary change: BENEFICIARY-THEN-CASH, and four eyes
    Showcase("policy_loan", "cash", 2), Showcase("loan_repayment", "repay", 2),
    Showcase("premium_holiday", "year_three", 3), Showcase("sum_assured_decrease", "year_three", 4),
    # with two more requests: a third account change within 30 days (ACCOUNT-CHANGES-IN-MONTH), which staff
    # reject, and a loan asked for by the new owner (OWNER-THEN-SURRENDER)
    Showcase("payment_account_change", "cash", 0, "reject"), Showcase("policy_loan", "cash", 5),
)
PRODUCT_WEIGHTS = {"whole-life-participating": 45, "whole-life": 15, "term-life": 20, "critical-illness": 20}
SUMS = {"whole-life-participating": ("200000", "300000", "500000", "800000"), "whole-life": ("100000", "200000",
        "300000"), "term-life": ("300000", "500000", "1000000"), "critical-illness": ("100000", "200000", "300000")}
MONTHLY_SHARE = 0.1
MISFIT = 0.05  # random requests made on a policy the published rules would not allow (the server refuses them)
STAFF = {"approve": 84, "documents": 8, "reject": 8}
SUSPICIOUS = 0.35  # flagged requests staff reject
WITHDRAW, FORGET, WRONG_CODE = 0.04, 0.08, 0.06
CLERKS = ("SV-LIN", "SV-GAO")
REJECTIONS = ("the signature on the form does not match the one on file",
              "the documents given do not show the change asked for",
              "the customer could not be reached to confirm the request by phone")
BANKS = ("中国工商银行", "中国建设银行", "招商银行", "中国银行", "交通银行", "中国农业银行")
CITIES = (("上海市", "浦东新区", "200120"), ("北京市", "朝阳区", "100020"), ("广州市", "天河区", "510620"),
          ("深圳市", "南山区", "518052"), ("杭州市", "西湖区", "310013"), ("成都市", "武侯区", "610041"))
ROADS = ("世纪大道", "建国路", "天河路", "科技园路", "文三路", "人民南路", "中山路", "解放路")
RELATIONS = {"child": (1, 20), "spouse": (25, 55), "parent": (50, 80)}
LIVE = ("FreeLook", "InForce", "Grace")
OPEN_STATUSES = ("awaiting_confirmation", "documents_requested", "under_review", "approved")
FINAL = ("completed", "rejected", "withdrawn")
CODE = re.compile(r"\b(\d{6})\b")
CLOCK_LABELS = {**CLOCK_EVENTS, "policy.contract.free_look_ended": "free-look periods ended",
                "policy.contract.matured": "policies matured"}


@dataclass(frozen=True, kw_only=True)
class Terms:
    """What the demo needs of a product, as ``GET /v1/products/{id}`` publishes it."""

    id: str
    kind: str
    rider: bool
    pays_on_death: bool
    features: tuple[str, ...]
    frequencies: tuple[str, ...]
    occupation_classes: tuple[int, ...]
    sum_min: Decimal
    step: Decimal
    dividend_options: tuple[str, ...]
    dividend_default: str | None
    payout_options: tuple[str, ...]
    payout_default: str | None

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Terms:
        s = p.get("servicing") or {}
        e = p["eligibility"]
        deaths = [c for c in p["coverages"] if "death" in str(c.get("benefit", {}).get("group", ""))]
        return cls(id=p["id"], kind=p["kind"], rider=bool(p.get("rider")), pays_on_death=bool(deaths),
                   features=tuple(s.get("features", ())),
                   frequencies=tuple(p["plans"]["frequencies"]), occupation_classes=tuple(e["occupation_classes"]),
                   sum_min=Decimal(e["sum_insured_min"]["amount"]), step=Decimal(e["sum_insured_step"]["amount"]),
                   dividend_options=tuple(s.get("dividend_options", ())),
                   dividend_default=s.get("default_dividend_option"),
                   payout_options=tuple(s.get("payout_options", ())), payout_default=s.get("default_payout_option"))


@dataclass(kw_only=True)
class Case:
    """One demo policy as the demo follows it, updated from the API's answers (a working record)."""

    customer: Person
    party: str
    age: int
    terms: Terms
    plan: dict[str, Any]
    beneficiary: Person
    account: str
    lapses: bool = False  # stops paying from the first renewal, to ask for reinstatement once suspended
    reserved: bool = False  # a showcase policy: random requests that end it or change its owner leave it alone
    policy_no: str = ""
    status: str = ""
    next_due: str | None = None
    owner: str = ""  # the policyholder's party: the customer, until an owner change
    owner_name: str = ""
    sum_insured: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)  # premiums paid, as the customer's own record (sizes loans and withdrawals)
    loans: int = 0
    loaned: Decimal = Decimal(0)
    riders: int = 0
    method: str = "bank_debit"
    auto_loan: bool = False
    options: dict[str, str] = field(default_factory=dict)
    occupation_class: int = 1

    @property
    def roles(self) -> set[str]:
        """The roles the policyholder holds on the policy (the customer insures themselves)."""
        return {"policyholder", "insured"} if self.owner == self.party else {"policyholder"}

    def follow(self, view: Mapping[str, Any]) -> None:
        self.status = view.get("status", self.status)
        self.next_due = view.get("next_due", self.next_due)
        self.policy_no = view.get("policy_no") or self.policy_no
        if view.get("policyholder"):
            self.owner = view["policyholder"]
        plan = view.get("plan") or {}
        if plan.get("sum_insured"):
            self.sum_insured = Decimal(plan["sum_insured"]["amount"])
        if plan.get("frequency"):
            self.plan["frequency"] = plan["frequency"]


@dataclass(kw_only=True)
class Ask:
    """One request the demo plans, and what became of it."""

    number: int
    operation: str
    stage: str
    case: int | None = None  # the showcase policy it is for
    showcase: bool = False
    staff: str = "approve"
    suspicious: bool = False
    withdraws: bool = False
    forgets: bool = False
    wrong_code: bool = False
    misfit: bool = False
    target: Case | None = None
    requester: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)
    held_back: dict[str, bytes] = field(default_factory=dict)  # a document the customer forgot, given later
    request_id: str = ""
    status: str = ""
    refused: str = ""  # the rule the server named
    skipped: str = ""  # the rule no demo policy met when the demo came to ask
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    four_eyes: bool = False
    documents_asked: bool = False
    applied: bool = False  # its completion was applied to the demo's record of the policy
    quote: str = ""
    view: dict[str, Any] = field(default_factory=dict)  # the last answer about the request


def plan_asks(rng: random.Random, *, count: int) -> list[Ask]:
    """``count`` requests: the showcase first when ``count`` reaches every operation (every operation once, then
    the two correlation cases as far as ``count`` allows), then a seeded mix by ``USES`` weights."""
    asks: list[Ask] = []
    if count >= len(USES):
        for n, s in enumerate(SHOWCASE[:count]):
            asks.append(Ask(number=n, operation=s.operation, stage=s.stage, case=s.case, showcase=True,
                            staff=s.staff, withdraws=s.withdraws, suspicious=s.staff == "reject"))
    names = list(USES)
    for n in range(len(asks), count):
        operation = rng.choices(names, [USES[name].weight for name in names])[0]
        asks.append(Ask(number=n, operation=operation, stage=rng.choice(USES[operation].stages),
                        staff=rng.choices(list(STAFF), list(STAFF.values()))[0],
                        suspicious=rng.random() < SUSPICIOUS, withdraws=rng.random() < WITHDRAW,
                        forgets=rng.random() < FORGET, wrong_code=rng.random() < WRONG_CODE,
                        misfit=rng.random() < MISFIT))
    return asks


def plan_cases(rng: random.Random, *, asks: Sequence[Ask], today: date, products: Mapping[str, Terms]
               ) -> list[Case]:
    """The demo's policies: the showcase ones when the showcase runs, about one for every three requests more,
    and a policy that will lapse for every random reinstatement request."""
    showcase = any(ask.showcase for ask in asks)
    specs: list[tuple[str, int, str, str, bool]] = list(SHOWCASE_CASES) if showcase else []
    wanted = max(4, math.ceil(len(asks) / 3)) + (len(SHOWCASE_CASES) if showcase else 0) // 2
    names = list(PRODUCT_WEIGHTS)
    while len(specs) < wanted:
        product = rng.choices(names, [PRODUCT_WEIGHTS[n] for n in names])[0]
        years = rng.choice((1, 5, 10, 20)) if product.startswith("whole-life") else rng.choice((10, 20))
        frequency = "monthly" if years > 1 and rng.random() < MONTHLY_SHARE else "annual"
        specs.append((product, years, rng.choice(SUMS[product]), frequency, False))
    for ask in asks:
        if ask.operation == "reinstatement" and not ask.showcase:
            product = rng.choice(("whole-life", "term-life", "critical-illness"))
            specs.append((product, 20, SUMS[product][0], "monthly", True))
    cases = []
    for n, (product, years, sum_insured, frequency, lapses) in enumerate(specs):
        sex = rng.choice("MF")
        age = rng.randint(25, 45)
        who = person(rng, today=today, age=age, sex=sex)
        party = f"P{uuid.uuid4().hex[:20].upper()}"  # new people each run, as the policy demo makes them
        plan = {"sum_insured": sum_insured, "term_years": 20 if product == "term-life" else None,
                "payment_years": years, "frequency": frequency}
        child = person(rng, today=today, age=rng.randint(1, 20), sex=rng.choice("MF"))
        cases.append(Case(customer=who, party=party, age=age, terms=products[product], plan=plan, lapses=lapses,
                          beneficiary=child, account=f"6222{rng.randrange(10**15):015d}",
                          reserved=showcase and n < len(SHOWCASE_CASES), owner=party, owner_name=who.name,
                          sum_insured=Decimal(sum_insured)))
    return cases


def blocked_by(operation: Mapping[str, Any], case: Case) -> str | None:
    """The first of the operation's published eligibility rules the demo can see that ``case`` fails (status,
    product kind and feature, riders and loans), or None; the server tries every rule again."""
    for rule in operation["eligibility"]:
        if _fails(rule["check"], rule.get("parameters") or {}, case):
            return str(rule["code"])
    return None


def _fails(check: str, p: Mapping[str, Any], case: Case) -> bool:
    """Whether ``case`` fails a rule of kind ``check`` with parameters ``p``; False for the kinds a customer
    cannot see from their policy (cash value, anniversary, policy years ...)."""
    if check == "policy_status":
        return case.status not in p.get("statuses", ())
    if check == "product_kind":
        return case.terms.kind not in p.get("kinds", ())
    if check == "product_feature":
        return p.get("feature") not in case.terms.features
    if check == "base_policy":
        return case.terms.rider
    if check == "rider_attached":
        return case.riders == 0
    if check == "open_loan":
        return case.loans == 0
    if check == "no_open_loan":
        return case.loans > 0
    return False


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Clocks:
    """The in-process ledger's clock and the jobs ``serve`` runs on it: the demo moves time only forward."""

    def __init__(self, clock: FixedClock, *, policy: Callable[[], dict[str, int]],
                 servicing: Callable[[], dict[str, int]]) -> None:
        self.clock = clock
        self._policy = policy
        self._servicing = servicing

    def now(self) -> datetime:
        return self.clock.now()

    def move_to(self, moment: datetime) -> dict[str, int]:
        """Set the clock to ``moment`` (if later) and run the policy clock up to that day; its counts."""
        if moment > self.clock.now():
            self.clock.set(moment)
        return self._policy()

    def servicing(self) -> dict[str, int]:
        """Run the servicing clock (complete approved requests whose cooling-off is over); its counts."""
        return self._servicing()


class ServicingDemo:
    """The requests, the staff's work and the clock's moves of the servicing demo, over the HTTP API."""

    def __init__(self, api: Api, client: httpx.Client, *, rng: random.Random, clocks: Clocks, bar: Progress,
                 payments: str) -> None:
        self.api = api
        self.client = client
        self.rng = rng
        self.clocks = clocks
        self.bar = bar
        self.payments = payments
        self.tally: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.late: Counter[str] = Counter()  # approved requests the rules refused when the clock came to complete
        self.cases: list[Case] = []
        self.asks: list[Ask] = []
        self.operations: dict[str, dict[str, Any]] = {}
        self.products: dict[str, Terms] = {}
        self.rules: dict[str, str] = {}  # rule code -> its published English text
        self.rider = ""
        self._lock = threading.Lock()
        self._by_id: dict[str, Ask] = {}

    # -- plumbing ----------------------------------------------------------------------------------------------

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.tally[what] += n

    def each(self, description: str, items: Sequence[T], work: Callable[[T], object]) -> None:
        """Run ``work`` on every item, a few at a time, with a progress bar; the first failure is raised."""
        task = self.bar.add_task(description, total=len(items))
        pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="servicing-demo")
        try:
            for _ in pool.map(work, items):
                self.bar.advance(task)
        finally:
            pool.shutdown(cancel_futures=True)

    def send(self, method: str, path: str, *, who: tuple[Role, str], what: str, json: Any = None
             ) -> tuple[int, dict[str, Any]]:
        """One request whose refusal (409, 422) the demo expects and counts: (status, JSON body). Raises
        ``LedgerError`` naming ``what`` for any other answer but 200 and 201."""
        try:
            response = self.client.request(method, path, headers=self.api.auth(*who), json=json)
        except httpx.HTTPError as exc:
            raise LedgerError(f"{what}: {method} {path} failed: {exc}") from exc
        if response.status_code not in (200, 201, 409, 422):
            raise LedgerError(f"{what}: {method} {path} answered HTTP {response.status_code}: {response.text[:300]}")
        return response.status_code, response.json()

    def customer(self, ask: Ask) -> tuple[Role, str]:
        return Role.CUSTOMER, ask.requester

    # -- setting up ------------------------------------------------------------------------------------------

    def read_catalogs(self) -> None:
        """The servicing catalog and the products, as anyone can read them."""
        published = self.api.call("GET", "/v1/servicing/operations", who=None, what="reading the servicing catalog")
        self.operations = {op["code"]: op for op in published["operations"]}
        unknown = sorted(set(USES) - set(self.operations))
        if unknown:
            raise LedgerError(f"the servicing catalog has no operation {', '.join(unknown)}, which the demo asks for")
        self.rules = {rule["code"]: rule["en"] for op in self.operations.values() for rule in op["eligibility"]}
        listed = self.api.call("GET", "/v1/products", who=None, what="listing the products")
        for p in listed:
            terms = Terms.from_json(self.api.call("GET", f"/v1/products/{p['id']}", who=None,
                                                  what=f"reading product {p['id']}"))
            self.products[terms.id] = terms
        missing = sorted(set(PRODUCT_WEIGHTS) - set(self.products))
        if missing:
            raise LedgerError(f"the catalog has no product {', '.join(missing)}, which the demo's policies need")
        self.rider = next((t.id for t in self.products.values() if t.rider), "")

    def issue_all(self, cases: list[Case]) -> None:
        """Each customer applies with a clean declaration (accepted at once) and pays the first premium."""
        self.cases = cases

        def issue(case: Case) -> None:
            me = (Role.CUSTOMER, case.party)
            body = self.api.call("POST", "/v1/applications", who=me, what=f"applying for {case.terms.id}", json={
                "product_id": case.terms.id, "plan": case.plan, "policyholder": case.customer.to_json(),
                "beneficiaries": [{"person": case.beneficiary.to_json(), "share": "100"}]
                if case.terms.pays_on_death else [],
                "occupation_class": 1, "payment_account": case.account,
                "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(samples.CLEAN)})
            if body.get("status") != "accepted":
                raise LedgerError(f"the application for {case.terms.id} with a clean declaration was not accepted "
                                  f"at once (status {body.get('status')!r})")
            premium = body["premium"]["modal_premium"]["amount"]
            self.pay(case, premium, target={"application_id": body["application_id"]},
                     what=f"paying the first premium of {body['application_id']}")
            if not case.policy_no:
                raise LedgerError(f"{body['application_id']} was paid but not issued")
            self.count("policies issued for the demo")

        self.each("issuing policies", cases, issue)
        self.tally["customers"] = len(cases)

    def relative(self, relation: str) -> Person:
        low, high = RELATIONS[relation]
        return person(self.rng, today=self.clocks.now().date(), age=self.rng.randint(low, high),
                      sex=self.rng.choice("MF"))

    def pay(self, case: Case, amount: str, *, target: Mapping[str, str], what: str) -> dict[str, Any]:
        """Confirm one payment as the payments system; raises ``LedgerError`` if it was parked."""
        body: dict[str, Any] = self.api.call("POST", "/v1/payments", who=(Role.SYSTEM, self.payments), json={
            **target, "amount": amount, "currency": "CNY", "payment_ref": f"PAY-{uuid.uuid4().hex[:16].upper()}",
            "paid_at": self.clocks.now().strftime("%Y-%m-%dT%H:%M:%SZ")}, what=what)
        if body["outcome"] != "applied":
            raise LedgerError(f"{what}: the payment of {amount} was parked")
        case.paid += Decimal(amount)
        case.follow(body["policy"])
        return body

    # -- time ------------------------------------------------------------------------------------------------

    def run(self, *, day0: datetime, asks: list[Ask]) -> None:
        """Walk the policies' first two years month by month (the policy clock runs, customers pay what falls due)
        and make each stage's requests at its moment."""
        self.asks = asks
        moments: list[tuple[datetime, str]] = [(self._at(day0, m, 0), f"month {m}") for m in range(1, LAST_MONTH + 1)]
        moments += [(self._at(day0, *offset), name) for name, offset in STAGES.items()]
        for moment, what in sorted(moments):
            self.move_to(moment)
            if what in STAGES:
                self.stage(what)
            else:
                self.renewals(horizon=self._at(day0, int(what.split()[1]) + 1, 0).date())
        self.settle()

    def move_to(self, moment: datetime) -> None:
        """Move the clock to ``moment`` and count what the policy clock did up to then."""
        for kind, n in self.clocks.move_to(moment).items():
            label = CLOCK_LABELS.get(kind) or kind.rsplit(".", 1)[-1].replace("_", " ")
            self.count(f"policy clock: {label}", n)

    @staticmethod
    def _at(day0: datetime, months: int, days: int) -> datetime:
        return day0 + (add_months(day0.date(), months) - day0.date()) + timedelta(days=days)

    def refresh(self, cases: Sequence[Case]) -> None:
        """Read the policies as their owners see them (status, next due date, plan)."""
        def read(case: Case) -> None:
            case.follow(self.api.call("GET", f"/v1/policies/{case.policy_no}", who=(Role.CUSTOMER, case.owner),
                                      what=f"reading {case.policy_no}"))
        self.each("policies", list(cases), read)

    def renewals(self, *, horizon: date) -> None:
        """Customers pay every premium due before ``horizon``, except those who stopped paying."""
        def due(case: Case) -> bool:
            return case.status in LIVE and not case.lapses and case.next_due is not None and \
                date.fromisoformat(case.next_due) < horizon

        def act(case: Case) -> None:
            view = self.api.call("GET", f"/v1/policies/{case.policy_no}", who=(Role.CUSTOMER, case.owner),
                                 what=f"reading {case.policy_no}")
            case.follow(view)
            for _ in range(24):
                if view["status"] not in LIVE or not view["next_due"] or \
                        date.fromisoformat(view["next_due"]) >= horizon:
                    return
                view = self.pay(case, view["premium"]["modal_premium"]["amount"], target={"policy_no": case.policy_no},
                                what=f"paying the renewal of {case.policy_no} due {view['next_due']}")["policy"]
                self.count("renewal premiums paid")

        self.each("renewals", [case for case in self.cases if due(case)], act)

    # -- a stage ---------------------------------------------------------------------------------------------

    def stage(self, name: str) -> None:
        """The requests of one stage: choose policies and inputs, upload documents, submit, confirm codes, provide
        forgotten documents, staff work the queue; then a day passes and the servicing clock runs."""
        self.refresh([case for case in self.cases if case.status not in ("Cancelled", "Surrendered")])
        asks = [ask for ask in self.asks if ask.stage == name]
        taken: set[tuple[str, int]] = set()
        for ask in asks:  # every random choice on this thread, in plan order: a seed gives the same demo
            self.choose(ask, taken=taken)
            if ask.target is not None and ask.operation not in REPEATABLE:
                taken.add((ask.operation, id(ask.target)))
        ready = [ask for ask in asks if not ask.skipped]
        for ask in ready:  # one upload at a time (see ``demo_policies.PolicyDemo._upload``)
            self.prepare_documents(ask)
        by_case: dict[int, list[Ask]] = {}
        for ask in ready:
            assert ask.target is not None
            by_case.setdefault(id(ask.target), []).append(ask)

        def submit_in_order(mine: list[Ask]) -> None:
            for ask in mine:
                self.submit(ask)

        self.each(f"{name}: asking", list(by_case.values()), submit_in_order)
        self.confirm_codes([ask for ask in ready if ask.status == "awaiting_confirmation"])
        for ask in ready:
            if ask.status in ("under_review", "documents_requested") and ask.withdraws:
                self.withdraw(ask)
        for ask in ready:
            if ask.status == "documents_requested" and ask.held_back:
                self.provide(ask, ask.held_back)
        self.work_queue()
        self.request_payments([ask for ask in ready if ask.status == "approved"])
        self.move_to(self.clocks.now() + timedelta(hours=25))  # past every cooling-off of the stage
        self.complete_by_clock()
        self.reinstatement_payments()
        self.follow_requests()

    def choose(self, ask: Ask, *, taken: set[tuple[str, int]]) -> None:
        """The policy and input of ``ask`` as the customer would choose them now (not one that already has the
        same request open from this stage, ``taken``); or why none can be asked."""
        operation = self.operations[ask.operation]
        open_cases = [case for case in self.cases if case.status not in ("Cancelled", "Surrendered", "")]
        if ask.case is not None:
            case: Case | None = self.cases[ask.case] if ask.case < len(self.cases) else None
            if case is None or case.status in ("Cancelled", "Surrendered"):
                ask.skipped = "POLICY-NOT-CLOSED"
                return
        else:
            usable = [c for c in open_cases if not (c.reserved and ask.operation in ENDS_OR_MOVES)
                      and (not c.lapses or ask.operation in ("reinstatement", "address_change", "contact_change"))]
            if usable and all((ask.operation, id(c)) in taken for c in usable):
                ask.skipped = "ONE-AT-A-TIME"
                return
            usable = [c for c in usable if (ask.operation, id(c)) not in taken]
            fits = [c for c in usable if blocked_by(operation, c) is None and self.fits(ask.operation, c)]
            if ask.misfit and usable:
                fits = usable
            if not fits:
                reasons = Counter(blocked_by(operation, c) or self.why_not(ask.operation, c) for c in usable)
                ask.skipped = reasons.most_common(1)[0][0] if reasons else "POLICY-NOT-CLOSED"
                return
            case = self.rng.choice(fits)
        ask.target = case
        ask.requester = case.owner
        ask.input = self.input_for(ask.operation, case)

    def fits(self, operation: str, case: Case) -> bool:
        """What a customer would check beyond the published rules: an option or method they do not have yet,
        a policy with a loan to repay, no rider yet to add."""
        return self.why_not(operation, case) == ""

    def why_not(self, operation: str, case: Case) -> str:
        if operation == "rider_add" and (case.riders or not self.rider):
            return "RIDER-ATTACHED" if case.riders else "RIDER-NOT-ON-SALE"
        if operation == "reinstatement" and case.status != "Suspended":
            return "POLICY-SUSPENDED"
        if operation == "frequency_change" and len(case.terms.frequencies) < 2:
            return "FREQUENCY-OFFERED"
        return ""

    def input_for(self, operation: str, case: Case) -> dict[str, Any]:
        """The operation's input as a customer fills it in (see the catalog's ``input_schema``)."""
        rng, today = self.rng, self.clocks.now().date()
        if operation == "contact_change":
            out: dict[str, Any] = {"phone": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"}
            if rng.random() < 0.4:
                out["email"] = f"user{rng.randrange(10**6):06d}@example.cn"
            return out
        if operation == "address_change":
            city, district, postcode = rng.choice(CITIES)
            return {"address": f"{city}{district}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
                               f"{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室", "postcode": postcode}
        if operation == "identity_correction":
            if rng.random() < 0.5:
                return {"name": case.customer.name[0] + rng.choice(("晓", "子", "文")) + case.customer.name[1:]}
            return {"id_expiry": (today + timedelta(days=365 * 20)).isoformat()}
        if operation in ("payment_account_change", "payout_account_change"):
            return {"bank": rng.choice(BANKS), "account_no": f"6222{rng.randrange(10**15):015d}",
                    "holder": case.owner_name}
        if operation == "payment_method_change":
            return {"method": rng.choice([m for m in ("wechat_pay", "alipay", "bank_transfer", "bank_debit")
                                          if m != case.method])}
        if operation == "frequency_change":
            current = case.plan["frequency"]
            return {"frequency": rng.choice([f for f in case.terms.frequencies if f != current])}
        if operation == "premium_holiday":
            return {"months": rng.randint(3, 12)}
        if operation == "beneficiary_change":
            if rng.random() < 0.2:
                return {"legal_heirs": True}
            shares = rng.choice(((100,), (50, 50), (60, 40)))
            return {"beneficiaries": [{"person": self.relative(relation).to_json(), "share": str(share),
                                       "relationship": relation}
                                      for share, relation in zip(shares, rng.sample(list(RELATIONS), len(shares)),
                                                                 strict=True)]}
        if operation == "owner_change":
            relation = rng.choice(("spouse", "parent"))
            return {"new_policyholder": self.relative(relation).to_json(), "relationship": relation}
        if operation == "occupation_change":
            classes = [c for c in case.terms.occupation_classes if c in (2, 3) and c != case.occupation_class]
            return {"occupation_class": rng.choice(classes or [1]),
                    "changed_on": (today - timedelta(days=rng.randint(1, 7))).isoformat()}
        if operation == "policy_loan":
            return {"amount": str(_hundreds(max(Decimal(500), case.paid * Decimal(rng.randint(2, 6)) / 100))),
                    "months": rng.choice((3, 6))}
        if operation == "loan_repayment":
            if rng.random() < 0.25 and case.loaned > 1000:
                return {"amount": str(_hundreds(case.loaned / 2))}
            return {}
        if operation == "auto_premium_loan":
            return {"enabled": not case.auto_loan}
        if operation == "partial_withdrawal":
            return {"amount": str(_hundreds(max(Decimal(1000), case.paid * Decimal(rng.randint(3, 6)) / 100)))}
        if operation == "surrender":
            return {"reason": rng.choice(("need the money for a home", "bought cover elsewhere",
                                          "premiums are too high"))}
        if operation == "reinstatement":
            return {"answers": dict(samples.CLEAN)}
        if operation == "free_look_cancellation":
            return {}
        if operation == "sum_assured_decrease":
            steps = rng.randint(1, 3)
            new = max(case.terms.sum_min, case.sum_insured - case.terms.step * steps)
            return {"new_sum_insured": str(new)}
        if operation == "rider_add":
            return {"rider": self.rider, "plan": {"sum_insured": rng.choice(("50", "100", "150", "200")),
                                                  "term_years": 1, "payment_years": 1},
                    "answers": dict(samples.CLEAN)}
        if operation == "rider_remove":
            return {"rider": self.rider}
        if operation == "dividend_option_change":
            current = case.options.get("dividend", case.terms.dividend_default)
            return {"option": rng.choice([o for o in case.terms.dividend_options if o != current] or ["cash"])}
        if operation == "annuity_option_change":
            current = case.options.get("payout", case.terms.payout_default)
            return {"option": rng.choice([o for o in case.terms.payout_options if o != current] or ["cash"])}
        if operation == "epolicy_reissue":
            return {"kind": "corrected" if rng.random() < 0.15 else "copy",
                    "reason": rng.choice(("lost the printed copy", "a new copy for the bank",
                                          "the address printed is the old one"))}
        raise LedgerError(f"the demo has no input for operation {operation}")

    def required(self, ask: Ask) -> list[str]:
        """The documents and written consents the catalog asks of this requester (as the server decides)."""
        assert ask.target is not None
        operation = self.operations[ask.operation]
        held = ask.target.roles
        codes = [doc["code"] for doc in operation["documents"]]
        codes += [c["code"] for c in operation["consents"]
                  if c.get("written") and not held & {c["party"], *c.get("unless_requested_by", ())}]
        return codes

    def prepare_documents(self, ask: Ask) -> None:
        """Upload what the request needs; a customer who forgets one keeps it back until asked."""
        codes = self.required(ask)
        if ask.forgets and codes:
            held = codes.pop()
            ask.held_back = {held: self.document(ask, held)}
        for code in codes:
            ask.documents[code] = self.upload(ask.requester, self.document(ask, code), what=code)

    def document(self, ask: Ask, code: str) -> bytes:
        return (f"%PDF-1.4\n% {code} for request {ask.number} ({ask.operation})\n".encode() +
                self.rng.randbytes(32) + ask.requester.encode())

    def upload(self, party: str, content: bytes, *, what: str) -> str:
        body = self.client.post("/v1/uploads", content=content,
                                headers={**self.api.auth(Role.CUSTOMER, party), "Content-Type": "application/pdf"})
        if body.status_code != 201:
            raise LedgerError(f"uploading {what} as {party} answered HTTP {body.status_code}: {body.text[:200]}")
        return str(body.json()["digest"])

    # -- customers -------------------------------------------------------------------------------------------

    def submit(self, ask: Ask) -> None:
        assert ask.target is not None
        started = time.perf_counter()
        status, body = self.send("POST", f"/v1/policies/{ask.target.policy_no}/servicing", who=self.customer(ask),
                                 json={"operation": ask.operation, "input": ask.input, "documents": ask.documents},
                                 what=f"asking for {ask.operation} on {ask.target.policy_no}")
        ask.seconds = time.perf_counter() - started
        if status in (409, 422):
            ask.refused = str(body.get("rule") or f"invalid {body.get('field', 'input')}")
            with self._lock:
                self.refusals[ask.refused] += 1
            return
        self.note(ask, body)
        ask.flags = [flag["rule"] for flag in body.get("flags", [])]
        ask.four_eyes = bool(body.get("four_eyes"))
        quote = (body.get("quote") or {}).get("value") or {}
        ask.quote = quote.get("amount", "")
        with self._lock:
            self._by_id[ask.request_id] = ask
            self.flags.update(ask.flags)

    def note(self, ask: Ask, view: Mapping[str, Any]) -> None:
        ask.request_id = view.get("request_id") or ask.request_id
        ask.status = view.get("status", ask.status)
        ask.view = dict(view)

    def confirm_codes(self, asks: Sequence[Ask]) -> None:
        """Deliver the one-time codes (the demo acts as the messaging system) and let customers confirm, a few
        typing a wrong code first, or withdraw instead."""
        if not asks:
            return
        messaging = (Role.SYSTEM, "messaging")
        pending = self.api.call("GET", "/v1/staff/servicing/codes", who=messaging, params={"limit": 1000},
                                what="reading the one-time code outbox")
        codes = {}
        for message in pending:
            found = CODE.search(message["message_en"])
            if found:
                codes[message["id"]] = found.group(1)
        if pending:
            self.api.call("POST", "/v1/staff/servicing/codes/delivered", who=messaging,
                          json={"messages": [{"id": m["id"], "version": m["version"]} for m in pending]},
                          what="marking the codes delivered")

        def confirm(ask: Ask) -> None:
            if ask.withdraws:
                self.withdraw(ask)
                return
            code = codes.get(ask.request_id)
            if code is None:
                raise LedgerError(f"no one-time code for {ask.request_id} in the outbox")
            path = f"/v1/servicing/{ask.request_id}/confirm"
            if ask.wrong_code and code != "000000":
                status, body = self.send("POST", path, who=self.customer(ask), json={"code": "000000"},
                                         what=f"typing a wrong code for {ask.request_id}")
                if status != 409 or body.get("rule") != "OTP-WRONG":
                    raise LedgerError(f"a wrong code for {ask.request_id} was not refused with OTP-WRONG: {body}")
                self.count("wrong codes typed (refused OTP-WRONG)")
            self.note(ask, self.api.call("POST", path, who=self.customer(ask), json={"code": code},
                                         what=f"confirming {ask.request_id} with its code"))
            self.count("requests confirmed with the one-time code")

        self.each("codes", list(asks), confirm)

    def withdraw(self, ask: Ask) -> None:
        self.note(ask, self.api.call("POST", f"/v1/servicing/{ask.request_id}/withdraw", who=self.customer(ask),
                                     json={"reason": "changed my mind"}, what=f"withdrawing {ask.request_id}"))

    def provide(self, ask: Ask, documents: Mapping[str, bytes]) -> None:
        digests = {code: self.upload(ask.requester, content, what=code) for code, content in documents.items()}
        self.note(ask, self.api.call("POST", f"/v1/servicing/{ask.request_id}/documents", who=self.customer(ask),
                                     json={"documents": digests}, what=f"providing documents for {ask.request_id}"))
        self.count("documents provided later")

    # -- staff -----------------------------------------------------------------------------------------------

    def work_queue(self) -> None:
        """Clerks take the demo's requests under review, oldest first, until none is left."""
        for _ in range(20):
            queue = self.api.call("GET", "/v1/servicing/queue", who=(Role.SERVICING, CLERKS[0]),
                                  params={"limit": 1000}, what="reading the servicing queue")
            rows = [row for row in queue if row["request_id"] in self._by_id]
            if not rows:
                return
            for row in rows:
                self.decide(self._by_id[row["request_id"]], flagged=bool(row["flagged"]))
        raise LedgerError("the servicing queue still holds the demo's requests after 20 rounds")

    def decide(self, ask: Ask, *, flagged: bool) -> None:
        clerk = (Role.SERVICING, self.rng.choice(CLERKS))
        path = f"/v1/servicing/{ask.request_id}/decision"
        if ask.staff == "documents" and not ask.documents_asked:
            asked = "ID-DOCUMENT" if "ID-DOCUMENT" in self.required(ask) or not self.required(ask) \
                else self.required(ask)[0]
            self.note(ask, self.api.call("POST", path, who=clerk, what=f"asking documents for {ask.request_id}",
                                         json={"action": "request_documents", "documents": [asked],
                                               "reason": "the copy given cannot be read: upload a clearer one"}))
            ask.documents_asked = True
            self.count("staff: documents asked for")
            self.provide(ask, {asked: self.document(ask, asked) + b" clearer"})
            return
        if ask.staff == "reject" or (flagged and ask.suspicious):
            reason = f"flagged {', '.join(ask.flags)}: {REJECTIONS[2]}" if flagged else self.rng.choice(REJECTIONS)
            self.note(ask, self.api.call("POST", path, who=clerk, json={"action": "reject", "reason": reason},
                                         what=f"rejecting {ask.request_id}"))
            self.count("staff: rejected with a reason")
            return
        status, view = self.send("POST", path, who=clerk, json={"action": "approve", "reason": "checked"},
                                 what=f"approving {ask.request_id}")
        if status != 200:  # the rules no longer allow it (the policy changed since): the clerk rejects it
            rule = str(view.get("rule") or view.get("field") or "invalid")
            self.count(f"staff: rejected, approval refused: {rule}")
            self.note(ask, self.api.call("POST", path, who=clerk, what=f"rejecting {ask.request_id}", json={
                "action": "reject", "reason": f"cannot be carried out now: {rule}"}))
            return
        self.count("staff: approved")
        if view["status"] == "under_review" and view.get("four_eyes"):
            second = (Role.SERVICING, CLERKS[1] if clerk[1] == CLERKS[0] else CLERKS[0])
            view = self.api.call("POST", path, who=second, json={"action": "approve", "reason": "second check"},
                                 what=f"approving {ask.request_id} as the second clerk")
            self.count("staff: second approvals (four eyes)")
        self.note(ask, view)

    # -- the clocks and payments -----------------------------------------------------------------------------

    def complete_by_clock(self) -> None:
        for outcome, n in self.clocks.servicing().items():
            self.count("completed by the servicing clock after the cooling-off" if outcome == "completed"
                       else f"servicing clock: not completed ({outcome})", n)

    def request_payments(self, asks: Sequence[Ask]) -> None:
        """Customers pay what an approved request awaits from them (a loan repayment), confirmed by the payments
        system on the request; it completes with the payment."""
        for ask in asks:
            awaited = (ask.view.get("awaiting") or {})
            amount = awaited.get("amount") or {}
            if awaited.get("from") != "customer" or ask.operation == "reinstatement" or not amount:
                continue
            self.note(ask, self.api.call("POST", f"/v1/servicing/{ask.request_id}/payments",
                                         who=(Role.SYSTEM, self.payments), what=f"paying for {ask.request_id}", json={
                                             "amount": amount["amount"], "currency": amount["currency"],
                                             "payment_ref": f"PAY-{uuid.uuid4().hex[:16].upper()}",
                                             "paid_at": self.clocks.now().strftime("%Y-%m-%dT%H:%M:%SZ")}))
            self.count("request payments received (loan repayments)")

    def reinstatement_payments(self) -> None:
        """Customers whose reinstatement was approved pay its amount; the servicing clock then completes it."""
        waiting = [a for a in self.asks if a.operation == "reinstatement" and a.request_id and a.target is not None]
        paid = 0
        for ask in waiting:
            view = self.api.call("GET", f"/v1/servicing/{ask.request_id}", who=self.customer(ask),
                                 what=f"reading {ask.request_id}")
            self.note(ask, view)
            if ask.status == "approved" and ask.quote:
                assert ask.target is not None
                self.refresh([ask.target])
                if ask.target.status != "Suspended":  # reinstated by an earlier payment
                    continue
                self.pay(ask.target, ask.quote, target={"policy_no": ask.target.policy_no},
                         what=f"paying the reinstatement of {ask.target.policy_no}")
                self.count("reinstatement amounts paid")
                paid += 1
        if paid:
            for outcome, n in self.clocks.servicing().items():
                self.count("completed by the servicing clock after the payment" if outcome == "completed"
                           else f"servicing clock: not completed ({outcome})", n)

    def follow_requests(self) -> None:
        """Read every open request; apply what completed ones changed to the demo's record of the policy."""
        for ask in self.asks:
            if not ask.request_id or ask.applied:
                continue
            if ask.status not in FINAL or ask.status == "completed":
                self.note(ask, self.api.call("GET", f"/v1/servicing/{ask.request_id}", who=self.customer(ask),
                                             what=f"reading {ask.request_id}"))
                outcome = ask.view.get("outcome") or {}
                if ask.status == "rejected" and (outcome.get("actor") or {}).get("role") == "system":
                    self.late[str(outcome.get("rule"))] += 1  # the rules refused it when it was due to complete
            if ask.status == "completed":
                self.apply(ask)

    def apply(self, ask: Ask) -> None:
        """What a completed request changed, as the customer now knows it."""
        case = ask.target
        assert case is not None
        ask.applied = True
        op, given = ask.operation, ask.input
        if op == "owner_change":
            case.owner, case.owner_name = ask.view["input"]["policyholder"], given["new_policyholder"]["name"]
        elif op == "policy_loan":
            case.loans += 1
            case.loaned += Decimal(given["amount"])
        elif op == "loan_repayment":
            case.loans = 0 if "amount" not in given else case.loans
            case.loaned = Decimal(0) if "amount" not in given else case.loaned - Decimal(given["amount"])
        elif op == "rider_add":
            case.riders += 1
        elif op == "rider_remove":
            case.riders -= 1
        elif op == "payment_method_change":
            case.method = given["method"]
        elif op == "auto_premium_loan":
            case.auto_loan = bool(given["enabled"])
        elif op == "dividend_option_change":
            case.options["dividend"] = given["option"]
        elif op == "annuity_option_change":
            case.options["payout"] = given["option"]
        elif op == "occupation_change":
            case.occupation_class = int(given["occupation_class"])
        elif op == "reinstatement":
            case.lapses = False  # back in force: they pay again

    def settle(self) -> None:
        """After the last stage: every request read once more, as it ends."""
        self.move_to(self.clocks.now() + timedelta(hours=25))
        self.complete_by_clock()
        self.follow_requests()


def _hundreds(amount: Decimal) -> Decimal:
    return (amount / 100).quantize(Decimal(1), ROUND_DOWN) * 100


# -- the summary --------------------------------------------------------------------------------------------------

NEVER_FIRED = {"BENEFICIARY-CHANGE-OPEN-CLAIM": "no claims in the demo",
               "BENEFICIARY-CHANGE-BEFORE-DEATH-CLAIM": "tried on claims"}


def summary(demo: ServicingDemo, *, seconds: float) -> list[Table]:
    """The tables printed at the end: requests by operation, their final status, flags, refusals, what was
    skipped and why, and the totals with submit times."""
    asks = demo.asks
    operations = list(demo.operations)
    asked = Table(title="servicing requests by operation", title_justify="left")
    for name in ("operation", "asked", "refused", "submitted", "skipped"):
        asked.add_column(name, justify="left" if name == "operation" else "right")
    final = Table(title="final status of the submitted requests", title_justify="left")
    for name in ("operation", "completed", "rejected", "withdrawn", "open"):
        final.add_column(name, justify="left" if name == "operation" else "right")
    totals: Counter[str] = Counter()
    for op in operations:
        mine = [a for a in asks if a.operation == op]
        row = Counter(asked=sum(1 for a in mine if not a.skipped), refused=sum(1 for a in mine if a.refused),
                      submitted=sum(1 for a in mine if a.request_id), skipped=sum(1 for a in mine if a.skipped))
        ends = Counter(a.status if a.status in FINAL else "open" for a in mine if a.request_id)
        asked.add_row(op, *(str(row[k]) for k in ("asked", "refused", "submitted", "skipped")))
        final.add_row(op, *(str(ends[k]) for k in ("completed", "rejected", "withdrawn", "open")))
        totals.update(row)
        totals.update(ends)
    asked.add_row("all", *(str(totals[k]) for k in ("asked", "refused", "submitted", "skipped")))
    final.add_row("all", *(str(totals[k]) for k in ("completed", "rejected", "withdrawn", "open")))

    flags = Table(title="correlation flags by rule", title_justify="left")
    flags.add_column("rule")
    flags.add_column("flags", justify="right")
    flags.add_column("note")
    for rule in sorted(set(demo.flags) | set(NEVER_FIRED)):
        flags.add_row(rule, str(demo.flags.get(rule, 0)), "" if demo.flags.get(rule) else NEVER_FIRED.get(rule, ""))

    refusals = Table(title="refusals by rule", title_justify="left", caption="when due: approved, then refused by "
                     "the rules when the servicing clock came to complete it", caption_justify="left")
    refusals.add_column("rule")
    refusals.add_column("when asked", justify="right")
    refusals.add_column("when due", justify="right")
    for rule in sorted(set(demo.refusals) | set(demo.late)):
        refusals.add_row(rule, str(demo.refusals.get(rule, 0)), str(demo.late.get(rule, 0)))

    skipped = Table(title="skipped: no demo policy met the rule when the customer came to ask", title_justify="left")
    skipped.add_column("operation")
    skipped.add_column("rule")
    skipped.add_column("skipped", justify="right")
    skipped.add_column("rule says")
    for (op, rule), n in sorted(Counter((a.operation, a.skipped) for a in asks if a.skipped).items()):
        skipped.add_row(op, rule, str(n), demo.rules.get(rule, DEMO_REASONS.get(rule, "")))

    times = [a.seconds for a in asks if a.request_id or a.refused]
    automatic = [a.seconds for a in asks if a.request_id and demo.operations[a.operation]["automatic"]]
    table = Table(title="servicing demo", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = {"requests planned": len(asks), "requests asked": totals["asked"],
            "requests skipped": totals["skipped"], "requests refused": totals["refused"],
            "requests submitted": totals["submitted"], "requests flagged": sum(1 for a in asks if a.flags),
            "four-eyes requests": sum(1 for a in asks if a.four_eyes),
            "operations asked at least once": sum(1 for op in operations if any(
                a.operation == op and not a.skipped for a in asks))}
    for label, n in rows.items():
        table.add_row(label, str(n))
    for label, n in sorted(demo.tally.items()):
        table.add_row(label, str(n))
    table.add_row("submit mean, all", f"{sum(times) / len(times) * 1e3:.1f} ms" if times else "-")
    table.add_row("submit p99, all", f"{percentile(times, 99) * 1e3:.1f} ms" if times else "-")
    table.add_row("submit mean, automatic", f"{sum(automatic) / len(automatic) * 1e3:.1f} ms" if automatic else "-")
    table.add_row("submit p99, automatic", f"{percentile(automatic, 99) * 1e3:.1f} ms" if automatic else "-")
    table.add_row("time taken", f"{seconds:.1f} s")
    return [asked, final, flags, refusals, skipped, table]


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        yield bar


def run_servicing_demo(settings: Settings, *, requests: int, seed: int, url: str | None, console: Console,
                       progress: Console) -> ServicingDemo:
    """Run the servicing demo with ``requests`` customer requests (choices seeded by ``seed``) on the ledger of
    ``settings.data_dir`` (made if missing), print its summary tables on ``console`` (progress bars go to
    ``progress``) and return the demo with its counts.

    It runs in-process only: the app is served by Starlette's ``TestClient`` on a clock that starts now (or just
    after the last entry of the journal, so it follows a ``--policies`` run) and that the demo moves through two
    policy years; cooling-off periods pass because the clock passes them. Raises ``LedgerError`` naming the
    request and the problem for any answer the demo did not expect, and for a ``url`` (a server's clock cannot
    be moved from outside).
    """
    if url is not None:
        raise LedgerError("the servicing demo runs in-process only (it moves the ledger's clock through cooling-off "
                          "periods and two policy years, which a running server's clock cannot do): drop --url")
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.app import Ledger, token_key

    started = time.monotonic()
    rng = random.Random(seed)
    ledger = Ledger.open(settings.model_copy(update={"clock_interval": 1e9}))  # the demo runs the clocks itself
    try:
        size = ledger.log.size()
        last = datetime.fromisoformat(ledger.log.entry(size - 1).recorded_at.replace("Z", "+00:00")) if size \
            else datetime.now(UTC)
        clock = FixedClock(max(datetime.now(UTC), last + timedelta(seconds=1)).replace(microsecond=0))
    finally:
        ledger.close()
    ledger = Ledger.open(settings.model_copy(update={"clock_interval": 1e9}), clock=clock)
    try:
        clocks = Clocks(clock, policy=lambda: ledger.policies.run_clock(until=ledger.policies.today()),
                        servicing=ledger.servicing.run_clock)
        with TestClient(create_app(ledger=ledger), raise_server_exceptions=False) as client, \
                _progress(progress) as bar:
            demo = ServicingDemo(Api(client, key=token_key(settings), issuer=settings.jwt_issuer), client, rng=rng,
                                 clocks=clocks, bar=bar, payments=settings.payment_systems[0])
            demo.read_catalogs()
            asks = plan_asks(rng, count=requests)
            day0 = clock.now()
            demo.issue_all(plan_cases(rng, asks=asks, today=ledger.policies.today(), products=demo.products))
            demo.run(day0=day0, asks=asks)
        ledger.log.checkpoint_now()
    finally:
        ledger.close()
    for table in summary(demo, seconds=time.monotonic() - started):
        console.print(table)
    console.print("Cooling-off periods (24 h) were served in full: the demo moved the ledger's clock a day past each "
                  "stage's approvals and ran the servicing clock, as `serve` does every few minutes. The policy "
                  "clock's counts cover every policy on the ledger (those of earlier demos too, whose customers no "
                  "longer pay).", highlight=False)
    return demo
