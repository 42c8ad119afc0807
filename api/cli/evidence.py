"""What an outside auditor fetches from a log's public API: the published key events, checked later."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from ledger.errors import LedgerError
from ledger.log.encoding import parse_json, unb64

MAX_EVIDENCE_DEPTH = 40


class PublishedKeyEvents(Mapping[int, tuple[bytes, Any]]):
    """Entry index -> (salt, payload) of the key events the log at ``base_url`` publishes, fetched from
    ``/v1/log/key/events/{index}`` as the audit meets each key event (registrations, rotations, revocations and
    scope changes alike); an index the log publishes no key event at is absent. Nothing here is trusted: the
    audit checks each against its leaf. Reading raises ``LedgerError`` when the log cannot be read.

    Use it as a context manager (it holds one HTTP connection).
    """

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._client = httpx.Client(base_url=base_url, timeout=30)
        self._fetched: dict[int, tuple[bytes, Any] | None] = {}

    def _fetch(self, index: int) -> tuple[bytes, Any] | None:
        if index not in self._fetched:
            try:
                response = self._client.get(f"/v1/log/key/events/{index}")
                if response.status_code == 404:
                    self._fetched[index] = None
                else:
                    body = _json(response)
                    self._fetched[index] = (unb64(body["salt"], field="salt"), body["payload"])
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                raise LedgerError(f"cannot read key event {index} from {self._base_url}: {exc}") from exc
        return self._fetched[index]

    def __getitem__(self, index: int) -> tuple[bytes, Any]:
        found = self._fetch(index)
        if found is None:
            raise KeyError(index)
        return found

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self._fetch(index) is not None

    def __iter__(self) -> Iterator[int]:
        return iter(index for index, found in self._fetched.items() if found is not None)

    def __len__(self) -> int:
        return sum(found is not None for found in self._fetched.values())

    def __enter__(self) -> PublishedKeyEvents:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._client.close()


def _json(response: httpx.Response) -> Any:
    """A response's JSON, decoded with a depth bound: the log answering may be hostile."""
    return parse_json(response.raise_for_status().content, max_depth=MAX_EVIDENCE_DEPTH, what="response")
