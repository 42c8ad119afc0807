"""DocumentRegistry on the embedded EVM: batches, supersede and revoke transitions, roles, pause, events, errors."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractCustomError

from ledger.anchoring import (
    PAUSER_ROLE,
    REGISTRAR_ROLE,
    Chain,
    ContractRevert,
    DocumentRecord,
    DocumentRegistryContract,
    DocumentStatus,
    Registration,
)
from ledger.errors import ValidationFailed
from tests.contracts.helpers import custom_error, digest, events, expect_error, mined, subject

ZERO = bytes(32)
MAX = DocumentRegistryContract.MAX_BATCH_SIZE


def rows(*registrations: Registration) -> list[tuple[bytes, bytes, int, int]]:
    return [(r.digest, r.subject, r.kind, r.version) for r in registrations]


def doc(label: str, *, who: str = "alice", kind: int = 1, version: int = 1) -> Registration:
    return Registration(digest=digest(label), subject=subject(who), kind=kind, version=version)


def block_timestamp(chain: Chain, receipt) -> int:
    return int(chain.web3.eth.get_block(receipt["blockNumber"])["timestamp"])


def test_max_batch_size_matches_the_contract(registry: DocumentRegistryContract):
    assert registry.contract.functions.MAX_BATCH_SIZE().call() == MAX


def test_register_batch_records_every_document_and_emits_in_order(chain: Chain, registry: DocumentRegistryContract):
    batch = [
        doc("policy-1"),
        doc("claim-7", who="bob", kind=2, version=3),
        doc("policy-2", kind=255, version=2**64 - 1),
    ]
    receipt = mined(chain, registry.register_batch(batch))
    assert events(registry.contract, receipt, "DocumentRegistered") == [
        {"digest": r.digest, "subject": r.subject, "kind": r.kind, "version": r.version} for r in batch
    ]
    registered_at = block_timestamp(chain, receipt)
    for r in batch:
        assert registry.document_status(r.digest) == DocumentRecord(
            DocumentStatus.VALID, r.kind, r.subject, r.version, registered_at, ZERO
        )
        assert registry.contract.functions.documentStatus(r.digest).call() == [
            1,
            r.kind,
            r.subject,
            r.version,
            registered_at,
            ZERO,
        ]


def test_an_unknown_digest_reads_as_zeros(registry: DocumentRegistryContract):
    assert registry.document_status(digest("nothing")) == DocumentRecord(DocumentStatus.UNKNOWN, 0, ZERO, 0, 0, ZERO)


@pytest.mark.parametrize("size", [0, MAX + 1])
def test_batch_size_limits(chain: Chain, registry: DocumentRegistryContract, size: int):
    batch = [doc(f"d{i}") for i in range(size)]
    expect_error(
        registry.contract,
        registry.contract.functions.registerBatch(rows(*batch)),
        chain.sender,
        "DocumentRegistryInvalidBatchSize",
        size,
        MAX,
    )


def test_a_full_batch_fits_in_a_block(chain: Chain, registry: DocumentRegistryContract):
    batch = [doc(f"full-{i}", version=i) for i in range(MAX)]
    receipt = mined(chain, registry.register_batch(batch))
    assert len(events(registry.contract, receipt, "DocumentRegistered")) == MAX
    assert registry.document_status(batch[-1].digest).version == MAX - 1


def test_a_registered_digest_is_refused_again(chain: Chain, registry: DocumentRegistryContract):
    mined(chain, registry.register_batch([doc("p")]))
    again = doc("p", who="mallory", version=9)
    expect_error(
        registry.contract,
        registry.contract.functions.registerBatch(rows(doc("q"), again)),
        chain.sender,
        "DocumentRegistryDuplicateDigest",
        again.digest,
    )
    assert registry.document_status(digest("q")).status is DocumentStatus.UNKNOWN
    assert registry.document_status(digest("p")).subject == subject("alice")


def test_a_digest_repeated_in_one_batch_refuses_the_whole_batch(chain: Chain, registry: DocumentRegistryContract):
    batch = [doc("a"), doc("b"), doc("a", version=2)]
    expect_error(
        registry.contract,
        registry.contract.functions.registerBatch(rows(*batch)),
        chain.sender,
        "DocumentRegistryDuplicateDigest",
        digest("a"),
    )
    tx_hash = registry.register_batch(batch, gas=1_000_000)  # sent anyway: reverts on chain, writes nothing
    assert chain.receipt(tx_hash)["status"] == 0
    assert registry.document_status(digest("a")).status is DocumentStatus.UNKNOWN
    assert registry.document_status(digest("b")).status is DocumentStatus.UNKNOWN


@pytest.mark.parametrize(("the_digest", "the_subject"), [(ZERO, subject("alice")), (digest("x"), ZERO)])
def test_zero_digest_or_subject_is_refused(chain: Chain, registry: DocumentRegistryContract, the_digest, the_subject):
    entries = [(digest("ok"), subject("a"), 1, 1), (the_digest, the_subject, 1, 1)]
    call = registry.contract.functions.registerBatch(entries)
    expect_error(registry.contract, call, chain.sender, "DocumentRegistryInvalidRegistration", the_digest, the_subject)


def test_supersede_replaces_a_valid_document(chain: Chain, registry: DocumentRegistryContract):
    old = doc("policy-v1", who="carol", kind=4, version=1)
    first = mined(chain, registry.register_batch([old]))
    new_digest = digest("policy-v2")
    receipt = mined(chain, registry.supersede(old.digest, new_digest, 2))
    assert events(registry.contract, receipt, "DocumentRegistered") == [
        {"digest": new_digest, "subject": old.subject, "kind": 4, "version": 2}
    ]
    assert events(registry.contract, receipt, "DocumentSuperseded") == [
        {"digest": old.digest, "supersededBy": new_digest, "version": 2}
    ]
    assert registry.document_status(old.digest) == DocumentRecord(
        DocumentStatus.SUPERSEDED, 4, old.subject, 1, block_timestamp(chain, first), new_digest
    )
    assert registry.document_status(new_digest) == DocumentRecord(
        DocumentStatus.VALID, 4, old.subject, 2, block_timestamp(chain, receipt), ZERO
    )


@pytest.mark.parametrize("new_version", [5, 4, 0])
def test_supersede_needs_a_newer_version(chain: Chain, registry: DocumentRegistryContract, new_version: int):
    mined(chain, registry.register_batch([doc("v5", version=5)]))
    expect_error(
        registry.contract,
        registry.contract.functions.supersede(digest("v5"), digest("next"), new_version),
        chain.sender,
        "DocumentRegistryStaleVersion",
        digest("v5"),
        5,
        new_version,
    )


def test_supersede_refusals(chain: Chain, registry: DocumentRegistryContract):
    supersede = registry.contract.functions.supersede
    expect_error(
        registry.contract,
        supersede(digest("ghost"), digest("n"), 2),
        chain.sender,
        "DocumentRegistryUnknownDigest",
        digest("ghost"),
    )
    mined(chain, registry.register_batch([doc("a"), doc("b")]))
    expect_error(
        registry.contract,
        supersede(digest("a"), digest("b"), 2),
        chain.sender,
        "DocumentRegistryDuplicateDigest",
        digest("b"),
    )
    expect_error(
        registry.contract,
        supersede(digest("a"), ZERO, 2),
        chain.sender,
        "DocumentRegistryInvalidRegistration",
        ZERO,
        subject("alice"),
    )

    mined(chain, registry.supersede(digest("a"), digest("a2"), 2))
    expect_error(
        registry.contract,
        supersede(digest("a"), digest("a3"), 3),
        chain.sender,
        "DocumentRegistryUnexpectedStatus",
        digest("a"),
        int(DocumentStatus.SUPERSEDED),
    )
    mined(chain, registry.revoke(digest("b"), 1))
    expect_error(
        registry.contract,
        supersede(digest("b"), digest("b2"), 2),
        chain.sender,
        "DocumentRegistryUnexpectedStatus",
        digest("b"),
        int(DocumentStatus.REVOKED),
    )


def test_revoke_a_valid_document(chain: Chain, registry: DocumentRegistryContract):
    registered = mined(chain, registry.register_batch([doc("forged", kind=7, version=3)]))
    receipt = mined(chain, registry.revoke(digest("forged"), 42))
    assert events(registry.contract, receipt, "DocumentRevoked") == [{"digest": digest("forged"), "reasonCode": 42}]
    assert registry.document_status(digest("forged")) == DocumentRecord(
        DocumentStatus.REVOKED, 7, subject("alice"), 3, block_timestamp(chain, registered), ZERO
    )


def test_revoke_a_superseded_document_keeps_its_successor(chain: Chain, registry: DocumentRegistryContract):
    mined(chain, registry.register_batch([doc("old")]))
    mined(chain, registry.supersede(digest("old"), digest("new"), 2))
    mined(chain, registry.revoke(digest("old"), 3))
    record = registry.document_status(digest("old"))
    assert (record.status, record.superseded_by) == (DocumentStatus.REVOKED, digest("new"))
    assert registry.document_status(digest("new")).status is DocumentStatus.VALID


def test_revoke_refusals(chain: Chain, registry: DocumentRegistryContract):
    revoke = registry.contract.functions.revoke
    expect_error(
        registry.contract, revoke(digest("ghost"), 1), chain.sender, "DocumentRegistryUnknownDigest", digest("ghost")
    )
    mined(chain, registry.register_batch([doc("d")]))
    mined(chain, registry.revoke(digest("d"), 1))
    expect_error(
        registry.contract,
        revoke(digest("d"), 2),
        chain.sender,
        "DocumentRegistryUnexpectedStatus",
        digest("d"),
        int(DocumentStatus.REVOKED),
    )
    with pytest.raises(ContractRevert) as raised:
        registry.revoke(digest("d"), 2)
    assert raised.value.error == "DocumentRegistryUnexpectedStatus"
    assert raised.value.arguments == {"digest": digest("d"), "status": int(DocumentStatus.REVOKED)}


def test_only_registrars_change_documents(chain: Chain, registry: DocumentRegistryContract, outsider: str):
    mined(chain, registry.register_batch([doc("d")]))
    functions = registry.contract.functions
    for call in (
        functions.registerBatch(rows(doc("e"))),
        functions.supersede(digest("d"), digest("e"), 2),
        functions.revoke(digest("d"), 1),
    ):
        expect_error(registry.contract, call, outsider, "AccessControlUnauthorizedAccount", outsider, REGISTRAR_ROLE)
    expect_error(
        registry.contract, functions.pause(), outsider, "AccessControlUnauthorizedAccount", outsider, PAUSER_ROLE
    )


def test_pause_stops_every_change(chain: Chain, registry: DocumentRegistryContract, operator: str):
    mined(chain, registry.register_batch([doc("d")]))
    receipt = mined(chain, registry.pause())
    assert events(registry.contract, receipt, "Paused") == [{"account": operator}]
    functions = registry.contract.functions
    for call in (
        functions.registerBatch(rows(doc("e"))),
        functions.supersede(digest("d"), digest("e"), 2),
        functions.revoke(digest("d"), 1),
    ):
        expect_error(registry.contract, call, operator, "EnforcedPause")
    assert registry.document_status(digest("d")).status is DocumentStatus.VALID  # reads still work
    receipt = mined(chain, registry.unpause())
    assert events(registry.contract, receipt, "Unpaused") == [{"account": operator}]
    mined(chain, registry.revoke(digest("d"), 1))


def test_constructor_refuses_the_zero_address(chain: Chain, registry: DocumentRegistryContract):
    zero = "0x" + "00" * 20
    with pytest.raises(ContractRevert) as raised:
        chain.deploy("DocumentRegistry", zero, chain.sender)
    assert (raised.value.error, raised.value.arguments) == ("DocumentRegistryInvalidAccount", {"account": zero})


def test_custom_error_data_on_a_real_send(chain: Chain, registry: DocumentRegistryContract):
    with pytest.raises(ContractCustomError) as excinfo:
        registry.contract.functions.revoke(digest("ghost"), 1).transact({"from": chain.sender})
    assert custom_error(registry.contract, excinfo) == ("DocumentRegistryUnknownDigest", digest("ghost"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"digest": b"\x01" * 31}, "digest"),
        ({"subject": b"\x01" * 33}, "subject"),
        ({"kind": 256}, "kind"),
        ({"kind": -1}, "kind"),
        ({"version": 2**64}, "version"),
        ({"version": True}, "version"),
    ],
)
def test_registration_rejects_malformed_fields(kwargs, field):
    fields = {"digest": digest("x"), "subject": subject("y"), "kind": 1, "version": 1, **kwargs}
    with pytest.raises(ValidationFailed) as raised:
        Registration(**fields)
    assert raised.value.field == field


def test_the_wrapper_rejects_a_malformed_reason_code(registry: DocumentRegistryContract):
    with pytest.raises(ValidationFailed) as raised:
        registry.revoke(digest("d"), 256)
    assert raised.value.field == "reason_code"
