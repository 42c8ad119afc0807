"""One ledger for the bundle tests of this folder: two claims worked to their end, and the first one's evidence
bundles taken the real way (``ledger.trails.claim_bundle``), by an auditor granted everything and by one granted
nothing beyond the facts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.settings import Settings
from ledger.verify.bundle import Selected
from tests.api.routes.servicing_helpers import START
from tests.ledger.verify.bundle_helpers import builder, claim_bundle, claim_selection, work_claim

Bundle = dict[str, Any]
FACTS_ONLY = "auditor-facts"


@dataclass
class Made:
    """The shared ledger (open for the session) and what the tests tamper with (each takes a deep copy)."""

    ledger: Ledger
    bundle: Bundle  # the first claim's bundle, medical and personal data granted: every payload opened
    facts_only: Bundle  # the same claim's bundle for an auditor without a grant: medical events' facts withheld
    vkey: str
    claim_id: str
    second: list[Selected]  # the second claim's stream and the entries it cites
    older_note: str  # a checkpoint the ledger signed before the bundles'

    def entry_of_second(self, event_type: str, *, tree_size: int, facts: bool = True) -> dict[str, Any]:
        """The second claim's (or its evidence's) entry of ``event_type`` with its own valid proof into a tree of
        ``tree_size``, marked as opened the way a forger slipping it in would mark it."""
        chosen = next(c for c in self.second if self.ledger.log.entry(c.index).type == event_type)
        entry = builder(self.ledger).entries([Selected(chosen.index, chosen.reason, facts, False)],
                                             tree_size=tree_size)[0]
        entry["opened"] = {"facts": facts, "personal": False}
        return entry


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("bundles") / "data", checkpoint_interval=0.2,
                        chain_url="none", origin="test.lifeledger/log", render_workers=0)
    clock = FixedClock(START)
    ledger = Ledger.open(settings, clock=clock)
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            first = work_claim(client, ledger, clock)
            older = ledger.log.checkpoint_now()
            assert older is not None
            second = work_claim(client, ledger, clock, systems=first.systems)
            bundle = claim_bundle(ledger, first.claim_id)
            facts_only = claim_bundle(ledger, first.claim_id, personal=False, auditor=FACTS_ONLY)
            _, chosen = claim_selection(ledger, second.claim_id)
            yield Made(ledger=ledger, bundle=bundle, facts_only=facts_only, vkey=ledger.log.vkey,
                       claim_id=first.claim_id, second=chosen, older_note=older.note)
    finally:
        ledger.close()
