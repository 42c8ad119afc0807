"""Commutation functions and the net premiums, gross premiums, reserves and cash values built on them.

The model is the textbook one (Bowers et al., *Actuarial Mathematics*, ch. 4-8), in ``Decimal`` throughout:

- ``l_x``: lives at age x out of a radix at the table's first age; ``d_x = l_x * c_x`` where ``c_x`` is the
  one-year claim rate (q_x itself, or a multiple of it for cover that also pays on illness, capped at 1);
- ``D_x = v^x l_x``, ``N_x = sum_{k>=x} D_k``, ``C_x = v^(x+1) d_x``, ``M_x = sum_{k>=x} C_k``, with ``v = 1/(1+i)``;
- benefits are paid at the end of the year of claim, premiums annually in advance.

Ages past the end of the table (where ``l`` has run out) have every function equal to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from ledger.errors import ValidationFailed

__all__ = ["Commutation", "cash_value", "claim_rates", "gross_premium", "net_premium", "policy_years", "reserve"]

PRECISION = 40  # significant digits for the commutation arithmetic; results are rounded far below this
ONE = Decimal(1)


def claim_rates(q: Sequence[Decimal], *, multiple: Decimal = ONE) -> tuple[Decimal, ...]:
    """One-year claim rates ``min(1, multiple * q_x)``.

    Requires every ``q_x`` in [0, 1], the last equal to 1 (the table closes), and ``multiple >= 1``; raises
    ``ValidationFailed`` otherwise.
    """
    if multiple < ONE:
        raise ValidationFailed(f"claim multiple must be >= 1, got {multiple}", field="claim_multiple")
    if not q or q[-1] != ONE:
        raise ValidationFailed("a mortality table must end with q = 1 at its last age", field="q")
    for age, rate in enumerate(q):
        if not Decimal(0) <= rate <= ONE:
            raise ValidationFailed(f"q[{age}] must be within [0, 1], got {rate}", field=f"q[{age}]")
    return tuple(min(ONE, rate * multiple) for rate in q)


@dataclass(frozen=True)
class Commutation:
    """l_x, d_x, D_x, N_x, C_x and M_x for every age of a table of claim rates, at one rate of interest."""

    min_age: int
    interest: Decimal
    lives: tuple[Decimal, ...]
    deaths: tuple[Decimal, ...]
    d_values: tuple[Decimal, ...]
    n_values: tuple[Decimal, ...]
    c_values: tuple[Decimal, ...]
    m_values: tuple[Decimal, ...]

    @classmethod
    def build(cls, rates: Sequence[Decimal], *, interest: Decimal, min_age: int = 0,
              radix: Decimal = Decimal(1_000_000)) -> Commutation:
        """Commutation columns for claim rates ``rates[k]`` at age ``min_age + k``.

        Requires ``interest > -1`` and a positive radix; raises ``ValidationFailed`` otherwise.
        """
        if interest <= -ONE:
            raise ValidationFailed(f"interest must be > -1, got {interest}", field="interest")
        if radix <= 0:
            raise ValidationFailed(f"radix must be > 0, got {radix}", field="radix")
        with localcontext() as ctx:
            ctx.prec = PRECISION
            v = ONE / (ONE + interest)
            lives: list[Decimal] = []
            deaths: list[Decimal] = []
            alive = radix
            for rate in rates:
                lives.append(alive)
                deaths.append(alive * rate)
                alive = alive - alive * rate
            d_values: list[Decimal] = []
            c_values: list[Decimal] = []
            discount = v ** min_age
            for alive_x, dead_x in zip(lives, deaths, strict=True):
                d_values.append(discount * alive_x)
                c_values.append(discount * v * dead_x)
                discount *= v
            n_values = _tail_sums(d_values)
            m_values = _tail_sums(c_values)
        return cls(min_age=min_age, interest=interest, lives=tuple(lives), deaths=tuple(deaths),
                   d_values=tuple(d_values), n_values=tuple(n_values), c_values=tuple(c_values),
                   m_values=tuple(m_values))

    @property
    def max_age(self) -> int:
        """The last age of the table."""
        return self.min_age + len(self.lives) - 1

    def _at(self, column: tuple[Decimal, ...], age: int) -> Decimal:
        if age < self.min_age:
            raise ValidationFailed(f"age {age} is below the table's first age {self.min_age}", field="age")
        index = age - self.min_age
        return column[index] if index < len(column) else Decimal(0)

    def l(self, age: int) -> Decimal:  # noqa: E743 - the actuarial name
        """l_x: lives at ``age``."""
        return self._at(self.lives, age)

    def d(self, age: int) -> Decimal:
        """d_x: claims between ``age`` and ``age + 1``."""
        return self._at(self.deaths, age)

    def D(self, age: int) -> Decimal:
        """D_x = v^x l_x."""
        return self._at(self.d_values, age)

    def N(self, age: int) -> Decimal:
        """N_x = D_x + D_(x+1) + ..."""
        return self._at(self.n_values, age)

    def C(self, age: int) -> Decimal:
        """C_x = v^(x+1) d_x."""
        return self._at(self.c_values, age)

    def M(self, age: int) -> Decimal:
        """M_x = C_x + C_(x+1) + ..."""
        return self._at(self.m_values, age)


def _tail_sums(values: list[Decimal]) -> list[Decimal]:
    sums = [Decimal(0)] * len(values)
    running = Decimal(0)
    for index in range(len(values) - 1, -1, -1):
        running += values[index]
        sums[index] = running
    return sums


def policy_years(table: Commutation, *, age: int, term: int | None) -> int:
    """How many policy years cover issued at ``age`` runs: ``term``, or to the end of the table (whole life)."""
    return term if term is not None else table.max_age + 1 - age


def _check_plan(table: Commutation, *, age: int, term: int | None, payment_years: int) -> int:
    """The number of policy years, after checking that the plan fits the table."""
    if not table.min_age <= age <= table.max_age:
        raise ValidationFailed(f"age {age} is outside the table's ages {table.min_age}..{table.max_age}",
                               field="age")
    years = policy_years(table, age=age, term=term)
    if years <= 0:
        raise ValidationFailed(f"term must be > 0, got {term}", field="term")
    if age + years > table.max_age + 1:
        raise ValidationFailed(f"a {years}-year term from age {age} runs past the table's last age {table.max_age}",
                               field="term")
    if not 1 <= payment_years <= years:
        raise ValidationFailed(f"payment years must be within 1..{years}, got {payment_years}",
                               field="payment_years")
    return years


def net_premium(table: Commutation, *, age: int, term: int | None, payment_years: int) -> Decimal:
    """Net level annual premium per unit sum insured: ``(M_x - M_(x+n)) / (N_x - N_(x+m))``.

    ``term=None`` is whole life (``M_(x+n) = 0``). Requires the plan to fit the table (age within it, the term not
    running past it, ``1 <= payment_years <= term``); raises ``ValidationFailed`` otherwise.
    """
    years = _check_plan(table, age=age, term=term, payment_years=payment_years)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        annuity = table.N(age) - table.N(age + payment_years)
        return (table.M(age) - table.M(age + years)) / annuity


def gross_premium(net: Decimal, *, loading: Decimal) -> Decimal:
    """Gross premium with the loading taken as a share of the gross premium: ``gross = net / (1 - loading)``.

    Requires ``0 <= loading < 1``; raises ``ValidationFailed`` otherwise.
    """
    if not Decimal(0) <= loading < ONE:
        raise ValidationFailed(f"loading must be within [0, 1), got {loading}", field="loading")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return net / (ONE - loading)


def reserve(table: Commutation, *, age: int, term: int | None, payment_years: int, premium: Decimal,
            policy_year: int) -> Decimal:
    """Prospective reserve per unit sum insured at the end of ``policy_year`` (t), before the premium then due.

    ``tV = (M_(x+t) - M_(x+n)) / D_(x+t) - P (N_(x+t) - N_(x+m)) / D_(x+t)``, the premium term dropping once
    ``t >= m``. Requires ``1 <= t <= n`` and lives left at ``x + t``; raises ``ValidationFailed`` otherwise.
    """
    years = _check_plan(table, age=age, term=term, payment_years=payment_years)
    if not 1 <= policy_year <= years:
        raise ValidationFailed(f"policy year must be within 1..{years}, got {policy_year}", field="policy_year")
    attained = age + policy_year
    discounted_lives = table.D(attained)
    if discounted_lives == 0:
        raise ValidationFailed(f"no lives are left at age {attained}; the reserve is not defined there",
                               field="policy_year")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        benefits = table.M(attained) - table.M(age + years)
        premiums = table.N(attained) - table.N(age + payment_years) if policy_year < payment_years else Decimal(0)
        return (benefits - premium * premiums) / discounted_lives


def cash_value(reserve_value: Decimal, *, policy_year: int, surrender_charges: Sequence[Decimal]) -> Decimal:
    """The reserve less the surrender charge of ``policy_year``, floored at 0: ``max(0, tV * (1 - s_t))``.

    ``surrender_charges[t - 1]`` is the share of the reserve withheld in policy year t; years past the list have
    none. Requires ``policy_year >= 1`` and every charge within [0, 1]; raises ``ValidationFailed`` otherwise.
    """
    if policy_year < 1:
        raise ValidationFailed(f"policy year must be >= 1, got {policy_year}", field="policy_year")
    charge = surrender_charges[policy_year - 1] if policy_year <= len(surrender_charges) else Decimal(0)
    if not Decimal(0) <= charge <= ONE:
        raise ValidationFailed(f"surrender charge for policy year {policy_year} must be within [0, 1], got {charge}",
                               field=f"surrender_charges[{policy_year - 1}]")
    return max(Decimal(0), reserve_value * (ONE - charge))
