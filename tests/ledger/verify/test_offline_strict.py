"""The verifier reads strictly: a key repeated anywhere in the file, a key the format does not have at any level, a
number that is not an exact integer, a section of the wrong JSON type, a malformed trusted input, and any error
it did not expect each leave it unable to decide (exit 2, one line naming what and where, never a traceback)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.verify import offline
from tests.ledger.verify.bundle_helpers import odd_outcomes, own_entry, places
from tests.ledger.verify.conftest import Made

Bundle = dict[str, Any]


def _unusable(bundle: Bundle, vkey: str) -> str:
    """Why the verifier cannot decide on ``bundle``: the shape is read before any digest, so no re-sealing."""
    with pytest.raises(offline.Unusable) as caught:
        offline.verify(bundle, vkey=vkey)
    return str(caught.value)


def _run(args: list[str]) -> tuple[int, str, str]:
    out: list[str] = []
    errors: list[str] = []
    status = offline.main(args, out=out.append, err=errors.append)
    return status, "".join(out), "".join(errors)


def test_a_key_repeated_anywhere_in_the_file_names_where(made: Made, tmp_path: Path) -> None:
    text = json.dumps(made.bundle)
    leaf_hash = own_entry(made.bundle, 2)["leaf_hash"]
    position = [e["leaf_hash"] for e in made.bundle["entries"]].index(leaf_hash)
    twice = text.replace(f'"leaf_hash": "{leaf_hash}"', f'"leaf_hash": "{leaf_hash}", "leaf_hash": "{leaf_hash}"')
    assert twice != text
    path = tmp_path / "twice.json"
    path.write_text(twice, encoding="utf-8")
    status, out, err = _run([str(path), "--vkey", made.vkey])
    assert (status, out) == (2, "")
    assert err == f"cannot verify: {path} repeats the key 'leaf_hash' in entries[{position}]: a reader could take " \
                  f"either value\n"
    deep = text.replace('"salt": ', '"salt": "x", "salt": ', 1)  # inside the first facts opening
    with pytest.raises(offline.Unusable, match=r"repeats the key 'salt' in entries\[0\]\.facts"):
        offline.loads(deep, what="the bundle")
    with pytest.raises(offline.Unusable, match="NaN is not a JSON number"):
        offline.loads('{"n": NaN}', what="the bundle")
    assert offline.loads(text, what="the bundle") == made.bundle  # the strict reader reads a good file alike


def _put(where: Callable[[Bundle], dict[str, Any]], key: str, value: Any) -> Callable[[Bundle], None]:
    def change(bundle: Bundle) -> None:
        where(bundle)[key] = value
    return change


# (what is changed, the path and words the message must hold)
UNKNOWN_KEYS: list[tuple[str, Callable[[Bundle], None], str]] = [
    ("top", _put(lambda b: b, "comment", "x"), "bundle holds the key 'comment'"),
    ("manifest", _put(lambda b: b["manifest"], "signed_by", "me"), "manifest holds the key 'signed_by'"),
    ("grant", _put(lambda b: b["manifest"]["grant"], "purpose", "test"), "manifest.grant holds the key 'purpose'"),
    ("counts", _put(lambda b: b["manifest"]["counts"], "notes", 1), "manifest.counts holds the key 'notes'"),
    ("entry", _put(lambda b: own_entry(b, 3), "verified", True), "holds the key 'verified'"),
    ("inclusion", _put(lambda b: own_entry(b, 3)["inclusion"], "index", 3), ".inclusion holds the key 'index'"),
    ("opened", _put(lambda b: own_entry(b, 3)["opened"], "medical", True), ".opened holds the key 'medical'"),
    ("facts", _put(lambda b: own_entry(b, 3)["facts"], "note", "x"), ".facts holds the key 'note'"),
    ("key event", _put(lambda b: b["keys"]["events"][0], "reason", "x"), "keys.events[0] holds the key 'reason'"),
    ("opening", _put(lambda b: b["keys"]["events"][0]["opening"], "x", 1),
     "keys.events[0].opening holds the key 'x'"),
    ("document", _put(lambda b: b["documents"]["items"][0], "valid", True),
     "documents.items[0] holds the key 'valid'"),
    ("recorded", _put(lambda b: b["documents"]["items"][0]["recorded"], "x", 1),
     "documents.items[0].recorded holds the key 'x'"),
    ("abi", _put(lambda b: b["documents"]["abi"][0], "x", 1), "documents.abi[0] holds the key 'x'"),
    ("anchor", _put(lambda b: b["anchor"], "tree_size", 5), "anchor holds the key 'tree_size'"),
    ("ledger", _put(lambda b: b["ledger"], "name", "x"), "ledger holds the key 'name'"),
    ("checkpoint", _put(lambda b: b["checkpoint"], "root", "x"), "checkpoint holds the key 'root'"),
]


@pytest.mark.parametrize(("change", "words"), [c[1:] for c in UNKNOWN_KEYS], ids=[c[0] for c in UNKNOWN_KEYS])
def test_a_key_the_format_does_not_have_is_named_with_its_path(made: Made, change: Callable[[Bundle], None],
                                                                words: str) -> None:
    bundle = copy.deepcopy(made.bundle)
    change(bundle)
    message = _unusable(bundle, made.vkey)
    assert words in message and "which the format does not have there (allowed: " in message, message


def _entry_path(made: Made, seq: int) -> str:
    index = own_entry(made.bundle, seq)["index"]
    return f"entries[{[e['index'] for e in made.bundle['entries']].index(index)}]"


# (what is changed, the value put, the words of the message)
NOT_INTEGERS: list[tuple[str, Callable[[Bundle, Any], None], Any]] = [
    ("seq as a float", lambda b, v: own_entry(b, 2).__setitem__("seq", v), 2.0),
    ("index as true", lambda b, v: b["entries"][0].__setitem__("index", v), True),
    ("tree size as a string", lambda b, v: b["checkpoint"].__setitem__("tree_size", v), "9"),
    ("a proof's tree size as a float", lambda b, v: own_entry(b, 1)["inclusion"].__setitem__("tree_size", v), 1e3),
    ("a count as false", lambda b, v: b["manifest"]["counts"].__setitem__("erased", v), False),
    ("recorded_as negative", lambda b, v: b["manifest"]["grant"].__setitem__("recorded_as", v), -1),
    ("a document's entry as a float", lambda b, v: b["documents"]["items"][0].__setitem__("entries", [v]), 10.0),
]


@pytest.mark.parametrize(("change", "value"), [c[1:] for c in NOT_INTEGERS], ids=[c[0] for c in NOT_INTEGERS])
def test_every_index_seq_size_and_count_is_an_exact_integer(made: Made, change: Callable[[Bundle, Any], None],
                                                            value: Any) -> None:
    bundle = copy.deepcopy(made.bundle)
    change(bundle, value)
    message = _unusable(bundle, made.vkey)
    assert f"is {json.dumps(value)}, not an exact integer" in message, message


def test_a_float_seq_is_named_at_its_place(made: Made) -> None:
    bundle = copy.deepcopy(made.bundle)
    own_entry(bundle, 2)["seq"] = 2.0  # equal to 2 in Python: only the type tells them apart
    assert _unusable(bundle, made.vkey).startswith(f"{_entry_path(made, 2)}.seq is 2.0, not an exact integer")


@pytest.mark.parametrize(("change", "words"), [
    (lambda b: b["manifest"].__setitem__("grant", "x"), 'manifest.grant is "x", not an object'),
    (lambda b: b.__setitem__("entries", {}), "entries is dict, not a list"),
    (lambda b: b["keys"].pop("events"), "keys lacks 'events'"),
    (lambda b: own_entry(b, 1).pop("opened"), "lacks 'opened'"),
    (lambda b: own_entry(b, 1).__setitem__("facts", "withheld"), "facts is \"withheld\", not an object or 'erased'"),
    (lambda b: own_entry(b, 1).__setitem__("facts", None), "facts is null, not an object or 'erased'"),
    (lambda b: b["anchor"].__setitem__("status", "forged"), "anchor.status is \"forged\", not one of 'anchored'"),
    (lambda b: b["documents"]["items"][0].__setitem__("recorded", []), "recorded is list, not an object or null"),
    (lambda b: b["anchor"].__setitem__("status", []), "anchor.status is list, not one of 'anchored', 'pending'"),
    (lambda b: b["anchor"].__setitem__("status", {}), "anchor.status is dict, not one of 'anchored', 'pending'"),
    (lambda b: b["manifest"].__setitem__("format", "x"),
     "manifest.format is \"x\", not 'lifeledger-evidence-bundle/1'"),
    (lambda b: b["manifest"].__setitem__("format", []), "manifest.format is list, not 'lifeledger-evidence-bundle/1'"),
    (lambda b: b.__setitem__("format", []), "the file's format is list, not a string naming a format"),
    (lambda b: b.__setitem__("format", 1.5), "the file's format is 1.5, not a string naming a format"),
    (lambda b: b.__setitem__("format", "lifeledger-evidence-bundle/2"),
     "format \"lifeledger-evidence-bundle/2\": this verifier reads 'lifeledger-evidence-bundle/1' only"),
], ids=["grant", "entries", "key events", "opened", "facts word", "facts null", "anchor status", "recorded",
        "anchor status list", "anchor status object", "manifest format", "manifest format list", "format list",
        "format float", "format version 2"])
def test_a_section_of_the_wrong_shape_is_named_not_a_traceback(made: Made, change: Callable[[Bundle], Any],
                                                               words: str) -> None:
    bundle = copy.deepcopy(made.bundle)
    change(bundle)
    message = _unusable(bundle, made.vkey)
    assert words in message, message


def test_a_bad_trusted_input_leaves_nothing_to_decide(made: Made, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(made.bundle), encoding="utf-8")
    malformed = "other.example/log+" + made.vkey.split("+", 1)[1]  # the key id no longer fits the name
    status, out, err = _run([str(path), "--vkey", malformed])
    assert (status, out) == (2, "") and err.startswith("cannot verify: --vkey: the verifier key's id does not match")
    for option in ("--anchor-contract", "--registry"):
        status, out, err = _run([str(path), option, "0x1234"])
        assert (status, out) == (2, "") and err == (f"cannot verify: {option} '0x1234' is not a contract address "
                                                   f"(0x and 40 hex digits)\n")
    with pytest.raises(offline.Unusable, match="not an http"):
        offline.verify(copy.deepcopy(made.bundle), vkey=made.vkey, rpc="file:///etc/hostname")


def test_an_unexpected_error_is_one_line_and_exit_2(made: Made, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(facts: dict[str, Any]) -> list[int]:
        raise KeyError("something\nunforeseen")

    monkeypatch.setattr(offline, "cited_entries", broken)
    with pytest.raises(offline.Unusable) as caught:
        offline.verify(copy.deepcopy(made.bundle), vkey=made.vkey)
    assert str(caught.value) == "the file could not be checked (at cited evidence): KeyError: 'something\\nunforeseen'"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(made.bundle), encoding="utf-8")
    status, out, err = _run([str(path), "--vkey", made.vkey])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("cannot verify: the file could not be checked (at cited evidence)")
    assert "Traceback" not in err


def test_what_is_not_a_bundle_or_a_receipt_exits_2_and_json_still_answers_an_object(made: Made,
                                                                                 tmp_path: Path) -> None:
    """An object of no format the verifier knows, a bundle of another version, an array, a directory: nothing can
    be decided (exit 2, one line); with --json stdout holds {"ok": false, "error": ...} all the same."""
    cases = {"object.json": {"claim_id": "C1", "entries": []}, "unknown.json": {"format": "something/9"},
             "v2.json": {**made.bundle, "format": "lifeledger-evidence-bundle/2"}, "array.json": [made.bundle]}
    for name, value in cases.items():
        (tmp_path / name).write_text(json.dumps(value), encoding="utf-8")
    errors = {
        "object.json": "cannot verify: the file names no format: it is neither an evidence bundle",
        "unknown.json": "cannot verify: format \"something/9\" is neither 'lifeledger-evidence-bundle/1' nor a receipt",
        "v2.json": "cannot verify: format \"lifeledger-evidence-bundle/2\": this verifier reads "
                   "'lifeledger-evidence-bundle/1' only",
        "array.json": "cannot verify: the file holds no JSON object",
        "": f"cannot verify: {tmp_path} is a directory, not a file",
    }
    for name, words in errors.items():
        path = str(tmp_path / name) if name else str(tmp_path)
        status, out, err = _run([path, "--vkey", made.vkey])
        assert (status, out) == (2, "") and err.startswith(words) and err.count("\n") == 1, (name, err)
        status, out, err = _run([path, "--json"])
        answer = json.loads(out)
        assert status == 2 and answer == {"ok": False, "error": err.removeprefix("cannot verify: ").rstrip("\n")}


def _unproved(path: tuple[Any, ...]) -> bool:
    """Whether the bundle does not prove what is at ``path`` (the report says so), so that changing it may still
    verify: each entry's reason, when and for which event types the manifest was written, the documents' recorded
    state and registrations, and the names the ABI fragments give their parameters."""
    return (path[-1] in ("reason", "generated_at") or path[:3] == ("manifest", "grant", "medical_types")
            or (path[:2] == ("documents", "items") and len(path) > 3 and path[3] in ("recorded", "registrations"))
            or (path[1:2] == ("abi",) and len(path) > 4 and path[-1] in ("name", "internalType")))


def test_no_value_of_an_odd_type_anywhere_makes_an_unexpected_error(made: Made, tmp_path: Path) -> None:
    """Every value of a real bundle replaced by each odd value in turn, the bundle re-sealed so that the checks past
    the manifest see it too: a failed check (1) or undecidable (2), one line, never an unexpected error; it verifies
    only where the bundle does not prove what was changed."""
    paths = places(made.bundle)
    assert len(paths) > 300 and ("anchor", "status") in paths and ("format",) in paths
    seen = odd_outcomes(made.bundle, paths, vkey=made.vkey, work=tmp_path, unproved=_unproved)
    assert seen[1] > 100 and seen[2] > 100, seen


@pytest.mark.parametrize("padding", ["\nnot a signature line\n", "\u2014 \n", "\u2014 name-only\n", "\n"])
def test_a_checkpoint_note_with_a_line_that_is_not_a_signature_is_refused(made: Made, padding: str) -> None:
    """Only '— <key name> <signature>' lines may follow the body (C2SP signed-note), as the ledger's own reader
    holds them; a note padded with anything else is not the note that was signed and published."""
    note = made.bundle["checkpoint"]["note"]
    key = offline.VerifierKey.parse(made.vkey)
    assert offline.open_checkpoint(note, key, what="checkpoint").size > 0
    with pytest.raises(offline.Failed, match="signature line 2 is not"):
        offline.open_checkpoint(note + padding, key, what="checkpoint")
