"""The servicing service: the public catalog, and the hall where requests are made, confirmed, reviewed and done.

Every command loads the request (``servicing:<id>``) and the policy it concerns, puts what the rules need into a
``Context`` and runs the pure rules (``ledger.servicing.decide``) through the one command path; completing a
request writes the contract's change (``policy.contract.serviced``) at the policy stream's position the change was
prepared on, with the next e-policy version and its supersession on chain, all or none.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from ledger.claims import projection as claims_projection
from ledger.claims import state as claims_state
from ledger.clock import BusinessCalendar, Clock
from ledger.errors import (
    Conflict,
    ErasedError,
    Forbidden,
    LedgerError,
    NotFound,
    Refused,
    StreamMoved,
    ValidationFailed,
)
from ledger.kernel import Actor, Event, NewEvent
from ledger.money import Money
from ledger.policies.state import SUSPENDED, PolicyState, with_changes
from ledger.products.catalog import ProductCatalog
from ledger.servicing import decide as d
from ledger.servicing import events as ev
from ledger.servicing import projection as proj
from ledger.servicing import state as st
from ledger.servicing.catalog import Operation, ServicingCatalog, default_catalog_path, load_catalog
from ledger.servicing.correlation import CorrelationRules, Past
from ledger.servicing.families.base import Context, Family, Input, Prepared
from ledger.servicing.registry import FAMILIES
from ledger.servicing.state import RequestState
from ledger.servicing.view import public_operation, request_view
from ledger.workflow import Workflow, new_id

__all__ = ["ServicingService", "request_view"]

log = logging.getLogger(__name__)

REQUESTER_ROLES = ("policyholder", "insured", "beneficiary")
CONTRACT_ATTEMPTS = 8  # a contract this busy is a bug or an attack
PAYMENT_DAYS = 30  # an approved request that takes a payment ends when none has come after this many days
HISTORY_LIMIT = 500  # a policy's newest requests the correlation rules and the open-request rule look at


class Codes(Protocol):
    def terms(self, now: datetime, channel: str = "sms") -> dict[str, Any]: ...

    def issue(self, request_id: str, *, party: str, channel: str = "sms", purpose_zh: str,
              purpose_en: str, now: datetime | None = None) -> dict[str, Any]: ...

    def check(self, request_id: str, code: str) -> None: ...


class Parties(Protocol):
    """The party service: persons parsed and resolved to parties (registering the new ones)."""

    def parse_person(self, raw: Mapping[str, Any], *, field: str, today: date) -> Any: ...

    def resolve(self, persons: Any, *, actor: Mapping[str, str]) -> list[Any]: ...

    def registering(self, error: LedgerError) -> bool: ...


class Policies(Protocol):
    """What the hall asks of the policy service: the contract's state and stream, its cash value, its printed
    e-policy versions, and who holds which role on it."""

    catalog: ProductCatalog
    serviced_type: str

    def application_of(self, policy_no: str) -> str: ...

    def roles(self, application_id: str, party: str) -> set[str]: ...

    def position(self, application_id: str) -> tuple[PolicyState, int]: ...

    def contract_stream(self, application_id: str) -> str: ...

    def cash_value_of(self, state: PolicyState) -> Any: ...

    def next_version(self, state: PolicyState, *, today: date, next_due: date | None = None,
                     printed: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any], NewEvent]: ...

    def revocation(self, state: PolicyState, *, ended: bool = False) -> NewEvent: ...

    def request_reinstatement(self, application_id: str, answers: Mapping[str, Any], *, actor: Any
                              ) -> PolicyState: ...

    def reinstatement_payment(self, application_id: str) -> dict[str, Any] | None: ...

    def check_declaration(self, application_id: str, answers: Mapping[str, Any], *, field: str = "answers"
                          ) -> None: ...

    def underwrite_declaration(self, application_id: str, answers: Mapping[str, Any], *, product_id: str,
                               sum_insured: Money, field: str = "answers") -> dict[str, Any]: ...


class Uploads(Protocol):
    def owned_by(self, digest: str, subjects: set[str]) -> bool: ...


class Reader(Protocol):
    def get(self, table: str, key: Any) -> dict[str, Any] | None: ...

    def select(self, table: str, *, where: Mapping[str, Any] | None = None, order_by: Any = (),
               limit: int | None = None) -> list[dict[str, Any]]: ...


class RequestRules:
    """The request aggregate for the workflow: fold and pure decision."""

    def initial(self) -> RequestState:
        return RequestState()

    def evolve(self, state: RequestState, event: Event) -> RequestState:
        return st.evolve(state, event)

    def decide(self, state: RequestState, command: object, now: Any) -> list[NewEvent]:
        return d.decide(state, command, now)


class ServicingService:
    """Publishes the servicing catalog and, once ``attach``-ed to the ledger's services, runs the hall."""

    def __init__(self, catalog: ServicingCatalog) -> None:
        self.catalog = catalog
        self._public = {operation.code: public_operation(operation, catalog, FAMILIES.get(operation.family))
                        for operation in catalog.operations()}
        self._rules = RequestRules()
        self._watch_lock = threading.Lock()
        self._watchers: dict[str, list[Callable[[], None]]] = {}  # request id -> callbacks (live progress)

    @classmethod
    def load(cls, path: str | Path | None = None) -> ServicingService:
        """A service over the catalog file at ``path`` (default: the shipped ``products/servicing/catalog.toml``).

        Raises ``ValidationFailed`` naming the file, the path in it and the value if the catalog is wrong.
        """
        return cls(load_catalog(default_catalog_path() if path is None else path))

    def attach(self, *, workflow: Workflow, policies: Policies, parties: Parties, codes: Codes,
               uploads: Uploads, read: Reader, correlation: CorrelationRules, clock: Clock,
               calendar: BusinessCalendar, opener: Any) -> None:
        """Give the hall the services it runs on (the composition root calls this once)."""
        self._workflow = workflow
        self._policies = policies
        self._parties = parties
        self._codes = codes
        self._uploads = uploads
        self._read = read
        self.correlation = correlation
        self._watched = {code for rule in correlation.applying_to("servicing") for code in rule.when}
        self._clock = clock
        self._calendar = calendar
        self._personal = opener

    # -- commands that change the contract: retried when the policy moved under them -------------------------

    def _contract_retry(self, run: Callable[[], RequestState]) -> RequestState:
        """Run a command that writes the contract, again when another request or the policy clock moved the
        contract between the preparation and the append (two requests on one policy at once), or another command
        registered a person the request names, or another high-risk request was submitted on the policy while
        this one was decided without four eyes (``REQUEST-STALE``): each attempt prepares on the contract, the
        people and the open requests as they are then. Other conflicts are raised."""
        for attempt in range(CONTRACT_ATTEMPTS):
            try:
                return run()
            except Refused as refused:  # decided on open amounts another request changed: decide again
                if refused.rule != "REQUEST-STALE" or attempt == CONTRACT_ATTEMPTS - 1:
                    raise
            except Conflict as error:
                moved_contract = isinstance(error, StreamMoved) and error.stream.startswith(
                    self._policies.contract_stream(""))
                if not (moved_contract or self._parties.registering(error)) or attempt == CONTRACT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def submit(self, policy_no: str, code: str, raw: Mapping[str, Any], *, role: str, party: str,
               on_behalf_of: str | None = None, uploads: Mapping[str, str] | None = None) -> RequestState:
        """Record a request for operation ``code`` on policy ``policy_no`` by the caller (``role``: customer or
        servicing staff acting ``on_behalf_of`` a party of the policy).

        Raises ``NotFound`` for an unknown policy or operation (and for a policy the customer is no party to),
        ``ValidationFailed`` naming the input field, and ``Refused`` naming the rule (who may ask, eligibility,
        the family's own rules). An automatic operation with nothing to wait for completes in the same group.
        """
        return self._contract_retry(lambda: self._submit_once(policy_no, code, raw, role=role, party=party,
                                                              on_behalf_of=on_behalf_of, uploads=uploads))

    def provide_documents(self, request_id: str, uploads: Mapping[str, str], *, role: str,
                          party: str) -> RequestState:
        """Documents the request awaits (code -> upload digest); an automatic operation completes with them."""
        return self._contract_retry(lambda: self._provide_documents_once(request_id, uploads, role=role,
                                                                         party=party))

    def approve(self, request_id: str, *, staff: str, note: str = "") -> RequestState:
        """A staff approval: the first of two for a four-eyes request; completes at once when no cooling-off
        applies."""
        return self._contract_retry(lambda: self._approve_once(request_id, staff=staff, note=note))

    def complete(self, request_id: str) -> RequestState:
        """Complete an approved request whose cooling-off is over (``Refused`` COOLING-OFF before)."""
        return self._contract_retry(lambda: self._complete_once(request_id))

    # -- the catalog -----------------------------------------------------------------------------------------

    def catalog_version(self) -> dict[str, Any]:
        """``{"id", "version", "digest"}`` of the catalog: what a request cites as the rules it was decided by."""
        return {"id": self.catalog.id, "version": self.catalog.version, "digest": self.catalog.digest}

    def operations(self) -> list[dict[str, Any]]:
        """Every operation's public description, in the catalog's order (a fresh copy the caller may change)."""
        return [copy.deepcopy(entry) for entry in self._public.values()]

    def operation(self, code: str) -> dict[str, Any]:
        """The public description of operation ``code``; raises ``NotFound`` naming the code."""
        self.catalog.get(code)  # raises NotFound naming the code and the catalog
        return copy.deepcopy(self._public[code])

    # -- requests --------------------------------------------------------------------------------------------

    def _submit_once(self, policy_no: str, code: str, raw: Mapping[str, Any], *, role: str, party: str,
               on_behalf_of: str | None = None, uploads: Mapping[str, str] | None = None) -> RequestState:
        """Record a request for operation ``code`` on policy ``policy_no`` by the caller (``role``: customer or
        servicing staff acting ``on_behalf_of`` a party of the policy).

        Raises ``NotFound`` for an unknown policy or operation (and for a policy the customer is no party to),
        ``ValidationFailed`` naming the input field, and ``Refused`` naming the rule (who may ask, eligibility,
        the family's own rules). An automatic operation with nothing to wait for completes in the same group.
        """
        operation = self.catalog.get(code)
        family = FAMILIES[operation.family]
        application_id = self._policies.application_of(policy_no)
        # The contract as the requester's roles were read from it: the request is decided on it, and recorded only
        # if the contract is still there (its stream position is expected; ``_contract_retry`` starts over if not).
        (policy, seq), (requester, actor, on_behalf) = self._requester(
            application_id, operation, role=role, party=party, on_behalf_of=on_behalf_of)
        data = _parse(family, operation, raw)
        underwriting = None
        if operation.underwriting and "answers" in type(data).model_fields:
            # a new health declaration: complete on the questionnaire, checked now, not at approval; cover added
            # (a rider) is underwritten on it at once, and the clerk sees the outcome
            raw_input = data.model_dump()
            on_sale = {product.id: product for product in self._policies.catalog.current()}
            rider = on_sale.get(str(raw_input.get("rider", "")))
            if rider is not None and rider.definition.rider:
                underwriting = self._policies.underwrite_declaration(
                    application_id, raw_input["answers"], product_id=rider.id,
                    sum_insured=Money.of(str(raw_input["plan"]["sum_insured"]), rider.currency),
                    field="input.answers")
            else:
                self._policies.check_declaration(application_id, raw_input.get("answers", {}),
                                                 field="input.answers")
        given = dict(uploads or {})
        self._check_uploads(given, owners={requester["party"], party})
        persons = family.persons(data)
        registrations, parties, index = self._resolve(persons, actor=actor.to_json())
        now = self._clock.now()
        today = self._calendar.date_of(now)
        ctx = replace(self._context(policy, operation, now=now, request_date=today, parties=parties,
                                    requester=requester["party"]), underwriting=underwriting)
        request_id = new_id("S")
        exposure = self._exposure(application_id) if operation.high_risk else None  # read before the open amounts
        earlier = self._earlier(application_id, operation)
        completion = self._completion(ctx, family, data, seq) if operation.automatic else None
        hours = self.catalog.cooling_off_hours(operation)
        command = d.Submit(
            request_id=request_id, ctx=ctx, family=family, data=data, actor=actor, requester=requester,
            on_behalf=on_behalf, uploads=given, correlation=self.correlation,
            history=_history(earlier), open_requests=[row for row in earlier if row["status"] in st.OPEN],
            registrations=tuple(registrations),
            four_eyes_threshold=str(self.catalog.defaults.four_eyes_amount.amount), cooling_off_hours=hours,
            expected_by=self._expected_by(operation, today, hours), completion=completion, exposure=exposure)
        expected = {event.stream: 0 for event in registrations if event.stream is not None}
        if completion is not None:
            expected[completion.contract_stream] = seq
        state = self._run(request_id, command, expected=expected, fresh=True, index=index)
        if state.status == st.AWAITING_CONFIRMATION:
            try:
                state = self._send_code(state, actor)
            except Exception:  # the request is recorded: a retry must not make another; the customer asks /code
                log.exception("sending the one-time code of servicing request %s failed; the customer can ask "
                              "for a new one", request_id)
                with contextlib.suppress(Exception):  # the request is recorded whatever this read does
                    state = self.get(request_id)  # the sending may be recorded, its code not stored
        return state

    def resend_code(self, request_id: str, *, role: str, party: str) -> RequestState:
        """A new one-time code for a request awaiting its second confirmation (the old code stops working)."""
        state = self.get(request_id)
        self._check_requester(state, role=role, party=party)
        if state.status != st.AWAITING_CONFIRMATION:
            raise Refused(f"REQUEST-STATUS: request {request_id} is {state.status}, not awaiting a confirmation",
                          rule="REQUEST-STATUS", zh="该申请无需验证")
        return self._send_code(state, Actor(role, party))  # the rules refuse one over the limit before any is drawn

    def confirm(self, request_id: str, code: str, *, role: str, party: str) -> RequestState:
        """The customer's second confirmation with the one-time code (``Refused`` naming OTP-* on a wrong,
        expired or exhausted code)."""
        state = self.get(request_id)
        self._check_requester(state, role=role, party=party)
        if state.status != st.AWAITING_CONFIRMATION:
            raise Refused(f"REQUEST-STATUS: request {request_id} is {state.status}, not awaiting a confirmation",
                          rule="REQUEST-STATUS", zh="该申请无需验证")
        try:
            self._codes.check(request_id, code)
        except Refused as refused:
            # a code used already while the request still awaits it: the confirmation was not recorded then
            # (the journal write failed after the code was spent), so it is recorded now
            if refused.rule != "OTP-CONFIRMED":
                raise
        return self._run(request_id, d.Confirm(channel=state.code_sent.get("channel", "sms"),
                                               actor=Actor(role, party)))

    def _provide_documents_once(self, request_id: str, uploads: Mapping[str, str], *, role: str,
                          party: str) -> RequestState:
        """Documents the request awaits (code -> upload digest); an automatic operation completes with them."""
        state = self.get(request_id)
        self._check_requester(state, role=role, party=party)
        if not uploads:
            raise ValidationFailed("give at least one document (code -> upload digest)", field="documents")
        self._check_uploads(uploads, owners={state.submitted["requester"]["party"], party})
        completion = None
        remaining = [c for c in state.documents_missing if c not in uploads]
        if not remaining and state.submitted["automatic"] and not state.flagged:
            completion = self._completion_for(state)
        return self._run(request_id, d.ProvideDocuments(uploads=dict(uploads), actor=Actor(role, party),
                                                        completion=completion),
                         expected=self._expected(completion))

    def request_documents(self, request_id: str, documents: list[str], *, reason: str, staff: str) -> RequestState:
        if not documents:
            raise ValidationFailed("name at least one document", field="documents")
        return self._run(request_id, d.RequestDocuments(tuple(documents), reason, Actor("servicing", staff)))

    def _approve_once(self, request_id: str, *, staff: str, note: str = "") -> RequestState:
        """A staff approval: the first of two for a four-eyes request; completes at once when no cooling-off
        applies."""
        state = self.get(request_id)
        hours = state.submitted.get("cooling_off_hours") or 0
        completion = None
        four_eyes = bool(state.submitted["four_eyes"])
        d.check_approver(state, staff, four_eyes=four_eyes)  # before anything is asked of the policy
        self._check_still_entitled(state)
        final = not (four_eyes and not state.approvals)
        reinstatement = self.catalog.get(state.operation).money.formula == "reinstatement_amount"
        if final and reinstatement and state.status == st.UNDER_REVIEW:
            declined = self._underwrite_reinstatement(state, staff=staff)
            if declined is not None:
                return declined
        if not hours and final:
            policy, _ = self._policies.position(state.application_id)
            awaiting_payment = (reinstatement and policy.status == SUSPENDED) or \
                (state.operation in st.PAID_IN and not state.payment)
            completion = None if awaiting_payment else self._completion_for(state)
        return self._run(request_id, d.Approve(actor=Actor("servicing", staff), note=note,
                                               four_eyes=bool(state.submitted["four_eyes"]),
                                               cooling_off=timedelta(hours=hours), completion=completion),
                         expected=self._expected(completion))

    def _underwrite_reinstatement(self, state: RequestState, *, staff: str) -> RequestState | None:
        """At approval, the policy's own reinstatement underwrites the request's declaration and quotes what is
        due (only then can a payment reinstate the policy); a declined declaration rejects the request."""
        policy, _ = self._policies.position(state.application_id)
        today = self._calendar.date_of(self._clock.now())
        if policy.status != SUSPENDED or (policy.reinstatement and _quote_valid_until(policy.reinstatement) >= today):
            return None  # reinstated already, or a quote that still stands: nothing to underwrite again
        answers = self._opened_input(state).get("answers", {})
        after = self._policies.request_reinstatement(state.application_id, answers,
                                                     actor=Actor("servicing", staff))
        if after.reinstatement:
            return None
        return self._run(state.request_id, d.Reject(
            actor=Actor("system", "underwriting"), rule="REINSTATEMENT-DECLINED",
            reason="the new health declaration was not accepted; the policy's reinstatement request names the "
                   "underwriting reasons", reason_zh="新的健康告知未通过核保，无法复效"))

    def receive_payment(self, request_id: str, *, amount: Money, payment_ref: str, paid_at: str,
                        system: str) -> RequestState:
        """The payments system confirms what the customer paid for the request (a loan repayment); an approved
        request then completes (``Refused`` PAYMENT-AMOUNT for another amount, NO-PAYMENT-DUE, ALREADY-PAID)."""
        current = self.get(request_id)
        if current.payment and current.payment.get("payment_ref") == payment_ref \
                and dict(current.payment["amount"]) == amount.rounded().to_json():
            return current  # the payments system retrying the same payment: it is recorded once
        self._check_still_entitled(current)
        state = self._run(request_id, d.ReceivePayment(amount=amount.rounded().to_json(), payment_ref=payment_ref,
                                                       paid_at=paid_at, actor=Actor("system", system)))
        if state.status == st.APPROVED and (state.effective_at is None or state.effective_at <= self._clock.now()):
            try:  # the payment is recorded; completing it is the clock's to retry if it fails now
                return self.complete(request_id)
            except Exception:
                log.exception("completing paid servicing request %s failed; the clock tries again", request_id)
                return self.get(request_id)
        return state

    def reject(self, request_id: str, *, staff: str, reason: str) -> RequestState:
        if not reason.strip():
            raise ValidationFailed("a rejection names its reason", field="reason")
        return self._run(request_id, d.Reject(actor=Actor("servicing", staff), reason=reason))

    def withdraw(self, request_id: str, *, role: str, party: str, reason: str = "") -> RequestState:
        state = self.get(request_id)
        self._check_requester(state, role=role, party=party)
        return self._run(request_id, d.Withdraw(actor=Actor(role, party), reason=reason or "withdrawn"))

    def _complete_once(self, request_id: str) -> RequestState:
        """Complete an approved request whose cooling-off is over (``Refused`` COOLING-OFF before)."""
        state = self.get(request_id)
        try:
            completion = self._completion_for(state)
        except Refused as refused:
            if state.status != st.APPROVED or refused.rule == "REINSTATEMENT-UNPAID":
                raise
            # the rules no longer allow it (the policy ended meanwhile): the request ends, naming the rule
            return self._run(request_id, d.Reject(actor=Actor("system", "servicing-clock"), rule=refused.rule,
                                                  reason=str(refused), reason_zh=refused.zh))
        try:
            return self._run(request_id, d.Complete(completion), expected=self._expected(completion))
        except Refused as refused:
            if refused.rule in ("COOLING-OFF", "REINSTATEMENT-UNPAID", "PAYMENT-AWAITED", "REQUEST-STATUS"):
                raise  # not yet (or not any more): nothing to end
            # the rules no longer allow it (the policy ended meanwhile): the request ends, naming the rule
            return self._run(request_id, d.Reject(actor=Actor("system", "servicing-clock"), rule=refused.rule,
                                                  reason=str(refused), reason_zh=refused.zh))

    def run_clock(self) -> dict[str, int]:
        """Complete every approved request whose cooling-off has ended; returns counts by outcome."""
        counts: dict[str, int] = {}
        now = self._clock.now()
        for row in self._read.select(proj.REQUESTS, where={"status": st.APPROVED}, limit=10_000):
            effective = row["effective_at"]
            if effective and datetime.fromisoformat(effective.replace("Z", "+00:00")) > now:
                continue
            try:
                waiting = self._waiting_for_money(row, now)
                if waiting is True:
                    continue  # a payment is awaited and may still come: nothing to do this round
                outcome = waiting.status if waiting else self.complete(row["request_id"]).status
            except Refused as refused:
                outcome = refused.rule
            except Exception:  # one request's failure never stops the others; it is tried again next round
                log.exception("completing servicing request %s failed; it is tried again in the next round",
                              row["request_id"])
                outcome = "failed"
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def _waiting_for_money(self, row: Mapping[str, Any], now: datetime) -> RequestState | bool:
        """For an approved request that takes a payment: True while it may still come; the request ended when
        it never came (a repayment unpaid ``PAYMENT_DAYS`` after its approval, a reinstatement whose quote
        expired unpaid: the policy stays suspended); False when there is nothing to wait for (complete it)."""
        approved = datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))
        if row["operation"] in st.PAID_IN:
            state = self.get(row["request_id"])
            if state.payment:
                return False
            if now - (state.approved_at or approved) < timedelta(days=PAYMENT_DAYS):
                return True
            return self._run(row["request_id"], d.Reject(
                actor=Actor("system", "servicing-clock"), rule="PAYMENT-NOT-RECEIVED",
                reason=f"no payment was received within {PAYMENT_DAYS} days of the approval",
                reason_zh=f"批准后 {PAYMENT_DAYS} 天内未收到款项"))
        if self.catalog.get(row["operation"]).money.formula == "reinstatement_amount":
            policy, _ = self._policies.position(row["application_id"])
            quote = policy.reinstatement
            today = self._calendar.date_of(now)
            if policy.status != SUSPENDED:
                return False  # reinstated (complete the request) or ended (the rules reject it)
            if not quote:  # the quote was withdrawn or declined since (another reinstatement request)
                return self._run(row["request_id"], d.Reject(
                    actor=Actor("system", "servicing-clock"), rule="REINSTATEMENT-NO-QUOTE",
                    reason="the policy holds no accepted reinstatement quote any more; ask for reinstatement again",
                    reason_zh="保单已无有效的复效报价，请重新申请复效"))
            if _quote_valid_until(quote) >= today:
                return True
            return self._run(row["request_id"], d.Reject(
                actor=Actor("system", "servicing-clock"), rule="REINSTATEMENT-EXPIRED",
                reason=f"the reinstatement quote was valid until {_quote_valid_until(quote)} and was not paid",
                reason_zh=f"复效报价有效期至 {_quote_valid_until(quote)}，逾期未缴"))
        return False

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestState:
        state, _ = self._workflow.load(self._rules, ev.stream_of(request_id))
        if not state.status:
            raise NotFound(f"no servicing request {request_id}", field="request_id")
        return state

    def visible(self, request_id: str, *, role: str, party: str) -> RequestState:
        """The request if the caller may see it: staff always; a customer who asked for it or holds the policy
        (else the same ``NotFound`` as for an unknown id)."""
        state = self.get(request_id)
        if role == "customer" and party != state.submitted["requester"]["party"] and \
                "policyholder" not in self._policies.roles(state.application_id, party):
            raise NotFound(f"no servicing request {request_id}", field="request_id")
        return state

    def event_ids(self, request_id: str) -> list[str]:
        """The event ids of the request's events, in order (for its receipt)."""
        return [event.event_id for event in self._workflow.history(ev.stream_of(request_id))]

    def for_policy(self, application_id: str) -> list[dict[str, Any]]:
        return self._read.select(proj.REQUESTS, where={"application_id": application_id},
                                 order_by=("submitted_at",), limit=1000)

    def queue(self, *, operation: str | None = None, high_risk: bool | None = None, flagged: bool | None = None,
              older_than_hours: float | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Requests awaiting staff (under review), oldest first, filtered by operation, risk, flag and age."""
        where: dict[str, Any] = {"status": st.UNDER_REVIEW}
        if operation:
            self.catalog.get(operation)
            where["operation"] = operation
        rows = self._read.select(proj.REQUESTS, where=where, order_by=("submitted_at",), limit=10_000)
        cutoff = self._clock.now() - timedelta(hours=older_than_hours) if older_than_hours else None
        out = [row for row in rows
               if (high_risk is None or bool(row["high_risk"]) == high_risk)
               and (flagged is None or bool(row["flagged"]) == flagged)
               and (cutoff is None or datetime.fromisoformat(row["submitted_at"].replace("Z", "+00:00")) <= cutoff)]
        return out[:limit]

    def watch(self, request_id: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after every change recorded on the request (for live progress); returns the function
        that stops watching. It is called on the recording thread or the journal's, so it must be quick (an event
        loop's ``call_soon_threadsafe``); what it raises is ignored. A change another process records is heard of
        through ``committed`` when that process shares this one's journal writer (``serve --workers``), else not:
        a watcher reads the request again from time to time as well."""
        with self._watch_lock:
            self._watchers.setdefault(request_id, []).append(callback)

        def stop() -> None:
            with self._watch_lock:
                found = self._watchers.get(request_id, [])
                if callback in found:
                    found.remove(callback)
                if not found:
                    self._watchers.pop(request_id, None)

        return stop

    def committed(self, streams: set[str]) -> None:
        """Wake the watchers of the requests whose streams a committed batch moved (``Journal.listen``: under
        ``serve --workers`` that includes the changes another worker records)."""
        prefix = ev.stream_of("")
        with self._watch_lock:
            if not self._watchers:
                return
            woken = [callback for stream in streams if stream.startswith(prefix)
                     for callback in self._watchers.get(stream[len(prefix):], ())]
        for callback in woken:
            with contextlib.suppress(Exception):  # a watcher that went away must not hold up the others
                callback()

    # -- internals -------------------------------------------------------------------------------------------

    def _run(self, request_id: str, command: object, *, expected: Mapping[str, int] | None = None,
             fresh: bool = False, index: Sequence[tuple[bytes, str]] = ()) -> RequestState:
        outcome = self._workflow.run(self._rules, ev.stream_of(request_id), command, expected=expected, fresh=fresh,
                                     index=index)
        with self._watch_lock:
            watchers = list(self._watchers.get(request_id, ()))
        for callback in watchers:
            with contextlib.suppress(Exception):  # a watcher that went away must not fail the change
                callback()
        return outcome.state

    def _send_code(self, state: RequestState, actor: Actor) -> RequestState:
        """Record the sending, then draw the code: the journal takes concurrent sends one at a time and refuses
        those over the limit (``OTP-RESEND-LIMIT``) before any of them replaces the code a customer holds. A code
        that cannot be stored is recorded as not sent (it does not count), as far as the journal can be written."""
        operation = self.catalog.get(state.operation)
        now = self._clock.now()
        terms = self._codes.terms(now)
        state = self._run(state.request_id, d.SendCode(channel=terms["channel"], expires_at=terms["expires_at"],
                                                       tries=terms["tries"], actor=actor))
        try:
            self._codes.issue(state.request_id, party=state.submitted["requester"]["party"],
                              channel=terms["channel"], purpose_zh=operation.names.zh,
                              purpose_en=operation.names.en, now=now)
        except Exception:
            try:
                self._run(state.request_id, d.CodeUnsent(sent=state.timeline[-1].index,
                                                         reason="the code could not be stored",
                                                         actor=Actor("system", "servicing-codes")))
            except Refused:
                pass  # confirmed or withdrawn meanwhile: no code is wanted any more
            except Exception:  # the journal fails too: the sending stays counted; the customer may withdraw
                log.exception("recording that the code of servicing request %s was not sent failed",
                              state.request_id)
            raise
        return state

    def _requester(self, application_id: str, operation: Operation, *, role: str, party: str,
                   on_behalf_of: str | None
                   ) -> tuple[tuple[PolicyState, int], tuple[dict[str, Any], Actor, bool]]:
        """The policy and its stream position, and who asks: the requester (role, party, roles held), the actor,
        and whether staff act on a customer's behalf."""
        if role == "customer":
            if on_behalf_of not in (None, party):
                raise Forbidden("a customer asks for themselves only", field="on_behalf_of")
            subject, on_behalf = party, False
        elif role == "servicing":
            if "staff_on_behalf" not in operation.requesters:
                raise Refused(f"STAFF-ON-BEHALF: staff may not request {operation.code} for a customer",
                              rule="STAFF-ON-BEHALF", zh=f"工作人员不能代客户申请{operation.names.zh}")
            if not on_behalf_of:
                raise ValidationFailed("staff name the customer they act for", field="on_behalf_of")
            subject, on_behalf = on_behalf_of, True
        else:
            raise Forbidden(f"role {role!r} may not request servicing", field="role")
        policy, seq = self._policies.position(application_id)
        held = roles_on(policy, subject)
        if not held:  # to a customer, the same answer as a number that does not exist
            raise NotFound(f"{subject} holds no role on policy {policy.policy_no}" if on_behalf
                           else f"no policy {policy.policy_no}", field="policy_no")
        allowed = [r for r in REQUESTER_ROLES if r in held and r in operation.requesters]
        if not allowed:
            who = ", ".join(r for r in operation.requesters if r != "staff_on_behalf")
            raise Refused(f"REQUESTER-ROLE: only the {who} may request {operation.code}; you are the "
                          f"{', '.join(sorted(held))}", rule="REQUESTER-ROLE",
                          zh=f"{operation.names.zh}只能由{_roles_zh(operation)}申请")
        return (policy, seq), ({"role": allowed[0], "party": subject, "roles": sorted(held)}, Actor(role, party),
                               on_behalf)

    def _check_requester(self, state: RequestState, *, role: str, party: str) -> None:
        if role == "customer" and party != state.submitted["requester"]["party"]:
            raise NotFound(f"no servicing request {state.request_id}", field="request_id")

    def _check_uploads(self, uploads: Mapping[str, str], *, owners: set[str]) -> None:
        for code, digest in uploads.items():
            if not self._uploads.owned_by(digest, owners):
                raise ValidationFailed(f"documents.{code}: no upload {digest} of yours", field=f"documents.{code}")

    def _resolve(self, persons: Mapping[str, Any], *, actor: Mapping[str, str]
                 ) -> tuple[list[NewEvent], dict[str, str], list[tuple[bytes, str]]]:
        """The registrations of the new people a request names, the party of each, and their index rows."""
        if not persons:
            return [], {}, []
        today = self._calendar.date_of(self._clock.now())
        parsed = {key: self._parties.parse_person(person.model_dump(exclude={"id_type"}, exclude_none=True),
                                                  field=f"input.{key}", today=today)
                  for key, person in persons.items()}
        resolved = self._parties.resolve(list(parsed.values()), actor=actor)
        registrations = [r.registration for r in resolved if r.registration is not None]
        return (registrations, {key: r.party_id for key, r in zip(parsed, resolved, strict=True)},
                [r.index for r in resolved if r.index is not None])

    def _context(self, policy: PolicyState, operation: Operation, *, now: datetime, request_date: date,
                 parties: Mapping[str, str], requester: str) -> Context:
        product = self._policies.catalog.get(policy.product["id"], policy.product["version"])
        cash_value = self._policies.cash_value_of(policy) if policy.effective_date is not None else None
        return Context(policy=policy, product=product, operation=operation, catalog=self.catalog_version(),
                       today=self._calendar.date_of(now), now=now, cash_value=cash_value,
                       products={p.id: p for p in self._policies.catalog.current()}, parties=dict(parties),
                       requester=requester, request_date=request_date, open_claims=self._open_claims(policy))

    def _open_claims(self, policy: PolicyState) -> tuple[str, ...]:
        """The policy's claims not yet closed (paid, declined or closed), from the claims read model."""
        rows = self._read.select(claims_projection.CLAIMS, where={"application_id": policy.application_id},
                                 limit=HISTORY_LIMIT)
        return tuple(row["claim_id"] for row in rows if row["status"] in claims_state.OPEN)

    def _completion(self, ctx: Context, family: Family, data: Input, seq: int) -> d.Completion:
        """The contract change of a request, prepared on the policy as it is now, with the next e-policy version
        (or the revocation of the current one when the contract ends)."""
        prepared = d.prepare(ctx, family, data)
        operation = ctx.operation
        base = d.Completion(ctx=ctx, prepared=prepared, policy_seq=seq,
                            contract_type=self._policies.serviced_type,
                            contract_stream=self._policies.contract_stream(ctx.policy.application_id))
        if operation.ends_contract:
            cancelled = prepared.changes.get("status") == "Cancelled"
            return replace(base, supersession=self._policies.revocation(ctx.policy, ended=not cancelled))
        if not (operation.changes_contract or prepared.facts.get("new_version")):
            return base
        after = with_changes(ctx.policy, prepared.changes)
        document, view, supersession = self._policies.next_version(after, today=ctx.today,
                                                                   printed=prepared.printed)
        return replace(base, document=document, epolicy=view, supersession=supersession)

    def _completion_for(self, state: RequestState) -> d.Completion:
        """Re-prepare a recorded request on the policy as it is now (amounts on the day it was made)."""
        operation = self.catalog.get(state.operation)
        family = FAMILIES[operation.family]
        submitted = self._submitted(state)
        data = _parse(family, operation, self._opened_input(state))
        policy, seq = self._policies.position(state.application_id)
        _check_entitled(state, operation, policy)
        if operation.money.formula == "reinstatement_amount" and policy.status != SUSPENDED:
            # the policy's own reinstatement restored the contract: the request completes with the amount it
            # quoted (the catalog's rules were tried on the suspended policy when it was made)
            return self._reinstated(state, operation, policy, seq)
        now = self._clock.now()
        ctx = self._context(policy, operation, now=now, request_date=self._calendar.date_of(submitted.recorded_at),
                            parties=state.submitted.get("parties", {}), requester=state.submitted["requester"]["party"])
        return self._completion(ctx, family, data, seq)

    def _check_still_entitled(self, state: RequestState) -> None:
        policy, _ = self._policies.position(state.application_id)
        _check_entitled(state, self.catalog.get(state.operation), policy)

    def _submitted(self, state: RequestState) -> Event:
        return next(e for e in self._workflow.history(ev.stream_of(state.request_id)) if e.type == ev.SUBMITTED)

    def _opened_input(self, state: RequestState) -> dict[str, Any]:
        """The request's input as the requester gave it (sealed under them); ``Refused`` once they are erased."""
        try:
            opened = self._personal(self._submitted(state).index)
        except ErasedError:
            opened = None
        if opened is None:
            raise Refused("REQUESTER-ERASED: the request's details were erased with the requester's data",
                          rule="REQUESTER-ERASED", zh="申请人的信息已被删除，申请无法办理")
        return dict(opened.payload["details"]["input"])

    def _reinstated(self, state: RequestState, operation: Operation, policy: PolicyState,
                    seq: int) -> d.Completion:
        now = self._clock.now()
        ctx = self._context(policy, operation, now=now, request_date=self._calendar.date_of(now), parties={},
                            requester=state.submitted["requester"]["party"])
        paid = self._policies.reinstatement_payment(policy.application_id)
        quote = state.submitted["quote"]
        # the amount the policy's own reinstatement quoted (underwritten at the approval, up to that day) is what
        # the payment had to match; the request's quote at submission is kept beside it
        amount = quote if paid is None else {**quote, "value": paid["amount"], "inputs": {
            "quoted": paid.get("quoted", quote["value"]), "payment": paid, "requested": quote["value"]}}
        prepared = Prepared(facts=state.submitted["input"], amount=amount)
        return d.Completion(ctx=ctx, prepared=prepared, policy_seq=seq, contract_type=self._policies.serviced_type,
                            contract_stream=self._policies.contract_stream(policy.application_id))

    def _exposure(self, application_id: str) -> int:
        """How many high-risk requests with an amount the policy has had submitted (the projection's count)."""
        rows = self._read.select(proj.EXPOSURE, where={"application_id": application_id}, limit=1)
        return int(rows[0]["submitted"]) if rows else 0

    def _earlier(self, application_id: str, operation: Operation) -> list[dict[str, Any]]:
        """What a new request's rules need of the policy's earlier requests. A high-risk operation, or one a
        correlation rule watches, reads the policy's newest requests (history, and open amounts for four eyes);
        any other reads only its own operation's latest request, which is enough for the one-open-request rule
        (that rule keeps at most one open)."""
        if operation.high_risk or operation.code in self._watched:
            return self._read.select(proj.REQUESTS, where={"application_id": application_id},
                                     order_by=("-submitted_at",), limit=HISTORY_LIMIT)
        return self._read.select(proj.REQUESTS, where={"application_id": application_id,
                                                      "operation": operation.code},
                                 order_by=("-submitted_at",), limit=1)

    def _expected(self, completion: d.Completion | None) -> dict[str, int] | None:
        if completion is None:
            return None
        return {completion.contract_stream: completion.policy_seq}

    def _expected_by(self, operation: Operation, today: date, hours: int | None) -> str:
        if operation.automatic:
            return today.isoformat()
        done = self._calendar.add_working_days(today, self.catalog.defaults.review_working_days)
        if hours:
            done = done + timedelta(days=math.ceil(hours / 24))
        return done.isoformat()


def _parse(family: Family, operation: Operation, raw: Mapping[str, Any]) -> Input:
    """The operation's typed input; ``ValidationFailed`` names the first wrong field (``input.<path>``)."""
    model = family.inputs.get(operation.code)
    if model is None:
        raise NotFound(f"operation {operation.code} has no input schema in family {family.name}", field="operation")
    if not isinstance(raw, Mapping):
        raise ValidationFailed("input must be an object", field="input")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(part) for part in error["loc"])
        raise ValidationFailed(f"input.{path}: {error['msg']}", field=f"input.{path}") from None




def _quote_valid_until(quote: Mapping[str, Any]) -> date:
    """The last day a reinstatement quote can be paid (older quotes name only the day they were made)."""
    return date.fromisoformat(str(quote.get("valid_until") or quote["on"]))


def _check_entitled(state: RequestState, operation: Operation, policy: PolicyState) -> None:
    """``Refused`` REQUESTER-ROLE when the requester no longer holds a role that may ask for the operation (the
    contract changed hands since the request was made)."""
    requester = state.submitted["requester"]["party"]
    if not {r for r in roles_on(policy, requester) if r in operation.requesters}:
        raise Refused(f"REQUESTER-ROLE: {requester} no longer holds a role that may request {operation.code} on "
                      "this policy", rule="REQUESTER-ROLE", zh=f"申请人已不再有权申请{operation.names.zh}")


def roles_on(policy: PolicyState, party: str) -> set[str]:
    """The roles ``party`` holds on the contract as it stands (what the policy-parties read model also says)."""
    held = set()
    if policy.policyholder == party:
        held.add("policyholder")
    if policy.insured == party:
        held.add("insured")
    if any(b.get("party") == party for b in policy.beneficiaries):
        held.add("beneficiary")
    return held


def _history(rows: list[dict[str, Any]]) -> list[Past]:
    """The policy's earlier requests for the correlation rules: every one not rejected or withdrawn, pending ones
    too (a burst of requests inside a cooling-off is what the rules look for), timed at submission."""
    return [Past(request_id=row["request_id"], operation=row["operation"],
                 at=datetime.fromisoformat(row["submitted_at"].replace("Z", "+00:00")))
            for row in rows if row["status"] not in (st.REJECTED, st.WITHDRAWN)]


def _roles_zh(operation: Operation) -> str:
    names = {"policyholder": "投保人", "insured": "被保险人", "beneficiary": "受益人"}
    return "、".join(names[r] for r in operation.requesters if r in names)
