"""The page's own checker (api/web/proofcheck.js) in Chromium against the project's known-answer vectors: RFC 9162
inclusion and consistency proofs with corruption probes, the C2SP checkpoint and vkey, the statement v2 commitment,
signature and leaf, RFC 8785 key order, and every Ed25519 edge case the ledger's own verifier refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import VECTORS
from tests.web.conftest import Site

pytestmark = pytest.mark.chromium


def vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


@pytest.fixture
def checker(page: Any, site: Site) -> Any:
    """The verification page loaded, so that proofcheck.js and its import map resolve as they do for a visitor."""
    page.goto(f"{site.url}/verify")
    page.wait_for_selector("body[data-ready=true]")
    return page


IMPORT = "const m = await import('/verify/assets/proofcheck.js');"


def test_inclusion_proofs_reproduce_the_rfc9162_roots_and_every_corruption_fails(checker: Any) -> None:
    outcome = checker.evaluate("""async (v) => {""" + IMPORT + """
        const refused = (f) => { try { f(); return false; } catch (e) { return e instanceof m.CheckFailed; } };
        const root = (size) => m.fromBase64(v.roots[String(size)]);
        const leaf = (i) => m.leafHash(m.fromHex(v.leaves_hex[i]));
        return v.inclusion.map(({ index, tree_size: size, hashes }) => {
          const good = { index, treeSize: size, leaf: leaf(index), hashes, root: root(size) };
          const flip = hashes.map((_, k) => {
            const bad = hashes.map((h) => m.fromBase64(h));
            bad[k] = bad[k].slice(); bad[k][k % 32] ^= 1;
            return refused(() => m.verifyInclusion({ ...good, hashes: bad }));
          });
          return {
            index, size,
            ok: !refused(() => m.verifyInclusion(good)),
            flipped: flip,
            otherIndex: size === 1 || refused(() => m.verifyInclusion({ ...good, index: (index + 1) % size })),
            biggerTree: refused(() => m.verifyInclusion({ ...good, treeSize: size + 1,
                                                          root: root(Math.min(size + 1, 8)) })),
            truncated: hashes.length === 0 || refused(() => m.verifyInclusion({ ...good, hashes: hashes.slice(1) })),
            extended: refused(() => m.verifyInclusion({ ...good, hashes: [...hashes, hashes[0] ?? v.roots["1"]] })),
            otherLeaf: refused(() => m.verifyInclusion({ ...good, leaf: m.leafHash(m.utf8("not this leaf")) })),
          };
        });
    }""", vectors("rfc9162.json"))
    assert len(outcome) == 36
    for case in outcome:
        assert case["ok"], case
        assert all(case["flipped"]), case
        for probe in ("otherIndex", "biggerTree", "truncated", "extended", "otherLeaf"):
            assert case[probe], (probe, case)


def test_consistency_proofs_reproduce_the_rfc9162_vectors_and_every_corruption_fails(checker: Any) -> None:
    outcome = checker.evaluate("""async (v) => {""" + IMPORT + """
        const refused = (f) => { try { f(); return false; } catch (e) { return e instanceof m.CheckFailed; } };
        const root = (size) => m.fromBase64(v.roots[String(size)]);
        return v.consistency.map(({ first, second, hashes }) => {
          const good = { first, second, firstRoot: root(first), secondRoot: root(second), hashes };
          return {
            first, second,
            ok: !refused(() => m.verifyConsistency(good)),
            flipped: hashes.map((_, k) => {
              const bad = hashes.map((h) => m.fromBase64(h));
              bad[k] = bad[k].slice(); bad[k][31 - k] ^= 0x80;
              return refused(() => m.verifyConsistency({ ...good, hashes: bad }));
            }),
            otherRoot: refused(() => m.verifyConsistency({ ...good, secondRoot: root(second === 1 ? 2 : second - 1) })),
            truncated: hashes.length === 0
              || refused(() => m.verifyConsistency({ ...good, hashes: hashes.slice(0, -1) })),
            extended: refused(() => m.verifyConsistency({ ...good, hashes: [...hashes, v.roots["1"]] })),
            backwards: first === second || refused(() => m.verifyConsistency(
              { ...good, first: second, second: first, firstRoot: root(second), secondRoot: root(first) })),
          };
        });
    }""", vectors("rfc9162.json"))
    assert len(outcome) == 36
    for case in outcome:
        assert case["ok"], case
        assert all(case["flipped"]), case
        for probe in ("otherRoot", "truncated", "extended", "backwards"):
            assert case[probe], (probe, case)


def test_the_c2sp_checkpoint_vector_verifies_and_a_changed_byte_or_key_does_not(checker: Any) -> None:
    vector = vectors("c2sp-checkpoint.json")
    outcome = checker.evaluate("""async (v) => {""" + IMPORT + """
        const refused = (f) => { try { f(); return false; } catch (e) { return e instanceof m.CheckFailed; } };
        const key = m.parseVkey(v.vkey);
        const cp = m.verifyCheckpoint(v.signed_note, key);
        const sigAt = v.signed_note.indexOf("\\u2014 ") + 2 + v.key_name.length + 1 + 8;
        const swapped = v.signed_note[sigAt] === "A" ? "B" : "A";
        const badSig = v.signed_note.slice(0, sigAt) + swapped + v.signed_note.slice(sigAt + 1);
        const otherId = "lifeledger.example/log+00000000+" + v.vkey.split("+").slice(2).join("+");
        return {
          name: key.name, size: cp.size, root: m.toBase64(cp.root), body: m.verifyNote(v.signed_note, key),
          badSignature: refused(() => m.verifyCheckpoint(badSig, key)),
          badBody: refused(() => m.verifyCheckpoint(v.signed_note.replace("\\n8\\n", "\\n9\\n"), key)),
          noSignature: refused(() => m.verifyCheckpoint(v.checkpoint_body + "\\n", key)),
          wrongKeyId: refused(() => m.parseVkey(otherId)),
          vkeyWithoutPlus: refused(() => m.parseVkey(v.key_name)),
        };
    }""", vector)
    assert outcome["name"] == vector["key_name"]
    assert outcome["body"] == vector["checkpoint_body"]
    assert outcome["size"] == 8 and outcome["root"] == vectors("rfc9162.json")["roots"]["8"]
    for probe in ("badSignature", "badBody", "noSignature", "wrongKeyId", "vkeyWithoutPlus"):
        assert outcome[probe] is True, probe


def test_the_statement_v2_vector_its_commitment_signature_and_leaf(checker: Any) -> None:
    vector = vectors("statement-v2.json")
    outcome = checker.evaluate("""async (v) => {""" + IMPORT + """
        const salt = m.fromHex(v.salt);
        const commitment = m.payloadCommitment({ salt, payload: v.payload, dataSubject: v.data_subject, version: 2 });
        const v1 = m.payloadCommitment({ salt, payload: v.payload, dataSubject: v.data_subject, version: 1 });
        const other = m.payloadCommitment({ salt, payload: v.payload, dataSubject: "policy:other", version: 2 });
        const key = m.fromBase64(v.public_key);
        const signed = m.utf8(m.jcs(v.statement));
        return {
          commitment: m.digestString(commitment), v1: m.digestString(v1), other: m.digestString(other),
          canonical: m.jcs(v.statement), leaf: m.toBase64(m.leafHash(m.utf8(v.leaf))),
          signature: m.verifyEd25519(key, signed, m.fromBase64(v.signature)),
          otherMessage: m.verifyEd25519(key, m.utf8(m.jcs({ ...v.statement, seq: 2 })), m.fromBase64(v.signature)),
        };
    }""", vector)
    assert outcome["commitment"] == vector["statement"]["payload_hash"]
    assert outcome["v1"] == vector["v1_payload_hash_of_the_same_payload"]
    assert outcome["other"] != vector["statement"]["payload_hash"]
    assert outcome["canonical"] == vector["statement_canonical"]
    assert outcome["leaf"] == vector["leaf_hash"]
    assert outcome["signature"] is True and outcome["otherMessage"] is False


def test_jcs_orders_members_by_utf16_code_units_and_writes_numbers_as_rfc8785(checker: Any) -> None:
    # RFC 8785 §3.2.3's example of member order, and numbers as the ECMAScript forms the RFC adopts
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O"}
    text = checker.evaluate("""async (v) => {""" + IMPORT + """
        return [m.jcs(v), m.jcs([1e21, 0.1, -0, 100, "\\u0007", true, null])];
    }""", value)
    expected_order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert list(json.loads(text[0])) == expected_order
    assert text[1] == '[1e+21,0.1,0,100,"\\u0007",true,null]'


def test_ed25519_edge_cases_are_decided_as_the_ledger_decides_them(checker: Any) -> None:
    cases = vectors("ed25519-edge-cases.json")["vectors"]
    outcome = checker.evaluate("""async (cases) => {""" + IMPORT + """
        return cases.map((c) => m.verifyEd25519(m.fromHex(c.public_key), m.fromHex(c.message), m.fromHex(c.signature)));
    }""", cases)
    assert len(outcome) == len(cases) == 33
    for case, accepted in zip(cases, outcome, strict=True):
        assert accepted == (case["expect"] == "ok"), case["name"]
