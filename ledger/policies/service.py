"""The policy service: quote, apply, declare, underwrite, pay, issue, and the policy clock, on the one command path.

It loads what ``decide`` needs (products, questionnaire, rule set, the answers given so far), renders the e-policy
and computes its digest, and hands the command to the workflow; it never writes SQL, signs or calls the chain.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ledger.clock import BusinessCalendar, Clock
from ledger.errors import Conflict, ErasedError, LedgerError, NotFound, Refused, StorageError, ValidationFailed
from ledger.kernel import Event, NewEvent, copy_with
from ledger.log.encoding import digest_str, sha256
from ledger.log.identifiers import parse_timestamp
from ledger.money import Money
from ledger.parties.identity import age_on, mask_name
from ledger.policies import decide as d
from ledger.policies import epolicy
from ledger.policies import events as ev
from ledger.policies import projection as proj
from ledger.policies import state as st
from ledger.policies.rules.questionnaire import (
    Questionnaire,
    check_answers,
    is_complete,
    load_questionnaire,
    next_questions,
)
from ledger.policies.rules.ruleset import RuleSet, load_ruleset
from ledger.policies.rules.underwriting import UnderwritingInput, decide_underwriting
from ledger.policies.state import PolicyState
from ledger.products.catalog import Product, ProductCatalog
from ledger.products.pricing import Plan, cash_value, quote
from ledger.projections import documents as docs
from ledger.services.documents import DocumentService
from ledger.services.readmodels import ReadModels
from ledger.services.uploads import UploadService
from ledger.workflow import Outcome, Workflow, new_id

log = logging.getLogger(__name__)
EPOLICY_KIND = 1  # DocumentRegistry kind of an e-policy
INDEX_ATTEMPTS = 3  # an application resolves its people again when another command registered one meanwhile
NUMBERS_REMEMBERED = 100_000  # policy numbers whose application is remembered
REVOKED_CANCELLED = 1  # DocumentRegistry reason code: the contract was cancelled
REVOKED_ENDED = 2  # DocumentRegistry reason code: the contract ended (not reinstated in time)


class Person(Protocol):
    """A checked person as the parties service parses them (``ledger.parties.service.Person``)."""

    @property
    def name(self) -> str: ...

    @property
    def id_number(self) -> str: ...

    @property
    def birth_date(self) -> date: ...

    @property
    def sex(self) -> str: ...


class People(Protocol):
    """What policies need of the parties service: new ids, who is known, and registering the people named."""

    def new_id(self) -> str: ...

    def exists(self, party_id: str) -> bool: ...

    def registration(self, person: Any, *, actor: Mapping[str, str], party_id: str | None = None
                     ) -> tuple[str, NewEvent]: ...

    def resolve(self, persons: Sequence[Any], *, actor: Mapping[str, str]) -> list[Any]: ...

    def registered_as(self, party_id: str, id_number: str) -> bool: ...

    def index_row(self, id_number: str, party_id: str) -> tuple[bytes, str] | None: ...

    def registering(self, error: LedgerError) -> bool: ...


class PolicyRules:
    """The policy aggregate for the workflow: fold and decide from ``ledger.policies.state`` and ``decide``."""

    def initial(self) -> PolicyState:
        return PolicyState()

    def evolve(self, state: PolicyState, event: Event) -> PolicyState:
        return st.evolve(state, event)

    def decide(self, state: PolicyState, command: object, now: Any) -> list[NewEvent]:
        return d.decide(state, command, now)


@dataclass(frozen=True)
class Beneficiary:
    person: Person | None  # None: the legal heirs
    share: Decimal


@dataclass(frozen=True)
class ApplicationRequest:
    """An application as the edge parsed it; personal data is checked here and sealed under each person."""

    product_id: str
    plan: Mapping[str, Any]
    policyholder: Person
    insured: Person | None  # None: the policyholder insures themself
    relationship: str
    beneficiaries: tuple[Beneficiary, ...]  # empty: the legal heirs
    occupation_class: int
    payment_account: str
    identity_documents: tuple[str, ...]
    consent: Mapping[str, bool]
    channel: str = "online"  # or "assisted": staff applying for the customer, with their signed authorisation
    answers: Mapping[str, Any] = field(default_factory=dict)
    authorization: str | None = None  # digest of the customer's signed authorisation (assisted applications)


class PolicyService:
    serviced_type = ev.SERVICED  # the contract's event for a change made by a servicing request

    def __init__(self, *, workflow: Workflow, parties: People, catalog: ProductCatalog,
                 questionnaires: Mapping[str, Questionnaire], rulesets: Mapping[str, RuleSet],
                 uploads: UploadService, documents: DocumentService, read: ReadModels, calendar: BusinessCalendar,
                 clock: Clock, public_url: str, opener: Any, verifier_key_id: str | None = None,
                 published: Callable[[Product], None] = lambda product: None,
                 render: Callable[[Any], bytes] = epolicy.render) -> None:
        self._workflow = workflow
        self._parties = parties
        self.catalog = catalog
        self._questionnaires = questionnaires
        self._rulesets = rulesets
        self._uploads = uploads
        self._documents = documents
        self._read = read
        self.calendar = calendar
        self._clock = clock
        self._public_url = public_url
        self._key_id = verifier_key_id  # printed in every new e-policy's QR code, which pins it on the page
        self._personal = opener  # opens a recorded event's personal part (SubjectService.open_personal)
        self._rules = PolicyRules()
        self._published = published  # records a product version in the journal before it is first sold
        self._render = render  # e-policy view -> PDF bytes (a worker process pool in a serving ledger)
        self._numbers: dict[str, str] = {}  # policy number -> application id

    # -- products and quotes ---------------------------------------------------------------------------------

    def new_party_id(self) -> str:
        return self._parties.new_id()

    def today(self) -> date:
        return self.calendar.today(self._clock)

    def quote(self, *, product_id: str, plan: Mapping[str, Any], age: int, sex: str, occupation_class: int,
              extra_premium_pct: Decimal = Decimal(0), version: int | None = None) -> dict[str, Any]:
        """The premium for a plan and an insured profile, with the product and table versions behind it."""
        product = self.catalog.get(product_id, version)
        parsed = _plan(product, plan)
        return _quote_json(product, parsed, age=age, sex=sex, occupation_class=occupation_class,
                           extra=extra_premium_pct)

    # -- applications ----------------------------------------------------------------------------------------

    def apply(self, request: ApplicationRequest, *, actor: d.Actor, policyholder_id: str) -> PolicyState:
        """Record an application (registering the people it names), and the answers it carries.

        Raises ``ValidationFailed`` naming the field (plan, shares, consent, uploads) and ``Refused`` naming
        the rule (eligibility). A person another command registered in the meantime is resolved again (to that
        command's party) and the application decided again.
        """
        for attempt in range(INDEX_ATTEMPTS):
            try:
                return self._apply_once(request, actor=actor, policyholder_id=policyholder_id)
            except Conflict as error:
                if not self._parties.registering(error) or attempt == INDEX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _apply_once(self, request: ApplicationRequest, *, actor: d.Actor, policyholder_id: str) -> PolicyState:
        product = self.catalog.get(request.product_id)
        plan = _plan(product, request.plan)
        insured_person = request.insured or request.policyholder
        today = self.today()
        age = age_on(insured_person.birth_date, today)
        if not request.consent.get("terms_read") or not request.consent.get("insured_consents"):
            raise ValidationFailed("consent.terms_read and consent.insured_consents must both be true (IL 34: "
                                   "death cover needs the insured's consent)", field="consent")
        shares = sum((b.share for b in request.beneficiaries), Decimal(0))
        if request.beneficiaries and shares != Decimal(100):
            raise ValidationFailed(f"beneficiary shares must add up to 100, not {shares}", field="beneficiaries")
        self._check_uploads(request.identity_documents, owners={policyholder_id, actor.party},
                            field="identity_documents")
        if actor.role != "customer":  # DOMAIN.md §4: someone acting for the customer needs their authorisation
            if not request.authorization:
                raise ValidationFailed("an application made for a customer needs their signed authorisation: upload "
                                       "it for the customer (?subject=<their party id>) and cite its digest",
                                       field="authorization")
            self._check_uploads([request.authorization], owners={policyholder_id}, field="authorization")
        quoted = _quote_json(product, plan, age=age, sex=insured_person.sex,
                             occupation_class=request.occupation_class, extra=Decimal(0))
        self._published(product)
        actor_json = actor.to_json()
        registrations: list[NewEvent] = []
        index: list[tuple[bytes, str]] = []
        if not self._parties.exists(policyholder_id):
            registrations.append(self._parties.registration(request.policyholder, actor=actor_json,
                                                            party_id=policyholder_id)[1])
            row = self._parties.index_row(request.policyholder.id_number, policyholder_id)
            index += [row] if row is not None else []
        elif not self._parties.registered_as(policyholder_id, request.policyholder.id_number):
            raise ValidationFailed(f"policyholder.id_number is not the identity number registered for customer "
                                   f"{policyholder_id}", field="policyholder.id_number")
        # Everyone else the application names, each once, as the party they are (new ones registered with it).
        others: dict[str, Person] = {}
        for person in [request.insured, *(b.person for b in request.beneficiaries)]:
            if person is not None and person.id_number != request.policyholder.id_number:
                others.setdefault(person.id_number, person)
        resolved = dict(zip(others, self._parties.resolve(list(others.values()), actor=actor_json), strict=True))
        registrations += [r.registration for r in resolved.values() if r.registration is not None]
        index += [r.index for r in resolved.values() if r.index is not None]

        def party_of(person: Person) -> str:
            return policyholder_id if person.id_number == request.policyholder.id_number else \
                resolved[person.id_number].party_id

        insured_id = party_of(request.insured) if request.insured is not None else policyholder_id
        beneficiaries: list[dict[str, Any]] = []
        printed: list[list[str]] = []  # (name, share) pairs, as JSON arrays
        for b in request.beneficiaries:
            if b.person is not None:
                beneficiaries.append({"party": party_of(b.person), "share": str(b.share)})
                printed.append([mask_name(b.person.name), f"{b.share}%"])
        if not beneficiaries:
            beneficiaries = [{"party": None, "share": "100", "legal_heirs": "yes"}]
        same_number = resolved[request.insured.id_number].same_number if request.insured is not None and \
            request.insured.id_number in resolved else None
        cover = self.cover_with_us(insured_id, product, applicant=policyholder_id)
        if same_number is not None:  # the same identity number under another name: its cover counts too
            cover = cover + self.cover_with_us(same_number, product, applicant=policyholder_id)
        application_id = new_id("A")
        facts = {
            "product": {"id": product.id, "version": product.version, "digest": product.digest,
                        "kind": product.kind},
            "plan": _plan_json(plan), "policyholder": policyholder_id, "insured": insured_id,
            "beneficiaries": beneficiaries, "insured_age": age, "insured_sex": insured_person.sex,
            "occupation_class": request.occupation_class, "quote": quoted, "cover_with_us": cover.to_json(),
            "consent": {k: bool(v) for k, v in request.consent.items()}, "channel": request.channel,
        }
        # The names as the e-policy prints them (masked), kept with the application's personal part.
        people = {"policyholder": mask_name(request.policyholder.name), "insured": mask_name(insured_person.name),
                  "beneficiaries": printed}
        personal = {"payment_account": request.payment_account, "people": people,
                    **({"authorization": request.authorization} if request.authorization else {}),
                    "identity_documents": list(request.identity_documents), "relationship": request.relationship}
        declaration = None
        if request.answers:
            declaration = d.Answer(answers=dict(request.answers), previous={},
                                   questionnaire=self._questionnaires[product.questionnaire],
                                   rules=self._rulesets[product.underwriting],
                                   automatic_limit=product.automatic_limit,
                                   reprice=lambda extra: _quote_json(product, plan, age=age, sex=insured_person.sex,
                                                                     occupation_class=request.occupation_class,
                                                                     extra=extra),
                                   actor=actor)
        command = d.Submit(application_id, facts, personal, actor, parties=tuple(registrations),
                           declaration=declaration)
        expected = {event.stream: 0 for event in registrations if event.stream is not None}
        return self._workflow.run(self._rules, ev.stream_of(application_id), command, expected=expected,
                                  fresh=True, index=index).state  # a new random id: nothing to read first

    def cover_with_us(self, insured: str, product: Product, *, applicant: str) -> Money:
        """The insured's sums insured with us (financial underwriting): policies in force, and applications still
        open that ``applicant`` made (another customer's unfinished application does not count against them)."""
        total = Money.zero(product.currency)
        links = self._read.select(proj.PARTIES, where={"party_id": insured, "role": "insured"})
        rows = self._read.get_many(proj.POLICIES, [(link["application_id"],) for link in links])
        for link in links:
            row = rows.get((link["application_id"],))
            if row is None or row["status"] in st.CLOSED or row["currency"] != product.currency:
                continue
            if row["status"] not in st.POLICY_STATUSES and row["policyholder"] != applicant:
                continue
            total = total + Money.of(row["sum_insured"], row["currency"])
        return total

    def questionnaire(self, application_id: str) -> dict[str, Any]:
        """The questions the applicant still has to answer, given the answers so far."""
        state = self.get(application_id)
        q = self._questionnaire_of(state)
        answered = self._answers(application_id)
        pending = next_questions(q, answered)
        return {"application_id": application_id, "questionnaire": {"id": q.id, "version": q.version,
                                                                    "digest": q.digest},
                "complete": state.declaration_complete or not pending, "answered": len(answered),
                "questions": [question.model_dump(mode="json", exclude_none=True) for question in pending]}

    def answer(self, application_id: str, answers: Mapping[str, Any], *, actor: d.Actor) -> PolicyState:
        """Record answers; once the declaration is complete, underwrite it automatically in the same group."""
        state = self.get(application_id)
        product = self.catalog.get(state.product["id"], state.product["version"])
        q = self._questionnaire_of(state)
        command = d.Answer(answers=dict(answers), previous=self._answers(application_id), questionnaire=q,
                           rules=self._rulesets[product.underwriting], automatic_limit=product.automatic_limit,
                           reprice=self._repricer(state, product), actor=actor)
        return self._run(application_id, command).state

    def _repricer(self, state: PolicyState, product: Product) -> d.Repricer:
        plan = _plan(product, state.plan)

        def reprice(extra: Decimal) -> dict[str, Any]:
            return _quote_json(product, plan, age=state.insured_age, sex=state.insured_sex,
                               occupation_class=state.occupation_class, extra=extra)

        return reprice

    def _answers(self, application_id: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for event in self._workflow.history(ev.stream_of(application_id)):
            if event.type == ev.ANSWERED:
                opened = self._personal(event.index)
                payload = opened.payload if opened is not None else {}
                merged.update(payload.get("answers", {}) if isinstance(payload, dict) else {})
        return merged

    def _questionnaire_of(self, state: PolicyState) -> Questionnaire:
        product = self.catalog.get(state.product["id"], state.product["version"])
        return self._questionnaires[product.questionnaire]

    # -- underwriting ----------------------------------------------------------------------------------------

    def queue(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Applications referred to an underwriter (and those waiting for evidence), oldest first."""
        rows = self._read.select(proj.POLICIES, where={"status": st.REFERRED}, order_by=("submitted_at",),
                                 limit=limit)
        rows += self._read.select(proj.POLICIES, where={"status": st.EVIDENCE_REQUESTED},
                                  order_by=("submitted_at",), limit=limit)
        return rows

    def underwrite(self, application_id: str, *, action: str, reason: str, actor: d.Actor,
                   extra_premium_pct: Decimal = Decimal(0), exclusions: Sequence[Mapping[str, str]] = (),
                   postpone_months: int | None = None, evidence: str = "") -> PolicyState:
        state = self.get(application_id)
        product = self.catalog.get(state.product["id"], state.product["version"])
        command = d.Underwrite(action=action, reason=reason, actor=actor, reprice=self._repricer(state, product),
                               extra_premium_pct=extra_premium_pct, exclusions=tuple(exclusions),
                               postpone_months=postpone_months, evidence=evidence)
        return self._run(application_id, command).state

    def provide_evidence(self, application_id: str, documents: Sequence[str], *, actor: d.Actor) -> PolicyState:
        state = self.get(application_id)
        self._check_uploads(documents, owners={state.insured, state.policyholder, actor.party}, field="documents")
        return self._run(application_id, d.ProvideEvidence(tuple(documents), actor)).state

    def _check_uploads(self, digests: Sequence[str], *, owners: set[str], field: str) -> None:
        """Every digest names a file uploaded by (or for) one of ``owners``; a stranger's file is as unknown."""
        for n, digest in enumerate(digests):
            if not self._uploads.owned_by(digest, owners):
                raise ValidationFailed(f"{field}[{n}]: no upload {digest} of yours; POST it to /v1/uploads first",
                                       field=f"{field}[{n}]")

    def respond_to_offer(self, application_id: str, *, accept: bool, actor: d.Actor, reason: str = ""
                         ) -> PolicyState:
        return self._run(application_id, d.RespondToOffer(accept, actor, reason)).state

    def withdraw(self, application_id: str, *, reason: str, actor: d.Actor) -> PolicyState:
        return self._run(application_id, d.Withdraw(reason, actor)).state

    # -- premiums and issue ----------------------------------------------------------------------------------

    def pay(self, application_id: str, *, amount: Money, payment_ref: str, paid_at: str, actor: d.Actor
            ) -> tuple[PolicyState, str]:
        """Record a payment against an application or policy: applied to the premium due, or parked for review
        with its reason (never lost). A first premium on an accepted application issues the policy."""
        state = self.get(application_id)
        today = self.today()
        issue = reinstate = None
        try:  # prepared now, recorded with the payment if it matches; the payment never waits on them
            if state.status == st.ACCEPTED and not state.first_premium_paid:
                issue = self._issue_command(state, today)
            elif state.status == st.SUSPENDED and state.reinstatement and not state.reinstatement_paid:
                reinstate = self._reinstate_command(state, today)
        except Exception:  # whatever fails here, the payment itself is recorded
            log.exception("preparing the issue or reinstatement of %s failed; the payment is recorded alone and "
                          "the policy clock completes it", application_id)
            issue = reinstate = None
        paid_on = min(self.calendar.date_of(parse_timestamp(paid_at, field="paid_at")), today)
        outcome = self._run(application_id, d.Pay(amount, payment_ref, paid_at, actor, today, issue=issue,
                                                  reinstate=reinstate, paid_on=paid_on))
        applied = outcome.events[0].type if outcome.events else ""
        return outcome.state, "applied" if applied == ev.PREMIUM_PAID else "parked"

    def park_unmatched(self, *, reference: str, amount: Money, payment_ref: str, paid_at: str, actor: d.Actor,
                       reason: str) -> None:
        """Keep a payment that names no known application or policy, for review (never lost; the same payment
        reference again is the same payment, kept once)."""
        if self._read.select(proj.PARKED, where={"application_id": "", "payment_ref": payment_ref}, limit=1):
            return
        try:
            self._workflow.record(ev.UNMATCHED_PAYMENTS, [NewEvent(ev.PAYMENT_PARKED, {
                "application_id": "", "reference": reference, "amount": amount.to_json(), "payment_ref": payment_ref,
                "paid_at": paid_at, "reason": reason, "kept_once": True, "actor": actor.to_json()})])
        except Refused as refused:
            if refused.rule != "PAYMENT-PARKED":
                raise  # else the same payment, delivered beside this one, was parked by it

    def parked_payments(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Payments parked for review (wrong amount, nothing due, a reference seen before, no such policy)."""
        return self._read.select(proj.PARKED, order_by=("-idx",), limit=limit)

    def request_reinstatement(self, application_id: str, answers: Mapping[str, Any], *, actor: d.Actor
                              ) -> PolicyState:
        """Ask to reinstate a suspended policy with a new, complete health declaration. If underwriting accepts
        it, the state names the amount due (premiums overdue plus interest); paying it reinstates the policy."""
        state = self.get(application_id)
        product = self.catalog.get(state.product["id"], state.product["version"])
        command = d.RequestReinstatement(answers=dict(answers), questionnaire=self._questionnaire_of(state),
                                         rules=self._rulesets[product.underwriting],
                                         automatic_limit=product.automatic_limit,
                                         interest_rate=product.reinstatement_interest, today=self.today(),
                                         actor=actor)
        return self._run(application_id, command).state

    def declaration(self, application_id: str) -> tuple[dict[str, Any], Questionnaire]:
        """The health answers given at application (personal: empty once the person is erased) and the
        questionnaire they answered; what the claims nondisclosure check compares medical records with."""
        state = self.get(application_id)
        try:
            answers = self._answers(application_id)
        except ErasedError:
            answers = {}
        return answers, self._questionnaire_of(state)

    def check_declaration(self, application_id: str, answers: Mapping[str, Any], *, field: str = "answers") -> None:
        """Raise ``ValidationFailed`` (naming ``field``.<question>) unless ``answers`` is a complete declaration
        on the policy's questionnaire (what a reinstatement is underwritten on)."""
        questionnaire = self._questionnaire_of(self.get(application_id))
        try:
            check_answers(questionnaire, answers)
            complete = is_complete(questionnaire, answers)
        except ValidationFailed as exc:
            question = (exc.field or "answers").removeprefix("answers").lstrip(".")
            raise ValidationFailed(f"{field}: {exc}", field=f"{field}.{question}" if question else field) from None
        if not complete:
            missing = ", ".join(question.id for question in next_questions(questionnaire, answers)[:5])
            raise ValidationFailed(f"{field}: a complete new health declaration is needed; still to answer: "
                                   f"{missing}", field=field)

    def underwrite_declaration(self, application_id: str, answers: Mapping[str, Any], *, product_id: str,
                               sum_insured: Money, field: str = "answers") -> dict[str, Any]:
        """Automatic underwriting of a new declaration for cover added to the policy (a rider): the decision's
        facts (outcome, reasons, rule set and questionnaire versions; the answers and what they triggered are
        not in it). Raises ``ValidationFailed`` naming ``field`` for an incomplete or wrong declaration and
        ``NotFound`` for an unknown product."""
        state = self.get(application_id)
        product = self.catalog.get(product_id)
        questionnaire = self._questionnaires[product.questionnaire]
        self.check_declaration(application_id, answers, field=field)
        years = 0
        if state.effective_date is not None:
            while st.add_months(state.effective_date, 12 * (years + 1)) <= self.today():
                years += 1
        given = UnderwritingInput(
            product_id=product.id, product_kind=product.kind, age=state.insured_age + years, sex=state.insured_sex,
            occupation_class=state.occupation_class, height_cm=Decimal(str(answers["height_cm"])),
            weight_kg=Decimal(str(answers["weight_kg"])), sum_insured=sum_insured,
            cover_with_us=Money.zero(sum_insured.currency), automatic_limit=product.automatic_limit,
            answers=dict(answers))
        decided, _ = d.split_decision(decide_underwriting(self._rulesets[product.underwriting], questionnaire,
                                                          given).to_json())
        return decided

    def reinstatement_payment(self, application_id: str) -> dict[str, Any] | None:
        """The last payment that reinstated the policy (amount, reference, time, entry index), if any."""
        paid: dict[str, Any] | None = None
        for event in reversed(self._workflow.history(ev.stream_of(application_id))):
            if paid is None and event.type == ev.PREMIUM_PAID and event.facts.get("purpose") == "reinstatement":
                paid = {"amount": event.facts["amount"], "payment_ref": event.facts["payment_ref"],
                        "paid_at": event.facts["paid_at"], "index": event.index}
            elif paid is not None and event.type == ev.REINSTATEMENT_REQUESTED and event.facts.get("accepted"):
                return {**paid, "quoted": event.facts["total"], "quoted_on": event.facts["on"]}
        return paid

    def reinstate(self, application_id: str) -> PolicyState:
        """Put a paid-up reinstatement in force (if it was paid but not completed with its payment)."""
        state = self.get(application_id)
        return self._run(application_id, self._reinstate_command(state, self.today())).state

    def _reinstate_command(self, state: PolicyState, today: date) -> d.Reinstate:
        """Render the next e-policy version and prepare its supersession of the current one on chain."""
        dues = state.reinstatement.get("dues", [])
        paid = copy_with(state, paid_dues=tuple(sorted({*state.paid_dues, *dues})))  # as the reinstatement leaves it
        document, view_json, supersession = self.next_version(paid, today=today)
        return d.Reinstate(today=today, document=document, epolicy=view_json, supersession=supersession,
                           actor=d.Actor("system", "reinstatement"))

    def next_version(self, state: PolicyState, *, today: date, next_due: date | None = None,
                     printed: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any], NewEvent]:
        """The next e-policy version of ``state`` (a contract as it will be): its document facts, its printed view
        (personal, for the policyholder) and the event superseding the current version on chain. ``printed``
        replaces printed names (a new policyholder, new beneficiaries); the rest are the current version's."""
        product = self.catalog.get(state.product["id"], state.product["version"])
        current = state.documents[-1]
        version = int(current["version"]) + 1
        people = {**self.printed_now(state), **(printed or {})}
        people["beneficiaries"] = [tuple(b) for b in people.get("beneficiaries", [])]
        view_ = epolicy.view_for(state, product=product, policy_no=state.policy_no, version=version,
                                 issued_on=today, people=people, public_url=self._public_url, key_id=self._key_id,
                                 supersedes=current["digest"], next_due=next_due or state.next_due())
        digest = digest_str(sha256(self._render(view_)))
        subject = current["subject"]
        document = {"version": version, "digest": digest, "subject": subject, "salt": current["salt"],
                    "kind": EPOLICY_KIND}
        supersession = NewEvent(docs.SUPERSEDED, {"digest": digest, "old_digest": current["digest"],
                                                  "version": version},
                                stream=docs.stream_of(bytes.fromhex(subject.split(":", 1)[1])))
        return document, epolicy.view_json(view_), supersession

    def printed_now(self, state: PolicyState) -> dict[str, Any]:
        """The masked names the current e-policy version prints (policyholder, insured, beneficiaries)."""
        for event in reversed(self._workflow.history(ev.stream_of(state.application_id))):
            if event.facts.get("document") and event.type in (ev.ISSUED, ev.REINSTATED, ev.SERVICED):
                opened = self._personal(event.index)
                if opened is not None and "epolicy" in opened.payload:
                    view_ = opened.payload["epolicy"]
                    return {"policyholder": view_["policyholder"], "insured": view_["insured"],
                            "beneficiaries": [list(b) for b in view_["beneficiaries"]]}
        return self._printed_people(state)

    def revocation(self, state: PolicyState, *, ended: bool = False) -> NewEvent:
        """The event revoking the current e-policy version on chain: the contract was cancelled (free look) or,
        with ``ended``, ended otherwise (a surrender); raises ``NotFound`` if the policy has none."""
        reason = REVOKED_ENDED if ended else REVOKED_CANCELLED
        if not state.documents:
            raise NotFound("the policy has no e-policy to revoke", field="policy_no")
        current = state.documents[-1]
        return NewEvent(docs.REVOKED, {"digest": current["digest"], "reason_code": reason},
                        stream=docs.stream_of(bytes.fromhex(current["subject"].split(":")[1])))

    def claim_ended(self, state: PolicyState, *, claim_id: str, coverages: Sequence[str], on: date,
                    actor: Mapping[str, str]) -> list[NewEvent]:
        """The events ending a live contract whose claim paid a benefit that ends the cover (a death, a severe
        illness without a further payout): ``policy.contract.claim_ended`` on the contract's stream and the
        revocation of its current e-policy on chain. Empty for a contract no longer live."""
        if state.status not in st.LIVE:
            return []
        ended = NewEvent(ev.CLAIM_ENDED, {"application_id": state.application_id, "claim_id": claim_id,
                                          "coverages": list(coverages), "on": on.isoformat(), "actor": dict(actor)},
                         stream=ev.stream_of(state.application_id))
        return [ended, *([self.revocation(state, ended=True)] if state.documents else [])]

    def claim_waiver(self, state: PolicyState, *, claim_id: str, on: date, actor: Mapping[str, str]
                     ) -> list[NewEvent]:
        """The event waiving every premium still due on a live contract after a claim that triggers the premium
        waiver (a moderate or mild critical-illness payout): the unpaid due dates from the next one on. Empty when
        nothing is left to pay or the contract is no longer live."""
        if state.status not in st.LIVE:
            return []
        paid = set(state.paid_dues) | set(state.waived_dues)
        dues = [due.isoformat() for due in state.due_dates() if due.isoformat() not in paid]
        if not dues:
            return []
        return [NewEvent(ev.PREMIUMS_WAIVED, {"application_id": state.application_id, "claim_id": claim_id,
                                              "dues": dues, "on": on.isoformat(), "actor": dict(actor)},
                         stream=ev.stream_of(state.application_id))]

    def cash_value_of(self, state: PolicyState) -> Callable[[date], dict[str, Any]]:
        """The policy's cash value on a day, with its basis (see ``_cash_value_of``)."""
        return self._cash_value_of(state, self.catalog.get(state.product["id"], state.product["version"]))

    @staticmethod
    def contract_stream(application_id: str) -> str:
        """The stream of the contract (``contract:<application id>``)."""
        return ev.stream_of(application_id)

    def position(self, application_id: str) -> tuple[PolicyState, int]:
        """The policy's state and its stream's last position (to write on it at that position)."""
        state, seq = self._workflow.load(self._rules, ev.stream_of(application_id))
        if not state.status:
            raise NotFound(f"no application {application_id}", field="application_id")
        return state, seq

    def issue(self, application_id: str) -> PolicyState:
        """Issue an accepted application whose first premium is recorded but that was not issued with it."""
        state = self.get(application_id)
        return self._run(application_id, self._issue_command(state, self.today())).state

    def _issue_command(self, state: PolicyState, today: date) -> d.Issue:
        """Number the policy, render e-policy version 1 and prepare its registration on chain."""
        product = self.catalog.get(state.product["id"], state.product["version"])
        policy_no = self._new_policy_no(today)
        salt = os.urandom(16)
        subject = sha256(salt + state.application_id.encode())
        view_ = epolicy.view_for(state, product=product, policy_no=policy_no, version=1, issued_on=today,
                                 people=self._printed_people(state), public_url=self._public_url, key_id=self._key_id,
                                 supersedes=None)
        digest = sha256(self._render(view_))
        document = {"version": 1, "digest": digest_str(digest), "subject": digest_str(subject),
                    "salt": salt.hex(), "kind": EPOLICY_KIND}
        registration = NewEvent(docs.REGISTERED, {"digest": digest_str(digest), "subject": digest_str(subject),
                                                  "kind": EPOLICY_KIND, "version": 1},
                                stream=docs.stream_of(subject))
        return d.Issue(policy_no=policy_no, today=today, document=document, epolicy=epolicy.view_json(view_),
                       registration=registration, free_look_days=product.free_look_days,
                       grace_days=product.grace_days, actor=d.Actor("system", "issuance"))

    def _new_policy_no(self, today: date) -> str:
        """``LL`` + year + 12 random digits, not yet used (the projection also refuses a number used twice)."""
        for _ in range(10):
            candidate = f"LL{today:%Y}{int.from_bytes(os.urandom(6), 'big') % 10**12:012d}"
            if self._read.get(proj.NUMBERS, (candidate,)) is None:
                return candidate
        raise StorageError("could not draw an unused policy number in ten tries")

    def _printed_people(self, state: PolicyState) -> dict[str, Any]:
        """The masked names the e-policy prints, as the application recorded them (sealed under the
        policyholder); raises ``ErasedError`` once the policyholder is erased."""
        submitted = next(e for e in self._workflow.history(ev.stream_of(state.application_id))
                         if e.type == ev.SUBMITTED)
        opened = self._personal(submitted.index)
        if opened is None:
            raise NotFound(f"application {state.application_id} has no printed names on record", field="people")
        people = opened.payload["people"]
        return {**people, "beneficiaries": [tuple(b) for b in people["beneficiaries"]]}

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, application_id: str) -> PolicyState:
        """The application or policy as its stream folds; raises ``NotFound``."""
        state, _ = self._workflow.load(self._rules, ev.stream_of(application_id))
        if not state.status:
            raise NotFound(f"no application {application_id}", field="application_id")
        return state

    def application_of(self, policy_no: str) -> str:
        """The application behind ``policy_no``; raises ``NotFound``. A number, once given, never changes hands
        (the projection refuses a number used twice), so answers are remembered."""
        known = self._numbers.get(policy_no)
        if known is not None:
            return known
        row = self._read.get(proj.NUMBERS, (policy_no,))
        if row is None:
            raise NotFound(f"no policy {policy_no}", field="policy_no")
        if len(self._numbers) >= NUMBERS_REMEMBERED:
            self._numbers.clear()
        self._numbers[policy_no] = str(row["application_id"])
        return str(row["application_id"])

    def roles(self, application_id: str, party: str) -> set[str]:
        """The roles ``party`` holds on the application (policyholder, insured, beneficiary)."""
        return {row["role"] for row in self._read.select(proj.PARTIES, where={"party_id": party,
                                                                             "application_id": application_id})}

    def list_for(self, party: str) -> list[dict[str, Any]]:
        """The applications and policies ``party`` is party to, each once with every role they hold (``roles``)
        and the one that decides what they see (``role``: policyholder, then insured, then beneficiary)."""
        roles: dict[str, set[str]] = {}
        for link in self._read.select(proj.PARTIES, where={"party_id": party}):
            roles.setdefault(link["application_id"], set()).add(link["role"])
        out = []
        rows = self._read.get_many(proj.POLICIES, [(application_id,) for application_id in roles])
        for application_id, held in roles.items():
            row = rows.get((application_id,))
            if row is not None:
                role = next(r for r in ("policyholder", "insured", "beneficiary") if r in held)
                out.append({**row, "role": role, "roles": sorted(held)})
        out.sort(key=lambda row: row["submitted_at"], reverse=True)
        return out

    def list_all(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._read.select(proj.POLICIES, where={"status": status} if status else None,
                                 order_by=("-updated_idx",), limit=limit)

    def documents_of(self, application_id: str) -> list[dict[str, Any]]:
        """The e-policy versions with digest, status and where each stands on chain."""
        state = self.get(application_id)
        out = []
        for document in state.documents:
            status = self.document_status(document["digest"])
            out.append({"version": document["version"], "digest": document["digest"],
                        "issued_on": document["issued_on"], "status": status["status"],
                        "chain": status["chain"]})
        return out

    def document_pdf(self, application_id: str, version: int) -> bytes:
        """Re-render e-policy ``version`` from the journal; its bytes hash to the registered digest.

        Raises ``NotFound`` (no such version) and ``ErasedError`` (the policyholder's data was erased).
        """
        for event in self._workflow.history(ev.stream_of(application_id)):
            if event.type in (ev.ISSUED, ev.REINSTATED, ev.SERVICED) and event.facts["document"] \
                    and event.facts["document"]["version"] == version:
                opened = self._personal(event.index)
                if opened is None:
                    raise NotFound(f"e-policy version {version} has no printed view on record", field="version")
                pdf = self._render(epolicy.view_from_json(opened.payload["epolicy"]))
                if digest_str(sha256(pdf)) != event.facts["document"]["digest"]:
                    raise AssertionError(f"e-policy {application_id} v{version} does not re-render to its digest")
                return pdf
        raise NotFound(f"no e-policy version {version}", field="version")

    def document_status(self, digest: str, *, recorded_with: Sequence[str] = ()) -> dict[str, Any]:
        """Public: genuine / superseded / revoked / unknown, with the on-chain registration; no personal data.

        Requires ``digest`` as ``sha256:<64 lowercase hex>`` (raises ``ValidationFailed`` naming ``digest``
        otherwise). ``recorded_with`` names the streams of the entries recorded in the group just before the
        digest's registration (the caller reads them from the log: an e-policy version is registered in the group
        of the contract event that issued it). A contract among them whose e-policy versions hold ``digest``
        gives ``policy``: the product (id, version, names), that version's number and issue date, and the policy
        number starred but for its last four characters. Without such a contract ``policy`` is None. A revoked
        document has ``revocation``: its reason code and neutral words for it (``_revocation_words``).

        Anyone may ask this of any digest, not only the file's holder: digests are public on chain. So the answer
        names nobody and says nothing of why a contract ended beyond what the code on chain says (a revocation
        after a death claim reads "the contract ended", as every other end does).
        """
        from ledger.log.encoding import parse_digest

        raw = parse_digest(digest, field="digest")
        try:
            record = self._documents.get(raw)
        except NotFound:
            return {"digest": digest, "status": "unknown", "chain": []}
        status = {"issued": "genuine", "superseded": "superseded", "revoked": "revoked"}[record.status]
        chain = [{"op": c.op, "status": c.status, "chain_id": c.chain_id, "contract": c.contract,
                  "tx_hash": "0x" + c.tx_hash.hex() if c.tx_hash else None, "block": c.block_number,
                  "confirmations": c.confirmations} for c in self._documents.chain(raw)]
        superseded_by = digest_str(record.superseded_by) if record.superseded_by else None
        state = self._contract_holding(digest, recorded_with) if record.kind == EPOLICY_KIND else None
        revocation = None
        if record.status == "revoked":
            revocation = {"reason_code": record.reason_code, "reason": self._revocation_words(record.reason_code)}
        return {"digest": digest, "status": status, "kind": "e-policy" if record.kind == EPOLICY_KIND else
                record.kind, "version": record.version, "superseded_by": superseded_by,
                "superseded_by_version": (self._documents.get(record.superseded_by).version
                                          if record.superseded_by else None),
                "revocation": revocation, "policy": self._document_policy(state, digest) if state else None,
                "chain": chain}

    @staticmethod
    def _revocation_words(code: int | None) -> dict[str, str]:
        """A revocation's reason in neutral words (zh, en), from its reason code alone: no more than the code on
        chain says, never why a contract ended (a death claim, a surrender and a lapse all read "the contract
        ended")."""
        words = {REVOKED_CANCELLED: ("保险合同已解除", "The contract was cancelled"),
                 REVOKED_ENDED: ("保险合同已终止", "The contract ended")}
        zh, en = words.get(code if code is not None else -1,
                           ("电子保单已作废", f"The e-policy was revoked (reason code {code})"))
        return {"zh": zh, "en": en}

    def _contract_holding(self, digest: str, streams: Sequence[str]) -> PolicyState | None:
        """The contract among ``streams`` whose e-policy versions include ``digest``, if any."""
        for stream in streams:
            if not stream.startswith(ev.STREAM_PREFIX):
                continue
            try:
                state = self.get(stream.removeprefix(ev.STREAM_PREFIX))
            except NotFound:
                continue
            if any(document["digest"] == digest for document in state.documents):
                return state
        return None

    def _document_policy(self, state: PolicyState, digest: str) -> dict[str, Any]:
        """What the e-policy ``digest`` of ``state`` says about its policy, as the public may see it."""
        versions = list(state.documents)
        n = next(i for i, document in enumerate(versions) if document["digest"] == digest)
        product = self.catalog.get(state.product["id"], state.product["version"])
        names = product.definition.names
        return {"policy_no": self._masked_policy_no(state.policy_no), "version": versions[n]["version"],
                "issued_on": versions[n]["issued_on"],
                "product": {"id": product.id, "version": product.version, "name": {"zh": names.zh, "en": names.en}}}

    @staticmethod
    def _masked_policy_no(policy_no: str) -> str:
        """The policy number with every character but the last four starred (wholly starred if it is shorter)."""
        keep = policy_no[-4:] if len(policy_no) > 4 else ""
        return "*" * (len(policy_no) - len(keep)) + keep

    # -- the clock -------------------------------------------------------------------------------------------

    def tick(self, application_id: str, today: date | None = None) -> list[Event]:
        """Perform the transitions due on ``today`` for one policy (idempotent: each happens once)."""
        state = self.get(application_id)
        product = self.catalog.get(state.product["id"], state.product["version"])
        cash_value = revocation = None
        if state.status == st.SUSPENDED and state.documents:
            cash_value = self._cash_value_of(state, product)
            current = state.documents[-1]
            revocation = NewEvent(docs.REVOKED, {"digest": current["digest"], "reason_code": REVOKED_ENDED},
                                  stream=docs.stream_of(bytes.fromhex(current["subject"].split(":", 1)[1])))
        command = d.Tick(today or self.today(), reinstatement_years=product.reinstatement_years,
                         cash_value=cash_value, revocation=revocation, sent_on=self.today())
        return self._run(application_id, command).events

    @staticmethod
    def _cash_value_of(state: PolicyState, product: Product) -> Callable[[date], dict[str, Any]]:
        """The policy's cash value on a day, from the product's table (or one-year formula), with its basis.

        One-year cover counts each installment paid at what was paid for it (a re-rating changes only those
        after it); the basis lists them (``inputs.premiums_paid``)."""
        plan = _plan(product, state.plan)

        def value(on: date) -> dict[str, Any]:
            assert state.effective_date is not None
            years = 0
            while st.add_months(state.effective_date, 12 * (years + 1)) <= on:
                years += 1
            anniversary = st.add_months(state.effective_date, 12 * years)
            if plan.term_years == 1:
                # One-year cover: the unearned part of the premiums actually paid, over the days they paid for
                # (nothing is left at the paid-to date; monthly premiums pay for a month each).
                installments = [{"due": due, "premium": state.due_premium(due)} for due in sorted(state.paid_dues)]
                currency = product.currency
                paid = sum((Money.from_json(item["premium"]) for item in installments), Money.zero(currency))
                covered = ((state.paid_until() or on) - state.effective_date).days
                elapsed = max(0, min((on - state.effective_date).days, covered))
                found = cash_value(product, plan, age=state.insured_age, sex=state.insured_sex, policy_year=1,
                                   elapsed_days=elapsed, premium_paid=paid, term_days=max(covered, 1))
                inputs = {**found.inputs, "premiums_paid": installments}
            else:
                found = cash_value(product, plan, age=state.insured_age, sex=state.insured_sex,
                                   policy_year=years + 1, elapsed_days=max(0, min((on - anniversary).days, 365)))
                inputs = found.inputs
            return {"amount": found.amount.to_json(), "basis": {**found.basis, "inputs": _json_safe(inputs)}}

        return value

    def active(self) -> list[str]:
        """Policies the clock looks after (issued and not ended)."""
        ids: list[str] = []
        for status in (st.FREE_LOOK, st.IN_FORCE, st.GRACE, st.SUSPENDED):
            ids += [row["application_id"] for row in self._read.select(proj.POLICIES, where={"status": status})]
        return ids

    def run_clock(self, *, until: date, since: date | None = None) -> dict[str, int]:
        """Perform every transition due up to ``until`` for every policy, each exactly once, jumping from one due
        day to the next; also completes first premiums and reinstatements that were paid but not completed.
        A policy that fails is logged and counted (``failed``) and the others go on. Returns how many events of
        each type were recorded."""
        counts: dict[str, int] = {}

        def count(events: Sequence[Event]) -> None:
            for event in events:
                counts[event.type] = counts.get(event.type, 0) + 1

        def guarded(application_id: str, work: Callable[[str], None]) -> None:
            try:
                work(application_id)
            except Exception:  # one policy's failure must not stop the clock for every other policy
                log.exception("policy clock: %s failed", application_id)
                counts["failed"] = counts.get("failed", 0) + 1

        def complete(application_id: str) -> None:  # on today's date, whatever day the clock catches up to
            state = self.get(application_id)
            if state.status == st.ACCEPTED and state.first_premium_paid:
                count(self._run(application_id, self._issue_command(state, self.today())).events)
            elif state.status == st.SUSPENDED and state.reinstatement_paid:
                count(self._run(application_id, self._reinstate_command(state, self.today())).events)

        today = self.today()

        def advance(application_id: str) -> None:
            state = self.get(application_id)
            day = d.next_tick(state, after=since or (state.issued_on or until), sent_on=today)
            while day is not None and day <= until:
                recorded = self.tick(application_id, day)
                if not recorded:
                    break  # nothing could be done on the day it was due (say, a reinstatement is being paid)
                count(recorded)
                state = self.get(application_id)
                day = d.next_tick(state, after=day + timedelta(days=1), sent_on=today)

        for status in (st.ACCEPTED, st.SUSPENDED):
            for row in self._read.select(proj.POLICIES, where={"status": status}):
                guarded(row["application_id"], complete)
        for application_id in self.active():
            guarded(application_id, advance)
        return counts

    def cancel_in_free_look(self, application_id: str, *, actor: d.Actor) -> PolicyState:
        state = self.get(application_id)
        if state.policyholder != actor.party and actor.role == "customer":
            raise Refused("only the policyholder may cancel (rule CANCEL-POLICYHOLDER)", rule="CANCEL-POLICYHOLDER",
                          zh="只有投保人可以申请犹豫期退保")
        current = state.documents[-1] if state.documents else None
        revocation = NewEvent(docs.REVOKED, {"digest": current["digest"], "reason_code": REVOKED_CANCELLED},
                              stream=docs.stream_of(bytes.fromhex(current["subject"].split(":")[1]))) \
            if current else None
        if revocation is None:
            raise NotFound("the policy has no e-policy to revoke", field="policy_no")
        return self._run(application_id, d.CancelInFreeLook(self.today(), actor, revocation)).state

    def _run(self, application_id: str, command: object) -> Outcome[PolicyState]:
        stream = ev.stream_of(application_id)
        return self._workflow.run(self._rules, stream, command, after=_exists)


def _exists(state: PolicyState) -> None:
    if not state.status:
        raise NotFound("no such application", field="application_id")


def _plan(product: Product, raw: Mapping[str, Any]) -> Plan:
    if not isinstance(raw, Mapping):
        raise ValidationFailed("plan must be an object", field="plan")
    sum_insured = raw.get("sum_insured")
    money = Money.from_json(sum_insured, field="plan.sum_insured") if isinstance(sum_insured, dict) else \
        Money.of(sum_insured, product.currency, field="plan.sum_insured")
    return Plan.of(product, sum_insured=money, term_years=raw.get("term_years"),
                   payment_years=raw.get("payment_years"), frequency=raw.get("frequency", "annual"))


def _plan_json(plan: Plan) -> dict[str, Any]:
    return {"sum_insured": plan.sum_insured.to_json(), "term_years": plan.term_years,
            "payment_years": plan.payment_years, "frequency": plan.frequency}


def _quote_json(product: Product, plan: Plan, *, age: int, sex: str, occupation_class: int, extra: Decimal
                ) -> dict[str, Any]:
    q = quote(product, plan, age=age, sex=sex, occupation_class=occupation_class, extra_premium_pct=extra)
    return {"product_id": product.id, "annual_premium": q.annual_premium.to_json(),
            "modal_premium": q.modal_premium.to_json(), "frequency": q.frequency,
            "installments_per_year": q.installments_per_year, "extra_premium_pct": str(extra),
            "basis": q.basis, "inputs": _json_safe(q.inputs)}


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Money):
        return value.to_json()
    if isinstance(value, date):
        return value.isoformat()
    return value


Actor = d.Actor

__all__ = ["Actor", "ApplicationRequest", "Beneficiary", "PolicyService", "view"]


def view(state: PolicyState, *, full: bool = True) -> dict[str, Any]:
    """An application or policy as the API shows it: facts only. ``full`` False is a beneficiary's view (what
    policy, its status and product; no plan, premium or underwriting)."""
    base: dict[str, Any] = {
        "application_id": state.application_id, "policy_no": state.policy_no or None, "status": state.status,
        "product": state.product,
    }
    if not full:
        return base
    decision = state.decision
    return {**base,
            "plan": state.plan, "policyholder": state.policyholder, "insured": state.insured,
            "beneficiaries": list(state.beneficiaries), "insured_age": state.insured_age,
            "occupation_class": state.occupation_class,
            "premium": state.premium,
            "underwriting": {
                "outcome": decision.get("outcome"), "extra_premium_pct": decision.get("extra_premium_pct"),
                "exclusions": decision.get("exclusions", []), "postpone_months": decision.get("postpone_months"),
                "reasons": decision.get("reasons", []), "ruleset": decision.get("ruleset"),
                "questionnaire": decision.get("questionnaire")} if decision else None,
            "declaration_complete": state.declaration_complete, "first_premium_paid": state.first_premium_paid,
            "effective_date": _iso(state.effective_date), "issued_on": _iso(state.issued_on),
            "free_look_end": _iso(state.free_look_end), "maturity_date": _iso(state.maturity_date),
            "next_due": _iso(state.next_due()) if state.is_policy else None,
            "grace_end": _iso(state.grace_end), "reinstate_until": _iso(state.reinstate_until),
            "documents": [{"version": doc["version"], "digest": doc["digest"], "issued_on": doc["issued_on"]}
                          for doc in state.documents],
            "seq": state.last_seq}


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def load_rule_data(products_dir: Path) -> tuple[dict[str, Questionnaire], dict[str, RuleSet]]:
    """Every questionnaire (``questionnaires/*.toml``) and underwriting rule set (``underwriting/*.toml``) by id;
    raises ``ValidationFailed`` naming the file, path and value of the first that is wrong."""
    questionnaires = {q.id: q for q in (load_questionnaire(path) for path in
                                        sorted((products_dir / "questionnaires").glob("*.toml")))}
    rulesets = {r.id: r for r in (load_ruleset(path) for path in
                                  sorted((products_dir / "underwriting").glob("*.toml")))}
    return questionnaires, rulesets
