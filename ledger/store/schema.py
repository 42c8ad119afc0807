"""The database schema: journal, Merkle nodes, sealed payloads, checkpoints, projections."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Facts about the ledger that every process sharing this database must agree on (its checkpoint key, ...).
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row (id = 1): the committed tree size. Writers move it with a compare-and-set, so two writers can never
# both extend the same size and history stays one line.
log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("stream", String(160), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", String(128), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    UniqueConstraint("stream", "seq", name="uq_entries_stream_seq"),
)

# Hash of every complete, aligned, perfect subtree: (level, idx) covers leaves [idx * 2^level, (idx+1) * 2^level).
tree_nodes = Table(
    "tree_nodes",
    metadata,
    Column("level", Integer, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("level", "idx", name="pk_tree_nodes"),
)

payloads = Table(
    "payloads",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("subject", String(128), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),
)

subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", String(128), primary_key=True),
    Column("wrapped", LargeBinary, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("erased_at", String(32), nullable=True),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# Personal parts of events (an event's personal fields, sealed under the person's own key; the payload row holds
# its facts and commits to this part by digest).
personal_payloads = Table(
    "personal_payloads",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("subject", String(128), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),
)

# Projection tables (streams, system keys, documents, ...) are not declared here: they are derived data, created
# from their projectors' specs and rebuilt from the journal when their shape changes (ledger.store.rows).

# -- anchoring: an outbox of chain work, sent and confirmed by the anchoring worker ---------------------------

chain_deployments = Table(
    "chain_deployments",
    metadata,
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", String(64), nullable=False),
    Column("address", String(42), nullable=False),
    Column("deployed_at", String(32), nullable=False),
    PrimaryKeyConstraint("chain_id", "contract", name="pk_chain_deployments"),
)

# One row per transaction the worker must get confirmed: anchoring a checkpoint, or one document operation
# batch. Rows are written before anything is sent, so a crash never loses work; what was sent is found again
# by its transaction hash, or by the contract's own state when the crash came between sending and recording.
anchor_jobs = Table(
    "anchor_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # checkpoint | documents
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", String(42), nullable=False),
    Column("tree_size", BigInteger, nullable=True),
    Column("root", LargeBinary(32), nullable=True),
    Column("status", String(16), nullable=False),  # pending | sent | confirmed | skipped | failed
    Column("tx_hash", LargeBinary(32), nullable=True),
    Column("block_number", BigInteger, nullable=True),
    Column("block_hash", LargeBinary(32), nullable=True),
    Column("confirmations", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("created_at", String(32), nullable=False),
    Column("sent_at", String(32), nullable=True),
    Column("confirmed_at", String(32), nullable=True),
    Index("ix_anchor_jobs_kind_status", "kind", "status"),
    Index("ix_anchor_jobs_lineage", "kind", "chain_id", "contract", "status", "tree_size"),
)

# Leases: at most one process at a time does a job that must not run twice (the anchoring worker). The holder
# notes how its last round ended (``round_at``, ``last_error``: None when it succeeded), so every process on the
# database reports the same anchoring state, not only the one doing the work.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("round_at", Float, nullable=True),
    Column("last_error", Text, nullable=True),
)

# Document digests to put on chain, in order. ``op`` is register | supersede | revoke; a run of registers
# becomes one batch transaction, a supersede or revoke its own. Each row is written by the documents projection
# in the transaction of the ``document.*`` event at journal index ``idx``.
document_ops = Table(
    "document_ops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idx", BigInteger, nullable=True),
    Column("op", String(16), nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    Column("subject", LargeBinary(32), nullable=True),
    Column("kind", Integer, nullable=True),
    Column("version", BigInteger, nullable=True),
    Column("old_digest", LargeBinary(32), nullable=True),
    Column("reason_code", Integer, nullable=True),
    Column("job_id", Integer, nullable=True, index=True),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("idx", name="uq_document_ops_idx"),
)

# -- the domain: notices for the messaging system, uploaded files, idempotent commands -------------------------

# Notices (renewal, grace, suspension ...) for the messaging system, one row per ``policy.notice.sent`` event,
# written by the policies projection in that event's transaction; the messaging system marks ``delivered_at``.
policy_notices = Table(
    "policy_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idx", BigInteger, nullable=False),
    Column("application_id", String(64), nullable=False),
    Column("policy_no", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("due_date", String(10), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("text_zh", Text, nullable=False),
    Column("text_en", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("delivered_at", String(32), nullable=True),
    UniqueConstraint("idx", name="uq_policy_notices_idx"),
)

# Uploaded files, by content: the same bytes twice are stored once. ``subject`` is the data subject whose file
# it is (erasing the subject deletes their files); the bytes never reach the journal or the chain.
uploads = Table(
    "uploads",
    metadata,
    Column("digest", LargeBinary(32), primary_key=True),
    Column("subject", String(128), nullable=False, index=True),
    Column("media_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# Who uploaded (or had uploaded for them) which file: a file is stored once, and each owner may cite it until
# they are erased; a file with no owner left is deleted.
upload_owners = Table(
    "upload_owners",
    metadata,
    Column("digest", LargeBinary(32), nullable=False),
    Column("subject", String(128), nullable=False, index=True),
    Column("created_at", String(32), nullable=False),
    PrimaryKeyConstraint("digest", "subject", name="pk_upload_owners"),
)

# People by a keyed hash of their identity number, so one person is one party across applications. Not journal
# data: the fingerprint is a pseudonym of a personal identifier, and erasing the party deletes its rows.
party_index = Table(
    "party_index",
    metadata,
    Column("fingerprint", LargeBinary(32), primary_key=True),
    Column("party_id", String(128), nullable=False, index=True),
    Column("created_at", String(32), nullable=False),
)

# The first answer to each (caller, Idempotency-Key): a retry with the same body gets it again.
idempotency = Table(
    "idempotency",
    metadata,
    Column("principal", String(160), nullable=False),
    Column("key", String(128), nullable=False),
    Column("request_hash", LargeBinary(32), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
    PrimaryKeyConstraint("principal", "key", name="pk_idempotency"),
)

# One-time codes confirming a high-risk servicing request on a second channel (one row per request; a code sent
# again replaces the row). Only the code's HMAC is kept; the plain code sits in the message texts until the
# messaging system marks them delivered (or the code is used up), then they are set to NULL. Never journal data.
servicing_codes = Table(
    "servicing_codes",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("party", String(128), nullable=False),
    Column("channel", String(16), nullable=False, default="sms"),
    Column("code_mac", LargeBinary(32), nullable=False),
    Column("tries_left", Integer, nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("message_zh", Text, nullable=True),
    Column("message_en", Text, nullable=True),
    Column("delivered_at", String(32), nullable=True),
    Column("confirmed_at", String(32), nullable=True),
    Column("failed_at", String(32), nullable=True),
)
