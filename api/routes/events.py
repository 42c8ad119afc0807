"""Event intake: internal systems post statements signed with their registered keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response

from api.bodies import json_body, parsed_body, request_body
from api.deps import IntakeDep, LogDep, ReaderPrincipal, SystemPrincipal, may_read_entry
from api.params import PlainSeconds
from api.problems import STATUS_TABLE, TYPE_BASE, responses
from api.routing import Router
from api.schemas import (
    BatchItemPublic,
    BatchPublic,
    EventBatchCreate,
    EventCreate,
    FullReceiptPublic,
    ProblemPublic,
    ReceiptPublic,
)
from api.waiting import settled
from ledger.errors import LedgerError, NotFound
from ledger.log.statements import SignedEvent
from ledger.services.intake import Receipt

router = Router(prefix="/v1/events", tags=["events"], responses=responses(401, 403, 409, 413, 422, 503))
MAX_WAIT = 10.0


def _problem(exc: LedgerError) -> ProblemPublic:
    for cls, status, kind in STATUS_TABLE:
        if isinstance(exc, cls):
            return ProblemPublic(type=TYPE_BASE + kind, title=kind.replace("-", " ").capitalize(), status=status,
                                 detail=exc.message, field=exc.field)
    raise AssertionError("LedgerError is in the table")


@router.post("", status_code=201, response_model=ReceiptPublic,
             responses={200: {"description": "Already recorded with the same content", "model": ReceiptPublic}},
             openapi_extra=request_body(EventCreate))
async def post_event(intake: IntakeDep, principal: SystemPrincipal,
                     event: Annotated[SignedEvent, Depends(parsed_body(EventCreate, SignedEvent.from_json))],
                     ) -> Response:
    """Record one signed event; answers once it is durably committed (group commit, about a millisecond).

    The same event_id with the same statement returns the original receipt (200); with different content
    it is a 409 conflict. Fetch the inclusion proof from ``receipt_url`` once a checkpoint covers it.
    """
    receipt = (await settled(intake.submit(event, owner=principal.subject)))[0]
    # The receipt is built by our own schema already: skip validating it a second time on the way out.
    return Response(ReceiptPublic.of(receipt).model_dump_json(), status_code=200 if receipt.duplicate else 201,
                    media_type="application/json")


@router.post(":batch", openapi_extra=request_body(EventBatchCreate))
def post_batch(intake: IntakeDep, principal: SystemPrincipal,
               body: Annotated[EventBatchCreate, Depends(json_body(EventBatchCreate))]) -> BatchPublic:
    """Record up to 1,000 signed events; each one is recorded or rejected on its own (in order)."""
    parsed: list[SignedEvent | LedgerError] = []
    for item in body.events:
        try:
            parsed.append(SignedEvent.from_json(item.model_dump(exclude_none=True)))
        except LedgerError as exc:
            parsed.append(exc)
    good = [p for p in parsed if isinstance(p, SignedEvent)]
    outcome = iter(intake.append_many(good, owner=principal.subject))
    results: list[BatchItemPublic] = []
    for each in parsed:
        result = each if isinstance(each, LedgerError) else next(outcome)
        if isinstance(result, Receipt):
            results.append(BatchItemPublic(status="duplicate" if result.duplicate else "recorded",
                                           receipt=ReceiptPublic.of(result)))
        else:
            results.append(BatchItemPublic(status="rejected", problem=_problem(result)))
    count = {s: sum(r.status == s for r in results) for s in ("recorded", "duplicate", "rejected")}
    return BatchPublic(recorded=count["recorded"], duplicates=count["duplicate"], rejected=count["rejected"],
                       results=results)


@router.get("/{event_id}/receipt")
def get_receipt(log: LogDep, principal: ReaderPrincipal, event_id: str,
                wait: Annotated[PlainSeconds, Query(ge=0, le=MAX_WAIT,
                                                    description="seconds to wait for a checkpoint")] = 0,
                ) -> FullReceiptPublic:
    """The full receipt: leaf, signed checkpoint and inclusion proof (``status: pending`` until checkpointed).

    Readable by the system whose key signed the event, by an auditor, and by the customer whose event it is;
    to anyone else the event does not exist (404).
    """
    try:
        entitled = may_read_entry(log, principal, log.index_of(event_id))
    except NotFound:
        entitled = False
    if not entitled:
        raise NotFound(f"no event with event_id {event_id!r} that you may read", field="event_id")
    return FullReceiptPublic.of(log.receipt(event_id, wait=wait))
