"""Commutation functions, premiums and reserves against values worked out by hand from the q_x."""

from __future__ import annotations

from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from ledger.errors import ValidationFailed
from ledger.products import actuarial
from ledger.products.actuarial import Commutation
from ledger.products.mortality import load_mortality

D = Decimal
MORTALITY = Path(__file__).resolve().parents[3] / "products" / "mortality" / "cl-2010-2013.toml"

# A four-age table worked by hand: q = 0.1, 0.2, 0.5, 1 at 5%, radix 1000.
# l = 1000, 900, 720, 360; d = 100, 180, 360, 360; v = 1/1.05.
TOY_Q = (D("0.1"), D("0.2"), D("0.5"), D("1"))
V = D(1) / D("1.05")


@pytest.fixture
def toy() -> Commutation:
    return Commutation.build(TOY_Q, interest=D("0.05"), radix=D(1000))


TIGHT = D("1e-24")


def close(a: Decimal, b: Decimal, tolerance: Decimal = TIGHT) -> bool:
    return abs(a - b) <= tolerance * max(D(1), abs(b))


def test_toy_table_columns_by_hand(toy: Commutation) -> None:
    assert [toy.l(x) for x in range(4)] == [D(1000), D(900), D(720), D(360)]
    assert [toy.d(x) for x in range(4)] == [D(100), D(180), D(360), D(360)]
    d_hand = [D(1000), D(900) * V, D(720) * V**2, D(360) * V**3]
    c_hand = [D(100) * V, D(180) * V**2, D(360) * V**3, D(360) * V**4]
    for x in range(4):
        assert close(toy.D(x), d_hand[x])
        assert close(toy.C(x), c_hand[x])
    assert close(toy.N(2), d_hand[2] + d_hand[3])
    assert close(toy.N(0), sum(d_hand, D(0)))
    assert close(toy.M(1), c_hand[1] + c_hand[2] + c_hand[3])
    # everyone has died by age 4: every column is zero there
    assert toy.l(4) == toy.D(4) == toy.N(4) == toy.M(4) == 0
    # M_0 = l_0 * A_0 discounted: all 1000 lives claim once, so M_0 = sum of v^(k+1) d_k
    assert close(toy.M(0), D(100) * V + D(180) * V**2 + D(360) * V**3 + D(360) * V**4)


def test_toy_premiums_and_reserve_by_hand(toy: Commutation) -> None:
    # 2-year term, 2-pay at age 0: (100 v + 180 v^2) / (1000 + 900 v) = 285 / (1.05 * 1950)
    net = actuarial.net_premium(toy, age=0, term=2, payment_years=2)
    assert close(net, D(285) / D("2047.5"))
    # end of year 1: (M_1 - M_2)/D_1 - P (N_1 - N_2)/D_1 = 180 v^2 / (900 v) - P = 0.2 v - P
    reserve = actuarial.reserve(toy, age=0, term=2, payment_years=2, premium=net, policy_year=1)
    assert close(reserve, D("0.2") * V - D(285) / D("2047.5"))
    # whole life, single premium at age 2: (360 v + 360 v^2) / l_2 with l_2 = 720
    single = actuarial.net_premium(toy, age=2, term=None, payment_years=1)
    assert close(single, (V + V**2) / 2, D("1e-26"))
    assert actuarial.gross_premium(D("0.7"), loading=D("0.3")) == D(1)


def test_cash_value_applies_the_charge_of_its_year_and_floors_at_zero() -> None:
    charges = (D("0.8"), D("0.5"))
    assert actuarial.cash_value(D("100"), policy_year=1, surrender_charges=charges) == D("20.0")
    assert actuarial.cash_value(D("100"), policy_year=2, surrender_charges=charges) == D("50.0")
    assert actuarial.cash_value(D("100"), policy_year=3, surrender_charges=charges) == D("100")
    assert actuarial.cash_value(D("-3"), policy_year=3, surrender_charges=charges) == 0


def test_cl1_columns_and_term_premium_by_survival_probabilities() -> None:
    """CL1 at 2.5%: D, N, C, M at a few ages, and a premium from kp_x sums, not from the module's columns."""
    q = load_mortality(MORTALITY, source="cl").q("M")
    table = Commutation.build(actuarial.claim_rates(q), interest=D("0.025"))
    with localcontext() as ctx:
        ctx.prec = 40
        v = D(1) / D("1.025")
        lives = {0: D(1_000_000)}
        for x in range(106):
            lives[x + 1] = lives[x] * (1 - q[x])
        for x in (30, 40, 50, 103):
            assert close(table.D(x), v**x * lives[x], D("1e-20"))
            assert close(table.C(x), v ** (x + 1) * lives[x] * q[x], D("1e-20"))
            assert close(table.N(x), sum((v**k * lives[k] for k in range(x, 106)), D(0)), D("1e-20"))
            assert close(table.M(x), sum((v ** (k + 1) * lives[k] * q[k] for k in range(x, 106)), D(0)), D("1e-20"))
        # 10-year term, 10-pay, male 30: sum v^(k+1) kp_x q_(x+k) / sum v^k kp_x
        survival = [lives[30 + k] / lives[30] for k in range(10)]
        benefits = sum((v ** (k + 1) * survival[k] * q[30 + k] for k in range(10)), D(0))
        annuity = sum((v**k * survival[k] for k in range(10)), D(0))
        expected = benefits / annuity
    net = actuarial.net_premium(table, age=30, term=10, payment_years=10)
    assert close(net, expected, D("1e-20"))
    # per 10,000 a year, before loading: about 10.6
    assert D("10") < net * 10_000 < D("11.5")


def test_claim_multiple_caps_rates_at_one() -> None:
    rates = actuarial.claim_rates((D("0.2"), D("0.6"), D(1)), multiple=D("2"))
    assert rates == (D("0.4"), D(1), D(1))


@pytest.mark.parametrize(("call", "field"), [
    (lambda t: actuarial.net_premium(t, age=0, term=2, payment_years=3), "payment_years"),
    (lambda t: actuarial.net_premium(t, age=2, term=3, payment_years=1), "term"),
    (lambda t: actuarial.net_premium(t, age=9, term=1, payment_years=1), "age"),
    (lambda t: actuarial.reserve(t, age=0, term=2, payment_years=2, premium=D(0), policy_year=3), "policy_year"),
    (lambda t: actuarial.gross_premium(D(1), loading=D(1)), "loading"),
    (lambda t: actuarial.claim_rates(TOY_Q, multiple=D("0.5")), "claim_multiple"),
    (lambda t: actuarial.claim_rates((D("0.1"), D("0.5"))), "q"),
])
def test_plans_that_do_not_fit_are_refused(toy: Commutation, call: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        call(toy)  # type: ignore[operator]
    assert caught.value.field == field
