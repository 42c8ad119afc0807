// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IDocumentRegistry} from "./interfaces/IDocumentRegistry.sol";

/**
 * @title DocumentRegistry
 * @notice Registers document digests in batches and records when they are superseded or revoked.
 * @dev Holders of `REGISTRAR_ROLE` register, supersede and revoke; holders of `PAUSER_ROLE` can stop and resume
 * those changes; `DEFAULT_ADMIN_ROLE` manages every role. Only digests and salted commitments are stored.
 */
contract DocumentRegistry is IDocumentRegistry, AccessControl, Pausable {
    /// @notice Role allowed to register, supersede and revoke documents.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Role allowed to pause and unpause changes.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Largest number of registrations accepted by one {registerBatch} call.
    uint256 public constant MAX_BATCH_SIZE = 256;

    struct Document {
        bytes32 subject;
        bytes32 supersededBy;
        uint64 version;
        uint64 registeredAt;
        uint8 kind;
        DocumentStatus status;
    }

    mapping(bytes32 digest => Document) private _documents;

    /**
     * @param admin Receives `DEFAULT_ADMIN_ROLE` (grants and revokes every role).
     * @param operator Receives `REGISTRAR_ROLE` and `PAUSER_ROLE`.
     * @dev Reverts with {DocumentRegistryInvalidAccount} if either account is the zero address.
     */
    constructor(address admin, address operator) {
        if (admin == address(0)) {
            revert DocumentRegistryInvalidAccount(admin);
        }
        if (operator == address(0)) {
            revert DocumentRegistryInvalidAccount(operator);
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, operator);
        _grantRole(PAUSER_ROLE, operator);
    }

    /// @inheritdoc IDocumentRegistry
    function registerBatch(Registration[] calldata registrations) external onlyRole(REGISTRAR_ROLE) whenNotPaused {
        uint256 size = registrations.length;
        if (size == 0 || size > MAX_BATCH_SIZE) {
            revert DocumentRegistryInvalidBatchSize(size, MAX_BATCH_SIZE);
        }
        for (uint256 i = 0; i < size; ++i) {
            Registration calldata registration = registrations[i];
            _register(registration.digest, registration.subject, registration.kind, registration.version);
        }
    }

    /// @inheritdoc IDocumentRegistry
    function supersede(
        bytes32 oldDigest,
        bytes32 newDigest,
        uint64 newVersion
    ) external onlyRole(REGISTRAR_ROLE) whenNotPaused {
        Document storage old = _existing(oldDigest);
        if (old.status != DocumentStatus.Valid) {
            revert DocumentRegistryUnexpectedStatus(oldDigest, old.status);
        }
        if (newVersion <= old.version) {
            revert DocumentRegistryStaleVersion(oldDigest, old.version, newVersion);
        }
        _register(newDigest, old.subject, old.kind, newVersion);
        old.status = DocumentStatus.Superseded;
        old.supersededBy = newDigest;
        emit DocumentSuperseded(oldDigest, newDigest, newVersion);
    }

    /// @inheritdoc IDocumentRegistry
    function revoke(bytes32 digest, uint8 reasonCode) external onlyRole(REGISTRAR_ROLE) whenNotPaused {
        Document storage document = _existing(digest);
        if (document.status == DocumentStatus.Revoked) {
            revert DocumentRegistryUnexpectedStatus(digest, document.status);
        }
        document.status = DocumentStatus.Revoked;
        emit DocumentRevoked(digest, reasonCode);
    }

    /**
     * @notice Stops registering, superseding and revoking until {unpause} is called.
     * @dev Requires `PAUSER_ROLE`. Emits {Pausable-Paused}.
     */
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /**
     * @notice Lets registering, superseding and revoking run again.
     * @dev Requires `PAUSER_ROLE`. Emits {Pausable-Unpaused}.
     */
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc IDocumentRegistry
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
        )
    {
        Document storage document = _documents[digest];
        return (
            document.status,
            document.kind,
            document.subject,
            document.version,
            document.registeredAt,
            document.supersededBy
        );
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IDocumentRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    function _register(bytes32 digest, bytes32 subject, uint8 kind, uint64 version) private {
        if (digest == bytes32(0) || subject == bytes32(0)) {
            revert DocumentRegistryInvalidRegistration(digest, subject);
        }
        Document storage document = _documents[digest];
        if (document.status != DocumentStatus.Unknown) {
            revert DocumentRegistryDuplicateDigest(digest);
        }
        document.subject = subject;
        document.version = version;
        document.registeredAt = uint64(block.timestamp);
        document.kind = kind;
        document.status = DocumentStatus.Valid;
        emit DocumentRegistered(digest, subject, kind, version);
    }

    function _existing(bytes32 digest) private view returns (Document storage document) {
        document = _documents[digest];
        if (document.status == DocumentStatus.Unknown) {
            revert DocumentRegistryUnknownDigest(digest);
        }
    }
}
