"""The published product versions, folded from ``product.version.published`` events (facts only)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ledger.errors import Conflict, SignatureError
from ledger.log.reserved import LEDGER_KEY_ID
from ledger.log.statements import Statement
from ledger.products.events import PUBLISHED
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec

TABLE = "product_versions"


class ProductsProjector:
    needs_facts: ClassVar[bool] = True
    name: ClassVar[str] = "products"
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec(TABLE, (Column("product_id", "text"), Column("version", "int"), Column("digest", "text"),
                          Column("kind", "text"), Column("published_idx", "int")),
                  key=("product_id", "version")),
    )

    def handles(self, type: str) -> bool:
        return type == PUBLISHED

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        if facts is None:
            return []
        return [(TABLE, (facts["product_id"], facts["version"]))]

    def apply(self, rows: Rows, fact: Fact) -> None:
        """Record a published version; refuses (``Conflict``) the same id and version with another digest."""
        if fact.record.key_id != LEDGER_KEY_ID:
            raise SignatureError(f"{PUBLISHED} is written only by the ledger, not by {fact.record.key_id!r}",
                                 field="key_id")
        f = fact.facts
        if f is None:
            return
        key = (f["product_id"], f["version"])
        earlier = rows.get(TABLE, key)
        if earlier is not None:
            if earlier["digest"] != f["digest"]:
                raise Conflict(f"product {key[0]} v{key[1]} was published with digest {earlier['digest']}; a changed "
                               "definition needs a new version", field="version")
            return
        rows.put(TABLE, {"product_id": key[0], "version": key[1], "digest": f["digest"], "kind": f["kind"],
                         "published_idx": fact.index})
