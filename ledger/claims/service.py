"""The claims service: report, documents, structured invoices and keyed facts, assessment, review, decision,
payment and what follows, each command through the one command path on the claim's stream ``claim:<id>``.

The service loads what the rules need (``ledger.claims.context``), runs the pure evaluation and the pure
``decide``; the journal records the events all or none. A claim is assessed the moment its documents are complete
and nothing waits for a person to key; a small, clean fast-track claim is approved and its payment instructed in
the same group, and everything else goes to a reviewer's or a named handler's queue.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from ledger.claims import context as ctx
from ledger.claims import decide as d
from ledger.claims import events as ev
from ledger.claims import inputs
from ledger.claims import projection as proj
from ledger.claims import state as st
from ledger.claims.assessment import coverages_for, most_payable, policy_year_start
from ledger.claims.clocks import clocks
from ledger.claims.diagnoses import DiagnosisTable
from ledger.claims.evaluation import evaluate
from ledger.claims.fraud import FraudRules
from ledger.claims.kpis import KPI_COLUMNS, ColumnReader, kpis_of_columns, moment_range
from ledger.claims.model import CLAIM_TYPES, Prior
from ledger.claims.rules import ClaimRules
from ledger.claims.state import ClaimState
from ledger.claims.view import claim_view, marks_of
from ledger.clock import BusinessCalendar, Clock
from ledger.errors import Forbidden, NotFound, Refused, StreamMoved, ValidationFailed
from ledger.kernel import Actor, Event, NewEvent
from ledger.log.encoding import digest_str, parse_digest, sha256
from ledger.log.identifiers import parse_timestamp, utc_timestamp
from ledger.money import Money
from ledger.policies.state import LIVE, PolicyState
from ledger.products.catalog import ProductCatalog
from ledger.servicing import projection as servicing_projection
from ledger.workflow import Outcome, Workflow, new_id

__all__ = ["ClaimsService"]

log = logging.getLogger(__name__)

CLAIM_DOCUMENT_KIND = 2  # DocumentRegistry kind of a claim document (an e-policy is 1)
REPORTER_ROLES = {"death": ("beneficiary", "policyholder"), "default": ("insured", "policyholder", "beneficiary")}
QUEUE_LIMIT = 200
CONTRACT_ATTEMPTS = 8  # a contract this busy is a bug or an attack


class Policies(Protocol):
    catalog: ProductCatalog

    def application_of(self, policy_no: str) -> str: ...

    def position(self, application_id: str) -> tuple[PolicyState, int]: ...

    def contract_stream(self, application_id: str) -> str: ...

    def declaration(self, application_id: str) -> tuple[dict[str, Any], Any]: ...

    def claim_ended(self, state: PolicyState, *, claim_id: str, coverages: Sequence[str], on: date,
                    actor: Mapping[str, str]) -> list[NewEvent]: ...

    def claim_waiver(self, state: PolicyState, *, claim_id: str, on: date, actor: Mapping[str, str]
                     ) -> list[NewEvent]: ...


class Uploads(Protocol):
    def owned_by(self, digest: str, subjects: set[str]) -> bool: ...


class Reader(Protocol):
    def get(self, table: str, key: Any) -> dict[str, Any] | None: ...

    def get_many(self, table: str, keys: Any) -> Mapping[Any, dict[str, Any]]: ...

    def select(self, table: str, *, where: Mapping[str, Any] | None = None, order_by: Any = (),
               limit: int | None = None, between: tuple[str, Any, Any] | None = None) -> list[dict[str, Any]]: ...


class Intake(Protocol):
    def append(self, event: Any, *, owner: str) -> Any: ...


class ClaimRulesAggregate:
    """The claim aggregate for the workflow: fold and pure decision."""

    def initial(self) -> ClaimState:
        return ClaimState()

    def evolve(self, state: ClaimState, event: Event) -> ClaimState:
        return st.evolve(state, event)

    def decide(self, state: ClaimState, command: object, now: Any) -> list[NewEvent]:
        return d.decide(state, command, now)


# Earlier claims whose stays the fraud rules compare are read from their invoices when their loss date lies within
# the rules' longest window before this claim's loss, widened by this many days either side (a stay may begin after
# its loss date, and this claim's stays after its own); older claims cannot bear on those rules.
STAY_MARGIN_DAYS = 90
# The parts of an assessment that the policy's other claims move (what they used of a limit, a deductible, a
# once-only benefit, allowance days); the deductions are as of the day and are prepared again at payment.
BENEFIT_KEYS = ("lines", "benefit", "coverages")


@dataclass(frozen=True)
class Caller:
    """Who calls: a role (customer, adjuster, claims_handler, system, auditor) and their party or staff id."""

    role: str
    subject: str

    @property
    def actor(self) -> Actor:
        return Actor(role=self.role, party=self.subject)

    @property
    def staff(self) -> bool:
        return self.role in ("adjuster", "claims_handler")


class ClaimsService:
    """The claims workflow over the journal (see the module docstring)."""

    def __init__(self, *, workflow: Workflow, policies: Policies, uploads: Uploads, read: Reader, intake: Intake,
                 rules: ClaimRules, fraud: FraudRules, diagnoses: DiagnosisTable, clock: Clock,
                 calendar: BusinessCalendar, opener: Callable[[int], Any], account_key: bytes,
                 handlers: Sequence[str] = ()) -> None:
        self._workflow = workflow
        self._policies = policies
        self._uploads = uploads
        self._read = read
        self._intake = intake
        self.rules = rules
        self.fraud = fraud
        self.diagnoses = diagnoses
        self._clock = clock
        self._calendar = calendar
        self._personal = opener
        self._account_key = account_key
        self.handlers = tuple(handlers)
        self._aggregate = ClaimRulesAggregate()

    # -- reading ---------------------------------------------------------------------------------------------

    def today(self) -> date:
        return self._calendar.date_of(self._clock.now())

    def get(self, claim_id: str) -> ClaimState:
        """The claim's state; ``NotFound`` naming the id if there is none."""
        state, _ = self._workflow.load(self._aggregate, ev.stream_of(claim_id))
        if not state.exists:
            raise NotFound(f"no claim {claim_id}", field="claim_id")
        return state

    def visible(self, claim_id: str, caller: Caller) -> tuple[ClaimState, str]:
        """The claim and the caller's audience on it (staff, insured, policyholder, beneficiary).

        A customer sees only claims on policies where they hold a role; anyone else gets ``NotFound`` (the claim's
        existence is not disclosed). A handler sees their own claims and the major claims still without a handler;
        adjusters see every claim. Auditors read claims through their trail (``ledger.verify.trail``), where their
        grant decides what opens and the read is recorded."""
        state = self.get(claim_id)
        if caller.role == "adjuster":
            return state, caller.role
        if caller.role == "claims_handler":
            # a handler sees their own claims, and the major claims waiting for a handler to take them
            if state.handler == caller.subject or (not state.handler and self._major(state.track,
                                                                                      state.reported["claim_type"])):
                return state, "claims_handler"
            raise NotFound(f"no claim {claim_id} of yours", field="claim_id")
        if caller.role == "system":
            return state, "system"  # a hospital or the payments system: the status of what it posted, no more
        if caller.role == "customer":
            policy, _ = self._policies.position(state.reported["application_id"])
            roles = _roles_in_claim(_roles_on(policy, caller.subject), caller.subject,
                                    claim_type=state.reported["claim_type"],
                                    reporter=state.reported["reporter"]["party"])
            if roles:
                for audience in ("insured", "policyholder", "beneficiary", "reporter"):
                    if audience in roles:
                        return state, audience
        raise NotFound(f"no claim {claim_id}", field="claim_id")

    def view(self, claim_id: str, caller: Caller) -> dict[str, Any]:
        """The claim as the caller may see it (``ledger.claims.view``), with the handler's notes opened: they are
        what the customer is told."""
        state, audience = self.visible(claim_id, caller)
        if audience == "system":
            return self.summary(state)
        out = claim_view(state, audience=audience, calendar=self._calendar, rules=self.rules.clock_rules(),
                         now=self._clock.now())
        shown = audience != "beneficiary"  # a death claim's notes may speak of the deceased's health
        out["notes"] = [{"index": step.index, "at": utc_timestamp(step.at), "kind": step.facts["kind"],
                         "next_step_by": step.facts["next_step_by"],
                         "text": ctx._opened(self._personal, step.index).get("text", "")}
                        for step in state.timeline if shown and step.type == ev.NOTE_RECORDED]
        return out

    @staticmethod
    def summary(state: ClaimState) -> dict[str, Any]:
        """What anyone who reported or posted to a claim is told: its id, status and document checklist."""
        return {"claim_id": state.claim_id, "status": state.status, "received": list(state.received),
                "missing": list(state.missing)}

    def event_ids(self, claim_id: str) -> list[str]:
        """The claim's event ids in order (its receipt)."""
        return [event.event_id for event in self._workflow.history(ev.stream_of(claim_id))]

    def clocks_of(self, state: ClaimState) -> Any:
        return clocks(marks_of(state), calendar=self._calendar, rules=self.rules.clock_rules(),
                      complex=state.track == "major", now=self._clock.now())

    def due_soon(self, caller: Caller | None = None) -> list[dict[str, Any]]:
        """Open claims with a deadline due soon or breached, most urgent (earliest due) first; for a handler, of
        their own claims and the major claims no handler has taken."""
        out = []
        for status in st.OPEN:
            rows = self._read.select(proj.CLAIMS, where={"status": status}, order_by=("complete_at",),
                                     limit=QUEUE_LIMIT)
            for row in rows if caller is None else self._for_staff(rows, caller):
                state = self.get(row["claim_id"])
                found = [(name, deadline) for name, deadline in self.clocks_of(state).deadlines.items()
                         if deadline.state in ("due_soon", "breached")]
                for name, deadline in found:
                    out.append({"claim_id": row["claim_id"], "policy_no": row["policy_no"], "status": status,
                                "track": row["track"], "handler": row["handler"], "deadline": name,
                                **deadline.to_json()})
        return sorted(out, key=lambda item: (item["due"], item["claim_id"]))

    def kpis(self, *, start: date, end: date) -> dict[str, Any]:
        """The claims KPIs for claims complete (or, never complete, reported) in [start, end] (business dates).

        Reads only the figures' columns (``KPI_COLUMNS``, moments as epoch microseconds) of the claims whose
        moment lies within a day of the period, as tuples; raises ``ValidationFailed`` for ``end < start``."""
        read = self._read
        if not isinstance(read, ColumnReader):
            raise TypeError("the claims KPIs need a read model with select_columns (ReadModels)")
        low, high = moment_range(start, end)
        rows = read.select_columns(proj.CLAIMS, KPI_COLUMNS, between=("complete_us", low, high))
        # complete_at and complete_us are set together; the claims never complete come through complete_at's index
        rows += read.select_columns(proj.CLAIMS, KPI_COLUMNS, where={"complete_at": None},
                                    between=("reported_us", low, high))
        figures = kpis_of_columns(rows, calendar=self._calendar, rules=self.rules.clock_rules(), start=start, end=end)
        return {"from": start.isoformat(), "to": end.isoformat(), "rules": self.rules.cite(), **figures}

    def list_for_policy(self, policy_no: str, caller: Caller) -> list[dict[str, Any]]:
        application_id = self._policies.application_of(policy_no)
        held: set[str] = set()
        if caller.role == "customer":
            policy, _ = self._policies.position(application_id)
            held = _roles_on(policy, caller.subject)
            if not held:
                raise NotFound(f"no policy {policy_no}", field="policy_no")
        rows = self._read.select(proj.CLAIMS, where={"application_id": application_id}, order_by=("reported_idx",),
                                 limit=QUEUE_LIMIT)
        if caller.role == "claims_handler":
            rows = [row for row in rows if row["handler"] == caller.subject]
        if caller.role == "customer":  # the claims the customer may open one by one (``visible``), no others
            rows = [_customer_row(row) for row in rows
                    if _roles_in_claim(held, caller.subject, claim_type=row["claim_type"], reporter=row["reporter"])]
        return rows

    def list_for_party(self, party: str) -> list[dict[str, Any]]:
        """A customer's claims: as the insured or as the one who reported them (the customer's columns only)."""
        rows = self._read.select(proj.CLAIMS, where={"insured": party}, limit=QUEUE_LIMIT)
        rows += self._read.select(proj.CLAIMS, where={"reporter": party}, limit=QUEUE_LIMIT)
        return [_customer_row(row) for row in {row["claim_id"]: row for row in rows}.values()]

    def queue(self, caller: Caller, *, kind: str = "review") -> list[dict[str, Any]]:
        """Work for staff, oldest clock first: ``review`` (claims under review with no handler, for adjusters),
        ``mine`` (a handler's own claims), ``keying`` (uploads and medical facts to key), ``payments`` (failed
        payments), ``major`` (major claims with no handler yet)."""
        status = {"review": st.UNDER_REVIEW, "mine": None, "keying": st.AWAITING_KEYING,
                  "payments": st.PAYMENT_FAILED, "major": st.UNDER_REVIEW}.get(kind, "?")
        if status == "?":
            raise ValidationFailed("kind must be review, mine, keying, payments or major", field="kind")
        if kind == "payments":  # claims with a payment (a benefit or an advance) failed and not yet sent again
            ids = dict.fromkeys(row["claim_id"] for row in self._read.select(
                proj.PAYMENTS, where={"status": "failed"}, order_by=("instructed_idx",), limit=QUEUE_LIMIT))
            held = self._read.get_many(proj.CLAIMS, [(claim_id,) for claim_id in ids])
            found = [held[(claim_id,)] for claim_id in ids if (claim_id,) in held]
            return self._for_staff(found, caller)
        if kind == "mine":
            rows = [r for r in self._read.select(proj.CLAIMS, where={"handler": caller.subject},
                                                 order_by=("complete_at",), limit=QUEUE_LIMIT)
                    if r["status"] in st.OPEN]
        else:
            rows = self._read.select(proj.CLAIMS, where={"status": status}, order_by=("complete_at",),
                                     limit=QUEUE_LIMIT)
            if kind == "review":
                rows = [r for r in rows if not r["handler"] and r["track"] != "major"]
            elif kind == "major":
                rows = [r for r in rows if not r["handler"] and r["track"] == "major"]
        return self._for_staff(rows, caller)

    def _for_staff(self, rows: list[dict[str, Any]], caller: Caller) -> list[dict[str, Any]]:
        """A handler's rows are their own claims and the major claims no handler has taken; an adjuster's all."""
        if caller.role != "claims_handler":
            return rows
        return [row for row in rows if row["handler"] == caller.subject
                or (not row["handler"] and self._major(row["track"] or "", row["claim_type"]))]

    def _major(self, track: str, claim_type: str) -> bool:
        """A major claim: triaged so, or (not assessed yet) of a type that always is."""
        return track == "major" or (not track and claim_type in self.rules.triage.major_types)

    # -- report and documents ------------------------------------------------------------------------------

    def report_signed(self, signed: Any, *, system: str) -> ClaimState:
        """A hospital or medical-data platform's first notice of loss, its signed ``medical.claim.notified`` event:
        recorded as the system signed it (its key must be registered), then reported for the insured citing that
        entry. Raises as ``report`` does, and ``ValidationFailed`` for another event type."""
        if signed.statement.type != ev.HOSPITAL_NOTICE:
            raise ValidationFailed(f"statement.type must be {ev.HOSPITAL_NOTICE}", field="statement.type")
        facts = signed.payload
        personal = signed.personal.payload if signed.personal is not None else {}
        raw = {name: facts.get(name) for name in ("claim_type", "cause", "loss_date") if facts.get(name) is not None}
        raw["description"] = str(personal.get("description") or "")
        policy_no = facts.get("policy_no")
        if not isinstance(policy_no, str) or not policy_no:
            raise ValidationFailed("payload.policy_no is required", field="payload.policy_no")
        caller = Caller(role="system", subject=system)
        command, _ = self._report_command(policy_no, raw, caller, on_behalf_of=None, evidence=-1)
        d.decide(ClaimState(), command, self._clock.now())  # nothing is recorded for a notice the rules refuse
        receipt = self._intake.append(signed, owner=system)
        return self.report(policy_no, raw, caller, evidence=receipt.index)

    def report(self, policy_no: str, raw: Mapping[str, Any], caller: Caller, *,
               on_behalf_of: str | None = None, evidence: int | None = None) -> ClaimState:
        """First notice of loss by a customer (a party of the policy), by staff for one, or by a system (a hospital
        platform). Raises ``ValidationFailed`` naming the field, ``NotFound`` for a policy the caller is no party
        to, and ``Refused`` naming the rule (not covered, limitation, loss before cover, the same loss open)."""
        command, uploads = self._report_command(policy_no, raw, caller, on_behalf_of=on_behalf_of, evidence=evidence)
        claim_id = command.claim_id
        state = self._run(claim_id, command, fresh=True).state
        if command.claim_type in self.rules.triage.major_types:
            handler, reason = self._pick_handler(exclude=())
            if handler is not None:  # a major claim has its handler from the first day
                state = self._run(claim_id, d.AssignHandler(handler=handler, reason=reason,
                                                            actor=Actor(role="system", party="claims-triage"))).state
        if uploads:  # the reporter's own documents, whether or not they follow the claim from here (a handler)
            state = self._give_documents(state, uploads, caller)
        return state

    def _report_command(self, policy_no: str, raw: Mapping[str, Any], caller: Caller, *, on_behalf_of: str | None,
                        evidence: int | None) -> tuple[d.Report, dict[str, str]]:
        """The report command with everything its rules need, and the documents given with it (checked)."""
        claim_type = inputs.choice(raw, "claim_type", CLAIM_TYPES)
        cause = inputs.choice(raw, "cause", ("illness", "accident"), default="accident" if claim_type in (
            "accident", "disability") else "illness")
        loss_date = inputs.date_field(raw, "loss_date")
        description = inputs.text(raw, "description", limit=2000, required=False)
        application_id = self._policies.application_of(policy_no)
        policy, _ = self._policies.position(application_id)
        reporter_party = self._reporter(policy, claim_type, caller, on_behalf_of, evidence)
        roles = _roles_on(policy, reporter_party)
        payee = reporter_party if claim_type == "death" and "beneficiary" in roles else policy.insured
        if claim_type == "death" and payee == policy.insured:
            payee = policy.beneficiaries[0]["party"] if policy.beneficiaries else policy.policyholder
        account = inputs.account(raw.get("account"))
        product = self._policies.catalog.get(policy.product["id"], int(policy.product["version"]))
        covered = bool(coverages_for(product, claim_type=claim_type, cause=cause,
                                     options=tuple(policy.plan.get("options") or ())))
        if account is not None and reporter_party != payee and covered:
            raise ValidationFailed(f"account: the benefit is paid to {payee}, who gives the account to pay it to "
                                   "(POST /v1/claims/{id}/account)", field="account")
        if policy.status not in LIVE and policy.status not in ("Terminated", "Matured", "Surrendered", "Cancelled"):
            raise NotFound(f"no policy {policy_no}", field="policy_no")
        open_same = next((row["claim_id"] for row in self._read.select(
            proj.CLAIMS, where={"application_id": application_id, "claim_type": claim_type,
                                "loss_date": loss_date.isoformat()}) if row["status"] in st.OPEN), None)
        uploads = inputs.uploads(raw["documents"]) if raw.get("documents") else {}
        checklist = self.rules.checklist(claim_type)
        self._check_uploads(uploads, checklist=checklist, caller=caller,
                            owners={caller.subject, reporter_party, policy.insured})
        claim_id = new_id("C")
        command = d.Report(
            claim_id=claim_id, policy_no=policy_no, application_id=application_id, insured=policy.insured,
            claim_type=claim_type, cause=cause, loss_date=loss_date, today=self.today(), covered=covered,
            policy_started=policy.effective_date or loss_date, checklist=self.rules.checklist(claim_type),
            rules=self.rules.cite(), limitation_years=self.rules.limitation_years(claim_type),
            reporter={"role": sorted(roles)[0] if roles else caller.role, "party": reporter_party},
            channel="system" if caller.role == "system" else "staff" if caller.staff else "customer",
            on_behalf=on_behalf_of if caller.staff else None, payee=payee,
            account_digest=self._account_digest(account), account=account, description=description,
            open_same=open_same, actor=caller.actor, personal_subject=policy.insured, evidence=evidence)
        return command, uploads

    def _reporter(self, policy: PolicyState, claim_type: str, caller: Caller, on_behalf_of: str | None,
                  evidence: int | None) -> str:
        if caller.role == "customer":
            if on_behalf_of not in (None, caller.subject):
                raise Forbidden("a customer reports for themselves only", field="on_behalf_of")
            party = caller.subject
        elif caller.staff:
            if not on_behalf_of:
                raise ValidationFailed("staff name the customer they report for (on_behalf_of)", field="on_behalf_of")
            party = on_behalf_of
        elif caller.role == "system":
            if evidence is None:
                raise Forbidden("a system reports a claim with its signed medical.claim.notified event "
                                "(POST /v1/claims/notices)", field="role")
            return policy.insured  # a hospital platform reports for the insured it treated
        else:
            raise Forbidden(f"role {caller.role!r} does not report claims", field="role")
        held = _roles_on(policy, party)
        if not held:  # to a customer, the same answer as a number that does not exist
            raise NotFound(f"{party} holds no role on policy {policy.policy_no}" if caller.staff
                           else f"no policy {policy.policy_no}", field="policy_no")
        allowed = REPORTER_ROLES["death" if claim_type == "death" else "default"]
        if not held.intersection(allowed):
            raise Refused(f"REPORTER-ROLE: a {claim_type} claim is reported by the {' or '.join(allowed)}",
                          rule="REPORTER-ROLE", zh="您在本保单中的身份不能报告此类理赔", field="claim_type")
        return party

    def give_documents(self, claim_id: str, uploads: Mapping[str, str], caller: Caller) -> ClaimState:
        """Documents for the checklist (code -> upload digest); the claim is assessed once they are complete and
        nothing waits for keying. Each new digest is registered on chain (kind: claim document)."""
        state, _ = self.visible(claim_id, caller)
        return self._give_documents(state, uploads, caller)

    def _give_documents(self, state: ClaimState, uploads: Mapping[str, str], caller: Caller) -> ClaimState:
        claim_id = state.claim_id
        self._check_uploads(uploads, checklist=state.checklist, caller=caller,
                            owners={caller.subject, state.reported["reporter"]["party"], state.reported["insured"]})
        registrations = tuple(self._registration(claim_id, digest) for digest in sorted(set(uploads.values()))
                              if self._read.get("documents", (parse_digest(digest, field="digest"),)) is None)
        self._run(claim_id, d.GiveDocuments(uploads=dict(uploads), registrations=registrations,
                                            actor=caller.actor))
        return self._assess_if_ready(claim_id)

    def _check_uploads(self, uploads: Mapping[str, str], *, checklist: Sequence[str], caller: Caller,
                       owners: set[str]) -> None:
        """Raise ``ValidationFailed`` naming the document unless each is on the checklist and an upload of the
        claim's people (staff upload in a customer's name)."""
        for code, digest in uploads.items():
            if code not in checklist:
                raise ValidationFailed(f"documents: {code} is not on this claim's checklist ({', '.join(checklist)})",
                                       field=f"documents.{code}")
            parse_digest(digest, field=f"documents.{code}")
            if caller.role != "system" and not self._uploads.owned_by(digest, owners):
                raise ValidationFailed(f"documents.{code}: no upload {digest} for this claim",
                                       field=f"documents.{code}")

    def _registration(self, claim_id: str, digest: str) -> NewEvent:
        subject = sha256(f"lifeledger claim document:{claim_id}:{digest}".encode())
        return NewEvent("document.registered", {"digest": digest, "subject": digest_str(subject),
                                                "kind": CLAIM_DOCUMENT_KIND, "version": 1},
                        stream=f"document:{subject.hex()}")

    def receive_invoice(self, claim_id: str, signed: Any, *, system: str) -> ClaimState:
        """A hospital's (or e-invoice platform's) signed e-invoice with its discharge summary: recorded as the
        system signed it, then taken into the claim citing that entry; it stands for the structured documents
        (invoice, discharge summary, social-insurance settlement). Raises ``ValidationFailed`` if it names another
        claim or policy, and as the intake does for a bad signature or an unknown key."""
        state = self.get(claim_id)
        if signed.statement.type != ev.HOSPITAL_INVOICE:
            raise ValidationFailed(f"statement.type must be {ev.HOSPITAL_INVOICE}", field="statement.type")
        facts = signed.payload
        if facts.get("claim_id") != claim_id or facts.get("policy_no") != state.reported["policy_no"]:
            raise ValidationFailed("payload: the invoice names another claim or policy", field="payload.claim_id")
        invoice = inputs.invoice_facts(facts, field="payload", currency=self.rules.currency)
        personal = signed.personal.payload if signed.personal is not None else {}
        key = d.Key(invoice={**invoice, "source": "system", "evidence": -1, "digest": None, "keyed_by": None},
                    personal={k: personal[k] for k in ("diagnoses", "history") if k in personal},
                    duplicate_of=None, actor=Actor(role="system", party=system),
                    personal_subject=state.reported["insured"])
        d.decide(state, key, self._clock.now())  # nothing is recorded for an invoice the claim would refuse
        receipt = self._intake.append(signed, owner=system)
        self._run(claim_id, replace(key, invoice={**key.invoice, "evidence": receipt.index}))
        structured = [code for code in self.get(claim_id).checklist if code in self.rules.structured()]
        given = {code: f"entry:{receipt.index}" for code in structured if code not in self.get(claim_id).received}
        if given and self.get(claim_id).status in st.UNDECIDED:
            self._run(claim_id, d.GiveDocuments(uploads=given, actor=Actor(role="system", party=system)))
        if self.get(claim_id).reported["claim_type"] == "critical_illness" and personal.get("diagnoses") \
                and not self.get(claim_id).medical:
            self._medical_from(claim_id, list(personal["diagnoses"]), list(personal.get("history") or ()),
                               actor=Actor(role="system", party=system), keyed_by=None)
        return self._assess_if_ready(claim_id)

    def key_invoice(self, claim_id: str, raw: Mapping[str, Any], caller: Caller) -> ClaimState:
        """An adjuster keys an uploaded invoice picture (the system never reads numbers from a picture)."""
        state = self._staff(claim_id, caller)
        invoice = inputs.invoice_facts(raw, field="invoice", currency=self.rules.currency)
        digest = raw.get("digest")
        if not isinstance(digest, str) or digest != state.uploads.get("INVOICE"):
            raise ValidationFailed("digest: name the claim's uploaded invoice (document INVOICE) this keys",
                                   field="digest")
        if any(keyed.get("digest") == digest for keyed in state.invoices):
            raise Refused("INVOICE-KEYED: this upload is keyed already", rule="INVOICE-KEYED",
                          zh="该发票已录入", field="digest")
        self._run(claim_id, d.Key(
            invoice={**invoice, "source": "keyed", "evidence": None, "digest": digest, "keyed_by": caller.subject},
            personal={"diagnoses": inputs.codes(raw.get("diagnoses")),
                      "history": inputs.history_raw(raw.get("history"))},
            duplicate_of=None, actor=caller.actor, personal_subject=state.reported["insured"]))
        return self._assess_if_ready(claim_id)

    def key_medical(self, claim_id: str, raw: Mapping[str, Any], caller: Caller) -> ClaimState:
        """An adjuster or the handler keys the medical facts from the documents: diagnoses (ICD-10), history,
        disability grade, date and cause of death, exclusion facts."""
        state = self._staff(claim_id, caller)
        grade = raw.get("disability_grade")
        if grade is not None and (type(grade) is not int or not 1 <= grade <= 10):
            raise ValidationFailed("disability_grade must be a whole number 1 to 10", field="disability_grade")
        cause = raw.get("death_cause")
        if cause is not None and cause not in ("illness", "accident", "suicide", "crime", "other"):
            raise ValidationFailed("death_cause must be illness, accident, suicide, crime or other",
                                   field="death_cause")
        exclusion_facts = [str(code) for code in raw.get("exclusion_facts") or ()]
        self._medical_from(claim_id, inputs.codes(raw.get("diagnoses")), inputs.history_raw(raw.get("history")),
                           actor=caller.actor, keyed_by=caller.subject, grade=grade, cause=cause,
                           death_date=inputs.date_field(raw, "death_date") if raw.get("death_date") else None,
                           exclusion_facts=exclusion_facts, group=raw.get("illness_group"))
        del state
        return self._assess_if_ready(claim_id)

    def _medical_from(self, claim_id: str, diagnoses: list[str], history: list[dict[str, Any]], *, actor: Actor,
                      keyed_by: str | None, grade: int | None = None, cause: str | None = None,
                      death_date: date | None = None, exclusion_facts: Sequence[str] = (),
                      group: str | None = None) -> None:
        groups = [g for g in (self.diagnoses.group_of(code) for code in diagnoses) if g is not None]
        severities = [g.severity for g in groups if g.severity != "none"]
        order = ("severe", "moderate", "mild")
        illness_group = group or next((s for s in order if s in severities), None)
        if illness_group is not None and illness_group not in order:
            raise ValidationFailed("illness_group must be severe, moderate or mild", field="illness_group")
        state = self.get(claim_id)
        self._run(claim_id, d.KeyMedical(
            facts={"illness_group": illness_group, "disability_grade": grade,
                   "death_date": death_date.isoformat() if death_date else None, "death_cause": cause,
                   "exclusion_facts": list(exclusion_facts), "diagnosis_groups": sorted({g.code for g in groups}),
                   "keyed_by": keyed_by},
            personal={"diagnoses": diagnoses, "history": history}, actor=actor,
            personal_subject=state.reported["insured"]))

    # -- assessment ------------------------------------------------------------------------------------------

    def _assess_if_ready(self, claim_id: str) -> ClaimState:
        state = self.get(claim_id)
        if state.status not in (st.AWAITING_KEYING, st.UNDER_REVIEW) or state.keying_needed(self.rules.structured()):
            return state
        return self.assess(claim_id)  # under review: what was keyed or given since is what is assessed

    def assess(self, claim_id: str, *, actor: Actor | None = None) -> ClaimState:
        """Run the evaluation (benefit, first review, flags, triage) and record it; an automatic approval
        instructs the payment in the same group (prepared again if the payee changed the account meanwhile)."""
        for attempt in range(CONTRACT_ATTEMPTS):
            try:
                return self._assess_once(claim_id, actor=actor)
            except Refused as refused:
                if refused.rule not in ("ACCOUNT-CHANGED", proj.COVER_STALE) or attempt == CONTRACT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _assess_once(self, claim_id: str, *, actor: Actor | None) -> ClaimState:
        state = self.get(claim_id)
        cover_seen = self._cover_uses(state)  # before the evaluation reads the policy's other claims
        result, today = self._evaluation(state)
        handler, reason = (self._pick_handler(exclude=()) if result.track == "major" and not state.handler
                           else (None, {}))
        payment = self._instruction(state, result.assessment.net, today) if result.automatic["approved"] else None
        assessment = result.assessment.to_json()
        command = d.Assess(
            assessment=assessment, review=result.review_json(), flags=[f.to_json() for f in result.flags],
            flag_details=[{"rule": f.rule, **f.personal_json()} for f in result.flags if f.personal_json()],
            track=result.track, automatic=result.automatic, versions=result.versions.to_json(), on=today,
            handler=handler, handler_reason=reason, waiting=state.keying_needed(self.rules.structured()),
            payment=payment, actor=actor or Actor(role="system", party="claims-assessment"),
            cover_seen=cover_seen if payment is not None else None)
        return self._run(claim_id, command).state

    def _cover_uses(self, state: ClaimState) -> int:
        """How many records changed what the claim's policy's claims used of its cover: read before an evaluation
        that may approve or advance, and recorded with that record, which the read model refuses (COVER-STALE)
        if another one landed in between."""
        return proj.uses_of(self._read.get(proj.COVER, (state.reported["application_id"],)))

    def _evaluation(self, state: ClaimState) -> tuple[Any, date]:
        """The claim evaluated now (benefit, first review, flags, triage) against the policy and its other claims
        as they stand, and today's business date."""
        claim_id = state.claim_id
        now = self._clock.now()
        today = self._calendar.date_of(now)
        policy, _ = self._policies.position(state.reported["application_id"])
        claim = ctx.claim_of(state, open_personal=self._personal)
        cover = ctx.cover_of(policy, on=today, loss_date=claim.loss_date,
                             calendar_date=self._calendar.date_of)
        product = self._policies.catalog.get(cover.product_id, cover.product_version)
        rows, invoices, digests = ctx.related_rows(
            self._read, insured=cover.insured, account_digest=claim.account_digest,
            invoice_nos=[i.invoice_no for i in claim.invoices],
            digests=[v for v in state.uploads_given() if v.startswith("sha256:")])
        prior = ctx.prior_of(rows, claim_id=claim_id, invoices=invoices, digests=digests,
                             policy_year_start=lambda row: policy_year_start(
                                 cover.effective_date, date.fromisoformat(row["loss_date"])),
                             assessed=self._assessed_facts, paid_out=self._paid_out, policy_no=claim.policy_no)
        window = (claim.loss_date - timedelta(days=self.fraud.definition.phantom_stay.cumulative_window_days
                                              + STAY_MARGIN_DAYS), claim.loss_date + timedelta(days=STAY_MARGIN_DAYS))
        prior = [self._with_stay(p) if p.insured == cover.insured and window[0] <= p.loss_date <= window[1] else p
                 for p in prior]
        changes = ctx.changes_of(self._read.select(servicing_projection.REQUESTS,
                                                   where={"application_id": cover.application_id}, limit=500))
        declaration, questionnaire = self._policies.declaration(cover.application_id)
        result = evaluate(product=product, cover=cover, claim=claim, prior=prior, changes=changes,
                          declaration=declaration, questionnaire=questionnaire, rules=self.rules, fraud=self.fraud,
                          diagnoses=self.diagnoses, today=today, now=now)
        return result, today

    def _assessed_against_today(self, claim_id: str) -> int | None:
        """Before a benefit is approved or advanced: if what the policy's other claims used of its cover moved
        since this claim was assessed (another claim approved or paid meanwhile: a once-only benefit, an annual
        limit, a deductible, allowance days), assess it again and refuse (ASSESSMENT-CHANGED), so the decider
        looks at the benefit that is left rather than pay the same cover twice. Returns the assessment entry it
        found current (None: not assessed)."""
        state = self.get(claim_id)
        recorded = state.assessment.get("assessment") if state.assessment else None
        if not recorded:
            return None
        fresh = self._evaluation(state)[0].assessment.to_json()
        if all(fresh.get(key) == recorded.get(key) for key in BENEFIT_KEYS):
            return state.assessed_index
        again = self.assess(claim_id)
        raise d.refuse("ASSESSMENT-CHANGED", f"another claim on this policy used its cover since this claim was "
                       f"assessed; it is assessed again (entry {again.assessed_index}): look at the new benefit",
                       "同一保单的其他赔案已使用保障额度，本案已重新理算，请查看新的理算结果后再作决定")

    def _with_stay(self, prior: Prior) -> Prior:
        """An earlier claim of the insured with its hospital stay as its invoices say: first admission, last
        discharge, and the hospital and diagnosis group of the last stay; what the split-admission and
        cumulative-stay rules compare a new claim with (the read model holds no medical facts)."""
        state, _ = self._workflow.load(self._aggregate, ev.stream_of(prior.claim_id))
        stays = [i for i in ctx.claim_of(state, open_personal=self._personal).invoices
                 if i.admitted is not None and i.discharged is not None]
        if not stays:
            return prior
        last = max(stays, key=lambda i: (i.discharged, i.index))
        groups = [group.code for group in self.diagnoses.groups_of(last.diagnoses)]
        return replace(prior, admitted=min(i.admitted for i in stays if i.admitted is not None),
                       discharged=last.discharged, hospital=last.hospital,
                       diagnosis_group=groups[0] if groups else "")

    def _paid_out(self, claim_id: str) -> Decimal:
        state, _ = self._workflow.load(self._aggregate, ev.stream_of(claim_id))
        return d.owed_out(state)

    def _assessed_facts(self, claim_id: str) -> Mapping[str, Any]:
        state, _ = self._workflow.load(self._aggregate, ev.stream_of(claim_id))
        found: Mapping[str, Any] = state.assessment.get("assessment", {})
        return found

    def _pick_handler(self, *, exclude: Sequence[str]) -> tuple[str | None, dict[str, Any]]:
        """The roster's handler with the fewest open claims (ties: by name); none when no roster is configured
        (the claim waits in the major queue for a handler to take it)."""
        candidates = [h for h in self.handlers if h not in exclude]
        if not candidates:
            return None, {}
        loads = {h: sum(1 for row in self._read.select(proj.CLAIMS, where={"handler": h}, limit=10_000)
                        if row["status"] in st.OPEN) for h in candidates}
        chosen = min(candidates, key=lambda h: (loads[h], h))
        return chosen, {"rule": "WORKLOAD", "open_claims": loads[chosen],
                        "roster": {h: loads[h] for h in candidates}}

    def _instruction(self, state: ClaimState, amount: Decimal, today: date) -> dict[str, Any]:
        account, subject = self._account_of(state)
        return {"payment_id": new_id("P"), "kind": "benefit",
                "amount": Money.of(amount, self.rules.currency).to_json(), "payee": state.reported["payee"],
                "account_digest": state.account_digest, "account": account, "personal_subject": subject,
                "due_by": d.due_by(today, self.rules.clocks.payment_days).isoformat()}

    def _account_of(self, state: ClaimState) -> tuple[dict[str, Any] | None, str]:
        """The payee's latest account (opened from the report or the latest change)."""
        index = next((step.index for step in reversed(state.timeline)
                      if step.type in (ev.ACCOUNT_CHANGED, ev.REPORTED)), 0)
        opened = ctx._opened(self._personal, index)
        return opened.get("account"), state.reported["payee"]

    # -- staff decisions ------------------------------------------------------------------------------------

    def _staff(self, claim_id: str, caller: Caller) -> ClaimState:
        """The claim for a staff command: one the caller may see, and on a claim with a handler, the handler
        (adjusters may still key its documents). Nothing is recorded for a caller refused here."""
        state, _ = self.visible(claim_id, caller)
        self._check_handler(state, caller)
        return state

    def _check_handler(self, state: ClaimState, caller: Caller) -> None:
        """A claim with a named handler is worked by that handler (adjusters may still key its documents)."""
        if caller.role == "claims_handler" and state.handler and state.handler != caller.subject:
            raise Refused(f"HANDLER-ONLY: this claim's handler is {state.handler}; only they work it",
                          rule="HANDLER-ONLY", zh=f"本案由专属理赔员{state.handler}负责")

    def decide(self, claim_id: str, *, action: str, caller: Caller, reason: str = "", reason_zh: str = "",
               clause: str = "", amount: Money | None = None, documents: Sequence[str] = (),
               seen: int | None = None) -> ClaimState:
        """A reviewer's or handler's decision: approve the assessed amount, adjust it (with the reason), decline
        (reason and clause), or request documents (every missing item in one notice). ``seen``, the assessment
        entry the decider looked at, makes the decision refused (ASSESSMENT-CHANGED) if the claim was assessed
        again since."""
        self._staff(claim_id, caller)
        known = tuple(document.code for document in self.rules.documents)

        def command(state: ClaimState, cover_seen: int | None = None, checked: int | None = None) -> d.Decide:
            payment = self._instruction(state, Decimal(0), self.today()) if action in ("approve", "adjust") else None
            return d.Decide(action=action, staff=caller.subject, reason=reason, reason_zh=reason_zh, clause=clause,
                            amount=amount, documents=tuple(documents), known=known, payment=payment,
                            actor=caller.actor, seen=seen if seen is not None else checked, cover_seen=cover_seen)

        if action not in ("approve", "adjust"):
            return self._paying(claim_id, command)
        return self._using_cover(claim_id, command, pinned=seen is not None)

    def advance(self, claim_id: str, amount: Money, *, reason: str, caller: Caller) -> ClaimState:
        """An advance payment (IL 25) while liability is clear and the amount is not yet fixed."""
        self._staff(claim_id, caller)
        return self._using_cover(claim_id, lambda state, cover_seen=None, checked=None: d.Advance(
            amount=amount, staff=caller.subject, reason=reason,
            payment=self._instruction(state, amount.amount, self.today()), actor=caller.actor, seen=checked,
            cover_seen=cover_seen, most=None if state.assessment else self._most_payable(state)), pinned=False)

    def _most_payable(self, state: ClaimState) -> Decimal:
        """The most the claim can pay under its policy's cover, before it is assessed (``most_payable``)."""
        policy, _ = self._policies.position(state.reported["application_id"])
        loss_date = date.fromisoformat(state.reported["loss_date"])
        cover = ctx.cover_of(policy, on=self.today(), loss_date=loss_date, calendar_date=self._calendar.date_of)
        product = self._policies.catalog.get(cover.product_id, cover.product_version)
        return most_payable(product, cover, claim_type=state.reported["claim_type"], cause=state.reported["cause"])

    def _using_cover(self, claim_id: str, command: Callable[..., object], *, pinned: bool) -> ClaimState:
        """Run a command that uses the policy's cover (an approval, an adjustment, an advance), made with
        ``command(state, cover_seen=..., checked=...)``:

        - the rules' own refusals (status, handler, appeal, amount) come first, and record nothing;
        - the claim's assessment is checked against the policy's other claims as they are now, after reading
          the count of their uses (``cover_seen``), and assessed again if they used its cover meanwhile
          (ASSESSMENT-CHANGED, from ``_assessed_against_today``);
        - the command is recorded on the assessment that check found current (``checked``): if another was
          recorded since (new facts keyed, or a re-assessment whose evaluation ran earlier), it is refused
          (ASSESSMENT-CHANGED) once that one is checked against the other claims in turn (and assessed again if
          they used its cover), so the decider looks at the amount it would pay; and with ``cover_seen``, so that
          a use of the cover recorded since the count was read makes the read model refuse it (COVER-STALE), and
          it is checked again counting that use.
        """
        for attempt in range(CONTRACT_ATTEMPTS):
            state = self.get(claim_id)
            cover_seen = self._cover_uses(state)  # before the evaluation reads the policy's other claims
            d.decide(state, command(state, cover_seen=cover_seen), self._clock.now())  # the rules' own refusals
            checked = self._assessed_against_today(claim_id)
            try:
                return self._paying(claim_id, functools.partial(command, cover_seen=cover_seen, checked=checked))
            except Refused as refused:
                if refused.rule == "ASSESSMENT-CHANGED" and not pinned:
                    self._assessed_against_today(claim_id)  # the newer one, assessed again if it is stale
                    raise
                if refused.rule != proj.COVER_STALE or attempt == CONTRACT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _paying(self, claim_id: str, command: Callable[[ClaimState], object]) -> ClaimState:
        """Run a command that instructs a payment, prepared again when the payee changed the account meanwhile
        (the pure rules refuse an instruction to an account that is no longer the payee's: ACCOUNT-CHANGED)."""
        for attempt in range(CONTRACT_ATTEMPTS):
            try:
                return self._run(claim_id, command(self.get(claim_id))).state
            except Refused as refused:
                if refused.rule != "ACCOUNT-CHANGED" or attempt == CONTRACT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def settle(self, claim_id: str, signed: Any, *, system: str) -> ClaimState:
        """The payments system's signed settlement (``payments.claim.settled``): recorded as signed, then the
        claim records it citing the entry. Paid closes the claim; failed asks the payee for a new account."""
        state = self.get(claim_id)
        if signed.statement.type != ev.PAYMENT_SETTLEMENT:
            raise ValidationFailed(f"statement.type must be {ev.PAYMENT_SETTLEMENT}", field="statement.type")
        f = signed.payload
        if f.get("claim_id") != claim_id:
            raise ValidationFailed("payload.claim_id names another claim", field="payload.claim_id")
        status = f.get("status")
        if status not in ("paid", "failed"):
            raise ValidationFailed("payload.status must be paid or failed", field="payload.status")
        paid_at = str(f.get("paid_at") or "")
        parse_timestamp(paid_at, field="payload.paid_at")
        amount = Money.of(f.get("amount"), str(f.get("currency") or self.rules.currency), field="payload.amount")
        payment_id = str(f.get("payment_id") or "")
        if payment_id not in state.payments:
            raise NotFound(f"claim {claim_id} has no payment {payment_id}", field="payload.payment_id")
        actor = Actor(role="system", party=system)
        command = d.Settle(payment_id=payment_id, status=status, reason=str(f.get("reason") or ""), paid_at=paid_at,
                           evidence=-1, system=system, amount=amount, actor=actor)
        d.decide(state, command, self._clock.now())  # nothing is recorded for a settlement the claim would refuse
        receipt = self._intake.append(signed, owner=system)
        command = replace(command, evidence=receipt.index)
        for attempt in range(CONTRACT_ATTEMPTS):
            ending, expected = self._ending(state, payment_id, status, actor)
            try:
                return self._workflow.run(self._aggregate, ev.stream_of(claim_id),
                                          replace(command, ending=tuple(ending)), expected=expected).state
            except StreamMoved as moved:
                if not expected or moved.stream not in expected or attempt == CONTRACT_ATTEMPTS - 1:
                    raise
                state = self.get(claim_id)
        raise AssertionError("unreachable")

    def _ending(self, state: ClaimState, payment_id: str, status: str, actor: Actor
                ) -> tuple[list[NewEvent], dict[str, int]]:
        """When a paid benefit ends the cover, the events ending the contract; when it triggers the premium waiver,
        the waiver of the premiums still due; and the contract stream's position they were prepared on."""
        held = state.payments[payment_id]
        assessment = state.assessment.get("assessment", {})
        if status != "paid" or held["kind"] != "benefit" or not (assessment.get("ends_cover")
                                                                  or assessment.get("waiver")):
            return [], {}
        application_id = state.reported["application_id"]
        policy, seq = self._policies.position(application_id)
        if assessment.get("ends_cover"):
            events = self._policies.claim_ended(policy, claim_id=state.claim_id,
                                                coverages=list(assessment.get("coverages") or ()), on=self.today(),
                                                actor=actor.to_json())
        else:  # the premium waiver: the premiums still due are waived, the cover goes on
            events = self._policies.claim_waiver(policy, claim_id=state.claim_id, on=self.today(),
                                                 actor=actor.to_json())
        return events, ({self._policies.contract_stream(application_id): seq} if events else {})

    def change_account(self, claim_id: str, raw: Any, caller: Caller) -> ClaimState:
        """The payee gives a new account (after a failed payment the payment is instructed again to it)."""
        state, _ = self.visible(claim_id, caller)
        if caller.role == "customer" and caller.subject != state.reported["payee"]:
            raise Refused("PAYEE-ONLY: only the payee changes the account the benefit is paid to",
                          rule="PAYEE-ONLY", zh="只有领款人可以变更收款账户")
        account = inputs.account(raw)
        if account is None:
            raise ValidationFailed("account is required", field="account")
        digest = self._account_digest(account)
        failed = any(p["status"] == "failed" for p in state.payments.values())
        payment = self._instruction(state, Decimal(0), self.today()) if failed else None
        return self._run(claim_id, d.ChangeAccount(account_digest=digest, account=account, payment=payment,
                                                   actor=caller.actor,
                                                   personal_subject=state.reported["payee"])).state

    def note(self, claim_id: str, *, kind: str, text: str, next_step_by: str | None, caller: Caller) -> ClaimState:
        """A handler's contact, progress note or assistance given, shown to the customer in the timeline."""
        state = self._staff(claim_id, caller)
        if not text.strip():
            raise ValidationFailed("text: say what was done and what comes next", field="text")
        if next_step_by is not None:
            inputs.date_or_time(next_step_by, field="next_step_by")
        return self._run(claim_id, d.Note(kind=kind, text=text, staff=caller.subject, next_step_by=next_step_by,
                                          actor=caller.actor, personal_subject=state.reported["insured"])).state

    def resolve_flag(self, claim_id: str, *, rule: str, confirmed: bool, note: str, caller: Caller) -> ClaimState:
        """An investigator's finding on a flag (confirmed or cleared); on a major claim, its handler's."""
        state = self._staff(claim_id, caller)
        if state.handler and caller.role == "adjuster":
            raise Refused(f"HANDLER-ONLY: this claim's handler is {state.handler}; only they resolve its flags",
                          rule="HANDLER-ONLY", zh=f"本案由专属理赔员{state.handler}负责")
        return self._run(claim_id, d.ResolveFlag(rule=rule, confirmed=confirmed, note=note, staff=caller.subject,
                                                 actor=caller.actor,
                                                 personal_subject=state.reported["insured"])).state

    def take(self, claim_id: str, caller: Caller) -> ClaimState:
        """A handler takes a major claim that has none (no roster configured, or the roster's handler left)."""
        state, _ = self.visible(claim_id, caller)
        if state.track not in ("major", ""):
            raise Refused(f"NOT-MAJOR: claim {claim_id} is on the {state.track} track; reviewers decide it",
                          rule="NOT-MAJOR", zh="该理赔不是重大案件，由审核人员处理")
        if state.handler:
            raise Refused(f"HANDLER-ASSIGNED: claim {claim_id} already has handler {state.handler}",
                          rule="HANDLER-ASSIGNED", zh="该理赔已有专属理赔员")
        return self._run(claim_id, d.AssignHandler(handler=caller.subject, reason={"rule": "TAKEN"},
                                                   actor=caller.actor)).state

    def reopen(self, claim_id: str, *, reason: str, documents: Sequence[str], caller: Caller) -> ClaimState:
        """Reopen a decided claim with new documents (or for a new review)."""
        self._staff(claim_id, caller)
        return self._run(claim_id, d.Reopen(reason=reason, documents=tuple(documents), staff=caller.subject,
                                            actor=caller.actor)).state

    def appeal(self, claim_id: str, *, reason: str, caller: Caller) -> ClaimState:
        """The customer appeals a decline: it goes to a handler who did not decide it."""
        state, _ = self.visible(claim_id, caller)
        handler, _ = self._pick_handler(exclude=state.deciders)
        return self._run(claim_id, d.Appeal(reason=reason, handler=handler or "", actor=caller.actor)).state

    def close(self, claim_id: str, *, reason: str, caller: Caller) -> ClaimState:
        """Close a declined claim, or one abandoned before its documents came."""
        self._staff(claim_id, caller)
        return self._run(claim_id, d.Close(reason=reason, actor=caller.actor)).state

    # -- the payments system's outbox -----------------------------------------------------------------------

    def pending_payments(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Payment instructions not yet settled, with the account to pay (opened for the payments system)."""
        rows = self._read.select(proj.PAYMENTS, where={"status": "instructed"}, order_by=("instructed_idx",),
                                 limit=limit)
        return [{**row, "account": ctx._opened(self._personal, row["instructed_idx"]).get("account")}
                for row in rows]

    # -- plumbing -------------------------------------------------------------------------------------------

    def _account_digest(self, account: Mapping[str, Any] | None) -> str:
        if not account:
            return ""
        mac = hmac.new(self._account_key, str(account["number"]).encode(), hashlib.sha256).hexdigest()
        return f"hmac:{mac[:32]}"

    def _run(self, claim_id: str, command: object, *, fresh: bool = False) -> Outcome[ClaimState]:
        return self._workflow.run(self._aggregate, ev.stream_of(claim_id), command, fresh=fresh)


CUSTOMER_COLUMNS = ("claim_id", "policy_no", "claim_type", "loss_date", "status", "outcome", "assessed_amount",
                    "approved_amount", "paid_amount", "currency", "reported_at", "complete_at", "decided_at",
                    "paid_at")


def _customer_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A claim as a customer's list shows it: no flags, sample draws, handlers or account digests."""
    return {name: row.get(name) for name in CUSTOMER_COLUMNS}


def _roles_in_claim(on_policy: set[str], party: str, *, claim_type: str, reporter: str) -> set[str]:
    """The customer's roles in one claim: their roles on its policy, and reporter if they reported it; a
    beneficiary has no part in the living insured's claims, only in a death claim."""
    roles = set(on_policy)
    if party == reporter:
        roles.add("reporter")
    if claim_type != "death":
        roles.discard("beneficiary")
    return roles


def _roles_on(policy: PolicyState, party: str) -> set[str]:
    held = set()
    if policy.policyholder == party:
        held.add("policyholder")
    if policy.insured == party:
        held.add("insured")
    if any(b.get("party") == party for b in policy.beneficiaries):
        held.add("beneficiary")
    return held
