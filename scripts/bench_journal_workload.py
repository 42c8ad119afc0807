"""The journal benchmark's workload: the system key, pre-signed premium events, fresh ledgers, and timing helpers."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.log.statements import SignedEvent, sign_event
from ledger.projections.scopes import KeyScope
from ledger.settings import Settings

OWNER = "policy-admin"
KEY_ID = "bench-1"
SCOPE_JSON: dict[str, list[str]] = {"types": ["*"], "streams": ["*"]}
STREAMS = 1000  # policies the workload spreads its events over
BATCH = 1000  # events per append_many call and per batched peer commit
NEVER = 86_400.0  # checkpoint interval of in-process ledgers: no background checkpoints while measuring
PACKAGES = ("SQLAlchemy", "cryptography", "rfc8785", "fastapi", "uvicorn", "httpx", "eventsourcing", "pymerkle")
T = TypeVar("T")


def scope() -> KeyScope:
    return KeyScope.from_json(SCOPE_JSON)


def premium_payload(i: int) -> dict[str, Any]:
    """A premium-payment event of the kind an insurer's policy administration system posts."""
    policy = i % STREAMS
    return {
        "policy_number": f"LL-{policy:08d}",
        "product": "term-life-20",
        "insured": f"person-{policy}",
        "premium": {"amount": "41.20", "currency": "CNY"},
        "period": {"from": "2026-01-01", "to": "2026-01-31"},
        "payment": {"method": "sepa-direct-debit", "mandate": f"MD-{policy:010d}", "reference": f"PAY-{i:012d}"},
    }


def signed_events(key: SigningKey, count: int, prefix: str) -> list[SignedEvent]:
    """``count`` premium events signed by ``key`` the way a client signs them, with ids ``<prefix>-<n>``."""
    return [
        sign_event(key=key, event_id=f"{prefix}-{i}", type="policy.premium_paid", stream=f"policy:{i % STREAMS}",
                   payload=premium_payload(i), data_subject=f"person-{i % STREAMS}")
        for i in range(count)
    ]


def open_ledger(root: Path, key: SigningKey) -> Ledger:
    """A started ledger on a fresh SQLite file in ``root`` with ``key`` registered for ``OWNER``.

    No anchoring (``chain_url="none"``) and no background checkpoints (interval one day).
    """
    ledger = Ledger.open(Settings(data_dir=root, chain_url="none", checkpoint_interval=NEVER))
    ledger.start()
    ledger.keys.register(key_id=key.key_id, owner=OWNER, public_key=key.public_key, scope=scope())
    return ledger


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def rates(runs: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of per-round rates, with the rounds."""
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": list(runs)}


def sampled(count: int, budget: float, step: Callable[[int], None]) -> int:
    """Call ``step(i)`` for i = 0.. until ``count`` calls or ``budget`` seconds (at least 20); return how many ran."""
    deadline = time.perf_counter() + budget
    done = 0
    while done < count and (done < 20 or time.perf_counter() < deadline):
        step(done)
        done += 1
    return done


@contextmanager
def gc_thresholds(thresholds: tuple[int, int, int]) -> Iterator[None]:
    """Run a block with the given cyclic-GC thresholds, restoring the previous ones afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)
