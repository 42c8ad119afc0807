"""The product catalog as the journal knows it: each version is recorded (published) before it is sold."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ledger import cooperative
from ledger.errors import ConfigurationError, Conflict, NotFound
from ledger.kernel import Event
from ledger.products import events as ev
from ledger.products.catalog import Product, ProductCatalog
from ledger.products.projection import TABLE
from ledger.projections.base import Row
from ledger.projections.streams import TABLE as STREAMS
from ledger.services.intake import Draft, IntakeService
from ledger.services.readmodels import ReadModels

RECORD_ATTEMPTS = 5


class ProductService:
    """Publishes product versions to the journal (once each) and lists what was published."""

    def __init__(self, catalog: ProductCatalog, *, intake: IntakeService, read: ReadModels) -> None:
        self.catalog = catalog
        self._intake = intake
        self._read = read
        self._known: set[tuple[str, int]] = set()
        self._lock = cooperative.Lock()  # held while the version is recorded: commands on the loop yield
        self._history: Callable[[str], Sequence[Event]] | None = None  # the journal's events of a stream

    def ensure_published(self, product: Product) -> None:
        """Record ``product``'s version if the journal does not hold it yet.

        Raises ``ConfigurationError`` if the journal holds that version with another digest: the data file was
        changed without a new version, and what was sold under it would no longer be provable.
        """
        key = (product.id, product.version)
        if key in self._known:
            return
        with self._lock:
            row = self._record(product, actor={"role": "system", "party": "catalog"})
            if row is not None and row["digest"] != product.digest:
                raise ConfigurationError(
                    f"product {product.id} v{product.version} was published at entry {row['published_idx']} with "
                    f"digest {row['digest']}, but its data file now gives {product.digest}; give the changed "
                    "definition a new version")
            self._known.add(key)

    def publish(self, raw: Mapping[str, Any], *, actor: Mapping[str, str]) -> Product:
        """Validate a new product version (as its data file would state it), record it, then hold it.

        Raises ``ValidationFailed`` for a malformed definition, and ``Conflict`` for a version this process holds
        already with other content or not newer than its newest, or one the journal holds with other content
        (published through another worker meanwhile).
        """
        product = self.catalog.prepare(raw)
        with self._lock:
            held = self.catalog.admit(product)
            if held is not None:
                return held
            row = self._record(product, actor=actor)
            if row is not None and row["digest"] != product.digest:
                raise Conflict(f"product {product.id} v{product.version} was published at entry "
                               f"{row['published_idx']} with other content (digest {row['digest']}); publish a new "
                               "version", field="version")
            # In order in the journal, not always here: a newer version another worker published meanwhile may
            # have reached this catalog first.
            product = self.catalog.hold(product, in_order=False)
            self._known.add((product.id, product.version))
        return product

    def _record(self, product: Product, *, actor: Mapping[str, str]) -> Row | None:
        """The journal's row for ``product``'s version, or None after recording it now.

        The version is recorded at the products stream's position read before looking for it, so that two
        processes recording the same version at once (two workers' first sales) record it once: the second's
        append is refused as the stream moved, and it finds the first's row.
        """
        key = (product.id, product.version)
        for _ in range(RECORD_ATTEMPTS):
            head = self._read.get(STREAMS, (ev.STREAM,))
            row = self._read.get(TABLE, key)
            if row is not None:
                return row
            try:
                self._intake.emit_all([Draft(ev.PUBLISHED, ev.STREAM, self._facts(product, actor=actor))],
                                      expected={ev.STREAM: 0 if head is None else int(head["last_seq"])})
            except Conflict:
                continue  # another version, or this one, was recorded meanwhile: look again
            return None
        raise Conflict(f"product {product.id} v{product.version} could not be recorded: the products stream kept "
                       "moving; try again", field="version")

    def committed(self, streams: set[str]) -> None:
        """Hear of a committed batch (``Journal.listen``): when it moved the products stream, take into the catalog
        the versions another process published (under ``serve --workers``, a product published through one
        worker is sold at once by every worker)."""
        if ev.STREAM in streams and self._history is not None:
            self.restore(self._history)

    def restore(self, history: Callable[[str], Sequence[Event]]) -> int:
        """Put back into the catalog the versions published over the API (the journal holds their definitions;
        the data files hold only what ships). Returns how many were restored."""
        self._history = history
        restored = 0
        for event in history(ev.STREAM):
            key = (event.facts["product_id"], event.facts["version"])
            try:
                held = self.catalog.versions(key[0])
            except NotFound:
                held = []
            if key[1] not in held:  # in the journal's order, which may put a version after a newer one
                self.catalog.hold(self.catalog.prepare(event.facts["definition"]), in_order=False)
                restored += 1
            if self.catalog.get(*key).digest == event.facts["digest"]:
                self._known.add(key)  # a data file changed since is caught by ensure_published at the first sale
        return restored

    def published(self) -> list[dict[str, Any]]:
        return self._read.select(TABLE, order_by=("published_idx",))

    @staticmethod
    def _facts(product: Product, *, actor: Mapping[str, str]) -> dict[str, Any]:
        body = product.to_json()
        return {"product_id": product.id, "version": product.version, "digest": product.digest,
                "kind": product.kind, "definition": {k: v for k, v in body.items()
                                                     if k not in ("digest", "table_digests")},
                "tables": body["table_digests"], "actor": dict(actor)}
