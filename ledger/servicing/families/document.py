"""Document family: reissuing the e-policy, as a new copy of its current version or as a corrected version.

No money moves and the contract's terms do not change. A copy reprints the current version; a corrected version
(content printed wrongly, reviewed by staff) is printed and recorded as a new version, which ``facts["new_version"]``
tells the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from ledger.servicing.families.base import Context, Input, Person, Prepared

__all__ = ["FAMILY", "Document", "EpolicyReissue"]


class EpolicyReissue(Input):
    kind: Literal["copy", "corrected"]
    reason: str = Field(min_length=1, max_length=200)  # free text: sealed with the details, never in the facts


class Document:
    name: ClassVar[str] = "document"
    inputs: ClassVar[Mapping[str, type[Input]]] = {"epolicy_reissue": EpolicyReissue}

    def persons(self, data: Input) -> Mapping[str, Person]:
        return {}

    def prepare(self, ctx: Context, data: Input) -> Prepared:
        """The kind of reissue, whether it prints a new version, and the version it starts from (if any)."""
        assert isinstance(data, EpolicyReissue)
        facts: dict[str, Any] = {"kind": data.kind, "new_version": data.kind == "corrected"}
        if ctx.policy.documents:
            current = ctx.policy.documents[-1]
            facts["of"] = {"version": current.get("version"), "digest": current.get("digest")}
        return Prepared(facts=facts, details={"reason": data.reason})


FAMILY = Document()
