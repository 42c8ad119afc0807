"""The page never shows a verdict that is not the latest file's, and never half a verdict: a second file chosen
while the first is still being checked wins, whatever order the answers come back in; a malformed or missing
answer ends in an error naming what was wrong, never in a page stuck on "Checking …" or a script error."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.web.conftest import Site
from tests.web.test_verify_page import DONE, check, open_page, shown, tamper

pytestmark = pytest.mark.chromium


def test_a_second_file_chosen_quickly_is_the_one_judged_even_if_the_first_answer_comes_later(page: Any,
                                                                                             site: Site) -> None:
    slow = site.digest("A2").split(":")[1]
    # the first file's proof answer arrives 2 s late
    page.add_init_script("(() => { const slow = " + json.dumps(slow) + """; const f = window.fetch;
        window.fetch = (u, o) => String(u).includes(slow)
          ? new Promise((ok) => setTimeout(() => ok(f(u, o)), 2000)) : f(u, o); })()""")
    open_page(page, site)
    page.set_input_files("#file", files=[{"name": "genuine.pdf", "mimeType": "application/pdf",
                                          "buffer": site.files["A2"]}])
    page.wait_for_timeout(300)
    tampered = bytearray(site.files["A2"])
    tampered[len(tampered) // 2] ^= 0x20
    page.set_input_files("#file", files=[{"name": "tampered.pdf", "mimeType": "application/pdf",
                                          "buffer": bytes(tampered)}])
    page.wait_for_selector(DONE)
    assert shown(page)["verdict"] == "unknown"
    page.wait_for_timeout(3000)  # the first file's answer has come and gone
    final = shown(page)
    assert final["verdict"] == "unknown" and final["file"] == "tampered.pdf", final
    assert "sha256:" + hashlib.sha256(bytes(tampered)).hexdigest() in final["text"]
    assert site.digest("A2") not in final["text"]


def _drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        for name in path[:-1]:
            body = body[name]
        del body[path[-1]]

    return change


def _set(value: Any, *path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        for name in path[:-1]:
            body = body[name]
        body[path[-1]] = value

    return change


MALFORMED = [
    ("no product", _set(None, "policy", "product"), "policy.product is not an object (it is null)"),
    ("no product names", _drop("policy", "product", "name"), "policy.product.name is not an object (it is missing)"),
    ("no registration", _drop("proof", "registration"), "proof.registration is not an object (it is missing)"),
    ("no proof", _set(None, "proof"), "proof is not an object (it is null)"),
    ("chain not a list", _set({"op": "register"}, "chain"), "chain is not a list"),
    ("a chain op unknown", lambda body: body["chain"][0].update(op="burn"),
     "chain[0].op is not register, supersede or revoke"),
    ("version as text", _set("2", "version"), "version is not a whole number (it is \"2\")"),
    ("no lineage", _drop("proof", "lineage"), "proof.lineage is not a list (it is missing)"),
    ("anchor without consistency", _drop("proof", "anchor", "consistency"),
     "proof.anchor.consistency is not an object (it is missing)"),
]


@pytest.mark.parametrize(("what", "change", "named"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_answer_ends_in_an_error_naming_the_field(page: Any, site: Site, what: str,
                                                             change: Callable[[dict[str, Any]], None],
                                                             named: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_page(page, site)
    tamper(page, change)
    result = check(page, site.files["A2"], name="mine.pdf")
    assert result["verdict"] == "error" and result["title"] == "Could not check the file", result
    assert named in result["detail"] and "Nothing was concluded" in result["detail"], result["detail"]
    assert result["checks"] == {} and result["file"] == "mine.pdf"
    assert "Genuine" not in result["text"] and "Whole Life" not in result["text"]
    assert errors == []


def _answer(status: int, body: str) -> Callable[[Any], None]:
    return lambda route: route.fulfill(status=status, content_type="application/json", body=body)


BROKEN = [
    ("key answer null", "**/v1/log/key", _answer(200, "null"), "/v1/log/key is not an object (it is null)"),
    ("key answer without a key", "**/v1/log/key", _answer(200, json.dumps({"vkey": 5})), "vkey is not text (it is 5)"),
    ("key answer failing", "**/v1/log/key", _answer(500, "{}"), "/v1/log/key answered HTTP 500"),
    ("key answer not JSON", "**/v1/log/key", _answer(200, "<html>"), "/v1/log/key did not answer JSON"),
    ("proof answer null", "**/v1/documents/*/proof", _answer(200, "null"), "answer is not an object (it is null)"),
    ("proof answer not JSON", "**/v1/documents/*/proof", _answer(200, "{"), "/proof did not answer JSON"),
    ("proof request refused", "**/v1/documents/*/proof", lambda route: route.abort("connectionrefused"),
     "The service did not answer"),
]


@pytest.mark.parametrize(("what", "url", "handler", "named"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_missing_or_broken_answer_ends_in_an_error_never_in_checking(page: Any, site: Site, what: str, url: str,
                                                                        handler: Callable[[Any], None],
                                                                        named: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_page(page, site)
    page.route(url, handler)
    result = check(page, site.files["A2"])
    assert result["verdict"] == "error", result
    assert named in result["detail"] and "Nothing was concluded" in result["detail"], result["detail"]
    assert "Checking" not in result["text"] and result["checks"] == {}
    assert errors == []


def test_the_browsers_own_english_words_are_marked_as_english_on_the_chinese_page(browser: Any, site: Site) -> None:
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        open_page(page, site)
        page.route("**/v1/documents/*/proof", lambda route: route.abort("connectionrefused"))
        result = check(page, site.files["A2"])
        assert result["verdict"] == "error" and result["title"] == "无法核验文件"
        marked = page.evaluate("[...document.querySelectorAll('#result [lang=en]')].map((n) => n.textContent)")
        assert marked == ["Failed to fetch"], marked
        assert result["detail"] == "服务没有答复（Failed to fetch）。未对文件作出任何结论。"
    finally:
        context.close()
