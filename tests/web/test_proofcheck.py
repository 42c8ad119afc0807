"""The page's own checker (api/web/proofcheck.js) in Chromium against the project's known-answer vectors: RFC 9162
inclusion and consistency proofs with corruption probes, the C2SP checkpoint and vkey, the statement v2 commitment,
signature and leaf, RFC 8785 key order, and every Ed25519 edge case the ledger's own verifier refuses; that every
failure it can throw has words in both languages, and that a byte order mark is not dropped unseen."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.factories import VECTORS
from tests.web.conftest import Site

pytestmark = pytest.mark.chromium
ROOT = Path(__file__).resolve().parents[2]


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


def test_every_word_of_the_page_is_in_both_languages_with_the_same_placeholders(checker: Any) -> None:
    strings = checker.evaluate("async () => (await import('/verify/assets/i18n.js')).STRINGS")
    assert set(strings["en"]) == set(strings["zh"])
    for key, english in strings["en"].items():
        assert sorted(re.findall(r"\{\w+\}", english)) == sorted(re.findall(r"\{\w+\}", strings["zh"][key])), key
    source = (ROOT / "api" / "web" / "proofcheck.js").read_text(encoding="utf-8")
    thrown = set(re.findall(r'\bfail\("([a-z0-9-]+)"', source))
    assert len(thrown) > 60 and {f"fail.{key}" for key in thrown} <= set(strings["en"])
    parts = set(re.findall(r'\bpart\("([a-z0-9-]+)"', source))
    assert parts and {f"part.{key}" for key in parts} <= set(strings["en"])
    # the page's words say where the key comes from, and never that the page read the chain
    for text in strings["en"].values():
        for claim in ("insurer publishes at", "the key the insurer publishes", "insurer's key",
                      "checked against the chain"):
            assert claim not in text, (claim, text)


def test_a_failure_is_a_key_with_an_english_message_and_a_chinese_one(checker: Any) -> None:
    found = checker.evaluate("""async () => {""" + IMPORT + """
        const { t } = await import('/verify/assets/i18n.js');
        try { m.fromBase64('not base64!', { key: 'part.salt' }); } catch (e) {
          return { cls: e instanceof m.CheckFailed, key: e.key, message: e.message,
                   zh: t('zh', `fail.${e.key}`, e.params) };
        }
        return null;
    }""")
    assert found == {"cls": True, "key": "base64", "message": "the salt is not standard padded base64",
                     "zh": "盐值不是标准的带填充 base64"}


def test_a_byte_order_mark_is_kept_so_a_leaf_that_starts_with_one_is_not_read_as_canonical(checker: Any) -> None:
    found = checker.evaluate("""async () => {""" + IMPORT + """
        return m.fromUtf8(Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d));
    }""")
    assert found == "\ufeff{}"
