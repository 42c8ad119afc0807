"""The page judges e-policies (registry kind 1): a registered document of another kind, a claim document (kind 2)
here, is said to be one, by its proven kind, and never called a genuine or current e-policy; a later version of
such a document (registered by a supersession, which carries no kind) proves its kind through its lineage."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Site
from tests.web.test_verify_page import check, open_page

pytestmark = pytest.mark.chromium


@pytest.mark.parametrize("name", ["C1", "K2", "K1"])
def test_a_claim_document_is_a_registered_document_of_another_kind_not_an_e_policy(
        page: Any, site: Site, other_kind: dict[str, bytes], name: str) -> None:
    open_page(page, site, f"#policy={site.policies['A']}&version=2")
    result = check(page, other_kind[name], name=f"{name}.pdf")
    assert result["verdict"] == "other-kind" and result["title"] == "Not an e-policy", result
    assert result["detail"] == ("This file is a registered document of another kind (kind 2), not an e-policy. This "
                                "page checks e-policies only and says nothing more about it.")
    assert result["failed"] is None and result["checks"]["kind"] == "ok"
    assert result["qr"] == "not-comparable"
    text = result["text"]
    assert "Genuine" not in text and "current" not in result["title"] + result["detail"]
    assert "E-policy version" not in text and "kind 2, not an e-policy" in text
    versions = "2 signed entries" if name == "K2" else "1 signed entries"
    assert "as kind 2" in page.text_content("[data-check=kind]") and versions in page.text_content("[data-check=kind]")


def test_the_proof_answer_of_a_later_version_carries_its_lineage(site: Site, other_kind: dict[str, bytes]) -> None:
    k1, k2 = (site.proof(name) for name in ("K1", "K2"))
    assert k2["kind"] == 2 and k2["policy"] is None
    assert [entry["index"] for entry in k2["proof"]["lineage"]] == [k1["proof"]["registration"]["index"]]
    assert k2["proof"]["lineage"][0]["opening"]["payload"]["kind"] == 2
    assert k1["proof"]["lineage"] == []
