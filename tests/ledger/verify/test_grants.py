"""An auditor's grants: given the events on their stream, when a command comes, then these events or a refusal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ledger.errors import Refused
from ledger.kernel import Actor, Event
from ledger.verify import grants as g

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin", "admin-1")
RULES = g.AccessRules()


def fold(*commands: g.Command) -> g.Access:
    """The state after deciding and folding ``commands`` one by one, at NOW."""
    state = RULES.initial()
    index = 0
    for command in commands:
        for new in RULES.decide(state, command, NOW):
            index += 1
            state = RULES.evolve(state, Event(index=index, seq=index, type=new.type, event_id=f"e{index}",
                                              recorded_at=NOW, facts=dict(new.facts)))
    return state


def grant(grant_id: str = "G1", *, openings: tuple[str, ...] = (g.MEDICAL,),
          subjects: tuple[str, ...] = ("claim:C1",), until: date | None = None) -> g.GrantAccess:
    return g.GrantAccess(auditor="regulator-1", grant_id=grant_id, openings=openings, subjects=subjects,
                         until=until, reason="inspection 2026-17", actor=ADMIN)


def test_a_grant_records_its_openings_subjects_end_and_who_gave_it() -> None:
    [event] = RULES.decide(RULES.initial(), grant(until=date(2027, 1, 31)), NOW)
    assert event.type == g.GRANTED
    assert event.facts == {"auditor": "regulator-1", "grant_id": "G1", "openings": ["medical"],
                           "subjects": ["claim:C1"], "until": "2027-01-31", "reason": "inspection 2026-17",
                           "actor": {"role": "admin", "party": "admin-1"}}


def test_facts_are_open_to_every_auditor_and_grants_add_to_them_for_their_subjects_only() -> None:
    state = fold(grant(subjects=("claim:C1",)), grant("G2", openings=(g.PERSONAL,), subjects=("policy:P9",)))
    assert state.opened("claim:C1", NOW.date()) == (("facts", "medical"), ("G1",))
    assert state.opened("policy:P9", NOW.date()) == (("facts", "personal"), ("G2",))
    assert state.opened("claim:C2", NOW.date()) == (("facts",), ())


def test_a_grant_for_every_subject_covers_any_claim_or_policy() -> None:
    state = fold(grant(subjects=("*",)))
    assert state.opened("policy:P1", NOW.date())[0] == ("facts", "medical")


def test_a_grant_ends_after_its_last_day_and_at_once_when_revoked() -> None:
    state = fold(grant(until=date(2026, 12, 31)))
    assert state.opened("claim:C1", date(2026, 12, 31))[0] == ("facts", "medical")
    assert state.opened("claim:C1", date(2027, 1, 1))[0] == ("facts",)
    revoked = fold(grant(), g.RevokeAccess(auditor="regulator-1", grant_id="G1", reason="inspection closed",
                                           actor=ADMIN))
    assert revoked.opened("claim:C1", NOW.date())[0] == ("facts",)
    assert revoked.grants[0].revoked_at == NOW


@pytest.mark.parametrize(("command", "rule", "field"), [
    (grant(openings=()), "AUDIT-GRANT-OPENINGS", "openings"),
    (grant(openings=("facts",)), "AUDIT-GRANT-OPENINGS", "openings"),
    (grant(openings=("everything",)), "AUDIT-GRANT-OPENINGS", "openings"),
    (grant(subjects=()), "AUDIT-GRANT-SUBJECT", "subjects"),
    (grant(subjects=("party:X",)), "AUDIT-GRANT-SUBJECT", "subjects"),
    (grant(subjects=("claim:",)), "AUDIT-GRANT-SUBJECT", "subjects"),
    (grant(until=date(2026, 12, 1)), "AUDIT-GRANT-UNTIL", "until"),
    (g.GrantAccess(auditor="a", grant_id="G", openings=("medical",), subjects=("*",), until=None, reason="  ",
                   actor=ADMIN), "AUDIT-GRANT-REASON", "reason"),
])
def test_a_bad_grant_is_refused_naming_the_rule_in_both_languages(command: g.GrantAccess, rule: str,
                                                                   field: str) -> None:
    with pytest.raises(Refused) as refused:
        RULES.decide(RULES.initial(), command, NOW)
    assert refused.value.rule == rule
    assert refused.value.field == field
    assert refused.value.zh and str(refused.value)


def test_revoking_an_unknown_or_revoked_grant_is_refused() -> None:
    revoke = g.RevokeAccess(auditor="regulator-1", grant_id="G1", reason="done", actor=ADMIN)
    with pytest.raises(Refused) as unknown:
        RULES.decide(RULES.initial(), revoke, NOW)
    assert unknown.value.rule == "AUDIT-GRANT-UNKNOWN"
    with pytest.raises(Refused) as again:
        RULES.decide(fold(grant(), revoke), revoke, NOW)
    assert again.value.rule == "AUDIT-GRANT-REVOKED"


def test_a_read_records_what_was_looked_at_and_under_which_grants() -> None:
    read = g.RecordRead(auditor="regulator-1", subject="claim:C1", what="bundle", openings=("facts", "medical"),
                        grants=("G1",), entries=12, tree_size=340, actor=Actor("auditor", "regulator-1"))
    state = fold(grant(), read, read)
    assert state.reads == 2
    [event] = RULES.decide(state, read, NOW)
    assert event.type == g.READ
    assert event.facts["subject"] == "claim:C1" and event.facts["grants"] == ["G1"]
    assert event.facts["openings"] == ["facts", "medical"] and event.facts["tree_size"] == 340


def test_medical_events_open_only_under_a_medical_grant_and_personal_parts_under_personal() -> None:
    facts_only = g.Openings(("facts",))
    medical = g.Openings(("facts", "medical"))
    personal = g.Openings(("facts", "personal"))
    assert facts_only.facts("claim.decided") and not facts_only.facts("claim.medical.recorded")
    assert not facts_only.personal("claim.reported")
    assert medical.facts("claim.medical.recorded") and medical.personal("claim.medical.recorded")
    assert not medical.personal("claim.reported")
    assert personal.personal("claim.payment.instructed") and not personal.facts("claim.medical.recorded")
    # a claim's description and a printed e-policy's exclusions are health data beside names: both grants
    both = g.Openings(("facts", "medical", "personal"))
    assert not personal.personal("claim.reported") and not personal.personal("policy.contract.issued")
    assert both.personal("claim.reported") and both.personal("policy.contract.issued")
