"""The embedded chain shared with ``serve``'s worker processes: JSON-RPC over a Unix socket.

The embedded chain lives inside one process (its state file is locked by the process that opens it). Under
``serve --workers N`` that process is the serving one: it opens the chain and answers JSON-RPC on a Unix socket in
its private 0700 directory, admitting peers of its own user only (``SO_PEERCRED``). Each worker connects with
web3's ``IPCProvider``, as it would to a node's IPC endpoint, so its anchoring worker runs the JSON-RPC path that
Hardhat and anvil already exercise; the database lease ``anchoring`` still lets one worker at a time send.

The wire is a node's: JSON-RPC 2.0 requests (single or batch) and answers as JSON texts one after another on a
stream. Quantities go out as ``0x`` hex strings and byte strings as ``0x`` hex; a contract revert is error code 3
with its revert data, as geth reports it. Calls into the EVM hold one lock: eth-tester is not thread-safe.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped]
from web3.datastructures import NamedElementOnion
from web3.types import RPCResponse

from ledger.anchoring.chain import EMBEDDED, Chain, connect
from ledger.anchoring.embedded import contract_error
from ledger.peers import LocalServer, Thread

__all__ = ["METHODS", "ChainServer", "share_embedded"]

log = logging.getLogger(__name__)
_MAX_REQUEST = 4 * 1024 * 1024  # bytes of one request not yet complete before the connection is closed
_READ = 65536
# What the anchoring worker and its chain client ask of a node; the rest of eth-tester's API (snapshots and
# reverts, time travel, mining on demand, key management) could rewrite the stored chain and is not served.
METHODS = frozenset({
    "eth_accounts", "eth_blockNumber", "eth_call", "eth_chainId", "eth_estimateGas", "eth_feeHistory",
    "eth_gasPrice", "eth_getBalance", "eth_getBlockByHash", "eth_getBlockByNumber", "eth_getCode", "eth_getLogs",
    "eth_getTransactionByHash", "eth_getTransactionCount", "eth_getTransactionReceipt", "eth_maxPriorityFeePerGas",
    "eth_sendRawTransaction", "eth_sendTransaction", "net_version", "web3_clientVersion",
})
MINE, MAX_MINED = "evm_mine", 64  # empty blocks a wait for confirmations asks for (ledger.anchoring.following)


class ChainServer(LocalServer):
    """Answers JSON-RPC for ``chain`` (an embedded chain, opened by the caller) on the Unix socket ``address``."""

    what = "chain"

    def __init__(self, chain: Chain, *, address: Path) -> None:
        super().__init__(address=address)
        web3 = chain.web3
        # The provider's own request formatting (eth-tester's), none of the client-side middleware.
        self._request: Callable[..., RPCResponse] = web3.provider.request_func(web3, NamedElementOnion([]))
        self._evm = threading.Lock()
        self._peers: set[socket.socket] = set()

    def stop(self) -> None:
        """Stop accepting, close every connection and remove the socket; a call still running ends first, later
        ones are refused, so the chain may be closed once this returns."""
        super().stop()
        with self._evm:
            pass

    def admit(self, sock: socket.socket) -> list[Thread]:
        self._peers.add(sock)
        return [(self._serve, "chain-server-peer", (sock,))]

    def close_peers(self) -> None:
        with self._lock:
            peers, self._peers = list(self._peers), set()
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.shutdown(socket.SHUT_RDWR)

    def answer(self, request: Any) -> Any:
        """The JSON-RPC answer to one decoded request or batch (``None`` for a batch of notifications only)."""
        if isinstance(request, list):
            if not request:
                return _error(None, -32600, "empty batch")
            answers = [self._answer_one(item) for item in request]
            return [answer for answer in answers if answer is not None] or None
        return self._answer_one(request)

    def _answer_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, -32600, "a request is an object with a string 'method'")
        ident, method = request.get("id"), request["method"]
        params = request.get("params", [])
        if method not in METHODS and method != MINE:
            return _error(ident, -32601, f"method {method!r} is not served here (only what anchoring uses)")
        if not isinstance(params, list):
            return _error(ident, -32602, "params must be an array")
        if method == MINE and not (len(params) == 1 and type(params[0]) is int and 1 <= params[0] <= MAX_MINED):
            return _error(ident, -32602, f"{MINE} takes one block count, 1 to {MAX_MINED}")
        try:
            with self._evm:
                if self._closed:
                    return _error(ident, -32000, "the embedded chain is closing")
                response = self._request(method, params)
            result = _wire(response.get("result")) if "error" not in response else None
        except TransactionFailed as exc:
            revert = contract_error(str(exc.args[0]) if exc.args else "")
            return _error(ident, 3, revert.message or "execution reverted", data=revert.data)
        except Exception as exc:  # a request the EVM refuses (bad transaction, unknown block): the node's -32000
            return _error(ident, -32000, f"{type(exc).__name__}: {exc}")
        if "id" not in request:
            return None  # a notification
        if "error" in response:
            return {"jsonrpc": "2.0", "id": ident, "error": response["error"]}
        return {"jsonrpc": "2.0", "id": ident, "result": result}

    def _serve(self, sock: socket.socket) -> None:
        decoder = json.JSONDecoder()
        text_of = codecs.getincrementaldecoder("utf-8")()  # a character split across two reads waits for its rest
        pending = ""
        try:
            while True:
                data = sock.recv(_READ)
                if not data:
                    return
                pending += text_of.decode(data)
                while pending.strip():
                    text = pending.lstrip()
                    try:
                        request, end = decoder.raw_decode(text)
                    except json.JSONDecodeError as exc:
                        # Unfinished, or wrong for good: a line break after the fault means no more bytes can
                        # mend it (clients end each request with one), so it is answered and skipped.
                        newline = text.find("\n", exc.pos)
                        if newline < 0:
                            if len(text) > _MAX_REQUEST:
                                log.warning("closing a chain connection: more than %d bytes without a whole "
                                            "request", _MAX_REQUEST)
                                return
                            break  # wait for the rest
                        pending = text[newline + 1:]
                        answer: Any = _error(None, -32700, f"not JSON: {exc.msg} at character {exc.pos}")
                    else:
                        pending = text[end:]
                        answer = self.answer(request)
                    if answer is not None:
                        sock.sendall(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
        except (OSError, UnicodeDecodeError) as exc:
            if not self._closed:
                log.warning("a chain connection failed: %s", exc)
        except Exception:  # a defect here: log it and drop this connection; the client reconnects
            log.exception("a chain connection failed")
        finally:
            with self._lock:
                self._peers.discard(sock)
            sock.close()


@contextlib.contextmanager
def share_embedded(*, data_dir: Path, private_key: str | None, expected_chain_id: int | None,
                   address: Path) -> Iterator[Path]:
    """Open the embedded chain in ``data_dir`` and answer JSON-RPC for it at ``address`` until the block ends.

    Raises :class:`~ledger.errors.AnchorUnavailable` if another process holds the chain."""
    chain = connect(EMBEDDED, data_dir=data_dir, private_key=private_key, expected_chain_id=expected_chain_id)
    try:
        server = ChainServer(chain, address=address)
        server.start()
        try:
            yield address
        finally:
            server.stop()
    finally:
        chain.close()


def _error(ident: Any, code: int, message: str, *, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": ident, "error": error}


def _wire(value: Any) -> Any:
    """``value`` as a node sends it: quantities and byte strings as ``0x`` hex."""
    if isinstance(value, (bool, str, float)) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(item) for item in value]
    raise TypeError(f"cannot send a {type(value).__name__} as JSON-RPC")
