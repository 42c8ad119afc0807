"""The product catalog: every version of every product, loaded and checked with the tables it references.

A product version's ``digest`` is ``sha256:`` of the RFC 8785 canonical JSON of its definition together with the
ids and digests of its tables, so an amount that cites it names exactly the rules and numbers that produced it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ledger
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.log.encoding import canonical_json, digest_str, sha256
from ledger.money import Money
from ledger.products.fields import parse_model, read_toml
from ledger.products.mortality import MortalityFile, load_mortality_dir
from ledger.products.schema import CommutationBasis, Feature, Kind, ProductDefinition
from ledger.products.tables import CashValueTable, RateTable, load_table, plan_gaps

__all__ = ["Product", "ProductCatalog", "default_products_dir", "product_digest"]


def default_products_dir() -> Path:
    """``<repository root>/products``, where the shipped product files live."""
    return Path(ledger.__file__).resolve().parents[1] / "products"


def product_digest(definition: ProductDefinition, rates: RateTable, cash_values: CashValueTable | None) -> str:
    """``sha256:`` of the canonical JSON of the definition and its tables' ids and digests.

    A definition without a ``[servicing]`` section is hashed without the ``servicing`` key, so the digests of
    product versions published before the section existed stay what they were.
    """
    body = {"definition": _definition_json(definition), "tables": _table_refs(rates, cash_values)}
    return digest_str(sha256(canonical_json(body)))


def _definition_json(definition: ProductDefinition) -> dict[str, Any]:
    """The definition as JSON, without a ``servicing`` key when the file has no ``[servicing]`` section."""
    return definition.model_dump(mode="json", exclude={"servicing"} if definition.servicing is None else None)


def _table_refs(rates: RateTable, cash_values: CashValueTable | None) -> dict[str, Any]:
    return {"rates": {"id": rates.id, "digest": rates.digest},
            "cash_values": None if cash_values is None else {"id": cash_values.id, "digest": cash_values.digest}}


@dataclass(frozen=True)
class Product:
    """One version of a product: its definition, its tables and the digest that names them all."""

    definition: ProductDefinition
    rates: RateTable
    cash_values: CashValueTable | None
    digest: str

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def version(self) -> int:
        return self.definition.version

    @property
    def kind(self) -> Kind:
        return self.definition.kind

    @property
    def currency(self) -> str:
        return self.definition.currency

    @property
    def automatic_limit(self) -> Money:
        """The largest sum insured automatic underwriting may accept."""
        return self.definition.automatic_limit

    @property
    def questionnaire(self) -> str:
        """The id of the health questionnaire (products/questionnaires/)."""
        return self.definition.questionnaire

    @property
    def underwriting(self) -> str:
        """The id of the underwriting rule set (products/underwriting/)."""
        return self.definition.underwriting

    @property
    def waiting_period_days(self) -> int:
        return self.definition.waiting_period_days

    @property
    def free_look_days(self) -> int:
        return self.definition.free_look_days

    @property
    def grace_days(self) -> int:
        return self.definition.grace_days

    @property
    def reinstatement_years(self) -> int:
        return self.definition.reinstatement_years

    @property
    def reinstatement_interest(self) -> Decimal:
        return self.definition.reinstatement_interest

    @property
    def loan_rate(self) -> Decimal | None:
        """Simple yearly interest on policy loans the product states, or None (servicing then uses its own rate)."""
        return None if self.definition.servicing is None else self.definition.servicing.loan_rate

    def has_feature(self, name: Feature) -> bool:
        """Whether the product pays ``name`` (dividends, a survival benefit), as its ``[servicing]`` declares."""
        return self.definition.has_feature(name)

    def to_json(self) -> dict[str, Any]:
        """The definition as JSON (as hashed into the digest), with the digest and its tables' ids and digests."""
        return {**_definition_json(self.definition), "digest": self.digest,
                "table_digests": _table_refs(self.rates, self.cash_values)}


def _check_table(definition: ProductDefinition, table: RateTable | CashValueTable,
                 mortality: Mapping[str, MortalityFile], *, source: str, field: str) -> None:
    """Refuse a table derived from another basis, from a changed mortality table, or missing offered plans."""
    where = f"{source}: {field}"
    if table.basis.get("product_basis") != definition.basis.model_dump(mode="json"):
        raise ValidationFailed(f"{where}: table {table.id!r} was derived from another basis than this product's; "
                               "re-derive it (scripts/derive_tables.py)", field=field)
    if isinstance(definition.basis, CommutationBasis):
        held = mortality.get(definition.basis.mortality)
        if held is None:
            raise ValidationFailed(f"{source}: basis.mortality: no mortality table {definition.basis.mortality!r}",
                                   field="basis.mortality")
        derived_from = table.basis.get("mortality") or {}
        if derived_from.get("digest") != held.digest:
            raise ValidationFailed(f"{where}: table {table.id!r} was derived from another version of mortality table "
                                   f"{held.id!r}; re-derive it (scripts/derive_tables.py)", field=field)
    gaps = plan_gaps(definition, table)
    if gaps:
        raise ValidationFailed(f"{where}: table {table.id!r} has no value for {gaps[0]}"
                               + (f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""), field=field)


def assemble(definition: ProductDefinition, tables: Mapping[str, RateTable | CashValueTable],
             mortality: Mapping[str, MortalityFile], *, source: str) -> Product:
    """A ``Product`` from a validated definition and the tables it references.

    Raises ``ValidationFailed`` naming ``source`` when a table is missing, of the wrong kind, derived from
    another basis or mortality table, or short of a plan the definition offers.
    """
    rates = tables.get(definition.tables.rates)
    if not isinstance(rates, RateTable):
        raise ValidationFailed(f"{source}: tables.rates: no rate table {definition.tables.rates!r}",
                               field="tables.rates")
    _check_table(definition, rates, mortality, source=source, field="tables.rates")
    cash_values = None
    if definition.tables.cash_values is not None:
        found = tables.get(definition.tables.cash_values)
        if not isinstance(found, CashValueTable):
            raise ValidationFailed(f"{source}: tables.cash_values: no cash-value table "
                                   f"{definition.tables.cash_values!r}", field="tables.cash_values")
        _check_table(definition, found, mortality, source=source, field="tables.cash_values")
        cash_values = found
    return Product(definition=definition, rates=rates, cash_values=cash_values,
                   digest=product_digest(definition, rates, cash_values))


class ProductCatalog:
    """Every product version held, by id and version; ``publish`` adds newer versions."""

    def __init__(self, *, products: Iterable[Product] = (),
                 tables: Mapping[str, RateTable | CashValueTable] | None = None,
                 mortality: Mapping[str, MortalityFile] | None = None) -> None:
        self._tables = dict(tables or {})
        self._mortality = dict(mortality or {})
        self._products: dict[str, dict[int, Product]] = {}
        self._lock = threading.Lock()
        for product in products:
            self._products.setdefault(product.id, {})[product.version] = product

    @classmethod
    def load(cls, directory: Path) -> ProductCatalog:
        """Load every ``<directory>/*.toml`` product with ``tables/*.json`` and ``mortality/*.toml``.

        Raises ``ValidationFailed`` naming the file, path and value of the first problem: a malformed file, a
        table whose digest does not match its content or whose name is not its id, a product whose tables are
        missing or stale, or two files holding one product id and version.
        """
        if not directory.is_dir():
            raise ValidationFailed(f"{directory}: no such products directory", field="directory")
        mortality = load_mortality_dir(directory / "mortality")
        tables: dict[str, RateTable | CashValueTable] = {}
        for path in sorted((directory / "tables").glob("*.json")):
            source = f"{directory.name}/tables/{path.name}"
            table = load_table(path, source=source)
            if path.stem != table.id:
                raise ValidationFailed(f"{source}: id: must match the file name {path.stem!r}, got {table.id!r}",
                                       field="id")
            tables[table.id] = table
        products: dict[tuple[str, int], tuple[Product, str]] = {}
        for path in sorted(directory.glob("*.toml")):
            source = f"{directory.name}/{path.name}"
            definition = parse_model(ProductDefinition, read_toml(path, source=source), source=source)
            held = products.get((definition.id, definition.version))
            if held is not None:
                raise ValidationFailed(f"{source}: version: {definition.id} v{definition.version} is also defined "
                                       f"in {held[1]}", field="version")
            products[(definition.id, definition.version)] = (assemble(definition, tables, mortality, source=source),
                                                             source)
        return cls(products=[product for product, _ in products.values()], tables=tables, mortality=mortality)

    def get(self, product_id: str, version: int | None = None) -> Product:
        """The product ``product_id`` at ``version`` (default: its newest); raises ``NotFound``."""
        with self._lock:
            versions = self._products.get(product_id)
            if not versions:
                raise NotFound(f"no product {product_id!r}", field="product_id")
            if version is None:
                return versions[max(versions)]
            if version not in versions:
                raise NotFound(f"product {product_id!r} has no version {version} (held: {sorted(versions)})",
                               field="version")
            return versions[version]

    def current(self) -> list[Product]:
        """The newest version of every product, by product id."""
        with self._lock:
            return [versions[max(versions)] for _, versions in sorted(self._products.items())]

    def versions(self, product_id: str) -> list[int]:
        """The versions held of ``product_id``, oldest first; raises ``NotFound`` for an unknown product."""
        with self._lock:
            versions = self._products.get(product_id)
            if not versions:
                raise NotFound(f"no product {product_id!r}", field="product_id")
            return sorted(versions)

    def publish(self, raw: Mapping[str, Any]) -> Product:
        """Validate a product version given as data and hold it; return the held version.

        The tables it references must already be in the catalog. Publishing an id and version already held with
        the same content returns the held one. Raises ``ValidationFailed`` (naming path and value) for a
        malformed definition or unusable tables, and ``Conflict`` for a version held with other content or not
        newer than the newest held.
        """
        return self.hold(self.prepare(raw))

    def prepare(self, raw: Mapping[str, Any]) -> Product:
        """Validate a product version given as data, without holding it (``ValidationFailed`` names the path)."""
        source = f"product {raw.get('id')!r} v{raw.get('version')!r}"
        definition = parse_model(ProductDefinition, dict(raw), source=source)
        return assemble(definition, self._tables, self._mortality, source=source)

    def admit(self, product: Product) -> Product | None:
        """The held version if ``product`` is held already with the same content, else None if it may be held;
        raises ``Conflict`` for a version held with other content or not newer than the newest held."""
        with self._lock:
            return self._admit(product)

    def hold(self, product: Product, *, in_order: bool = True) -> Product:
        """Hold ``product`` (see ``admit``); with ``in_order`` false, also a version older than the newest held (one
        the journal records after a newer one, which another process published at the same time)."""
        with self._lock:
            held = self._admit(product, in_order=in_order)
            if held is not None:
                return held
            self._products.setdefault(product.id, {})[product.version] = product
            return product

    def _admit(self, product: Product, *, in_order: bool = True) -> Product | None:
        source = f"product {product.id!r} v{product.version!r}"
        versions = self._products.get(product.id, {})
        held = versions.get(product.version)
        if held is not None:
            if held.digest == product.digest:
                return held
            raise Conflict(f"{source}: version {product.version} is already held with other content "
                           f"({held.digest}); publish a new version", field="version")
        newest = max(versions, default=0)
        if in_order and product.version <= newest:
            raise Conflict(f"{source}: version must be newer than the newest held ({newest}), "
                           f"got {product.version}", field="version")
        return None
