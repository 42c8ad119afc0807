"""Request bodies: read only once the caller is known, bounded in size and nesting, decoded off the event loop.

Two layers keep a stranger from making the service parse anything large:
- :class:`AuthGate` (ASGI middleware) verifies the bearer token from the headers before any route runs. A request
  without a valid token may carry at most ``anonymous_body_bytes``; a declared ``Content-Length`` above the limit
  is refused with 413 before a byte of the body is read, and a streamed body is cut off at the limit.
- :func:`json_body` is the dependency through which every route takes its JSON body. It depends on the caller's
  principal, so an authenticated route answers 401 before the body is read. Bodies are decoded by a parser that
  bounds nesting without recursion (``ledger.log.encoding.parse_json``) and validated against their schema; large
  ones on a worker thread, so one big batch cannot stall the event loop that answers ``/healthz``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.auth import Principal, TokenCache, TokenError
from ledger.log.encoding import parse_json

Model = TypeVar("Model", bound=BaseModel)
Parsed = TypeVar("Parsed")

# The deepest a body may nest: a batch wraps each event two levels deep, and a payload may nest 32 levels.
MAX_BODY_DEPTH = 40
# Bodies up to this size are decoded on the event loop (a thread hop would cost more than the decoding).
INLINE_DECODE_BYTES = 64 * 1024
BODY_MODELS: list[type[BaseModel]] = []  # every model taken through json_body, for the OpenAPI components


class AuthGate:
    """Authenticate from the headers before the body is read; bound the body by who is calling.

    The verified principal (or the reason the token was refused) goes into ``scope["state"]`` for
    ``api.deps.get_principal``, so the token is checked once per request.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, anonymous_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.anonymous_max_bytes = anonymous_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        principal = _authenticate(scope, state)
        limit = self.max_bytes if principal is not None else self.anonymous_max_bytes
        who = "" if principal is not None else "without a valid bearer token "
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            detail = (f"a request {who}may carry at most {limit} bytes; this one declares {declared.decode()!r}"
                      if declared.isdigit() else "Content-Length is not a number")
            status = 413 if declared.isdigit() else 400
            response = JSONResponse(
                {"type": problems.TYPE_BASE + ("too-large" if status == 413 else "bad-request"),
                 "title": "Too large" if status == 413 else "Bad request", "status": status, "detail": detail,
                 "instance": scope.get("path", "")},
                status_code=status, media_type=problems.PROBLEM_JSON, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413, detail=f"a request {who}may carry at most {limit} bytes")
            return message

        await self.app(scope, counted, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _authenticate(scope: Scope, state: dict[str, Any]) -> Principal | None:
    authorization = _header(scope, b"authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        state["token_error"] = "the Authorization header must be 'Bearer <token>'"
        return None
    state_of_app = scope["app"].state
    ledger = state_of_app.ledger
    tokens: TokenCache = state_of_app.tokens
    try:
        principal = tokens.read(token.strip(), public_key=ledger.tokens.public_key, issuer=ledger.tokens.issuer)
    except TokenError as exc:
        state["token_error"] = str(exc)
        return None
    state["principal"] = principal
    return principal


_bearer = HTTPBearer(auto_error=False, description="EdDSA JWT with 'sub' and 'role' claims")


async def principal_of(request: Request,
                 _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None) -> Principal:
    """The caller's principal as the gate verified it; raises ``TokenError`` (401) saying why there is none.

    (The ``HTTPBearer`` dependency only declares the scheme in OpenAPI; the gate has verified the token.)
    """
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        return principal  # type: ignore[no-any-return]
    raise TokenError(getattr(request.state, "token_error", None) or "a bearer token is required")


async def optional_principal_of(request: Request,
                          _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
                          ) -> Principal | None:
    """The caller's principal on a public route: None without a token; an invalid token is still a 401."""
    error = getattr(request.state, "token_error", None)
    if error:
        raise TokenError(error)
    return getattr(request.state, "principal", None)


def decode_value(raw: bytes, parse: Callable[[Any], Parsed]) -> Parsed:
    """Decode a JSON body and build it with ``parse`` (which raises ``LedgerError`` naming the bad field)."""
    return parse(parse_json(raw, max_depth=MAX_BODY_DEPTH, what="body"))


def decode_body(raw: bytes, model: type[Model]) -> Model:
    """Decode and validate a JSON body; raises ``ValidationFailed`` (field ``body``) or ``RequestValidationError``."""
    value = parse_json(raw, max_depth=MAX_BODY_DEPTH, what="body")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None


def json_body(model: type[Model], *, public: bool = False) -> Callable[..., Awaitable[Model]]:
    """A dependency giving the request's JSON body as ``model``, read only after authentication.

    Use it as ``body: Annotated[EventCreate, Depends(json_body(EventCreate))]``. Unless ``public``, it depends on
    the caller's principal, so an unauthenticated caller gets 401 before the body is read.
    """
    BODY_MODELS.append(model)

    async def read(request: Request) -> Model:
        raw = await request.body()
        if len(raw) <= INLINE_DECODE_BYTES:
            return decode_body(raw, model)
        return await run_in_threadpool(decode_body, raw, model)

    if public:
        return read

    async def read_authenticated(request: Request, _: Principal = Depends(principal_of)) -> Model:  # noqa: B008
        return await read(request)

    return read_authenticated


def parsed_body(model: type[BaseModel], parse: Callable[[Any], Parsed]) -> Callable[..., Awaitable[Parsed]]:
    """Like :func:`json_body`, but the body is built by ``parse`` (a domain type's own strict constructor, such as
    ``SignedEvent.from_json``) instead of validated twice; ``model`` documents it in OpenAPI."""
    BODY_MODELS.append(model)

    async def read_authenticated(request: Request, _: Principal = Depends(principal_of)) -> Parsed:  # noqa: B008
        raw = await request.body()
        if len(raw) <= INLINE_DECODE_BYTES:
            return decode_value(raw, parse)
        return await run_in_threadpool(decode_value, raw, parse)

    return read_authenticated


def request_body(model: type[BaseModel], *, description: str = "") -> dict[str, Any]:
    """``openapi_extra`` for a route taking ``model`` through :func:`json_body` (its schema is a component)."""
    return {"requestBody": {"required": True, "description": description or model.__doc__ or "",
                            "content": {"application/json": {
                                "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def add_body_schemas(schema: dict[str, Any]) -> None:
    """Put the JSON schema of every body model into an OpenAPI document's components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in BODY_MODELS:
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
