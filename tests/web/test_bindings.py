"""What binds a proof answer to the file: answers whose every entry is valid (signed, included in a signed
checkpoint, its opening hashing to its commitment) but put where it does not belong are refused, each by the check
that binds it, in Chromium running the page's own checker. The entries come from a journal built here
(tests/web/forged.py), so that even swaps an honest ledger never writes can be made."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.web.conftest import Site
from tests.web.forged import CLAIM_DOCUMENT, Entry, Journal, digest_of
from tests.web.test_verify_page import check, open_page

pytestmark = pytest.mark.chromium


def build() -> tuple[Journal, dict[str, Entry]]:
    """Lineage L: X1, superseded by X2, by X3, which is revoked; Z1 registered on L's stream too. Y1 on M, revoked.
    W1 on N, its record naming another key id. K1 (a claim document) superseded by K2 on P. V1 on Q, revoked by an
    entry on L. U1 on R, "revoked" by an entry recorded before its registration. Then filler, so that the anchored
    checkpoints below are smaller than the latest."""
    journal = Journal()
    e: dict[str, Entry] = {}
    e["X1"] = journal.register("X1", "L")
    e["Y1"] = journal.register("Y1", "M")
    e["X2"] = journal.supersede("X1", "X2", "L", version=2)
    e["Z1"] = journal.register("Z1", "L")
    e["X3"] = journal.supersede("X2", "X3", "L", version=3)
    e["Y1-revoked"] = journal.revoke("Y1", "M", code=2)
    e["X3-revoked"] = journal.revoke("X3", "L", code=2)
    e["W1"] = journal.register("W1", "N", key_id="system")
    e["K1"] = journal.register("K1", "P", kind=CLAIM_DOCUMENT)
    e["K2"] = journal.supersede("K1", "K2", "P", version=2)
    e["V1"] = journal.register("V1", "Q")
    e["V1-revoked-on-L"] = journal.revoke("V1", "L")
    e["U1-revoked-early"] = journal.revoke("U1", "R")
    e["U1"] = journal.register("U1", "R")
    for n in range(5):
        journal.register(f"filler {n}", f"F{n}")
    return journal, e


JOURNAL, E = build()


def honest() -> dict[str, tuple[str, dict[str, Any], str]]:
    """Answers as an honest service gives them, each with the verdict every check passing gives."""
    j = JOURNAL
    return {
        "X1 superseded": ("X1", j.answer("X1", status="superseded", registration=E["X1"], change=E["X2"],
                                         superseded_by="X2", superseded_by_version=2,
                                         chain=["register", "supersede"]), "superseded"),
        "X3 revoked": ("X3", j.answer("X3", status="revoked", registration=E["X3"], lineage=(E["X1"], E["X2"]),
                                      change=E["X3-revoked"], revocation_code=2, chain=["supersede", "revoke"]),
                       "revoked"),
        "Y1 revoked": ("Y1", j.answer("Y1", status="revoked", registration=E["Y1"], change=E["Y1-revoked"],
                                      revocation_code=2, chain=["register", "revoke"]), "revoked"),
        "Z1 genuine": ("Z1", j.answer("Z1", status="genuine", registration=E["Z1"]), "genuine"),
        "K2 of another kind": ("K2", j.answer("K2", status="genuine", registration=E["K2"], lineage=(E["K1"],),
                                              kind=CLAIM_DOCUMENT, chain=["supersede"]), "other-kind"),
    }


def swapped() -> dict[str, tuple[str, dict[str, Any], str, str]]:
    """Answers with a valid entry where it does not belong: the check that must refuse each, and its failure."""
    j = JOURNAL
    return {
        # Z1's answer with X1's registration (same stream, same version): only the registered digest tells.
        "another document's registration": (
            "Z1", j.answer("Z1", status="genuine", registration=E["X1"], version=1),
            "registration-entry", "registration-digest"),
        # Z1 said revoked by X3's revocation: same stream, recorded after Z1's registration, a revocation.
        "another document's revocation": (
            "Z1", j.answer("Z1", status="revoked", registration=E["Z1"], change=E["X3-revoked"], revocation_code=2,
                           chain=["register", "revoke"]),
            "change-entry", "change-revoked-digest"),
        # V1's revocation is recorded on lineage L's stream, not V1's.
        "a status change from another stream": (
            "V1", j.answer("V1", status="revoked", registration=E["V1"], change=E["V1-revoked-on-L"],
                           revocation_code=1, chain=["register", "revoke"]),
            "change-entry", "change-stream"),
        # U1's "revocation" is recorded before U1 was registered.
        "a status change before the registration": (
            "U1", j.answer("U1", status="revoked", registration=E["U1"], change=E["U1-revoked-early"],
                           revocation_code=1, chain=["register", "revoke"]),
            "change-entry", "change-order"),
        # X1 said replaced by X3, with the supersession of X2 by X3.
        "a supersession of another version": (
            "X1", j.answer("X1", status="superseded", registration=E["X1"], change=E["X3"], superseded_by="X3",
                           superseded_by_version=3, chain=["register", "supersede"]),
            "change-entry", "change-old-digest"),
        # W1's record names the key id "system", though the ledger's key signed it.
        "an entry under another key id": (
            "W1", j.answer("W1", status="genuine", registration=E["W1"]),
            "registration-signature", "entry-key-id"),
        # Z1 (entry 3) with an anchored checkpoint of 3 entries, which ends before it.
        "an anchored checkpoint smaller than the registration's index": (
            "Z1", j.answer("Z1", status="genuine", registration=E["Z1"], anchored=E["Z1"].index),
            "anchor", "anchor-covers"),
        # X3 with K1's registration as the start of its lineage: another stream, another kind.
        "a lineage from another document": (
            "X3", j.answer("X3", status="revoked", registration=E["X3"], lineage=(E["K1"], E["X2"]),
                           change=E["X3-revoked"], revocation_code=2, chain=["supersede", "revoke"]),
            "kind", "lineage-stream"),
        # X3 with a version of its lineage left out: X3 does not replace X1.
        "a lineage with a version left out": (
            "X3", j.answer("X3", status="revoked", registration=E["X3"], lineage=(E["X1"],),
                           change=E["X3-revoked"], revocation_code=2, chain=["supersede", "revoke"]),
            "kind", "lineage-link"),
        # K2 came in by a supersession: without its lineage its kind is not proven.
        "no lineage for a later version": (
            "K2", j.answer("K2", status="genuine", registration=E["K2"], kind=CLAIM_DOCUMENT, chain=["supersede"]),
            "kind", "lineage-first"),
        # K2 is a claim document; the answer calls it an e-policy.
        "another kind than the registered one": (
            "K2", j.answer("K2", status="genuine", registration=E["K2"], lineage=(E["K1"],), kind="e-policy",
                           chain=["supersede"]),
            "kind", "answer-kind"),
        # Z1 said genuine while the answer's own chain record lists its revocation.
        "a genuine answer whose chain record lists a revocation": (
            "Z1", j.answer("Z1", status="genuine", registration=E["Z1"], chain=["register", "revoke"]),
            "change-entry", "genuine-chain"),
    }


@pytest.fixture
def checker(page: Any, site: Site) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """checkDocument of the page's own proofcheck.js, run in Chromium on an answer about the made-up file."""
    page.goto(f"{site.url}/verify")
    page.wait_for_selector("body[data-ready=true]")

    def run(name: str, answer: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = page.evaluate("""async ([answer, digest, vkey]) => {
            const m = await import('/verify/assets/proofcheck.js');
            const r = m.checkDocument(answer, { digest, publishedVkey: vkey });
            return { verdict: r.verdict, failed: r.failed, kind: r.facts.kind ?? null,
                     states: Object.fromEntries(r.checks.map((c) => [c.id, c.state])) };
        }""", [answer, digest_of(name), JOURNAL.vkey])
        return result

    return run


@pytest.mark.parametrize("case", list(honest()), ids=list(honest()))
def test_answers_built_from_this_journal_pass_every_check(checker: Callable[..., dict[str, Any]], case: str) -> None:
    name, answer, verdict = honest()[case]
    result = checker(name, answer)
    assert result["verdict"] == verdict and result["failed"] is None, result
    assert all(state in ("ok", "info") for state in result["states"].values()), result["states"]


@pytest.mark.parametrize("case", list(swapped()), ids=list(swapped()))
def test_a_valid_entry_out_of_place_is_refused_by_the_check_that_binds_it(checker: Callable[..., dict[str, Any]],
                                                                          case: str) -> None:
    name, answer, check_id, failure = swapped()[case]
    result = checker(name, answer)
    assert result["verdict"] == "unverified", result
    assert result["failed"]["id"] == check_id and result["failed"]["failure"]["key"] == failure, result["failed"]
    assert result["states"][check_id] == "failed"


def test_the_page_shows_a_swapped_entry_as_not_verified_naming_the_check(page: Any, site: Site) -> None:
    """The whole page, its key and proof answer coming from this journal: a status change from another stream."""
    name, answer, _, _ = swapped()["a status change from another stream"]
    page.route("**/v1/log/key", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps({"origin": JOURNAL.name, "vkey": JOURNAL.vkey})))
    page.route("**/v1/documents/*/proof", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(answer)))
    open_page(page, site)
    result = check(page, name.encode(), name="V1.pdf")
    assert result["verdict"] == "unverified" and result["failed"] == "change-entry"
    assert "the status change is on another document's stream" in page.text_content("[data-check=change-entry]")
    assert result["detail"].startswith("The check “status change entry” failed")
