"""The servicing hall: the public catalog, requests on a policy, live progress (SSE), receipts, and the staff
queue with approve / reject / request documents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.bodies import json_body, request_body
from api.deps import AnchoringDep, IdempotencyDep, LogDep, MessagingPrincipal, PoliciesDep, listed_system, require
from api.idempotent import idempotent
from api.problems import responses
from api.receipts import anchor_proof, entry_receipts
from api.routing import Router
from ledger.errors import NotFound, ValidationFailed
from ledger.log.identifiers import parse_timestamp
from ledger.money import Money
from ledger.servicing.service import ServicingService, request_view

router = Router(tags=["servicing"])
hall = Router(tags=["servicing"], responses=responses(401, 403, 404, 409, 422))

REQUEST_ID = r"^S[0-9A-F]{20}$"


async def get_servicing(request: Request) -> ServicingService:
    return request.app.state.ledger.servicing  # type: ignore[no-any-return]


ServicingDep = Annotated[ServicingService, Depends(get_servicing)]
Requester = Annotated[Principal, Depends(require(Role.CUSTOMER, Role.SERVICING))]
Customer = Annotated[Principal, Depends(require(Role.CUSTOMER))]  # the second confirmation is the customer's own
Reader = Annotated[Principal, Depends(require(Role.CUSTOMER, Role.SERVICING))]  # auditors: /v1/audit/policies/…
Clerk = Annotated[Principal, Depends(require(Role.SERVICING))]


class ServicingCreate(BaseModel):
    """A servicing request: the operation, its input (the operation's ``input_schema`` in the catalog), and the
    documents given with it (document code -> upload digest). Staff name the customer they act for."""

    model_config = ConfigDict(extra="forbid")
    operation: str = Field(min_length=1, max_length=64)
    input: dict[str, Any] = Field(default_factory=dict)
    documents: dict[str, str] = Field(default_factory=dict, max_length=20)
    on_behalf_of: str | None = Field(default=None, max_length=64, description="staff only: the customer's party")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=12)


class DocumentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: dict[str, str] = Field(min_length=1, max_length=20)


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=200)


class DecisionIn(BaseModel):
    """A clerk's action on a request under review."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(pattern=r"^(approve|reject|request_documents)$")
    reason: str = Field(default="", max_length=500)
    documents: list[str] = Field(default_factory=list, max_length=20)


@router.get("/v1/servicing/operations")
def list_operations(servicing: ServicingDep) -> dict[str, Any]:
    """The servicing catalog (no token needed): its id, version and digest, and every operation with who may ask
    for it, consents, documents, eligibility rules, whether it changes the contract, its money, its risk and the
    JSON Schema of its input."""
    return {"catalog": servicing.catalog_version(), "operations": servicing.operations()}


@router.get("/v1/servicing/operations/{code}", responses=responses(404))
async def get_operation(servicing: ServicingDep, code: str) -> dict[str, Any]:
    """One operation of the catalog (no token needed), with the catalog's id, version and digest; a 404 problem
    names an unknown code."""
    return {"catalog": servicing.catalog_version(), "operation": servicing.operation(code)}


@hall.post("/v1/policies/{policy_no}/servicing", status_code=201, openapi_extra=request_body(ServicingCreate))
def submit(request: Request, servicing: ServicingDep, idem: IdempotencyDep, principal: Requester, policy_no: str,
           body: Annotated[ServicingCreate, Depends(json_body(ServicingCreate))]) -> Response:
    """Ask for a servicing operation on a policy. The answer is the request with its state: completed at once for
    operations the rules approve automatically; a high-risk one awaits the one-time code sent to the customer's
    phone (``POST /v1/servicing/{id}/confirm``). Retrying with the same ``Idempotency-Key`` returns the first
    answer and never records a second request."""
    def run() -> dict[str, Any]:
        state = servicing.submit(policy_no, body.operation, body.input, role=principal.role.value,
                                 party=principal.subject, on_behalf_of=body.on_behalf_of, uploads=body.documents)
        return request_view(state)

    return idempotent(request, idem, principal, run, body=body, status=201)


@hall.get("/v1/policies/{policy_no}/servicing")
def list_for_policy(servicing: ServicingDep, policies: PoliciesDep, principal: Reader,
                    policy_no: str) -> list[dict[str, Any]]:
    """The servicing requests of a policy: all of them for its policyholder and staff, a customer's own for
    anyone else on it."""
    application_id = policies.application_of(policy_no)
    rows = servicing.for_policy(application_id)
    if principal.role == Role.CUSTOMER:
        held = policies.roles(application_id, principal.subject)
        if not held:
            raise NotFound(f"no policy {policy_no}", field="policy_no")
        if "policyholder" not in held:
            rows = [row for row in rows if row["requester"] == principal.subject]
    return rows


@hall.get("/v1/servicing/queue")
def queue(servicing: ServicingDep, _: Clerk, operation: str | None = None, high_risk: bool | None = None,
          flagged: bool | None = None, older_than_hours: float | None = None,
          limit: int = 100) -> list[dict[str, Any]]:
    """Requests awaiting a servicing clerk, oldest first: by operation, high-risk, flagged by the correlation
    rules, and age."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit")
    if older_than_hours is not None and not 0 <= older_than_hours <= 24 * 366:
        raise ValidationFailed("older_than_hours must be 0-8784", field="older_than_hours")
    return servicing.queue(operation=operation, high_risk=high_risk, flagged=flagged,
                           older_than_hours=older_than_hours, limit=limit)


@hall.get("/v1/servicing/{request_id}")
def get_request(servicing: ServicingDep, principal: Reader, request_id: str) -> dict[str, Any]:
    """A request's progress: state, timeline of steps with times, what is awaited from whom, expected completion,
    the amount with its inputs and versions, flags."""
    return request_view(servicing.visible(request_id, role=principal.role.value, party=principal.subject))


@hall.get("/v1/servicing/{request_id}/events", response_class=StreamingResponse,
          responses={200: {"content": {"text/event-stream": {}}}})
async def stream_progress(request: Request, servicing: ServicingDep, principal: Reader,
                          request_id: str) -> StreamingResponse:
    """Live progress as Server-Sent Events: one ``progress`` event with the request's view now and after every
    change, a comment every 15 s to keep the connection open; the stream ends once the request is closed."""
    servicing.visible(request_id, role=principal.role.value, party=principal.subject)  # 404 before the stream

    async def events() -> AsyncIterator[bytes]:
        # A change recorded by this process, or committed by the journal writer it shares with other workers, sets
        # ``changed`` at once; a host that shares only the database is caught by reading the request again every
        # half second. Waiting happens on the event loop, never in a worker thread (a few streams blocking the
        # default executor's threads held up every other stream's reads). The watch starts before the request is
        # read, so no change falls between the two, and here, so it ends with the stream whatever ends it.
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(changed.set)

        unwatch = servicing.watch(request_id, wake)
        seen_seq = -1
        quiet = 0.0
        try:
            current = await asyncio.to_thread(servicing.get, request_id)
            while True:
                if current.last_seq != seen_seq:
                    seen_seq = current.last_seq
                    quiet = 0.0
                    payload = json.dumps(request_view(current), ensure_ascii=False, separators=(",", ":"))
                    yield f"id: {seen_seq}\nevent: progress\ndata: {payload}\n\n".encode()
                    if current.status in ("completed", "rejected", "withdrawn"):
                        return
                if await request.is_disconnected():
                    return
                try:
                    await asyncio.wait_for(changed.wait(), timeout=0.5)
                except TimeoutError:
                    quiet += 0.5
                changed.clear()
                if quiet >= 15:
                    quiet = 0.0
                    yield b": keep-alive\n\n"
                current = await asyncio.to_thread(servicing.get, request_id)
        finally:
            unwatch()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@hall.get("/v1/servicing/{request_id}/receipt")
def receipt(servicing: ServicingDep, log: LogDep, anchoring: AnchoringDep, principal: Reader,
            request_id: str) -> dict[str, Any]:
    """The customer's receipt: every event of the request with its leaf, the signed checkpoint and inclusion
    proof once a checkpoint covers it (``status: pending`` until then), and, once a confirmed on-chain anchor
    covers the request's latest event, the anchor proof (as ``/v1/log/anchors/proof``; ``pending`` before).
    ``scripts/check_log.py --receipt`` checks the receipts with RFC 9162 and C2SP alone."""
    state = servicing.visible(request_id, role=principal.role.value, party=principal.subject)
    receipts = entry_receipts(log, servicing.event_ids(request_id))
    anchor = anchor_proof(anchoring, receipts[-1]["entry"]["index"])
    return {"format": "lifeledger-servicing-receipt/1", "request_id": request_id, "operation": state.operation,
            "status": state.status, "origin": log.origin, "vkey": log.vkey, "receipts": receipts, "anchor": anchor}


@hall.post("/v1/servicing/{request_id}/confirm", openapi_extra=request_body(ConfirmIn))
def confirm(request: Request, servicing: ServicingDep, idem: IdempotencyDep, principal: Customer,
            request_id: str, body: Annotated[ConfirmIn, Depends(json_body(ConfirmIn))]) -> Response:
    """The second confirmation of a high-risk request with the one-time code (bounded tries, expiry)."""
    return idempotent(request, idem, principal, body=body, run=lambda: request_view(servicing.confirm(
        request_id, body.code, role=principal.role.value, party=principal.subject)))


@hall.post("/v1/servicing/{request_id}/code")
def resend_code(request: Request, servicing: ServicingDep, idem: IdempotencyDep, principal: Customer,
                request_id: str) -> Response:
    """Send a new one-time code (the previous one stops working)."""
    return idempotent(request, idem, principal, run=lambda: request_view(servicing.resend_code(
        request_id, role=principal.role.value, party=principal.subject)))


@hall.post("/v1/servicing/{request_id}/documents", openapi_extra=request_body(DocumentsIn))
def provide_documents(request: Request, servicing: ServicingDep, idem: IdempotencyDep, principal: Requester,
                      request_id: str, body: Annotated[DocumentsIn, Depends(json_body(DocumentsIn))]) -> Response:
    """Documents the request awaits (code -> upload digest)."""
    return idempotent(request, idem, principal, body=body, run=lambda: request_view(servicing.provide_documents(
        request_id, body.documents, role=principal.role.value, party=principal.subject)))


@hall.post("/v1/servicing/{request_id}/withdraw", openapi_extra=request_body(WithdrawIn))
def withdraw(request: Request, servicing: ServicingDep, idem: IdempotencyDep, principal: Customer,
             request_id: str, body: Annotated[WithdrawIn, Depends(json_body(WithdrawIn))]) -> Response:
    """Withdraw a request before it is approved."""
    return idempotent(request, idem, principal, body=body, run=lambda: request_view(servicing.withdraw(
        request_id, role=principal.role.value, party=principal.subject, reason=body.reason)))


@hall.post("/v1/servicing/{request_id}/decision", openapi_extra=request_body(DecisionIn))
def decide(request: Request, servicing: ServicingDep, idem: IdempotencyDep, principal: Clerk, request_id: str,
           body: Annotated[DecisionIn, Depends(json_body(DecisionIn))]) -> Response:
    """A clerk approves (a four-eyes request needs a second, different clerk), rejects (with a reason) or asks
    for documents."""
    def run() -> dict[str, Any]:
        if body.action == "approve":
            return request_view(servicing.approve(request_id, staff=principal.subject, note=body.reason))
        if body.action == "reject":
            return request_view(servicing.reject(request_id, staff=principal.subject, reason=body.reason))
        return request_view(servicing.request_documents(request_id, body.documents, reason=body.reason,
                                                        staff=principal.subject))

    return idempotent(request, idem, principal, run, body=body)


class RequestPaymentIn(BaseModel):
    """What the payments system received from the customer for a request (a loan repayment)."""

    model_config = ConfigDict(extra="forbid")
    amount: str = Field(description="decimal string, e.g. \"1234.50\"")
    currency: str = "CNY"
    payment_ref: str = Field(min_length=1, max_length=64)
    paid_at: str = Field(min_length=20, max_length=32, description="RFC 3339 UTC time, e.g. 2026-12-01T08:00:00Z")


@hall.post("/v1/servicing/{request_id}/payments", openapi_extra=request_body(RequestPaymentIn))
def receive_payment(request: Request, servicing: ServicingDep, idem: IdempotencyDep,
                    principal: Annotated[Principal, Depends(require(Role.SYSTEM))], request_id: str,
                    body: Annotated[RequestPaymentIn, Depends(json_body(RequestPaymentIn))]) -> Response:
    """The payments system confirms the customer's payment for a request that takes one (a loan repayment: it
    completes once approved and paid). The amount must be the request's; a second payment is refused."""
    listed_system(request, principal, listed="payment_systems", does="confirm payments")
    parse_timestamp(body.paid_at, field="paid_at")
    amount = Money.of(body.amount, body.currency)
    if amount.amount <= 0 or amount.amount != amount.rounded().amount:
        raise ValidationFailed("amount must be more than zero, in whole cents", field="amount")
    return idempotent(request, idem, principal, body=body, run=lambda: request_view(servicing.receive_payment(
        request_id, amount=amount, payment_ref=body.payment_ref, paid_at=body.paid_at, system=principal.subject)))


@hall.get("/v1/staff/servicing/codes")
def pending_codes(request: Request, _: MessagingPrincipal, limit: int = 100) -> list[dict[str, Any]]:
    """One-time code messages for the messaging system to deliver (``LIFELEDGER_MESSAGING_SYSTEMS`` only); mark
    them delivered with ``POST /v1/staff/servicing/codes/delivered``, which wipes the code from the outbox."""
    return request.app.state.ledger.codes.pending(limit=limit)  # type: ignore[no-any-return]


class DeliveredMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128, description="the message's id, as the outbox listed it")
    version: str = Field(pattern=r"^[0-9a-f]{16}$", description="the message's version, as the outbox listed it")


class DeliveredIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[DeliveredMessage] = Field(min_length=1, max_length=1000)


@hall.post("/v1/staff/servicing/codes/delivered", openapi_extra=request_body(DeliveredIn))
def codes_delivered(request: Request, _: MessagingPrincipal,
                    body: Annotated[DeliveredIn, Depends(json_body(DeliveredIn))]) -> dict[str, int]:
    """Mark messages delivered, each named by the id and version the outbox listed; a message whose code was
    sent again since (another version) is left in the outbox, since its new code was not delivered."""
    return {"delivered": request.app.state.ledger.codes.delivered([(m.id, m.version) for m in body.messages])}
