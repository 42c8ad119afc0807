"""The embedded chain answering JSON-RPC on a Unix socket for ``serve``'s workers (``ledger.anchoring.sharing``):
what goes over the wire, and that a worker sees the same chain, the same errors and the same reverts as the
process holding it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3.exceptions import ContractCustomError

from ledger.anchoring.chain import EMBEDDED, Chain, connect, deploy_all
from ledger.anchoring.contracts import artifact, translate_error
from ledger.anchoring.embedded import EMBEDDED_CHAIN_ID
from ledger.anchoring.sharing import ChainServer, share_embedded
from ledger.errors import AnchorUnavailable

OWN_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Chain, Path]]:
    """The embedded chain opened here, and the socket where it answers."""
    chain = connect(EMBEDDED, data_dir=tmp_path)
    server = ChainServer(chain, address=tmp_path / "chain.sock")
    server.start()
    try:
        yield chain, server.address
    finally:
        server.stop()
        chain.close()


def exchange(address: Path, *texts: bytes) -> list[Any]:
    """Send ``texts`` (pieces of one or more requests) and read the answers, one JSON text per line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(address))
        for text in texts:
            sock.sendall(text)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return [json.loads(line) for line in received.splitlines()]


def test_answers_are_a_nodes_hex_quantities_and_batches_keep_their_ids(held: tuple[Chain, Path]) -> None:
    chain, address = held
    chain.web3.eth.send_transaction({"from": chain.sender, "to": chain.sender, "value": 1})  # block 1
    [batch] = exchange(address, json.dumps([
        {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 7, "method": "eth_getBlockByNumber", "params": ["latest", False]},
    ]).encode())
    assert [answer["id"] for answer in batch] == ["a", 7]
    assert batch[0]["result"] == hex(EMBEDDED_CHAIN_ID)
    block = batch[1]["result"]
    assert block["number"] == "0x1" and block["hash"].startswith("0x") and len(block["hash"]) == 66
    assert block["timestamp"].startswith("0x") and int(block["timestamp"], 16) > 1_700_000_000


def test_a_request_split_across_reads_even_inside_a_character_is_answered(held: tuple[Chain, Path]) -> None:
    _, address = held
    text = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_链", "params": []}, ensure_ascii=False).encode()
    cut = text.index("链".encode()) + 1  # in the middle of the character's three bytes
    second = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"}).encode()
    first, then = exchange(address, text[:cut], text[cut:] + b"\n", second)
    assert first["id"] == 1 and first["error"]["code"] == -32601 and "eth_链" in first["error"]["message"]
    assert then == {"jsonrpc": "2.0", "id": 2, "result": hex(EMBEDDED_CHAIN_ID)}


@pytest.mark.parametrize(("request_text", "code"), [
    (b"42", -32600),
    (b'{"id": 3, "method": "eth_chainId", "params": [}\n', -32700),  # wrong for good once its line has ended
    (b'{"id": 3, "method": "evm_revert", "params": ["0x1"]}', -32601),  # would rewind the stored chain
    (b'{"id": 3, "method": "evm_mine", "params": [100000]}', -32602),  # a few empty blocks at a time only
    (b'{"id": 3, "method": "eth_feeHistory", "params": ["0x1", "latest", [50.0]]}', None),  # answered
    (b'{"id": 3, "params": []}', -32600),
    (b'{"id": 3, "method": "eth_chainId", "params": {"a": 1}}', -32602),
    (b"[]", -32600),
    (b'{"id": 3, "method": "eth_getBlockByNumber", "params": ["not a block", false]}', -32000),
])
def test_malformed_requests_get_a_json_rpc_error_and_the_connection_goes_on(held: tuple[Chain, Path],
                                                                            request_text: bytes,
                                                                            code: int | None) -> None:
    _, address = held
    first, after = exchange(address, request_text, b'{"jsonrpc":"2.0","id":9,"method":"eth_chainId","params":[]}')
    if code is None:
        assert "result" in first, first
    else:
        assert first["error"]["code"] == code and first["error"]["message"]
    assert after["id"] == 9 and after["result"] == hex(EMBEDDED_CHAIN_ID)


def test_a_worker_sees_the_holders_chain_and_its_reverts_alike(held: tuple[Chain, Path], tmp_path: Path) -> None:
    holder, address = held
    worker = connect(EMBEDDED, data_dir=tmp_path / "elsewhere", shared=address)  # the path is not opened
    try:
        assert worker.chain_id == holder.chain_id == EMBEDDED_CHAIN_ID
        addresses = deploy_all(worker)
        assert holder.has_code(addresses["LedgerAnchor"]) and worker.block_number() == holder.block_number()
        stranger = holder.web3.eth.accounts[5]  # holds no role on the contract

        def revert_from(chain: Chain) -> ContractCustomError:
            anchor = chain.web3.eth.contract(address=addresses["LedgerAnchor"],  # type: ignore[call-overload]
                                             abi=artifact("LedgerAnchor")["abi"])
            with pytest.raises(ContractCustomError) as raised:
                anchor.functions.anchor(1, b"\1" * 32).call({"from": stranger})
            return raised.value

        here, there = revert_from(holder), revert_from(worker)
        assert there.data == here.data
        refused = translate_error(there)
        assert str(refused) == str(translate_error(here)) and "AccessControlUnauthorizedAccount" in str(refused)
    finally:
        worker.close()


def test_the_chain_is_held_once(tmp_path: Path) -> None:
    with share_embedded(data_dir=tmp_path, private_key=None, expected_chain_id=None, address=tmp_path / "a.sock"):
        with pytest.raises(AnchorUnavailable, match="open in another process"), \
                share_embedded(data_dir=tmp_path, private_key=None, expected_chain_id=None,
                               address=tmp_path / "b.sock"):
            pass
        assert (tmp_path / "a.sock").exists()
    assert not (tmp_path / "a.sock").exists()  # removed when the block ends


def test_an_unreachable_socket_is_an_unavailable_chain(tmp_path: Path) -> None:
    with pytest.raises(AnchorUnavailable) as refused:
        connect(EMBEDDED, data_dir=tmp_path, shared=tmp_path / "nobody.sock")
    message = str(refused.value)
    assert message.startswith("cannot reach the embedded chain at ") and str(tmp_path / "nobody.sock") in message
    assert "is that serving process running?" in message


def test_a_connection_closed_without_an_answer_fails_at_once(tmp_path: Path) -> None:
    """Not after the client's 30 s timeout: a peer that hangs up is a transit failure, reported as such."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "rude.sock"))
    listener.listen(1)

    def hang_up() -> None:
        sock, _ = listener.accept()
        sock.recv(65536)
        sock.close()

    threading.Thread(target=hang_up, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(AnchorUnavailable, match="closed the connection before it answered"):
        connect(EMBEDDED, data_dir=tmp_path, shared=tmp_path / "rude.sock", private_key=OWN_KEY)
    assert time.monotonic() - started < 5
    listener.close()
