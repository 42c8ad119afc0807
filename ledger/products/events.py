"""Product publication events: each product version the ledger prices or sells is recorded once, with its digest
and definition, on the stream ``catalog:products``, so every amount can cite a version the log proves."""

from __future__ import annotations

from ledger.log.catalog import EventType

PUBLISHED = "product.version.published"
STREAM = "catalog:products"

TYPES = (EventType(PUBLISHED, frozenset({"product_id", "version", "digest", "kind", "definition", "tables",
                                         "actor"})),)
