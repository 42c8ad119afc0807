// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ILedgerAnchor} from "./interfaces/ILedgerAnchor.sol";

/**
 * @title LedgerAnchor
 * @notice Keeps the checkpoints `(treeSize, root)` of one append-only journal, with strictly growing sizes.
 * @dev Holders of `ANCHORER_ROLE` post checkpoints; holders of `PAUSER_ROLE` can stop and resume posting;
 * `DEFAULT_ADMIN_ROLE` manages both roles. The contract stores hashes only, never the journal's content.
 */
contract LedgerAnchor is ILedgerAnchor, AccessControl, Pausable {
    /// @notice Role allowed to post checkpoints.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");
    /// @notice Role allowed to pause and unpause posting.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    struct Checkpoint {
        bytes32 root;
        uint64 blockNumber;
    }

    uint64 private _latestTreeSize;
    mapping(uint64 treeSize => Checkpoint) private _checkpoints;

    /**
     * @param admin Receives `DEFAULT_ADMIN_ROLE` (grants and revokes every role).
     * @param operator Receives `ANCHORER_ROLE` and `PAUSER_ROLE`.
     * @dev Reverts with {LedgerAnchorInvalidAccount} if either account is the zero address.
     */
    constructor(address admin, address operator) {
        if (admin == address(0)) {
            revert LedgerAnchorInvalidAccount(admin);
        }
        if (operator == address(0)) {
            revert LedgerAnchorInvalidAccount(operator);
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, operator);
        _grantRole(PAUSER_ROLE, operator);
    }

    /// @inheritdoc ILedgerAnchor
    function anchor(uint64 treeSize, bytes32 root) external onlyRole(ANCHORER_ROLE) whenNotPaused {
        uint64 latestTreeSize = _latestTreeSize;
        if (treeSize <= latestTreeSize) {
            revert LedgerAnchorStaleTreeSize(latestTreeSize, treeSize);
        }
        if (root == bytes32(0)) {
            revert LedgerAnchorZeroRoot(treeSize);
        }
        _latestTreeSize = treeSize;
        _checkpoints[treeSize] = Checkpoint({root: root, blockNumber: uint64(block.number)});
        emit CheckpointAnchored(treeSize, root);
    }

    /**
     * @notice Stops {anchor} until {unpause} is called.
     * @dev Requires `PAUSER_ROLE`. Emits {Pausable-Paused}.
     */
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /**
     * @notice Lets {anchor} run again.
     * @dev Requires `PAUSER_ROLE`. Emits {Pausable-Unpaused}.
     */
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc ILedgerAnchor
    function latest() external view returns (uint64 treeSize, bytes32 root) {
        treeSize = _latestTreeSize;
        root = _checkpoints[treeSize].root;
    }

    /// @inheritdoc ILedgerAnchor
    function rootOf(uint64 treeSize) external view returns (bytes32 root, uint64 blockNumber) {
        Checkpoint storage checkpoint = _checkpoints[treeSize];
        return (checkpoint.root, checkpoint.blockNumber);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(ILedgerAnchor).interfaceId || super.supportsInterface(interfaceId);
    }
}
