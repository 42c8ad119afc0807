#!/usr/bin/env python3
"""Check a lifeledger log from outside, with only RFC 9162, C2SP and HTTP: no lifeledger code is imported.

It fetches the latest signed checkpoint, verifies its signature with the vkey you trust, and then checks
what you ask for:

    python scripts/check_log.py --url http://127.0.0.1:8000 --vkey 'lifeledger.local/log+…' --entry 42
    python scripts/check_log.py --url … --vkey … --receipt receipt.json
    python scripts/check_log.py --url … --vkey … --since saved-checkpoint.txt --save saved-checkpoint.txt

``--entry I`` proves the leaf hash the log publishes for entry I is in the checkpointed tree (RFC 9162
§2.1.3.2); the public log gives anyone leaf hashes and proofs, never the leaves. ``--receipt FILE`` checks a
receipt you hold (the JSON of ``GET /v1/events/{event_id}/receipt``): its leaf hashes to the leaf hash at its
index, its inclusion proof leads to the root of its signed checkpoint, and the log's current checkpoint extends
that one (§2.1.4.2), so the entry is still there. The file may instead be a servicing or a claim receipt (the JSON
of ``GET /v1/servicing/{request_id}/receipt``, format ``lifeledger-servicing-receipt/1``, or of
``GET /v1/claims/{claim_id}/receipt``, format ``lifeledger-claim-receipt/1``): then every receipt in it is checked
the same way, in increasing index order, and every leaf must name the request's own stream
``servicing:<request_id>`` (the claim's ``claim:<claim_id>``), so no other event can be passed off as one of it;
the ``vkey`` written in
that document is not trusted, only yours (or the log's, without ``--vkey``). ``--since FILE`` proves the current
checkpoint extends one you saved earlier, which is how a monitor notices a rewritten history; ``--save FILE``
keeps the current checkpoint for the next run. Without ``--vkey`` the key published by the log itself is used
(fine for a first look, not for an audit). Exit status 0 when every check passes, 1 when one fails, 2 on bad
usage or an unreachable log; one line on stderr says why.

Requires Python 3.11+, ``cryptography`` and ``httpx``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import httpx
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError as missing:  # one line, as for any other error
    print(f"error: this check needs the {missing.name} package (pip install httpx cryptography)", file=sys.stderr)
    sys.exit(2)

SERVICING_FORMAT = "lifeledger-servicing-receipt/1"
CLAIM_FORMAT = "lifeledger-claim-receipt/1"
# A workflow receipt's format -> (the field naming its subject, the stream prefix every event of it must be on,
# the receipt's kind, the noun for its subject)
WORKFLOW_FORMATS = {SERVICING_FORMAT: ("request_id", "servicing:", "servicing", "request"),
                    CLAIM_FORMAT: ("claim_id", "claim:", "claim", "claim")}


class CheckFailed(Exception):
    """A signature, proof or root did not verify."""


@dataclass(frozen=True)
class CheckedEvent:
    """An event whose receipt verified: its log index and what its leaf says (event id, type, stream)."""

    index: int
    event_id: str
    type: str | None
    stream: str


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(leaf: bytes) -> bytes:
    return _h(b"\x00" + leaf)


def root_from_inclusion(index: int, size: int, leaf_digest: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that an inclusion path leads to."""
    if not 0 <= index < size:
        raise CheckFailed(f"index {index} is outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf_digest
    for p in path:
        if sn == 0:
            raise CheckFailed("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = _h(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise CheckFailed("inclusion proof is shorter than the tree is deep")
    return r


def check_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise ``CheckFailed`` unless ``path`` proves the second tree extends the first."""
    if not 0 < first <= second:
        raise CheckFailed(f"sizes {first} and {second} cannot be consistent")
    if first == second:
        if path or first_root != second_root:
            raise CheckFailed("equal sizes need an empty proof and equal roots")
        return
    if first & (first - 1) == 0:
        path = [first_root, *path]
    if not path:
        raise CheckFailed("consistency proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise CheckFailed("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = _h(b"\x01" + c + fr), _h(b"\x01" + c + sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise CheckFailed(f"the tree of {second} entries does not extend the tree of {first}")


def open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Verify a C2SP signed note with a C2SP vkey and parse its tlog-checkpoint body: (origin, size, root)."""
    name, key_hash, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 1 or _h(name.encode() + b"\n" + raw)[:4].hex() != key_hash:
        raise CheckFailed("vkey is not a well-formed Ed25519 vkey")
    body, separator, signatures = note.rpartition("\n\n")
    if not separator or not note.endswith("\n"):
        raise CheckFailed("checkpoint is not a signed note")
    body += "\n"
    for line in signatures.split("\n")[:-1]:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        signature = base64.b64decode(parts[2], validate=True)
        if signature[:4].hex() != key_hash:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(signature[4:], body.encode())
        except InvalidSignature as exc:
            raise CheckFailed("checkpoint signature does not verify") from exc
        lines = body.split("\n")[:-1]
        if len(lines) != 3 or not lines[1].isdigit() or (lines[1].startswith("0") and lines[1] != "0"):
            raise CheckFailed("checkpoint body is not '<origin>\\n<size>\\n<root>\\n'")
        root = base64.b64decode(lines[2], validate=True)
        if len(root) != 32 or base64.b64encode(root).decode() != lines[2]:
            raise CheckFailed("checkpoint root is not canonical base64 of 32 bytes")
        return lines[0], int(lines[1]), root
    raise CheckFailed(f"checkpoint carries no signature by {name}")


def _b64_list(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v, validate=True) for v in values]


def _consistent(client: httpx.Client, old: tuple[int, bytes], new: tuple[int, bytes]) -> None:
    """Fetch and check the consistency proof that the tree ``new`` extends the tree ``old`` (size, root)."""
    (old_size, old_root), (size, root) = old, new
    if old_size > size:
        raise CheckFailed(f"the log shrank from {old_size} to {size} entries")
    hashes: list[bytes] = []
    if old_size < size:
        proof = client.get("/v1/log/proofs/consistency", params={"first": old_size, "second": size})
        hashes = _b64_list(proof.raise_for_status().json()["hashes"])
    check_consistency(old_size, size, old_root, root, hashes)


def leaf_statement(leaf: bytes, index: int) -> dict[str, Any]:
    """The signed statement inside leaf bytes (RFC 8785 JSON of ``{key_id, recorded_at, seq, signature,
    statement, v}``). Raises ``CheckFailed`` unless it is an object whose statement has a string stream and
    event id."""
    try:
        record = json.loads(leaf.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckFailed(f"the leaf of entry {index} is not JSON") from exc
    statement = record.get("statement") if isinstance(record, dict) else None
    if (not isinstance(statement, dict) or not isinstance(statement.get("stream"), str)
            or not isinstance(statement.get("event_id"), str)):
        raise CheckFailed(f"the leaf of entry {index} is not an entry record with a statement")
    return statement


def check_event(client: httpx.Client, receipt: dict[str, Any], vkey: str, current: tuple[int, bytes]) -> CheckedEvent:
    """Check a receipt offline against its own checkpoint, then against the log's current checkpoint.

    Requires the JSON of ``GET /v1/events/{event_id}/receipt``. Returns what the verified leaf says. Raises
    ``CheckFailed`` naming the step that failed: still pending (with the event and entry), a leaf that does not
    hash to its leaf hash, a checkpoint not signed by ``vkey``, an inclusion proof that does not lead to its root,
    another leaf hash published now at that index, a current log that does not extend the receipt's checkpoint,
    or an entry whose event id or stream differ from its leaf's.
    """
    entry = receipt["entry"]
    index = int(entry["index"])
    if receipt.get("status") != "checkpointed" or not receipt.get("checkpoint") or not receipt.get("inclusion"):
        raise CheckFailed(f"event {entry.get('event_id')} (entry {index}) is still pending: no checkpoint covers "
                          f"it yet; fetch the receipt again in a second")
    leaf = base64.b64decode(receipt["leaf"], validate=True)
    digest = leaf_hash(leaf)
    if base64.b64encode(digest).decode() != entry["leaf_hash"]:
        raise CheckFailed(f"the receipt's leaf does not hash to its leaf_hash (entry {index})")
    _, size, root = open_checkpoint(receipt["checkpoint"], vkey)
    proof = receipt["inclusion"]
    if (proof["index"], proof["tree_size"]) != (index, size):
        raise CheckFailed("the receipt's inclusion proof is for another index or tree size")
    if root_from_inclusion(index, size, digest, _b64_list(proof["hashes"])) != root:
        raise CheckFailed(f"the receipt's entry {index} is not in the tree its checkpoint signs")
    published = client.get(f"/v1/log/entries/{index}").raise_for_status().json()["leaf_hash"]
    if published != entry["leaf_hash"]:
        raise CheckFailed(f"the log now publishes another leaf hash at index {index}")
    _consistent(client, (size, root), current)
    statement = leaf_statement(leaf, index)
    for name in ("event_id", "stream"):
        if name in entry and entry[name] != statement[name]:
            raise CheckFailed(f"entry {index} says {name} {entry[name]!r} but its leaf says {statement[name]!r}")
    kind = statement.get("type")
    return CheckedEvent(index=index, event_id=statement["event_id"], stream=statement["stream"],
                        type=kind if isinstance(kind, str) else None)


def check_receipt(client: httpx.Client, receipt: dict[str, Any], vkey: str, current: tuple[int, bytes]) -> int:
    """``check_event`` for one receipt, returning the entry's index. Raises ``CheckFailed`` as it does."""
    return check_event(client, receipt, vkey, current).index


def check_receipts(client: httpx.Client, receipts: list[Any], vkey: str, current: tuple[int, bytes], *,
                   stream: str, report: Callable[[CheckedEvent], None] | None = None) -> list[CheckedEvent]:
    """Check receipts of events that must all be on ``stream``, in strictly increasing index order.

    Each receipt is checked as ``check_event`` does, then its leaf's stream is compared with ``stream``;
    ``report`` is called with each event as soon as it passes. Requires a non-empty list. Raises ``CheckFailed``
    naming the first receipt that fails, out of order, or on another stream.
    """
    if not receipts:
        raise CheckFailed("the document holds no receipts")
    checked: list[CheckedEvent] = []
    for position, receipt in enumerate(receipts):
        if not isinstance(receipt, dict) or not isinstance(receipt.get("entry"), dict):
            raise CheckFailed(f"receipts[{position}] is not a receipt")
        index = receipt["entry"].get("index")
        if checked and (not isinstance(index, int) or index <= checked[-1].index):
            raise CheckFailed(f"receipts are out of order: receipts[{position}] is entry {index}, after entry "
                              f"{checked[-1].index}")
        event = check_event(client, receipt, vkey, current)
        if event.stream != stream:
            raise CheckFailed(f"entry {event.index} ({event.event_id}) is on stream {event.stream!r}, "
                              f"not {stream!r}")
        checked.append(event)
        if report is not None:
            report(event)
    return checked


def is_servicing_receipt(document: Any) -> bool:
    """Whether a receipt file holds a servicing receipt (several events) rather than one event's receipt."""
    return isinstance(document, dict) and ("format" in document or "receipts" in document)


def check_servicing_receipt(client: httpx.Client, document: dict[str, Any], vkey: str, current: tuple[int, bytes],
                            *, report: Callable[[CheckedEvent], None] | None = None) -> list[CheckedEvent]:
    """Check a workflow receipt: every event of a servicing request (on the stream ``servicing:<request_id>``)
    or of a claim (on ``claim:<claim_id>``).

    Requires the JSON of ``GET /v1/servicing/{request_id}/receipt`` or ``GET /v1/claims/{claim_id}/receipt``;
    the ``vkey`` it carries is ignored, only the ``vkey`` given here is trusted. Raises ``ValueError`` for a
    document of another format or without its subject's id, and ``CheckFailed`` as ``check_receipts`` does.
    """
    form = WORKFLOW_FORMATS.get(str(document.get("format")))
    if form is None:
        raise ValueError(f"receipt format {document.get('format')!r} is not one of "
                         f"{', '.join(repr(name) for name in WORKFLOW_FORMATS)}")
    field, prefix, kind, _ = form
    subject = document.get(field)
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"the {kind} receipt has no {field}")
    receipts = document.get("receipts")
    if not isinstance(receipts, list):
        raise ValueError(f"the {kind} receipt has no list of receipts")
    return check_receipts(client, receipts, vkey, current, stream=f"{prefix}{subject}", report=report)


def _print_event(event: CheckedEvent) -> None:
    print(f"  entry {event.index} {event.type or '(type not in leaf)'} {event.event_id} ok")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="base URL of the log, e.g. http://127.0.0.1:8000")
    parser.add_argument("--vkey", help="the C2SP vkey you trust (default: the one the log publishes)")
    parser.add_argument("--entry", type=int, action="append", default=[], help="prove this entry is included")
    parser.add_argument("--receipt", type=Path, action="append", default=[],
                        help="a receipt (JSON) to check against its checkpoint and the current log")
    parser.add_argument("--since", type=Path, help="a checkpoint saved earlier that the current one must extend")
    parser.add_argument("--save", type=Path, help="write the current checkpoint to this file")
    args = parser.parse_args(argv)
    try:
        with httpx.Client(base_url=args.url, timeout=30) as client:
            vkey = args.vkey or client.get("/v1/log/key").raise_for_status().json()["vkey"]
            note = client.get("/v1/log/checkpoint").raise_for_status().text
            origin, size, root = open_checkpoint(note, vkey)
            print(f"checkpoint ok: {origin} size {size} root {base64.b64encode(root).decode()}")
            for index in args.entry:
                entry = client.get(f"/v1/log/entries/{index}").raise_for_status().json()
                digest = base64.b64decode(entry["leaf_hash"], validate=True)
                proof = client.get("/v1/log/proofs/inclusion", params={"index": index, "tree_size": size})
                path = _b64_list(proof.raise_for_status().json()["hashes"])
                if root_from_inclusion(index, size, digest, path) != root:
                    raise CheckFailed(f"entry {index} is not in the checkpointed tree")
                print(f"entry {index} ok: included in the tree of {size}")
            for path_ in args.receipt:
                receipt = json.loads(path_.read_text(encoding="utf-8"))
                if is_servicing_receipt(receipt):
                    field, _, kind, noun = WORKFLOW_FORMATS.get(str(receipt.get("format")),
                                                                WORKFLOW_FORMATS[SERVICING_FORMAT])
                    print(f"{kind} receipt {path_}: {noun} {receipt.get(field)} "
                          f"({receipt.get('operation') or receipt.get('claim_type', '')}, {receipt.get('status')})")
                    events = check_servicing_receipt(client, receipt, vkey, (size, root), report=_print_event)
                    print(f"{kind} receipt {path_} ok: {len(events)} events of {noun} {receipt[field]} "
                          f"are in their signed checkpoints and in the tree of {size}")
                    continue
                index = check_receipt(client, receipt, vkey, (size, root))
                print(f"receipt {path_} ok: entry {index} is in its signed checkpoint and in the tree of {size}")
            if args.since:
                _, old_size, old_root = open_checkpoint(args.since.read_text(encoding="utf-8"), vkey)
                _consistent(client, (old_size, old_root), (size, root))
                print(f"consistency ok: the tree of {size} extends the saved tree of {old_size}")
            if args.save:
                args.save.write_text(note, encoding="utf-8")
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except (httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
