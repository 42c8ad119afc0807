"""Connections to an EVM chain: an embedded persistent one, or any node by JSON-RPC URL.

``connect("embedded", data_dir=...)`` runs an EVM inside this process (eth-tester over py-evm) whose state lives
in one SQLite file, ``<data_dir>/chain/chain.sqlite``, so it survives restarts:

* py-evm keeps every piece of chain state (trie nodes, headers, blocks, receipts, the canonical head) in one
  key-value database. :class:`SQLiteKeyValueDB` is that database. Writes go to an in-memory overlay; they are
  committed to SQLite in one transaction after each mined block (``flush``), so the file always holds the
  state at a block boundary and a crash loses at most the block being built. WAL journal, ``synchronous=FULL``.
* :class:`_EmbeddedBackend` is eth-tester's py-evm backend built on a chain class that opens that database:
  a new file gets a genesis block (ten funded development accounts, the same keys eth-tester uses), an
  existing one resumes from its canonical head. Every transaction is mined in its own block at once.
* One process at a time: an exclusive ``flock`` on ``<data_dir>/chain/LOCK`` refuses a second opener.

Any ``http://`` or ``https://`` URL is a JSON-RPC node. Transactions are signed locally when a private key is
given, otherwise sent from the node's first unlocked account (development nodes). Nonces are counted here and
fees cached for a few seconds, so a transaction with explicit gas costs one round trip.

Every web3 failure leaves this module as a :class:`~ledger.errors.LedgerError`: an unreachable or refusing
chain is :class:`~ledger.errors.AnchorUnavailable`, a contract revert is
:class:`~ledger.anchoring.contracts.ContractRevert`.
"""

from __future__ import annotations

import ast
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol, cast

from eth.abc import BlockHeaderAPI, VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound
from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
from eth.vm.forks.prague import PragueVM
from eth_account import Account
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
from eth_tester.exceptions import ValidationError as TesterValidationError
from eth_typing import BlockNumber, ChecksumAddress, Hash32
from eth_utils.exceptions import ValidationError as EVMValidationError
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3Exception
from web3.exceptions import TransactionNotFound as Web3TransactionNotFound
from web3.middleware import Web3Middleware
from web3.types import TxReceipt, Wei

from ledger.anchoring.contracts import ContractRevert, deployable, translate_error
from ledger.errors import AnchorUnavailable, ValidationFailed

EMBEDDED = "embedded"
EMBEDDED_CHAIN_ID = 131277322940537  # the id web3's eth-tester provider reports
_FEE_CACHE_SECONDS = 5.0
_OPERATOR_FUNDING_WEI = 10**22  # 10,000 ether of the 1,000,000 each development account holds
_REVERT_PREFIX = "execution reverted: "
_SEND_FAILURES = (Web3Exception, OSError, ValueError, EVMValidationError, TesterValidationError)


class ContractCall(Protocol):
    """A bound contract function or constructor (web3's ``ContractFunction`` / ``ContractConstructor``)."""

    def build_transaction(self, transaction: Any = None) -> Any: ...

    def estimate_gas(self, transaction: Any = None) -> int: ...


class _SQLiteStore(BaseDB):
    """Key-value pairs in one SQLite table; writes wait in memory until :meth:`flush` commits them together."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        self._pending: dict[bytes, bytes | None] = {}  # None marks a deletion

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            value = self._pending[key]
        else:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            value = None if row is None else bytes(row[0])
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
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        self._pending.clear()

    def close(self) -> None:
        self._pending.clear()
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


class _EmbeddedChain(MiningChain):
    """Post-merge development chain (Prague rules) with a constant gas limit, as eth-tester's own."""

    chain_id = EMBEDDED_CHAIN_ID
    vm_configuration: tuple[tuple[BlockNumber, type[VirtualMachineAPI]], ...] = ((BlockNumber(0), PragueVM),)

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
                raise _contract_error(str(exc.args[0]) if exc.args else "") from exc

        return middleware


def _contract_error(message: str) -> ContractLogicError:
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


class Chain:
    """One connection to a chain and one sending account. Thread-safe: every call holds one lock."""

    def __init__(
        self, web3: Web3, *, sender: ChecksumAddress, account: LocalAccount | None, on_close: Any = None
    ) -> None:
        self._web3 = web3
        self._sender = sender
        self._account = account
        self._on_close = on_close
        self._lock = threading.RLock()
        self._closed = False
        self._nonce: int | None = None
        self._fees: dict[str, int] | None = None
        self._fees_at = 0.0
        self.chain_id: int = int(self._rpc(lambda: web3.eth.chain_id))

    @property
    def web3(self) -> Web3:
        """The underlying web3 instance (for building contract objects; call them through this class)."""
        return self._web3

    @property
    def sender(self) -> ChecksumAddress:
        """The account that signs and pays for every transaction sent through :meth:`send`."""
        return self._sender

    def block_number(self) -> int:
        """Number of the latest mined block. Raises :class:`AnchorUnavailable`."""
        return int(self._rpc(lambda: self._web3.eth.block_number))

    def call(self, fn_call: Any) -> Any:
        """Run a read-only contract call at the latest block. Raises ``ContractRevert`` or ``AnchorUnavailable``."""
        return self._rpc(lambda: fn_call.call({"from": self._sender}))

    def send(self, fn_call: ContractCall, *, gas: int | None = None) -> bytes:
        """Send a contract call (or constructor) from :attr:`sender`; return the transaction hash.

        Without ``gas`` the call is estimated first, so a revert raises ``ContractRevert`` and nothing is sent.
        With ``gas`` nothing is simulated: a revert shows as a receipt whose ``status`` is 0, or as
        ``ContractRevert`` from nodes that execute at submission (Hardhat's automine).
        Raises :class:`AnchorUnavailable` if the chain is unreachable or refuses the transaction.
        """
        with self._lock:
            if gas is None:
                gas = self._rpc(lambda: fn_call.estimate_gas({"from": self._sender}))
            last_error: Exception | None = None
            for _attempt in range(2):  # a second try after refreshing a stale nonce or fee
                nonce = self._next_nonce()
                transaction = {
                    "from": self._sender,
                    "gas": gas,
                    "nonce": nonce,
                    "chainId": self.chain_id,
                    **self._current_fees(),
                }
                try:
                    tx_hash = self._submit(fn_call.build_transaction(transaction))
                except _SEND_FAILURES as exc:
                    self._nonce, self._fees = None, None
                    if isinstance(translate_error(exc), ContractRevert):  # executed at submission (Hardhat): final
                        raise translate_error(exc) from exc
                    last_error = exc
                    continue
                self._nonce = nonce + 1
                return tx_hash
            raise translate_error(last_error) from last_error

    def receipt(self, tx_hash: bytes) -> TxReceipt | None:
        """The transaction's receipt, or ``None`` while it is pending or if the chain does not know it."""
        try:
            receipt: TxReceipt = self._rpc(lambda: self._web3.eth.get_transaction_receipt(Hash32(tx_hash)))
        except _NotFound:
            return None
        return receipt

    def confirmations(self, tx_hash: bytes) -> int | None:
        """Blocks that include and follow the transaction's block: 0 while pending, ``None`` if unknown/dropped."""
        with self._lock:
            receipt = self.receipt(tx_hash)
            if receipt is None:
                try:
                    self._rpc(lambda: self._web3.eth.get_transaction(Hash32(tx_hash)))
                except _NotFound:
                    return None
                return 0
            return max(0, self.block_number() - int(receipt["blockNumber"]) + 1)

    def forget_nonce(self) -> None:
        """Ask the chain for the next nonce again before the next send (after a dropped or re-orged transaction)."""
        with self._lock:
            self._nonce = None

    def deploy(self, name: str, *args: Any, gas: int | None = None) -> ChecksumAddress:
        """Deploy the compiled contract ``name`` with constructor ``args``; wait for it; return its address.

        Raises ``NotFound`` for an unknown contract, ``ContractRevert`` if the constructor reverts and
        :class:`AnchorUnavailable` if the deployment fails on chain.
        """
        artifact = deployable(name)
        factory = self._web3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx_hash = self.send(factory.constructor(*args), gas=gas)
        receipt = self._rpc(lambda: self._web3.eth.wait_for_transaction_receipt(Hash32(tx_hash), timeout=120))
        if receipt["status"] != 1 or not receipt["contractAddress"]:
            raise AnchorUnavailable(f"deployment of {name} failed in transaction 0x{tx_hash.hex()}")
        return Web3.to_checksum_address(receipt["contractAddress"])

    def close(self) -> None:
        """Release the connection (and, for the embedded chain, its database and lock). Idempotent."""
        with self._lock:
            self._closed = True
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                on_close()

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _submit(self, transaction: Any) -> bytes:
        if self._account is not None:
            signed = self._account.sign_transaction(transaction)
            return bytes(self._web3.eth.send_raw_transaction(signed.raw_transaction))
        return bytes(self._web3.eth.send_transaction(transaction))

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self._rpc(lambda: self._web3.eth.get_transaction_count(self._sender, "pending"))
        return self._nonce

    def _current_fees(self) -> dict[str, int]:
        if self._fees is None or time.monotonic() - self._fees_at > _FEE_CACHE_SECONDS:
            block = self._rpc(lambda: self._web3.eth.get_block("latest"))
            base_fee = block.get("baseFeePerGas")
            if base_fee is None:
                self._fees = {"gasPrice": self._rpc(lambda: self._web3.eth.gas_price)}
            else:
                tip = self._rpc(lambda: self._web3.eth.max_priority_fee)
                self._fees = {"maxFeePerGas": 2 * int(base_fee) + tip, "maxPriorityFeePerGas": tip}
            self._fees_at = time.monotonic()
        return dict(self._fees)

    def _rpc(self, request: Any) -> Any:
        with self._lock:
            if self._closed:
                raise AnchorUnavailable("the chain connection is closed")
            try:
                return request()
            except (Web3TransactionNotFound, TransactionNotFound) as exc:
                raise _NotFound from exc
            except (Web3Exception, OSError, ValueError) as exc:
                raise translate_error(exc) from exc


class _NotFound(Exception):
    """A transaction the chain does not know (internal)."""


def connect(
    url: str,
    *,
    data_dir: Path,
    private_key: str | None = None,
    expected_chain_id: int | None = None,
) -> Chain:
    """Open the chain at ``url``: ``"embedded"`` or an ``http(s)://`` JSON-RPC endpoint.

    ``data_dir`` holds the embedded chain's state (``data_dir/chain/``). ``private_key`` (hex) signs
    transactions locally; without it the embedded chain's or node's first account sends them. Raises
    :class:`ValidationFailed` for a malformed URL or key, and :class:`AnchorUnavailable` if the chain cannot
    be reached, is in use by another process (embedded), or its id differs from ``expected_chain_id``.
    """
    account = _account(private_key)
    if url == EMBEDDED:
        chain = _connect_embedded(Path(data_dir) / "chain", account)
    elif url.startswith(("http://", "https://")):
        chain = _connect_rpc(url, account)
    else:
        raise ValidationFailed(f"chain URL must be 'embedded' or http(s)://..., got {url!r}", field="chain_url")
    if expected_chain_id is not None and chain.chain_id != expected_chain_id:
        found = chain.chain_id
        chain.close()
        raise AnchorUnavailable(f"chain at {url} has chain id {found}, expected {expected_chain_id}")
    return chain


def deploy_all(chain: Chain, *, admin: str | None = None) -> dict[str, str]:
    """Deploy ``LedgerAnchor`` and ``DocumentRegistry``; return ``{name: checksum address}``.

    ``admin`` (default: the sender) gets ``DEFAULT_ADMIN_ROLE``; the sender gets the operating roles
    (``ANCHORER_ROLE``, ``REGISTRAR_ROLE``) and ``PAUSER_ROLE``. Raises like :meth:`Chain.deploy`.
    """
    admin_address = Web3.to_checksum_address(admin) if admin is not None else chain.sender
    return {name: chain.deploy(name, admin_address, chain.sender) for name in ("LedgerAnchor", "DocumentRegistry")}


def _account(private_key: str | None) -> LocalAccount | None:
    if private_key is None:
        return None
    try:
        return Account.from_key(private_key)  # type: ignore[no-any-return]
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("private key is not a 32-byte hex key", field="private_key") from exc


def _connect_rpc(url: str, account: LocalAccount | None) -> Chain:
    web3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    if account is not None:
        return Chain(web3, sender=account.address, account=account)
    try:
        accounts = web3.eth.accounts
    except (Web3Exception, OSError, ValueError) as exc:
        raise AnchorUnavailable(f"cannot reach the chain at {url}: {exc}") from exc
    if not accounts:
        raise AnchorUnavailable(f"the node at {url} has no unlocked account: give a private key")
    return Chain(web3, sender=accounts[0], account=None)


def _connect_embedded(directory: Path, account: LocalAccount | None) -> Chain:
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
