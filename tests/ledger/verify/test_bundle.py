"""Evidence bundles of a real claim, taken the real way (``ledger.trails.claim_bundle``: the selection, the ledger's
record of the read, the checkpoint, the build): verified offline, and refused, naming what, after any element is
changed, dropped, reordered, added, repeated or swapped, or an opening taken out."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.app import Ledger
from ledger.errors import ValidationFailed
from ledger.verify import offline
from ledger.verify.bundle import BUNDLE_FORMAT, Selected, Subject
from tests.ledger.verify.bundle_helpers import builder, failure, of_type, other_vkey, own_entry, reseal
from tests.ledger.verify.conftest import Made

Bundle = dict[str, Any]


def test_a_claim_bundle_verifies_and_says_what_it_covered(made: Made) -> None:
    bundle = json.loads(json.dumps(made.bundle))  # as it travels: a JSON file
    report = offline.verify(bundle, vkey=made.vkey)
    assert report.ok, report.text()
    assert bundle["format"] == bundle["manifest"]["format"] == BUNDLE_FORMAT
    indexes = [e["index"] for e in bundle["entries"]]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    stream = f"claim:{made.claim_id}"
    assert bundle["manifest"]["subject"]["streams"][0] == stream
    own = [e for e in bundle["entries"] if e["stream"] == stream]
    assert [e["seq"] for e in own] == list(range(1, len(own) + 1)) and len(own) >= 8
    by_system = {e["type"] for e in bundle["entries"] if e["key_id"] != "ledger"}
    assert by_system == {"medical.invoice.issued", "payments.claim.settled"}  # signed by the systems' keys
    owners = {e["stream"] for e in bundle["keys"]["events"]}
    assert owners == {"system:hospital-h001", "system:payments"}
    assert all(e["type"] == "ledger.key.registered" for e in bundle["keys"]["events"])
    record = bundle["entries"][-1]
    assert record["type"] == "audit.trail.read" and record["index"] == bundle["manifest"]["grant"]["recorded_as"]
    assert all(e["opened"] == {"facts": True, "personal": True} for e in bundle["entries"][:-1])  # all granted
    assert record["opened"] == {"facts": True, "personal": False}
    streams = bundle["manifest"]["subject"]["streams"]
    held = sum(e["stream"] in streams for e in bundle["entries"])
    assert report.facts["events of the subject"] == f"{held} on {len(streams)} stream(s)"
    assert report.facts["generated"] == (f"{record['recorded_at']} for auditor-1 (the ledger's signed record of the "
                                         f"read, entry {record['index']})")
    names = [c.name for c in report.checks if c.status == "ok"]
    assert names == ["format", "manifest", "verifier key", "checkpoint", "key history", "entries", "openings",
                     "read record", "whole streams", "stream ends", "cited evidence", "selection", "erased",
                     "key heads", "documents"]
    assert report.subject == f"claim {made.claim_id}" and report.key_trusted
    assert report.not_checked == ["anchor", "documents on chain"]  # anchoring is off here, no --rpc
    assert "verdict: everything checked holds; not checked: anchor, documents on chain" in report.text()
    assert [n for n in report.notes if not n.startswith("not proved by the bundle: ")] == []  # the key was given
    personal = [e for e in bundle["entries"] if isinstance(e.get("personal"), dict)]
    assert personal and all(e["personal"]["data_subject"] != e["facts"]["data_subject"] for e in personal)


def test_the_report_says_what_the_bundle_does_not_prove(made: Made) -> None:
    report = offline.verify(copy.deepcopy(made.bundle), vkey=made.vkey)
    unproved = [n for n in report.notes if n.startswith("not proved by the bundle: ")]
    assert len(unproved) == 1
    for part in ("each entry's reason", "manifest.generated_at", "manifest.grant.medical_types",
                 "the documents' 'recorded'", "'registrations'"):
        assert part in unproved[0], part
    # the reasons are the builder's words: changing one is not a failure, which is why the report says so
    changed = copy.deepcopy(made.bundle)
    own_entry(changed, 1)["reason"] = "a reason nobody signed"
    assert offline.verify(reseal(changed), vkey=made.vkey).ok


def test_without_a_vkey_everything_holds_only_against_the_key_the_bundle_carries(made: Made) -> None:
    """Without --vkey the bundle is checked against its own key: the verdict says so, names the key's fingerprint
    and asks for the ledger's published key; the key check is not "ok" and the JSON says the key was not trusted."""
    report = offline.verify(copy.deepcopy(made.bundle))
    assert report.ok and not report.key_trusted
    key = offline.VerifierKey.parse(made.vkey)
    fingerprint = f"{key.name}, fingerprint {offline.digest_str(offline.sha256(key.public_key))}"
    assert report.key == fingerprint
    assert {c.name: c.status for c in report.checks}["verifier key"] == "not checked"
    verdict = report.text().splitlines()[-1]
    assert verdict.startswith(f"verdict: everything checked holds against the key the file carries ({fingerprint})")
    assert "compare it with the key the ledger publishes (GET /v1/log/key) or pass --vkey" in verdict
    assert verdict.endswith("; not checked: anchor, documents on chain")  # the key is said once, in its words
    assert report.to_json()["key_trusted"] is False
    trusted = offline.verify(copy.deepcopy(made.bundle), vkey=made.vkey)
    assert trusted.key_trusted and trusted.to_json()["key_trusted"] is True and trusted.key == fingerprint
    assert {c.name: c.status for c in trusted.checks}["verifier key"] == "ok"
    assert "against the key the file carries" not in trusted.text()


def _leaf_byte(bundle: Bundle) -> None:
    entry = own_entry(bundle, 2)
    raw = bytearray(base64.b64decode(entry["leaf"]))
    raw[raw.index(b'"seq":') + 6] ^= 0x01  # seq 2 -> 3 in the leaf
    entry["leaf"] = base64.b64encode(bytes(raw)).decode()


def _leaf_and_hash(bundle: Bundle) -> None:
    entry = own_entry(bundle, 2)
    _leaf_byte(bundle)
    entry["leaf_hash"] = base64.b64encode(offline.leaf_hash(base64.b64decode(entry["leaf"]))).decode()
    entry["seq"] += 1  # the field shown beside it agrees with the changed leaf


def _flip_b64(value: str, at: int = 0) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _opening(bundle: Bundle) -> None:
    own_entry(bundle, 1)["facts"]["payload"]["claim_type"] = "death"


def _salt(bundle: Bundle) -> None:
    facts = own_entry(bundle, 1)["facts"]
    facts["salt"] = _flip_b64(facts["salt"])


def _subject(bundle: Bundle) -> None:
    own_entry(bundle, 1)["facts"]["data_subject"] = "party:someone-else"


def _personal(bundle: Bundle) -> None:
    entry = next(e for e in bundle["entries"] if isinstance(e.get("personal"), dict))
    entry["personal"]["payload"]["description"] = "nothing happened"


def _erased_facts_for_personal(bundle: Bundle) -> None:
    of_type(bundle, "medical.invoice.issued")["facts"] = "erased"  # a system's entry: its facts may be a person's


def _erased_decision(bundle: Bundle) -> None:
    entry = of_type(bundle, "claim.decided")
    entry["facts"] = "erased"
    entry.pop("personal", None)


def _erased_party(bundle: Bundle) -> None:
    entry = of_type(bundle, "party.registered")
    entry["facts"] = entry["personal"] = "erased"


def _proof_hash(bundle: Bundle) -> None:
    proof = own_entry(bundle, 3)["inclusion"]
    proof["hashes"][0] = _flip_b64(proof["hashes"][0], 31)


def _proof_short(bundle: Bundle) -> None:
    own_entry(bundle, 3)["inclusion"]["hashes"].pop()


def _checkpoint_signature(bundle: Bundle) -> None:
    note = bundle["checkpoint"]["note"]
    body, line = note.rsplit("\u2014 ", 1)
    name, signature = line.rstrip("\n").split(" ")
    bundle["checkpoint"]["note"] = f"{body}\u2014 {name} {_flip_b64(signature, 4 + 40)}\n"


def _key_event(bundle: Bundle) -> None:
    event = bundle["keys"]["events"][0]
    event["opening"]["payload"]["public_key"] = base64.b64encode(bytes(32)).decode()


def _key_scope(bundle: Bundle) -> None:
    bundle["keys"]["events"][0]["opening"]["payload"]["scope"] = {"types": ["*"], "streams": ["*"]}


def _drop_key_event(bundle: Bundle) -> None:
    bundle["keys"]["events"].pop(0)


def _drop(bundle: Bundle, entry: Bundle) -> None:
    bundle["entries"] = [e for e in bundle["entries"] if e["index"] != entry["index"]]


def _drop_own(bundle: Bundle) -> None:
    _drop(bundle, own_entry(bundle, 4))


def _drop_first(bundle: Bundle) -> None:
    _drop(bundle, own_entry(bundle, 1))


def _drop_last(bundle: Bundle) -> None:
    own = [e for e in bundle["entries"] if e["stream"] == bundle["manifest"]["subject"]["streams"][0]]
    _drop(bundle, own[-1])


def _drop_cited(bundle: Bundle) -> None:
    _drop(bundle, of_type(bundle, "medical.invoice.issued"))


def _drop_record(bundle: Bundle) -> None:
    _drop(bundle, of_type(bundle, "audit.trail.read"))


def _reorder(bundle: Bundle) -> None:
    entries = bundle["entries"]
    entries[2], entries[3] = entries[3], entries[2]


def _duplicate(bundle: Bundle) -> None:
    bundle["entries"].insert(3, copy.deepcopy(bundle["entries"][3]))


def _shown_type(bundle: Bundle) -> None:
    own_entry(bundle, 5)["type"] = "claim.approved"


def _no_reason(bundle: Bundle) -> None:
    own_entry(bundle, 5)["reason"] = ""


def _older_tree(bundle: Bundle) -> None:
    own_entry(bundle, 1)["inclusion"]["tree_size"] -= 1


def _no_entries(bundle: Bundle) -> None:
    bundle["entries"] = []


def _facts_taken_out(bundle: Bundle) -> None:
    entry = of_type(bundle, "claim.decided")
    del entry["facts"]
    entry.pop("personal", None)
    entry["opened"] = {"facts": False, "personal": False}  # marked as if the grant had not opened them


def _facts_taken_out_still_marked(bundle: Bundle) -> None:
    del of_type(bundle, "claim.decided")["facts"]


def _personal_taken_out(bundle: Bundle) -> None:
    del own_entry(bundle, 1)["personal"]


def _personal_taken_out_and_unmarked(bundle: Bundle) -> None:
    entry = own_entry(bundle, 1)
    del entry["personal"]
    entry["opened"]["personal"] = False


def _made_for_another(bundle: Bundle) -> None:
    bundle["manifest"]["generated_for"] = "auditor-9"


def _recorded_as_another(bundle: Bundle) -> None:
    bundle["manifest"]["grant"]["recorded_as"] = own_entry(bundle, 1)["index"]


def _grant_said_less(bundle: Bundle) -> None:
    bundle["manifest"]["grant"]["openings"] = ["facts"]


def _record_unopened(bundle: Bundle) -> None:
    record = of_type(bundle, "audit.trail.read")
    del record["facts"]
    record["opened"] = {"facts": False, "personal": False}


def _record_erased(bundle: Bundle) -> None:
    of_type(bundle, "audit.trail.read")["facts"] = "erased"


def _another_subject(bundle: Bundle) -> None:
    bundle["manifest"]["subject"]["id"] = "C-SOMETHING-ELSE"


# (what is done, the check that must fail, words its message must hold); each tampered bundle has its manifest
# re-sealed, so the check named is the one that sees through it, not the manifest.
TAMPERING: list[tuple[Callable[[Bundle], None], str, str]] = [
    (_leaf_byte, "entries", "does not hash to its leaf_hash"),
    (_leaf_and_hash, "entries", "not in the checkpointed tree"),
    (_opening, "openings", "facts does not match its salted hash"),
    (_salt, "openings", "does not match its salted hash"),
    (_subject, "openings", "does not match its salted hash"),
    (_personal, "openings", "personal part does not match its salted hash"),
    (_erased_facts_for_personal, "openings", "personal part cannot be checked"),
    (_erased_decision, "openings", "shows its facts as erased, but the ledger seals the facts"),
    (_erased_party, "openings", "shows its facts as erased"),
    (_proof_hash, "entries", "not in the checkpointed tree"),
    (_proof_short, "entries", "too short"),
    (_checkpoint_signature, "checkpoint", "signature does not verify"),
    (_key_event, "key history", "opening does not match the leaf's payload_hash"),
    (_key_scope, "key history", "opening does not match"),
    (_drop_key_event, "entries", "whose registration the bundle does not hold"),
    (_drop_own, "whole streams", "is not whole"),
    (_drop_first, "whole streams", "seq 1 was due"),
    (_drop_last, "stream ends", "1 missing from its end"),
    (_drop_cited, "cited evidence", "as its evidence, which the bundle does not hold"),
    (_drop_record, "read record", "the ledger's record of the read that made it, recorded as entry"),
    (_reorder, "entries", "out of order"),
    (_duplicate, "entries", "appears twice"),
    (_shown_type, "entries", "shows type 'claim.approved' but its leaf says"),
    (_no_reason, "entries", "gives no reason"),
    (_older_tree, "entries", "inclusion proof is for another tree"),
    (_no_entries, "manifest", "holds no entries"),
    (_facts_taken_out, "selection", "an opening taken out"),
    (_facts_taken_out_still_marked, "openings", "marked as having its facts opened but carries none"),
    (_personal_taken_out, "openings", "its facts name a personal part and its selection opened it"),
    (_personal_taken_out_and_unmarked, "selection", "not the selection the ledger committed to"),
    (_made_for_another, "read record", "the manifest says the bundle was made for 'auditor-9'"),
    (_recorded_as_another, "read record", "but the bundle's read record is entry"),
    (_grant_said_less, "read record", "manifest.grant names openings ['facts']"),
    (_record_unopened, "read record", "does not carry its facts opened"),
    (_record_erased, "openings", "shows its facts as erased"),
    (_another_subject, "read record", "not of this bundle's subject 'claim:C-SOMETHING-ELSE'"),
]


@pytest.mark.parametrize(("tamper", "check", "words"), TAMPERING, ids=[t[0].__name__ for t in TAMPERING])
def test_every_tampering_fails_naming_what(made: Made, tamper: Callable[[Bundle], None], check: str,
                                           words: str) -> None:
    bundle = copy.deepcopy(made.bundle)
    tamper(bundle)
    found = failure(reseal(bundle), vkey=made.vkey)
    assert (found.name, words in found.detail) == (check, True), found


@pytest.mark.parametrize(("tamper", "section"), [(_leaf_byte, "entries"), (_key_event, "keys"),
                                                 (_checkpoint_signature, "checkpoint")])
def test_tampering_without_resealing_is_caught_by_the_manifest(made: Made, tamper: Callable[[Bundle], None],
                                                               section: str) -> None:
    bundle = copy.deepcopy(made.bundle)
    tamper(bundle)
    found = failure(bundle, vkey=made.vkey)
    assert found.name == "manifest" and f"section {section!r}" in found.detail


def test_a_changed_manifest_digest_or_count_is_named(made: Made) -> None:
    bundle = copy.deepcopy(made.bundle)
    bundle["manifest"]["sections"]["anchor"] = "sha256:" + "0" * 64
    assert "section 'anchor'" in failure(bundle, vkey=made.vkey).detail
    for count in ("entries", "opened_personal", "erased"):
        bundle = copy.deepcopy(made.bundle)
        bundle["manifest"]["counts"][count] += 1
        found = failure(bundle, vkey=made.vkey)
        assert found.name == "manifest" and f"counts {bundle['manifest']['counts'][count]} " \
            f"{count.replace('_', ' ')}" in found.detail, found


def test_an_event_of_another_claim_added_or_swapped_in_is_named(made: Made) -> None:
    size = made.bundle["checkpoint"]["tree_size"]
    foreign = made.entry_of_second("claim.invoice.received", tree_size=size)
    own_stream = f"claim:{made.claim_id}"
    assert foreign["stream"].startswith("claim:") and foreign["stream"] != own_stream
    added = copy.deepcopy(made.bundle)
    added["entries"].append(dict(foreign, reason="the claim's own stream"))
    added["entries"].sort(key=lambda e: e["index"])
    found = failure(reseal(added), vkey=made.vkey)
    assert found.name == "whole streams" and f"is on {foreign['stream']}" in found.detail
    assert "belongs to another claim" in found.detail
    # swapped for the claim's own event of the same seq
    swapped = copy.deepcopy(made.bundle)
    entries = swapped["entries"]
    position = next(n for n, e in enumerate(entries) if e["stream"] == own_stream and e["seq"] == foreign["seq"])
    entries[position] = dict(foreign, reason="the claim's own stream")
    entries.sort(key=lambda e: e["index"])
    found = failure(reseal(swapped), vkey=made.vkey)
    assert found.name in ("whole streams", "entries"), found
    # and its leaf passed off with the claim's stream written beside it
    disguised = copy.deepcopy(made.bundle)
    disguised["entries"].append(dict(foreign, stream=own_stream, reason="the claim's own stream"))
    disguised["entries"].sort(key=lambda e: e["index"])
    found = failure(reseal(disguised), vkey=made.vkey)
    assert found.name == "entries" and "shows stream" in found.detail


def test_an_older_checkpoint_or_another_ledgers_key_is_refused(made: Made) -> None:
    bundle = copy.deepcopy(made.bundle)
    bundle["checkpoint"]["note"] = made.older_note  # genuinely signed, but not the tree the proofs lead to
    found = failure(reseal(bundle), vkey=made.vkey)
    assert found.name == "checkpoint" and "checkpoint.tree_size says" in found.detail
    bundle["checkpoint"]["tree_size"] = int(made.older_note.split("\n")[1])  # and the size written beside it
    found = failure(reseal(bundle), vkey=made.vkey)
    assert found.name == "key history" and "inclusion proof is for another tree" in found.detail  # checked first
    found = failure(made.bundle, vkey=other_vkey())
    assert found.name == "verifier key" and "not the key you trust" in found.detail


def test_a_bundle_built_without_the_ledgers_record_of_the_read_is_refused(made: Made, ledger: Ledger) -> None:
    """The builder alone checks what it is given; a bundle with no read record is not evidence."""
    from ledger.crypto.keys import SigningKey
    from tests.factories import POLICY_ADMIN_SCOPE

    key = SigningKey.generate("policy-admin-9")
    ledger.keys.register(key_id=key.key_id, owner="policy-admin", public_key=key.public_key,
                         scope=POLICY_ADMIN_SCOPE)  # a fresh ledger: this key event is entry 0
    make = builder(ledger)
    subject = Subject(kind="claim", id="C1", streams=("claim:C1",))
    with pytest.raises(ValidationFailed, match="selected twice"):
        make.build(subject, [Selected(0, "x", True, False), Selected(0, "x", True, False)], grant={},
                   generated_for="a")
    with pytest.raises(ValidationFailed, match="does not hold claim:C1 whole"):
        make.build(subject, [Selected(0, "key", True, False)], grant={}, generated_for="a")
    with pytest.raises(ValidationFailed, match="subject kind"):
        make.build(Subject(kind="party", id="p", streams=("party:p",)), [Selected(0, "x", True, False)], grant={},
                   generated_for="a")
    whole = Subject(kind="policy", id="policy-admin", streams=("system:policy-admin",))
    grant = {"openings": ["facts"], "medical_types": [], "grants": [], "recorded_as": 0}
    bundle = make.build(whole, [Selected(0, "the key", True, False)], grant=grant, generated_for="auditor-1")
    assert bundle["checkpoint"]["tree_size"] >= 1  # the builder cut the checkpoint it needed
    assert bundle["entries"][0]["opened"] == {"facts": True, "personal": False}
    found = failure(bundle, vkey=ledger.log.vkey)
    assert found.name == "read record" and "holds no audit.trail.read entry" in found.detail


def test_a_bundle_file_checks_out_from_the_command_line(made: Made, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(made.bundle), encoding="utf-8")
    tampered = copy.deepcopy(made.bundle)
    _drop_own(tampered)
    bad.write_text(json.dumps(reseal(tampered)), encoding="utf-8")
    out: list[str] = []
    errors: list[str] = []
    assert offline.main([str(good), "--vkey", made.vkey], out=out.append, err=errors.append) == 0
    assert "verdict: everything checked holds" in "".join(out) and not errors
    out.clear()
    assert offline.main([str(bad), "--vkey", made.vkey, "--json"], out=out.append, err=errors.append) == 1
    assert json.loads("".join(out))["failure"]["name"] == "whole streams"
    assert errors == [errors[0]] and errors[0].startswith("FAILED whole streams: ")
    errors.clear()
    assert offline.main([str(tmp_path / "missing.json")], out=out.append, err=errors.append) == 2
    (tmp_path / "text.json").write_text("not json", encoding="utf-8")
    assert offline.main([str(tmp_path / "text.json")], out=out.append, err=errors.append) == 2
    assert offline.main(["--nonsense"], out=out.append, err=errors.append) == 2


def test_the_script_alone_verifies_the_bundle_file(made: Made, tmp_path: Path) -> None:
    """Copied into an empty folder with lifeledger made unimportable, the script verifies the real bundle."""
    shutil.copy(offline.__file__, tmp_path / "verify.py")
    (tmp_path / "bundle.json").write_text(json.dumps(made.bundle), encoding="utf-8")
    runner = ("import runpy, sys\n"
              "for name in ('ledger', 'api', 'tests'):\n"
              "    sys.modules[name] = None\n"
              "sys.argv = ['verify.py', *sys.argv[1:]]\n"
              "runpy.run_path('verify.py', run_name='__main__')\n")
    answer = subprocess.run([sys.executable, "-c", runner, "bundle.json", "--vkey", made.vkey], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "verdict: everything checked holds" in answer.stdout
