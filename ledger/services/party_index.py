"""The party index: one person is one party across applications, found by a keyed hash of their identity number.

The hash is keyed with a key derived from the ledger's master key, so the index cannot be searched with a list
of identity numbers by anyone without the keys; it is kept outside the journal and erased with the party. A new
person's row is added by the journal in the same transaction as the group that registers them (``row``), so the
index never names a party that was not registered, and of two commands registering one person the second is
refused (``IndexTaken``) and resolves the people again.
"""

from __future__ import annotations

import hashlib
import hmac

from ledger.store.domain import DomainStore

INDEX_KEY_LABEL = b"lifeledger party index v1"


class PartyIndex:
    def __init__(self, store: DomainStore, *, master_key: bytes) -> None:
        self._store = store
        self._key = hmac.new(master_key, INDEX_KEY_LABEL, hashlib.sha256).digest()

    def fingerprint(self, id_number: str) -> bytes:
        return hmac.new(self._key, b"resident_id:" + id_number.encode("ascii"), hashlib.sha256).digest()

    def find(self, id_number: str) -> str | None:
        """The party registered with this identity number, if any."""
        return self._store.party_of(self.fingerprint(id_number))

    def find_many(self, id_numbers: list[str]) -> dict[str, str]:
        """The parties these identity numbers name, by number (numbers naming nobody are left out); one read."""
        prints = {self.fingerprint(number): number for number in id_numbers}
        return {prints[fingerprint]: party for fingerprint, party in self._store.parties_of(list(prints)).items()}

    def row(self, id_number: str, party_id: str) -> tuple[bytes, str]:
        """The (fingerprint, party id) row a registering group adds to the index (``Workflow.run(index=...)``)."""
        return self.fingerprint(id_number), party_id

    def forget(self, party_id: str) -> int:
        """Remove a party from the index (its erasure)."""
        return self._store.forget_party(party_id)
