"""Opening sealed payloads with the master key: an entry's facts, its personal part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.crypto.sealing import OpenedPayload, unseal, unwrap_key
from ledger.errors import LedgerError
from ledger.log.encoding import parse_json
from ledger.log.statements import PERSONAL_FIELD
from ledger.store import EntryRow, Store

# Stored payloads are decoded with a generous bound: intake allows 32 levels, and anything deeper was recorded
# before that limit and is reported, never allowed to exhaust the stack.
MAX_STORED_PAYLOAD_DEPTH = 64


@dataclass(frozen=True)
class Opened:
    """An opened payload: the salt its entry committed to, its canonical bytes, and (decoded on demand) its value."""

    salt: bytes
    payload_bytes: bytes

    @classmethod
    def of(cls, opened: OpenedPayload) -> Opened:
        return cls(salt=opened.salt, payload_bytes=opened.payload_bytes)

    @property
    def payload(self) -> Any:
        """The payload decoded with a depth bound; raises ``ValidationFailed`` if it is not JSON within it."""
        return parse_json(self.payload_bytes, max_depth=MAX_STORED_PAYLOAD_DEPTH, what="payload")


class Opener:
    """Decrypts payload rows, reading and unwrapping the subject's data key for every row it opens.

    No data key is kept between calls: another process sharing the database may erase a subject at any moment,
    and only the store knows. A cached key would go on opening that subject's payloads here after its erasure.
    """

    def __init__(self, store: Store, master_key: bytes) -> None:
        self._store = store
        self._master_key = master_key

    def payload(self, index: int) -> Opened:
        """The payload (facts) of entry ``index``; raises ``ErasedError`` if its subject was erased."""
        subject, sealed = self._store.payload(index)
        return Opened.of(unseal(data_key=self._key(subject), index=index, subject=subject, sealed=sealed))

    def personal(self, index: int) -> Opened | None:
        """The personal part of entry ``index`` (None if it has none); raises ``ErasedError`` if erased."""
        found = self._store.personal_part(index)
        if found is None:
            return None
        subject, sealed = found
        return Opened.of(unseal(data_key=self._key(subject), index=index, subject=subject, sealed=sealed))

    def facts(self, index: int) -> dict[str, Any] | None:
        """The facts of entry ``index`` (its payload without the commitment to a personal part), or None when the
        payload cannot be read (its subject was erased)."""
        try:
            payload = self.payload(index).payload
        except LedgerError:  # erased, or not JSON within the depth bound (the audit names it)
            return None
        if not isinstance(payload, dict):
            return None
        return {name: value for name, value in payload.items() if name != PERSONAL_FIELD}

    def stream(self, stream: str, *, after: int = 0) -> list[tuple[EntryRow, dict[str, Any] | None]]:
        """A stream's entries after position ``after`` in ``seq`` order with their facts (None where the payload
        cannot be read).

        The data keys are read once for the call (a fold loads a stream in one go), never kept after it.
        """
        found = self._store.stream_entries(stream, after=after)
        keys: dict[str, bytes | None] = {}
        out: list[tuple[EntryRow, dict[str, Any] | None]] = []
        for row, subject, sealed in found:
            if subject not in keys:
                keys[subject] = self._key(subject)
            try:
                opened = Opened.of(unseal(data_key=keys[subject], index=row.idx, subject=subject, sealed=sealed))
                payload = opened.payload
            except LedgerError:
                out.append((row, None))
                continue
            facts = ({name: value for name, value in payload.items() if name != PERSONAL_FIELD}
                     if isinstance(payload, dict) else None)
            out.append((row, facts))
        return out

    def _key(self, subject: str) -> bytes | None:
        """The subject's data key as the store holds it now; None once erased or missing (``unseal`` then raises
        ``ErasedError``)."""
        wrapped = self._store.wrapped_keys([subject]).get(subject)
        return None if wrapped is None else unwrap_key(master_key=self._master_key, subject=subject, wrapped=wrapped)
