"""Shared by the bundle tests: a real claim worked through the claims API, its bundle taken the real way
(``ledger.trails.claim_bundle``: the selection, the ledger's record of the read, the checkpoint, the build), a read
recorded the same way for a selection that is not a claim's or a policy's, and re-sealing a tampered bundle's
manifest the way a careful forger would."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from ledger.errors import ErasedError
from ledger.journal.opening import Opener
from ledger.kernel import Actor
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.log.reserved import LEDGER_KEY_ID
from ledger.verify import grants as g
from ledger.verify import offline
from ledger.verify.bundle import SECTIONS, BundleBuilder, Selected, Subject
from ledger.verify.trail import selection_digest
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    Systems,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)

AUDITOR = "auditor-1"


@dataclass
class Worked:
    """A claim worked to its end (reported with documents, invoiced by the hospital, paid, closed)."""

    systems: Systems
    policy_no: str
    claim_id: str


def builder(ledger: Ledger) -> BundleBuilder:
    return BundleBuilder(log=ledger.log, anchoring=ledger.anchoring, documents=ledger.documents,
                         opener=Opener(ledger.store, ledger.secrets.master_key), keys=ledger.keys,
                         clock=ledger.clock)


def work_claim(client: TestClient, ledger: Ledger, clock: FixedClock, *, systems: Systems | None = None,
               policy_no: str | None = None) -> Worked:
    """Report a medical claim with its documents; the hospital's signed invoice completes it (assessed, approved
    automatically: 900.00), the payments system settles it and it closes."""
    if systems is None:
        systems = register_systems(client, ledger)
        no_sample(ledger)
    policy_no = policy_no or medical_policy(client, ledger, clock)
    claim = report(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    assert post_invoice(client, ledger, systems, claim).status_code == 200
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"
    return Worked(systems=systems, policy_no=policy_no, claim_id=claim["claim_id"])


def claim_selection(ledger: Ledger, claim_id: str, *, personal: bool = True) -> tuple[Subject, list[Selected]]:
    """The claim's stream whole, each entry opened, plus every entry its facts cite as evidence."""
    stream = ev.stream_of(claim_id)
    history = ledger.workflow.history(stream)
    chosen = [Selected(index=e.index, reason="the claim's own stream", open_facts=True, open_personal=personal)
              for e in history]
    cited = sorted({cite for e in history for cite in _cited(e.facts)} - {e.index for e in history})
    chosen += [Selected(index=i, reason="evidence cited by the claim's entries", open_facts=True,
                        open_personal=personal) for i in cited]
    return Subject(kind="claim", id=claim_id, streams=(stream,)), chosen


def _cited(facts: Any) -> list[int]:
    """Every entry index a fact names as ``evidence`` (anywhere in the facts)."""
    found: list[int] = []
    if isinstance(facts, dict):
        for name, value in facts.items():
            if name == "evidence" and isinstance(value, int) and value >= 0:
                found.append(value)
            elif name == "evidence" and isinstance(value, list):
                found += [v for v in value if isinstance(v, int) and v >= 0]
            else:
                found += _cited(value)
    elif isinstance(facts, list):
        for value in facts:
            found += _cited(value)
    return found


def grant(ledger: Ledger, subject: str, *, auditor: str = AUDITOR,
          openings: tuple[str, ...] = ("medical", "personal")) -> str:
    """An administrator's grant opening ``openings`` of ``subject`` (``claim:<id>``) to ``auditor``; its id."""
    return ledger.trails.grant(auditor, openings=openings, subjects=(subject,), until=None, reason="the audit",
                               actor=Actor("admin", "admin-1")).grant_id


def claim_bundle(ledger: Ledger, claim_id: str, *, personal: bool = True, auditor: str = AUDITOR) -> dict[str, Any]:
    """The claim's bundle the real way (``ledger.trails.claim_bundle``); with ``personal`` the auditor is first
    granted the claim's medical and personal data, so every payload is opened."""
    if personal:
        grant(ledger, f"claim:{claim_id}", auditor=auditor)
    return ledger.trails.claim_bundle(claim_id, auditor=auditor)


def recorded_bundle(ledger: Ledger, subject: Subject, chosen: list[Selected], *, auditor: str = AUDITOR,
                    erased: list[list[Any]] | None = None) -> dict[str, Any]:
    """A bundle of a selection that is not a claim's or a policy's trail (a made-up stream), with the ledger's record
    of the read taken as ``TrailService`` takes it: on ``audit:<auditor>``, naming each whole stream's and each
    signer's key history's last seq, the selection's digest and the openings lost to an erasure (``erased``: as
    ``TrailService`` finds them unless given), facts opened and carried in the bundle."""
    streams = {stream: max(ledger.log.entry(c.index).seq for c in chosen if ledger.log.entry(c.index).stream == stream)
               for stream in subject.streams}
    opener = Opener(ledger.store, ledger.secrets.master_key)
    owners = {ledger.keys.get(ledger.log.entry(c.index).key_id).owner for c in chosen
              if ledger.log.entry(c.index).key_id != LEDGER_KEY_ID}
    key_heads = {f"system:{owner}": opener.stream(f"system:{owner}")[-1][0].seq for owner in owners}
    if erased is None:
        erased = _lost(opener, chosen)
    command = g.RecordRead(auditor=auditor, subject=f"{subject.kind}:{subject.id}", what="bundle",
                           openings=("facts",), grants=(), entries=len(chosen), tree_size=ledger.log.size(),
                           heads=streams, key_heads=key_heads, selection=selection_digest(chosen),
                           erased=tuple(tuple(e) for e in erased), actor=Actor("auditor", auditor))
    read = ledger.workflow.run(g.AccessRules(), g.stream_of(auditor), command).events[-1].index
    record = Selected(index=read, reason="the ledger's record of this read", open_facts=True, open_personal=False)
    return builder(ledger).build(subject, chosen, grant={"openings": ["facts"], "medical_types": [], "grants": [],
                                                         "recorded_as": read},
                                 generated_for=auditor, record=record)


def _lost(opener: Opener, chosen: list[Selected]) -> list[list[Any]]:
    """``[index, "facts" | "personal"]`` for each opening of ``chosen`` that can no longer be opened (its data
    subject erased); a personal part is not named apart from facts already lost."""
    lost: list[list[Any]] = []
    for choice in sorted(chosen, key=lambda c: c.index):
        if not choice.open_facts:
            continue
        try:
            opener.payload(choice.index)
        except ErasedError:
            lost.append([choice.index, "facts"])
            continue
        if choice.open_personal:
            try:
                opener.personal(choice.index)
            except ErasedError:
                lost.append([choice.index, "personal"])
    return lost


def reseal(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with its manifest's section digests and counts made to fit what it now holds."""
    sealed = copy.deepcopy(bundle)
    manifest = sealed["manifest"]
    manifest["sections"] = {name: digest_str(sha256(canonical_json(sealed[name]))) for name in SECTIONS}
    entries = sealed["entries"]
    manifest["counts"].update(entries=len(entries), key_events=len(sealed["keys"]["events"]),
                              documents=len(sealed["documents"]["items"]),
                              opened_facts=sum(isinstance(e.get("facts"), dict) for e in entries),
                              opened_personal=sum(isinstance(e.get("personal"), dict) for e in entries),
                              erased=sum("erased" in (e.get("facts"), e.get("personal")) for e in entries))
    return sealed


def other_vkey(name: str = "other.example/log") -> str:
    """A well-formed C2SP verifier key of another ledger (a fresh key under ``name``)."""
    raw = b"\x01" + SigningKey.generate("other-ledger").public_key
    key_id = sha256(name.encode() + b"\n" + raw)[:4].hex()
    return f"{name}+{key_id}+{base64.b64encode(raw).decode()}"


def own_entry(bundle: dict[str, Any], seq: int) -> dict[str, Any]:
    """The entry of the subject's own stream (the first of ``manifest.subject.streams``) at ``seq``."""
    stream = bundle["manifest"]["subject"]["streams"][0]
    found: dict[str, Any] = next(e for e in bundle["entries"] if e["stream"] == stream and e["seq"] == seq)
    return found


def of_type(bundle: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The bundle's first entry of ``event_type``."""
    found: dict[str, Any] = next(e for e in bundle["entries"] if e["type"] == event_type)
    return found


def failure(bundle: dict[str, Any], *, vkey: str | None = None, **trusted: str) -> offline.Check:
    """The verifier's first failure on ``bundle`` (``trusted``: ``rpc``, ``anchor_contract``, ``registry``); fails
    the test if it passes."""
    result = offline.verify(copy.deepcopy(bundle), vkey=vkey, **trusted)
    assert result.failure is not None, result.text()
    return result.failure


# Values of every JSON type but the one a place may hold, put in every place of a file in turn (``odd_outcomes``).
ODD_VALUES: list[Any] = [[], {}, None, 1.5, True, "x"]


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``value`` (objects and arrays, recursively); inside a payload only its first level, and of a
    bundle's entries the first, the first with a personal part and the last (the rest are alike)."""
    found = [path] if path else []
    if path and path[-1] == "payload":
        return found + [(*path, key) for key in (value if isinstance(value, dict) else {})]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += places(inner, (*path, key))
    elif isinstance(value, list):
        positions = list(range(len(value)))
        if path == ("entries",):
            personal = [n for n, e in enumerate(value) if isinstance(e.get("personal"), dict)][:1]
            positions = sorted({0, *personal, len(value) - 1})
        for n in positions:
            found += places(value[n], (*path, n))
    return found


def replaced(document: dict[str, Any], path: tuple[Any, ...], value: Any, *, seal: bool) -> dict[str, Any] | None:
    """``document`` with ``value`` at ``path`` (re-sealed with ``seal``, unless the change is to the manifest's
    digests and counts themselves); None when that is what it holds there already."""
    changed = copy.deepcopy(document)
    where: Any = changed
    for step in path[:-1]:
        where = where[step]
    if json.dumps(where[path[-1]]) == json.dumps(value):
        return None
    where[path[-1]] = value
    if not seal or path[:2] in (("manifest", "counts"), ("manifest", "sections")) or path == ("manifest",):
        return changed
    try:
        return reseal(changed)
    except Exception:  # a value the ledger's encoder refuses: the manifest stays as it was
        return changed


def odd_outcomes(document: dict[str, Any], paths: list[tuple[Any, ...]], *, vkey: str, work: Path,
                 unproved: Callable[[tuple[Any, ...]], bool], seal: bool = True) -> dict[int, int]:
    """Run the verifier as a command on ``document`` with each of ``ODD_VALUES`` at each of ``paths``: each run
    must end 0, 1 or 2 with nothing or one line on stderr and no unexpected error, and 0 only where ``unproved``
    says the document does not prove that place. Returns how many runs ended with each status."""
    file = work / "odd.json"
    seen = {0: 0, 1: 0, 2: 0}
    for path in paths:
        for value in ODD_VALUES:
            changed = replaced(document, path, value, seal=seal)
            if changed is None:
                continue
            file.write_text(json.dumps(changed), encoding="utf-8")
            out: list[str] = []
            errors: list[str] = []
            status = offline.main([str(file), "--vkey", vkey], out=out.append, err=errors.append)
            err = "".join(errors)
            seen[status] += 1
            assert status in seen and err.count("\n") == (status != 0), (path, value, err)
            assert not any(words in err for words in ("unexpected", "could not be checked", "Traceback")), (path, value,
                                                                                                         err)
            assert status != 0 or unproved(path), (path, value, "".join(out))
    return seen
