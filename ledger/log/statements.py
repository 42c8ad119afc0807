"""Signed statements and journal entry records: their fields, their checks and their canonical bytes.

The identifiers they carry (event ids, types, streams, subjects, the form of a timestamp) are checked by
:mod:`ledger.log.identifiers`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from ledger.crypto.keys import SigningKey, check_key_id, verify_signature
from ledger.errors import ValidationFailed
from ledger.log.encoding import (
    b64,
    canonical_json,
    decoded_copy,
    digest_str,
    nesting_exceeds,
    parse_digest,
    parse_json,
    payload_commitment,
    plain_members,
    unb64,
)
from ledger.log.identifiers import (
    check_event_id,
    check_event_type,
    check_stream,
    check_subject,
    parse_timestamp,
    utc_timestamp,
)

ENTRY_VERSION = 1
STATEMENT_VERSION = 2  # v2 binds the data subject into the salted payload commitment; v1 (no "v") is legacy
MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) can carry exactly
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PAYLOAD_DEPTH = 32  # nesting levels of objects and arrays inside a payload (the payload object is level 1)
LEAF_MAX_DEPTH = 4  # an entry record nests two levels (record, statement); more is not a leaf we wrote
STATEMENT_FIELDS = {"v", "event_id", "type", "stream", "occurred_at", "payload_hash", "seq"}
EVENT_FIELDS = ("statement", "key_id", "signature", "payload", "salt", "data_subject")
PERSONAL_FIELD = "personal"  # the payload member committing to an event's personal part


def _check_payload_and_salt(payload: Any, salt: bytes, *, prefix: str) -> None:
    """A payload is a JSON object nesting at most ``MAX_PAYLOAD_DEPTH`` levels, with 16-64 bytes of salt; the errors
    name ``<prefix>payload`` and ``<prefix>salt``."""
    if not isinstance(payload, dict):
        raise ValidationFailed(f"{prefix}payload must be a JSON object", field=f"{prefix}payload")
    if nesting_exceeds(payload, MAX_PAYLOAD_DEPTH):
        raise ValidationFailed(f"{prefix}payload nests objects and arrays more than {MAX_PAYLOAD_DEPTH} levels deep; "
                               f"the limit is {MAX_PAYLOAD_DEPTH}", field=f"{prefix}payload")
    if not 16 <= len(salt) <= 64:
        raise ValidationFailed(f"{prefix}salt must be 16 to 64 random bytes", field=f"{prefix}salt")


@dataclass(frozen=True)
class Statement:
    """What a signer asserts: an event of ``type`` on ``stream``, committing to its payload by salted hash.

    ``seq`` is optional: when given, the append fails with a conflict unless it is the stream's next sequence
    number (optimistic concurrency). ``version`` 2 (``"v": 2`` on the wire) commits to the data subject as well
    as the payload: ``payload_hash = SHA-256(salt || JCS({"data_subject": ..., "payload": ...}))``. Version 1
    statements (no ``"v"``) committed to the payload alone; they are read from old leaves, never accepted anew.
    """

    event_id: str
    type: str
    stream: str
    occurred_at: str
    payload_hash: bytes
    seq: int | None = None
    version: int = STATEMENT_VERSION

    @classmethod
    def from_json(cls, value: Any, *, field: str = "statement") -> Statement:
        """Build a statement from its JSON object, rejecting unknown, missing or malformed fields."""
        if not isinstance(value, dict):
            raise ValidationFailed(f"{field} must be a JSON object", field=field)
        unknown = set(value) - STATEMENT_FIELDS
        if unknown:
            raise ValidationFailed(f"{field} has unknown field(s): {', '.join(sorted(unknown))}", field=field)
        for name in ("event_id", "type", "stream", "occurred_at", "payload_hash"):
            if name not in value:
                raise ValidationFailed(f"{field}.{name} is required", field=f"{field}.{name}")
        version = value.get("v", 1)
        if "v" in value and (type(version) is not int or version != STATEMENT_VERSION):
            raise ValidationFailed(f"{field}.v must be {STATEMENT_VERSION} (or absent in entries recorded before "
                                   f"statements bound their data subject)", field=f"{field}.v")
        seq = value.get("seq")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)
                                or not 1 <= seq <= MAX_SAFE_INTEGER):
            raise ValidationFailed(f"{field}.seq must be a positive integer", field=f"{field}.seq")
        parse_timestamp(value["occurred_at"], field=f"{field}.occurred_at")
        return cls(
            event_id=check_event_id(value["event_id"], field=f"{field}.event_id"),
            type=check_event_type(value["type"], field=f"{field}.type"),
            stream=check_stream(value["stream"], field=f"{field}.stream"),
            occurred_at=value["occurred_at"],
            payload_hash=parse_digest(value["payload_hash"], field=f"{field}.payload_hash"),
            seq=seq,
            version=version,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "type": self.type,
            "stream": self.stream,
            "occurred_at": self.occurred_at,
            "payload_hash": digest_str(self.payload_hash),
        }
        if self.seq is not None:
            body["seq"] = self.seq
        if self.version != 1:
            body["v"] = self.version
        return body

    def canonical(self) -> bytes:
        """The bytes a signer signs: RFC 8785 canonical JSON of the statement (computed once)."""
        return self._canonical

    @functools.cached_property
    def _canonical(self) -> bytes:
        # Every field of a parsed statement is plain ASCII or a safe integer, so the fast path nearly always
        # applies; members in JCS order (event_id, occurred_at, payload_hash, seq, stream, type, v).
        members: list[tuple[str, str | int]] = [("event_id", self.event_id), ("occurred_at", self.occurred_at),
                                                ("payload_hash", digest_str(self.payload_hash))]
        if self.seq is not None:
            members.append(("seq", self.seq))
        members += [("stream", self.stream), ("type", self.type)]
        if self.version != 1:
            members.append(("v", self.version))
        fast = plain_members(members)
        return fast if fast is not None else canonical_json(self.to_json())


@dataclass(frozen=True)
class PersonalPart:
    """An event's personal fields, sealed under the person's own key apart from the business facts.

    The facts payload commits to it with ``"personal": "sha256:<hex>"``, the digest
    ``SHA-256(salt || JCS({"data_subject": data_subject, "payload": payload}))``, so the statement covers both parts
    while the facts stay readable (and verifiable) after the person is erased.
    """

    payload: dict[str, Any]
    salt: bytes
    data_subject: str

    def __post_init__(self) -> None:
        check_subject(self.data_subject, field="personal.data_subject")
        _check_payload_and_salt(self.payload, self.salt, prefix="personal.")

    @classmethod
    def from_json(cls, value: Any) -> PersonalPart:
        if not isinstance(value, dict) or set(value) != {"payload", "salt", "data_subject"}:
            raise ValidationFailed("personal must be an object with exactly payload, salt and data_subject",
                                   field="personal")
        return cls(payload=value["payload"], salt=unb64(value["salt"], field="personal.salt"),
                   data_subject=value["data_subject"])

    def to_json(self) -> dict[str, Any]:
        return {"payload": self.payload, "salt": b64(self.salt), "data_subject": self.data_subject}

    @functools.cached_property
    def payload_bytes(self) -> bytes:
        return canonical_json(self.payload)

    def digest(self) -> bytes:
        return payload_commitment(salt=self.salt, payload_canonical=self.payload_bytes, data_subject=self.data_subject)


@dataclass(frozen=True)
class SignedEvent:
    """A statement with its signature, plus the payload and salt that stay off the public log.

    ``payload`` holds the event's facts, sealed under ``data_subject``; ``personal``, if any, the personal fields
    sealed under the person's own subject (see :class:`PersonalPart`).
    """

    statement: Statement
    key_id: str
    signature: bytes
    payload: dict[str, Any]
    salt: bytes
    data_subject: str
    personal: PersonalPart | None = None

    def __post_init__(self) -> None:
        check_key_id(self.key_id)
        check_subject(self.data_subject)
        _check_payload_and_salt(self.payload, self.salt, prefix="")
        if len(self.signature) != 64:
            raise ValidationFailed("signature must decode to 64 bytes", field="signature")

    @classmethod
    def from_json(cls, value: Any) -> SignedEvent:
        """Parse the wire form ``{statement, key_id, signature, payload, salt, data_subject[, personal]}``."""
        if not isinstance(value, dict):
            raise ValidationFailed("event must be a JSON object")
        unknown = set(value).difference(EVENT_FIELDS, ("personal",))
        if unknown:
            raise ValidationFailed(f"event has unknown field(s): {', '.join(sorted(unknown))}",
                                   field=sorted(unknown)[0])
        for name in EVENT_FIELDS:
            if name not in value:
                raise ValidationFailed(f"{name} is required", field=name)
        personal = value.get("personal")
        return cls(
            statement=Statement.from_json(value["statement"]),
            key_id=check_key_id(value["key_id"]),
            signature=unb64(value["signature"], field="signature", length=64),
            payload=value["payload"],
            salt=unb64(value["salt"], field="salt"),
            data_subject=value["data_subject"],
            personal=None if personal is None else PersonalPart.from_json(personal),
        )

    def to_json(self) -> dict[str, Any]:
        body = {
            "statement": self.statement.to_json(),
            "key_id": self.key_id,
            "signature": b64(self.signature),
            "payload": self.payload,
            "salt": b64(self.salt),
            "data_subject": self.data_subject,
        }
        if self.personal is not None:
            body["personal"] = self.personal.to_json()
        return body

    @property
    def facts(self) -> dict[str, Any]:
        """The payload without its commitment to the personal part: what projections may read."""
        return {name: value for name, value in self.payload.items() if name != PERSONAL_FIELD}

    @functools.cached_property
    def payload_bytes(self) -> bytes:
        """The payload's RFC 8785 bytes, encoded once for hashing, size checks and sealing."""
        return canonical_json(self.payload)

    def check_payload(self) -> None:
        """Raise ``ValidationFailed`` unless the payload (and personal part) fit and match what was signed.

        A version 2 statement commits to the data subject too, so a subject changed after signing is refused
        here; a version 1 statement (legacy) commits to the payload alone. A personal part must match the digest
        the payload names in ``"personal"``, and a payload that names one must come with it.
        """
        size = len(self.payload_bytes)
        if size > MAX_PAYLOAD_BYTES:
            raise ValidationFailed(f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}", field="payload")
        bound = self.statement.version >= 2
        commitment = payload_commitment(salt=self.salt, payload_canonical=self.payload_bytes,
                                        data_subject=self.data_subject if bound else None)
        if commitment != self.statement.payload_hash:
            form = "SHA-256(salt || JCS({data_subject, payload}))" if bound else "SHA-256(salt || JCS(payload))"
            raise ValidationFailed(f"statement.payload_hash is not {form}: the payload, salt or data_subject "
                                   f"differs from what was signed", field="statement.payload_hash")
        named = self.payload.get(PERSONAL_FIELD)
        if self.personal is None:
            if named is not None:
                raise ValidationFailed("payload.personal commits to a personal part that was not sent",
                                       field="personal")
            return
        personal_size = len(self.personal.payload_bytes)
        if personal_size > MAX_PAYLOAD_BYTES:
            raise ValidationFailed(f"personal.payload is {personal_size} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                                   field="personal.payload")
        if not bound or named != digest_str(self.personal.digest()):
            raise ValidationFailed("payload.personal must be SHA-256(salt || JCS({data_subject, payload})) of the "
                                   "personal part sent with it", field="personal")

    def check_signature(self, public_key: bytes) -> None:
        """Raise ``SignatureError`` unless ``signature`` verifies over the canonical statement."""
        verify_signature(public_key=public_key, signature=self.signature, data=self.statement.canonical())


def sign_event(
    *,
    key: SigningKey,
    event_id: str,
    type: str,
    stream: str,
    payload: dict[str, Any],
    data_subject: str,
    occurred_at: str | None = None,
    seq: int | None = None,
    salt: bytes | None = None,
    personal: dict[str, Any] | None = None,
    personal_subject: str | None = None,
) -> SignedEvent:
    """Build and sign an event the way an internal system does before posting it.

    With ``personal`` (and ``personal_subject``, the person's subject), those fields are sealed apart under the
    person's key and the payload commits to them by digest.
    """
    salt = salt if salt is not None else os.urandom(32)
    part = None
    if personal is not None:
        if personal_subject is None:
            raise ValidationFailed("personal_subject is required with personal fields", field="personal_subject")
        part = PersonalPart(payload=personal, salt=os.urandom(32), data_subject=personal_subject)
        payload = {**payload, PERSONAL_FIELD: digest_str(part.digest())}
    payload_canonical = canonical_json(payload)
    commitment = payload_commitment(salt=salt, payload_canonical=payload_canonical, data_subject=data_subject)
    statement = Statement.from_json(
        {
            "v": STATEMENT_VERSION,
            "event_id": event_id,
            "type": type,
            "stream": stream,
            "occurred_at": occurred_at or utc_timestamp(),
            "payload_hash": digest_str(commitment),
            **({"seq": seq} if seq is not None else {}),
        }
    )
    # The event holds its own copy of what was signed, so a caller changing its dict afterwards changes nothing,
    # and the bytes encoded here serve the checks and the sealing. The event checks the copy's nesting itself.
    signed: dict[str, Any] | None = decoded_copy(payload_canonical)
    event = SignedEvent(
        statement=statement,
        key_id=key.key_id,
        signature=key.sign(statement.canonical()),
        payload=payload if signed is None else signed,
        salt=salt,
        data_subject=data_subject,
        personal=part,
    )
    if signed is not None:
        vars(event)["payload_bytes"] = payload_canonical
    return event


@dataclass(frozen=True)
class EntryRecord:
    """One journal leaf: the signed statement, who signed it, and where and when the ledger recorded it."""

    statement: Statement
    key_id: str
    signature: bytes
    seq: int
    recorded_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "v": ENTRY_VERSION,
            "statement": self.statement.to_json(),
            "key_id": self.key_id,
            "signature": b64(self.signature),
            "seq": self.seq,
            "recorded_at": self.recorded_at,
        }

    def leaf(self) -> bytes:
        """The leaf bytes hashed into the Merkle tree: RFC 8785 canonical JSON of ``to_json()``.

        Assembled from the statement's canonical bytes (already made to check its signature) and the other
        members, each canonicalised on its own, in JCS member order (key_id, recorded_at, seq, signature,
        statement, v); the result is byte-identical to canonicalising ``to_json()`` whole, which is slower.
        """
        head = plain_members([("key_id", self.key_id), ("recorded_at", self.recorded_at), ("seq", self.seq),
                              ("signature", b64(self.signature))])
        if head is None:  # not plain (only a record built by hand could be): the general encoder
            head = b"".join((b'{"key_id":', canonical_json(self.key_id), b',"recorded_at":',
                             canonical_json(self.recorded_at), b',"seq":', canonical_json(self.seq),
                             b',"signature":', canonical_json(b64(self.signature)), b"}"))
        return b"".join((head[:-1], b',"statement":', self.statement.canonical(), b',"v":%d}' % ENTRY_VERSION))

    @classmethod
    def from_leaf(cls, leaf: bytes) -> EntryRecord:
        """Parse leaf bytes strictly: they must be canonical JSON of a version-1 entry record."""
        value = parse_json(leaf, max_depth=LEAF_MAX_DEPTH, what="leaf")
        if not isinstance(value, dict) or set(value) != {"v", "statement", "key_id", "signature", "seq", "recorded_at"}:
            raise ValidationFailed("leaf does not have the entry record fields")
        if value["v"] != ENTRY_VERSION:
            raise ValidationFailed(f"leaf has unsupported version {value['v']!r}")
        seq = value["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValidationFailed("leaf seq must be a positive integer")
        parse_timestamp(value["recorded_at"], field="recorded_at")
        record = cls(
            statement=Statement.from_json(value["statement"]),
            key_id=check_key_id(value["key_id"]),
            signature=unb64(value["signature"], field="signature", length=64),
            seq=seq,
            recorded_at=value["recorded_at"],
        )
        if record.leaf() != leaf:
            raise ValidationFailed("leaf is not in RFC 8785 canonical form")
        return record
