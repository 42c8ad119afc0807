"""What an outside auditor fetches from a log's public API: the published key events, checked later."""

from __future__ import annotations

from typing import Any

import httpx

from ledger.errors import LedgerError
from ledger.log.encoding import parse_json, unb64

MAX_EVIDENCE_DEPTH = 40


def fetch_key_evidence(base_url: str) -> dict[int, tuple[bytes, Any]]:
    """Entry index -> (salt, payload) of every key event the log at ``base_url`` publishes.

    The indexes come from ``/v1/log/key`` (each key's registration and end); the payloads from
    ``/v1/log/key/events/{index}``. Nothing here is trusted: the audit checks each against its leaf.
    Raises ``LedgerError`` when the log cannot be read.
    """
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            keys = _json(client.get("/v1/log/key"))["system_keys"]
            indexes = sorted({k["registered_index"] for k in keys} |
                             {k["ended_index"] for k in keys if k["ended_index"] is not None})
            evidence: dict[int, tuple[bytes, Any]] = {}
            for index in indexes:
                body = _json(client.get(f"/v1/log/key/events/{index}"))
                evidence[index] = (unb64(body["salt"], field="salt"), body["payload"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise LedgerError(f"cannot read the key events from {base_url}: {exc}") from exc
    return evidence


def _json(response: httpx.Response) -> Any:
    """A response's JSON, decoded with a depth bound: the log answering may be hostile."""
    return parse_json(response.raise_for_status().content, max_depth=MAX_EVIDENCE_DEPTH, what="response")
