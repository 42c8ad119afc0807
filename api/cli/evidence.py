"""What an outside auditor fetches from a log's public API: the published key events, checked later."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from ledger.errors import LedgerError
from ledger.log.encoding import parse_json, unb64

MAX_EVIDENCE_DEPTH = 40
MAX_EVIDENCE_BYTES = 1 << 20  # a key event's answer is a few KB; a log answering more is not read further


class EvidenceUnavailable(LedgerError):
    """The log's published key events could not be read: the audit could not be run, which says nothing of the
    copy."""


class PublishedKeyEvents(Mapping[int, tuple[bytes, Any]]):
    """Entry index -> (salt, payload) of the key events the log at ``base_url`` publishes, fetched from
    ``/v1/log/key/events/{index}`` as the audit meets each key event (registrations, rotations, revocations and
    scope changes alike); an index the log answers 404 for is absent. Nothing here is trusted: the audit checks
    each against its leaf.

    Use it as a context manager (it holds one HTTP connection). Entering checks that the log answers
    ``/v1/log/key``; a later read that fails (no answer, another status, an answer that is not a key event) raises
    ``EvidenceUnavailable`` and is kept in ``failure``, and every read after it fails the same way: the caller
    reports the audit as not run rather than its findings.
    """

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._client = httpx.Client(base_url=base_url, timeout=30)
        self._fetched: dict[int, tuple[bytes, Any] | None] = {}
        self.failure: EvidenceUnavailable | None = None

    def _get(self, path: str) -> tuple[int, Any]:
        """The status and decoded JSON body (None for 404) of one GET, the body read up to its bound."""
        with self._client.stream("GET", path) as response:
            if response.status_code == 404:
                return 404, None
            if response.status_code != 200:
                raise LedgerError(f"it answered {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_EVIDENCE_BYTES:
                    raise LedgerError(f"its answer is over {MAX_EVIDENCE_BYTES:,} bytes")
        return 200, parse_json(bytes(body), max_depth=MAX_EVIDENCE_DEPTH, what="response")

    def _fetch(self, index: int) -> tuple[bytes, Any] | None:
        if self.failure is not None:
            raise self.failure
        if index not in self._fetched:
            try:
                status, body = self._get(f"/v1/log/key/events/{index}")
                self._fetched[index] = None if status == 404 else (unb64(body["salt"], field="salt"),
                                                                   body["payload"])
            except (httpx.HTTPError, LedgerError, KeyError, TypeError, ValueError) as exc:
                self.failure = EvidenceUnavailable(f"cannot read key event {index} from {self._base_url}: "
                                                   f"{_reason(exc)}")
                raise self.failure from exc
        return self._fetched[index]

    def __getitem__(self, index: int) -> tuple[bytes, Any]:
        found = self._fetch(index)
        if found is None:
            raise KeyError(index)
        return found

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self._fetch(index) is not None

    def __iter__(self) -> Iterator[int]:
        """The indexes fetched so far that hold a key event (the log is read on demand, not listed)."""
        return iter(index for index, found in self._fetched.items() if found is not None)

    def __len__(self) -> int:
        return sum(found is not None for found in self._fetched.values())

    def __enter__(self) -> PublishedKeyEvents:
        try:
            status, body = self._get("/v1/log/key")
            if status != 200 or not isinstance(body, dict) or "system_keys" not in body:
                raise LedgerError("it does not publish /v1/log/key")
        except (httpx.HTTPError, LedgerError) as exc:
            self._client.close()
            raise EvidenceUnavailable(f"cannot read the key events from {self._base_url}: {_reason(exc)}") from exc
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._client.close()


def _reason(exc: Exception) -> str:
    """What went wrong reading the log, in one line: our own message, or the exception's type and text."""
    return exc.message if isinstance(exc, LedgerError) else f"{type(exc).__name__}: {exc}"
