"""Payments and the clock by the dates that matter: when the customer paid (``paid_at``), when the clock runs, and
the premium schedule; amounts matched exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.money import Money
from ledger.policies.rules.samples import CLEAN
from ledger.policies.service import Actor
from tests.ledger.policies.test_lifecycle import ME, apply, pay_due

PAYMENTS = Actor("system", "payments")


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` on ``day`` in Shanghai (UTC+8), as a UTC moment."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def annual_in_grace(ledger: Ledger) -> tuple[str, date, date]:
    """An annual policy whose second premium (due 2027-03-03) is unpaid, in grace until 2027-05-02."""
    app = apply(ledger, frequency="annual")
    assert pay_due(ledger, app, "first") == "applied"
    due = ledger.policies.get(app).next_due()
    assert due == date(2027, 3, 3)
    ledger.policies.run_clock(until=due + timedelta(days=1))
    state = ledger.policies.get(app)
    assert state.status == "Grace" and state.grace_end == date(2027, 5, 2)
    return app, due, state.grace_end


def test_a_premium_paid_after_grace_ended_is_parked_even_before_the_clock_lapses_the_policy(
        ledger: Ledger, clock: FixedClock) -> None:
    app, _, grace_end = annual_in_grace(ledger)
    clock.set(shanghai(date(2027, 5, 10), 10))  # the clock has not run since grace ended
    assert pay_due(ledger, app, "after-grace") == "parked"
    [parked] = ledger.policies.parked_payments(limit=1)
    assert f"after its grace period ended on {grace_end}" in parked["reason"]
    assert ledger.policies.get(app).status == "Grace"
    counts = ledger.policies.run_clock(until=date(2027, 5, 10))
    assert counts.get("policy.contract.lapsed") == 1 and ledger.policies.get(app).status == "Suspended"


def test_a_premium_paid_within_grace_but_heard_of_after_the_lapse_rescinds_it(
        ledger: Ledger, clock: FixedClock) -> None:
    app, due, grace_end = annual_in_grace(ledger)
    clock.set(shanghai(grace_end + timedelta(days=1), 0, 1))  # the midnight round lapses the policy
    ledger.policies.run_clock(until=ledger.policies.today())
    lapsed = ledger.policies.get(app)
    assert lapsed.status == "Suspended" and lapsed.suspensions
    clock.set(shanghai(grace_end + timedelta(days=1), 0, 2))
    paid_at = stamp(shanghai(grace_end, 23, 59))  # paid at 23:59 on the last day of grace, confirmed later
    assert pay_due(ledger, app, "paid-in-grace", paid_at=paid_at) == "applied"
    back = ledger.policies.get(app)
    assert back.status == "InForce" and back.suspensions == () and back.reinstate_until is None
    assert back.next_due() == date(2028, 3, 3)
    [rescinded] = [e for e in ledger.workflow.history(f"contract:{app}") if e.type == "policy.contract.lapse_rescinded"]
    assert rescinded.facts["paid_on"] == grace_end.isoformat() and rescinded.facts["due_date"] == due.isoformat()
    notice = ledger.notices.pending()[-1]
    assert notice["kind"] == "lapse_rescinded" and "never suspended" in notice["text_en"]
    [row] = ledger.policies.list_for(ME.party)
    assert row["status"] == "InForce" and row["grace_end"] is None
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, report.problems  # the projection is what a replay of the journal rebuilds


def test_a_payment_after_grace_does_not_rescind_a_lapse(ledger: Ledger, clock: FixedClock) -> None:
    app, _, grace_end = annual_in_grace(ledger)
    clock.set(shanghai(grace_end + timedelta(days=3), 10))
    ledger.policies.run_clock(until=ledger.policies.today())
    assert pay_due(ledger, app, "late") == "parked"
    assert ledger.policies.get(app).status == "Suspended"


def test_the_clock_catching_up_to_a_past_day_issues_on_today_not_on_that_day(
        ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger, frequency="annual")
    render = ledger.policies._render

    def down(view: object) -> bytes:
        raise RuntimeError("renderer down")

    ledger.policies._render = down  # type: ignore[method-assign]
    assert pay_due(ledger, app, "first") == "applied"  # recorded alone: the clock completes the issue
    ledger.policies._render = render  # type: ignore[method-assign]
    assert ledger.policies.get(app).status == "accepted"
    clock.set(shanghai(date(2026, 3, 4), 10))
    ledger.policies.run_clock(until=date(2026, 1, 1))  # `lifeledger clock run --until 2026-01-01`
    state = ledger.policies.get(app)
    assert state.issued_on == date(2026, 3, 4) and state.effective_date == date(2026, 3, 5)


def test_a_reinstated_month_end_schedule_is_paid_until_its_next_scheduled_date(
        ledger: Ledger, clock: FixedClock) -> None:
    clock.set(datetime(2026, 1, 30, 2, 0, tzinfo=UTC))  # issued on Jan 30: effective Jan 31
    app = apply(ledger, frequency="monthly")
    assert pay_due(ledger, app, "first") == "applied"
    assert ledger.policies.get(app).effective_date == date(2026, 1, 31)
    clock.set(shanghai(date(2026, 5, 1), 10))
    ledger.policies.run_clock(until=date(2026, 5, 1))  # Feb 28 unpaid: grace, then the lapse on Apr 30
    assert ledger.policies.get(app).status == "Suspended"
    clock.set(shanghai(date(2026, 5, 5), 10))
    quote = ledger.policies.request_reinstatement(app, dict(CLEAN), actor=ME).reinstatement
    assert quote["dues"] == ["2026-02-28", "2026-03-31", "2026-04-30"]
    _, outcome = ledger.policies.pay(app, amount=Money.from_json(quote["total"]), payment_ref="re",
                                     paid_at=stamp(shanghai(date(2026, 5, 5), 10)), actor=PAYMENTS)
    assert outcome == "applied"
    back = ledger.policies.get(app)
    assert back.status == "InForce" and back.next_due() == date(2026, 5, 31)
    [reinstated] = [e for e in ledger.workflow.history(f"contract:{app}") if e.type == "policy.contract.reinstated"]
    assert reinstated.facts["paid_until"] == "2026-05-31"
    printed = ledger.policies._personal(reinstated.index).payload["epolicy"]
    assert "2026-05-31" in str(printed) and "2026-05-30" not in str(printed)


def test_no_reminder_is_sent_for_a_due_date_already_past_when_the_clock_runs(
        ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger, frequency="monthly")
    assert pay_due(ledger, app, "first") == "applied"
    assert ledger.policies.get(app).next_due() == date(2026, 4, 3)
    clock.set(shanghai(date(2026, 5, 20), 10))
    ledger.policies.run_clock(until=date(2026, 5, 20))  # Apr 3 unpaid: grace until Jun 2
    assert ledger.policies.get(app).status == "Grace"
    assert pay_due(ledger, app, "april") == "applied"  # May 3 is already past
    before = len(ledger.notices.pending())
    ledger.policies.run_clock(until=date(2026, 5, 20))
    sent = [(n["kind"], n["due_date"]) for n in ledger.notices.pending()[before:]]
    assert sent == [("grace_started", "2026-05-03")]  # the grace notice only: no "will be due on May 3"


def test_a_clock_catching_up_after_grace_sends_no_grace_notice_for_a_grace_already_over(
        ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger, frequency="annual")
    assert pay_due(ledger, app, "first") == "applied"
    due = ledger.policies.get(app).next_due()
    assert due is not None
    clock.set(shanghai(due + timedelta(days=70), 10))  # the clock was stopped through the whole grace period
    before = len(ledger.notices.pending())
    counts = ledger.policies.run_clock(until=ledger.policies.today())
    assert counts.get("policy.contract.grace_started") == 1 and counts.get("policy.contract.lapsed") == 1
    assert [n["kind"] for n in ledger.notices.pending()[before:]] == ["suspended"]


def test_a_payment_a_fraction_of_a_cent_off_the_premium_is_parked(ledger: Ledger) -> None:
    app = apply(ledger, frequency="annual")
    due = Money.from_json(ledger.policies.get(app).premium["modal_premium"]).rounded()
    for ref, amount in (("short", due.amount - Decimal("0.005")), ("over", due.amount + Decimal("0.004"))):
        _, outcome = ledger.policies.pay(app, amount=Money(amount), payment_ref=ref,
                                         paid_at="2026-03-02T02:00:00Z", actor=PAYMENTS)
        assert outcome == "parked", f"{amount} applied as the premium {due}"
    assert ledger.policies.get(app).status == "accepted"
    _, outcome = ledger.policies.pay(app, amount=due, payment_ref="exact", paid_at="2026-03-02T02:00:00Z",
                                     actor=PAYMENTS)
    assert outcome == "applied"
