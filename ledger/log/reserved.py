"""The ledger's own part of the log: reserved event types, streams and data subject."""

from __future__ import annotations

from ledger.log.catalog import EventType

LEDGER_TYPE_PREFIX = "ledger."  # event types only the ledger writes
RESERVED_STREAM_KINDS = ("ledger", "system")  # streams the ledger itself writes (key history, erasures)
LEDGER_SUBJECT = "ledger"  # the data subject of the ledger's own events; never erased

# Key history, on the stream ``system:<owner>``; payloads in docs/FORMATS.md ("System keys").
KEY_REGISTERED = "ledger.key.registered"
KEY_ROTATED = "ledger.key.rotated"
KEY_REVOKED = "ledger.key.revoked"
KEY_SCOPED = "ledger.key.scope_changed"
KEY_EVENTS = (KEY_REGISTERED, KEY_ROTATED, KEY_REVOKED, KEY_SCOPED)

# Recorded before a data subject's key is destroyed, on the stream ``ledger:erasures``; payload {"subject": ...}.
SUBJECT_ERASED = "ledger.subject.erased"
ERASURES_STREAM = "ledger:erasures"

# The ledger's own event types: facts only (key history and erasure records hold no personal data).
LEDGER_EVENT_TYPES = (
    EventType(KEY_REGISTERED, frozenset({"key_id", "owner", "public_key", "scope"})),
    EventType(KEY_ROTATED, frozenset({"key_id", "owner", "public_key", "scope", "replaces"})),
    EventType(KEY_REVOKED, frozenset({"key_id", "reason"})),
    EventType(KEY_SCOPED, frozenset({"key_id", "scope"})),
    EventType(SUBJECT_ERASED, frozenset({"subject"})),
)
