"""The documents section of a claim's bundle (taken the real way) is held to the opened document entries: one item
per digest they name, each citing exactly those entries, the ABI that of ``documentStatus``; and an address the
person verifying gives (``--anchor-contract``, ``--registry``) is a demand: a bundle that carries nothing to hold to
it fails."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from ledger.verify import offline
from tests.ledger.verify.bundle_helpers import failure, reseal
from tests.ledger.verify.conftest import Made

Bundle = dict[str, Any]


def _named(bundle: Bundle) -> dict[str, list[int]]:
    """Each digest the opened document entries name, with those entries."""
    named: dict[str, list[int]] = {}
    for entry in bundle["entries"]:
        if entry["type"].startswith("document.") and isinstance(entry.get("facts"), dict):
            for name in ("digest", "old_digest"):
                digest = entry["facts"]["payload"].get(name)
                if digest is not None:
                    named.setdefault(digest, []).append(entry["index"])
    return named


def test_the_documents_section_is_one_item_per_digest_the_entries_name(made: Made) -> None:
    named = _named(made.bundle)
    items = made.bundle["documents"]["items"]
    assert len(named) >= 3 and {item["digest"]: item["entries"] for item in items} == named
    report = offline.verify(copy.deepcopy(made.bundle), vkey=made.vkey)
    assert {c.name: (c.status, c.detail) for c in report.checks}["documents"] == (
        "ok", f"{len(items)} document digest(s), one for each digest the opened document entries name, each citing "
              f"exactly those entries")


def _keep_first(bundle: Bundle) -> None:
    bundle["documents"]["items"] = bundle["documents"]["items"][:1]


def _drop_all(bundle: Bundle) -> None:
    bundle["documents"]["items"] = []


def _repeat(bundle: Bundle) -> None:
    bundle["documents"]["items"].append(copy.deepcopy(bundle["documents"]["items"][0]))


def _unnamed(bundle: Bundle) -> None:
    extra = copy.deepcopy(bundle["documents"]["items"][0])
    extra["digest"] = "sha256:" + "ab" * 32
    bundle["documents"]["items"].append(extra)


def _cites_another(bundle: Bundle) -> None:
    first, second = bundle["documents"]["items"][:2]
    first["entries"] = second["entries"]


def _cites_more(bundle: Bundle) -> None:
    first, second = bundle["documents"]["items"][:2]
    first["entries"] = sorted(first["entries"] + second["entries"])


def _another_function(bundle: Bundle) -> None:
    bundle["documents"]["abi"] = [{"type": "function", "name": "transferOwnership",
                                   "inputs": [{"type": "address", "name": "to"}], "outputs": []}]


def _fewer_outputs(bundle: Bundle) -> None:
    bundle["documents"]["abi"][0]["outputs"] = bundle["documents"]["abi"][0]["outputs"][:1]


def _other_input(bundle: Bundle) -> None:
    bundle["documents"]["abi"][0]["inputs"][0]["type"] = "bytes"


def _twice(bundle: Bundle) -> None:
    bundle["documents"]["abi"].append(copy.deepcopy(bundle["documents"]["abi"][0]))


# (what is done, words of the failure in the documents check); each re-sealed
DOCUMENTS: list[tuple[Callable[[Bundle], None], str]] = [
    (_keep_first, "which the documents section leaves out"),
    (_drop_all, "which the documents section leaves out"),
    (_repeat, "repeats document"),
    (_unnamed, f"is document sha256:{'ab' * 32}, which no opened document entry of the bundle names"),
    (_cites_another, "the opened document entries naming it are"),
    (_cites_more, "the opened document entries naming it are"),
    (_another_function, "documents.abi is not the fragment of documentStatus"),
    (_fewer_outputs, "documents.abi does not describe documentStatus(bytes32) -> (uint8, uint8, bytes32, uint64, "
                     "uint64, bytes32)"),
    (_other_input, "documents.abi does not describe documentStatus(bytes32)"),
    (_twice, "documents.abi is not the fragment of documentStatus"),
]


@pytest.mark.parametrize(("change", "words"), DOCUMENTS, ids=[c[0].__name__ for c in DOCUMENTS])
def test_a_documents_section_not_held_to_the_entries_fails(made: Made, change: Callable[[Bundle], None],
                                                           words: str) -> None:
    bundle = copy.deepcopy(made.bundle)
    change(bundle)
    found = failure(reseal(bundle), vkey=made.vkey)
    assert found.name == "documents" and words in found.detail, found


def test_an_address_given_is_a_demand_the_bundle_must_meet(made: Made) -> None:
    """Anchoring is off in this ledger and the documents' registrations are queued, with no contract yet: a person
    who asks for the anchor contract or the registry they trust is told the bundle carries nothing to hold."""
    address = "0x" + "ab" * 20
    found = failure(made.bundle, vkey=made.vkey, anchor_contract=address)
    assert (found.name, found.detail) == ("anchor", f"you asked to check the anchor at {address}; the bundle carries "
                                                    f"none (its anchor is 'off')")
    first = made.bundle["documents"]["items"][0]
    assert first["registrations"][0]["contract"] is None
    found = failure(made.bundle, vkey=made.vkey, registry=address)
    assert (found.name, found.detail) == ("documents", f"you asked to check the documents at {address}; document "
                                                       f"{first['digest']}'s \"register\" names no contract")
    report = offline.verify(copy.deepcopy(made.bundle), vkey=made.vkey)  # not asked: reported as not checked
    assert report.ok and report.not_checked == ["anchor", "documents on chain"]


class _Registry:
    """A node whose registry answers ``documentStatus`` with ``STATUS`` and the journal's kind, subject, version."""

    STATUS = 1
    facts: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, url: str) -> None:
        self.url = url

    def read(self, contract: str, selector: str, argument: bytes) -> bytes:
        assert selector == offline.DOCUMENT_STATUS_SELECTOR
        facts = self.facts["sha256:" + argument.hex()]

        def word(value: int) -> bytes:
            return value.to_bytes(32, "big")

        return (word(self.STATUS) + word(facts["kind"]) + bytes.fromhex(facts["subject"].removeprefix("sha256:"))
                + word(facts["version"]) + word(0) + bytes(32))


@pytest.mark.parametrize(("status", "outcome", "said"), [
    (1, "ok", "valid (as the journal proves)"),
    (3, "not checked", "revoked on chain, valid in the journal up to this bundle's read"),
    (2, "not checked", "superseded on chain, valid in the journal up to this bundle's read")])
def test_a_document_status_on_chain_is_compared_with_the_one_its_whole_stream_proves(
        made: Made, monkeypatch: pytest.MonkeyPatch, status: int, outcome: str, said: str) -> None:
    registry = "0x" + "11" * 20
    bundle = copy.deepcopy(made.bundle)
    _Registry.facts = {e["facts"]["payload"]["digest"]: e["facts"]["payload"] for e in bundle["entries"]
                       if e["type"] == "document.registered"}
    assert _Registry.facts, "the bundle holds the claim's documents"
    for item in bundle["documents"]["items"]:
        for registration in item["registrations"]:
            registration.update(status="confirmed", contract=registry, chain_id=1, tx_hash="0x" + "22" * 32,
                                block_number=5)
    monkeypatch.setattr(_Registry, "STATUS", status)
    monkeypatch.setattr(offline, "Chain", _Registry)
    report = offline.verify(reseal(bundle), vkey=made.vkey, rpc="http://node", registry=registry)
    [check] = [c for c in report.checks if c.name == "documents on chain"]
    assert check.status == outcome and said in check.detail, check.detail
    assert ("documents on chain" in report.verdict().split("not checked:")[-1]) == (outcome == "not checked")
