"""Uploads: files stored once by their SHA-256, owned by the data subject whose file they are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ledger.clock import Clock
from ledger.errors import ErasedError, NotFound, ValidationFailed
from ledger.log.encoding import digest_str, parse_digest, sha256
from ledger.log.identifiers import check_subject, utc_timestamp
from ledger.store.domain import DomainStore, Upload

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MEDIA_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/webp", "text/plain")


@dataclass(frozen=True)
class Stored:
    digest: str  # sha256:<hex>
    size: int
    media_type: str


class UploadService:
    def __init__(self, store: DomainStore, *, clock: Clock, erased: Callable[[str], bool] | None = None) -> None:
        """``erased`` tells whether a data subject was erased (none is, without it)."""
        self._store = store
        self._clock = clock
        self._erased = erased or (lambda subject: False)

    def put(self, data: bytes, *, media_type: str, subject: str) -> Stored:
        """Store ``data`` for ``subject``; raises ``ValidationFailed`` for an empty or too large file or a media
        type that is not accepted, and ``ErasedError`` for a subject that was erased (nothing of it is kept)."""
        check_subject(subject, field="subject")
        if self._erased(subject):
            raise ErasedError(f"data subject {subject!r} was erased: no file is stored for it", field="subject")
        if not data:
            raise ValidationFailed("the upload is empty", field="file")
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(f"the upload is {len(data)} bytes; at most {MAX_UPLOAD_BYTES} are accepted",
                                   field="file")
        kind = media_type.split(";")[0].strip().lower()
        if kind not in MEDIA_TYPES:
            raise ValidationFailed(f"media type {kind!r} is not accepted; use one of {', '.join(MEDIA_TYPES)}",
                                   field="content-type")
        digest = sha256(data)
        self._store.put_upload(Upload(digest=digest, subject=subject, media_type=kind, size=len(data), data=data,
                                      created_at=utc_timestamp(self._clock.now())))
        if self._erased(subject):
            # Erased while the file was stored: the erasure destroys the key before it deletes the files, so one
            # that deleted them before this file landed was recorded before this look, and the file goes now.
            self._store.delete_uploads(subject)
            raise ErasedError(f"data subject {subject!r} was erased: no file is stored for it", field="subject")
        return Stored(digest=digest_str(digest), size=len(data), media_type=kind)

    def get(self, digest: str) -> Upload:
        """The file with this digest; raises ``NotFound``."""
        found = self._store.upload(parse_digest(digest, field="digest"))
        if found is None:
            raise NotFound(f"no upload {digest}", field="digest")
        return found

    def exists(self, digest: str) -> bool:
        return self._store.upload(parse_digest(digest, field="digest")) is not None

    def owned_by(self, digest: str, subjects: set[str]) -> bool:
        """Whether the file with this digest was uploaded for one of ``subjects``."""
        return self._store.upload_owned(parse_digest(digest, field="digest"), subjects)

    def erase(self, subject: str) -> int:
        return self._store.delete_uploads(subject)
