"""Content-addressed uploads: identity documents, medical reports, claim documents."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from api.auth import Principal, Role
from api.deps import STAFF, UploadsDep, require
from api.problems import responses
from api.routing import Router
from ledger.errors import Forbidden, ValidationFailed

router = Router(prefix="/v1/uploads", tags=["uploads"], responses=responses(401, 403, 404, 413, 422))


@router.post("", status_code=201, openapi_extra={"requestBody": {
    "required": True, "description": "the file's bytes; Content-Type names its media type",
    "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in
                ("application/pdf", "image/jpeg", "image/png")}}})
async def upload(request: Request, uploads: UploadsDep,
                 principal: Principal = Depends(require(Role.CUSTOMER, *STAFF)),  # noqa: B008
                 subject: str | None = None) -> dict[str, Any]:
    """Store a file by its SHA-256 and answer ``{"digest": "sha256:…"}``; the same bytes twice are stored once.

    A customer's files are their own; staff name the party whose file it is with ``?subject=``. The answer is the
    same whether or not the bytes were stored before (it tells nobody what others uploaded), and each uploader may
    cite the file until they are erased.
    """
    if principal.role == Role.CUSTOMER:
        if subject not in (None, principal.subject):
            raise Forbidden("a customer uploads only their own files", field="subject")
        owner = principal.subject
    else:
        if not subject:
            raise ValidationFailed("staff name the party whose file this is: ?subject=<party id>", field="subject")
        owner = subject
    data = await request.body()
    stored = uploads.put(data, media_type=request.headers.get("content-type", ""), subject=owner)
    return {"digest": stored.digest, "size": stored.size, "media_type": stored.media_type}
