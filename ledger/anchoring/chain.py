"""Connections to an EVM chain: the embedded persistent one (see ``ledger.anchoring.embedded``) or any node by
JSON-RPC URL.

Any ``http://`` or ``https://`` URL is a JSON-RPC node. Transactions are signed locally when a private key is
given, otherwise sent from the node's first unlocked account (development nodes). Nonces are counted here and
fees cached for a few seconds, so a transaction with explicit gas costs one round trip.

Every web3 failure leaves this module as a :class:`~ledger.errors.LedgerError`: an unreachable or refusing
chain is :class:`~ledger.errors.AnchorUnavailable`, a contract revert is
:class:`~ledger.anchoring.contracts.ContractRevert`.
"""

from __future__ import annotations

import math
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import (  # type: ignore[import-untyped]
    TransactionNotFound,
)
from eth_tester.exceptions import ValidationError as TesterValidationError
from eth_typing import ChecksumAddress, Hash32
from eth_utils.exceptions import ValidationError as EVMValidationError
from web3 import HTTPProvider, IPCProvider, Web3
from web3.exceptions import TransactionNotFound as Web3TransactionNotFound
from web3.exceptions import Web3Exception
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse, TxReceipt

from ledger.anchoring.contracts import ContractRevert, deployable, translate_error
from ledger.errors import AnchorUnavailable, LedgerError, ValidationFailed

EMBEDDED = "embedded"
_FEE_CACHE_SECONDS = 5.0
_SEND_FAILURES = (Web3Exception, OSError, ValueError, EVMValidationError, TesterValidationError)
# Failures after which a broadcast may or may not have reached the node (as opposed to the node refusing it).
_IN_TRANSIT = (OSError, requests.exceptions.ConnectionError, requests.exceptions.Timeout)


class SentUncertain(AnchorUnavailable):
    """A signed transaction's broadcast failed in transit: the node may or may not have it."""


class ContractCall(Protocol):
    """A bound contract function or constructor (web3's ``ContractFunction`` / ``ContractConstructor``)."""

    def build_transaction(self, transaction: Any = None) -> Any: ...

    def estimate_gas(self, transaction: Any = None) -> int: ...


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

    def head(self) -> tuple[int, bytes]:
        """Number and hash of the latest block. Raises :class:`AnchorUnavailable`."""
        block = self._rpc(lambda: self._web3.eth.get_block("latest"))
        return int(block["number"]), bytes(block["hash"])

    def mine_empty(self, blocks: int) -> None:
        """Mine ``blocks`` empty blocks on a chain that mines only when asked (the embedded one, in this process or
        over its socket). Raises :class:`AnchorUnavailable`."""
        tester = getattr(self._web3.provider, "ethereum_tester", None)
        if tester is not None:
            self._rpc(lambda: tester.mine_blocks(blocks))
        else:
            self._rpc(lambda: self._web3.manager.request_blocking(RPCEndpoint("evm_mine"), [blocks]))

    def call(self, fn_call: Any) -> Any:
        """Run a read-only contract call at the latest block. Raises ``ContractRevert`` or ``AnchorUnavailable``."""
        return self._rpc(lambda: fn_call.call({"from": self._sender}))

    def send(self, fn_call: ContractCall, *, gas: int | None = None,
             on_signed: Callable[[bytes], None] | None = None) -> bytes:
        """Send a contract call (or constructor) from :attr:`sender`; return the transaction hash.

        Without ``gas`` the call is estimated first, so a revert raises ``ContractRevert`` and nothing is sent.
        With ``gas`` nothing is simulated: a revert shows as a receipt whose ``status`` is 0, or as
        ``ContractRevert`` from nodes that execute at submission (Hardhat's automine).
        With a local key, ``on_signed`` gets the transaction's hash before it is broadcast, so a caller can
        record it first; if the broadcast then fails in transit (the node may have it), nothing is sent again
        with another nonce: :class:`SentUncertain` is raised and the recorded hash tells what happened.
        Raises :class:`AnchorUnavailable` if the chain is unreachable or refuses the transaction.
        """
        with self._lock:
            if self._closed:
                raise AnchorUnavailable("the chain connection is closed")
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
                    tx_hash = self._submit(fn_call.build_transaction(transaction), on_signed)
                except SentUncertain:
                    self._nonce = nonce + 1  # the node may hold it: never reuse this nonce for other work
                    raise
                except _SEND_FAILURES as exc:
                    self._nonce, self._fees = None, None
                    if isinstance(translate_error(exc), ContractRevert):  # executed at submission (Hardhat): final
                        raise translate_error(exc) from exc
                    last_error = exc
                    continue
                self._nonce = nonce + 1
                return tx_hash
            raise _scrubbed(translate_error(last_error)) from last_error

    def replace(self, tx_hash: bytes, fn_call: ContractCall, *, bump: float = 1.25) -> bytes:
        """Send ``fn_call`` in place of the pending ``tx_hash``: same nonce and gas, fees raised by ``bump``
        (and at least today's), so the node swaps it for the old one. Returns the new transaction hash.

        Raises :class:`AnchorUnavailable` if the chain is unreachable or no longer knows ``tx_hash``.
        """
        with self._lock:
            try:
                old = self._rpc(lambda: self._web3.eth.get_transaction(Hash32(tx_hash)))
            except _NotFound as exc:
                raise AnchorUnavailable(f"transaction 0x{tx_hash.hex()} is unknown; nothing to replace") from exc
            self._fees = None
            fees = self._current_fees()
            for name in fees:
                if old.get(name) is not None:
                    fees[name] = max(fees[name], math.ceil(int(old[name]) * bump))
            transaction = {"from": self._sender, "gas": int(old["gas"]), "nonce": int(old["nonce"]),
                           "chainId": self.chain_id, **fees}
            try:
                return self._submit(fn_call.build_transaction(transaction))
            except _SEND_FAILURES as exc:
                raise _scrubbed(translate_error(exc)) from exc

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

    def has_code(self, address: str) -> bool:
        """Whether a contract is deployed at ``address``. Raises :class:`AnchorUnavailable`."""
        return bool(self._rpc(lambda: self._web3.eth.get_code(Web3.to_checksum_address(address))))

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

    def _submit(self, transaction: Any, on_signed: Callable[[bytes], None] | None = None) -> bytes:
        if self._account is None:
            return bytes(self._web3.eth.send_transaction(transaction))
        signed = self._account.sign_transaction(transaction)
        tx_hash = bytes(signed.hash)
        if on_signed is not None:
            on_signed(tx_hash)
        try:
            self._web3.eth.send_raw_transaction(signed.raw_transaction)
        except _IN_TRANSIT as exc:
            if on_signed is None:
                raise
            raise SentUncertain(scrub(f"broadcast of 0x{tx_hash.hex()} failed in transit ({type(exc).__name__}); "
                                      f"the node may still have it")) from exc
        return tx_hash

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
                raise _scrubbed(translate_error(exc)) from exc


_URL = re.compile(r"(https?://)(?:[^\s/@]*@)?([^\s/?#:'\"]+)(:\d+)?[^\s'\"]*")


_URL_PATH = re.compile(r"(with url: )\S+")  # how requests repeats the path in its errors


def scrub(text: str) -> str:
    """``text`` with every URL cut to scheme, host and port: node URLs carry API keys in paths, queries or
    user info, and errors end up in logs and on the public status page."""
    text = _URL.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}", text)
    return _URL_PATH.sub(r"\1(path hidden)", text)


def _scrubbed(error: LedgerError) -> LedgerError:
    return AnchorUnavailable(scrub(error.message)) if isinstance(error, AnchorUnavailable) else error


class _NotFound(Exception):
    """A transaction the chain does not know (internal)."""


def connect(
    url: str,
    *,
    data_dir: Path,
    private_key: str | None = None,
    expected_chain_id: int | None = None,
    shared: Path | None = None,
) -> Chain:
    """Open the chain at ``url``: ``"embedded"`` or an ``http(s)://`` JSON-RPC endpoint.

    ``data_dir`` holds the embedded chain's state (``data_dir/chain/``); with ``shared``, the embedded chain is
    reached at that Unix socket, where the process holding it answers JSON-RPC (``ledger.anchoring.sharing``).
    ``private_key`` (hex) signs transactions locally; without it the embedded chain's or node's first account
    sends them. Raises
    :class:`ValidationFailed` for a malformed URL or key, and :class:`AnchorUnavailable` if the chain cannot
    be reached, is in use by another process (embedded), or its id differs from ``expected_chain_id``.
    """
    account = _account(private_key)
    if url == EMBEDDED and shared is not None:
        provider = _SocketProvider(shared, timeout=30, cache_allowed_requests=True)
        chain = _connect_rpc(provider, account, on_close=provider.close,
                             where=f"the embedded chain at {shared} (the socket `serve --workers` gives its workers as "
                                   f"LIFELEDGER_CHAIN_SOCKET: is that serving process running?)")
    elif url == EMBEDDED:
        from ledger.anchoring.embedded import connect_embedded

        chain = connect_embedded(Path(data_dir) / "chain", account)
    elif url.startswith(("http://", "https://")):
        # Caching lets web3 ask for the chain id once, not before every call and transaction.
        chain = _connect_rpc(HTTPProvider(url, request_kwargs={"timeout": 30}, cache_allowed_requests=True),
                             account, where=f"the chain at {url}")
    else:
        raise ValidationFailed(scrub(f"chain URL must be 'embedded' or http(s)://..., got {url!r}"),
                               field="chain_url")
    if expected_chain_id is not None and chain.chain_id != expected_chain_id:
        found = chain.chain_id
        chain.close()
        raise AnchorUnavailable(scrub(f"chain at {url} has chain id {found}, expected {expected_chain_id}"))
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


def _connect_rpc(provider: JSONBaseProvider, account: LocalAccount | None, *, where: str,
                 on_close: Callable[[], None] | None = None) -> Chain:
    web3 = Web3(provider)
    try:
        if account is not None:
            sender = account.address
        else:
            try:
                accounts = web3.eth.accounts
            except (Web3Exception, OSError, ValueError) as exc:
                raise AnchorUnavailable(scrub(f"cannot reach {where}: {exc}")) from exc
            if not accounts:
                raise AnchorUnavailable(scrub(f"{where} has no unlocked account: give a private key"))
            sender = accounts[0]
        try:
            return Chain(web3, sender=sender, account=account, on_close=on_close)
        except AnchorUnavailable as exc:  # its first request (the chain id) failed
            raise AnchorUnavailable(scrub(f"cannot reach {where}: {exc.message}")) from exc
    except BaseException:
        if on_close is not None:
            on_close()
        raise


class _SocketProvider(IPCProvider):
    """web3's IPC provider with a read loop of its own: a connection the other side closes, or a timeout, fails the
    request at once as an ``OSError`` (in transit, as HTTP's failures are) and drops the connection, so a late
    answer is never read as the next request's; the next request connects again. Once closed, it stays closed."""

    def __init__(self, path: Path, *, timeout: int, **kwargs: Any) -> None:
        super().__init__(path, timeout=timeout, **kwargs)
        self._where = str(path)
        self._sock: socket.socket | None = None
        self._closed = False

    def _make_request(self, request: bytes) -> RPCResponse:
        with self._lock:
            if self._closed:
                raise ConnectionError(f"the connection to {self._where} is closed")
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.settimeout(self.timeout)
                    self._sock.connect(self._where)
                self._sock.sendall(request + b"\n")
                return self._answer(self._sock)
            except BaseException:
                self._drop()
                raise

    def _answer(self, sock: socket.socket) -> RPCResponse:
        deadline = time.monotonic() + self.timeout
        late = f"no answer from {self._where} within {self.timeout} s"
        raw = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(late)
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(late) from None
            if not chunk:
                raise ConnectionResetError(f"{self._where} closed the connection before it answered")
            raw += chunk
            if raw.rstrip().endswith((b"}", b"]")):  # each answer is one JSON text and a line break
                try:
                    return self.decode_rpc_response(raw)
                except ValueError:
                    continue  # a brace inside a string: not the end yet

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
