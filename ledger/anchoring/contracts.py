"""Compiled contract artifacts, typed wrappers for LedgerAnchor and DocumentRegistry, and revert decoding.

Artifacts are the committed ``ledger/artifacts/<Name>.json`` files written by ``scripts/build_contracts.py``.
Wrappers take and return bytes and ints; transactions go through :meth:`Chain.send` and return the transaction
hash (bytes), reads go through :meth:`Chain.call`. A contract revert becomes :class:`ContractRevert`, named and
with the error's decoded arguments; the wrappers check encodings (lengths, ranges) and leave every rule to the
contract, so each rule has one home.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.errors import AnchorUnavailable, Conflict, LedgerError, NotFound, ValidationFailed

if TYPE_CHECKING:
    from web3.contract import Contract

    from ledger.anchoring.chain import Chain

DEFAULT_ADMIN_ROLE = bytes(32)
ANCHORER_ROLE = keccak(b"ANCHORER_ROLE")
REGISTRAR_ROLE = keccak(b"REGISTRAR_ROLE")
PAUSER_ROLE = keccak(b"PAUSER_ROLE")

_ERROR_STRING = keccak(b"Error(string)")[:4]
_PANIC = keccak(b"Panic(uint256)")[:4]
_UINT64_MAX = 2**64 - 1


class ContractRevert(Conflict):
    """A contract refused a call. ``error`` is the Solidity error's name, ``arguments`` its decoded arguments.

    Solidity ``require`` messages come as ``Error`` with ``message``, panics as ``Panic`` with ``code``, and an
    error no artifact declares as ``UnknownError`` with ``data``.
    """

    def __init__(self, error: str, arguments: Mapping[str, Any]) -> None:
        shown = ", ".join(f"{key}={_show(value)}" for key, value in arguments.items())
        super().__init__(f"contract reverted with {error}({shown})")
        self.error = error
        self.arguments = dict(arguments)


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else repr(value)


@functools.cache
def _artifacts_dir() -> Traversable:
    try:
        return resources.files("ledger") / "artifacts"
    except NotADirectoryError:
        # A stale editable install can make ``ledger`` a namespace package that resources cannot list.
        return Path(__file__).resolve().parent.parent / "artifacts"


@functools.cache
def artifact(name: str) -> dict[str, Any]:
    """The committed artifact of contract ``name`` (abi, bytecode, compiler, sources). Raises NotFound."""
    resource = _artifacts_dir() / f"{name}.json"
    if not resource.is_file():
        raise NotFound(f"no compiled contract named {name!r}", field="contract")
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def deployable(name: str) -> dict[str, Any]:
    """Like :func:`artifact`, but raises NotFound unless the artifact has creation bytecode."""
    found = artifact(name)
    if len(found.get("bytecode", "0x")) <= 2:
        raise NotFound(f"contract {name!r} has no bytecode", field="contract")
    return found


@functools.cache
def _known_errors() -> dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    errors: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for resource in _artifacts_dir().iterdir():
        if not resource.name.endswith(".json"):
            continue
        for entry in json.loads(resource.read_text(encoding="utf-8"))["abi"]:
            if entry["type"] != "error":
                continue
            types = tuple(_abi_type(item) for item in entry["inputs"])
            selector = keccak(f"{entry['name']}({','.join(types)})".encode())[:4]
            errors[selector] = (entry["name"], tuple(item["name"] for item in entry["inputs"]), types)
    return errors


def _abi_type(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(component) for component in item["components"]) + ")" + kind[5:]
    return kind


def decode_revert(data: bytes) -> ContractRevert:
    """Name and decode revert ``data`` with the errors declared in the artifacts."""
    selector, body = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING:
            return ContractRevert("Error", {"message": abi_decode(["string"], body)[0]})
        if selector == _PANIC:
            return ContractRevert("Panic", {"code": abi_decode(["uint256"], body)[0]})
        if selector in _known_errors():
            name, names, types = _known_errors()[selector]
            values = [
                Web3.to_checksum_address(value) if kind == "address" else value
                for kind, value in zip(types, abi_decode(list(types), body), strict=True)
            ]
            return ContractRevert(name, dict(zip(names, values, strict=True)))
    except DecodingError:
        pass
    return ContractRevert("UnknownError", {"data": data})


def translate_error(exc: BaseException | None) -> LedgerError:
    """The ledger error for a web3/transport failure: ContractRevert for a revert, else AnchorUnavailable."""
    if isinstance(exc, LedgerError):
        return exc
    if isinstance(exc, ContractLogicError):
        data = _revert_data(exc.data)
        if data is not None:
            return decode_revert(data)
        return ContractRevert("Error", {"message": str(exc.message or exc)})
    if isinstance(exc, Web3RPCError) and exc.rpc_response is not None:
        # A node that executes a transaction when it is submitted reports a revert as a plain RPC error.
        error = exc.rpc_response.get("error")
        data = _revert_data(error.get("data")) if isinstance(error, Mapping) else None
        if data is not None:
            return decode_revert(data)
    if isinstance(exc, TimeExhausted):
        return AnchorUnavailable(f"timed out waiting for the chain: {exc}")
    return AnchorUnavailable(f"chain request failed: {exc}")


def _revert_data(data: Any) -> bytes | None:
    # Nodes put the revert data in the error's "data" field, some (Hardhat) one level deeper.
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


def _bytes32(value: bytes, field: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValidationFailed(f"{field} must be 32 bytes", field=field)
    return value


def _uint(value: int, bits: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise ValidationFailed(f"{field} must be an integer in [0, 2**{bits})", field=field)
    return value


class DocumentStatus(IntEnum):
    """Status codes of ``DocumentRegistry.documentStatus``."""

    UNKNOWN = 0
    VALID = 1
    SUPERSEDED = 2
    REVOKED = 3


class Checkpoint(NamedTuple):
    """A ``(tree_size, root)`` pair as anchored; ``(0, bytes(32))`` means none yet."""

    tree_size: int
    root: bytes


class AnchoredRoot(NamedTuple):
    """The root anchored for one tree size and the block that recorded it."""

    root: bytes
    block_number: int


class DocumentRecord(NamedTuple):
    """What the registry holds for one digest (all zeros and UNKNOWN if never registered)."""

    status: DocumentStatus
    kind: int
    subject: bytes
    version: int
    registered_at: int
    superseded_by: bytes


@dataclass(frozen=True)
class Registration:
    """One document to register: 32-byte digest and salted subject commitment, kind (uint8), version (uint64)."""

    digest: bytes
    subject: bytes
    kind: int
    version: int

    def __post_init__(self) -> None:
        _bytes32(self.digest, "digest")
        _bytes32(self.subject, "subject")
        _uint(self.kind, 8, "kind")
        _uint(self.version, 64, "version")


class _Wrapper:
    NAME: ClassVar[str]

    def __init__(self, chain: Chain, address: str) -> None:
        self._chain = chain
        self._contract: Contract = chain.web3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact(self.NAME)["abi"]
        )

    @property
    def address(self) -> str:
        """The contract's checksum address."""
        return str(self._contract.address)

    @property
    def contract(self) -> Contract:
        """The web3 contract object (for event decoding and tests)."""
        return self._contract

    def paused(self) -> bool:
        """Whether changes are paused."""
        return bool(self._chain.call(self._contract.functions.paused()))

    def pause(self, *, gas: int | None = None) -> bytes:
        """Pause changes (needs ``PAUSER_ROLE``). Emits ``Paused``. Returns the transaction hash."""
        return self._chain.send(self._contract.functions.pause(), gas=gas)

    def unpause(self, *, gas: int | None = None) -> bytes:
        """Resume changes (needs ``PAUSER_ROLE``). Emits ``Unpaused``. Returns the transaction hash."""
        return self._chain.send(self._contract.functions.unpause(), gas=gas)

    def has_role(self, role: bytes, account: str) -> bool:
        """Whether ``account`` holds ``role`` (a 32-byte role id such as :data:`ANCHORER_ROLE`)."""
        call = self._contract.functions.hasRole(_bytes32(role, "role"), Web3.to_checksum_address(account))
        return bool(self._chain.call(call))

    def grant_role(self, role: bytes, account: str, *, gas: int | None = None) -> bytes:
        """Grant ``role`` to ``account`` (needs the role's admin role). Returns the transaction hash."""
        call = self._contract.functions.grantRole(_bytes32(role, "role"), Web3.to_checksum_address(account))
        return self._chain.send(call, gas=gas)

    def revoke_role(self, role: bytes, account: str, *, gas: int | None = None) -> bytes:
        """Revoke ``role`` from ``account`` (needs the role's admin role). Returns the transaction hash."""
        call = self._contract.functions.revokeRole(_bytes32(role, "role"), Web3.to_checksum_address(account))
        return self._chain.send(call, gas=gas)


class LedgerAnchorContract(_Wrapper):
    """Typed access to a deployed ``LedgerAnchor``."""

    NAME = "LedgerAnchor"

    def anchor(self, tree_size: int, root: bytes, *, gas: int | None = None) -> bytes:
        """Anchor ``(tree_size, root)``; return the transaction hash.

        Requires ``ANCHORER_ROLE``, a size above the latest and a non-zero root; otherwise (when ``gas`` is not
        given) raises ContractRevert (``LedgerAnchorStaleTreeSize``, ``LedgerAnchorZeroRoot``, ...).
        """
        call = self._contract.functions.anchor(_uint(tree_size, 64, "tree_size"), _bytes32(root, "root"))
        return self._chain.send(call, gas=gas)

    def latest(self) -> Checkpoint:
        """The checkpoint with the largest tree size, ``Checkpoint(0, bytes(32))`` before the first."""
        tree_size, root = self._chain.call(self._contract.functions.latest())
        return Checkpoint(int(tree_size), bytes(root))

    def root_of(self, tree_size: int) -> AnchoredRoot | None:
        """The root anchored for exactly ``tree_size`` leaves and its block, or ``None`` if never anchored."""
        root, block_number = self._chain.call(self._contract.functions.rootOf(_uint(tree_size, 64, "tree_size")))
        return None if bytes(root) == bytes(32) else AnchoredRoot(bytes(root), int(block_number))

    def anchored_in(self, receipt: TxReceipt) -> list[Checkpoint]:
        """The ``CheckpointAnchored`` events this contract emitted in ``receipt``."""
        events = self._contract.events.CheckpointAnchored().process_receipt(receipt, errors=DISCARD)
        return [Checkpoint(int(e["args"]["treeSize"]), bytes(e["args"]["root"])) for e in events]


class DocumentRegistryContract(_Wrapper):
    """Typed access to a deployed ``DocumentRegistry``."""

    NAME = "DocumentRegistry"
    MAX_BATCH_SIZE = 256  # mirrors DocumentRegistry.MAX_BATCH_SIZE

    def register_batch(self, registrations: Sequence[Registration], *, gas: int | None = None) -> bytes:
        """Register every entry as valid in one transaction; return the transaction hash.

        Requires ``REGISTRAR_ROLE``; the contract refuses an empty or oversized batch and known, repeated or
        zero digests (ContractRevert when ``gas`` is not given).
        """
        rows = [(r.digest, r.subject, r.kind, r.version) for r in registrations]
        return self._chain.send(self._contract.functions.registerBatch(rows), gas=gas)

    def supersede(self, old_digest: bytes, new_digest: bytes, new_version: int, *, gas: int | None = None) -> bytes:
        """Replace valid ``old_digest`` by ``new_digest`` (same subject and kind, larger version)."""
        call = self._contract.functions.supersede(
            _bytes32(old_digest, "old_digest"),
            _bytes32(new_digest, "new_digest"),
            _uint(new_version, 64, "new_version"),
        )
        return self._chain.send(call, gas=gas)

    def revoke(self, digest: bytes, reason_code: int, *, gas: int | None = None) -> bytes:
        """Revoke a valid or superseded ``digest`` for the issuer-defined ``reason_code`` (uint8)."""
        call = self._contract.functions.revoke(_bytes32(digest, "digest"), _uint(reason_code, 8, "reason_code"))
        return self._chain.send(call, gas=gas)

    def document_status(self, digest: bytes) -> DocumentRecord:
        """What the registry holds for ``digest``; status UNKNOWN and zeros if never registered."""
        status, kind, subject, version, registered_at, superseded_by = self._chain.call(
            self._contract.functions.documentStatus(_bytes32(digest, "digest"))
        )
        return DocumentRecord(
            DocumentStatus(status), int(kind), bytes(subject), int(version), int(registered_at), bytes(superseded_by)
        )
