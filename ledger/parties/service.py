"""Parties: registering a person (personal data sealed under their own key) and reading it back for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ledger.errors import IndexTaken, LedgerError, NotFound, Refused, StreamMoved, ValidationFailed
from ledger.kernel import Event, NewEvent
from ledger.parties import events as ev
from ledger.parties.identity import ResidentId, check_resident_id
from ledger.services.party_index import PartyIndex
from ledger.services.subjects import SubjectService
from ledger.workflow import Workflow, new_id

PERSON_FIELDS = ("name", "id_type", "id_number", "phone", "email", "address")


@dataclass(frozen=True)
class Person:
    """A person as an application names them: checked, with what their identity number says about them."""

    name: str
    id_number: str
    birth_date: date
    sex: str
    phone: str = ""
    email: str = ""
    address: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, field: str, today: date) -> Person:
        """Check a person's fields; raises ``ValidationFailed`` naming ``field``.<name>."""
        if not isinstance(raw, Mapping):
            raise ValidationFailed(f"{field} must be an object with name and id_number", field=field)
        name = raw.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
            raise ValidationFailed(f"{field}.name must be 1-64 characters", field=f"{field}.name")
        resident: ResidentId = check_resident_id(raw.get("id_number"), field=f"{field}.id_number", on=today)
        extra = {}
        for name_ in ("phone", "email", "address"):
            value = raw.get(name_, "")
            if not isinstance(value, str) or len(value) > 200:
                raise ValidationFailed(f"{field}.{name_} must be text of at most 200 characters",
                                       field=f"{field}.{name_}")
            extra[name_] = value
        unknown = set(raw) - {"name", "id_number", "phone", "email", "address", "party"}
        if unknown:
            raise ValidationFailed(f"{field} has unknown fields: {', '.join(sorted(unknown))}",
                                   field=f"{field}.{sorted(unknown)[0]}")
        return cls(name=name.strip(), id_number=resident.number, birth_date=resident.birth_date, sex=resident.sex,
                   **extra)

    def personal(self) -> dict[str, Any]:
        return {"name": self.name, "id_type": "resident_id", "id_number": self.id_number,
                "birth_date": self.birth_date.isoformat(), "sex": self.sex, "phone": self.phone,
                "email": self.email, "address": self.address}


@dataclass(frozen=True)
class Resolved:
    """The party a person named in a command is, the event registering them if they are new, and the party
    their identity number already names under another name (if any)."""

    party_id: str
    registration: NewEvent | None
    same_number: str | None = None
    index: tuple[bytes, str] | None = None  # the party index row the registering group adds


@dataclass(frozen=True)
class PartyState:
    party_id: str = ""
    registered_at: int | None = None  # journal index of the registration


@dataclass(frozen=True)
class Register:
    party_id: str
    person: Person
    actor: Mapping[str, str]


class PartyRules:
    """The party aggregate: a person is registered once on their own stream."""

    def initial(self) -> PartyState:
        return PartyState()

    def evolve(self, state: PartyState, event: Event) -> PartyState:
        if event.type == ev.PARTY_REGISTERED:
            return PartyState(party_id=event.facts["party_id"], registered_at=event.index)
        return state

    def decide(self, state: PartyState, command: Register, now: datetime) -> Sequence[NewEvent]:
        if state.registered_at is not None:
            raise Refused(f"party {command.party_id} is registered already (rule PARTY-EXISTS)",
                          rule="PARTY-EXISTS", zh="该当事人已登记")
        return [NewEvent(ev.PARTY_REGISTERED, {"party_id": command.party_id, "actor": dict(command.actor)},
                         personal=command.person.personal(), personal_subject=command.party_id)]


class PartyService:
    """Registers parties and opens their personal data for those entitled to it (never for projections)."""

    def __init__(self, workflow: Workflow, subjects: SubjectService, index: PartyIndex | None = None) -> None:
        self._workflow = workflow
        self._subjects = subjects
        self._index = index
        self._rules = PartyRules()

    @staticmethod
    def new_id() -> str:
        return new_id("P")

    @staticmethod
    def parse_person(raw: Mapping[str, Any], *, field: str, today: date) -> Person:
        """A person from request input (``Person.parse``: raises ``ValidationFailed`` naming ``field``)."""
        return Person.parse(raw, field=field, today=today)

    def exists(self, party_id: str) -> bool:
        state, _ = self._workflow.load(self._rules, ev.stream_of(party_id))
        return state.registered_at is not None

    def registration(self, person: Person, *, actor: Mapping[str, str], party_id: str | None = None
                     ) -> tuple[str, NewEvent]:
        """The event that registers ``person`` on their own stream, for another command's group (which must
        expect that stream at position 0, so a party is never registered twice)."""
        pid = party_id or self.new_id()
        (event,) = self._rules.decide(PartyState(), Register(pid, person, actor), datetime.min)
        return pid, NewEvent(event.type, event.facts, event.personal, event.personal_subject, ev.stream_of(pid))

    def resolve(self, persons: Sequence[Person], *, actor: Mapping[str, str]) -> list[Resolved]:
        """The party each person is, and for new people the events that register them and their party index
        rows, for another command's group (which must expect each new party's stream at 0 and add the rows with
        ``Workflow.run(index=...)``, so a person is never registered twice: of two commands registering one
        person at once the second fails with ``IndexTaken`` and resolves again, finding the first's party).

        A person is the party their identity number names only if the name they registered matches: an
        identity number alone never links anyone. A person whose number names a party under another name gets a
        party of their own, with ``same_number`` naming the other (financial underwriting counts both).
        """
        out: list[Resolved] = []
        known = self._index.find_many([p.id_number for p in persons]) if self._index is not None else {}
        for person in persons:
            found = known.get(person.id_number)
            if found is not None and self.exists(found):
                if self._same_name(found, person):
                    out.append(Resolved(found, None))
                else:
                    pid, event = self.registration(person, actor=actor)
                    out.append(Resolved(pid, event, same_number=found))
            elif found is not None:  # indexed, its registration never recorded: register it under that id
                out.append(Resolved(found, self.registration(person, actor=actor, party_id=found)[1]))
            else:
                pid, event = self.registration(person, actor=actor)
                out.append(Resolved(pid, event, index=self._index.row(person.id_number, pid)
                                    if self._index is not None else None))
        return out

    @staticmethod
    def registering(error: LedgerError) -> bool:
        """Whether ``error`` says another command registered a person this one was registering too (the index
        row taken, or the party's own stream started): resolving the people again then finds them registered."""
        return isinstance(error, IndexTaken) or (isinstance(error, StreamMoved)
                                                 and error.stream.startswith(ev.stream_of("")))

    def registered_as(self, party_id: str, id_number: str) -> bool:
        """Whether ``party_id`` registered with ``id_number`` (by the index when it says so, else by opening the
        party's own record)."""
        if self._index is not None and self._index.find(id_number) == party_id:
            return True
        try:
            return bool(self.personal(party_id).get("id_number") == id_number)
        except LedgerError:
            return False

    def index_row(self, id_number: str, party_id: str) -> tuple[bytes, str] | None:
        """The party index row for a party registered with ``id_number`` (see ``resolve``), or None when the
        number names a party already (the index keeps the first)."""
        if self._index is None or self._index.find(id_number) is not None:
            return None
        return self._index.row(id_number, party_id)

    def _same_name(self, party_id: str, person: Person) -> bool:
        try:
            return bool(self.personal(party_id).get("name") == person.name)
        except LedgerError:  # erased meanwhile, or unreadable: never link to it
            return False

    def personal(self, party_id: str) -> dict[str, Any]:
        """The person's data as registered; raises ``NotFound`` (unknown) or ``ErasedError`` (erased)."""
        state, _ = self._workflow.load(self._rules, ev.stream_of(party_id))
        if state.registered_at is None:
            raise NotFound(f"no party {party_id}", field="party")
        opened = self._subjects.open_personal(state.registered_at)
        if opened is None:
            raise NotFound(f"party {party_id} has no personal data on record", field="party")
        payload = opened.payload
        return dict(payload) if isinstance(payload, dict) else {}
