"""Wire schemas: what the API accepts and returns. Bytes appear here as base64 or ``sha256:`` strings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.log.encoding import b64
from ledger.projections.scopes import KeyScope
from ledger.projections.system_keys import KeyState
from ledger.services.anchoring import AnchorJob, AnchorStatus
from ledger.services.intake import Receipt
from ledger.services.log import ConsistencyProof, FullReceipt, InclusionProof, KeyEventEvidence

B64_HASH = "base64 (standard, padded) of a 32-byte SHA-256 hash"

EVENT_EXAMPLE: dict[str, Any] = {
    "statement": {
        "event_id": "pa-2026-000123-issued",
        "type": "policy.issued",
        "stream": "policy:9b1c2e",
        "occurred_at": "2026-11-24T09:30:00Z",
        "payload_hash": "sha256:5c1b...(SHA-256 of salt || JCS({data_subject, payload}))",
        "v": 2,
    },
    "key_id": "policy-admin-2026",
    "signature": "base64 Ed25519 signature over JCS(statement)",
    "payload": {"product": "TERM20", "sum_assured": {"amount": "250000.00", "currency": "CNY"}},
    "salt": "base64 of 32 random bytes",
    "data_subject": "customer:c-1042",
}


class PersonalCreate(BaseModel):
    """An event's personal part: fields sealed under the person's own key, erasable without touching the facts."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] = Field(description="The personal fields (names, contacts, health data, ...)")
    salt: str = Field(description="base64 of 16-64 random bytes")
    data_subject: str = Field(description="The person's subject, e.g. party:7f3a9c")


class EventCreate(BaseModel):
    """A signed event as an internal system posts it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    statement: dict[str, Any] = Field(description="event_id, type, stream, occurred_at, payload_hash[, seq]; "
                                                  "signed as RFC 8785 canonical JSON")
    key_id: str = Field(description="Registered key that made the signature")
    signature: str = Field(description="base64 Ed25519 signature over JCS(statement)")
    payload: dict[str, Any] = Field(description="Event data; stored encrypted, never on the public log")
    salt: str = Field(description="base64 of 16-64 random bytes; "
                                  "payload_hash = SHA-256(salt || JCS({data_subject, payload}))")
    data_subject: str = Field(description="Whose key seals the payload (its key can be destroyed); bound to the "
                                          "signature through payload_hash")
    personal: PersonalCreate | None = Field(
        default=None, description="Personal fields sealed apart under the person's own key; the payload commits to "
                                  "them with \"personal\": \"sha256:<SHA-256(salt || JCS({data_subject, payload}))>\"")


class EventBatchCreate(BaseModel):
    """Up to 1,000 signed events, each recorded or rejected on its own."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventCreate] = Field(min_length=1, max_length=1000)


class ReceiptPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "index": 42, "event_id": "pa-2026-000123-issued", "stream": "policy:9b1c2e", "seq": 3,
        "leaf_hash": "OOswNdZ99KuqV164oNKKo/kTUSmAfSGWqns4JKt+jxk=", "recorded_at": "2026-11-24T20:23:16.126614Z",
        "duplicate": False, "receipt_url": "/v1/events/pa-2026-000123-issued/receipt"}]})

    index: int
    event_id: str
    stream: str
    seq: int
    leaf_hash: str = Field(description=B64_HASH)
    recorded_at: str
    duplicate: bool = Field(description="True if this event_id was recorded before with the same content")
    receipt_url: str

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptPublic:
        return cls(index=receipt.index, event_id=receipt.event_id, stream=receipt.stream, seq=receipt.seq,
                   leaf_hash=b64(receipt.leaf_hash), recorded_at=receipt.recorded_at, duplicate=receipt.duplicate,
                   receipt_url=f"/v1/events/{receipt.event_id}/receipt")


class ProblemPublic(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


class BatchItemPublic(BaseModel):
    status: Literal["recorded", "duplicate", "rejected"]
    receipt: ReceiptPublic | None = None
    problem: ProblemPublic | None = None


class BatchPublic(BaseModel):
    recorded: int
    duplicates: int
    rejected: int
    results: list[BatchItemPublic]


class InclusionPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "index": 42, "tree_size": 1001,
        "hashes": ["9vIRSF+C/W1keSo7A9XBtrJAWYuM46dXKoU9YcH27U4=", "w2b/EaPqAxADNk1/pVIUgOOh5Rh9adWzFwgXeUkgSFY="]}]})

    index: int
    tree_size: int
    hashes: list[str] = Field(description=f"audit path, bottom-up, each {B64_HASH}")

    @classmethod
    def of(cls, proof: InclusionProof) -> InclusionPublic:
        return cls(index=proof.index, tree_size=proof.tree_size, hashes=[b64(h) for h in proof.hashes])


class ConsistencyPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "first": 500, "second": 1001,
        "hashes": ["vnzde+wl7Qtf9HofeJs3tbFr8yzD/KG1xQyAebvjQAQ=", "dpbu3XXzgkPhKCxk72mV/vwou1d19OLyhgF3Ex5sOtc="]}]})

    first: int
    second: int
    hashes: list[str] = Field(description=f"consistency proof per RFC 9162 §2.1.4, each {B64_HASH}")

    @classmethod
    def of(cls, proof: ConsistencyProof) -> ConsistencyPublic:
        return cls(first=proof.first, second=proof.second, hashes=[b64(h) for h in proof.hashes])


class FullReceiptPublic(BaseModel):
    """Everything needed to check offline that the event is in the log the ledger signed."""

    entry: ReceiptPublic
    leaf: str = Field(description="base64 of the leaf bytes (RFC 8785 JSON of the entry record)")
    status: Literal["pending", "checkpointed"]
    checkpoint: str | None = Field(description="C2SP signed note of the covering checkpoint")
    inclusion: InclusionPublic | None

    @classmethod
    def of(cls, full: FullReceipt) -> FullReceiptPublic:
        proof = full.proof
        return cls(entry=ReceiptPublic.of(full.receipt), leaf=b64(full.leaf),
                   status="checkpointed" if full.checkpoint else "pending",
                   checkpoint=full.checkpoint.note if full.checkpoint else None,
                   inclusion=InclusionPublic.of(proof) if proof else None)


class EntryPublic(BaseModel):
    """A journal entry. Anyone gets ``index`` and ``leaf_hash``; the rest only those entitled to the leaf."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"index": 42, "leaf_hash": "OOswNdZ99KuqV164oNKKo/kTUSmAfSGWqns4JKt+jxk="},
        {"index": 42, "leaf": "eyJrZXlfaWQiOiJwb2xpY3ktYWRtaW4tMjAyNiIsInJlY29yZGVkX2F0Ijoi...",
         "leaf_hash": "OOswNdZ99KuqV164oNKKo/kTUSmAfSGWqns4JKt+jxk=", "event_id": "pa-2026-000123-issued",
         "type": "premium.collected", "stream": "policy:9b1c2e", "seq": 4,
         "recorded_at": "2026-11-24T20:23:16.126614Z"}]})

    index: int
    leaf_hash: str = Field(description=B64_HASH)
    leaf: str | None = Field(default=None, description="base64 of the leaf bytes (entitled readers only)")
    event_id: str | None = None
    type: str | None = None
    stream: str | None = None
    seq: int | None = None
    recorded_at: str | None = None


class KeyEventPublic(BaseModel):
    """A key event with its opening: anyone can check ``SHA-256(salt || JCS({data_subject, payload}))``."""

    index: int
    leaf: str = Field(description="base64 of the leaf bytes")
    payload: dict[str, Any]
    salt: str = Field(description="base64 salt")
    data_subject: str = Field(description="the subject the payload is sealed under (the ledger's own)")
    payload_canonical: str = Field(description="base64 of JCS(payload)")

    @classmethod
    def of(cls, evidence: KeyEventEvidence) -> KeyEventPublic:
        return cls(index=evidence.index, leaf=b64(evidence.leaf), payload=evidence.payload, salt=b64(evidence.salt),
                   data_subject=evidence.data_subject, payload_canonical=b64(evidence.payload_canonical))


class ScopeBody(BaseModel):
    """What a key may write: event types (exact, ``prefix.*`` or ``*``) and stream kinds (exact or ``*``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"types": ["policy.*", "premium.*"], "streams": ["policy"]}]})

    types: list[str] = Field(min_length=1, max_length=64)
    streams: list[str] = Field(min_length=1, max_length=64)

    def to_scope(self) -> KeyScope:
        return KeyScope.from_json(self.model_dump())


class KeyCreate(BaseModel):
    """A system key to register, with the scope of what it may write."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "key_id": "policy-admin-2026", "owner": "policy-admin",
        "public_key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
        "scope": {"types": ["policy.*", "premium.*"], "streams": ["policy"]}}]})

    key_id: str = Field(examples=["policy-admin-2026"])
    owner: str = Field(description="The system (token subject) allowed to sign with this key",
                       examples=["policy-admin"])
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    scope: ScopeBody = Field(description="The event types and stream kinds the key may write")


class KeyRotate(BaseModel):
    """The successor of a key; it keeps the old key's scope unless a new one is given."""

    model_config = ConfigDict(extra="forbid")

    key_id: str = Field(description="Id of the new key")
    public_key: str = Field(description="base64 of the new raw 32-byte Ed25519 public key")
    scope: ScopeBody | None = Field(default=None, description="A new scope (default: the old key's)")


class KeyRevoke(BaseModel):
    """Why a key is revoked."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, examples=["private key exposed in a backup"])


class KeyScopeChange(BaseModel):
    """A key's new scope."""

    model_config = ConfigDict(extra="forbid")

    scope: ScopeBody


class KeyPublic(BaseModel):
    key_id: str
    owner: str
    public_key: str
    status: Literal["active", "retired", "revoked"]
    scope: dict[str, list[str]] | None = Field(
        description="event types and stream kinds the key may write; null: registered before keys had scopes "
                    "(it may write anything)")
    registered_index: int
    registered_at: str
    ended_index: int | None
    ended_at: str | None
    reason: str | None

    @classmethod
    def of(cls, key: KeyState) -> KeyPublic:
        return cls(key_id=key.key_id, owner=key.owner, public_key=b64(key.public_key),
                   status=key.status,  # type: ignore[arg-type]
                   scope=key.scope.to_json() if key.scope is not None else None,
                   registered_index=key.registered_idx, registered_at=key.registered_at,
                   ended_index=key.ended_idx, ended_at=key.ended_at, reason=key.reason)


class KeyChangePublic(BaseModel):
    key: KeyPublic
    receipt: ReceiptPublic


class LogKeyPublic(BaseModel):
    origin: str
    vkey: str = Field(description="C2SP vkey of the key that signs checkpoints")
    system_keys: list[KeyPublic] = Field(description="Every registered system key and its history")


class AnchorPublic(BaseModel):
    """One checkpoint anchoring transaction and where it stands."""

    tree_size: int
    root: str = Field(description=B64_HASH)
    status: Literal["pending", "sent", "confirmed", "skipped", "failed"]
    chain_id: int
    contract: str
    tx_hash: str | None = Field(description="0x-prefixed transaction hash once sent")
    block_number: int | None
    confirmations: int
    attempts: int
    last_error: str | None
    created_at: str
    sent_at: str | None
    confirmed_at: str | None

    @classmethod
    def of(cls, job: AnchorJob) -> AnchorPublic:
        return cls(tree_size=job.tree_size or 0, root=b64(job.root or bytes(32)),
                   status=job.status,  # type: ignore[arg-type]
                   chain_id=job.chain_id, contract=job.contract,
                   tx_hash="0x" + job.tx_hash.hex() if job.tx_hash else None, block_number=job.block_number,
                   confirmations=job.confirmations, attempts=job.attempts, last_error=job.last_error,
                   created_at=job.created_at, sent_at=job.sent_at, confirmed_at=job.confirmed_at)


class AnchorsPublic(BaseModel):
    """Anchoring status: which chain and contracts, how far anchoring has got, and recent anchors."""

    status: Literal["not_configured", "configured"]
    chain: str | None = Field(description="'embedded' or the JSON-RPC URL without credentials")
    chain_id: int | None
    contracts: dict[str, str]
    log_size: int
    anchored_tree_size: int = Field(description="largest tree size whose root is anchored and confirmed")
    lag: int = Field(description="entries not yet covered by a confirmed anchor")
    jobs: dict[str, int] = Field(description="anchoring transactions by status")
    last_error: str | None
    anchors: list[AnchorPublic] = Field(description="recent checkpoint anchors, newest first")

    @classmethod
    def of(cls, state: AnchorStatus) -> AnchorsPublic:
        return cls(status="configured" if state.configured else "not_configured", chain=state.chain,
                   chain_id=state.chain_id, contracts=state.contracts, log_size=state.log_size,
                   anchored_tree_size=state.anchored_tree_size, lag=state.lag, jobs=state.jobs,
                   last_error=state.last_error, anchors=[AnchorPublic.of(job) for job in state.anchors])


class AnchorProofPublic(BaseModel):
    """Everything needed to check, with the contract's ``rootOf`` and RFC 9162, that an entry is anchored."""

    index: int
    leaf_hash: str = Field(description=B64_HASH)
    leaf: str | None = Field(default=None, description="base64 of the leaf bytes (entitled readers only)")
    checkpoint: str = Field(description="signed note of the first checkpoint covering the entry")
    inclusion: InclusionPublic = Field(description="the entry in that checkpoint")
    consistency: ConsistencyPublic = Field(description="that checkpoint's tree is a prefix of the anchored tree")
    anchored_checkpoint: str = Field(description="signed note of the anchored checkpoint")
    anchored_inclusion: InclusionPublic = Field(description="the entry directly in the anchored tree")
    anchor: AnchorPublic


class HealthPublic(BaseModel):
    status: Literal["ok"]
    tree_size: int
    checkpoint_size: int
    checkpoint_lag: int
    anchoring: Literal["off", "ok", "standby", "failing"] = Field(
        description="'failing' while the last anchoring round failed, a transaction was refused or this process "
                    "could not take or renew the anchoring lease; every process serving the database reports the "
                    "round of the one holding the anchoring lease, and 'standby' while that process has not "
                    "finished a round yet or its lease has run out")
    anchor_lag: int | None = Field(description="entries not yet covered by a confirmed anchor")
    anchoring_error: str | None

