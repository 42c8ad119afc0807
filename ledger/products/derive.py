"""Derive a product's rate and cash-value tables from the basis its definition names (pure: data in, data out).

Long-term products (``basis.method = "commutation"``): for each sex, claim rates ``min(1, claim_multiple x q_x)``
from the named mortality table, commutation functions at ``interest``, the net level annual premium of each
term x payment term x issue age, grossed up as ``net / (1 - loading)``; the cash value at the end of policy year
t is the prospective net-premium reserve less the surrender charge of year t, floored at 0. One-year products
(``basis.method = "factor"``): ``base_rate x age-band factor (x occupation-class factor)``. Every value is per
``rate_per`` of sum insured (10,000 for long-term products), rounded half-up to the fen and written in fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ledger.errors import ValidationFailed
from ledger.money import round_cent
from ledger.products import actuarial
from ledger.products.mortality import MortalityFile
from ledger.products.schema import CommutationBasis, FactorBasis, ProductDefinition, Sex, Term
from ledger.products.tables import CASH_VALUE_FORMAT, RATE_FORMAT, table_digest

__all__ = ["CASH_VALUE_RULE", "FACTOR_RULE", "PREMIUM_RULE", "derive_all", "derive_tables", "table_basis"]

PREMIUM_RULE = {"name": "net-level-premium-gross-of-loading", "version": 1}
FACTOR_RULE = {"name": "base-rate-times-factors", "version": 1}
CASH_VALUE_RULE = {"name": "net-premium-reserve-less-surrender-charge", "version": 1}
PER_10000 = Decimal(10_000)
SEXES: tuple[Sex, ...] = ("M", "F")
RATE_UNIT = "fen (0.01 CNY) of annual premium per rate_per CNY of sum insured"
CASH_VALUE_UNIT = "fen (0.01 CNY) of cash value per rate_per CNY of sum insured, at the end of each policy year"


def _fen(amount: Decimal) -> int:
    return int(round_cent(amount) * 100)


def table_basis(definition: ProductDefinition, mortality: MortalityFile | None, rule: Mapping[str, Any]
                ) -> dict[str, Any]:
    """What a table was derived from: the product's basis section, the mortality table's id and digest, the rule."""
    return {"product_basis": definition.basis.model_dump(mode="json"),
            "mortality": None if mortality is None else {"id": mortality.id, "digest": mortality.digest},
            "rule": dict(rule)}


def _name(definition: ProductDefinition) -> str:
    return f"product {definition.id} v{definition.version}"


def _finish(table: dict[str, Any]) -> dict[str, Any]:
    table["digest"] = table_digest(table)
    return table


def _term_years(term: Term) -> int | None:
    return term if isinstance(term, int) else None


class _Columns:
    """Commutation columns per sex for one commutation basis (built once, shared by every plan)."""

    def __init__(self, basis: CommutationBasis, mortality: MortalityFile) -> None:
        self.basis = basis
        self.by_sex = {sex: actuarial.Commutation.build(
            actuarial.claim_rates(mortality.q(sex), multiple=basis.claim_multiple),
            interest=basis.interest, min_age=mortality.min_age) for sex in SEXES}

    def net(self, sex: Sex, *, age: int, term: Term, payment_years: int) -> Decimal:
        return actuarial.net_premium(self.by_sex[sex], age=age, term=_term_years(term), payment_years=payment_years)


def _mortality_for(definition: ProductDefinition, mortalities: Mapping[str, MortalityFile]) -> MortalityFile:
    basis = definition.basis
    assert isinstance(basis, CommutationBasis)
    if basis.mortality not in mortalities:
        raise ValidationFailed(f"{_name(definition)}: basis.mortality: no mortality table "
                               f"{basis.mortality!r} (known: {sorted(mortalities)})", field="basis.mortality")
    return mortalities[basis.mortality]


def _commutation_tables(definition: ProductDefinition, mortality: MortalityFile
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    basis = definition.basis
    assert isinstance(basis, CommutationBasis)
    columns = _Columns(basis, mortality)
    rate_rows: list[dict[str, Any]] = []
    value_rows: list[dict[str, Any]] = []
    for term, payment_years, ages in definition.plan_grid():
        for sex in SEXES:
            table = columns.by_sex[sex]
            rates, values = [], []
            for age in ages:
                net = columns.net(sex, age=age, term=term, payment_years=payment_years)
                rates.append(_fen(actuarial.gross_premium(net, loading=basis.loading) * PER_10000))
                years = actuarial.policy_years(table, age=age, term=_term_years(term))
                if term == "whole_life":
                    years -= 1  # no lives are left at the end of the table's last year
                row = []
                for year in range(1, years + 1):
                    reserve = actuarial.reserve(table, age=age, term=_term_years(term), payment_years=payment_years,
                                                premium=net, policy_year=year)
                    value = actuarial.cash_value(reserve, policy_year=year, surrender_charges=basis.surrender_charges)
                    row.append(_fen(value * PER_10000))
                values.append(row)
            key = {"term": term, "payment_years": payment_years, "sex": sex}
            rate_rows.append({**key, "occupation_class": None, "first_age": ages.start, "values": rates})
            value_rows.append({**key, "first_age": ages.start, "values": values})
    return rate_rows, value_rows


def _factor_rows(definition: ProductDefinition) -> list[dict[str, Any]]:
    basis = definition.basis
    assert isinstance(basis, FactorBasis)
    factors = basis.class_factors or {}
    classes: list[int | None] = [None] if basis.class_factors is None else [*definition.eligibility.occupation_classes]
    rows = []
    for term, payment_years, ages in definition.plan_grid():
        for occupation in classes:
            class_factor = Decimal(1) if occupation is None else factors[occupation]
            rates = []
            for age in ages:
                age_factor = basis.age_factor(age)
                if age_factor is None:
                    raise ValidationFailed(f"{_name(definition)}: basis.age_bands: no band holds age {age}",
                                           field="basis.age_bands")
                rates.append(_fen(basis.base_rate * age_factor * class_factor))
            rows.append({"term": term, "payment_years": payment_years, "sex": "*", "occupation_class": occupation,
                         "first_age": ages.start, "values": rates})
    return rows


def derive_tables(definition: ProductDefinition, mortalities: Mapping[str, MortalityFile]) -> list[dict[str, Any]]:
    """The rate table and (for long-term products) the cash-value table of ``definition``, each with its digest.

    Raises ``ValidationFailed`` when the basis names a mortality table that is not in ``mortalities``.
    """
    basis = definition.basis
    if isinstance(basis, FactorBasis):
        rates = {"format": RATE_FORMAT, "id": definition.tables.rates, "unit": RATE_UNIT,
                 "rate_per": str(basis.rate_per), "basis": table_basis(definition, None, FACTOR_RULE),
                 "rows": _factor_rows(definition)}
        return [_finish(rates)]
    mortality = _mortality_for(definition, mortalities)
    rate_rows, value_rows = _commutation_tables(definition, mortality)
    tables = [_finish({"format": RATE_FORMAT, "id": definition.tables.rates, "unit": RATE_UNIT,
                       "rate_per": str(PER_10000), "basis": table_basis(definition, mortality, PREMIUM_RULE),
                       "rows": rate_rows})]
    if definition.tables.cash_values is not None:
        tables.append(_finish({"format": CASH_VALUE_FORMAT, "id": definition.tables.cash_values,
                               "unit": CASH_VALUE_UNIT, "rate_per": str(PER_10000),
                               "basis": table_basis(definition, mortality, CASH_VALUE_RULE), "rows": value_rows}))
    return tables


def derive_all(definitions: Iterable[ProductDefinition], mortalities: Mapping[str, MortalityFile]
               ) -> dict[str, dict[str, Any]]:
    """Every table the definitions reference, by table id.

    Raises ``ValidationFailed`` when two definitions reference one table id but would derive different tables.
    """
    tables: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    for definition in definitions:
        for table in derive_tables(definition, mortalities):
            name = _name(definition)
            held = tables.get(table["id"])
            if held is not None and held["digest"] != table["digest"]:
                raise ValidationFailed(f"table {table['id']!r} is referenced by {owners[table['id']]} and {name}, "
                                       "whose bases or plans derive different tables", field="tables")
            tables[table["id"]] = table
            owners.setdefault(table["id"], name)
    return tables
