#!/usr/bin/env python3
"""Verify a lifeledger evidence bundle, or a receipt, offline (and against the chain with ``--rpc``).

    python offline.py bundle.json [--vkey VKEY] [--rpc URL] [--anchor-contract ADDRESS] [--registry ADDRESS]
                                  [--json]

This file is the whole verifier: it needs Python 3.11+, ``cryptography`` and ``rfc8785``, and imports nothing
of lifeledger, so an auditor can copy it alone and read every line that decides the verdict. That is why it is
one file of more than the usual length. ``--rpc`` speaks Ethereum JSON-RPC with ``urllib`` (no web3).

What is checked, in this order (docs/FORMATS.md, "Evidence bundles", says it field by field):

1. format and version, then the shape: the file is read strictly (a key repeated in any object, NaN or Infinity
make it unusable) and every object of the format holds only the keys it may hold, each number an exact integer;
2. the manifest's digest of each section and its counts; 3. the verifier key (``--vkey``; without it the bundle's
own, and then everything holds only against that key: the verdict says so, naming its fingerprint); 4. the signed
checkpoint; 5. the key history: each key event's leaf, inclusion proof, ledger signature and opening, replayed in
log order; 6. every entry: leaf, leaf hash, the fields shown beside it, inclusion proof, and its Ed25519 signature
(strict: ``S < L``, canonical ``R`` and key, no small-order point) by the key valid at that position and within
that key's scope; 7. every payload opening against its salted hash, every personal part against the commitment its
facts name, each entry's ``opened`` marks against what it carries, and "erased" facts never on what the ledger
seals under its own subject; 8. the read record: the ledger's signed ``audit.trail.read`` of the read that made
the bundle, for this subject and auditor, after every entry (only then is the subject the bundle's, not a claim);
9. the story is whole: each of the subject's streams has seq 1..n with no gap and ends where the read record says,
no entry of another stream of the same kind is passed off as the subject's, ``recorded_at`` never goes back, every
entry the opened facts of those streams cite as their ``evidence`` (an index or a list of them) is in the bundle,
the entries and their openings are exactly the selection the read record commits to, the openings shown as
"erased" exactly those the record names as erased, and each signer's key history reaches the last seq the record
names; 10. the anchor: the anchored checkpoint's signature, the consistency proof between it and the bundle's
checkpoint, its ABI, the contract against ``--anchor-contract`` (given, it requires an anchor), and with ``--rpc``
``rootOf`` on the contract and the anchoring transaction's receipt; 11. documents: one item per digest the opened
``document.*`` entries name, citing exactly those entries, the ``documentStatus`` ABI, every registration to
``--registry`` (given, it requires them), and with ``--rpc`` each document's ``documentStatus`` ("ok" only when
every one was read on chain).

A receipt (``GET /v1/events/{id}/receipt``, or a ``lifeledger-claim-receipt/1`` / ``lifeledger-servicing-receipt/1``
document) is read as strictly and checked as a bundle of its events: checkpoints, leaves, inclusion proofs, the
ledger's signatures, the stream of the claim or request from seq 1 without a gap (its end is not proved: a receipt
carries no read record), and its anchor proof when it carries one.

Every string the file carries is shown escaped (a line break as ``\\n``, a terminal control as ``\\x1b``).

Exit status: 0 when everything checked passes; 1 when a check fails (one line on stderr names it, after the
report); 2 when nothing can be decided: bad usage or a bad trusted input (``--vkey``, an address), a file that is
unreadable (a directory), not strict JSON, of no format this verifier knows or not of its format's shape, a chain
that cannot be reached or answers nonsense, or anything unexpected (always one line, never a traceback; with
``--json`` stdout still holds ``{"ok": false, "error": ...}``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_FORMAT = "lifeledger-evidence-bundle/1"
BUNDLE_FAMILY = "lifeledger-evidence-bundle/"
CLAIM_RECEIPT = "lifeledger-claim-receipt/1"
SERVICING_RECEIPT = "lifeledger-servicing-receipt/1"
# A workflow receipt's format -> (the field naming its subject, the stream every event of it is on, the noun, the
# field describing it that nothing in the receipt proves)
WORKFLOW_RECEIPTS = {CLAIM_RECEIPT: ("claim_id", "claim:", "claim", "claim_type"),
                     SERVICING_RECEIPT: ("request_id", "servicing:", "servicing request", "operation")}
SECTIONS = ("ledger", "checkpoint", "entries", "keys", "anchor", "documents")
COUNTS = ("entries", "key_events", "documents", "opened_facts", "opened_personal", "erased")
LEDGER_KEY_ID = "ledger"  # entries signed by the ledger itself: the key is the checkpoint vkey's key
READ_TYPE = "audit.trail.read"  # the ledger's record of the read that made a bundle (docs/FORMATS.md)
READ_WHAT = "bundle"
AUDIT_PREFIX = "audit:"  # the stream of an auditor's grants and reads: audit:<auditor>
LEDGER_SUBJECT = "ledger"  # the data subject key events are sealed under
# Streams only the ledger writes (systems are refused there). The ledger seals the facts of every event it signs
# under its own data subject, whose key is never destroyed: their facts can never be "erased".
LEDGER_STREAM_KINDS = frozenset({"ledger", "system", "document", "contract", "party", "catalog", "servicing",
                                 "claim", "audit"})
KEY_REGISTERED, KEY_ROTATED = "ledger.key.registered", "ledger.key.rotated"
KEY_REVOKED, KEY_SCOPED = "ledger.key.revoked", "ledger.key.scope_changed"
KEY_EVENTS = (KEY_REGISTERED, KEY_ROTATED, KEY_REVOKED, KEY_SCOPED)
DOCUMENT_PREFIX = "document."
PERSONAL_FIELD = "personal"
ERASED = "erased"
FACTS, PERSONAL = "facts", "personal"  # an entry's two openings, as its "opened" marks and the read record say
ENTRY_FIELDS = ("event_id", "type", "stream", "seq", "recorded_at", "key_id")
STATEMENT_FIELDS = {"v", "event_id", "type", "stream", "occurred_at", "payload_hash", "seq"}
RECORD_FIELDS = {"v", "statement", "key_id", "signature", "seq", "recorded_at"}
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")

# Solidity selectors and the anchor event's topic: keccak-256 of the signatures, written out because hashlib's
# sha3_256 is not Ethereum's keccak; tests/ledger/verify/test_offline_chain.py holds them to the compiled ABI.
ROOT_OF_SELECTOR = "9d7384d9"  # rootOf(uint64) -> (bytes32 root, uint64 blockNumber)
DOCUMENT_STATUS_SELECTOR = "e530656c"  # documentStatus(bytes32) -> (uint8 status, uint8 kind, bytes32 subject, ...)
CHECKPOINT_ANCHORED_TOPIC = "0xcbe02ac536ca3dfadc53401db0bf25525f8b304f3c4e8824d719b6e55f8c5188"
DOCUMENT_STATUSES = {0: "unknown", 1: "valid", 2: "superseded", 3: "revoked"}
RPC_TIMEOUT = 15.0
RPC_MAX_BYTES = 16 * 1024 * 1024


class Failed(Exception):
    """A check failed; the message names the element (entry, proof, signature, section) that is wrong."""


class Unusable(Exception):
    """Nothing can be decided: a bad trusted input, a file that is not strict JSON or not of the format's shape, a
    chain that does not answer or answers nonsense, or an unexpected error."""


def one_line(text: str, *, limit: int | None = 2000) -> str:
    """``text`` on one line (a message for stderr), every character a terminal could act on escaped
    (``printable``: a line break shows as ``\\n``), cut at ``limit`` characters (None: never)."""
    flat = printable(text)
    return flat if limit is None or len(flat) <= limit else flat[:limit - 3] + "..."


def _unsafe(char: str) -> bool:
    """Whether a terminal or a reader could take ``char`` for something else than text: controls (line breaks,
    ESC, DEL, C1), format characters (bidirectional overrides, zero-width), line and paragraph separators, lone
    surrogates, private-use and unassigned code points. Spaces (an ideographic space too) are text."""
    return not char.isprintable() and unicodedata.category(char) != "Zs"


def _escaped(char: str) -> str:
    code = ord(char)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character ``_unsafe`` escaped as Python writes it (``\\n``, ``\\x1b``, ``\\u202e``):
    whatever a bundle holds is shown, on its line, and can neither start a line of its own, move the cursor nor
    reorder what follows."""
    if text.isprintable():
        return text
    return "".join(_escaped(char) if _unsafe(char) else char for char in text)


def json_text(value: Any) -> str:
    """``value`` as indented JSON in which every ``_unsafe`` character is written as a ``\\u`` escape (the
    standard library leaves DEL, C1 controls, format characters and lone surrogates as they are)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if not _unsafe(char):
            return char
        code = ord(char)
        if code < 0x10000:
            return f"\\u{code:04x}"
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

    return _NOT_ASCII.sub(escape, text)


_NOT_ASCII = re.compile(r"[^\x00-\x7e]")


# --- the report --------------------------------------------------------------------------------------------


@dataclass
class Check:
    """One named check and how it came out: ``ok``, ``failed`` or ``not checked`` (with why)."""

    name: str
    status: str
    detail: str


@dataclass
class Report:
    """What was checked, what it covered, what it did not prove, and the first failure if any.

    ``subject`` is set once the ledger's signed record of the read (a receipt: its whole stream) showed whose
    story it is; until then the file's own words are ``claimed``. ``key_trusted`` is False when no ``--vkey`` was
    given: everything was checked against the key the file carries (``key``: its name and fingerprint)."""

    kind: str = ""
    subject: str = ""
    claimed: str = ""
    key_trusted: bool = True
    key: str = ""
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failure: Check | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def not_checked(self) -> list[str]:
        return [check.name for check in self.checks if check.status == "not checked"]

    def passed(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, "ok", detail))

    def skipped(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, "not checked", detail))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "kind": self.kind, "subject": self.subject, "claimed_subject": self.claimed,
                "key_trusted": self.key_trusted, "key": self.key, "facts": self.facts, "notes": self.notes,
                "checks": [vars(c) for c in self.checks], "not_checked": self.not_checked,
                "failure": None if self.failure is None else vars(self.failure)}

    def text(self) -> str:
        """The report for a terminal: one line per fact, check and note, every string from the file escaped
        (``printable``), so nothing in it can make a line of its own."""
        if self.subject:
            lines = [f"{self.kind}: {self.subject}"]
        elif self.claimed:
            lines = [f"{self.kind}: claimed subject {self.claimed} (not proved: the checks stopped before the one "
                     f"that proves whose story it is)"]
        else:
            lines = [self.kind]
        for name, value in self.facts.items():
            lines.append(f"  {name}: {value}")
        lines.append("checks:")
        for check in self.checks:
            mark = {"ok": "ok    ", "failed": "FAILED", "not checked": "--    "}.get(check.status, check.status)
            lines.append(f"  {mark} {check.name}: {check.detail}")
        lines.extend(f"note: {note}" for note in self.notes)
        lines.append(self.verdict())
        return "\n".join(printable(line) for line in lines) + "\n"

    def verdict(self) -> str:
        """The last line: the first failure, or what holds, against which key, and what was not checked."""
        if self.failure is not None:
            return f"verdict: FAILED at {self.failure.name}: {self.failure.detail}"
        holds = "verdict: everything checked holds"
        if not self.key_trusted:
            holds += (f" against the key the file carries ({self.key}), which nothing here ties to the ledger: "
                      f"compare it with the key the ledger publishes (GET /v1/log/key) or pass --vkey")
        others = [name for name in self.not_checked if self.key_trusted or name != "verifier key"]
        return holds + (f"; not checked: {', '.join(others)}" if others else "")


def fingerprint(key: VerifierKey) -> str:
    """How the report names a verifier key: its name, and ``sha256:<hex>`` of its raw public key."""
    return f"{key.name}, fingerprint {digest_str(sha256(key.public_key))}"


# --- encodings ---------------------------------------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest_str(data: bytes) -> str:
    return "sha256:" + data.hex()


_OUTSIDE_BMP = re.compile("[\U00010000-\U0010FFFF\ud800-\udfff]")
MAX_EXACT = 2**53 - 1


def _plain(value: Any) -> bool:
    """Objects with string keys, arrays, strings, booleans, null and integers JCS carries exactly: no floats."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > MAX_EXACT:
                return False
        elif not (item is None or isinstance(item, (str, bool))):
            return False
    return True


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical bytes; raises ``Failed`` for a value JCS cannot carry.

    For plain values (``_plain``) whose strings stay within the Basic Multilingual Plane, the standard library's
    encoder with sorted keys writes exactly the JCS bytes (the same escapes; code point order is UTF-16 order
    there) and is many times faster; anything else goes to the ``rfc8785`` encoder.
    """
    if _plain(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if not _OUTSIDE_BMP.search(text):
            return text.encode("utf-8")
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise Failed(f"a value cannot be put in RFC 8785 canonical form: {exc}") from exc


def unb64(value: Any, what: str, *, size: int | None = None) -> bytes:
    """Standard padded base64, canonical (no stray bits), optionally of ``size`` bytes; else ``Failed``."""
    if not isinstance(value, str):
        raise Failed(f"{what} is not a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Failed(f"{what} is not standard base64") from exc
    if base64.b64encode(raw).decode() != value:
        raise Failed(f"{what} is not canonical base64")
    if size is not None and len(raw) != size:
        raise Failed(f"{what} is {len(raw)} bytes, not {size}")
    return raw


def hashes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise Failed(f"{what} is not a list of hashes")
    return [unb64(item, f"{what}[{n}]", size=32) for n, item in enumerate(value)]


def need(mapping: Any, name: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``mapping[name]`` if ``mapping`` is an object holding a ``kind`` there; else ``Failed`` naming ``what``."""
    if not isinstance(mapping, dict):
        raise Failed(f"{what} is not an object")
    value = mapping.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise Failed(f"{what}.{name} is missing or not {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def commitment(*, salt: bytes, payload: Any, data_subject: str | None) -> bytes:
    """``SHA-256(salt || JCS({"data_subject", "payload"}))``; version 1 statements (no subject): ``SHA-256(salt ||
    JCS(payload))``."""
    if data_subject is None:
        return sha256(salt + jcs(payload))
    return sha256(salt + jcs({"data_subject": data_subject, "payload": payload}))


# --- reading strictly: repeated keys and the format's shape ------------------------------------------------


class _Repeated(dict[str, Any]):
    """An object in which a key appears more than once (``repeated``: the first such key)."""

    repeated = ""


def loads(data: bytes | str, *, what: str) -> Any:
    """Parse JSON strictly: bytes that are not UTF-8, NaN or Infinity, or a key repeated in any object (two readers
    could take different values) make it ``Unusable``, naming the path of the object that repeats the key."""
    repeats: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(items)
        if len(built) == len(items):
            return built
        marked = _Repeated(built)
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                marked.repeated = key
                break
            seen.add(key)
        repeats.append(True)
        return marked

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Unusable(f"{what} is not a JSON document: {exc}") from exc
    if repeats:
        path, key = _first_repeated(value)
        raise Unusable(f"{what} repeats the key {key!r} in {path}: a reader could take either value")
    return value


def _first_repeated(value: Any) -> tuple[str, str]:
    stack: list[tuple[str, Any]] = [("the document", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Repeated):
            return path, item.repeated
        if isinstance(item, dict):
            stack.extend(reversed([(_child(path, key), inner) for key, inner in item.items()]))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{n}]", inner) for n, inner in enumerate(item)]))
    return "the document", ""


def _child(path: str, key: str) -> str:
    return key if path in ("the document", "bundle", "receipt") else f"{path}.{key}"


@dataclass(frozen=True)
class Obj:
    """A JSON object holding exactly the ``required`` keys and any of the ``optional`` ones, nothing else."""

    required: Mapping[str, Spec]
    optional: Mapping[str, Spec] = field(default_factory=dict)


@dataclass(frozen=True)
class Arr:
    """A JSON array of ``item``."""

    item: Spec


@dataclass(frozen=True)
class Either:
    """One of ``options``, told apart by JSON type (an object, a string, null)."""

    options: tuple[Spec, ...]


@dataclass(frozen=True)
class Tagged:
    """An object whose ``key`` (a string) says which of ``variants`` it is."""

    key: str
    variants: Mapping[str, Obj]


@dataclass(frozen=True)
class Const:
    """Exactly this string."""

    value: str


# "int": an exact integer 0..2**53-1 (no bool, no float); "str", "bool", "null"; "any": any JSON (a payload).
Spec: TypeAlias = Obj | Arr | Either | Tagged | Const | str

OPENING = Obj({"payload": "any", "salt": "str", "data_subject": "str"})
MAYBE_ERASED = Either((OPENING, Const(ERASED)))
INCLUSION = Obj({"tree_size": "int", "hashes": Arr("str")})
LEAF_FIELDS: dict[str, Spec] = {"index": "int", "leaf": "str", "leaf_hash": "str", "event_id": "str", "type": "str",
                                "stream": "str", "seq": "int", "recorded_at": "str", "key_id": "str",
                                "inclusion": INCLUSION}
ENTRY = Obj({**LEAF_FIELDS, "reason": "str", "opened": Obj({"facts": "bool", "personal": "bool"})},
            {"facts": MAYBE_ERASED, "personal": MAYBE_ERASED})
KEY_EVENT = Obj({**LEAF_FIELDS, "opening": OPENING})
ABI_PARAM = Obj({"type": "str"}, {"name": "str", "internalType": "str", "indexed": "bool", "components": "any"})
ABI_ITEM = Obj({"type": "str"}, {"name": "str", "inputs": Arr(ABI_PARAM), "outputs": Arr(ABI_PARAM),
                                 "stateMutability": "str", "anonymous": "bool"})
MANIFEST = Obj({"format": Const(BUNDLE_FORMAT), "generated_at": "str", "generated_for": "str",
                "subject": Obj({"kind": "str", "id": "str", "streams": Arr("str")}),
                "grant": Obj({"openings": Arr("str"), "medical_types": Arr("str"), "grants": Arr("str"),
                              "recorded_as": "int"}),
                "counts": Obj({name: "int" for name in COUNTS}),
                "sections": Obj({name: "str" for name in SECTIONS})})
ANCHORED = Obj({"status": "str", "tree_size": "int", "root": "str", "checkpoint": "str",
                "consistency": Obj({"first": "int", "second": "int", "hashes": Arr("str")}), "chain_id": "int",
                "contract": "str", "tx_hash": "str", "block_number": "int", "confirmations": "int",
                "abi": Arr(ABI_ITEM)})
NOT_ANCHORED = Obj({"status": "str"})
REGISTRATION = Obj({"op": "str", "status": "str", "chain_id": Either(("int", "null")),
                    "contract": Either(("str", "null")), "tx_hash": Either(("str", "null")),
                    "block_number": Either(("int", "null")), "confirmations": "int"})
RECORDED = Obj({"status": "str", "kind": "int", "version": "int", "subject": "str", "registered_index": "int",
                "changed_index": "int"})
DOCUMENT = Obj({"digest": "str", "entries": Arr("int"), "recorded": Either((RECORDED, "null")),
                "registrations": Arr(REGISTRATION)})
BUNDLE = Obj({"format": Const(BUNDLE_FORMAT), "manifest": MANIFEST,
              "ledger": Obj({"origin": "str", "vkey": "str", "key_id": "str"}),
              "checkpoint": Obj({"tree_size": "int", "note": "str"}),
              "entries": Arr(ENTRY),
              "keys": Obj({"ledger_key_id": "str", "events": Arr(KEY_EVENT)}),
              "anchor": Tagged("status", {"anchored": ANCHORED, "pending": NOT_ANCHORED, "off": NOT_ANCHORED}),
              "documents": Obj({"abi": Arr(ABI_ITEM), "items": Arr(DOCUMENT)})})

# Receipts (GET /v1/events/{id}/receipt, and the claim and servicing receipts that list one per event)
PROOF = Obj({"index": "int", "tree_size": "int", "hashes": Arr("str")})
RECEIPT_ENTRY = Obj({"index": "int", "event_id": "str", "stream": "str", "seq": "int", "leaf_hash": "str",
                     "recorded_at": "str", "duplicate": "bool", "receipt_url": "str"})
EVENT_RECEIPT = Tagged("status", {
    "checkpointed": Obj({"status": "str", "entry": RECEIPT_ENTRY, "leaf": "str", "checkpoint": "str",
                         "inclusion": PROOF}),
    "pending": Obj({"status": "str", "entry": RECEIPT_ENTRY, "leaf": "str", "checkpoint": "null",
                    "inclusion": "null"})})
ANCHOR_JOB = Obj({"tree_size": "int", "root": "str", "status": "str", "chain_id": "int", "contract": "str",
                  "tx_hash": Either(("str", "null")), "block_number": Either(("int", "null")),
                  "confirmations": "int", "attempts": "int", "last_error": Either(("str", "null")),
                  "created_at": "str", "sent_at": Either(("str", "null")), "confirmed_at": Either(("str", "null"))})
ANCHOR_PROOF = Tagged("status", {
    "anchored": Obj({"status": "str", "index": "int", "leaf_hash": "str", "checkpoint": "str", "inclusion": PROOF,
                     "consistency": Obj({"first": "int", "second": "int", "hashes": Arr("str")}),
                     "anchored_checkpoint": "str", "anchored_inclusion": PROOF, "anchor": ANCHOR_JOB},
                    {"leaf": Either(("str", "null"))}),
    "pending": Obj({"status": "str", "index": "int", "see": "str"})})
WORKFLOW_RECEIPT: dict[str, Spec] = {"origin": "str", "vkey": "str", "status": "str",
                                     "receipts": Arr(EVENT_RECEIPT), "anchor": ANCHOR_PROOF}
RECEIPT_SHAPES: dict[str, Obj] = {
    CLAIM_RECEIPT: Obj({"format": Const(CLAIM_RECEIPT), "claim_id": "str", "claim_type": "str",
                        **WORKFLOW_RECEIPT}),
    SERVICING_RECEIPT: Obj({"format": Const(SERVICING_RECEIPT), "request_id": "str", "operation": "str",
                            **WORKFLOW_RECEIPT}),
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "bool": (bool,), "null": (type(None),)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_EXACT


def _accepts(spec: Spec, value: Any) -> bool:
    """Whether ``value`` is of the JSON type ``spec`` wants (not yet whether it is well-formed inside)."""
    if isinstance(spec, (Obj, Tagged)):
        return isinstance(value, dict)
    if isinstance(spec, Arr):
        return isinstance(value, list)
    if isinstance(spec, Const):
        return isinstance(value, str)
    if isinstance(spec, Either):
        return any(_accepts(option, value) for option in spec.options)
    if spec == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return spec == "any" or isinstance(value, _JSON_TYPES[spec])


def _wanted(spec: Spec) -> str:
    if isinstance(spec, (Obj, Tagged)):
        return "an object"
    if isinstance(spec, Arr):
        return "a list"
    if isinstance(spec, Const):
        return repr(spec.value)
    if isinstance(spec, Either):
        return " or ".join(_wanted(option) for option in spec.options)
    return {"int": "an exact integer (0 to 2**53-1; not a float, not true/false)", "str": "a string",
            "bool": "true or false", "null": "null", "any": "any JSON value"}[spec]


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def check_shape(value: Any, spec: Spec, path: str) -> None:
    """Raise ``Unusable`` naming the first place (``entries[3].inclusion``) where ``value`` is not of ``spec``: a
    key not allowed there, a key missing, a value of another JSON type, a number that is not an exact integer."""
    stack: list[tuple[Any, Spec, str]] = [(value, spec, path)]
    while stack:
        item, want, where = stack.pop()
        asked = want
        if isinstance(want, Either):
            want = next((option for option in want.options if _accepts(option, item)), want)
        if not _accepts(want, item) or (want == "int" and not _is_int(item)) or (
                isinstance(want, Const) and item != want.value):
            raise Unusable(f"{where} is {_shown(item)}, not {_wanted(asked)}")
        if isinstance(want, Tagged):
            tag = item.get(want.key)
            if not isinstance(tag, str) or tag not in want.variants:
                raise Unusable(f"{_child(where, want.key)} is {_shown(tag)}, not one of "
                               f"{', '.join(map(repr, want.variants))}")
            want = want.variants[tag]
        if isinstance(want, Obj):
            for key in item:
                if key not in want.required and key not in want.optional:
                    allowed = ", ".join([*want.required, *want.optional])
                    raise Unusable(f"{where} holds the key {key!r}, which the format does not have there (allowed: "
                                   f"{allowed})")
            missing = [key for key in want.required if key not in item]
            if missing:
                raise Unusable(f"{where} lacks {', '.join(map(repr, missing))}")
            inner = [(item[key], sub, _child(where, key)) for key, sub in {**want.required, **want.optional}.items()
                     if key in item]
            stack.extend(reversed(inner))
        elif isinstance(want, Arr):
            stack.extend(reversed([(inner, want.item, f"{where}[{n}]") for n, inner in enumerate(item)]))


# --- Ed25519, strictly -------------------------------------------------------------------------------------
# OpenSSL (through cryptography) takes any 32 bytes as a key and any canonical R. A small-order key lets a
# "signature" verify without any private key, and a non-canonical encoding is read differently by different
# verifiers; so keys and signatures are classified here first (RFC 8032 arithmetic on plain integers: only public
# values are handled, so nothing needs to be constant-time).

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]  # extended coordinates X, Y, Z, T with x = X/Z, y = Y/Z, xy = T/Z
_ZERO: _Point = (0, 1, 1, 0)


def _add(a: _Point, b: _Point) -> _Point:
    """RFC 8032 §5.1.4 point addition (complete: it also doubles and handles the identity)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    m, n = (y1 - x1) * (y2 - x2) % _P, (y1 + x1) * (y2 + x2) % _P
    c, d = t1 * 2 * _D * t2 % _P, z1 * 2 * z2 % _P
    e, f, g, h = n - m, d - c, d + c, n + m
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _times(point: _Point, k: int) -> _Point:
    out = _ZERO
    while k:
        if k & 1:
            out = _add(out, point)
        point, k = _add(point, point), k >> 1
    return out


def _is_zero(point: _Point) -> bool:
    return point[0] % _P == 0 and (point[1] - point[2]) % _P == 0


def _point(raw: bytes) -> _Point | None:
    """The point a canonical 32-byte encoding names, or None when it is not canonical or not on the curve."""
    value = int.from_bytes(raw, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    if y >= _P:
        return None
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P:
        x = x * _SQRT_M1 % _P
        if (v * x * x - u) % _P:
            return None
    if x == 0 and sign:
        return None  # x = 0 has no sign to set: a second encoding of the same point
    if x & 1 != sign:
        x = _P - x
    return x, y, 1, x * y % _P


def _encode(point: _Point) -> bytes:
    x, y, z, _ = point
    zi = pow(z, -1, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


_SMALL_ORDER: set[bytes] = set()


def small_order_encodings() -> set[bytes]:
    """The 8 encodings of points whose order divides 8: [L]Q of a point Q of full order 8L generates them."""
    if not _SMALL_ORDER:
        for y in range(2, 200):
            found = _point(y.to_bytes(32, "little"))
            if found is None:
                continue
            torsion = _times(found, _L)
            orbit, current = set(), _ZERO
            for _ in range(8):
                orbit.add(_encode(current))
                current = _add(current, torsion)
            if len(orbit) == 8:
                _SMALL_ORDER.update(orbit)
                break
        if len(_SMALL_ORDER) != 8:
            raise RuntimeError("the curve arithmetic found no point of order 8")
    return _SMALL_ORDER


_GOOD_KEYS: dict[bytes, str | None] = {}


def key_problem(raw: bytes) -> str | None:
    """None for an acceptable Ed25519 public key, else why not: not 32 bytes, not canonical, off the curve, of
    small order, or outside the prime-order subgroup (the last needs a scalar multiplication; kept per key)."""
    if raw in _GOOD_KEYS:
        return _GOOD_KEYS[raw]
    problem: str | None = None
    point = _point(raw) if len(raw) == 32 else None
    if len(raw) != 32:
        problem = f"not 32 bytes (got {len(raw)})"
    elif point is None:
        problem = "not a canonical encoding of a curve point"
    elif raw in small_order_encodings():
        problem = "a small-order point"
    elif not _is_zero(_times(point, _L)):
        problem = "not in the prime-order subgroup"
    _GOOD_KEYS[raw] = problem
    return problem


def check_signature(*, public_key: bytes, signature: bytes, data: bytes, what: str) -> None:
    """Strict Ed25519: the key as ``key_problem`` wants it, a 64-byte signature with ``S < L`` and a canonical
    ``R`` not of small order, then the equation (OpenSSL). Raises ``Failed`` naming ``what``."""
    problem = key_problem(public_key)
    if problem is not None:
        raise Failed(f"{what}: the public key is weak ({problem}); a signature by it proves nothing")
    if len(signature) != 64:
        raise Failed(f"{what}: a signature is 64 bytes, got {len(signature)}")
    r, s = signature[:32], signature[32:]
    if int.from_bytes(s, "little") >= _L:
        raise Failed(f"{what}: the signature is malleable (S >= L)")
    if _point(r) is None or r in small_order_encodings():
        raise Failed(f"{what}: the signature's R is not a canonical point of large order")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except InvalidSignature as exc:
        raise Failed(f"{what}: the signature does not verify") from exc


# --- RFC 9162 Merkle proofs --------------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_from_inclusion(*, index: int, size: int, leaf_digest: bytes, path: Sequence[bytes]) -> bytes:
    """The root an inclusion path (bottom-up, RFC 9162 §2.1.3) leads to. Raises ``Failed`` for an index outside
    the tree or a path of the wrong length."""
    if not 0 <= index < size:
        raise Failed(f"index {index} is outside a tree of {size} entries")
    remaining = list(path)

    def walk(i: int, n: int) -> bytes:
        if n == 1:
            return leaf_digest
        if not remaining:
            raise Failed("the inclusion proof is too short")
        sibling = remaining.pop()  # the top of the path is its last hash
        k = _split(n)
        return _node(walk(i, k), sibling) if i < k else _node(sibling, walk(i - k, n - k))

    root = walk(index, size)
    if remaining:
        raise Failed("the inclusion proof is too long")
    return root


def check_consistency(*, first: int, second: int, first_root: bytes, second_root: bytes,
                      proof: Sequence[bytes]) -> None:
    """Raise ``Failed`` unless ``proof`` (RFC 9162 §2.1.4) shows the tree of ``second`` entries extends the tree
    of ``first`` entries with these roots."""
    if not 0 < first <= second:
        raise Failed(f"trees of {first} and {second} entries cannot be consistent")
    remaining = list(proof)

    def walk(m: int, n: int, whole: bool) -> tuple[bytes, bytes]:
        if m == n:
            if whole:
                return first_root, first_root
            if not remaining:
                raise Failed("the consistency proof is too short")
            known = remaining.pop()
            return known, known
        if not remaining:
            raise Failed("the consistency proof is too short")
        sibling = remaining.pop()
        k = _split(n)
        if m <= k:
            old, new = walk(m, k, whole)
            return old, _node(new, sibling)
        old, new = walk(m - k, n - k, False)
        return _node(sibling, old), _node(sibling, new)

    old, new = walk(first, second, True)
    if remaining:
        raise Failed("the consistency proof is too long")
    if old != first_root or new != second_root:
        raise Failed(f"the tree of {second} entries does not extend the tree of {first}")


# --- signed notes and checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    """A C2SP vkey: key name, 4-byte key id, raw Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: Any) -> VerifierKey:
        """Parse ``<name>+<8 hex>+<base64(0x01 || key)>``; raises ``Failed`` for anything else or a weak key."""
        if not isinstance(text, str) or text.count("+") < 2:
            raise Failed("the verifier key is not a C2SP vkey (<name>+<hex id>+<base64 key>)")
        name, hex_id, encoded = text.split("+", 2)
        raw = unb64(encoded, "the verifier key's key", size=33)
        if not name or any(c.isspace() or c < " " for c in name) or raw[0] != 0x01:
            raise Failed("the verifier key is not an Ed25519 vkey with a valid name")
        key_id = sha256(name.encode() + b"\n" + raw)[:4]
        if key_id.hex() != hex_id:
            raise Failed("the verifier key's id does not match its name and key")
        problem = key_problem(raw[1:])
        if problem is not None:
            raise Failed(f"the verifier key is weak ({problem})")
        return cls(name=name, key_id=key_id, public_key=raw[1:])


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def open_checkpoint(note: Any, key: VerifierKey, *, what: str) -> Checkpoint:
    """Verify a C2SP signed note with ``key`` and parse its tlog-checkpoint body strictly. Raises ``Failed``."""
    if not isinstance(note, str) or not note.endswith("\n") or "\n\n" not in note:
        raise Failed(f"{what} is not a signed note")
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    signed: list[tuple[str, str]] = []
    for number, line in enumerate(signatures[:-1].split("\n"), start=1):
        prefix, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if prefix != "\u2014" or not name or not encoded or " " in encoded:
            raise Failed(f"{what}'s signature line {number} is not '\u2014 <key name> <signature>' (C2SP "
                         f"signed-note)")
        signed.append((name, encoded))
    for name, encoded in signed:  # all well-formed first: nothing may follow the signatures
        if name != key.name:
            continue  # another verifier's signature
        raw = unb64(encoded, f"{what}'s signature line")
        if raw[:4] != key.key_id:
            continue
        check_signature(public_key=key.public_key, signature=raw[4:], data=body.encode(), what=what)
        lines = body.split("\n")[:-1]
        if len(lines) != 3 or not lines[1].isascii() or not lines[1].isdigit() or (
                lines[1] != "0" and lines[1].startswith("0")):
            raise Failed(f"{what}'s body is not <origin>\\n<size>\\n<root>\\n")
        return Checkpoint(origin=lines[0], size=int(lines[1]), root=unb64(lines[2], f"{what}'s root", size=32))
    raise Failed(f"{what} carries no signature by {key.name} with key id {key.key_id.hex()}")


# --- leaves ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """What an entry record (leaf) says."""

    index: int
    raw: bytes
    statement: dict[str, Any]
    statement_bytes: bytes
    key_id: str
    signature: bytes
    seq: int
    recorded_at: str

    @property
    def event_id(self) -> str:
        return str(self.statement["event_id"])

    @property
    def type(self) -> str:
        return str(self.statement["type"])

    @property
    def stream(self) -> str:
        return str(self.statement["stream"])

    @property
    def version(self) -> int:
        return int(self.statement.get("v", 1))

    @property
    def payload_hash(self) -> str:
        return str(self.statement["payload_hash"])

    def field(self, name: str) -> Any:
        return {"event_id": self.event_id, "type": self.type, "stream": self.stream, "seq": self.seq,
                "recorded_at": self.recorded_at, "key_id": self.key_id}[name]


def parse_leaf(raw: bytes, index: int) -> Leaf:
    """Parse leaf bytes: RFC 8785 JSON of a version 1 entry record with a statement. Raises ``Failed``."""
    what = f"entry {index}'s leaf"
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Failed(f"{what} is not JSON") from exc
    if not isinstance(record, dict) or set(record) != RECORD_FIELDS or record["v"] != 1:
        raise Failed(f"{what} is not a version 1 entry record")
    if jcs(record) != raw:
        raise Failed(f"{what} is not in RFC 8785 canonical form")
    statement = record["statement"]
    if not isinstance(statement, dict) or not set(statement) <= STATEMENT_FIELDS or not all(
            isinstance(statement.get(name), str) for name in ("event_id", "type", "stream", "payload_hash")):
        raise Failed(f"{what} holds no well-formed statement")
    if statement.get("v", 1) not in (1, 2) or not statement["payload_hash"].startswith("sha256:"):
        raise Failed(f"{what} holds a statement of an unknown version")
    seq = record["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not isinstance(record["key_id"], str) \
            or not isinstance(record["recorded_at"], str):
        raise Failed(f"{what} has a malformed seq, key_id or recorded_at")
    if statement.get("seq") not in (None, seq):
        raise Failed(f"{what}: the statement expected seq {statement['seq']} but the ledger recorded {seq}")
    return Leaf(index=index, raw=raw, statement=statement, statement_bytes=jcs(statement), key_id=record["key_id"],
                signature=unb64(record["signature"], f"{what}'s signature", size=64), seq=seq,
                recorded_at=record["recorded_at"])


def check_shown_fields(shown: dict[str, Any], leaf: Leaf, names: Sequence[str]) -> None:
    """The fields written beside a leaf must be the leaf's own (a reader trusts them at a glance)."""
    for name in names:
        if name in shown and shown[name] != leaf.field(name):
            raise Failed(f"entry {leaf.index} shows {name} {shown[name]!r} but its leaf says {leaf.field(name)!r}")


# --- key history -------------------------------------------------------------------------------------------


@dataclass
class KeyLife:
    """A system key as its key events made it: valid for entries after ``start`` and before ``end``."""

    key_id: str
    owner: str
    public_key: bytes
    start: int
    end: int | None = None
    ended_by: str = ""
    scopes: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)  # (from index, scope)

    def scope_at(self, index: int) -> dict[str, Any] | None:
        current: dict[str, Any] | None = None
        for since, scope in self.scopes:
            if since < index:
                current = scope
        return current


def scope_allows(scope: dict[str, Any] | None, *, type: str, stream: str) -> bool:
    """A key's scope (``{"types", "streams"}``; None for keys registered before scopes) allows this write."""
    if scope is None:
        return True
    kind = stream.split(":", 1)[0]
    streams, types = scope.get("streams", []), scope.get("types", [])
    if not ("*" in streams or kind in streams):
        return False
    return any(p == "*" or p == type or (p.endswith(".*") and type.startswith(p[:-1])) for p in types)


class KeyHistory:
    """Replays key events in log order, as the ledger did; each must be a change the state allows."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyLife] = {}

    def apply(self, index: int, type: str, stream: str, payload: Any) -> None:
        where = f"key event at entry {index}"
        if not isinstance(payload, dict) or not isinstance(payload.get("key_id"), str):
            raise Failed(f"{where} has no key_id in its payload")
        key_id = payload["key_id"]
        if type in (KEY_REVOKED, KEY_SCOPED):
            life = self.keys.get(key_id)
            if life is None or life.ended_by.endswith("revoked") or (type == KEY_SCOPED and life.end is not None):
                raise Failed(f"{where} changes key {key_id!r}, which is not an active key there")
            if type == KEY_SCOPED:
                life.scopes.append((index, _scope(payload.get("scope"), where)))
            else:
                if life.end is None:
                    life.end, life.ended_by = index, "revoked"
                else:
                    life.ended_by += ", then revoked"
            return
        owner = payload.get("owner")
        if key_id == LEDGER_KEY_ID or key_id in self.keys:
            raise Failed(f"{where} registers key id {key_id!r}, which is taken")
        if not isinstance(owner, str) or stream != f"system:{owner}":
            raise Failed(f"{where} registers a key of {owner!r} on stream {stream!r}")
        public_key = unb64(payload.get("public_key"), f"{where}'s public_key", size=32)
        problem = key_problem(public_key)
        if problem is not None:
            raise Failed(f"{where} registers key {key_id!r} with a weak public key ({problem})")
        scope = _scope(payload["scope"], where) if "scope" in payload else None
        if type == KEY_ROTATED:
            old = self.keys.get(str(payload.get("replaces")))
            if old is None or old.end is not None or old.owner != owner:
                raise Failed(f"{where} rotates {payload.get('replaces')!r}, not an active key of {owner!r}")
            old.end, old.ended_by = index, f"rotated to {key_id}"
            if "scope" not in payload:
                scope = old.scope_at(index + 1)
        self.keys[key_id] = KeyLife(key_id=key_id, owner=owner, public_key=public_key, start=index,
                                    scopes=[(index, scope)])

    def key_for(self, leaf: Leaf) -> bytes:
        """The public key that may sign ``leaf`` at its position, within its scope; else ``Failed``."""
        life = self.keys.get(leaf.key_id)
        where = f"entry {leaf.index} ({leaf.type})"
        if life is None:
            raise Failed(f"{where} is signed by key {leaf.key_id!r}, whose registration the bundle does not hold")
        if leaf.index <= life.start:
            raise Failed(f"{where} is signed by key {leaf.key_id!r} before its registration at entry {life.start}")
        if life.end is not None and leaf.index >= life.end:
            raise Failed(f"{where} is signed by key {leaf.key_id!r} after it was {life.ended_by} at entry "
                         f"{life.end}")
        if not scope_allows(life.scope_at(leaf.index), type=leaf.type, stream=leaf.stream):
            raise Failed(f"{where} on {leaf.stream} is outside the scope key {leaf.key_id!r} had there")
        return life.public_key


def _scope(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(value.get(n), list) and all(
            isinstance(item, str) for item in value[n]) for n in ("types", "streams")):
        raise Failed(f"{where} carries a malformed scope")
    return value


# --- JSON-RPC ----------------------------------------------------------------------------------------------


class Chain:
    """Just enough Ethereum JSON-RPC: chain id, a transaction's receipt, a read-only call. Every answer is read
    defensively: a node that answers something else than JSON-RPC of the expected shape makes it ``Unusable``,
    naming the call."""

    def __init__(self, url: str) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise Unusable(f"--rpc {url!r} is not an http:// or https:// URL")
        self.url = url
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=RPC_TIMEOUT) as response:
                raw = response.read(RPC_MAX_BYTES + 1)
        except (OSError, ValueError) as exc:
            raise Unusable(f"the chain at {self.url} cannot be reached ({method}): {exc}") from exc
        if len(raw) > RPC_MAX_BYTES:
            raise Unusable(f"the chain at {self.url} answered {method} with more than {RPC_MAX_BYTES} bytes")
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise Unusable(f"the chain at {self.url} did not answer {method} with JSON: {exc}") from exc
        if not isinstance(answer, dict):
            raise Unusable(f"the chain at {self.url} answered {method} with {_shown(answer)}, not a JSON-RPC object")
        if "error" in answer:
            raise Unusable(f"the chain at {self.url} refused {method}: {_shown(answer['error'])}")
        if "result" not in answer:
            raise Unusable(f"the chain at {self.url} answered {method} with neither a result nor an error")
        return answer["result"]

    def chain_id(self) -> int:
        return _quantity(self.call("eth_chainId"), "eth_chainId")

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction's receipt (status, block, recipient, logs), None if the node knows no such
        transaction; ``Unusable`` for an answer of another shape."""
        call = "eth_getTransactionReceipt"
        found = self.call(call, tx_hash)
        if found is None:
            return None
        if not isinstance(found, dict):
            raise Unusable(f"{call} answered {_shown(found)}, not a receipt object")
        to = found.get("to")
        if to is not None and not isinstance(to, str):
            raise Unusable(f"{call} answered a receipt whose 'to' is {_shown(to)}")
        logs = found.get("logs")
        if not isinstance(logs, list) or not all(
                isinstance(log, dict) and isinstance(log.get("address"), str) and isinstance(log.get("data"), str)
                and isinstance(log.get("topics"), list) and all(isinstance(t, str) for t in log["topics"])
                for log in logs):
            raise Unusable(f"{call} answered a receipt whose logs are not a list of {{address, topics, data}}")
        return {"status": _quantity(found.get("status"), f"{call} (status)"),
                "block": _quantity(found.get("blockNumber"), f"{call} (blockNumber)"), "to": to, "logs": logs}

    def read(self, contract: str, selector: str, argument: bytes) -> bytes:
        """``eth_call`` of a one-word-argument view function; the returned words."""
        result = self.call("eth_call", {"to": contract, "data": "0x" + selector + argument.rjust(32, b"\0").hex()},
                           "latest")
        if not isinstance(result, str) or not result.startswith("0x") or len(result) % 2:
            raise Unusable(f"eth_call of 0x{selector} at {contract} answered {_shown(result)}, not hex data")
        try:
            return bytes.fromhex(result[2:])
        except ValueError as exc:
            raise Unusable(f"eth_call of 0x{selector} at {contract} answered {_shown(result)}, not hex data") from exc


def _quantity(value: Any, call: str) -> int:
    """A JSON-RPC quantity (``0x``-prefixed hex) as an integer; ``Unusable`` naming ``call`` otherwise."""
    if isinstance(value, str) and QUANTITY.fullmatch(value):
        return int(value[2:], 16)
    raise Unusable(f"{call} answered {_shown(value)}, not a hex quantity")


def _word(data: bytes, n: int) -> bytes:
    if len(data) < 32 * (n + 1):
        raise Failed("a contract call returned fewer words than its ABI has (is a contract at that address?)")
    return data[32 * n:32 * (n + 1)]


# --- verifying ---------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """An entry of the bundle once its leaf parsed: where it is, what it says, which openings its selection marks,
    its opened facts if any."""

    leaf: Leaf
    reason: str
    opened_facts: bool
    opened_personal: bool
    facts: dict[str, Any] | None = None
    erased: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReadRecord:
    """The ledger's signed record of the read that made a bundle (``audit.trail.read``), its facts typed."""

    entry: Entry
    auditor: str
    openings: list[str]
    grants: list[str]
    entries: int
    tree_size: int
    heads: dict[str, int]
    key_heads: dict[str, int]
    selection: str
    erased: list[tuple[int, str]]  # (index, "facts" | "personal"): the openings the ledger could not open

    @property
    def where(self) -> str:
        return f"entry {self.entry.leaf.index} ({READ_TYPE})"


@dataclass(frozen=True)
class Trusted:
    """What the person verifying brings: the ledger's verifier key, the anchor contract and the document registry
    the insurer publishes, and the node they chose. Malformed inputs are ``Unusable`` (nothing can be decided)."""

    vkey: str | None
    key: VerifierKey | None
    anchor_contract: str | None
    registry: str | None

    @classmethod
    def of(cls, *, vkey: str | None, anchor_contract: str | None, registry: str | None) -> Trusted:
        key = None
        if vkey is not None:
            try:
                key = VerifierKey.parse(vkey)
            except Failed as exc:
                raise Unusable(f"--vkey: {exc}") from exc
        for option, value in (("--anchor-contract", anchor_contract), ("--registry", registry)):
            if value is not None and not ADDRESS.fullmatch(value):
                raise Unusable(f"{option} {value!r} is not a contract address (0x and 40 hex digits)")
        return cls(vkey=vkey, key=key, anchor_contract=anchor_contract, registry=registry)


def _trust_own(report: Report, key: VerifierKey, vkey: str, what: str) -> None:
    """No ``--vkey``: the checks that follow hold against the key the file carries, which nothing in it ties to
    the ledger. The report says so in the check, a note, its verdict and ``key_trusted``."""
    report.key_trusted = False
    report.key = fingerprint(key)
    report.notes.append(f"no --vkey given: every signature was checked against the {what}'s own verifier key "
                        f"({report.key}); compare it with the one the ledger publishes (GET /v1/log/key) or pass "
                        f"--vkey")
    report.skipped("verifier key", f"{vkey}: the {what}'s own, trusted as it is (not checked against a key you "
                                   f"trust)")


def same_address(a: str, b: str) -> bool:
    """Two hex addresses are the same contract whatever their case (EIP-55 only adds a checksum in the case)."""
    return a.lower() == b.lower()


class _Run:
    """One verification: each stage names itself, and a ``Failed`` raised inside is recorded against it."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.stage = "format"

    def stage_of(self, name: str) -> None:
        self.stage = name


def verify(document: Any, *, vkey: str | None = None, rpc: str | None = None, anchor_contract: str | None = None,
           registry: str | None = None) -> Report:
    """Verify a bundle or receipt (already decoded JSON) and return the report; a failed check is in
    ``report.failure``, never raised.

    ``vkey`` is the C2SP verifier key you trust (else the document's own, and the report says so); ``rpc`` a
    JSON-RPC URL to check the anchor and documents on chain; ``anchor_contract`` and ``registry`` the contract
    addresses you trust (the bundle's must be these; without them the report says the addresses came from the
    bundle; given, they are demands: a bundle that carries no anchor, or a document without a registration there,
    fails). Raises ``Unusable`` when nothing can be decided: a malformed trusted input, a document that is not an
    object, of no format this verifier knows or not of its format's shape, a single receipt without ``vkey``, a
    chain that does not answer or answers nonsense, or any unexpected error (named on one line, the stage it
    happened in included).
    """
    if not isinstance(document, dict):
        raise Unusable("the file holds no JSON object: it is neither an evidence bundle nor a receipt")
    trusted = Trusted.of(vkey=vkey, anchor_contract=anchor_contract, registry=registry)
    chain = Chain(rpc) if rpc else None
    report = Report(key_trusted=trusted.key is not None)
    run = _Run(report)
    try:
        form = document.get("format")
        if form == BUNDLE_FORMAT:
            check_shape(document, BUNDLE, "bundle")
            _Bundle(run, document, trusted=trusted, chain=chain).check()
        elif isinstance(form, str) and form in RECEIPT_SHAPES:
            check_shape(document, RECEIPT_SHAPES[form], "receipt")
            _Receipts(run, document, trusted=trusted, chain=chain).check_workflow(form)
        elif "format" not in document and "entry" in document:
            check_shape(document, EVENT_RECEIPT, "receipt")
            _Receipts(run, document, trusted=trusted, chain=chain).check_event()
        else:
            raise Unusable(_unknown(form))
    except Failed as exc:
        report.failure = Check(run.stage, "failed", str(exc))
        report.checks.append(report.failure)
    except Unusable:
        raise
    except Exception as exc:  # whatever else went wrong, it is one line naming where, never a traceback
        raise Unusable(one_line(f"the file could not be checked (at {run.stage}): {type(exc).__name__}: "
                                f"{exc}")) from exc
    return report


def _unknown(form: Any) -> str:
    """Why a JSON object is neither a bundle nor a receipt this verifier reads (it cannot be checked)."""
    if isinstance(form, str) and form.startswith(BUNDLE_FAMILY):
        return f"format {_shown(form)}: this verifier reads {BUNDLE_FORMAT!r} only"
    if form is not None and not isinstance(form, str):
        return f"the file's format is {_shown(form)}, not a string naming a format this verifier reads"
    if form is None:
        return (f"the file names no format: it is neither an evidence bundle ({BUNDLE_FORMAT!r}) nor a receipt "
                f"(an event's, or {CLAIM_RECEIPT!r} or {SERVICING_RECEIPT!r})")
    return (f"format {_shown(form)} is neither {BUNDLE_FORMAT!r} nor a receipt this verifier knows "
            f"({CLAIM_RECEIPT!r}, {SERVICING_RECEIPT!r})")


class _Bundle:
    def __init__(self, run: _Run, bundle: dict[str, Any], *, trusted: Trusted, chain: Chain | None) -> None:
        self.run = run
        self.report = run.report
        self.bundle = bundle
        self.trusted = trusted
        self.chain = chain
        self.key: VerifierKey | None = None
        self.checkpoint: Checkpoint | None = None
        self.history = KeyHistory()
        self.key_seqs: dict[str, int] = {}  # system:<owner> -> the last seq of its key history in the bundle
        self.entries: list[Entry] = []
        self.by_index: dict[int, Entry] = {}
        self.streams: list[str] = []
        self.subject_name = ""
        self.own: dict[str, list[Entry]] = {}
        self.record: ReadRecord | None = None
        self.on_chain: dict[str, bool] = {}  # what --rpc confirmed: "anchor", "documents"

    def check(self) -> None:
        self.report.kind = "evidence bundle"
        self._format()
        self._manifest()
        self._key()
        self._checkpoint()
        self._keys()
        self._entries()
        self._openings()
        self._read_record()
        self._streams()
        self._ends()
        self._cited()
        self._selection()
        self._erased()
        self._key_heads()
        self._anchor()
        self._documents()
        self._unproved()

    # 1-2: the envelope

    def _format(self) -> None:
        subject = self.bundle["manifest"]["subject"]
        streams = subject["streams"]
        if not streams or not all(":" in s for s in streams) or len(set(streams)) != len(streams):
            raise Failed("manifest.subject.streams must name, once each, at least one stream (<kind>:<id>) held "
                         "whole")
        self.streams = list(streams)
        self.subject_name = f"{subject['kind']}:{subject['id']}"
        self.report.claimed = f"{subject['kind']} {subject['id']}"
        self.report.passed("format", f"{BUNDLE_FORMAT}: every section present, no key the format does not have, "
                                     f"every number an exact integer")

    def _manifest(self) -> None:
        self.run.stage_of("manifest")
        bundle = self.bundle
        digests = bundle["manifest"]["sections"]
        for name in SECTIONS:
            if digests[name] != digest_str(sha256(jcs(bundle[name]))):
                raise Failed(f"section {name!r} does not match its digest in the manifest: it was changed")
        entries = bundle["entries"]
        actual = {"entries": len(entries), "key_events": len(bundle["keys"]["events"]),
                  "documents": len(bundle["documents"]["items"]),
                  "opened_facts": sum(isinstance(e.get("facts"), dict) for e in entries),
                  "opened_personal": sum(isinstance(e.get("personal"), dict) for e in entries),
                  "erased": sum(ERASED in (e.get("facts"), e.get("personal")) for e in entries)}
        counts = bundle["manifest"]["counts"]
        for name in COUNTS:
            if counts[name] != actual[name]:
                raise Failed(f"the manifest counts {counts[name]} {name.replace('_', ' ')}, the bundle holds "
                             f"{actual[name]}")
        if not entries:
            raise Failed("the bundle holds no entries: there is nothing to verify")
        self.report.passed("manifest", f"the digests of all {len(SECTIONS)} sections and the {len(COUNTS)} counts "
                                       f"match")

    # 3-4: whom to trust, and the checkpoint

    def _key(self) -> None:
        self.run.stage_of("verifier key")
        ledger = self.bundle["ledger"]
        own = ledger["vkey"]
        if ledger["key_id"] != LEDGER_KEY_ID:
            raise Failed(f"ledger.key_id must be {LEDGER_KEY_ID!r}")
        if self.trusted.key is None:
            self.key = VerifierKey.parse(own)
            _trust_own(self.report, self.key, own, "bundle")
            return
        self.key = self.trusted.key
        self.report.key = fingerprint(self.key)
        if own != self.trusted.vkey:
            raise Failed(f"the bundle was made by the ledger with key {own}, not the key you trust")
        self.report.passed("verifier key", f"{self.trusted.vkey} (given with --vkey)")

    def _checkpoint(self) -> None:
        self.run.stage_of("checkpoint")
        assert self.key is not None
        section = self.bundle["checkpoint"]
        self.checkpoint = open_checkpoint(section["note"], self.key, what="the checkpoint")
        origin = self.bundle["ledger"]["origin"]
        if self.checkpoint.origin != origin:
            raise Failed(f"the checkpoint is of log {self.checkpoint.origin!r}, the bundle says {origin!r}")
        if section["tree_size"] != self.checkpoint.size:
            raise Failed(f"checkpoint.tree_size says {section['tree_size']}, the signed note {self.checkpoint.size}")
        self.report.facts["checkpoint"] = f"{self.checkpoint.origin}, {self.checkpoint.size} entries"
        self.report.passed("checkpoint", f"signed by {self.key.name}; tree of {self.checkpoint.size} entries, root "
                                         f"{base64.b64encode(self.checkpoint.root).decode()}")

    def _included(self, item: dict[str, Any]) -> Leaf:
        """Parse an entry's leaf, check its hash and the fields shown beside it, and prove it in the checkpoint."""
        assert self.checkpoint is not None
        index = item["index"]
        raw = unb64(item["leaf"], f"entry {index}'s leaf")
        digest = leaf_hash(raw)
        if unb64(item["leaf_hash"], f"entry {index}'s leaf_hash", size=32) != digest:
            raise Failed(f"entry {index}'s leaf does not hash to its leaf_hash: the leaf or the hash was changed")
        leaf = parse_leaf(raw, index)
        check_shown_fields(item, leaf, ENTRY_FIELDS)
        proof = item["inclusion"]
        if proof["tree_size"] != self.checkpoint.size:
            raise Failed(f"entry {index}'s inclusion proof is for another tree ({proof['tree_size']}) than the "
                         f"checkpoint's ({self.checkpoint.size})")
        path = hashes(proof["hashes"], f"entry {index}'s inclusion proof")
        try:
            root = root_from_inclusion(index=index, size=self.checkpoint.size, leaf_digest=digest, path=path)
        except Failed as exc:
            raise Failed(f"entry {index}'s inclusion proof: {exc}") from exc
        if root != self.checkpoint.root:
            raise Failed(f"entry {index} is not in the checkpointed tree: its leaf or inclusion proof was changed")
        return leaf

    # 5: key history

    def _keys(self) -> None:
        self.run.stage_of("key history")
        assert self.key is not None
        keys = self.bundle["keys"]
        if keys["ledger_key_id"] != LEDGER_KEY_ID:
            raise Failed(f"keys.ledger_key_id must be {LEDGER_KEY_ID!r}")
        previous = -1
        per_stream: dict[str, list[int]] = {}
        for n, item in enumerate(keys["events"]):
            leaf = self._included(item)
            if leaf.index <= previous:
                raise Failed(f"key events are out of order or repeated: entry {leaf.index} after entry {previous}")
            previous = leaf.index
            if leaf.type not in KEY_EVENTS or leaf.key_id != LEDGER_KEY_ID:
                raise Failed(f"keys.events[{n}] (entry {leaf.index}) is a {leaf.type} signed by {leaf.key_id!r}, "
                             f"not a key event signed by the ledger")
            check_signature(public_key=self.key.public_key, signature=leaf.signature, data=leaf.statement_bytes,
                            what=f"key event at entry {leaf.index}")
            opening = item["opening"]
            salt = unb64(opening["salt"], f"key event {leaf.index}'s salt")
            subject = LEDGER_SUBJECT if leaf.version >= 2 else None
            if opening["data_subject"] != LEDGER_SUBJECT or digest_str(commitment(
                    salt=salt, payload=opening["payload"], data_subject=subject)) != leaf.payload_hash:
                raise Failed(f"key event at entry {leaf.index}: its opening does not match the leaf's payload_hash")
            self.history.apply(leaf.index, leaf.type, leaf.stream, opening["payload"])
            per_stream.setdefault(leaf.stream, []).append(leaf.seq)
        for stream, seqs in per_stream.items():
            if seqs != list(range(1, len(seqs) + 1)):
                raise Failed(f"the key history on {stream} is not whole: seq {seqs} (1..{len(seqs)} expected)")
            self.key_seqs[stream] = len(seqs)
        self.report.passed("key history", f"{len(keys['events'])} key events of {len(self.history.keys)} system keys: "
                                          f"ledger signatures, openings and inclusion proofs hold, whole per owner")

    # 6: entries

    def _entries(self) -> None:
        self.run.stage_of("entries")
        assert self.key is not None
        previous: Entry | None = None
        for n, item in enumerate(self.bundle["entries"]):
            index = item["index"]
            if index in self.by_index:
                raise Failed(f"entry {index} appears twice (entries[{n}])")
            if previous is not None and index < previous.leaf.index:
                raise Failed(f"entries are out of order: entries[{n}] is entry {index}, after entry "
                             f"{previous.leaf.index}")
            leaf = self._included(item)
            if not item["reason"]:
                raise Failed(f"entry {index} gives no reason for being in the bundle")
            public_key = self.key.public_key if leaf.key_id == LEDGER_KEY_ID else self.history.key_for(leaf)
            check_signature(public_key=public_key, signature=leaf.signature, data=leaf.statement_bytes,
                            what=f"entry {index} ({leaf.type}) signed by {leaf.key_id!r}")
            if previous is not None and leaf.recorded_at < previous.leaf.recorded_at:
                raise Failed(f"entry {index} was recorded at {leaf.recorded_at}, before entry {previous.leaf.index} "
                             f"({previous.leaf.recorded_at}): the log never goes back in time")
            entry = Entry(leaf=leaf, reason=item["reason"], opened_facts=item["opened"]["facts"],
                          opened_personal=item["opened"]["personal"])
            self.entries.append(entry)
            self.by_index[index] = entry
            previous = entry
        systems = sorted({e.leaf.key_id for e in self.entries} - {LEDGER_KEY_ID})
        by = "the ledger's key" + (f" and system key(s) {', '.join(systems)}" if systems else "")
        self.report.passed("entries", f"{len(self.entries)} leaves in the checkpointed tree, each signed by the key "
                                      f"valid at its position ({by})")

    # 7: openings

    def _openings(self) -> None:
        """Each opening against its commitment, and against the entry's ``opened`` marks (what its selection
        opened, which the read record commits to): facts carried exactly when marked, a personal part marked
        only with its facts, and carried when marked and the opened facts name one. "erased" facts only where
        they may be a person's; which parts may be "erased" at all the read record says (``_erased``)."""
        self.run.stage_of("openings")
        opened = personal = 0
        for item, entry in zip(self.bundle["entries"], self.entries, strict=True):
            leaf = entry.leaf
            where = f"entry {leaf.index} ({leaf.type})"
            facts, part = item.get("facts"), item.get("personal")
            if entry.opened_facts != (facts is not None):
                raise Failed(f"{where} is marked as having its facts opened but carries none" if entry.opened_facts
                             else f"{where} carries facts, but is marked as not having them opened")
            if entry.opened_personal and not entry.opened_facts:
                raise Failed(f"{where} is marked as having its personal part opened without its facts, which hold "
                             f"its commitment")
            if part is not None and not entry.opened_personal:
                raise Failed(f"{where} carries a personal part, but is marked as not having it opened")
            if facts == ERASED:
                if leaf.key_id == LEDGER_KEY_ID or leaf.stream.split(":", 1)[0] in LEDGER_STREAM_KINDS:
                    raise Failed(f"{where} on {leaf.stream} shows its facts as erased, but the ledger seals the "
                                 f"facts of what it signs, and of every stream only it writes, under its own "
                                 f"subject, which is never erased: the opening was taken out")
                entry.erased.append(FACTS)
            elif facts is not None:
                payload = self._open(facts, leaf, what=f"entry {leaf.index}'s facts",
                                     commit=leaf.payload_hash, version=leaf.version)
                if not isinstance(payload, dict):
                    raise Failed(f"entry {leaf.index}'s facts are not a JSON object")
                entry.facts = payload
                opened += 1
            named = entry.facts.get(PERSONAL_FIELD) if entry.facts is not None else None
            if part is None:
                if entry.opened_personal and isinstance(named, str):
                    raise Failed(f"{where}: its facts name a personal part and its selection opened it, but the "
                                 f"bundle does not carry it (nor says it was erased)")
                continue
            if part == ERASED:
                entry.erased.append(PERSONAL)
                continue
            if not isinstance(named, str):
                raise Failed(f"entry {leaf.index}'s personal part cannot be checked: its facts are not opened or "
                             f"name no personal commitment")
            self._open(part, leaf, what=f"entry {leaf.index}'s personal part", commit=named, version=2)
            personal += 1
        erased = sum(bool(e.erased) for e in self.entries)
        self.report.facts["openings"] = f"{opened} facts and {personal} personal parts opened, {erased} erased"
        if not opened and not personal:
            self.report.skipped("openings", "the bundle opens no payloads")
            return
        self.report.passed("openings", f"{opened} facts payloads match their salted hashes, {personal} personal parts "
                                       f"match the commitments their facts name; each entry carries what it is "
                                       f"marked as opened")

    @staticmethod
    def _open(opening: dict[str, Any], leaf: Leaf, *, what: str, commit: str, version: int) -> Any:
        salt = unb64(opening["salt"], f"{what}'s salt")
        found = commitment(salt=salt, payload=opening["payload"],
                           data_subject=opening["data_subject"] if version >= 2 else None)
        if digest_str(found) != commit:
            raise Failed(f"{what} does not match its salted hash: the payload, salt or data subject was changed")
        return opening["payload"]

    # 8: the read record

    def _read_record(self) -> None:
        """The ledger records every bundle it hands out before building it (``audit.trail.read`` on
        ``audit:<auditor>``, signed by it, proved like any entry) and the bundle carries that record: which
        subject, for whom, the selection (entries and openings), each whole stream's and each signer's key
        history's last seq."""
        self.run.stage_of("read record")
        manifest = self.bundle["manifest"]
        recorded_as = manifest["grant"]["recorded_as"]
        found = [e for e in self.entries if e.leaf.type == READ_TYPE]
        if not found:
            raise Failed(f"the bundle holds no {READ_TYPE} entry: the ledger's record of the read that made it, "
                         f"recorded as entry {recorded_as} says the manifest, is missing, so neither its selection "
                         f"nor where its streams end can be checked")
        if len(found) > 1:
            raise Failed(f"entries {', '.join(str(e.leaf.index) for e in found)} each record a read: a bundle "
                         f"carries the one record of the read that made it")
        entry = found[0]
        where = f"entry {entry.leaf.index} ({READ_TYPE})"
        if entry.leaf.index != recorded_as:
            raise Failed(f"the manifest says the read was recorded as entry {recorded_as}, but the bundle's read "
                         f"record is {where}")
        if entry.leaf.key_id != LEDGER_KEY_ID:
            raise Failed(f"{where} is signed by {entry.leaf.key_id!r}: only the ledger records reads")
        if entry.facts is None:
            raise Failed(f"{where} does not carry its facts opened: the read record is the ledger's own, never "
                         f"erased, and a bundle is nothing without it")
        if entry.opened_personal:
            raise Failed(f"{where} is marked as having a personal part opened: the record is carried with its facts "
                         f"opened and nothing else (it has no personal part, and no selection commits to its marks)")
        facts = entry.facts

        def text(name: str) -> str:
            value = facts.get(name)
            if not isinstance(value, str):
                raise Failed(f"{where} names no {name}")
            return value

        def texts(name: str) -> list[str]:
            value = facts.get(name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise Failed(f"{where} names no list of {name}")
            return list(value)

        def number(name: str) -> int:
            value = facts.get(name)
            if not isinstance(value, int) or not _is_int(value):
                raise Failed(f"{where} names no {name} (an integer)")
            return value

        def seqs(name: str) -> dict[str, int]:
            value = facts.get(name)
            if not isinstance(value, dict) or not all(_is_int(v) and v >= 1 for v in value.values()):
                raise Failed(f"{where} names no {name} (each stream's last seq)")
            return dict(value)

        def erased() -> list[tuple[int, str]]:
            value = facts.get("erased")
            if not isinstance(value, list) or not all(
                    isinstance(item, list) and len(item) == 2 and _is_int(item[0]) and item[1] in (FACTS, PERSONAL)
                    for item in value):
                raise Failed(f"{where} names no list of erased openings ([[index, \"facts\" | \"personal\"], ...])")
            pairs = [(int(item[0]), str(item[1])) for item in value]
            if pairs != sorted(set(pairs)):
                raise Failed(f"{where} names its erased openings out of order or twice")
            return pairs

        selection = text("selection")
        if not DIGEST.fullmatch(selection):
            raise Failed(f"{where} commits to no selection (sha256:<hex>)")
        record = ReadRecord(entry=entry, auditor=text("auditor"), openings=texts("openings"), grants=texts("grants"),
                            entries=number("entries"), tree_size=number("tree_size"), heads=seqs("heads"),
                            key_heads=seqs("key_heads"), selection=selection, erased=erased())
        if text("what") != READ_WHAT:
            raise Failed(f"{where} records the read of a {text('what')!r}, not of a {READ_WHAT}")
        if text("subject") != self.subject_name:
            raise Failed(f"{where} records a read of {text('subject')!r}, not of this bundle's subject "
                         f"{self.subject_name!r}")
        if record.auditor != manifest["generated_for"]:
            raise Failed(f"{where} records a read by {record.auditor!r}, but the manifest says the bundle was made "
                         f"for {manifest['generated_for']!r}")
        if entry.leaf.stream != AUDIT_PREFIX + record.auditor:
            raise Failed(f"{where} is on {entry.leaf.stream}, not on {AUDIT_PREFIX}{record.auditor}")
        if record.tree_size > entry.leaf.index:
            raise Failed(f"{where} says the log held {record.tree_size} entries before the read, more than the "
                         f"record's own position")
        others = [e.leaf.index for e in self.entries if e is not entry]
        late = [index for index in others if index >= record.tree_size]
        if late:
            raise Failed(f"entries {', '.join(map(str, late))} come after the read that made the bundle ({where}, "
                         f"when the log held {record.tree_size} entries): a bundle holds what was in the log when "
                         f"it was asked for")
        grant = manifest["grant"]
        if (grant["openings"], grant["grants"]) != (record.openings, record.grants):
            raise Failed(f"manifest.grant names openings {grant['openings']} under grants {grant['grants']}; the "
                         f"ledger's record of the read ({where}) says {record.openings} under {record.grants}")
        self.record = record
        self.report.subject = self.report.claimed
        self.report.facts["generated"] = (f"{entry.leaf.recorded_at} for {record.auditor} (the ledger's signed "
                                          f"record of the read, entry {entry.leaf.index})")
        self.report.facts["opened under"] = (f"{', '.join(record.openings)}" + (
            f" (grants {', '.join(record.grants)})" if record.grants else " (no grant)"))
        self.report.passed("read record", f"{where} on {entry.leaf.stream}, signed by the ledger: a bundle of "
                                          f"{self.subject_name} for {record.auditor}, recorded after every entry "
                                          f"the bundle holds")

    # 9: the story is whole

    def _streams(self) -> None:
        self.run.stage_of("whole streams")
        kinds = {stream.split(":", 1)[0] for stream in self.streams}
        own: dict[str, list[Entry]] = {stream: [] for stream in self.streams}
        seen: set[tuple[str, int]] = set()
        for entry in self.entries:
            leaf = entry.leaf
            if (leaf.stream, leaf.seq) in seen:
                raise Failed(f"entry {leaf.index} repeats seq {leaf.seq} of {leaf.stream}")
            seen.add((leaf.stream, leaf.seq))
            if leaf.stream in own:
                own[leaf.stream].append(entry)
            elif leaf.stream.split(":", 1)[0] in kinds:
                raise Failed(f"entry {leaf.index} ({leaf.type}) is on {leaf.stream}, not on the subject's "
                             f"stream(s) {', '.join(self.streams)}: it belongs to another {leaf.stream.split(':')[0]}")
        span: list[str] = []
        for stream, entries in own.items():
            if not entries:
                raise Failed(f"the bundle holds no entry of {stream}, which it says it holds whole")
            for position, entry in enumerate(entries, start=1):
                if entry.leaf.seq != position:
                    raise Failed(f"{stream} is not whole: entry {entry.leaf.index} has seq {entry.leaf.seq} where "
                                 f"seq {position} was due (an event is missing or another was put in its place)")
            span += [entries[0].leaf.recorded_at, entries[-1].leaf.recorded_at]
        self.own = own
        count = sum(len(entries) for entries in own.values())
        self.report.facts["events of the subject"] = f"{count} on {len(own)} stream(s)"
        self.report.facts["time span"] = f"{min(span)} to {max(span)}"
        supporting = [e for e in self.entries if e.leaf.stream not in own]
        if supporting:
            self.report.facts["supporting entries"] = "; ".join(
                f"{e.leaf.index} {e.leaf.type} ({e.reason})" for e in supporting)
        self.report.passed("whole streams", f"{', '.join(f'{s} seq 1..{len(e)}' for s, e in own.items())}, no gap, "
                                            f"no event of another {'/'.join(sorted(kinds))}")

    def _ends(self) -> None:
        """Each stream held whole ends at the last seq the read record names for it: a bundle cut short at a
        stream's end no longer matches."""
        self.run.stage_of("stream ends")
        assert self.record is not None
        record = self.record
        if sorted(record.heads) != sorted(self.own):
            raise Failed(f"{record.where} names {', '.join(sorted(record.heads)) or 'no stream'} as held whole; the "
                         f"bundle says {', '.join(sorted(self.own))}")
        for stream, entries in self.own.items():
            due = record.heads[stream]
            if len(entries) != due:
                missing = f": {due - len(entries)} missing from its end" if len(entries) < due else ""
                raise Failed(f"{stream} holds seq 1..{len(entries)} but the ledger's record of the read "
                             f"({record.where}) says it had {due} event(s) then{missing}")
        self.report.passed("stream ends", f"each stream ends where the ledger's signed record of this read, "
                                          f"{record.where}, says it did")

    def _cited(self) -> None:
        """Every entry that an opened fact of the subject's streams cites as its evidence must be in the bundle."""
        self.run.stage_of("cited evidence")
        own = [entry for entries in self.own.values() for entry in entries]
        cited = 0
        for entry in own:
            for index in cited_entries(entry.facts or {}):
                if index >= entry.leaf.index:
                    continue
                if index not in self.by_index:
                    raise Failed(f"entry {entry.leaf.index} ({entry.leaf.type}) cites entry {index} as its "
                                 f"evidence, which the bundle does not hold")
                cited += 1
        if not any(entry.facts is not None for entry in own):
            self.report.skipped("cited evidence", "no facts of the subject's streams are opened")
            return
        self.report.passed("cited evidence", f"all {cited} entries cited as evidence by opened facts are in the "
                                             f"bundle")

    def _selection(self) -> None:
        """The entries other than the record, each with its ``opened`` marks, are exactly the selection the read
        record commits to: ``SHA-256(JCS([[index, facts opened, personal opened], ...]))`` in index order. With
        the openings held to the marks (``_openings``), no entry can be added, dropped or swapped, and no facts
        opening, nor a personal part the opened facts name, taken out, without failing here or there."""
        self.run.stage_of("selection")
        assert self.record is not None
        record = self.record
        others = [e for e in self.entries if e is not record.entry]
        if record.entries != len(others):
            raise Failed(f"the ledger's record of the read ({record.where}) says the bundle holds {record.entries} "
                         f"entries besides it; it holds {len(others)}: entries were dropped or added")
        rows = [[e.leaf.index, e.opened_facts, e.opened_personal] for e in others]
        if digest_str(sha256(jcs(rows))) != record.selection:
            raise Failed(f"the entries and their openings are not the selection the ledger committed to in "
                         f"{record.where}: an entry was added, dropped or swapped, or an opening taken out")
        facts = sum(e.opened_facts for e in others)
        personal = sum(e.opened_personal for e in others)
        self.report.passed("selection", f"the {len(others)} entries ({facts} with their facts opened, {personal} with "
                                        f"their personal part too, where they have one) are the selection the ledger "
                                        f"committed to in {record.where}")

    def _erased(self) -> None:
        """The openings shown as "erased" are exactly those the ledger's record of the read names as erased (the
        data subject's key destroyed when the read was recorded): an opening taken out cannot pass for one erased,
        and one the ledger could not open cannot be left unsaid. A personal part shown as "erased" beside erased
        facts follows from them (nothing would show what it was committed to) and is not named apart."""
        self.run.stage_of("erased")
        assert self.record is not None
        record = self.record
        shown: list[tuple[int, str]] = []
        for entry in self.entries:
            if FACTS in entry.erased:
                shown.append((entry.leaf.index, FACTS))
            elif PERSONAL in entry.erased:
                shown.append((entry.leaf.index, PERSONAL))
        said = set(record.erased)
        for index, part in shown:
            if (index, part) not in said:
                entry = self.by_index[index]
                raise Failed(f"entry {index} ({entry.leaf.type}) shows its {_part(part)} as erased, but the ledger's "
                             f"record of the read ({record.where}) does not name it among the openings it could not "
                             f"open: the opening was taken out")
        for index, part in record.erased:
            if (index, part) not in shown:
                shown_as = "it" if index in self.by_index else "that entry"
                raise Failed(f"{record.where} names the {_part(part)} of entry {index} as erased (its data subject's "
                             f"key destroyed), but the bundle does not show {shown_as} as erased")
        if not shown:
            self.report.passed("erased", f"nothing erased, as {record.where} says")
            return
        self.report.notes.append("erased (the data subject's key was destroyed; the leaves and proofs still verify, "
                                 "what they held is not shown): " + ", ".join(
                                     f"entry {e.leaf.index} ({' and '.join(_part(p) for p in e.erased)})"
                                     for e in self.entries if e.erased))
        self.report.passed("erased", f"the {len(shown)} opening(s) shown as erased are those {record.where} names as "
                                     f"erased when the read was recorded")

    def _key_heads(self) -> None:
        """The key history of every system whose key signed a selected entry reaches the last seq the read record
        names for it: a later rotation, scope change or revocation cannot be left out."""
        self.run.stage_of("key heads")
        assert self.record is not None
        record = self.record
        signers = {f"system:{self.history.keys[e.leaf.key_id].owner}" for e in self.entries
                   if e is not record.entry and e.leaf.key_id != LEDGER_KEY_ID}
        if set(record.key_heads) != signers:
            raise Failed(f"{record.where} names the key histories of {', '.join(sorted(record.key_heads)) or 'none'}; "
                         f"the entries are signed by keys of {', '.join(sorted(signers)) or 'the ledger alone'}")
        for stream, due in sorted(record.key_heads.items()):
            held = self.key_seqs.get(stream, 0)
            if held < due:
                raise Failed(f"the key history of {stream} holds seq 1..{held}, but the ledger's record of the read "
                             f"({record.where}) says it had {due} key event(s) then: {due - held} missing from its "
                             f"end (a rotation, scope change or revocation left out)")
        if not signers:
            self.report.passed("key heads", "every entry is signed by the ledger: no system key history to hold")
            return
        self.report.passed("key heads", f"{', '.join(f'{s} seq 1..{self.key_seqs[s]}' for s in sorted(signers))}: "
                                        f"at least as far as the read record says")

    # 10: anchor

    def _anchor(self) -> None:
        self.run.stage_of("anchor")
        assert self.key is not None and self.checkpoint is not None
        anchor = self.bundle["anchor"]
        if anchor["status"] != "anchored":
            if self.trusted.anchor_contract is not None:
                raise Failed(f"you asked to check the anchor at {self.trusted.anchor_contract}; the bundle carries "
                             f"none (its anchor is {anchor['status']!r})")
            self.report.skipped("anchor", f"not anchored on chain yet ({anchor['status']}): the entries rest on the "
                                          f"signed checkpoint alone")
            return
        anchored = open_checkpoint(anchor["checkpoint"], self.key, what="the anchored checkpoint")
        root = unb64(anchor["root"], "anchor.root", size=32)
        if anchor["tree_size"] != anchored.size or root != anchored.root:
            raise Failed("the anchored checkpoint is not the tree size and root the anchor names")
        proof = anchor["consistency"]
        small, large = sorted((anchored, self.checkpoint), key=lambda c: c.size)
        if (proof["first"], proof["second"]) != (small.size, large.size):
            raise Failed(f"the consistency proof is between {proof['first']} and {proof['second']}, not "
                         f"between the anchored tree ({anchored.size}) and the checkpoint ({self.checkpoint.size})")
        check_consistency(first=small.size, second=large.size, first_root=small.root, second_root=large.root,
                          proof=hashes(proof["hashes"], "anchor.consistency"))
        _check_anchor_abi(anchor["abi"])
        chain_id, contract = anchor["chain_id"], anchor["contract"]
        tx_hash, block = anchor["tx_hash"], anchor["block_number"]
        if not ADDRESS.fullmatch(contract):
            raise Failed(f"anchor.contract {_shown(contract)} is not a contract address")
        if not TX_HASH.fullmatch(tx_hash):
            raise Failed(f"anchor.tx_hash {_shown(tx_hash)} is not a transaction hash (0x and 64 hex digits)")
        trusted = self.trusted.anchor_contract
        if trusted is not None and not same_address(contract, trusted):
            raise Failed(f"the anchor is on contract {contract}, not on the anchor contract you trust ({trusted})")
        covered = sum(1 for e in self.entries if e.leaf.index < anchored.size)
        self.report.facts["anchor"] = (f"tree of {anchored.size} on chain {chain_id} at {contract}, tx {tx_hash} in "
                                       f"block {block}; {covered} of {len(self.entries)} entries under it")
        held = " (the contract you trust)" if trusted is not None else ""
        self.report.passed("anchor", f"the anchored checkpoint ({anchored.size}) is signed and consistent with the "
                                     f"bundle's checkpoint ({self.checkpoint.size}){held}")
        self.run.stage_of("anchor on chain")
        if self.chain is None:
            self.report.skipped("anchor on chain", "no --rpc given: rootOf and the transaction were not read")
            return
        check_anchor_on_chain(self.chain, chain_id=chain_id, contract=trusted or contract, tx_hash=tx_hash,
                              block=block, tree_size=anchored.size, root=anchored.root)
        self.on_chain["anchor"] = True
        self.report.passed("anchor on chain", f"rootOf({anchored.size}) at {contract} on chain {chain_id} is the "
                                              f"anchored root; tx {tx_hash} succeeded in block {block}")

    # 11: documents

    def _documents(self) -> None:
        """The documents section holds one item per digest the opened facts of the bundle's ``document.*`` entries
        name (``digest``, ``old_digest``), each citing exactly those entries; its ABI is ``documentStatus``'s; with
        ``--registry`` each document carries registrations and every one of them went there."""
        self.run.stage_of("documents")
        section = self.bundle["documents"]
        _check_documents_abi(section["abi"])
        named: dict[str, list[int]] = {}
        for entry in self.entries:
            if not entry.leaf.type.startswith(DOCUMENT_PREFIX) or entry.facts is None:
                continue
            for name in ("digest", "old_digest"):
                digest = entry.facts.get(name)
                if digest is None:
                    continue
                if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
                    raise Failed(f"entry {entry.leaf.index} ({entry.leaf.type}) names {name} {_shown(digest)}, not a "
                                 f"sha256:<hex> digest")
                cited = named.setdefault(digest, [])
                if entry.leaf.index not in cited:
                    cited.append(entry.leaf.index)
        items = section["items"]
        held: dict[str, dict[str, Any]] = {}
        for n, item in enumerate(items):
            digest = item["digest"]
            if not DIGEST.fullmatch(digest):
                raise Failed(f"documents.items[{n}] names document {_shown(digest)}, not a sha256:<hex> digest")
            if digest in held:
                raise Failed(f"documents.items[{n}] repeats document {digest}")
            if digest not in named:
                raise Failed(f"documents.items[{n}] is document {digest}, which no opened document entry of the "
                             f"bundle names")
            if item["entries"] != named[digest]:
                raise Failed(f"document {digest} cites entries {item['entries']}; the opened document entries naming "
                             f"it are {named[digest]}")
            held[digest] = item
        missing = [digest for digest in named if digest not in held]
        if missing:
            raise Failed(f"the opened document entries name {', '.join(missing)}, which the documents section leaves "
                         f"out")
        registry = self.trusted.registry
        if registry is not None:
            for digest, item in held.items():
                if not item["registrations"]:
                    raise Failed(f"you asked to check the documents at {registry}; document {digest} carries no "
                                 f"registration")
                for registration in item["registrations"]:
                    contract = registration["contract"]
                    if contract is None:
                        raise Failed(f"you asked to check the documents at {registry}; document {digest}'s "
                                     f"{_shown(registration['op'])} names no contract")
                    if not same_address(contract, registry):
                        raise Failed(f"document {digest}'s {_shown(registration['op'])} went to {contract}, not to the "
                                     f"document registry you trust ({registry})")
        if not items:
            self.report.passed("documents", "no opened document entry names a document, and the section holds none")
            return
        self.report.passed("documents", f"{len(items)} document digest(s), one for each digest the opened document "
                                        f"entries name, each citing exactly those entries"
                           + (" (registrations to the registry you trust)" if registry is not None else ""))
        self._documents_on_chain(held)

    def _documents_on_chain(self, held: dict[str, dict[str, Any]]) -> None:
        """With ``--rpc``, ``documentStatus`` of each document at ``--registry`` (else at the contract of its last
        confirmed registration). "ok" only when every document was read there; one the bundle does not say is
        confirmed and the chain does not know is reported as not read, one it says is confirmed fails."""
        self.run.stage_of("documents on chain")
        if self.chain is None:
            self.report.skipped("documents on chain", "no --rpc given: documentStatus was not read")
            return
        registered: dict[str, dict[str, Any]] = {}
        for entry in self.entries:
            if entry.leaf.type in ("document.registered", "document.superseded") and entry.facts is not None \
                    and isinstance(entry.facts.get("digest"), str):
                registered[entry.facts["digest"]] = entry.facts
        proven = self._proven_document_statuses()
        read: list[str] = []
        unread: list[str] = []
        for digest, item in held.items():
            confirmed = [r for r in item["registrations"]
                         if r["status"] == "confirmed" and isinstance(r["contract"], str)]
            contract = self.trusted.registry or (confirmed[-1]["contract"] if confirmed else None)
            if contract is None:
                unread.append(f"{digest}: no confirmed registration, no --registry: not read")
                continue
            found = check_document_on_chain(self.chain, contract=contract, digest=digest,
                                            facts=registered.get(digest), confirmed=bool(confirmed))
            if found is None:
                unread.append(f"{digest}: not registered at {contract} yet (the bundle says its registration is not "
                              f"confirmed)")
                continue
            self.on_chain["documents"] = True
            status, successor = found
            if digest in proven:
                moved = compare_document_status(digest=digest, status=status, successor=successor,
                                                proven=proven[digest], item=item)
                if moved is not None:
                    unread.append(moved)
                    continue
            read.append(f"{digest}: {status}" + (" (as the journal proves)" if digest in proven else ""))
        if unread:
            self.report.skipped("documents on chain", "; ".join([*read, *unread]))
            return
        self.report.passed("documents on chain", "; ".join(read))

    def _proven_document_statuses(self) -> dict[str, tuple[str, str | None, int]]:
        """Each document's status as the ``document:`` streams the bundle holds whole prove it at the signed read
        record: digest -> (valid | superseded | revoked, the digest superseding it or None, the entry that set it)."""
        proven: dict[str, tuple[str, str | None, int]] = {}
        for entry in self.entries:
            facts = entry.facts
            if entry.leaf.stream not in self.own or facts is None or not isinstance(facts.get("digest"), str):
                continue
            digest, index = facts["digest"], entry.leaf.index
            if entry.leaf.type == "document.registered":
                proven[digest] = ("valid", None, index)
            elif entry.leaf.type == "document.superseded":
                proven[digest] = ("valid", None, index)
                if isinstance(facts.get("old_digest"), str):
                    proven[facts["old_digest"]] = ("superseded", digest, index)
            elif entry.leaf.type == "document.revoked":
                proven[digest] = ("revoked", None, index)
        return proven

    def _unproved(self) -> None:
        """Say what the bundle carries that nothing in it proves: the builder's words beside the proofs."""
        parts = ["each entry's reason (the builder's words for why it is there)",
                 "manifest.generated_at (the time shown is the signed read record's)", "manifest.grant.medical_types",
                 "the names the ABI fragments give their parameters"]
        anchor = self.bundle["anchor"]
        if anchor["status"] == "anchored":
            parts.append("anchor.confirmations" if self.on_chain.get("anchor") else
                         "anchor.confirmations, and its chain_id, tx_hash and block_number (--rpc reads them on chain)")
        if self.bundle["documents"]["items"]:
            if self.on_chain.get("documents"):
                parts.append("the documents' 'recorded' (the ledger's view of each) and 'registrations' (their "
                             "operations, statuses and transactions; --rpc read only each document's status at the "
                             "registry)")
            else:
                parts.append("the documents' 'recorded' (the ledger's view of each) and 'registrations' (their "
                             "operations, statuses and transactions)")
        self.report.notes.append("not proved by the bundle: " + "; ".join(parts))
        if self.chain is not None:
            taken = []
            if anchor["status"] == "anchored" and self.trusted.anchor_contract is None:
                taken.append(f"the anchor contract ({anchor['contract']})")
            if self.on_chain.get("documents") and self.trusted.registry is None:
                taken.append("the document registry")
            if taken:
                self.report.notes.append(f"{' and '.join(taken)} came from the bundle itself: pass --anchor-contract "
                                         f"and --registry with the addresses the insurer publishes")


def _part(name: str) -> str:
    return "personal part" if name == PERSONAL else name


def cited_entries(facts: dict[str, Any]) -> list[int]:
    """The entry indexes a workflow event's facts cite as evidence: ``"evidence": <index>``, or a list of indexes
    (as a fraud flag cites), in the facts or in a value they hold one level down (an invoice, a settlement)."""
    found = []
    for value in [facts, *(v for v in facts.values() if isinstance(v, dict))]:
        cited = value.get("evidence")
        for item in cited if isinstance(cited, list) else [cited]:
            if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
                found.append(item)
    return found


def _abi_item(abi: list[dict[str, Any]], where: str, name: str, kind: str) -> dict[str, Any]:
    """The one item of ``abi`` named ``name``, a ``kind`` ("function": a view; "event": not anonymous, so its first
    topic is its signature's hash, as the verifier reads it)."""
    found = [item for item in abi if item.get("name") == name]
    if len(found) != 1 or found[0].get("type") != kind:
        raise Failed(f"{where} does not describe the {kind} {name} once")
    if kind == "function" and found[0].get("stateMutability", "view") != "view":
        raise Failed(f"{where} does not describe {name} as a view function")
    if kind == "event" and found[0].get("anonymous", False) is not False:
        raise Failed(f"{where} describes the event {name} as anonymous: the verifier reads it by its topic")
    return found[0]


def _types(params: Any) -> list[Any]:
    return [(p.get("type"), p.get("indexed")) if "indexed" in p else p.get("type") for p in params or []]


def _check_anchor_abi(abi: list[dict[str, Any]]) -> None:
    """The ABI fragment is exactly ``rootOf(uint64) -> (bytes32, uint64)`` and ``CheckpointAnchored(uint64
    indexed, bytes32)``, the calls and event the verifier reads on chain."""
    if [item.get("name") for item in abi] != ["rootOf", "CheckpointAnchored"]:
        raise Failed("anchor.abi is not the fragment of rootOf and CheckpointAnchored")
    root_of = _abi_item(abi, "anchor.abi", "rootOf", "function")
    event = _abi_item(abi, "anchor.abi", "CheckpointAnchored", "event")
    if _types(root_of.get("inputs")) != ["uint64"] or _types(root_of.get("outputs")) != ["bytes32", "uint64"]:
        raise Failed("anchor.abi does not describe rootOf(uint64) -> (bytes32, uint64)")
    if _types(event.get("inputs")) != [("uint64", True), ("bytes32", False)]:
        raise Failed("anchor.abi does not describe the event CheckpointAnchored(uint64 indexed, bytes32)")


DOCUMENT_STATUS_OUTPUTS = ["uint8", "uint8", "bytes32", "uint64", "uint64", "bytes32"]


def _check_documents_abi(abi: list[dict[str, Any]]) -> None:
    """The ABI fragment is exactly ``documentStatus(bytes32) -> (uint8 status, uint8 kind, bytes32 subject, uint64
    version, uint64 registeredAt, bytes32 supersededBy)``, the call the verifier reads on chain."""
    if [item.get("name") for item in abi] != ["documentStatus"]:
        raise Failed("documents.abi is not the fragment of documentStatus")
    item = _abi_item(abi, "documents.abi", "documentStatus", "function")
    if _types(item.get("inputs")) != ["bytes32"] or _types(item.get("outputs")) != DOCUMENT_STATUS_OUTPUTS:
        raise Failed(f"documents.abi does not describe documentStatus(bytes32) -> "
                     f"({', '.join(DOCUMENT_STATUS_OUTPUTS)})")


def check_anchor_on_chain(chain: Chain, *, chain_id: int, contract: str, tx_hash: str, block: int, tree_size: int,
                          root: bytes) -> None:
    """``rootOf(tree_size)`` at ``contract`` is ``root`` (recorded in ``block``), and ``tx_hash`` is a successful
    transaction to ``contract`` in ``block`` that emitted ``CheckpointAnchored(tree_size, root)``. Raises
    ``Failed`` naming what differs, ``Unusable`` when the chain does not answer or answers nonsense."""
    found_id = chain.chain_id()
    if found_id != chain_id:
        raise Failed(f"the node at {chain.url} is chain {found_id}, the anchor was made on chain {chain_id}")
    words = chain.read(contract, ROOT_OF_SELECTOR, tree_size.to_bytes(8, "big"))
    if _word(words, 0) != root:
        raise Failed(f"rootOf({tree_size}) at {contract} is {_word(words, 0).hex() or 'empty'}, not the anchored "
                     f"root {root.hex()}")
    if int.from_bytes(_word(words, 1), "big") != block:
        raise Failed(f"rootOf({tree_size}) was recorded in block {int.from_bytes(_word(words, 1), 'big')}, the anchor "
                     f"says block {block}")
    receipt = chain.receipt(tx_hash)
    if receipt is None:
        raise Failed(f"the chain knows no transaction {tx_hash}")
    if receipt["status"] != 1 or receipt["block"] != block:
        raise Failed(f"transaction {tx_hash} did not succeed in block {block}")
    if receipt["to"] is None or not same_address(receipt["to"], contract):
        raise Failed(f"transaction {tx_hash} went to {receipt['to']}, not to {contract}")
    wanted = ["0x" + tree_size.to_bytes(32, "big").hex()]
    for log in receipt["logs"]:
        topics = [t.lower() for t in log["topics"]]
        if same_address(log["address"], contract) and topics[:1] == [CHECKPOINT_ANCHORED_TOPIC] \
                and topics[1:] == wanted and log["data"].lower() == "0x" + root.hex():
            return
    raise Failed(f"transaction {tx_hash} emitted no CheckpointAnchored({tree_size}, root) from {contract}")


def check_document_on_chain(chain: Chain, *, contract: str, digest: str, facts: dict[str, Any] | None,
                            confirmed: bool = True) -> tuple[str, str] | None:
    """``documentStatus(digest)`` at ``contract``: the document must be known there (unless the bundle does not say
    its registration is ``confirmed``: then None, not read), and when the bundle holds the entry that registered
    it, with that entry's subject, kind and version. Returns the status in words and the digest superseding the
    document (``sha256:`` of zeros unless superseded). Raises ``Failed`` naming what differs."""
    raw = bytes.fromhex(digest.removeprefix("sha256:"))
    words = chain.read(contract, DOCUMENT_STATUS_SELECTOR, raw)
    status = int.from_bytes(_word(words, 0), "big")
    if status == 0:
        if not confirmed:
            return None
        raise Failed(f"document {digest} is not registered at {contract}")
    if facts is not None:
        kind, subject = int.from_bytes(_word(words, 1), "big"), _word(words, 2)
        version = int.from_bytes(_word(words, 3), "big")
        if facts.get("version") not in (None, version):
            raise Failed(f"document {digest} is version {version} on chain, version {_shown(facts.get('version'))} "
                         f"in the journal")
        if "kind" in facts and facts["kind"] != kind:
            raise Failed(f"document {digest} is of kind {kind} on chain, {_shown(facts['kind'])} in the journal")
        if "subject" in facts and facts["subject"] != digest_str(subject):
            raise Failed(f"document {digest} has another subject on chain than in the journal")
    return DOCUMENT_STATUSES.get(status, f"status {status}"), digest_str(_word(words, 5))


_STATUS_OP = {"superseded": "supersede", "revoked": "revoke"}


def compare_document_status(*, digest: str, status: str, successor: str, proven: tuple[str, str | None, int],
                            item: dict[str, Any]) -> str | None:
    """The chain's status of ``digest`` (and the digest it names as superseding it) against the one the bundle's
    whole ``document:`` stream proves.

    Raises ``Failed`` where the chain cannot hold what it holds: the document superseded by another digest than
    the journal's, or not yet changed although the bundle says the change was confirmed there. A status the
    chain changed after the bundle's read (superseded or revoked on chain, valid in the bundle) is returned as a
    sentence for "not checked": the bundle proves the past, the chain is read now. None when they agree."""
    want, _, index = proven
    if status == want:
        if want == "superseded" and successor != proven[1]:
            raise Failed(f"document {digest} is superseded by {successor} on chain; the journal (entry {index}) "
                         f"supersedes it by {proven[1]}")
        return None
    if want == "valid" and status in ("superseded", "revoked"):
        return (f"{digest}: {status} on chain, valid in the journal up to this bundle's read (entry {index}): "
                f"changed after the bundle was built, or by someone other than this ledger")
    confirmed = any(r["op"] == _STATUS_OP.get(want) and r["status"] == "confirmed" for r in item["registrations"])
    if want in _STATUS_OP and status == "valid" and not confirmed:
        return f"{digest}: {want} in the journal (entry {index}), still valid on chain: the change is not confirmed yet"
    raise Failed(f"document {digest} is {status} on chain; the journal proves it {want} (entry {index})"
                 + (", a change the bundle says was confirmed on chain" if confirmed else ""))


class _Receipts:
    """A receipt read as a bundle of its events: each with its own checkpoint and inclusion proof."""

    def __init__(self, run: _Run, document: dict[str, Any], *, trusted: Trusted, chain: Chain | None) -> None:
        self.run = run
        self.report = run.report
        self.document = document
        self.trusted = trusted
        self.given_vkey = trusted.vkey
        self.chain = chain
        self.key: VerifierKey | None = None

    def check_event(self) -> None:
        self.report.kind = "event receipt"
        if self.given_vkey is None:
            raise Unusable("a single event's receipt carries no verifier key: give the ledger's with --vkey")
        self.run.stage_of("verifier key")
        self.key = self.trusted.key
        assert self.key is not None
        self.report.key = fingerprint(self.key)
        self.report.passed("verifier key", f"{self.given_vkey} (given with --vkey)")
        self.run.stage_of("receipt")
        leaf = self._event(self.document, "the receipt")
        self.report.subject = f"event {leaf.event_id} (entry {leaf.index}) on {leaf.stream}"
        self.report.facts["recorded at"] = leaf.recorded_at
        self.report.notes.append("not proved by the receipt: entry.duplicate and entry.receipt_url (the ledger's "
                                 "words beside the proofs)")

    def check_workflow(self, form: str) -> None:
        id_field, prefix, noun, described = WORKFLOW_RECEIPTS[form]
        self.report.kind = f"{noun} receipt ({form}), read as a bundle of its events"
        ident = self.document[id_field]
        if not ident:
            raise Failed(f"the receipt names no {id_field}")
        stream = prefix + ident
        self.report.claimed = f"{noun} {ident}"
        self.run.stage_of("verifier key")
        own = self.document["vkey"]
        if self.given_vkey is None:
            self.key = VerifierKey.parse(own)
            _trust_own(self.report, self.key, own, "receipt")
        else:
            self.key = self.trusted.key
            assert self.key is not None
            self.report.key = fingerprint(self.key)
            if own != self.given_vkey:
                raise Failed(f"the receipt was made by the ledger with key {own}, not the key you trust")
            self.report.passed("verifier key", f"{self.given_vkey} (given with --vkey)")
        self.run.stage_of("receipts")
        receipts = self.document["receipts"]
        if not receipts:
            raise Failed("the receipt holds no event receipts")
        leaves: list[Leaf] = []
        for n, receipt in enumerate(receipts):
            leaf = self._event(receipt, f"receipts[{n}]", record=False, origin=self.document["origin"])
            if leaves and leaf.index <= leaves[-1].index:
                raise Failed(f"receipts[{n}] is entry {leaf.index}, not after entry {leaves[-1].index}")
            leaves.append(leaf)
        self.report.passed("receipts", f"{len(leaves)} events, each in its signed checkpoint, signed by the ledger "
                                       f"where the ledger signed it")
        self.run.stage_of("whole stream")
        for position, leaf in enumerate(leaves, start=1):
            if leaf.stream != stream:
                raise Failed(f"entry {leaf.index} ({leaf.event_id}) is on {leaf.stream}, not {stream}")
            if leaf.seq != position:
                raise Failed(f"{stream} is not whole: entry {leaf.index} has seq {leaf.seq} where seq {position} was "
                             f"due")
        self.report.subject = self.report.claimed
        self.report.facts["events"] = f"{len(leaves)} on {stream}, seq 1..{len(leaves)}; its end is not proved"
        self.report.facts["time span"] = f"{leaves[0].recorded_at} to {leaves[-1].recorded_at}"
        self.report.passed("whole stream", f"{stream} seq 1..{len(leaves)} without a gap and nothing foreign; its end "
                                           f"is not proved")
        self.report.skipped("stream end", f"a receipt carries no record of the ledger's that says where {stream} "
                                          f"ended: events after seq {len(leaves)} may have been left out (an evidence "
                                          f"bundle proves the end)")
        self.report.notes.append(f"not proved by the receipt: status, {described}, and each entry's duplicate and "
                                 f"receipt_url (the ledger's words beside the proofs)")
        self._anchor_proof(leaves[-1])

    def _event(self, receipt: dict[str, Any], what: str, *, record: bool = True, origin: str | None = None) -> Leaf:
        """One event's receipt (its shape checked): leaf, leaf hash, the fields shown beside it, the signed
        checkpoint (of ``origin`` when the receipt names one), the inclusion proof and, where the ledger signed
        it, the signature."""
        assert self.key is not None
        entry = receipt["entry"]
        index = entry["index"]
        if receipt["status"] != "checkpointed":
            raise Failed(f"entry {index} is still pending: no checkpoint covered it when the receipt was made")
        checkpoint = open_checkpoint(receipt["checkpoint"], self.key, what=f"{what}'s checkpoint")
        if origin is not None and checkpoint.origin != origin:
            raise Failed(f"{what}'s checkpoint is of log {checkpoint.origin!r}, the receipt says {origin!r}")
        raw = unb64(receipt["leaf"], f"entry {index}'s leaf")
        digest = leaf_hash(raw)
        if unb64(entry["leaf_hash"], f"entry {index}'s leaf_hash", size=32) != digest:
            raise Failed(f"entry {index}'s leaf does not hash to its leaf_hash")
        leaf = parse_leaf(raw, index)
        check_shown_fields(entry, leaf, ("event_id", "stream", "seq", "recorded_at"))
        proof = receipt["inclusion"]
        if (proof["index"], proof["tree_size"]) != (index, checkpoint.size):
            raise Failed(f"{what}'s inclusion proof is for another entry or tree than its checkpoint's")
        if root_from_inclusion(index=index, size=checkpoint.size, leaf_digest=digest,
                               path=hashes(proof["hashes"], f"{what}'s inclusion proof")) != checkpoint.root:
            raise Failed(f"entry {index} is not in the tree its checkpoint signs")
        signed = "not checked (a receipt carries no key history)"
        if leaf.key_id == LEDGER_KEY_ID:
            check_signature(public_key=self.key.public_key, signature=leaf.signature, data=leaf.statement_bytes,
                            what=f"entry {index} ({leaf.type})")
            signed = "signed by the ledger"
        else:
            self.report.notes.append(f"entry {index} is signed by system key {leaf.key_id!r}: a receipt carries no "
                                     f"key history, so that signature was not checked (an evidence bundle checks it)")
        if record:
            self.report.passed("receipt", f"entry {index} ({leaf.type}) is in the signed checkpoint of "
                                          f"{checkpoint.size} entries; {signed}")
        return leaf

    def _anchor_proof(self, last: Leaf) -> None:
        self.run.stage_of("anchor")
        assert self.key is not None
        anchor = self.document["anchor"]
        trusted = self.trusted.anchor_contract
        if anchor["status"] != "anchored":
            if trusted is not None:
                raise Failed(f"you asked to check the anchor at {trusted}; the receipt carries none (its anchor is "
                             f"{anchor['status']!r})")
            self.report.skipped("anchor", f"the receipt carries no anchor proof yet ({anchor['status']})")
            return
        if anchor["index"] != last.index or unb64(anchor["leaf_hash"], "anchor.leaf_hash",
                                                  size=32) != leaf_hash(last.raw):
            raise Failed(f"the anchor proof is not of the latest event (entry {last.index})")
        first = open_checkpoint(anchor["checkpoint"], self.key, what="the anchor proof's checkpoint")
        anchored = open_checkpoint(anchor["anchored_checkpoint"], self.key, what="the anchored checkpoint")
        digest = leaf_hash(last.raw)
        for name, tree in (("inclusion", first), ("anchored_inclusion", anchored)):
            proof = anchor[name]
            if (proof["index"], proof["tree_size"]) != (last.index, tree.size) or root_from_inclusion(
                    index=last.index, size=tree.size, leaf_digest=digest,
                    path=hashes(proof["hashes"], f"anchor.{name}")) != tree.root:
                raise Failed(f"anchor.{name} does not prove entry {last.index} in the tree of {tree.size}")
        consistency = anchor["consistency"]
        if (consistency["first"], consistency["second"]) != (first.size, anchored.size):
            raise Failed("anchor.consistency is not between the proof's checkpoint and the anchored one")
        check_consistency(first=first.size, second=anchored.size, first_root=first.root, second_root=anchored.root,
                          proof=hashes(consistency["hashes"], "anchor.consistency"))
        job = anchor["anchor"]
        if job["tree_size"] != anchored.size or unb64(job["root"], "anchor.anchor.root", size=32) != anchored.root:
            raise Failed("the anchoring transaction names another tree size or root than the anchored checkpoint")
        contract = job["contract"]
        if not ADDRESS.fullmatch(contract):
            raise Failed(f"anchor.anchor.contract {_shown(contract)} is not a contract address")
        if not isinstance(job["tx_hash"], str) or not TX_HASH.fullmatch(job["tx_hash"]):
            raise Failed(f"anchor.anchor.tx_hash {_shown(job['tx_hash'])} is not a transaction hash (0x and 64 hex "
                         f"digits)")
        if trusted is not None and not same_address(contract, trusted):
            raise Failed(f"the anchor is on contract {contract}, not on the anchor contract you trust ({trusted})")
        self.report.facts["anchor"] = (f"tree of {anchored.size} on chain {job.get('chain_id')} at "
                                       f"{job.get('contract')}, tx {job.get('tx_hash')} in block "
                                       f"{job.get('block_number')}")
        self.report.passed("anchor", f"entry {last.index} is under the anchored checkpoint of {anchored.size} entries")
        self.run.stage_of("anchor on chain")
        if self.chain is None:
            self.report.skipped("anchor on chain", "no --rpc given: rootOf and the transaction were not read")
            return
        if trusted is None:
            self.report.notes.append(f"the anchor contract ({contract}) came from the receipt itself: pass "
                                     f"--anchor-contract with the address the insurer publishes")
        check_anchor_on_chain(self.chain, chain_id=need(job, "chain_id", int, "anchor.anchor"),
                              contract=trusted or contract,
                              tx_hash=need(job, "tx_hash", str, "anchor.anchor"),
                              block=need(job, "block_number", int, "anchor.anchor"), tree_size=anchored.size,
                              root=anchored.root)
        self.report.passed("anchor on chain", f"rootOf({anchored.size}) holds the anchored root; the transaction "
                                              f"succeeded")


# --- command line ------------------------------------------------------------------------------------------


def _read(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except IsADirectoryError as exc:
        raise Unusable(f"{path} is a directory, not a file") from exc
    except OSError as exc:
        raise Unusable(f"cannot read {path}: {exc.strerror or exc}") from exc
    return loads(data, what=path)


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], Any] | None = None,
         err: Callable[[str], Any] | None = None) -> int:
    """Run the verifier as a command: returns the exit status (0 holds, 1 a check failed, 2 nothing can be
    decided). Whatever goes wrong is one line on stderr, never a traceback; with ``--json`` stdout always holds one
    JSON object (``{"ok": false, "error": ...}`` when nothing can be decided)."""
    write_out = out or sys.stdout.write
    write_err = err or sys.stderr.write
    parser = argparse.ArgumentParser(prog="verify-bundle", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("file", help="an evidence bundle or a receipt (JSON)")
    parser.add_argument("--vkey", help="the ledger's C2SP verifier key you trust (default: the file's own)")
    parser.add_argument("--rpc", help="a JSON-RPC URL of the chain, to check the anchor and documents there")
    parser.add_argument("--anchor-contract", metavar="ADDRESS",
                        help="the anchor contract the insurer publishes: the bundle's anchor must be on it")
    parser.add_argument("--registry", metavar="ADDRESS",
                        help="the document registry the insurer publishes: the documents must be registered there")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        report = verify(_read(args.file), vkey=args.vkey, rpc=args.rpc, anchor_contract=args.anchor_contract,
                        registry=args.registry)
    except Exception as exc:  # verify() turns errors into Unusable; this is the last guard of the exit status
        reason = str(exc) if isinstance(exc, Unusable) else f"unexpected {type(exc).__name__}: {exc}"
        if args.json:
            write_out(json_text({"ok": False, "error": reason}) + "\n")
        write_err(f"cannot verify: {one_line(reason)}\n")
        return 2
    write_out(json_text(report.to_json()) + "\n" if args.json else report.text())
    if report.failure is not None:
        write_err(f"FAILED {report.failure.name}: {one_line(report.failure.detail)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
