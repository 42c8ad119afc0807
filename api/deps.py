"""Request dependencies: the ledger, the calling principal, and role checks, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, Role, TokenError, read_token
from ledger.core import Ledger

_bearer = HTTPBearer(auto_error=False, description="EdDSA JWT with 'sub' and 'role' claims")


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def get_principal(ledger: LedgerDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if credentials is None:
        raise TokenError("a bearer token is required")
    return read_token(credentials.credentials, public_key=ledger.keys.token.private_key.public_key(),
                      issuer=ledger.settings.jwt_issuer)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only principals holding one of ``roles``."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(status_code=403, detail=f"role {principal.role.value!r} may not do this; "
                                                        f"needs one of: {allowed}")
        return principal

    return check


SystemPrincipal = Annotated[Principal, Depends(require(Role.SYSTEM))]
AdminPrincipal = Annotated[Principal, Depends(require(Role.ADMIN))]
ReaderPrincipal = Annotated[Principal, Depends(require(Role.SYSTEM, Role.AUDITOR, Role.ADMIN))]
