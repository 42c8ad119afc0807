"""What every operation family provides, and the values it works on: the request's context and what it prepares.

A family module carries out the operations of one family of the catalog (contact, loan, cash ...). For each of
its operations it declares the typed input (a pydantic model: what ``POST /v1/policies/{no}/servicing`` accepts
under ``input``), and ``prepare`` computes, purely, from the policy's facts at the request date: the facts the
request records, the amount with its inputs and versions, and the changes the contract takes when the request
completes. The service calls ``prepare`` at submission (to quote and check) and again at completion (so the
contract changes from its state then, and a loan granted meanwhile is counted in a surrender).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from ledger.errors import Refused
from ledger.money import Money
from ledger.policies.state import PolicyState
from ledger.products.catalog import Product
from ledger.servicing.catalog import Operation

__all__ = ["AMOUNT_RULE", "Context", "Family", "Input", "Person", "Prepared", "amount_record", "days_between",
           "refuse", "simple_interest"]

# The rule every recorded amount cites besides the catalog's, product's and table's versions. Version 2 changed one
# thing: a policy loan starts (its interest and its months run) on the day it is paid out, when its request
# completes (v1: on its request date). Everything else, the partial withdrawal's proportional sum assured included,
# is as v1 computed it; ``ledger.servicing.recompute`` checks records of both.
AMOUNT_RULE = {"name": "servicing-amounts", "version": 2}


class Input(BaseModel):
    """The base of every operation's input: unknown fields are refused, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Person(Input):
    """A person named in a request (a new beneficiary or policyholder): resolved to a party by the service."""

    name: str
    id_type: str = "resident_id"
    id_number: str
    phone: str | None = None


@dataclass(frozen=True)
class Context:
    """What an operation's rules see: the policy's facts, its product, the operation, the day, and values the
    service computed from data (the cash value on a day, products on sale, parties resolved)."""

    policy: PolicyState
    product: Product
    operation: Operation
    catalog: Mapping[str, Any]  # id, version, digest of the servicing catalog
    today: date
    now: datetime
    cash_value: Callable[[date], dict[str, Any]] | None  # None: the product has no cash value
    products: Mapping[str, Product] = field(default_factory=dict)  # current versions on sale, by id
    parties: Mapping[str, str] = field(default_factory=dict)  # person key -> party id (see ``Family.persons``)
    requester: str = ""  # the party asking
    request_date: date | None = None  # the day the request was made (amounts are computed on it)
    open_claims: tuple[str, ...] = ()  # claims on the policy not yet closed
    underwriting: Mapping[str, Any] | None = None  # automatic underwriting of a new declaration (a rider's)

    @property
    def on(self) -> date:
        return self.request_date or self.today


@dataclass(frozen=True)
class Prepared:
    """What a request records and does.

    ``facts``: the input as business facts (party ids, amounts, codes); ``details``: personal input (a new
    address, account, printed names), sealed under the requester; ``amount``: the money moved with its inputs and
    versions (``amount_record``) or None; ``changes``: what the contract takes at completion (keys of
    ``ledger.policies.state.SERVICEABLE``); ``printed``: masked names the next e-policy version prints instead of
    the current ones; ``payout``: money the insurer pays (None if none).
    """

    facts: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)
    amount: Mapping[str, Any] | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)
    printed: Mapping[str, Any] = field(default_factory=dict)
    payout: Mapping[str, Any] | None = None
    settled: int | None = None  # installments paid or waived once a schedule change applies


class Family(Protocol):
    """One family of operations: its inputs by operation code, the persons an input names, and ``prepare``."""

    name: ClassVar[str]
    inputs: ClassVar[Mapping[str, type[Input]]]

    def persons(self, data: Input) -> Mapping[str, Person]: ...

    def prepare(self, ctx: Context, data: Input) -> Prepared: ...


def refuse(rule: str, en: str, zh: str, *, field: str | None = None) -> Refused:
    """A refusal naming ``rule`` in English and Chinese (raise it)."""
    return Refused(f"{rule}: {en}", rule=rule, zh=zh, field=field)


def amount_record(ctx: Context, *, formula: str, amount: Money, inputs: Mapping[str, Any],
                  tables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An amount as the journal keeps it: the value (rounded half-up to 0.01), the formula, every input, and the
    versions of the catalog, product, tables and rule that produced it, so it can be recomputed years later."""
    product = ctx.product
    return {
        "value": amount.rounded().to_json(),
        "formula": formula,
        "expression": ctx.operation.money.expression,
        "parameters": ctx.operation.money.parameters.model_dump(mode="json"),
        "inputs": _json(inputs),
        "on": ctx.on.isoformat(),
        "product": {"id": product.id, "version": product.version, "digest": product.digest},
        "tables": _json(tables or {}),
        "catalog": dict(ctx.catalog),
        "rule": AMOUNT_RULE,
    }


def days_between(start: date, end: date) -> int:
    """Whole days from ``start`` to ``end`` (0 if ``end`` is not after ``start``)."""
    return max(0, (end - start).days)


def simple_interest(principal: Money, *, rate: Decimal, days: int) -> Money:
    """``principal x rate x days / 365``, rounded half-up to 0.01 (simple yearly interest, actual/365)."""
    value = (principal.amount * rate * Decimal(days) / Decimal(365)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return Money(value, principal.currency)


def _json(value: Any) -> Any:
    if isinstance(value, Money):
        return value.to_json()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value
