"""The trust root of the page, stated honestly: the page shows the key it checked with; the device remembers the
service's key (trust on first use) and refuses, loudly, an answer under another key; a key pinned in the address
(#vkey=) must be the service's. The forgery: a service (or whoever answers in its place) publishing a key of its
own and an answer under it that is valid in every hash and signature."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.web.conftest import Site
from tests.web.forged import Journal
from tests.web.test_verify_page import check, open_page, shown

pytestmark = pytest.mark.chromium

FORGED_FILE = "%PDF-1.4\n% a forged e-policy nobody issued\n%%EOF\n"
KEY_STORE = "lifeledger.verify.key"


def forge(page: Any, site: Site) -> Journal:
    """From now on, /v1/log/key and the proof answers come from a journal with a key of its own, under the real
    log's name; its answer about FORGED_FILE is valid in every respect but the key."""
    origin = httpx.get(f"{site.url}/v1/log/key").json()["origin"]
    journal = Journal(name=origin, seed=b"someone else's key")
    registration = journal.register(FORGED_FILE, "forged lineage")
    answer = journal.answer(FORGED_FILE, status="genuine", registration=registration)
    page.route("**/v1/log/key", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps({"origin": origin, "vkey": journal.vkey})))
    page.route("**/v1/documents/*/proof", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(answer)))
    return journal


def real_vkey(site: Site) -> str:
    vkey: str = httpx.get(f"{site.url}/v1/log/key").json()["vkey"]
    return vkey


def test_a_device_that_saw_the_real_key_refuses_a_forged_key_loudly(page: Any, site: Site) -> None:
    open_page(page, site)
    first = check(page, site.files["A2"])
    assert first["verdict"] == "genuine" and first["keyTrust"] == "first-use"
    assert "This device has not seen this service's key before" in first["keyText"]
    kept = json.loads(page.evaluate(f"localStorage.getItem('{KEY_STORE}')"))
    assert kept["vkey"] == real_vkey(site)

    again = check(page, site.files["A1"])
    assert again["keyTrust"] == "remembered" and f"since {kept['since']}" in again["keyText"]

    journal = forge(page, site)
    result = check(page, FORGED_FILE.encode(), name="forged.pdf")
    assert result["verdict"] == "unverified" and result["failed"] == "key", result
    assert "Genuine" not in result["text"] and "genuine" not in result["title"].lower()
    assert result["warning"] == "changed" and page.get_attribute("[data-key-warning]", "role") == "alert"
    warning = page.inner_text("[data-key-warning]")
    real_id, forged_id = real_vkey(site).split("+")[1], journal.key_id.hex()
    assert f"key id {real_id}" in warning and f"key id {forged_id}" in warning
    assert "Someone may be answering in the service's place" in warning
    assert result["checks"]["checkpoint"] == "skipped"  # nothing is checked with a key the device does not trust

    # The person compared the new key id and accepts it: the device remembers it, and the file is checked again.
    page.click("[data-key-warning] button")
    page.wait_for_selector("#result[data-verdict=genuine]")
    assert json.loads(page.evaluate(f"localStorage.getItem('{KEY_STORE}')"))["vkey"] == journal.vkey
    assert shown(page)["keyTrust"] == "remembered"


@pytest.mark.parametrize("pin", ["vkey", "key id"])
def test_a_key_pinned_in_the_address_must_be_the_services(page: Any, site: Site, pin: str) -> None:
    vkey = real_vkey(site)
    name, key_id, _ = vkey.split("+", 2)
    pinned = quote(vkey, safe="") if pin == "vkey" else key_id
    open_page(page, site, f"#vkey={pinned}")
    assert page.is_visible("#pin") and page.get_attribute("#pin", "data-pin") == ("key" if pin == "vkey" else "id")
    assert key_id in page.text_content("#pin-text")
    genuine = check(page, site.files["A2"])
    assert genuine["verdict"] == "genuine" and genuine["keyTrust"] == "pinned"
    assert f"{name} · key id {key_id}" in genuine["keyText"]

    page.evaluate(f"localStorage.removeItem('{KEY_STORE}')")  # the pin alone must hold, without the device's memory
    forge(page, site)
    result = check(page, FORGED_FILE.encode(), name="forged.pdf")
    assert result["verdict"] == "unverified" and result["failed"] == "key" and result["warning"] == "pinned"
    assert "not the key pinned in this page's address" in page.text_content("[data-check=key]")
    assert "Genuine" not in result["text"]


def test_a_vkey_pinned_with_its_plus_signs_unescaped_is_read_as_written(page: Any, site: Site) -> None:
    vkey = real_vkey(site)
    assert "+" in vkey
    open_page(page, site, f"#vkey={vkey}")
    assert page.get_attribute("#pin", "data-pin") == "key"
    assert check(page, site.files["A2"])["keyTrust"] == "pinned"


def test_a_malformed_pin_accepts_no_answer(page: Any, site: Site) -> None:
    open_page(page, site, "#vkey=not-a-key")
    assert page.get_attribute("#pin", "data-pin") == "invalid"
    result = check(page, site.files["A2"])
    assert result["verdict"] == "unverified" and result["failed"] == "key"
    assert "neither a C2SP verifier key nor an 8-digit key id" in page.text_content("[data-check=key]")


def test_a_first_visit_cannot_tell_a_forged_key_so_it_shows_the_key_to_compare(page: Any, site: Site) -> None:
    """Trust on first use is what a page served by the service can do; the key id it shows is the way out."""
    journal = forge(page, site)
    open_page(page, site)
    result = check(page, FORGED_FILE.encode(), name="forged.pdf")
    assert result["keyTrust"] == "first-use"
    assert f"key id {journal.key_id.hex()}" in result["keyText"]
    assert "compare this key id with the one the insurer publishes elsewhere" in result["keyText"]
    assert "LedgerAnchor.rootOf(" in page.text_content("[data-check=anchor-chain]")


def test_a_new_address_clears_what_was_judged_under_the_old_one(page: Any, site: Site) -> None:
    open_page(page, site)
    assert check(page, site.files["A2"])["verdict"] == "genuine"
    page.evaluate("location.hash = '#vkey=not-a-key'")
    page.wait_for_selector("#pin[data-pin=invalid]")
    assert page.get_attribute("#result", "data-verdict") == "none" and page.inner_text("#result") == ""


UNKNOWN_FILE = b"%PDF-1.4\n% a file the service never saw\n%%EOF\n"


@pytest.mark.parametrize("state", ["malformed pin", "other pinned key", "remembered other key"])
def test_an_unknown_answer_is_held_to_the_key_too(page: Any, site: Site, state: str) -> None:
    """A service answering under another key must not deny a genuine e-policy ("unknown") any more than vouch for
    a forged one: the pin and the device's memory hold for that answer as well."""
    address = {"malformed pin": "#vkey=not-a-key", "other pinned key": "#vkey=deadbeef",
               "remembered other key": ""}[state]
    open_page(page, site, address)
    if state == "remembered other key":
        other = Journal(name="someone-else.example/log", seed=b"a key seen before").vkey
        page.evaluate(f"localStorage.setItem('{KEY_STORE}', JSON.stringify({{vkey: {json.dumps(other)}, "
                      f"since: '2026-01-01'}}))")
    result = check(page, UNKNOWN_FILE, name="never-seen.pdf")
    assert result["verdict"] == "unverified" and result["failed"] == "key", result
    assert "Unknown file" not in result["title"]


def test_an_unknown_answer_under_the_real_key_says_it_is_the_services_word(page: Any, site: Site) -> None:
    open_page(page, site)
    result = check(page, UNKNOWN_FILE, name="never-seen.pdf")
    assert result["verdict"] == "unknown", result
    assert "The service says it has no record of this file" in result["text"]


def test_an_answer_not_yet_anchored_says_the_key_id_is_all_there_is_to_compare(page: Any, site: Site) -> None:
    """A first visit to a service that sends no anchor: nothing to compare with the chain, and the page says so."""
    journal = forge(page, site)
    registration = journal.register(UNKNOWN_FILE.decode(), "unanchored lineage")
    answer = journal.answer(UNKNOWN_FILE.decode(), status="genuine", registration=registration)
    answer["proof"]["anchor"] = {"status": "pending"}
    page.unroute("**/v1/documents/*/proof")
    page.route("**/v1/documents/*/proof", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(answer)))
    open_page(page, site)
    result = check(page, UNKNOWN_FILE, name="unanchored.pdf")
    assert page.get_attribute(".key-line", "data-unanchored") == "true", result
    assert "not yet anchored on chain" in result["keyText"]
    assert "anchored root below" not in result["keyText"]
    assert journal.key_id.hex() in result["keyText"]


def test_the_printed_qr_code_pins_the_key_so_a_first_visit_refuses_a_forged_key(page: Any, site: Site) -> None:
    """The QR code on an e-policy carries the ledger's key id: a holder who scans it is protected on a first
    visit, where the device's memory cannot help."""
    key_id = real_vkey(site).split("+")[1]
    forge(page, site)
    open_page(page, site, f"#policy={quote(site.policies['A'], safe='')}&version=2&vkey={key_id}")
    assert page.get_attribute("#pin", "data-pin") == "id"
    result = check(page, FORGED_FILE.encode(), name="forged.pdf")
    assert result["verdict"] == "unverified" and result["failed"] == "key", result
    assert "Genuine" not in result["text"]
