// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IDocumentRegistry
 * @notice Digests of issued documents (e-policy versions, claim documents) and their status.
 * @dev A document is known by its digest only. Its subject is a salted commitment, so nobody can tell from the
 * chain whose document it is, or test a guess of a person's data against it. `kind` and `version` are opaque
 * numbers chosen by the issuer.
 */
interface IDocumentRegistry {
    /// @notice Life cycle of a digest: only `Valid` documents can be superseded; only `Revoked` ones are final.
    enum DocumentStatus {
        Unknown,
        Valid,
        Superseded,
        Revoked
    }

    /// @notice One document to register: its digest, the salted commitment to its subject, its kind and version.
    struct Registration {
        bytes32 digest;
        bytes32 subject;
        uint8 kind;
        uint64 version;
    }

    /**
     * @notice `digest` was registered as valid.
     * @param digest Digest of the document.
     * @param subject Salted commitment to the document's subject.
     * @param kind Issuer-defined document kind.
     * @param version Issuer-defined version number.
     */
    event DocumentRegistered(bytes32 indexed digest, bytes32 indexed subject, uint8 kind, uint64 version);

    /**
     * @notice `digest` was replaced by `supersededBy`, registered in the same transaction as version `version`.
     */
    event DocumentSuperseded(bytes32 indexed digest, bytes32 indexed supersededBy, uint64 version);

    /// @notice `digest` was revoked for the issuer-defined reason `reasonCode`.
    event DocumentRevoked(bytes32 indexed digest, uint8 reasonCode);

    /// @notice A batch of `size` registrations was refused: it must hold between 1 and `maxSize` of them.
    error DocumentRegistryInvalidBatchSize(uint256 size, uint256 maxSize);

    /// @notice A registration of `digest` for `subject` was refused because one of them is zero.
    error DocumentRegistryInvalidRegistration(bytes32 digest, bytes32 subject);

    /// @notice `digest` is already registered (a digest is registered once, whatever its status).
    error DocumentRegistryDuplicateDigest(bytes32 digest);

    /// @notice `digest` was never registered.
    error DocumentRegistryUnknownDigest(bytes32 digest);

    /// @notice `digest` has status `status`, which does not allow the requested change.
    error DocumentRegistryUnexpectedStatus(bytes32 digest, DocumentStatus status);

    /// @notice `digest` has version `current`; its replacement must have a larger version than `given`.
    error DocumentRegistryStaleVersion(bytes32 digest, uint64 current, uint64 given);

    /// @notice `account` cannot hold the role it was given at deployment (it is the zero address).
    error DocumentRegistryInvalidAccount(address account);

    /**
     * @notice Registers every entry of `registrations` as a valid document, in order.
     * @dev Requires the registrar role and the contract not to be paused. Reverts as a whole with
     * {DocumentRegistryInvalidBatchSize}, {DocumentRegistryInvalidRegistration} or
     * {DocumentRegistryDuplicateDigest} (also for a digest repeated inside the batch). Emits
     * {DocumentRegistered} for each entry.
     */
    function registerBatch(Registration[] calldata registrations) external;

    /**
     * @notice Replaces the valid document `oldDigest` by `newDigest`, version `newVersion`, for the same
     * subject and kind.
     * @dev Requires the registrar role and the contract not to be paused. Reverts with
     * {DocumentRegistryUnknownDigest}, {DocumentRegistryUnexpectedStatus} (old document not valid),
     * {DocumentRegistryStaleVersion} (`newVersion` not larger), {DocumentRegistryInvalidRegistration} or
     * {DocumentRegistryDuplicateDigest} (new digest zero or known). Emits {DocumentRegistered} for the new
     * digest, then {DocumentSuperseded}.
     */
    function supersede(bytes32 oldDigest, bytes32 newDigest, uint64 newVersion) external;

    /**
     * @notice Revokes `digest`, which must be valid or superseded.
     * @dev Requires the registrar role and the contract not to be paused. Reverts with
     * {DocumentRegistryUnknownDigest} or {DocumentRegistryUnexpectedStatus} (already revoked). A revoked
     * superseded document keeps its `supersededBy`. Emits {DocumentRevoked}.
     */
    function revoke(bytes32 digest, uint8 reasonCode) external;

    /**
     * @notice Everything recorded about `digest`; all zeros (status `Unknown`) if it was never registered.
     * @return status Current status.
     * @return kind Issuer-defined kind.
     * @return subject Salted commitment to the subject.
     * @return version Issuer-defined version.
     * @return registeredAt Timestamp of the block that registered it.
     * @return supersededBy Digest of the replacing document, zero unless superseded.
     */
    function documentStatus(bytes32 digest)
        external
        view
        returns (
            DocumentStatus status,
            uint8 kind,
            bytes32 subject,
            uint64 version,
            uint64 registeredAt,
            bytes32 supersededBy
        );
}
