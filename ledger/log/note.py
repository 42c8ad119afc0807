"""C2SP signed notes with Ed25519: signing, verifying, vkey verifier keys and key ids.

Formats (https://c2sp.org/signed-note and the ``vkey`` text form of the Go ``note`` package): a note is UTF-8
text ending in a newline, a blank line, then signature lines ``— <key name> <base64(4-byte key id ||
signature)>``. Only signature type 0x01 (Ed25519) is supported. What a checkpoint note says (the tlog-checkpoint
body) is :mod:`ledger.log.checkpoint`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.crypto import ed25519
from ledger.crypto.ed25519 import check_public_key
from ledger.errors import SignatureError, ValidationFailed
from ledger.log.encoding import b64, sha256, unb64

ED25519_TYPE = 0x01
KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
# The spec asks verifiers to accept at least 16 signatures and to bound the count; 100 leaves room for
# witnesses and key rotation while keeping a hostile note cheap to reject.
MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "\u2014 "  # em dash, space

_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}", re.ASCII)


# --- shared checks --------------------------------------------------------------------------------


def _control_character(text: str, *, allow_newline: bool) -> str | None:
    """The first ASCII control character (below U+0020) in ``text`` that the formats forbid, if any."""
    for char in text:
        if char < " " and not (allow_newline and char == "\n"):
            return char
    return None


def _describe(char: str) -> str:
    if char == "\r":
        return "a carriage return (CRLF line endings are not allowed)"
    return f"control character U+{ord(char):04X}"


def check_text(text: str, *, what: str, field: str, allow_newline: bool) -> None:
    """Raise ``ValidationFailed`` naming ``what`` and ``field`` unless ``text`` is UTF-8 without control characters
    (a newline allowed only with ``allow_newline``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationFailed(f"{what} is not valid UTF-8", field=field) from exc
    bad = _control_character(text, allow_newline=allow_newline)
    if bad is not None:
        raise ValidationFailed(f"{what} contains {_describe(bad)}", field=field)


def check_key_name(name: object, *, field: str = "name") -> str:
    """A key name: non-empty, no Unicode spaces, no ``+``, no control characters."""
    if not isinstance(name, str):
        raise ValidationFailed(f"key name must be a string, got {type(name).__name__}", field=field)
    if not name:
        raise ValidationFailed("key name must not be empty", field=field)
    check_text(name, what="key name", field=field, allow_newline=False)
    if any(char.isspace() for char in name):
        raise ValidationFailed(f"key name {name!r} must not contain spaces", field=field)
    if "+" in name:
        raise ValidationFailed(f"key name {name!r} must not contain '+'", field=field)
    return name


def _check_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise ValidationFailed(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} raw bytes", field="public_key")
    return public_key


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP key id of an Ed25519 key: ``SHA-256(name || 0x0A || 0x01 || public_key)[:4]``.

    Raises ``ValidationFailed`` for an invalid key name or a public key that is not 32 bytes.
    """
    encoded = check_key_name(name).encode("utf-8")
    return sha256(encoded + b"\n" + bytes([ED25519_TYPE]) + _check_public_key(public_key))[:KEY_ID_SIZE]


def vkey(name: str, public_key: bytes) -> str:
    """The verifier key text ``<name>+<8 hex digits of key id>+<base64(0x01 || public_key)>``.

    Raises ``ValidationFailed`` for an invalid key name or a public key that is not 32 bytes.
    """
    return f"{name}+{key_id(name, public_key).hex()}+{b64(bytes([ED25519_TYPE]) + public_key)}"


# --- signed notes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: key name, key id and the raw signature bytes that follow the id."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """A note split into its text and signature lines; nothing verified yet."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def from_text(cls, note: str) -> SignedNote:
        """Split a signed note into text and signatures, checking the format strictly but no signature.

        Raises ``ValidationFailed`` for: text that is not a string or not UTF-8, control characters other than
        newline (so CRLF line endings), a missing final newline, no blank line before the signatures, no
        signature lines, more than ``MAX_SIGNATURES``, a line not of the form ``— <name> <base64>``, an
        invalid key name, base64 that is not standard padded base64, a signature shorter than 5 bytes, or
        two signatures with the same key name and key id.
        """
        if not isinstance(note, str):
            raise ValidationFailed("signed note must be text", field="note")
        check_text(note, what="signed note", field="note", allow_newline=True)
        if not note.endswith("\n"):
            raise ValidationFailed("signed note must end with a newline", field="note")
        split = note.rfind("\n\n")
        if split < 0:
            raise ValidationFailed("signed note has no blank line between text and signatures", field="note")
        text, block = note[: split + 1], note[split + 2 :]
        if not block:
            raise ValidationFailed("signed note has no signature lines", field="note")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise ValidationFailed(
                f"signed note has {len(lines)} signatures; at most {MAX_SIGNATURES} are accepted",
                field="note",
            )
        signatures: list[NoteSignature] = []
        seen: set[tuple[str, bytes]] = set()
        for number, line in enumerate(lines, start=1):
            signature = _parse_signature_line(line, number)
            if (signature.name, signature.key_id) in seen:
                raise ValidationFailed(
                    f"signature line {number} repeats a signature by {signature.name} "
                    f"(key id {signature.key_id.hex()})",
                    field="note",
                )
            seen.add((signature.name, signature.key_id))
            signatures.append(signature)
        return cls(text=text, signatures=tuple(signatures))


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    field = "note"
    if not line.startswith(SIGNATURE_PREFIX):
        raise ValidationFailed(
            f"signature line {number} does not start with an em dash and a space", field=field
        )
    name, separator, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not separator:
        raise ValidationFailed(f"signature line {number} has no signature after the key name", field=field)
    try:
        check_key_name(name, field=field)
    except ValidationFailed as exc:
        raise ValidationFailed(f"signature line {number}: {exc.message}", field=field) from exc
    if not encoded:
        raise ValidationFailed(f"signature line {number} has an empty signature", field=field)
    try:
        raw = unb64(encoded)
    except ValidationFailed as exc:
        message = f"signature line {number}: signature is not standard padded base64"
        raise ValidationFailed(message, field=field) from exc
    if len(raw) <= KEY_ID_SIZE:
        raise ValidationFailed(
            f"signature line {number} is {len(raw)} bytes; a key id and a signature need at least 5",
            field=field,
        )
    return NoteSignature(name=name, key_id=raw[:KEY_ID_SIZE], signature=raw[KEY_ID_SIZE:])


def _check_note_text(body: object) -> str:
    """Text that can be signed: UTF-8 bytes, not empty, ending in a newline, no control characters."""
    if not isinstance(body, bytes):
        raise ValidationFailed("note text must be bytes", field="body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("note text is not valid UTF-8", field="body") from exc
    if not text.endswith("\n"):
        raise ValidationFailed("note text must be non-empty and end with a newline", field="body")
    check_text(text, what="note text", field="body", allow_newline=True)
    return text


class _NoteKey:
    """What a note's signer and verifier share: the key name, its raw Ed25519 public key and their key id."""

    _name: str
    _public_key: bytes
    _key_id: bytes

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def vkey(self) -> str:
        return vkey(self._name, self._public_key)


class NoteSigner(_NoteKey):
    """Signs note texts with one Ed25519 key under one key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Requires a valid key name (``ValidationFailed`` otherwise) and an Ed25519 key (``TypeError``)."""
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(f"private_key must be an Ed25519PrivateKey, got {type(private_key).__name__}")
        self._name = check_key_name(name)
        self._private_key = private_key
        self._public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._key_id = key_id(name, self._public_key)

    def verifier(self) -> NoteVerifier:
        """The verifier for this signer's key."""
        return NoteVerifier(self._name, self._public_key)

    def signature_line(self, body: bytes) -> str:
        """The line ``— <name> <base64(key id || signature)>\\n`` for ``body``, e.g. to cosign a note.

        Raises ``ValidationFailed`` if ``body`` is not signable note text (see ``sign``).
        """
        _check_note_text(body)
        signature = self._private_key.sign(body)
        return f"{SIGNATURE_PREFIX}{self._name} {b64(self._key_id + signature)}\n"

    def sign(self, body: bytes) -> str:
        """The signed note: ``body``, a blank line, and this key's signature line.

        Requires ``body`` to be UTF-8, non-empty, newline-terminated and free of other control characters;
        raises ``ValidationFailed`` otherwise.
        """
        return _check_note_text(body) + "\n" + self.signature_line(body)

    def __repr__(self) -> str:
        return f"NoteSigner({self.vkey!r})"


class NoteVerifier(_NoteKey):
    """Verifies signed notes against one trusted Ed25519 key, identified by key name and key id."""

    def __init__(self, name: str, public_key: bytes) -> None:
        """Raises ``ValidationFailed`` for an invalid key name or a key that is not 32 bytes."""
        self._name = check_key_name(name)
        self._public_key = check_public_key(_check_public_key(public_key))  # refuses small-order and weak keys
        self._key_id = key_id(name, public_key)

    @classmethod
    def from_vkey(cls, text: str) -> NoteVerifier:
        """Parse ``<name>+<8 lowercase hex key id>+<base64(0x01 || 32-byte Ed25519 key)>`` strictly.

        Raises ``ValidationFailed`` for each malformation: missing parts, invalid key name, key id that is not
        8 lowercase hex digits, key data that is not standard padded base64, a signature type other than
        Ed25519 (0x01), a key that is not 32 bytes, or a key id that does not match the name and key.
        """
        field = "vkey"
        if not isinstance(text, str):
            raise ValidationFailed("vkey must be text", field=field)
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise ValidationFailed("vkey must look like <name>+<key id hex>+<base64 key>", field=field)
        name, id_hex, key_text = parts
        try:
            check_key_name(name, field=field)
        except ValidationFailed as exc:
            raise ValidationFailed(f"vkey: {exc.message}", field=field) from exc
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise ValidationFailed("vkey key id must be 8 lowercase hex digits", field=field)
        try:
            key_data = unb64(key_text)
        except ValidationFailed as exc:
            raise ValidationFailed("vkey key data is not standard padded base64", field=field) from exc
        if not key_data:
            raise ValidationFailed("vkey key data is empty", field=field)
        if key_data[0] != ED25519_TYPE:
            raise ValidationFailed(
                f"vkey signature type 0x{key_data[0]:02x} is not supported (only Ed25519, 0x01)", field=field
            )
        public_key = key_data[1:]
        if len(public_key) != PUBLIC_KEY_SIZE:
            raise ValidationFailed(
                f"vkey Ed25519 key is {len(public_key)} bytes, expected {PUBLIC_KEY_SIZE}", field=field
            )
        if key_id(name, public_key).hex() != id_hex:
            raise ValidationFailed("vkey key id does not match its name and key", field=field)
        return cls(name, public_key)

    def verify(self, note: str) -> bytes:
        """Verify ``note`` and return its text (the signed body) as UTF-8 bytes.

        Signatures from other keys (a different name or key id) are ignored, as the spec requires. At least
        one signature by this key must be present and every one must verify. Raises ``ValidationFailed`` for
        a malformed note (see ``SignedNote.from_text``) and ``SignatureError`` if a signature by this key
        fails or none is present.
        """
        parsed = SignedNote.from_text(note)
        body = parsed.text.encode("utf-8")
        verified = False
        for signature in parsed.signatures:
            if signature.name != self._name or signature.key_id != self._key_id:
                continue
            if len(signature.signature) != SIGNATURE_SIZE:
                raise SignatureError(
                    f"signature by {self._name} is {len(signature.signature)} bytes, not {SIGNATURE_SIZE}",
                    field="note",
                )
            try:
                ed25519.verify(public_key=self._public_key, signature=signature.signature, data=body)
            except SignatureError as exc:
                raise SignatureError(f"signature by {self._name}: {exc.message}", field="note") from exc
            verified = True
        if not verified:
            raise SignatureError(
                f"note has no signature by {self._name} ({self._key_id.hex()})", field="note"
            )
        return body

    def __repr__(self) -> str:
        return f"NoteVerifier({self.vkey!r})"

