"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from api import problems
from api.auth import TokenCache
from api.bodies import AuthGate, add_body_schemas
from api.docs import install_docs
from api.metrics import Metrics, MetricsMiddleware
from api.routes import (
    applications,
    audit,
    claims,
    events,
    keys,
    log,
    ops,
    policies,
    products,
    servicing,
    uploads,
    verify,
)
from ledger.app import Ledger
from ledger.settings import Settings, load_settings

DESCRIPTION = """\
lifeledger records every lifecycle event of a life-insurance policy, servicing request and claim in a signed,
append-only RFC 9162 Merkle journal. The public log API (`/v1/log`) lets anyone check entries and checkpoints
with nothing but RFC 9162, C2SP and an HTTP client. Every other route needs a bearer token (EdDSA JWT with
`sub` and `role`). Errors are RFC 9457 problem details.
"""


GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Collect cyclic garbage less often than CPython's default (700, 10, 10).

    A request allocates thousands of short-lived objects, so the default runs a young collection every few
    requests and, every few hundred, a full one over everything the process holds (row and key caches
    included), stopping the event loop and the writer for tens of milliseconds. Measured with 50 clients
    posting events (docs/BENCHMARKS.md): 1,530 requests/s with a p99 of 109 ms at the defaults, 1,790 and 44 ms
    with these thresholds. Memory stays bounded: cycles are still collected, only in larger steps.
    """
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, *, ledger: Ledger | None = None) -> FastAPI:
    """Build the app. With no ``ledger`` it opens one from ``settings`` when it starts and closes it at the end."""
    settings = settings or (ledger.settings if ledger else load_settings())
    owned = ledger is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_gc()
        current = ledger or Ledger.open(settings)
        current.start()
        app.state.ledger = current
        app.state.metrics = Metrics(current)
        app.state.tokens = TokenCache()
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

    app.add_middleware(MetricsMiddleware)

    for module in (log, events, keys, ops, products, uploads, applications, policies, servicing, claims, audit):
        app.include_router(module.router)
    app.include_router(policies.public)
    app.include_router(servicing.hall)  # after the catalog routes, which its /v1/servicing/{id} would shadow
    app.include_router(verify.router)
    app.mount(verify.ASSETS_PATH, StaticFiles(directory=verify.WEB_DIR), name="verify-assets")
    app.mount(verify.VENDOR_PATH, StaticFiles(directory=verify.VENDOR_DIR, check_dir=False), name="verify-vendor")

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


