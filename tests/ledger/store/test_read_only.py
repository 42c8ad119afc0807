"""A read-only store (what an audit of a copy opens): it reads, and every write fails without changing anything."""

from __future__ import annotations

import pytest

from ledger.app import Ledger
from ledger.errors import StorageError
from ledger.store import Store
from ledger.store.migrate import head_revision

pytestmark = pytest.mark.usefixtures("backend")


def test_a_read_only_store_reads_and_refuses_writes(ledger: Ledger, backend: str) -> None:
    url = ledger.settings.resolved_database_url
    if backend == "postgresql":  # options of the URL's own are kept beside the read-only session
        url += "?options=-csearch_path%3Dpublic"
    size = ledger.log.size()
    store = Store(url, read_only=True)
    try:
        assert store.revision() == head_revision()
        assert store.size() == size and store.meta("checkpoint_vkey") == ledger.log.vkey
        with pytest.raises(StorageError):
            store.claim_meta("written-by-an-audit", "yes")
        if backend == "postgresql":
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW search_path").scalar() == "public"
                assert conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
    finally:
        store.close()
    assert ledger.store.meta("written-by-an-audit") is None
