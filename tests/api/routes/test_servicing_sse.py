"""Live progress of a servicing request (``GET /v1/servicing/{id}/events``, Server-Sent Events) on the real app,
read while another thread changes the request: the first event is the request as it stands, each change arrives
within a second of its answer, the stream ends once the request is done, strangers see nothing, and no event
carries the customer's personal details."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.auth import Role
from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.servicing_helpers import code_for, headers, upload
from tests.api.routes.servicing_helpers import issue as shared_issue
from tests.factories import resident_id

OWNER = "P00000000000000000E01"
STRANGER = "P00000000000000000E02"
NAME, ID_NUMBER = "王五", resident_id("1986-04-02")
ACCOUNT, HOLDER, BANK = "6222020211112222333", "王五", "招商银行"
END = object()  # what the reader queues when the stream ends
WAIT = 10.0  # the longest the test waits for anything (a hang fails instead of blocking the run)


def issue(client: TestClient, ledger: Ledger) -> str:
    """A participating whole-life policy of OWNER's, issued; its number."""
    return shared_issue(client, ledger, product="whole-life-participating", customer=OWNER)


def account_change(client: TestClient, ledger: Ledger, policy_no: str) -> str:
    """A high-risk request with its documents, awaiting its one-time code; its id."""
    me = headers(ledger, Role.CUSTOMER, OWNER)
    docs = {"ID-DOCUMENT": upload(client, me, b"%PDF id card"), "BANK-ACCOUNT-PROOF": upload(client, me, b"%PDF bank")}
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
        "operation": "payment_account_change", "documents": docs,
        "input": {"bank": BANK, "account_no": ACCOUNT, "holder": HOLDER}})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "awaiting_confirmation"
    return str(made.json()["request_id"])


class Reader:
    """Reads an event stream on a thread of its own: each ``progress`` event (its id, data and the monotonic time
    it arrived) goes to a queue, then ``END`` when the server closes the stream; the raw text is kept."""

    def __init__(self, client: TestClient, path: str, me: dict[str, str]) -> None:
        self.events: queue.Queue[Any] = queue.Queue()
        self.raw: list[str] = []
        self.status = 0
        self.media = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(client, path, me), daemon=True)
        self._thread.start()
        assert self._ready.wait(WAIT), "the stream did not answer"

    def _read(self, client: TestClient, path: str, me: dict[str, str]) -> None:
        with client.stream("GET", path, headers=me) as response:
            self.status, self.media = response.status_code, response.headers.get("content-type", "")
            self._ready.set()
            event: dict[str, str] = {}
            for line in response.iter_lines():
                self.raw.append(line)
                if line.startswith(":"):
                    continue  # a keep-alive comment
                if not line:
                    if event.get("event") == "progress":
                        self.events.put((int(event["id"]), json.loads(event["data"]), time.monotonic()))
                    event = {}
                    continue
                name, _, value = line.partition(":")
                event[name] = value.removeprefix(" ")
        self.events.put(END)

    def next(self) -> Any:
        return self.events.get(timeout=WAIT)

    def join(self) -> None:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the stream is still open"


def test_progress_follows_each_change_within_a_second_and_ends_with_completion(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    rid = account_change(client, ledger, policy_no)
    me = headers(ledger, Role.CUSTOMER, OWNER)
    code = code_for(client, ledger, rid)

    stream = Reader(client, f"/v1/servicing/{rid}/events", me)
    assert stream.status == 200 and stream.media.startswith("text/event-stream")
    first_id, first, _ = stream.next()
    assert first == client.get(f"/v1/servicing/{rid}", headers=me).json()  # the request as it stands
    assert first["status"] == "awaiting_confirmation" and first["awaiting"]["from"] == "customer"

    answered: dict[str, Any] = {}

    def confirm() -> None:  # the customer confirms on another connection, on another thread
        answer = client.post(f"/v1/servicing/{rid}/confirm", headers=me, json={"code": code})
        answered.update(at=time.monotonic(), status=answer.status_code, body=answer.json())

    changer = threading.Thread(target=confirm)
    changer.start()
    second_id, second, arrived = stream.next()
    changer.join(WAIT)
    assert answered["status"] == 200, answered
    assert second["status"] == "under_review" == answered["body"]["status"]
    assert second_id > first_id
    assert arrived - answered["at"] < 1.0  # delivered within a second of the change's answer

    clerk = headers(ledger, Role.SERVICING, "clerk-1")
    approved = client.post(f"/v1/servicing/{rid}/decision", headers=clerk, json={"action": "approve"})
    assert approved.status_code == 200, approved.text
    answered_at = time.monotonic()
    third_id, third, arrived = stream.next()
    assert third["status"] == "approved" and third["awaiting"]["from"] == "clock"
    assert third_id > second_id and arrived - answered_at < 1.0

    clock.advance(timedelta(hours=24, seconds=1))  # the cooling-off ends; the servicing clock completes it
    assert ledger.servicing.run_clock() == {"completed": 1}
    _, done, _ = stream.next()
    assert done["status"] == "completed" and done["timeline"][-1]["type"] == "servicing.request.completed"
    assert stream.next() is END  # the stream ends once the request is done
    stream.join()

    text = "\n".join(stream.raw)
    for personal in (ACCOUNT, ACCOUNT[-8:], HOLDER, BANK, NAME, ID_NUMBER, code):
        assert personal not in text, personal  # the view is facts only: no account, name or code


def test_a_request_already_done_sends_its_state_once_and_ends(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    me = headers(ledger, Role.CUSTOMER, OWNER)
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me,
                       json={"operation": "address_change", "input": {"address": "上海市浦东新区世纪大道 100 号"}})
    assert made.status_code == 201 and made.json()["status"] == "completed", made.text
    stream = Reader(client, f"/v1/servicing/{made.json()['request_id']}/events", me)
    _, only, _ = stream.next()
    assert only["status"] == "completed"
    assert stream.next() is END
    stream.join()
    assert "世纪大道" not in "\n".join(stream.raw)


def test_strangers_and_unknown_requests_get_no_stream(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    rid = account_change(client, ledger, policy_no)
    stranger = client.get(f"/v1/servicing/{rid}/events", headers=headers(ledger, Role.CUSTOMER, STRANGER))
    assert stranger.status_code == 404 and stranger.headers["content-type"].startswith("application/problem+json")
    unknown = client.get("/v1/servicing/S0123456789ABCDEF0123/events",
                         headers=headers(ledger, Role.CUSTOMER, OWNER))
    assert unknown.status_code == 404
    assert client.get(f"/v1/servicing/{rid}/events").status_code == 401  # no token
    staff = Reader(client, f"/v1/servicing/{rid}/events", headers(ledger, Role.SERVICING, "clerk-1"))
    assert staff.status == 200  # staff may watch any request
    _, seen, _ = staff.next()
    assert seen["status"] == "awaiting_confirmation"
    withdrawn = client.post(f"/v1/servicing/{rid}/withdraw", headers=headers(ledger, Role.CUSTOMER, OWNER), json={})
    assert withdrawn.status_code == 200, withdrawn.text
    _, last, _ = staff.next()
    assert last["status"] == "withdrawn"
    assert staff.next() is END
    staff.join()


def test_a_change_reaches_its_stream_at_once_while_many_other_streams_wait(
        hall: tuple[TestClient, Ledger]) -> None:
    """More streams wait on one request than the event loop has default worker threads (``min(32, cpus + 4)``),
    and one stream on another: waiting holds no thread, so the change of the other request reaches its stream at
    once (when waits held threads, its stream queued behind the others' half-second waits)."""
    client, ledger = hall
    me = headers(ledger, Role.CUSTOMER, OWNER)
    quiet = account_change(client, ledger, issue(client, ledger))
    busy = account_change(client, ledger, issue(client, ledger))
    code = code_for(client, ledger, busy)
    waiting = [Reader(client, f"/v1/servicing/{quiet}/events", me)
               for _ in range(max(15, min(32, (os.cpu_count() or 1) + 4) + 1))]
    watched = Reader(client, f"/v1/servicing/{busy}/events", me)
    for stream in [*waiting, watched]:
        assert stream.next()[1]["status"] == "awaiting_confirmation"
    delays = []
    for _ in range(3):
        time.sleep(0.3)  # every stream is waiting now
        if not delays:
            changed = client.post(f"/v1/servicing/{busy}/confirm", headers=me, json={"code": code})
            status = "under_review"
        else:
            changed = client.post(f"/v1/servicing/{busy}/decision", headers=headers(ledger, Role.SERVICING, "c-1"),
                                  json={"action": "request_documents", "documents": ["ID-DOCUMENT"],
                                        "reason": "photo unreadable"} if len(delays) == 1 else {"action": "reject",
                                                                                              "reason": "no"})
            status = "documents_requested" if len(delays) == 1 else "rejected"
        answered_at = time.monotonic()
        assert changed.status_code == 200, changed.text
        _, seen, arrived = watched.next()
        assert seen["status"] == status
        delays.append(arrived - answered_at)
    assert max(delays) < 0.25, delays
    assert watched.next() is END
    client.post(f"/v1/servicing/{quiet}/withdraw", headers=me, json={})
    for stream in waiting:
        assert stream.next()[1]["status"] == "withdrawn" and stream.next() is END
        stream.join()
