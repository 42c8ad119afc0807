"""Browser fixtures: a real server (uvicorn in this process) over a ledger on the embedded chain, with e-policies
issued, superseded and revoked through the HTTP API (and, on request, documents of another kind registered beside
them), and Debian's Chromium driven headless through playwright."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.services.documents import Registration
from ledger.settings import Settings
from tests.api.routes.servicing_helpers import OWNER, START, clerk, headers, issue
from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
# --disable-dev-shm-usage: containers give /dev/shm 64 MB, which Chromium outgrows and then crashes its tabs.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage"]
CLAIM_DOCUMENT_KIND = 2  # the registry's kind of a claim document (ledger/claims/service.py)
OTHER = "P00000000000000000W02"  # the customer whose policy is cancelled in the free-look period


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chromium: drives Debian's Chromium (/usr/bin/chromium) through playwright")


def launch_chromium(playwright: Any) -> Any:
    """Headless Debian Chromium; fails (never skips) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make system-deps` or .ci/run does)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Site:
    """The running server and what was issued on it: PDFs by name, their digests, the policy numbers."""

    url: str
    ledger: Ledger
    files: dict[str, bytes] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)

    def digest(self, name: str) -> str:
        return "sha256:" + hashlib.sha256(self.files[name]).hexdigest()

    def proof(self, name: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/v1/documents/{self.digest(name)}/proof", timeout=30)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve(ledger: Ledger, port: int) -> Served:
    """``create_app`` over ``ledger`` under uvicorn on a loopback port, in a thread of this process."""
    config = uvicorn.Config(create_app(ledger=ledger), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-web-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.05)
    return Served(url=f"http://127.0.0.1:{port}", server=server, thread=thread)


def stop(served: Served) -> None:
    served.server.should_exit = True
    served.thread.join(timeout=30)


def download(client: httpx.Client, ledger: Ledger, policy_no: str, version: int, customer: str) -> bytes:
    answer = client.get(f"/v1/policies/{policy_no}/documents/{version}", headers=headers(ledger, "customer", customer))
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF"), answer.text
    return answer.content


def wait_until_anchored(site: Site, names: list[str], *, timeout: float = 120) -> None:
    """Until every named file's proof has an anchor covering its registration and status change."""
    deadline = time.monotonic() + timeout
    while True:
        answers = [site.proof(name) for name in names]
        done = [answer["proof"]["anchor"] for answer in answers]
        if all(anchor["status"] == "anchored" and all(
                entry is None or entry["index"] < anchor["tree_size"]
                for entry in (answer["proof"]["registration"], answer["proof"]["status_change"]))
               for anchor, answer in zip(done, answers, strict=True)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"anchoring did not cover the documents in {timeout} s: {done}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    """Policy A: e-policy v1, then a corrected v2 that supersedes it (a reissue a clerk approved). Policy B: v1,
    revoked by a free-look cancellation. All through the HTTP API; the embedded chain anchors every entry, and a
    few more entries after that make the latest checkpoint larger than the anchored one."""
    root = Path(tempfile.mkdtemp(prefix="lifeledger-web-"))
    port = free_port()
    settings = Settings(data_dir=root / "data", checkpoint_interval=0.2, chain_url="embedded", anchor_interval=0.05,
                        origin="test.lifeledger/log", render_workers=0, public_url=f"http://127.0.0.1:{port}")
    ledger = Ledger.open(settings, clock=FixedClock(START))
    served = serve(ledger, port)
    try:
        site = Site(url=served.url, ledger=ledger)
        with httpx.Client(base_url=served.url, timeout=60) as client:
            a = issue(client, ledger)  # type: ignore[arg-type]
            site.policies["A"] = a
            site.files["A1"] = download(client, ledger, a, 1, OWNER)
            made = client.post(f"/v1/policies/{a}/servicing", headers=headers(ledger, "customer", OWNER),
                               json={"operation": "epolicy_reissue", "input": {"kind": "corrected",
                                                                                "reason": "姓名有误"}})
            assert made.status_code == 201, made.text
            approved = client.post(f"/v1/servicing/{made.json()['request_id']}/decision", headers=clerk(ledger),
                                   json={"action": "approve"})
            assert approved.status_code == 200 and approved.json()["status"] == "completed", approved.text
            site.files["A2"] = download(client, ledger, a, 2, OWNER)
            b = issue(client, ledger, customer=OTHER, birth="1990-01-01", serial=34)  # type: ignore[arg-type]
            site.policies["B"] = b
            site.files["B1"] = download(client, ledger, b, 1, OTHER)
            cancelled = client.post(f"/v1/policies/{b}/cancel", headers=headers(ledger, "customer", OTHER),
                                    json={})
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "Cancelled", cancelled.text
            wait_until_anchored(site, ["A1", "A2", "B1"])
            issue(client, ledger, customer="P00000000000000000W03", birth="1980-05-05",  # type: ignore[arg-type]
                  serial=56)
            ledger.log.checkpoint_now()
        yield site
    finally:
        stop(served)
        ledger.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def other_kind(site: Site) -> dict[str, bytes]:
    """Claim documents (kind 2) registered on the site through the documents service: C1 alone, and K1 superseded
    by K2 (which so entered the register by a supersession); their files are added to ``site.files``."""
    files = {"C1": b"%PDF-1.4\n% a hospital discharge summary a claimant uploaded\n%%EOF\n",
             "K1": b"%PDF-1.4\n% an invoice, first scan\n%%EOF\n",
             "K2": b"%PDF-1.4\n% an invoice, second scan\n%%EOF\n"}
    raw = {name: hashlib.sha256(data).digest() for name, data in files.items()}
    site.ledger.documents.register([
        Registration(digest=raw["C1"], subject=hashlib.sha256(b"claim C1 " + raw["C1"]).digest(),
                     kind=CLAIM_DOCUMENT_KIND),
        Registration(digest=raw["K1"], subject=hashlib.sha256(b"claim C2 " + raw["K1"]).digest(),
                     kind=CLAIM_DOCUMENT_KIND)])
    site.ledger.documents.supersede(old_digest=raw["K1"], new_digest=raw["K2"], version=2)
    site.ledger.log.checkpoint_now()
    site.files.update(files)
    return files


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A fresh browser context (no stored language) in English, on nothing yet."""
    context = browser.new_context(locale="en-US")
    try:
        yield context.new_page()
    finally:
        context.close()
