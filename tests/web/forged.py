"""A journal of document events built here and signed with a key made here: proof answers shaped as the service
shapes them, valid in every hash and signature, whose entries a test can swap for other valid entries. The Merkle
tree is RFC 9162 §2.1 written out from the RFC (not the ledger's code), the commitment and the leaf are RFC 8785."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EPOLICY = 1
CLAIM_DOCUMENT = 2


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest_of(name: str) -> str:
    """The fingerprint of a made-up file called ``name``."""
    return "sha256:" + sha256(name.encode()).hex()


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [_mth(leaves)]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


@dataclass(frozen=True)
class Entry:
    index: int
    leaf: bytes
    recorded_at: str
    salt: bytes
    payload: dict[str, Any]


@dataclass
class Journal:
    """Entries appended in order; checkpoints, inclusion and consistency proofs over any prefix."""

    name: str = "forged.lifeledger/log"
    seed: bytes = b"tests/web/forged.py"
    entries: list[Entry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(sha256(self.seed))
        public = self._key.public_key().public_bytes_raw()
        typed = b"\x01" + public
        self.key_id = sha256(self.name.encode() + b"\n" + typed)[:4]
        self.vkey = f"{self.name}+{self.key_id.hex()}+{b64(typed)}"

    def append(self, type: str, stream: str, payload: dict[str, Any], *, key_id: str = "ledger") -> Entry:
        """A document event signed by this journal's key (whatever ``key_id`` the record names)."""
        index = len(self.entries)
        salt = sha256(f"salt {index}".encode())
        committed = rfc8785.dumps({"data_subject": "ledger", "payload": payload})
        recorded_at = f"2026-12-01T02:{index // 60:02d}:{index % 60:02d}.000000Z"
        statement: dict[str, Any] = {
            "event_id": f"ll-00000000-0000-4000-8000-{index:012d}", "occurred_at": recorded_at,
            "payload_hash": "sha256:" + sha256(salt + committed).hex(), "stream": stream, "type": type, "v": 2}
        signature = b64(self._key.sign(rfc8785.dumps(statement)))
        record: dict[str, Any] = {"key_id": key_id, "recorded_at": recorded_at, "seq": index + 1,
                                  "signature": signature, "statement": statement, "v": 1}
        entry = Entry(index=index, leaf=rfc8785.dumps(record), recorded_at=recorded_at, salt=salt, payload=payload)
        self.entries.append(entry)
        return entry

    def register(self, name: str, subject: str, *, kind: int = EPOLICY, version: int = 1,
                 key_id: str = "ledger") -> Entry:
        """``document.registered`` of the file ``name`` in the lineage ``subject``, on that lineage's stream."""
        payload = {"digest": digest_of(name), "subject": lineage(subject), "kind": kind, "version": version}
        return self.append("document.registered", stream(subject), payload, key_id=key_id)

    def supersede(self, old: str, new: str, subject: str, *, version: int) -> Entry:
        return self.append("document.superseded", stream(subject),
                           {"digest": digest_of(new), "old_digest": digest_of(old), "version": version})

    def revoke(self, name: str, subject: str, *, code: int = 1) -> Entry:
        return self.append("document.revoked", stream(subject), {"digest": digest_of(name), "reason_code": code})

    # -- the tree ---------------------------------------------------------------------------------------------

    def _leaves(self, size: int) -> list[bytes]:
        return [entry.leaf for entry in self.entries[:size]]

    def checkpoint(self, size: int) -> str:
        body = f"{self.name}\n{size}\n{b64(_mth(self._leaves(size)))}\n"
        signature = b64(self.key_id + self._key.sign(body.encode()))
        return f"{body}\n\u2014 {self.name} {signature}\n"

    def root(self, size: int) -> str:
        return b64(_mth(self._leaves(size)))

    def proved(self, entry: Entry, size: int) -> dict[str, Any]:
        """The entry as the proof answer carries it, with its inclusion in the tree of ``size`` entries."""
        hashes = [b64(h) for h in _path(entry.index, self._leaves(size))]
        return {"index": entry.index, "leaf": b64(entry.leaf), "recorded_at": entry.recorded_at,
                "opening": {"salt": b64(entry.salt), "payload": entry.payload, "data_subject": "ledger"},
                "inclusion": {"index": entry.index, "tree_size": size, "hashes": hashes}}

    def anchor(self, first: int, second: int) -> dict[str, Any]:
        """An anchored checkpoint of ``first`` entries, with its consistency proof to the tree of ``second``."""
        hashes = [b64(h) for h in _subproof(first, self._leaves(second), True)] if first < second else []
        return {"status": "anchored", "checkpoint": self.checkpoint(first), "tree_size": first,
                "root": self.root(first), "consistency": {"first": first, "second": second, "hashes": hashes},
                "chain_id": 31337, "contract": "0x" + "ab" * 20, "tx_hash": "0x" + "cd" * 32, "block": 7,
                "confirmations": 3, "confirmed_at": "2026-12-01T03:00:00Z"}

    def answer(self, name: str, *, status: str, registration: Entry, version: int | None = None,
               lineage: tuple[Entry, ...] = (), change: Entry | None = None, anchored: int | None = None,
               kind: str | int = "e-policy", superseded_by: str | None = None,
               superseded_by_version: int | None = None, revocation_code: int | None = None,
               chain: list[str] | None = None) -> dict[str, Any]:
        """The proof answer about the file ``name`` as the service shapes it, over every entry so far, anchored at
        ``anchored`` entries (default: all of them)."""
        size = len(self.entries)
        ops = chain if chain is not None else ["register"]
        return {
            "digest": digest_of(name), "status": status, "kind": kind,
            "version": version if version is not None else registration.payload["version"],
            "superseded_by": digest_of(superseded_by) if superseded_by else None,
            "superseded_by_version": superseded_by_version,
            "revocation": ({"reason_code": revocation_code, "reason": {"zh": "保险合同已解除", "en": "cancelled"}}
                           if revocation_code is not None else None),
            "policy": {"policy_no": "**************1234", "version": registration.payload["version"],
                       "issued_on": "2026-12-01",
                       "product": {"id": "whole-life", "version": 1, "name": {"zh": "终身寿险", "en": "Whole Life"}}},
            "chain": [{"op": op, "status": "confirmed", "chain_id": 31337, "contract": "0x" + "ef" * 20,
                       "tx_hash": "0x" + "12" * 32, "block": 9, "confirmations": 2} for op in ops],
            "proof": {"vkey": self.vkey, "checkpoint": self.checkpoint(size),
                      "registration": self.proved(registration, size),
                      "status_change": self.proved(change, size) if change else None,
                      "lineage": [self.proved(entry, size) for entry in lineage],
                      "anchor": self.anchor(anchored if anchored is not None else size, size)},
        }


def lineage(subject: str) -> str:
    """The salted commitment naming a document lineage (here: the hash of a word)."""
    return "sha256:" + sha256(subject.encode()).hex()


def stream(subject: str) -> str:
    return "document:" + sha256(subject.encode()).hex()
