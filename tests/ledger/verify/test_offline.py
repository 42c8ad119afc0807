"""The offline verifier's parts against known answers (RFC 9162 trees, Ed25519 edge cases, a C2SP checkpoint),
each good proof corrupted every way, and the script run alone: copied into an empty folder, lifeledger out of reach."""

from __future__ import annotations

import ast
import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.verify import offline
from tests.factories import VECTORS

SCRIPT = Path(offline.__file__)


def _vectors(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return loaded


def _b64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


TREES = _vectors("rfc9162.json")
LEAVES = [offline.leaf_hash(bytes.fromhex(h)) for h in TREES["leaves_hex"]]
ROOTS = {int(size): base64.b64decode(root) for size, root in TREES["roots"].items()}


@pytest.mark.parametrize("case", TREES["inclusion"], ids=lambda c: f"{c['index']}-of-{c['tree_size']}")
def test_inclusion_paths_lead_to_the_published_roots_and_no_corruption_does(case: dict[str, Any]) -> None:
    index, size, path = case["index"], case["tree_size"], _b64(case["hashes"])
    assert offline.root_from_inclusion(index=index, size=size, leaf_digest=LEAVES[index], path=path) == ROOTS[size]
    variants: list[tuple[int, int, list[bytes]]] = [(index, size, [*path, bytes(32)])]  # one hash too many
    if path:
        variants += [(index, size, path[:-1])]  # truncated
        variants += [(index, size, [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]])]  # a bit flipped
    if size > 1:
        variants += [((index + 1) % size, size, path)]  # another index
    for i, n, p in variants:
        try:
            root = offline.root_from_inclusion(index=i, size=n, leaf_digest=LEAVES[index], path=p)
        except offline.Failed:
            continue
        assert root != ROOTS[n], (i, n, p)
    with pytest.raises(offline.Failed, match="outside a tree"):
        offline.root_from_inclusion(index=size, size=size, leaf_digest=LEAVES[0], path=path)


@pytest.mark.parametrize("case", TREES["consistency"], ids=lambda c: f"{c['first']}-to-{c['second']}")
def test_consistency_proofs_hold_and_every_corruption_fails(case: dict[str, Any]) -> None:
    first, second, proof = case["first"], case["second"], _b64(case["hashes"])
    offline.check_consistency(first=first, second=second, first_root=ROOTS[first], second_root=ROOTS[second],
                              proof=proof)
    bad: list[tuple[int, int, list[bytes]]] = [(first, second, [*proof, bytes(32)])]
    if proof:
        bad += [(first, second, proof[:-1]), (first, second, proof[1:])]
        for n in range(len(proof)):  # each hash with a bit flipped
            bad += [(first, second, [*proof[:n], bytes([proof[n][0] ^ 1]) + proof[n][1:], *proof[n + 1:]])]
    if first > 1:
        bad += [(first - 1, second, proof)]
    for m, n, p in bad:
        with pytest.raises(offline.Failed):
            offline.check_consistency(first=m, second=n, first_root=ROOTS[m], second_root=ROOTS[n], proof=p)


EDGES = _vectors("ed25519-edge-cases.json")["vectors"]


@pytest.mark.parametrize("case", EDGES, ids=lambda c: str(c["name"]))
def test_ed25519_is_strict_on_every_edge_case(case: dict[str, Any]) -> None:
    """The known forgeries on small-order, non-canonical and mixed-order keys, and malleable or small-order
    signatures, are refused; the RFC 8032 signatures verify."""
    def check() -> None:
        offline.check_signature(public_key=bytes.fromhex(case["public_key"]), signature=bytes.fromhex(
            case["signature"]), data=bytes.fromhex(case["message"]), what="vector")

    if case["expect"] == "ok":
        check()
    else:
        with pytest.raises(offline.Failed):
            check()


def test_the_small_order_points_are_the_eight() -> None:
    found = offline.small_order_encodings()
    assert len(found) == 8 and (1).to_bytes(32, "little") in found  # the identity
    assert (offline._P - 1).to_bytes(32, "little") in found  # (0, -1), of order 2


def test_a_c2sp_checkpoint_opens_with_its_vkey_and_not_when_changed() -> None:
    vector = _vectors("c2sp-checkpoint.json")
    key = offline.VerifierKey.parse(vector["vkey"])
    opened = offline.open_checkpoint(vector["signed_note"], key, what="the vector")
    assert (opened.origin, opened.size, opened.root) == ("lifeledger.example/log", 8, ROOTS[8])
    body = vector["signed_note"].replace("\n8\n", "\n9\n")
    with pytest.raises(offline.Failed, match="does not verify"):
        offline.open_checkpoint(body, key, what="the vector")
    with pytest.raises(offline.Failed, match="id does not match"):
        offline.VerifierKey.parse(vector["vkey"].replace("+39e31a2e+", "+39e31a2f+"))


ALLOWED = {"argparse", "base64", "binascii", "collections", "dataclasses", "hashlib", "json", "re", "sys", "typing",
           "unicodedata", "urllib", "__future__", "cryptography", "rfc8785"}


def test_the_verifier_imports_only_the_standard_library_cryptography_and_rfc8785() -> None:
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {str(node.module).split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= ALLOWED, imported - ALLOWED


def test_the_script_runs_alone_from_an_empty_folder(tmp_path: Path) -> None:
    """Copied alone and run with lifeledger's packages made unimportable: it reads a file and decides."""
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(SCRIPT, alone / "verify_bundle.py")
    (alone / "not-a-bundle.json").write_text(json.dumps({"format": "something/9"}), encoding="utf-8")
    runner = ("import runpy, sys\n"
              "for name in ('ledger', 'api', 'web3', 'tests'):\n"
              "    sys.modules[name] = None  # any import of them fails\n"
              "sys.argv = ['verify_bundle.py', *sys.argv[1:]]\n"
              "runpy.run_path('verify_bundle.py', run_name='__main__')\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", runner, *args], cwd=alone, capture_output=True, text=True,
                              timeout=60)

    answer = run("not-a-bundle.json")  # of no format it knows: nothing can be decided
    assert (answer.returncode, answer.stdout) == (2, ""), answer.stderr
    assert answer.stderr == ("cannot verify: format \"something/9\" is neither 'lifeledger-evidence-bundle/1' nor a "
                             "receipt this verifier knows ('lifeledger-claim-receipt/1', "
                             "'lifeledger-servicing-receipt/1')\n")
    answer = run("not-a-bundle.json", "--json")
    assert answer.returncode == 2 and json.loads(answer.stdout)["ok"] is False
    assert run("missing.json").returncode == 2
    assert run().returncode == 2


@pytest.mark.parametrize("value", [
    {"b": 1, "a": [True, None, "x"], "é": "\u2028\u007f\u0000\n\"\\"},
    {"\ufb33": 1, "\U0001f600": 2, "z": "\U0001f600"},  # a key above U+FFFF sorts by UTF-16 units
    {"n": 2**53 - 1, "m": -(2**53 - 1)},
    {"f": 1.5, "g": 1e21, "h": -0.0},
    ["\u00e9", {"\u0080": 0, "\u007f": 0}],
])
def test_canonical_bytes_are_rfc8785s(value: Any) -> None:
    import rfc8785

    assert offline.jcs(value) == rfc8785.dumps(value)
