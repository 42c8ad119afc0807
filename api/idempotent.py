"""Idempotent commands over HTTP: the ``Idempotency-Key`` header makes a retry return the first answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import Principal
from ledger import cooperative, errors
from ledger.services.idempotency import IdempotencyService

HEADER = "Idempotency-Key"
# Refusals that record nothing: the rules, the input, who may ask, or a position that moved.
SETTLED_REFUSALS = (errors.ValidationFailed, errors.NotFound, errors.Forbidden, errors.Conflict)


def idempotent(request: Request, idem: IdempotencyService, principal: Principal, run: Callable[[], Any], *,
               body: BaseModel | None = None, status: int = 200) -> Response:
    """Answer with ``run()``'s result; with an ``Idempotency-Key``, keep the first answer for that caller and key
    and give it again to a retry with the same method, path and body (another request with the key is a 422; a
    retry while the first is still running is a 409).

    The key is claimed before the command runs, so two concurrent requests never both run it. Only successful
    answers are kept: a refused command (4xx) releases the key and can be retried with it once it is fixed; after
    any other failure the claim is held for a lease, since the command may have been recorded.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return _answer(run(), status)
    caller = f"{principal.role.value}:{principal.subject}"
    fingerprint = b"\n".join([request.method.encode(), request.url.path.encode(),
                              body.model_dump_json().encode() if body is not None else b""])
    # The key's rows are written at the database's writers' turn: off the event loop when the command runs on it.
    first = cooperative.blocking(idem.claim, principal=caller, key=key, request=fingerprint)
    if first is not None:
        return Response(first.body, status_code=first.status, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    try:
        answer = _answer(run(), status)
    except SETTLED_REFUSALS:
        # Refused: nothing was recorded, so a fixed retry may use the key.
        cooperative.blocking(idem.release, principal=caller, key=key)
        raise
    # Any other failure may have come after the journal committed (a timed-out wait, a read after it): the
    # claim stays, a retry gets 409 until its lease runs out (IdempotencyService.LEASE) and then runs again.
    cooperative.blocking(idem.keep, principal=caller, key=key, status=status, body=bytes(answer.body))
    return answer


def _answer(content: Any, status: int) -> Response:
    """The JSON answer, encoded once by orjson (the views are plain JSON already; anything else goes through
    FastAPI's encoder)."""
    try:
        body = orjson.dumps(content)
    except TypeError:
        body = orjson.dumps(jsonable_encoder(content))
    return Response(body, status_code=status, media_type="application/json")
