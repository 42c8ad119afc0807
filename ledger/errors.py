"""The ledger's error hierarchy: every failure the core raises is one of these."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose.

    ``field`` names the input that was wrong (a JSON pointer-ish dotted path) when one is to blame.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(LedgerError):
    """Input is malformed or breaks a schema rule."""


class NotFound(LedgerError):
    """The named object does not exist."""


class Forbidden(LedgerError):
    """The caller is known but may not do this (a key writing outside its scope, ...)."""


class Conflict(LedgerError):
    """The request contradicts recorded state (idempotency key reused, stale sequence, duplicate key)."""


class StreamMoved(Conflict):
    """A group was decided at a stream position the stream has since moved past: reload and decide again."""

    def __init__(self, message: str, *, stream: str, expected: int, actual: int) -> None:
        super().__init__(message, field="expected_seq")
        self.stream = stream
        self.expected = expected
        self.actual = actual


class IndexTaken(Conflict):
    """A person a group indexes (by the keyed fingerprint of their identity number) was indexed by another command
    after the decision: resolve the people again (they are that command's party now) and decide again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="party_index")


class Refused(Conflict):
    """A command the rules refuse: ``rule`` names the rule, with a plain-language reason in Chinese and English."""

    def __init__(self, message: str, *, rule: str, zh: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.rule = rule
        self.zh = zh


class InvalidTransition(Conflict):
    """A lifecycle change that the current state does not allow."""


class VerificationError(LedgerError):
    """A proof, checkpoint or recomputed value does not match what it should."""


class SignatureError(VerificationError):
    """A signature is invalid, or its key is unknown, revoked or not valid at that time."""


class ErasedError(LedgerError):
    """The data subject's key was destroyed, so the payload can no longer be read."""


class AnchorUnavailable(LedgerError):
    """The chain cannot be reached or anchoring is not configured."""


class StorageError(LedgerError):
    """The database failed in a way that is not the caller's fault."""


class ConfigurationError(LedgerError):
    """The ledger is set up inconsistently (keys that do not belong to this database, ...)."""
