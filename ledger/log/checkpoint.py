"""C2SP tlog-checkpoint bodies: origin, tree size and root, and opening a signed checkpoint note.

A checkpoint (https://c2sp.org/tlog-checkpoint) is what a signed note's text says: three lines, the log's
origin, the tree size in decimal and the base64 root hash. ``Checkpoint`` builds and parses that body strictly;
``open_checkpoint`` verifies the note's signature with a :class:`~ledger.log.note.NoteVerifier` and parses what it
signed. The note format and its signatures are :mod:`ledger.log.note`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.errors import ValidationFailed, VerificationError
from ledger.log.encoding import b64, unb64
from ledger.log.note import NoteVerifier, check_text

ROOT_SIZE = 32
MAX_TREE_SIZE = (1 << 64) - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size and RFC 9162 root hash (no extension lines)."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise ValidationFailed("checkpoint origin must be a non-empty string", field="origin")
        check_text(self.origin, what="checkpoint origin", field="origin", allow_newline=False)
        if (
            isinstance(self.size, bool)
            or not isinstance(self.size, int)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise ValidationFailed("checkpoint size must be an integer from 0 to 2**64-1", field="size")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise ValidationFailed(f"checkpoint root must be {ROOT_SIZE} bytes", field="root")

    def body(self) -> bytes:
        """The note text ``<origin>\\n<size>\\n<base64 root>\\n`` as UTF-8."""
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\n".encode()

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly.

        Requires exactly three lines, each ending in ``\\n``: a non-empty origin, the tree size in decimal
        without leading zeros, and the standard padded base64 of a 32-byte root. Extension lines are refused
        (the spec makes them optional and not recommended; this log never writes them). Raises
        ``ValidationFailed`` naming what is wrong.
        """
        if not isinstance(text, str):
            raise ValidationFailed("checkpoint body must be text", field="checkpoint")
        check_text(text, what="checkpoint body", field="checkpoint", allow_newline=True)
        if not text.endswith("\n"):
            raise ValidationFailed("checkpoint body must end with a newline", field="checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ValidationFailed(
                f"checkpoint body has {len(lines)} lines; origin, size and root are required",
                field="checkpoint",
            )
        if len(lines) > 3:
            raise ValidationFailed("checkpoint extension lines are not supported", field="checkpoint")
        origin, size_text, root_text = lines
        if not origin:
            raise ValidationFailed("checkpoint origin line is empty", field="origin")
        if not _DECIMAL.fullmatch(size_text):
            raise ValidationFailed(
                f"checkpoint size {size_text!r} is not a decimal number without leading zeros", field="size"
            )
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise ValidationFailed("checkpoint size is larger than 2**64-1", field="size")
        root = unb64(root_text, field="root", length=ROOT_SIZE)
        return cls(origin=origin, size=size, root=root)


def open_checkpoint(note: str, verifier: NoteVerifier, *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note and parse its body; if ``origin`` is given, require it.

    Raises ``ValidationFailed`` for a malformed note or body, ``SignatureError`` if the note is not signed by
    ``verifier``'s key, and ``VerificationError`` if the checkpoint's origin is not ``origin``.
    """
    checkpoint = Checkpoint.from_body(verifier.verify(note).decode("utf-8"))
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}", field="origin"
        )
    return checkpoint
