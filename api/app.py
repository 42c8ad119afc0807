"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.metrics import Metrics
from api.routes import events, keys, log, ops
from ledger.core import Ledger
from ledger.settings import Settings, load_settings

DESCRIPTION = """\
lifeledger records every lifecycle event of a life-insurance policy, servicing request and claim in a signed,
append-only RFC 9162 Merkle journal. The public log API (`/v1/log`) lets anyone check entries and checkpoints
with nothing but RFC 9162, C2SP and an HTTP client. Every other route needs a bearer token (EdDSA JWT with
`sub` and `role`). Errors are RFC 9457 problem details.
"""


def create_app(settings: Settings | None = None, *, ledger: Ledger | None = None) -> FastAPI:
    """Build the app. With no ``ledger`` it opens one from ``settings`` when it starts and closes it at the end."""
    settings = settings or (ledger.settings if ledger else load_settings())
    owned = ledger is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = ledger or Ledger.open(settings)
        current.start()
        app.state.ledger = current
        app.state.metrics = Metrics(current)
        try:
            yield
        finally:
            if owned:
                current.close()

    app = FastAPI(title="lifeledger", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def _count(request, call_next):  # type: ignore[no-untyped-def]
        return await request.app.state.metrics.middleware(request, call_next)

    for module in (log, events, keys, ops):
        app.include_router(module.router)
    return app


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before anything parses them or checks a token."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(
                {"type": problems.TYPE_BASE + "too-large", "title": "Too large", "status": 413,
                 "detail": f"request body is {int(declared)} bytes; the limit is {self.max_bytes}",
                 "instance": scope.get("path", "")},
                status_code=413, media_type=problems.PROBLEM_JSON)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=f"request body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)
