"""Shared test data: key scopes, signed events and registered keys, so tests do not repeat their set-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ledger.crypto.keys import SigningKey
from ledger.log.encoding import b64
from ledger.log.statements import SignedEvent, sign_event
from ledger.projections.scopes import KeyScope

T = TypeVar("T")

VECTORS = Path(__file__).resolve().parent / "vectors"  # the project's own copy of the known-answer vectors

# What the policy administration system may write in these tests: policy and premium events on policy streams.
POLICY_ADMIN_SCOPE = KeyScope.from_json({"types": ["policy.*", "premium.*"], "streams": ["policy"]})
EVERYTHING = KeyScope.from_json({"types": ["*"], "streams": ["*"]})


def policy_event(key: SigningKey, n: int, *, stream: str = "policy:p1", subject: str = "customer:c1",
                 type: str = "policy.issued", **payload: Any) -> SignedEvent:
    """A signed ``policy.issued``-like event number ``n`` with a small payload."""
    return sign_event(key=key, event_id=f"evt-{n}", type=type, stream=stream,
                      payload={"product": "TERM20", "n": n, **payload}, data_subject=subject)


def register_over_http(client: Any, headers: dict[str, str], key: SigningKey, *, owner: str,
                       scope: KeyScope) -> dict[str, Any]:
    """Register ``key`` for ``owner`` through ``POST /v1/admin/keys`` (``headers``: an admin's) and return the
    answer's body; fails the test unless it is a 201."""
    response = client.post("/v1/admin/keys", headers=headers, json={
        "key_id": key.key_id, "owner": owner, "public_key": b64(key.public_key), "scope": scope.to_json()})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def resident_id(birth: str, *, sex: str = "M", area: str = "110105", serial: int = 12) -> str:
    """A well-formed resident identity number for a birth date (YYYY-MM-DD) and sex (odd 17th digit: male)."""
    from ledger.parties.identity import resident_id_check_char

    digit = 1 if sex == "M" else 2
    first17 = f"{area}{birth.replace('-', '')}{serial:02d}{digit}"
    return first17 + resident_id_check_char(first17)


def at_once(calls: Sequence[Callable[[], T]], *, expect: tuple[type[BaseException], ...] = (),
            timeout: float = 60.0) -> list[T | BaseException]:
    """Run ``calls`` on threads of their own, released together behind one barrier, as racing clients are.

    Returns what each call returned, in the order given, or the exception it raised if that is one of ``expect``.
    Anything else a call raises is raised here (the first in order), and a call still running after ``timeout``
    seconds fails the test: a race that breaks or deadlocks is never a quiet pass.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(n: int, call: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results[n] = call()
        except expect as exc:
            results[n] = exc
        except BaseException as exc:
            errors[n] = exc

    threads = [threading.Thread(target=run, args=(n, call), name=f"at-once-{n}", daemon=True)
               for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for error in errors:  # what went wrong first, even if another call is stuck behind it
        if error is not None:
            raise error
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"{len(stuck)} of {len(calls)} racing calls still running after {timeout:g} s: {stuck}"
    return results
