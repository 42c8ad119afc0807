"""``copy_with``: what ``dataclasses.replace`` gives, for the folded states and for anything it must not copy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest

from ledger.claims.state import ClaimState
from ledger.kernel import copy_with
from ledger.policies.state import PolicyState
from ledger.servicing.state import RequestState


@pytest.mark.parametrize("state, changes", [
    (PolicyState(), {"status": "accepted", "paid_dues": ("2026-01-01",), "last_seq": 3}),
    (RequestState(), {"status": "completed", "codes_sent": 2, "unsent": (4,)}),
    (ClaimState(), {"claim_id": "C1", "reopened": 1}),
])
def test_the_folded_states_copy_as_replace_does(state: Any, changes: dict[str, Any]) -> None:
    copied = copy_with(state, **changes)
    assert copied == dataclasses.replace(state, **changes) and type(copied) is type(state)
    assert copied is not state and state == type(state)()  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        copied.status = "changed"  # still frozen


def test_a_name_that_is_not_a_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field stauts"):
        copy_with(PolicyState(), stauts="accepted")


@dataclass(frozen=True)
class Checked:
    amount: int = 0

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError("amount below zero")


@dataclass(frozen=True)
class Derived:
    amount: int = 0
    doubled: int = field(init=False, default=0)


@dataclass(frozen=True)
class Cached:
    amount: int = 0

    @cached_property
    def doubled(self) -> int:
        return self.amount * 2


@dataclass(frozen=True)
class CachedChild(Cached):
    note: str = ""


@dataclass(frozen=True, slots=True)
class Slotted:
    amount: int = 0


@dataclass(frozen=True)
class SlottedChild(Slotted):
    note: str = ""


@dataclass(frozen=True)
class WithInitVar:
    amount: int = 0
    scale: dataclasses.InitVar[int] = 1


@dataclass(frozen=True, init=False)
class HandMade:
    amount: int = 0

    def __init__(self, amount: int = 0) -> None:
        object.__setattr__(self, "amount", abs(amount))


class Undecorated(PolicyState):
    def __init__(self, **values: Any) -> None:
        super().__init__(**{**values, "status": values.get("status", "").upper()})


def test_what_init_would_check_or_set_goes_through_replace() -> None:
    assert copy_with(HandMade(1), amount=-4).amount == 4  # the class's own __init__ ran
    assert copy_with(Undecorated(), status="accepted").status == "ACCEPTED"  # and a subclass's
    with pytest.raises(ValueError, match="below zero"):  # __post_init__ ran
        copy_with(Checked(1), amount=-1)
    with pytest.raises(ValueError, match="init=False"):  # as replace refuses a field __init__ does not set
        copy_with(Derived(1), doubled=4)
    assert copy_with(WithInitVar(1), amount=2, scale=3) == WithInitVar(2)  # init-only variables reach __init__


def test_what_the_dictionary_would_get_wrong_goes_through_replace() -> None:
    for cls in (Cached, CachedChild):  # a cached value is not carried over, the class's own or a base's
        first = cls(1)
        assert first.doubled == 2
        assert copy_with(first, amount=5).doubled == 10
    for slotted in (Slotted(1), SlottedChild(1, "n")):  # fields held in slots, the class's own or a base's
        assert copy_with(slotted, amount=3).amount == 3
