"""Request dependencies: the ledger's services, the calling principal and role checks, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.auth import Principal, Role
from api.bodies import optional_principal_of, principal_of
from ledger.app import Ledger
from ledger.errors import Forbidden
from ledger.policies.service import PolicyService
from ledger.services.anchoring import AnchorService
from ledger.services.idempotency import IdempotencyService
from ledger.services.intake import IntakeService
from ledger.services.keys import KeyService
from ledger.services.log import LogService
from ledger.services.products import ProductService
from ledger.services.uploads import UploadService


async def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


async def get_log(request: Request) -> LogService:
    return request.app.state.ledger.log  # type: ignore[no-any-return]


async def get_intake(request: Request) -> IntakeService:
    return request.app.state.ledger.intake  # type: ignore[no-any-return]


async def get_keys(request: Request) -> KeyService:
    return request.app.state.ledger.keys  # type: ignore[no-any-return]


async def get_anchoring(request: Request) -> AnchorService:
    return request.app.state.ledger.anchoring  # type: ignore[no-any-return]


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
LogDep = Annotated[LogService, Depends(get_log)]
IntakeDep = Annotated[IntakeService, Depends(get_intake)]
KeysDep = Annotated[KeyService, Depends(get_keys)]
AnchoringDep = Annotated[AnchorService, Depends(get_anchoring)]

CurrentPrincipal = Annotated[Principal, Depends(principal_of)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal_of)]


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits only principals holding one of ``roles``."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(status_code=403, detail=f"role {principal.role.value!r} may not do this; "
                                                        f"needs one of: {allowed}")
        return principal

    return check


SystemPrincipal = Annotated[Principal, Depends(require(Role.SYSTEM))]


def listed_system(request: Request, principal: Principal, *, listed: str, does: str) -> None:
    """Raise ``Forbidden`` unless the system ``principal`` is named in the settings' list ``listed``
    (``payment_systems``, ``messaging_systems``; ``does`` says what the systems listed there do)."""
    if principal.subject not in getattr(request.app.state.ledger.settings, listed):
        raise Forbidden(f"system {principal.subject!r} does not {does} (LIFELEDGER_{listed.upper()})",
                        field="subject")


async def messaging_system(request: Request, principal: SystemPrincipal) -> Principal:
    """Admit only the messaging systems (``LIFELEDGER_MESSAGING_SYSTEMS``): the outboxes they read hold customers'
    one-time codes and messages, which no other system (a hospital, the payments system) may read or clear."""
    listed_system(request, principal, listed="messaging_systems", does="deliver messages")
    return principal


MessagingPrincipal = Annotated[Principal, Depends(messaging_system)]
AdminPrincipal = Annotated[Principal, Depends(require(Role.ADMIN))]
ReaderPrincipal = Annotated[Principal, Depends(require(Role.SYSTEM, Role.AUDITOR, Role.CUSTOMER))]


def may_read_entry(log: LogService, principal: Principal | None, index: int) -> bool:
    """Whether ``principal`` may see entry ``index``'s leaf and fields, not just its hash.

    Entitled are: an auditor; the system whose key signed the entry; the customer whose event it is (the entry's
    data subject, or the subject of its personal part, is the customer's id). Everyone else gets hashes and
    proofs only.
    """
    if principal is None:
        return False
    if principal.role == Role.AUDITOR:
        return True
    if principal.role == Role.SYSTEM:
        return log.signer_of(index) == principal.subject
    if principal.role == Role.CUSTOMER:
        return principal.subject in log.subjects_of(index)
    return False


async def get_policies(request: Request) -> PolicyService:
    return request.app.state.ledger.policies  # type: ignore[no-any-return]


async def get_uploads(request: Request) -> UploadService:
    return request.app.state.ledger.uploads  # type: ignore[no-any-return]


async def get_idempotency(request: Request) -> IdempotencyService:
    return request.app.state.ledger.idempotency  # type: ignore[no-any-return]


async def get_products(request: Request) -> ProductService:
    return request.app.state.ledger.products  # type: ignore[no-any-return]


PoliciesDep = Annotated[PolicyService, Depends(get_policies)]
ProductsDep = Annotated[ProductService, Depends(get_products)]
UploadsDep = Annotated[UploadService, Depends(get_uploads)]
IdempotencyDep = Annotated[IdempotencyService, Depends(get_idempotency)]
# The insurer's staff. Auditors are not among them: they read a policy's or a claim's payloads only through the
# audit routes, where what opens is their grant and every read is recorded (api/routes/audit.py).
STAFF = (Role.SERVICING, Role.UNDERWRITER, Role.ADJUSTER, Role.CLAIMS_HANDLER, Role.ADMIN)
UnderwriterPrincipal = Annotated[Principal, Depends(require(Role.UNDERWRITER))]
ApplicantPrincipal = Annotated[Principal, Depends(require(Role.CUSTOMER, Role.SERVICING))]
PolicyReader = Annotated[Principal, Depends(require(Role.CUSTOMER, *STAFF))]
