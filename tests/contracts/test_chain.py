"""The chain client on the embedded EVM: sending, receipts, confirmations, deployment, connection errors, and
the SQLite key-value store under py-evm."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from eth_utils import ValidationError

from ledger.anchoring import (
    Chain,
    Checkpoint,
    ContractRevert,
    DocumentRegistryContract,
    LedgerAnchorContract,
    Registration,
    connect,
    deploy_all,
    embedded,
)
from ledger.anchoring.embedded import EMBEDDED_CHAIN_ID, SQLiteKeyValueDB
from ledger.errors import AnchorUnavailable, NotFound, ValidationFailed
from tests.contracts.helpers import mined

ROOT_A = bytes.fromhex("aa" * 32)
# A key that is not one of the embedded chain's development accounts.
OWN_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def test_embedded_chain_basics(chain: Chain):
    assert chain.chain_id == EMBEDDED_CHAIN_ID
    assert chain.sender == chain.web3.eth.accounts[0]
    assert chain.block_number() == 0


def test_each_transaction_is_mined_in_its_own_block(chain: Chain, anchor: LedgerAnchorContract):
    before = chain.block_number()
    first = anchor.anchor(1, ROOT_A)
    second = anchor.anchor(2, ROOT_A, gas=120_000)
    assert chain.block_number() == before + 2
    assert chain.receipt(first)["blockNumber"] == before + 1
    assert chain.receipt(second)["blockNumber"] == before + 2
    assert chain.confirmations(first) == 2
    assert chain.confirmations(second) == 1


def test_unknown_transactions(chain: Chain):
    assert chain.receipt(b"\x12" * 32) is None
    assert chain.confirmations(b"\x12" * 32) is None


def test_nonce_recovers_after_a_transaction_sent_around_the_client(chain: Chain, anchor: LedgerAnchorContract):
    mined(chain, anchor.anchor(1, ROOT_A))
    anchor.contract.functions.anchor(2, ROOT_A).transact({"from": chain.sender})  # uses the cached nonce
    mined(chain, anchor.anchor(3, ROOT_A, gas=120_000))
    assert anchor.latest() == Checkpoint(3, ROOT_A)


def test_deploy_unknown_contract(chain: Chain):
    with pytest.raises(NotFound):
        chain.deploy("NoSuchContract")


def test_deploy_returns_a_checksum_address_with_code(chain: Chain):
    address = chain.deploy("LedgerAnchor", chain.sender, chain.sender)
    assert address == chain.web3.to_checksum_address(address)
    assert len(chain.web3.eth.get_code(address)) > 0


def test_a_private_key_on_the_embedded_chain_is_funded_and_used(tmp_path: Path):
    with connect("embedded", data_dir=tmp_path, private_key=OWN_KEY) as chain:
        assert chain.sender not in chain.web3.eth.accounts
        assert chain.web3.eth.get_balance(chain.sender) > 0
        anchor = LedgerAnchorContract(chain, deploy_all(chain)["LedgerAnchor"])
        receipt = mined(chain, anchor.anchor(1, ROOT_A))
        assert receipt["from"] == chain.sender


def test_expected_chain_id_is_checked(tmp_path: Path):
    with pytest.raises(AnchorUnavailable, match=f"chain id {EMBEDDED_CHAIN_ID}, expected 1"):
        connect("embedded", data_dir=tmp_path, expected_chain_id=1)
    with connect("embedded", data_dir=tmp_path, expected_chain_id=EMBEDDED_CHAIN_ID) as chain:  # lock released
        assert chain.chain_id == EMBEDDED_CHAIN_ID


@pytest.mark.parametrize("url", ["", "ws://127.0.0.1:8545", "none", "file:///tmp/chain"])
def test_malformed_urls(tmp_path: Path, url: str):
    with pytest.raises(ValidationFailed) as raised:
        connect(url, data_dir=tmp_path)
    assert raised.value.field == "chain_url"


def test_malformed_private_key(tmp_path: Path):
    with pytest.raises(ValidationFailed) as raised:
        connect("embedded", data_dir=tmp_path, private_key="0x1234")
    assert raised.value.field == "private_key"


def test_unreachable_node(tmp_path: Path):
    with pytest.raises(AnchorUnavailable, match="cannot reach"):
        connect("http://127.0.0.1:9", data_dir=tmp_path)


def test_one_process_at_a_time_per_data_dir(tmp_path: Path):
    with connect("embedded", data_dir=tmp_path), pytest.raises(AnchorUnavailable, match="open in another process"):
        connect("embedded", data_dir=tmp_path)
    with connect("embedded", data_dir=tmp_path) as again:
        assert again.block_number() == 0


def test_a_closed_chain_refuses_requests(tmp_path: Path):
    chain = connect("embedded", data_dir=tmp_path)
    chain.close()
    chain.close()
    with pytest.raises(AnchorUnavailable, match="closed"):
        chain.block_number()


def test_state_survives_reopening_in_process(tmp_path: Path):
    with connect("embedded", data_dir=tmp_path) as chain:
        address = deploy_all(chain)["LedgerAnchor"]
        mined(chain, LedgerAnchorContract(chain, address).anchor(9, ROOT_A))
        height = chain.block_number()
    with connect("embedded", data_dir=tmp_path) as chain:
        anchor = LedgerAnchorContract(chain, address)
        assert anchor.latest() == Checkpoint(9, ROOT_A)
        assert chain.block_number() == height
        mined(chain, anchor.anchor(10, ROOT_A))
        assert chain.block_number() == height + 1


class TestSQLiteKeyValueDB:
    def test_reads_its_own_pending_writes_and_deletes(self, tmp_path: Path):
        db = SQLiteKeyValueDB(tmp_path / "kv.sqlite")
        db[b"k"] = b"v"
        assert db[b"k"] == b"v" and db.exists(b"k")
        del db[b"k"]
        assert not db.exists(b"k")
        with pytest.raises(KeyError):
            db[b"k"]
        with pytest.raises(KeyError):
            del db[b"missing"]
        db.close()

    def test_only_flushed_writes_survive_closing(self, tmp_path: Path):
        db = SQLiteKeyValueDB(tmp_path / "kv.sqlite")
        db[b"kept"] = b"1"
        db[b"gone"] = b"2"
        db.flush()
        del db[b"gone"]
        db[b"unflushed"] = b"3"
        db.flush()
        db[b"dropped"] = b"4"
        db.close()
        reopened = SQLiteKeyValueDB(tmp_path / "kv.sqlite")
        assert reopened[b"kept"] == b"1"
        assert reopened[b"unflushed"] == b"3"
        assert not reopened.exists(b"gone")
        assert not reopened.exists(b"dropped")
        reopened.close()

    def test_an_atomic_batch_applies_all_or_nothing(self, tmp_path: Path):
        db = SQLiteKeyValueDB(tmp_path / "kv.sqlite")
        db[b"a"] = b"0"
        with db.atomic_batch() as batch:
            batch[b"a"] = b"1"
            batch[b"b"] = b"2"
            assert batch[b"a"] == b"1"
            assert db[b"a"] == b"0"  # invisible outside the batch until it ends
        assert (db[b"a"], db[b"b"]) == (b"1", b"2")
        with pytest.raises(RuntimeError, match="boom"), db.atomic_batch() as batch:
            batch[b"a"] = b"9"
            del batch[b"b"]
            raise RuntimeError("boom")
        assert (db[b"a"], db[b"b"]) == (b"1", b"2")
        with pytest.raises(ValidationError, match="out of context"):
            batch[b"c"] = b"3"
        db.close()

    def test_what_was_read_follows_later_writes_and_deletes(self, tmp_path: Path):
        db = SQLiteKeyValueDB(tmp_path / "kv.sqlite")
        db[b"k"] = b"1"
        db.flush()
        assert db[b"k"] == b"1" and not db.exists(b"new")  # both kept: a value and an absence
        db[b"k"] = b"2"
        db[b"new"] = b"3"
        db.flush()
        assert (db[b"k"], db[b"new"]) == (b"2", b"3")
        del db[b"k"]
        db.flush()
        assert not db.exists(b"k")
        db.close()
        reopened = SQLiteKeyValueDB(tmp_path / "kv.sqlite")
        assert not reopened.exists(b"k") and reopened[b"new"] == b"3"
        reopened.close()

    @pytest.mark.parametrize("failing", ["executemany", "COMMIT"])
    def test_a_flush_that_fails_keeps_the_file_and_what_was_read_as_they_were(self, tmp_path: Path, failing: str,
                                                                              monkeypatch: pytest.MonkeyPatch):
        db = SQLiteKeyValueDB(tmp_path / "kv.sqlite")
        db[b"k"] = b"1"
        db.flush()
        assert db[b"k"] == b"1"
        db[b"k"] = b"2"
        store = db._store
        real = store._conn

        class Failing:
            in_transaction = property(lambda self: real.in_transaction)

            def execute(self, sql: str, *args: object) -> object:
                if sql == failing:
                    raise sqlite3.OperationalError("disk I/O error")
                return real.execute(sql, *args)

            def executemany(self, sql: str, rows: object) -> object:
                if failing == "executemany":
                    raise sqlite3.OperationalError("disk I/O error")
                return real.executemany(sql, rows)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "_conn", Failing())
        with pytest.raises(sqlite3.OperationalError):
            db.flush()
        monkeypatch.setattr(store, "_conn", real)
        assert not real.in_transaction  # rolled back: the next flush can begin
        assert db[b"k"] == b"2"  # still pending: the next flush writes it
        store._pending.clear()  # dropped, as closing would: what was read before stands
        assert db[b"k"] == b"1"
        assert real.execute("SELECT value FROM kv WHERE key = ?", (b"k",)).fetchone()[0] == b"1"
        db[b"k"] = b"3"
        db.flush()
        assert db[b"k"] == b"3"
        db.close()


def test_gas_is_estimated_to_what_the_transaction_needs(chain: Chain, registry: DocumentRegistryContract,
                                                        operator: str):
    """The embedded chain's estimate (two runs) is enough, and at most the SSTORE sentry and the headroom above
    what the transaction consumes."""
    rows = [Registration(digest=bytes([n + 1]) * 32, subject=b"\x07" * 32, kind=1, version=1) for n in range(20)]
    call = registry.contract.functions.registerBatch([(r.digest, r.subject, r.kind, r.version) for r in rows])
    estimate = call.estimate_gas({"from": operator})
    consumed = estimate - embedded._SSTORE_SENTRY - embedded._HEADROOM
    short = chain.receipt(registry.register_batch(rows, gas=consumed - 1))  # less than it consumes: out of gas
    assert short is not None and short["status"] == 0
    assert mined(chain, registry.register_batch(rows, gas=estimate))["gasUsed"] <= consumed
    with pytest.raises(ContractRevert, match="DocumentRegistryDuplicateDigest"):  # the estimate's revert, nothing sent
        registry.register_batch(rows[:1])


def test_an_estimate_that_runs_short_falls_back_to_the_search(chain: Chain, registry: DocumentRegistryContract,
                                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(embedded, "_SSTORE_SENTRY", -50_000)  # the second run's limit now runs out of gas
    rows = [Registration(digest=bytes([n + 100]) * 32, subject=b"\x07" * 32, kind=1, version=1) for n in range(5)]
    assert mined(chain, registry.register_batch(rows))["status"] == 1  # estimated by py-evm's search instead
