"""The ledger's own part of the log: reserved event types, streams and data subject."""

from __future__ import annotations

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
