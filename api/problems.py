"""RFC 9457 problem details: one table maps each error class to an HTTP status and a problem type."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import TokenError
from ledger import errors

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://lifeledger.dev/problems/"

# Most specific first: the first matching class wins.
STATUS_TABLE: list[tuple[type[Exception], int, str]] = [
    (errors.Refused, 409, "refused"),
    (errors.StreamMoved, 409, "stream-moved"),
    (errors.InvalidTransition, 409, "invalid-transition"),
    (errors.Conflict, 409, "conflict"),
    (errors.NotFound, 404, "not-found"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.SignatureError, 422, "bad-signature"),
    (errors.VerificationError, 422, "verification-failed"),
    (errors.ValidationFailed, 422, "invalid-input"),
    (errors.ErasedError, 410, "erased"),
    (errors.AnchorUnavailable, 503, "anchoring-unavailable"),
    (errors.StorageError, 503, "storage-unavailable"),
    (errors.ConfigurationError, 500, "misconfigured"),
    (errors.LedgerError, 400, "ledger-error"),
]


def problem(status: int, kind: str, title: str, detail: str, request: Request, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail,
            "instance": str(request.url.path), **{k: v for k, v in extra.items() if v is not None}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    @app.exception_handler(errors.LedgerError)
    async def _ledger_error(request: Request, exc: errors.LedgerError) -> JSONResponse:
        for cls, status, kind in STATUS_TABLE:
            if isinstance(exc, cls):
                title = kind.replace("-", " ").capitalize()
                if isinstance(exc, errors.Refused):  # a rule said no: name it, in both languages
                    return problem(status, kind, title, exc.message, request, field=exc.field, rule=exc.rule,
                                   detail_zh=exc.zh)
                return problem(status, kind, title, exc.message, request, field=exc.field)
        raise AssertionError("LedgerError is in the table")

    @app.exception_handler(TokenError)
    async def _token_error(request: Request, exc: TokenError) -> JSONResponse:
        return problem(401, "unauthenticated", "Unauthenticated", str(exc), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"].removeprefix("Value error, ")}
                  for err in exc.errors()]
        first = issues[0] if issues else {"field": None, "message": "invalid request"}
        return problem(422, "invalid-input", "Invalid input", f"{first['field']}: {first['message']}", request,
                       field=first["field"], errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
                 413: "too-large"}
        kind = kinds.get(exc.status_code, "http-error")
        response = problem(exc.status_code, kind, kind.replace("-", " ").capitalize(), str(exc.detail), request)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.exception("unexpected error (ref %s) on %s %s", reference, request.method, request.url.path)
        return problem(500, "internal-error", "Internal error",
                       f"the server failed unexpectedly (ref {reference}); nothing about your request was wrong",
                       request)


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"}, "instance": {"type": "string"},
            "field": {"type": "string", "description": "the input that was wrong, when one is to blame"},
        },
    }


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route can give (RFC 9457, application/problem+json)."""
    meaning = {400: "Bad request", 401: "Missing, invalid or expired bearer token", 403: "Role not allowed",
               404: "Not found", 409: "Conflicts with recorded state", 413: "Request body too large",
               422: "Invalid input (the problem's `field` names it)", 503: "Database or chain unavailable"}
    return {status: {"description": meaning[status],
                     "content": {PROBLEM_JSON: {"schema": _problem_schema()}}} for status in statuses}
