"""A policy's whole life on both stores: SQLite and a real PostgreSQL server (the plain-SQL reads, the party
index's insert-or-ignore, uploads with owners, idempotency claims and the projections must agree)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import pytest

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.errors import Conflict
from ledger.money import Money
from ledger.policies.rules.samples import CLEAN
from ledger.policies.service import Actor, ApplicationRequest
from ledger.settings import Settings
from tests.ledger.policies.test_lifecycle import CUSTOMER, ME, START, apply, pay_due, person


@pytest.fixture
def ledger(backend: str, settings: Settings) -> Iterator[Ledger]:
    opened = Ledger.open(settings, clock=FixedClock(START))
    opened.start(policy_clock=False)
    try:
        yield opened
    finally:
        opened.close()


def test_a_policy_lives_and_ends_the_same_on_both_stores(ledger: Ledger) -> None:
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    first, second = apply(ledger, frequency="monthly"), apply(ledger, frequency="annual")
    assert ledger.policies.get(first).beneficiaries == ledger.policies.get(second).beneficiaries  # one person
    pay_due(ledger, first, "p1")
    pay_due(ledger, second, "p2")
    assert ledger.policies.document_pdf(first, 1)[:5] == b"%PDF-"

    stored = ledger.uploads.put(b"%PDF-1.4 scan", media_type="application/pdf", subject=CUSTOMER)
    ledger.uploads.put(b"%PDF-1.4 scan", media_type="application/pdf", subject="P-other")
    assert ledger.uploads.owned_by(stored.digest, {"P-other"})
    assert ledger.idempotency.claim(principal="c", key="k", request=b"x") is None
    with pytest.raises(Conflict):
        ledger.idempotency.claim(principal="c", key="k", request=b"x")

    ledger.policies.run_clock(until=date(2026, 6, 5))
    assert ledger.policies.get(first).status == "Suspended"
    clock.set(datetime(2026, 6, 10, 2, 0, tzinfo=UTC))
    quote = ledger.policies.request_reinstatement(first, dict(CLEAN), actor=ME).reinstatement
    ledger.policies.pay(first, amount=Money.from_json(quote["total"]), payment_ref="r", paid_at="2026-06-10T02:00:00Z",
                        actor=Actor("system", "payments"))
    assert ledger.policies.get(first).status == "InForce"
    assert [row["application_id"] for row in ledger.policies.list_for(CUSTOMER)].count(first) == 1

    ledger.subjects.erase(CUSTOMER)
    assert not ledger.uploads.owned_by(stored.digest, {CUSTOMER}) and ledger.uploads.exists(stored.digest)
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()
    assert report.ok, report.problems


def test_a_persons_policies_are_read_together_for_their_cover_and_their_list(ledger: Ledger,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """18 applications (more than one plain-SQL read takes): the cover with us adds up every one of them and the
    customer's list holds each once, each from one read of the policies table, not one read per policy."""
    count, amount = 18, "100000"
    made = []
    for _ in range(count):
        request = ApplicationRequest(
            product_id="term-life", plan={"sum_insured": amount, "term_years": 10, "payment_years": 10,
                                          "frequency": "annual"},
            policyholder=person("王五", "1990-05-20"), insured=None, relationship="self", beneficiaries=(),
            occupation_class=1, payment_account="6222000011112222", identity_documents=(),
            consent={"terms_read": True, "insured_consents": True}, answers=dict(CLEAN))
        made.append(ledger.policies.apply(request, actor=ME, policyholder_id=CUSTOMER).application_id)
    insured = ledger.policies.get(made[0]).insured
    product = ledger.policies.catalog.get("term-life")

    reads: list[str] = []
    read = ledger.store.rows.read

    def counted(name: str, keys: Sequence[tuple[object, ...]]) -> object:
        reads.append(name)
        return read(name, keys)

    monkeypatch.setattr(ledger.store.rows, "read", counted)
    assert ledger.policies.cover_with_us(insured, product, applicant=CUSTOMER) == Money.of(
        str(count * int(amount)), product.currency)
    assert reads.count("policies") == 1
    listed = [row["application_id"] for row in ledger.policies.list_for(CUSTOMER)]
    assert sorted(listed) == sorted(made)
    assert reads.count("policies") == 2
