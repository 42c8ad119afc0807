"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import problems
from api.bodies import AuthGate, add_body_schemas
from api.docs import install_docs
from api.metrics import Metrics
from api.routes import events, keys, log, ops
from ledger.app import Ledger
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

    docs = settings.api_docs
    app = FastAPI(title="lifeledger", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    problems.install(app)
    app.add_middleware(AuthGate, max_bytes=settings.max_body_bytes,
                       anonymous_max_bytes=settings.anonymous_body_bytes)

    @app.middleware("http")
    async def _count(request, call_next):  # type: ignore[no-untyped-def]
        return await request.app.state.metrics.middleware(request, call_next)

    for module in (log, events, keys, ops):
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            add_body_schemas(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if docs:
        install_docs(app)
    return app


