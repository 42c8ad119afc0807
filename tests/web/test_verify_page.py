"""The verification page (GET /verify) in headless Chromium against a real server: genuine, superseded, revoked,
changed and unknown files; proof answers tampered with on the way; what is shown as proven and what as the
service's word; the QR code's policy and version (in the fragment, and the query of older e-policies); the
language switch; and that neither the file's bytes nor the policy number leave the browser."""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.web.conftest import Site

pytestmark = pytest.mark.chromium

DONE = "#result:not([data-verdict=none]):not([data-verdict=working])"  # the page has shown its verdict
CHECKS = ["fingerprint", "registry", "key", "checkpoint", "registration-entry", "registration-signature",
          "registration-inclusion", "kind", "change-entry", "change-signature", "change-inclusion", "anchor",
          "anchor-chain"]


def open_page(page: Any, site: Site, address: str = "") -> None:
    """/verify with ``address`` after it (a fragment ``#…`` or a query ``?…``), its scripts ready."""
    page.goto(f"{site.url}/verify{address}")
    page.wait_for_selector("body[data-ready=true]")


def check(page: Any, data: bytes, *, name: str = "e-policy.pdf") -> dict[str, Any]:
    """Choose ``data`` as the file and wait for the page's verdict; what the result area shows."""
    page.evaluate("document.querySelector('#result').dataset.verdict = 'none'")
    page.set_input_files("#file", files=[{"name": name, "mimeType": "application/pdf", "buffer": data}])
    page.wait_for_selector(DONE)
    return shown(page)


def shown(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("""() => {
        const area = document.querySelector('#result');
        const checks = {};
        for (const li of area.querySelectorAll('[data-check]')) checks[li.dataset.check] = li.dataset.state;
        const qr = area.querySelector('[data-qr]');
        const key = area.querySelector('[data-key-trust]');
        const warning = area.querySelector('[data-key-warning]');
        return { verdict: area.dataset.verdict, failed: area.dataset.failed || null, checks,
                 title: area.querySelector('.verdict-title')?.textContent ?? '',
                 detail: area.querySelector('.verdict-detail')?.textContent ?? '',
                 file: area.querySelector('[data-file-name]')?.dataset.fileName ?? null,
                 qr: qr ? qr.dataset.qr : null, qrText: qr ? qr.textContent : null,
                 keyTrust: key ? key.dataset.keyTrust : null, keyText: key ? key.innerText : null,
                 warning: warning ? warning.dataset.keyWarning : null, text: area.innerText };
    }""")
    return result


def flip_base64(text: str, at: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_a_genuine_current_e_policy_passes_every_check_and_shows_what_it_is(page: Any, site: Site) -> None:
    open_page(page, site)
    result = check(page, site.files["A2"], name="my policy.pdf")
    assert result["verdict"] == "genuine" and result["title"] == "Genuine and current"
    assert result["failed"] is None and result["file"] == "my policy.pdf"
    assert result["checks"] == {"fingerprint": "info", "registry": "ok", "key": "ok", "checkpoint": "ok",
                                "registration-entry": "ok", "registration-signature": "ok",
                                "registration-inclusion": "ok", "kind": "ok", "change-entry": "info",
                                "change-signature": "info", "change-inclusion": "info", "anchor": "ok",
                                "anchor-chain": "info"}
    # "current" is the service's word: the detail says so
    assert "registered this file as e-policy version 2" in result["detail"]
    assert "rests on the service's statement that no later version and no revocation exist" in result["detail"]
    text = result["text"]
    assert "Whole Life (whole-life, v1)" in text
    policy_no = site.policies["A"]
    assert "*" * (len(policy_no) - 4) + policy_no[-4:] in text and policy_no not in text
    assert site.digest("A2") in text
    assert re.search(r"registered: chain \d+, contract 0x[0-9a-fA-F]{40}, transaction 0x[0-9a-f]{64}, block \d+, "
                     r"[1-9]\d* confirmation", text), text
    assert "王五" not in text and "王*" not in text  # no person, even masked: the page shows the document
    # version 2 came in by a supersession: its kind is proven by the lineage back to version 1's registration
    kind = page.text_content("[data-check=kind]")
    assert re.search(r"entry #\d+ registered this document's lineage as kind 1; 2 signed entries", kind), kind


def test_the_key_is_shown_and_the_chain_is_the_services_report_never_a_passed_check(page: Any, site: Site) -> None:
    import httpx

    vkey = httpx.get(f"{site.url}/v1/log/key").json()["vkey"]
    name, key_id, _ = vkey.split("+", 2)
    open_page(page, site)
    result = check(page, site.files["A2"])
    assert result["keyTrust"] == "first-use"
    assert f"{name} · key id {key_id}" in result["keyText"]
    assert "compare this key id with the one the insurer publishes elsewhere" in result["keyText"]
    assert page.text_content("[data-check=anchor] strong") == "anchored checkpoint consistent"
    assert result["checks"]["anchor"] == "ok" and result["checks"]["anchor-chain"] == "info"
    answer = site.proof("A2")
    anchor = answer["proof"]["anchor"]
    reported = page.text_content("[data-check=anchor-chain]")
    root = base64.b64decode(anchor["root"]).hex()
    assert "Reported by the service, not read by this page" in reported
    assert f"transaction {anchor['tx_hash']}, block {anchor['block']}" in reported
    assert f"LedgerAnchor.rootOf({anchor['tree_size']}) at that contract must return 0x{root}" in reported
    assert "On-chain registrations (reported by the service: check them on the chain)" in result["text"]
    body = page.inner_text("body")
    for claim in ("checked against the chain", "the insurer publishes at", "key the insurer publishes",
                  "insurer's key"):
        assert claim not in body, claim


def test_one_changed_byte_makes_the_file_unknown(page: Any, site: Site) -> None:
    open_page(page, site)
    tampered = bytearray(site.files["A2"])
    tampered[len(tampered) // 2] ^= 0x20
    result = check(page, bytes(tampered))
    assert result["verdict"] == "unknown" and result["title"] == "Unknown file"
    assert "changed after it was issued" in result["detail"]
    assert result["checks"] == {"fingerprint": "info", "registry": "info", "key": "ok"}


def test_an_unknown_file_is_unknown(page: Any, site: Site) -> None:
    open_page(page, site)
    result = check(page, b"%PDF-1.4\n% not an e-policy of ours\n%%EOF\n", name="other.pdf")
    assert result["verdict"] == "unknown"


def test_a_superseded_version_names_its_successor_and_the_entry_that_replaced_it(page: Any, site: Site) -> None:
    open_page(page, site)
    result = check(page, site.files["A1"])
    assert result["verdict"] == "superseded" and result["title"] == "Genuine, but superseded"
    assert result["detail"] == "The journal registered this file, but version 2 replaced it on 2026-12-01 UTC."
    assert all(state in ("ok", "info") for state in result["checks"].values()), result["checks"]
    assert result["checks"]["change-entry"] == "ok" and result["checks"]["change-inclusion"] == "ok"
    assert "replaces this version with version 2" in result["text"]
    assert "Superseded by\nversion 2, recorded on 2026-12-01 UTC" in result["text"]


def test_a_revoked_e_policy_says_why_in_plain_words(page: Any, site: Site) -> None:
    open_page(page, site)
    result = check(page, site.files["B1"])
    assert result["verdict"] == "revoked" and result["title"] == "Revoked"
    assert result["detail"] == ("The journal registered this file, and revoked it on 2026-12-01 UTC: the contract was "
                                "cancelled.")
    assert result["checks"]["change-entry"] == "ok" and result["checks"]["anchor"] == "ok"
    assert "revokes this document (reason code 1)" in result["text"]
    assert "Revoked\non 2026-12-01 UTC: the contract was cancelled" in result["text"]


def tamper(page: Any, change: Callable[[dict[str, Any]], None]) -> None:
    """Answer the page's proof request with the real answer changed by ``change``."""
    def handle(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, body=json.dumps(body), headers={**response.headers,
                                                                           "content-type": "application/json"})

    page.route("**/v1/documents/*/proof", handle)


def _flip_inclusion(body: dict[str, Any]) -> None:
    hashes = body["proof"]["registration"]["inclusion"]["hashes"]
    assert hashes, "the registration's inclusion proof has hashes to change"
    hashes[-1] = flip_base64(hashes[-1], 31)


def _flip_checkpoint_signature(body: dict[str, Any]) -> None:
    text, signature = body["proof"]["checkpoint"].rsplit(" ", 1)
    body["proof"]["checkpoint"] = f"{text} {flip_base64(signature.strip(), 40)}\n"


def _change_checkpoint_root(body: dict[str, Any]) -> None:
    origin, size, root, rest = body["proof"]["checkpoint"].split("\n", 3)
    body["proof"]["checkpoint"] = "\n".join([origin, size, flip_base64(root, 0), rest])


def _change_salt(body: dict[str, Any]) -> None:
    body["proof"]["registration"]["opening"]["salt"] = flip_base64(body["proof"]["registration"]["opening"]["salt"])


def _change_payload(body: dict[str, Any]) -> None:
    body["proof"]["registration"]["opening"]["payload"]["kind"] = 2


def _other_vkey(body: dict[str, Any]) -> None:
    name, _, _ = body["proof"]["vkey"].split("+", 2)
    body["proof"]["vkey"] = f"{name}+39e31a2e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"


def _flip_leaf(body: dict[str, Any]) -> None:
    leaf = base64.b64decode(body["proof"]["registration"]["leaf"]).replace(b'"seq":', b'"seq": ')
    body["proof"]["registration"]["leaf"] = base64.b64encode(leaf).decode()


def _flip_consistency(body: dict[str, Any]) -> None:
    hashes = body["proof"]["anchor"]["consistency"]["hashes"]
    assert hashes, "the latest checkpoint is larger than the anchored one, so the proof has hashes"
    hashes[0] = flip_base64(hashes[0], 5)


def _change_anchor_root(body: dict[str, Any]) -> None:
    body["proof"]["anchor"]["root"] = flip_base64(body["proof"]["anchor"]["root"], 3)


def _other_digest_in_payload(body: dict[str, Any]) -> None:
    body["proof"]["registration"]["opening"]["payload"]["digest"] = "sha256:" + "ab" * 32


TAMPERINGS = [
    ("inclusion hash", _flip_inclusion, "registration-inclusion"),
    ("checkpoint signature", _flip_checkpoint_signature, "checkpoint"),
    ("checkpoint root", _change_checkpoint_root, "checkpoint"),
    ("payload salt", _change_salt, "registration-entry"),
    ("payload", _change_payload, "registration-entry"),
    ("payload digest", _other_digest_in_payload, "registration-entry"),
    ("verifier key", _other_vkey, "key"),
    ("leaf bytes", _flip_leaf, "registration-entry"),
    ("consistency hash", _flip_consistency, "anchor"),
    ("anchored root", _change_anchor_root, "anchor"),
]


@pytest.mark.parametrize(("what", "change", "check_id"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_a_tampered_proof_answer_is_never_called_genuine(page: Any, site: Site, what: str,
                                                         change: Callable[[dict[str, Any]], None],
                                                         check_id: str) -> None:
    open_page(page, site)
    tamper(page, change)
    result = check(page, site.files["A2"])
    assert result["verdict"] == "unverified", (what, result)
    assert result["title"] == "Could not be verified" and "Genuine" not in result["text"]
    assert result["failed"] == check_id and result["checks"][check_id] == "failed", (what, result["checks"])
    failed_name = page.text_content(f"[data-check='{check_id}'] strong")
    assert f"The check “{failed_name}” failed" in result["detail"]


def test_a_superseded_version_passed_off_as_another_status_is_refused(page: Any, site: Site) -> None:
    def as_revoked(body: dict[str, Any]) -> None:  # the supersession entry shown as if it revoked the file
        body["status"], body["revocation"] = "revoked", {"reason_code": 1, "reason": {"zh": "x", "en": "x"}}

    open_page(page, site)
    tamper(page, as_revoked)
    result = check(page, site.files["A1"])
    assert result["verdict"] == "unverified" and result["failed"] == "change-entry"


def test_the_qr_code_flow_says_plainly_when_the_file_is_another_version_or_another_policy(page: Any,
                                                                                          site: Site) -> None:
    policy_no = site.policies["A"]
    open_page(page, site, f"#policy={policy_no}&version=2")
    assert page.is_visible("#qr")
    assert page.text_content("#qr-text") == (f"You opened this page from the QR code of the policy whose number ends "
                                             f"in {policy_no[-4:]}, version 2. Choose the PDF file you hold to "
                                             "compare it with that version.")
    older = check(page, site.files["A1"])
    assert older["qr"] == "other-version" and older["verdict"] == "superseded"
    assert older["qrText"] == "This file is version 1 of this policy, not version 2, which the QR code names."
    other = check(page, site.files["B1"])
    assert other["qr"] == "other-policy"
    assert other["qrText"] == (f"This file belongs to another policy (number ending in {site.policies['B'][-4:]}), "
                               f"not to the policy ending in {policy_no[-4:]} whose QR code you scanned.")
    same = check(page, site.files["A2"])
    assert same["qr"] == "match" and same["verdict"] == "genuine"
    changed = check(page, site.files["A2"] + b"%")
    assert changed["qr"] == "unknown-file" and changed["verdict"] == "unknown"


def test_the_query_of_e_policies_printed_before_the_fragment_still_opens_the_qr_flow(page: Any, site: Site) -> None:
    policy_no = site.policies["A"]
    open_page(page, site, f"?policy={policy_no}&version=2")
    assert page.is_visible("#qr") and f"ends in {policy_no[-4:]}, version 2" in page.text_content("#qr-text")
    assert check(page, site.files["A1"])["qr"] == "other-version"


def test_scanning_the_qr_code_tells_the_service_nothing(page: Any, site: Site) -> None:
    policy_no = site.policies["A"]
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_page(page, site, f"#policy={policy_no}&version=2")
    assert check(page, site.files["A2"])["qr"] == "match"
    assert requests and not [url for url in requests if policy_no in url], requests


def test_an_unproven_verdict_shows_no_facts_and_no_qr_comparison(page: Any, site: Site) -> None:
    open_page(page, site, f"#policy={site.policies['A']}&version=2")
    tamper(page, _change_salt)
    result = check(page, site.files["A2"])
    assert result["verdict"] == "unverified" and result["qr"] is None
    for shown_only_when_proven in ("Whole Life", "Policy number", "What the journal proves", "This file is version"):
        assert shown_only_when_proven not in result["text"], shown_only_when_proven


def test_only_what_the_entries_prove_is_shown_of_a_successor_and_a_revocation(page: Any, site: Site) -> None:
    def successor(body: dict[str, Any]) -> None:  # words about the successor the entries do not hold
        body["policy"]["superseded_by_version"], body["policy"]["superseded_on"] = 7, "2031-01-01"

    def reason(body: dict[str, Any]) -> None:  # the reason in words, unlike the proven reason code
        body["revocation"]["reason"] = {"en": "A death benefit was paid", "zh": "已给付身故保险金"}

    open_page(page, site)
    tamper(page, successor)
    older = check(page, site.files["A1"])
    assert older["verdict"] == "superseded" and "version 2" in older["detail"]
    assert "version 7" not in older["text"] and "2031" not in older["text"]
    page.unroute("**/v1/documents/*/proof")
    tamper(page, reason)
    revoked = check(page, site.files["B1"])
    assert revoked["verdict"] == "revoked" and revoked["detail"].endswith(": the contract was cancelled.")
    assert "death" not in revoked["text"]


def test_a_genuine_answer_that_contradicts_itself_is_not_called_genuine(page: Any, site: Site) -> None:
    contradictions: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
        ("superseded_by", lambda body: body.update(superseded_by=site.digest("A1")), "names a successor"),
        ("revocation", lambda body: body.update(revocation={"reason_code": 2, "reason": {"zh": "x", "en": "x"}}),
         "carries a revocation"),
        ("chain", lambda body: body["chain"].append({**body["chain"][0], "op": "revoke"}),
         "on-chain record lists a revoke of this document"),
    ]
    open_page(page, site)
    for what, change, named in contradictions:
        page.unroute("**/v1/documents/*/proof")
        tamper(page, change)
        result = check(page, site.files["A2"])
        assert result["verdict"] == "unverified" and result["failed"] == "change-entry", (what, result)
        assert named in page.text_content("[data-check=change-entry]"), what
        assert "Genuine" not in result["text"], what


def test_the_url_the_e_policy_prints_opens_this_page_for_that_exact_version(site: Site) -> None:
    # The footer prints the URL the QR code holds; it is in the page's (deflated) content stream.
    texts = [zlib.decompress(stream) for stream in re.findall(rb"stream\r?\n(.*?)endstream", site.files["A2"], re.S)
             if stream.startswith(b"x")]
    found = [m for text in texts
             for m in re.findall(rb"Verify: (http\S+/verify#policy=[^)\s&]+&version=\d+&vkey=[0-9a-f]{8})", text)]
    assert len(found) == 1, found
    url = urlsplit(found[0].decode())
    assert f"{url.scheme}://{url.netloc}" == site.url and url.path == "/verify" and url.query == ""
    key_id = httpx.get(f"{site.url}/v1/log/key").json()["vkey"].split("+")[1]
    # the code pins the ledger's key: scanning it checks the answer against the key printed on the e-policy
    assert parse_qs(url.fragment) == {"policy": [site.policies["A"]], "version": ["2"], "vkey": [key_id]}


def test_the_page_follows_the_browsers_language_and_switches_on_request(browser: Any, site: Site) -> None:
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        open_page(page, site)
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert page.text_content("h1") == "电子保单验真"
        assert page.get_attribute("[data-lang=zh]", "aria-pressed") == "true"
        result = check(page, site.files["A1"])
        assert result["title"] == "真实，但已被新版本取代"
        assert result["detail"] == "日志登记了此文件，但它已于 2026-12-01 UTC 被第 2 版取代。"
        page.click("[data-lang=en]")
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.text_content("h1") == "Check an e-policy"
        assert page.get_attribute("[data-lang=en]", "aria-pressed") == "true"
        assert shown(page)["title"] == "Genuine, but superseded"  # the result already shown follows the switch
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        assert page.text_content("h1") == "Check an e-policy"  # the choice is kept on this device
        page.keyboard.press("Tab")  # the skip link, then the language buttons: operable from the keyboard
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        assert page.text_content("h1") == "电子保单验真"
    finally:
        context.close()


def test_a_failure_on_the_chinese_page_is_said_in_chinese(browser: Any, site: Site) -> None:
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        open_page(page, site)
        tamper(page, _change_salt)
        result = check(page, site.files["A2"])
        assert result["verdict"] == "unverified" and result["title"] == "无法核验"
        assert page.text_content("[data-check=registration-entry]").endswith(
            "问题所在：载荷原文的哈希与条目中的承诺（payload_hash）不一致")
        english = re.findall(r"\b(?:the|is|not|of|an?|to|by)\b", result["text"])
        assert english == [], result["text"]
        page.click("[data-lang=en]")  # and in English once switched
        assert page.text_content("[data-check=registration-entry]").endswith(
            "What was wrong: the payload opening does not hash to the payload_hash the entry committed to")
    finally:
        context.close()


def test_no_request_carries_the_files_bytes(page: Any, site: Site) -> None:
    requests: list[dict[str, Any]] = []
    page.on("request", lambda request: requests.append(
        {"method": request.method, "url": request.url, "body": request.post_data_buffer}))
    open_page(page, site)
    data = site.files["A2"]
    result = check(page, data)
    assert result["verdict"] == "genuine"
    assert requests, "the page made requests"
    assert {r["method"] for r in requests} == {"GET"}, requests
    assert all(r["body"] in (None, b"") for r in requests), "no request carries a body"
    assert all(r["url"].startswith(site.url + "/") for r in requests), "every request goes to the service itself"
    pieces = [data[n:n + 24] for n in range(0, len(data) - 24, len(data) // 16)]
    encodings = [form for piece in pieces for form in (piece.hex(), base64.b64encode(piece).decode(),
                                                      base64.urlsafe_b64encode(piece).decode())]
    for request in requests:
        assert not any(form in request["url"] for form in encodings), request["url"]
    asked = [r["url"] for r in requests if "/v1/" in r["url"]]
    assert sorted(asked) == sorted([f"{site.url}/v1/log/key",
                                    f"{site.url}/v1/documents/{site.digest('A2').replace(':', '%3A')}/proof"])


def test_the_drop_zone_takes_a_dropped_file(page: Any, site: Site) -> None:
    open_page(page, site)
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'dropped.pdf', { type: 'application/pdf' }));
        document.querySelector('#result').dataset.verdict = 'none';
        document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true,
                                                                              cancelable: true }));
    }""", base64.b64encode(site.files["B1"]).decode())
    page.wait_for_selector(DONE)
    assert shown(page)["verdict"] == "revoked"


def test_when_the_service_does_not_answer_nothing_is_concluded(page: Any, site: Site) -> None:
    open_page(page, site)
    page.route("**/v1/documents/*/proof", lambda route: route.fulfill(status=503, body="down"))
    result = check(page, site.files["A2"])
    assert result["verdict"] == "error" and result["title"] == "Could not check the file"
    assert "proof answered HTTP 503" in result["detail"] and "Nothing was concluded" in result["detail"]
    assert result["checks"] == {}
