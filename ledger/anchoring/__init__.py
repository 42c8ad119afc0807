"""Posting checkpoint roots and document digests to an EVM chain (the only package that imports web3)."""

from ledger.anchoring.chain import Chain, connect, deploy_all
from ledger.anchoring.contracts import (
    ANCHORER_ROLE,
    DEFAULT_ADMIN_ROLE,
    PAUSER_ROLE,
    REGISTRAR_ROLE,
    AnchoredRoot,
    Checkpoint,
    ContractRevert,
    DocumentRecord,
    DocumentRegistryContract,
    DocumentStatus,
    LedgerAnchorContract,
    Registration,
)

__all__ = [
    "ANCHORER_ROLE",
    "DEFAULT_ADMIN_ROLE",
    "PAUSER_ROLE",
    "REGISTRAR_ROLE",
    "AnchoredRoot",
    "Chain",
    "Checkpoint",
    "ContractRevert",
    "DocumentRecord",
    "DocumentRegistryContract",
    "DocumentStatus",
    "LedgerAnchorContract",
    "Registration",
    "connect",
    "deploy_all",
]
