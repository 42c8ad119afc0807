"""The key service: scopes that name what only the ledger writes are refused before anything is recorded."""

from __future__ import annotations

import pytest

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import ValidationFailed
from ledger.projections.scopes import KeyScope
from tests.factories import POLICY_ADMIN_SCOPE


@pytest.mark.parametrize(("scope", "field", "named"), [
    ({"types": ["document.registered"], "streams": ["policy"]}, "scope.types", "'document.registered'"),
    ({"types": ["document.*"], "streams": ["policy"]}, "scope.types", "'document.*'"),
    ({"types": ["ledger.*"], "streams": ["policy"]}, "scope.types", "'ledger.*'"),
    ({"types": ["policy.*"], "streams": ["document"]}, "scope.streams", "'document'"),
    ({"types": ["policy.*"], "streams": ["system"]}, "scope.streams", "'system'"),
], ids=["document-type", "document-prefix", "ledger-prefix", "document-stream", "system-stream"])
def test_a_scope_naming_the_ledgers_own_writes_is_refused(ledger: Ledger, scope: dict[str, list[str]], field: str,
                                                          named: str) -> None:
    size = ledger.log.size()
    key = SigningKey.generate("crm-1")
    with pytest.raises(ValidationFailed, match="only the ledger writes") as refused:
        ledger.keys.register(key_id=key.key_id, owner="crm", public_key=key.public_key,
                             scope=KeyScope.from_json(scope))
    assert refused.value.field == field and named in refused.value.message
    assert ledger.log.size() == size


def test_look_alike_names_and_everything_stay_allowed(ledger: Ledger, system_key: SigningKey) -> None:
    key = SigningKey.generate("crm-1")
    ledger.keys.register(key_id=key.key_id, owner="crm", public_key=key.public_key,
                         scope=KeyScope.from_json({"types": ["ledgers.note", "documents.*"], "streams": ["documents"]}))
    ledger.keys.change_scope(key_id=key.key_id, scope=KeyScope.from_json({"types": ["*"], "streams": ["*"]}))
    with pytest.raises(ValidationFailed, match="only the ledger writes"):
        ledger.keys.change_scope(key_id=system_key.key_id,
                                 scope=KeyScope.from_json({"types": ["document.*"], "streams": ["*"]}))
    with pytest.raises(ValidationFailed, match="only the ledger writes"):
        ledger.keys.rotate(old_key_id=system_key.key_id, key_id="policy-admin-2",
                           public_key=SigningKey.generate("policy-admin-2").public_key,
                           scope=KeyScope.from_json({"types": ["policy.*"], "streams": ["ledger"]}))
    assert ledger.keys.get(system_key.key_id).scope == POLICY_ADMIN_SCOPE
