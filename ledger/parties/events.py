"""Party event types: a person's facts (an opaque id) and the personal data sealed under their own key."""

from __future__ import annotations

from ledger.log.catalog import EventType

PARTY_REGISTERED = "party.registered"
PARTY_UPDATED = "party.updated"

# Everything that identifies or describes the person is personal: erasing the party destroys exactly this.
PERSONAL = frozenset({"name", "id_type", "id_number", "birth_date", "sex", "phone", "email", "address"})

TYPES = (
    EventType(PARTY_REGISTERED, frozenset({"party_id", "actor"}), PERSONAL),
    EventType(PARTY_UPDATED, frozenset({"party_id", "actor", "fields"}), PERSONAL),
)


def stream_of(party_id: str) -> str:
    """A party's own stream (``party:<id>``); the id is opaque and also the data subject of their personal data."""
    return f"party:{party_id.removeprefix('party:')}"
