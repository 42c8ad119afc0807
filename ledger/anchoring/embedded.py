"""The embedded chain: an EVM inside this process (eth-tester over py-evm) whose state survives restarts.

Its state lives in one SQLite file, ``<data_dir>/chain/chain.sqlite``:

* py-evm keeps every piece of chain state (trie nodes, headers, blocks, receipts, the canonical head) in one
  key-value database. :class:`SQLiteKeyValueDB` is that database. Writes go to an in-memory overlay; they are
  committed to SQLite in one transaction after each mined block (``flush``), so the file always holds the
  state at a block boundary and a crash loses at most the block being built. WAL journal, ``synchronous=FULL``.
* :class:`_EmbeddedBackend` is eth-tester's py-evm backend built on a chain class that opens that database:
  a new file gets a genesis block (ten funded development accounts, the same keys eth-tester uses), an
  existing one resumes from its canonical head. Every transaction is mined in its own block at once.
* One process at a time: an exclusive ``flock`` on ``<data_dir>/chain/LOCK`` refuses a second opener.
"""

from __future__ import annotations

import ast
import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, cast

from eth.abc import BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI, VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.chain import ChainDB
from eth.estimators.gas import binary_gas_search_intrinsic_tolerance
from eth.exceptions import CanonicalHeadNotFound
from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester  # type: ignore[import-untyped]
from eth_tester.backends.pyevm.main import (  # type: ignore[import-untyped]
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
)
from eth_tester.backends.pyevm.serializers import (  # type: ignore[import-untyped]
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import (  # type: ignore[import-untyped]
    TransactionFailed,
    TransactionNotFound,
)
from eth_typing import BlockNumber, Hash32
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.middleware import Web3Middleware
from web3.types import Wei

from ledger.anchoring.chain import Chain
from ledger.errors import AnchorUnavailable

EMBEDDED_CHAIN_ID = 131277322940537  # the id web3's eth-tester provider reports
_OPERATOR_FUNDING_WEI = 10**22  # 10,000 ether of the 1,000,000 each development account holds
_REVERT_PREFIX = "execution reverted: "


_READ_CACHE = 50_000  # values kept from reads: trie nodes, mostly a few hundred bytes each (tens of MB in all)


class _SQLiteStore(BaseDB):
    """Key-value pairs in one SQLite table; writes wait in memory until :meth:`flush` commits them together.

    Reads are kept (the state trie's nodes are read again by every transaction and estimate): the process holds
    the file alone, so what it last read or flushed is what the file holds.
    """

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        self._pending: dict[bytes, bytes | None] = {}  # None marks a deletion
        self._read: dict[bytes, bytes | None] = {}  # None: known to be absent

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            value = self._pending[key]
        elif key in self._read:
            value = self._read[key]
        else:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            value = None if row is None else bytes(row[0])
            if len(self._read) >= _READ_CACHE:
                del self._read[next(iter(self._read))]  # the oldest read
            self._read[key] = value
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[key] = None

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def flush(self) -> None:
        if not self._pending:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            upserts = [(k, v) for k, v in self._pending.items() if v is not None]
            deletes = [(k,) for k, v in self._pending.items() if v is None]
            self._conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", upserts)
            self._conn.executemany("DELETE FROM kv WHERE key = ?", deletes)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        for key, value in self._pending.items():
            if key in self._read:
                self._read[key] = value
        self._pending.clear()

    def close(self) -> None:
        self._pending.clear()
        self._read.clear()
        self._conn.close()


class SQLiteKeyValueDB(AtomicDB):
    """py-evm's atomic key-value database in one SQLite file, committed block by block through :meth:`flush`.

    Atomic batches (py-evm's own) land in the in-memory overlay whole or not at all; :meth:`flush` writes the
    overlay in one SQLite transaction, so the file only ever holds states that ended a flush.
    """

    def __init__(self, path: Path) -> None:
        self._store = _SQLiteStore(path)
        super().__init__(self._store)

    def flush(self) -> None:
        """Commit every pending write in one SQLite transaction."""
        self._store.flush()

    def close(self) -> None:
        """Drop uncommitted writes (a block not yet mined) and close the file."""
        self._store.close()


_SSTORE_SENTRY = 2_300  # gas an SSTORE needs left over, beyond what it costs (EIP-2200)
_HEADROOM = 21_000  # added to the limit that ran, for a state that changes before the transaction is mined


def _estimate_gas(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """The gas limit ``transaction`` needs, found in two runs where py-evm's binary search takes about thirteen.

    The first run, at the block's gas limit, fails as the search's would (that error is raised). What it consumed
    before refunds, plus the sentry an SSTORE must see left, is then tried; only if that runs out of gas (a call
    that forwards 63/64 of what is left) is the range searched as py-evm does. The limit that ran, plus
    ``_HEADROOM`` for a state that changes before the transaction is mined, is the estimate.
    """
    ceiling = _trial(state, transaction, state.gas_limit)
    if ceiling.is_error:
        raise ceiling.error
    needed = min(state.gas_limit, state.gas_limit - ceiling.get_gas_remaining() + _SSTORE_SENTRY)
    if _trial(state, transaction, needed).is_error:
        needed = binary_gas_search_intrinsic_tolerance(state, transaction)
    return min(state.gas_limit, needed + _HEADROOM)


def _trial(state: StateAPI, transaction: SignedTransactionAPI, gas: int) -> ComputationAPI:
    """Run ``transaction`` with a limit of ``gas`` (at gas price 0, as py-evm's search does) and undo it."""
    snapshot = state.snapshot()
    try:
        return state.apply_transaction(cast(SignedTransactionAPI, SpoofTransaction(transaction, gas=gas, gas_price=0)))
    finally:
        state.revert(snapshot)


class _EmbeddedChain(MiningChain):
    """Post-merge development chain (Prague rules) with a constant gas limit, as eth-tester's own."""

    chain_id = EMBEDDED_CHAIN_ID
    vm_configuration: tuple[tuple[BlockNumber, type[VirtualMachineAPI]], ...] = ((BlockNumber(0), PragueVM),)
    gas_estimator = staticmethod(_estimate_gas)

    def create_header_from_parent(self, parent_header: BlockHeaderAPI, **header_params: Any) -> BlockHeaderAPI:
        header_params["gas_limit"] = parent_header.gas_limit
        return super().create_header_from_parent(parent_header, **header_params)

    def get_transaction_builder(self) -> Any:
        return self.get_vm().get_transaction_builder()


class _EmbeddedBackend(PyEVMBackend):  # type: ignore[misc]
    """eth-tester's py-evm backend on a chain stored in a :class:`SQLiteKeyValueDB`."""

    chain: _EmbeddedChain

    def __init__(self, db: SQLiteKeyValueDB) -> None:
        self._db = db
        super().__init__()

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        self.account_keys = get_default_account_keys(quantity=10)
        try:
            ChainDB(self._db).get_canonical_head()
        except CanonicalHeadNotFound:
            genesis_state = generate_genesis_state_for_keys(self.account_keys)
            genesis = _EmbeddedChain.from_genesis(self._db, get_default_genesis_params(), genesis_state)
            self.chain = cast(_EmbeddedChain, genesis)
        else:
            self.chain = _EmbeddedChain(self._db)
        self._db.flush()

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = 20 * b"\x00") -> tuple[bytes, ...]:
        hashes: tuple[bytes, ...] = super().mine_blocks(num_blocks, coinbase)
        self._db.flush()
        return hashes

    # A block's timestamp is fixed when it starts being built; restart the clock for an idle, empty one.
    def _refresh_pending_timestamp(self) -> None:
        header = self.chain.header
        if header.gas_used == 0:
            parent = self.chain.get_canonical_head()
            self.chain.header = header.copy(timestamp=max(int(time.time()), parent.timestamp + 1))

    def send_transaction(self, transaction: Any) -> bytes:
        self._refresh_pending_timestamp()
        return super().send_transaction(transaction)  # type: ignore[no-any-return]

    def send_raw_transaction(self, raw_transaction: bytes) -> bytes:
        self._refresh_pending_timestamp()
        return super().send_raw_transaction(raw_transaction)  # type: ignore[no-any-return]

    # eth-tester scans every block for a transaction; py-evm indexes canonical transactions by hash.
    def _locate(self, transaction_hash: bytes) -> tuple[Any, Any, int]:
        pending = self.chain.get_block()
        for index, transaction in enumerate(pending.transactions):
            if transaction.hash == transaction_hash:
                return pending, transaction, index
        try:
            number, index = self.chain.chaindb.get_transaction_index(Hash32(transaction_hash))
        except EVMTransactionNotFound as exc:
            raise TransactionNotFound(f"No transaction found for hash {transaction_hash.hex()}") from exc
        block = self.chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._locate(transaction_hash)
        return serialize_transaction(block, transaction, index, block.number == self.chain.get_block().number)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._locate(transaction_hash)
        return serialize_transaction_receipt(
            block,
            block.get_receipts(self.chain.chaindb),
            transaction,
            index,
            block.number == self.chain.get_block().number,
            self.chain.get_vm(),
        )


class _RevertDataMiddleware(Web3Middleware):
    """Raise eth-tester's reverts as a JSON-RPC node's would be: web3 contract errors carrying the revert data.

    eth-tester reports a revert as ``TransactionFailed("execution reverted: b'...'")`` (the data's Python
    repr); web3 over HTTP raises ``ContractCustomError`` / ``ContractPanicError`` / ``ContractLogicError``
    with the hex data. The same errors from both keep one error path.
    """

    def wrap_make_request(self, make_request: Any) -> Any:
        def middleware(method: Any, params: Any) -> Any:
            try:
                return make_request(method, params)
            except TransactionFailed as exc:
                raise contract_error(str(exc.args[0]) if exc.args else "") from exc

        return middleware


def contract_error(message: str) -> ContractLogicError:
    """The web3 contract error a JSON-RPC node's revert would raise, for eth-tester's ``TransactionFailed`` text."""
    reason = message.removeprefix(_REVERT_PREFIX)
    try:
        data = ast.literal_eval(reason) if reason[:2] in ("b'", 'b"') else None
    except (ValueError, SyntaxError):
        data = None
    if not isinstance(data, bytes) or len(data) < 4:
        return ContractLogicError(f"{_REVERT_PREFIX}{reason}", data=None)
    hex_data = "0x" + data.hex()
    if data[:4] == bytes.fromhex("4e487b71"):
        return ContractPanicError(hex_data, data=hex_data)
    return ContractCustomError(hex_data, data=hex_data)




def connect_embedded(directory: Path, account: LocalAccount | None) -> Chain:
    directory.mkdir(parents=True, exist_ok=True)
    lock = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(lock)
        raise AnchorUnavailable(f"the embedded chain in {directory} is open in another process") from exc
    db = SQLiteKeyValueDB(directory / "chain.sqlite")

    def release() -> None:
        db.close()
        os.close(lock)  # closing the descriptor drops the flock

    try:
        web3 = Web3(EthereumTesterProvider(EthereumTester(backend=_EmbeddedBackend(db))))
        web3.middleware_onion.add(_RevertDataMiddleware, name="revert_data")
        developer = web3.eth.accounts[0]
        if account is None:
            return Chain(web3, sender=developer, account=None, on_close=release)
        chain = Chain(web3, sender=account.address, account=account, on_close=release)
        if web3.eth.get_balance(account.address) < _OPERATOR_FUNDING_WEI // 2:
            web3.eth.send_transaction(
                {"from": developer, "to": account.address, "value": Wei(_OPERATOR_FUNDING_WEI), "gas": 21_000}
            )
        return chain
    except BaseException:
        release()
        raise
