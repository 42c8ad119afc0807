"""A policy's clock on a real ledger with an injected clock: notices, grace, lapse, renewal payments, maturity,
each transition exactly once however often the clock runs, and projections that a replay rebuilds exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.errors import IndexTaken, Refused
from ledger.log.identifiers import utc_timestamp
from ledger.log.reserved import LEDGER_SUBJECT
from ledger.money import Money
from ledger.parties.service import Person, Resolved
from ledger.policies import decide as d
from ledger.policies.rules.samples import CLEAN
from ledger.policies.service import Actor, ApplicationRequest, Beneficiary
from ledger.services.intake import Draft
from tests.factories import resident_id

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
CUSTOMER = "P00000000000000000C01"
ME = Actor("customer", CUSTOMER)


def person(name: str, birth: str, sex: str = "M") -> Person:
    return Person.parse({"name": name, "id_number": resident_id(birth, sex=sex)}, field="person",
                        today=START.date())


def apply(ledger: Ledger, *, frequency: str = "monthly", term: int = 10, payment: int = 10,
          product: str = "term-life") -> str:
    request = ApplicationRequest(
        product_id=product, plan={"sum_insured": "300000", "term_years": term, "payment_years": payment,
                                  "frequency": frequency},
        policyholder=person("王五", "1990-05-20"), insured=None, relationship="self",
        beneficiaries=(Beneficiary(person("赵六", "1992-01-09", "F"), Decimal(100)),), occupation_class=1,
        payment_account="6222000011112222", identity_documents=(), consent={"terms_read": True,
                                                                           "insured_consents": True},
        answers=dict(CLEAN))
    state = ledger.policies.apply(request, actor=ME, policyholder_id=CUSTOMER)
    assert state.status == "accepted"
    return state.application_id


def pay_due(ledger: Ledger, application_id: str, ref: str, *, paid_at: str | None = None) -> str:
    """Pay the modal premium, paid now by the ledger's clock unless ``paid_at`` says otherwise."""
    state = ledger.policies.get(application_id)
    amount = Money.from_json(state.premium["modal_premium"]).rounded()
    _, outcome = ledger.policies.pay(application_id, amount=amount, payment_ref=ref,
                                     paid_at=paid_at or utc_timestamp(ledger.clock.now()),
                                     actor=Actor("system", "payments"))
    return outcome


def test_notices_grace_and_lapse_happen_once_each(ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger)
    assert pay_due(ledger, app, "first") == "applied"
    issued = ledger.policies.get(app)
    assert issued.status == "FreeLook" and issued.policy_no
    assert issued.effective_date == date(2026, 3, 3)
    first_due = issued.next_due()
    assert first_due == date(2026, 4, 3)

    counts = ledger.policies.run_clock(until=first_due - timedelta(days=8))
    assert counts == {"policy.contract.free_look_ended": 1, "policy.notice.sent": 1}
    assert ledger.policies.run_clock(until=first_due - timedelta(days=8)) == {}  # nothing twice
    counts = ledger.policies.run_clock(until=first_due + timedelta(days=1))
    assert counts == {"policy.notice.sent": 2, "policy.contract.grace_started": 1}
    in_grace = ledger.policies.get(app)
    assert in_grace.status == "Grace" and in_grace.grace_end == first_due + timedelta(days=60)

    assert pay_due(ledger, app, "late") == "applied"
    back = ledger.policies.get(app)
    assert back.status == "InForce" and back.next_due() == date(2026, 5, 3)

    counts = ledger.policies.run_clock(until=date(2026, 5, 3) + timedelta(days=61))
    assert counts["policy.contract.lapsed"] == 1
    lapsed = ledger.policies.get(app)
    assert lapsed.status == "Suspended" and lapsed.reinstate_until == date(2028, 7, 3)
    kinds = [n["kind"] for n in ledger.notices.pending()]
    assert kinds == ["renewal_d30", "renewal_d7", "grace_started", "renewal_d30", "renewal_d7", "grace_started",
                     "grace_d30", "suspended"]
    suspended = ledger.notices.pending()[-1]
    assert issued.policy_no in suspended["text_en"] and "效力中止" in suspended["text_zh"]
    clock.set(datetime(2026, 7, 4, 2, 0, tzinfo=UTC))  # paid after the grace period that ended on 2026-07-02
    assert pay_due(ledger, app, "too-late") == "parked"
    assert ledger.policies.get(app).status == "Suspended"

    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, report.problems  # every projection row is what a replay of the journal rebuilds


def test_wrong_amount_is_parked_and_issue_needs_the_first_premium(ledger: Ledger) -> None:
    app = apply(ledger, frequency="annual")
    _, outcome = ledger.policies.pay(app, amount=Money.of("1.00"), payment_ref="x", paid_at="2026-03-02T02:00:00Z",
                                     actor=Actor("system", "payments"))
    assert outcome == "parked"
    with pytest.raises(Refused) as refused:
        ledger.policies.issue(app)
    assert refused.value.rule == "FIRST-PREMIUM"
    assert "首期保费" in refused.value.zh


def test_maturity_ends_the_policy(ledger: Ledger) -> None:
    app = apply(ledger, frequency="annual", term=1, payment=1, product="accident")
    pay_due(ledger, app, "single")
    state = ledger.policies.get(app)
    assert state.next_due() is None and state.maturity_date == date(2027, 3, 3)
    counts = ledger.policies.run_clock(until=date(2027, 3, 3))
    assert counts.get("policy.contract.matured") == 1
    assert ledger.policies.get(app).status == "Matured"


def test_free_look_cancellation_refunds_and_refuses_after_the_period(ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger, frequency="annual")
    pay_due(ledger, app, "first")
    clock.advance(timedelta(days=16))
    with pytest.raises(Refused) as refused:
        ledger.policies.cancel_in_free_look(app, actor=ME)
    assert refused.value.rule == "FREE-LOOK-OVER"
    clock.advance(timedelta(days=-2))
    state = ledger.policies.cancel_in_free_look(app, actor=ME)
    assert state.status == "Cancelled"


def test_next_tick_jumps_to_the_next_due_day(ledger: Ledger) -> None:
    app = apply(ledger, frequency="annual")
    pay_due(ledger, app, "first")
    state = ledger.policies.get(app)
    assert d.next_tick(state, after=state.issued_on) == state.free_look_end + timedelta(days=1)
    due = state.next_due()
    assert due == date(2027, 3, 3)
    after_free_look = state.free_look_end + timedelta(days=2)
    assert d.next_tick(state, after=after_free_look) == due - timedelta(days=30)


def test_reinstatement_with_interest_and_a_new_e_policy_version(ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger, frequency="monthly")
    pay_due(ledger, app, "first")
    v1 = ledger.policies.get(app).documents[0]["digest"]
    counts = ledger.policies.run_clock(until=date(2026, 6, 5))
    assert counts["policy.contract.lapsed"] == 1
    clock.set(datetime(2026, 6, 10, 2, 0, tzinfo=UTC))

    refused = ledger.policies.request_reinstatement(app, {**CLEAN, "diabetes": True, "diabetes_type": "type_2",
                                                          "diabetes_treatment": "insulin",
                                                          "diabetes_complications": True}, actor=ME)
    assert refused.status == "Suspended" and refused.reinstatement == {}

    accepted = ledger.policies.request_reinstatement(app, dict(CLEAN), actor=ME)
    due = accepted.reinstatement
    assert due["accepted"] is True
    assert due["dues"] == ["2026-04-03", "2026-05-03", "2026-06-03"]
    premium = Money.from_json(accepted.premium["modal_premium"]).rounded()
    assert Money.from_json(due["overdue"]) == Money(premium.amount * 3)
    days = (68 + 38 + 7)  # from each due date to 2026-06-10
    expected = Money(premium.amount * Decimal("0.021") * days / Decimal(365)).rounded()
    assert Money.from_json(due["interest"]) == expected
    _, outcome = ledger.policies.pay(app, amount=Money.from_json(due["total"]), payment_ref="reinstate",
                                     paid_at="2026-06-10T02:00:00Z", actor=Actor("system", "payments"))
    assert outcome == "applied"
    back = ledger.policies.get(app)
    assert back.status == "InForce" and back.next_due() == date(2026, 7, 3)
    assert [doc["version"] for doc in back.documents] == [1, 2]
    assert ledger.policies.document_status(v1)["status"] == "superseded"
    v2 = back.documents[1]["digest"]
    assert ledger.policies.document_status(v1)["superseded_by"] == v2
    assert ledger.policies.document_status(v2)["status"] == "genuine"
    pdf = ledger.policies.document_pdf(app, 2)
    assert "sha256:" + __import__("hashlib").sha256(pdf).hexdigest() == v2
    ledger.log.checkpoint_now()
    assert ledger.audit.verify().ok


def test_facts_hold_no_health_answers_and_erasing_a_person_keeps_every_fact(ledger: Ledger) -> None:
    from ledger.errors import ErasedError
    from ledger.policies.events import stream_of

    request = ApplicationRequest(
        product_id="term-life", plan={"sum_insured": "300000", "term_years": 10, "payment_years": 10,
                                      "frequency": "annual"},
        policyholder=person("王五", "1990-05-20"), insured=None, relationship="self", beneficiaries=(),
        occupation_class=1, payment_account="6222000011112222", identity_documents=(),
        consent={"terms_read": True, "insured_consents": True},
        answers={**CLEAN, "hypertension": True, "bp_systolic_max": 150, "bp_diastolic_max": 95,
                 "bp_medication": True, "bp_controlled": True, "bp_organ_damage": False})
    app = ledger.policies.apply(request, actor=ME, policyholder_id=CUSTOMER).application_id
    facts = [event.facts for event in ledger.workflow.history(stream_of(app))]
    assert "bp_controlled" not in repr(facts) and "bp_systolic_max" not in repr(facts)
    decided = next(event for event in ledger.workflow.history(stream_of(app))
                   if event.type == "policy.underwriting.decided")
    opened = ledger.subjects.open_personal(decided.index)
    assert opened is not None and opened.payload["triggers"]["BP-G1-CONTROLLED"] == {"bp_controlled": True}

    state = ledger.policies.get(app)
    pay_due(ledger, app, "first")
    before = ledger.policies.get(app)
    ledger.subjects.erase(CUSTOMER)
    after = ledger.policies.get(app)
    assert after == before and after.status == "FreeLook"
    with pytest.raises(ErasedError):
        ledger.policies.document_pdf(app, 1)
    assert state.decision["reasons"]
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, report.problems


def test_one_failing_policy_does_not_stop_the_clock_for_the_others(ledger: Ledger, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    broken, fine = apply(ledger, frequency="annual"), apply(ledger, frequency="annual")
    for app in (broken, fine):
        pay_due(ledger, app, f"first-{app}")
    real_tick = ledger.policies.tick

    def tick(application_id: str, today: date | None = None) -> list:  # type: ignore[type-arg]
        if application_id == broken:
            raise RuntimeError("a policy the clock cannot handle")
        return real_tick(application_id, today)

    monkeypatch.setattr(ledger.policies, "tick", tick)
    counts = ledger.policies.run_clock(until=date(2026, 3, 20))
    assert counts == {"failed": 1, "policy.contract.free_look_ended": 1}
    assert ledger.policies.get(fine).status == "InForce" and ledger.policies.get(broken).status == "FreeLook"


def test_a_reinstatement_quote_expires_when_another_premium_falls_due(ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger, frequency="monthly")
    pay_due(ledger, app, "first")
    ledger.policies.run_clock(until=date(2026, 6, 5))
    clock.set(datetime(2026, 6, 10, 2, 0, tzinfo=UTC))
    quote = ledger.policies.request_reinstatement(app, dict(CLEAN), actor=ME).reinstatement
    assert quote["valid_until"] == "2026-07-02"
    clock.set(datetime(2026, 7, 4, 2, 0, tzinfo=UTC))
    _, outcome = ledger.policies.pay(app, amount=Money.from_json(quote["total"]), payment_ref="late-quote",
                                     paid_at="2026-07-04T02:00:00Z", actor=Actor("system", "payments"))
    assert outcome == "parked" and ledger.policies.get(app).status == "Suspended"
    fresh = ledger.policies.request_reinstatement(app, dict(CLEAN), actor=ME).reinstatement
    assert len(fresh["dues"]) == 4


def test_the_list_shows_no_due_date_once_every_premium_is_paid(ledger: Ledger) -> None:
    app = apply(ledger, frequency="annual", term=1, payment=1, product="accident")
    pay_due(ledger, app, "single")
    (row,) = ledger.policies.list_for(CUSTOMER)
    assert row["next_due"] is None and ledger.policies.get(app).next_due() is None
    monthly = apply(ledger, frequency="monthly")
    pay_due(ledger, monthly, "m1")
    rows = {r["application_id"]: r for r in ledger.policies.list_for(CUSTOMER)}
    assert rows[monthly]["next_due"] == ledger.policies.get(monthly).next_due().isoformat()


def test_policy_numbers_are_never_given_twice(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    import ledger.policies.service as service

    real = service.os.urandom
    draws = iter([bytes(6), bytes(6), b"\x00\x00\x00\x00\x00\x01"] + [bytes(6)] * 20)
    monkeypatch.setattr(service.os, "urandom", lambda n: next(draws) if n == 6 else real(n))
    first, second = apply(ledger, frequency="annual"), apply(ledger, frequency="annual")
    pay_due(ledger, first, "a")
    pay_due(ledger, second, "b")
    numbers = {ledger.policies.get(app).policy_no for app in (first, second)}
    assert numbers == {"LL2026000000000000", "LL2026000000000001"}


def test_an_idempotency_key_runs_its_command_once(ledger: Ledger, clock: FixedClock) -> None:
    from ledger.errors import Conflict, ValidationFailed

    idem = ledger.idempotency
    assert idem.claim(principal="customer:P1", key="k", request=b"POST /x {}") is None
    with pytest.raises(Conflict):  # the first request is still running
        idem.claim(principal="customer:P1", key="k", request=b"POST /x {}")
    with pytest.raises(ValidationFailed):
        idem.claim(principal="customer:P1", key="k", request=b"POST /x {other}")
    idem.keep(principal="customer:P1", key="k", status=201, body=b'{"ok": true}')
    replay = idem.claim(principal="customer:P1", key="k", request=b"POST /x {}")
    assert replay is not None and (replay.status, replay.body) == (201, b'{"ok": true}')
    assert idem.claim(principal="customer:P2", key="k", request=b"POST /x {}") is None  # keys are per caller
    idem.release(principal="customer:P2", key="k")
    assert idem.claim(principal="customer:P2", key="k", request=b"POST /x {}") is None  # released, claimable
    # A claim whose request failed without a verdict is held for the lease, then the same request may run again.
    with pytest.raises(Conflict):
        idem.claim(principal="customer:P2", key="k", request=b"POST /x {}")
    clock.advance(timedelta(seconds=idem.LEASE + 1))
    assert idem.claim(principal="customer:P2", key="k", request=b"POST /x {}") is None


def test_a_policy_not_reinstated_within_two_years_ends_with_its_cash_value(ledger: Ledger) -> None:
    app = apply(ledger, frequency="annual", term=20, payment=20)
    pay_due(ledger, app, "first")
    pay_due_state = ledger.policies.get(app)
    assert pay_due_state.next_due() == date(2027, 3, 3)
    counts = ledger.policies.run_clock(until=date(2027, 6, 1))
    assert counts["policy.contract.lapsed"] == 1
    suspended = ledger.policies.get(app)
    assert suspended.reinstate_until == date(2029, 5, 3)
    assert ledger.policies.run_clock(until=date(2029, 5, 3)) == {}  # still within the window
    counts = ledger.policies.run_clock(until=date(2029, 5, 10))
    assert counts == {"policy.contract.cancelled": 1, "policy.notice.sent": 1}
    ended = ledger.policies.get(app)
    assert ended.status == "Terminated"
    cancelled = next(e for e in ledger.workflow.history(f"contract:{app}") if e.type == "policy.contract.cancelled")
    assert cancelled.facts["reason"] == "reinstatement_window_ended" and cancelled.facts["on"] == "2029-05-04"
    assert cancelled.facts["basis"]["product"]["id"] == "term-life"
    assert Money.from_json(cancelled.facts["refund"]).amount >= 0
    assert ledger.policies.document_status(ended.documents[0]["digest"])["status"] == "revoked"
    assert ledger.notices.pending()[-1]["kind"] == "terminated"
    ledger.log.checkpoint_now()
    assert ledger.audit.verify().ok


def test_the_refund_is_the_cash_value_of_what_was_paid_and_maturity_ends_a_suspended_policy(
        ledger: Ledger, clock: FixedClock) -> None:
    from ledger.products.pricing import Plan, cash_value

    app = apply(ledger, frequency="annual", term=10, payment=10)
    pay_due(ledger, app, "first")
    ledger.policies.run_clock(until=date(2029, 6, 1))
    ended = next(e for e in ledger.workflow.history(f"contract:{app}") if e.type == "policy.contract.cancelled")
    product = ledger.products.catalog.get("term-life")
    plan = Plan.of(product, sum_insured=Money.of("300000"), term_years=10, payment_years=10, frequency="annual")
    paid_year = cash_value(product, plan, age=35, sex="M", policy_year=1, elapsed_days=365)
    assert Money.from_json(ended.facts["refund"]) == paid_year.amount  # one year paid: the value at its end

    late = apply(ledger, frequency="annual", term=10, payment=10)
    pay_due(ledger, late, "late-first")
    state = ledger.policies.get(late)
    assert state.maturity_date == date(2036, 3, 3)
    for n, due in enumerate(state.due_dates()[1:-1]):  # pay every premium but the last
        clock.set(datetime(due.year, due.month, due.day, 2, 0, tzinfo=UTC))
        ledger.policies.run_clock(until=due)
        pay_due(ledger, late, f"late-{n}")
    counts = ledger.policies.run_clock(until=date(2035, 6, 1))
    assert counts.get("policy.contract.lapsed") == 1
    clock.set(datetime(2036, 4, 1, 2, 0, tzinfo=UTC))
    with pytest.raises(Refused) as refused:
        ledger.policies.request_reinstatement(late, dict(CLEAN), actor=ME)
    assert refused.value.rule == "REINSTATEMENT-MATURED"
    counts = ledger.policies.run_clock(until=date(2036, 4, 1))
    assert counts == {"policy.contract.cancelled": 1, "policy.notice.sent": 1}
    done = next(e for e in ledger.workflow.history(f"contract:{late}") if e.type == "policy.contract.cancelled")
    assert (done.facts["reason"], done.facts["on"]) == ("matured_while_suspended", "2036-03-03")
    assert ledger.policies.get(late).status == "Terminated"


def test_people_named_at_once_by_two_applications_are_one_party(ledger: Ledger) -> None:
    """Resolved before either is recorded, the same new person gets two party ids with the same index row; the
    group recorded first wins, the other is refused whole and, resolved again, names the first's party."""
    spouse = person("刘洋", "1989-09-09", "F")
    actor = {"role": "customer", "party": CUSTOMER}
    first, second = (ledger.parties.resolve([spouse], actor=actor)[0] for _ in range(2))
    assert first.party_id != second.party_id and first.index is not None and second.index is not None
    assert first.index[0] == second.index[0]  # one fingerprint: one person

    def record(resolved: Resolved) -> None:
        assert resolved.registration is not None and resolved.index is not None
        event = resolved.registration
        ledger.intake.emit_all([Draft(type=event.type, stream=event.stream or "", data_subject=LEDGER_SUBJECT,
                                      payload={**event.facts, **event.personal},
                                      personal_subject=event.personal_subject)],
                               expected={event.stream or "": 0}, index=[resolved.index])

    record(first)
    with pytest.raises(IndexTaken):
        record(second)
    assert not ledger.parties.exists(second.party_id)
    (again,) = ledger.parties.resolve([spouse], actor=actor)
    assert (again.party_id, again.registration, again.index) == (first.party_id, None, None)


def test_the_same_identity_number_under_another_name_still_counts_its_cover(ledger: Ledger) -> None:
    def insure(name: str, amount: str) -> str:
        request = ApplicationRequest(
            product_id="term-life", plan={"sum_insured": amount, "term_years": 10, "payment_years": 10,
                                          "frequency": "annual"},
            policyholder=person("王五", "1990-05-20"), insured=person(name, "1995-05-05"), relationship="child",
            beneficiaries=(), occupation_class=1, payment_account="6222000011112222", identity_documents=(),
            consent={"terms_read": True, "insured_consents": True}, answers=dict(CLEAN))
        return ledger.policies.apply(request, actor=ME, policyholder_id=CUSTOMER).status

    assert insure("王小明", "900000") == "accepted"
    assert insure("王晓明", "900000") == "referred"  # another spelling: a party of its own, but the cover adds up


def test_a_one_year_policy_paid_monthly_refunds_only_what_its_premiums_have_not_used(ledger: Ledger) -> None:
    app = apply(ledger, frequency="monthly", term=1, payment=1, product="accident")
    pay_due(ledger, app, "first-month")
    ledger.policies.run_clock(until=date(2027, 3, 10))
    ended = next(e for e in ledger.workflow.history(f"contract:{app}") if e.type == "policy.contract.cancelled")
    assert ended.facts["reason"] == "matured_while_suspended"
    assert Money.from_json(ended.facts["refund"]) == Money.of("0.00")  # the month paid for was used up


def test_a_reinstatement_cannot_be_paid_once_the_policy_has_matured(ledger: Ledger, clock: FixedClock) -> None:
    app = apply(ledger, frequency="annual", term=10, payment=10)
    pay_due(ledger, app, "first")
    state = ledger.policies.get(app)
    for n, due in enumerate(state.due_dates()[1:-1]):
        clock.set(datetime(due.year, due.month, due.day, 2, 0, tzinfo=UTC))
        ledger.policies.run_clock(until=due)
        pay_due(ledger, app, f"y{n}")
    ledger.policies.run_clock(until=date(2035, 6, 1))
    clock.set(datetime(2036, 3, 1, 2, 0, tzinfo=UTC))
    quote = ledger.policies.request_reinstatement(app, dict(CLEAN), actor=ME).reinstatement
    assert quote["valid_until"] == "2036-03-02"  # the day before maturity
    clock.set(datetime(2036, 3, 4, 2, 0, tzinfo=UTC))
    _, outcome = ledger.policies.pay(app, amount=Money.from_json(quote["total"]), payment_ref="too-late",
                                     paid_at="2036-03-04T02:00:00Z", actor=Actor("system", "payments"))
    assert outcome == "parked" and ledger.policies.get(app).status == "Suspended"
