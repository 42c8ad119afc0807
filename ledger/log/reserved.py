"""The ledger's own part of the log: reserved event types, streams and data subject."""

from __future__ import annotations

from ledger.crypto.keys import LEDGER_KEY_ID as LEDGER_KEY_ID  # the ledger's own signing key, kept with its names
from ledger.log.catalog import EventType

LEDGER_TYPE_PREFIX = "ledger."  # the ledger's own events: key history, erasure records
DOCUMENT_TYPE_PREFIX = "document."  # document registry events: each one queues a digest for the chain
RESERVED_TYPE_PREFIXES = (LEDGER_TYPE_PREFIX, DOCUMENT_TYPE_PREFIX)  # event types only the ledger writes
# Streams the ledger itself writes: key history, erasures, document lineages (``document:<subject hex>``), and
# the workflows' streams, whose events the ledger decides and signs: a policy from application to its end
# (``contract:<application id>``), a person (``party:<party id>``), the product versions published
# (``catalog:products``), a servicing request (``servicing:<request id>``), a claim (``claim:<claim id>``);
# an auditor's grants and reads (``audit:<auditor>``); payments that named no known policy go on
# ``ledger:unmatched-payments``.
RESERVED_STREAM_KINDS = ("ledger", "system", "document", "contract", "party", "catalog", "servicing", "claim",
                         "audit")
LEDGER_SUBJECT = "ledger"  # the data subject of the ledger's own events; never erased
RESERVED_SUBJECTS = (LEDGER_SUBJECT,)  # no system writes under these, no customer token names them

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
