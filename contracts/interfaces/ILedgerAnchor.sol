// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title ILedgerAnchor
 * @notice Checkpoints of an append-only Merkle journal (RFC 9162 tree heads) posted on chain.
 * @dev A checkpoint is a `(treeSize, root)` pair. Tree sizes only grow, so an anchored history can never be
 * rewritten or back-dated: the chain records which root a given size had and in which block it was first seen.
 */
interface ILedgerAnchor {
    /**
     * @notice A checkpoint was recorded.
     * @param treeSize Number of leaves the journal held when `root` was computed.
     * @param root RFC 9162 Merkle tree hash of the first `treeSize` leaves.
     */
    event CheckpointAnchored(uint64 indexed treeSize, bytes32 root);

    /**
     * @notice `given` is not larger than the latest anchored tree size `latest`.
     * @dev Sizes must strictly increase; the same size cannot be anchored twice.
     */
    error LedgerAnchorStaleTreeSize(uint64 latest, uint64 given);

    /**
     * @notice A checkpoint with the zero root was refused for tree size `treeSize`.
     * @dev The zero root is what {rootOf} answers for a size that was never anchored.
     */
    error LedgerAnchorZeroRoot(uint64 treeSize);

    /**
     * @notice `account` cannot hold the role it was given at deployment (it is the zero address).
     */
    error LedgerAnchorInvalidAccount(address account);

    /**
     * @notice Records the checkpoint `(treeSize, root)`.
     * @dev Requires the anchorer role and the contract not to be paused. Reverts with
     * {LedgerAnchorStaleTreeSize} unless `treeSize` is larger than the latest anchored size, and with
     * {LedgerAnchorZeroRoot} if `root` is zero. Emits {CheckpointAnchored}.
     */
    function anchor(uint64 treeSize, bytes32 root) external;

    /**
     * @notice The checkpoint with the largest tree size, or `(0, 0)` before the first one.
     */
    function latest() external view returns (uint64 treeSize, bytes32 root);

    /**
     * @notice The root anchored for exactly `treeSize` leaves and the block that recorded it.
     * @dev Answers `(0, 0)` for a size that was never anchored; an anchored root is never zero.
     */
    function rootOf(uint64 treeSize) external view returns (bytes32 root, uint64 blockNumber);
}
