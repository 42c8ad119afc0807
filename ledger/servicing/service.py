"""The servicing service: what the API and the demo ask of servicing, starting with the public catalog."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ledger.servicing.catalog import Operation, ServicingCatalog, default_catalog_path, load_catalog

__all__ = ["ServicingService"]


class ServicingService:
    """Publishes the servicing catalog: every operation as a JSON-ready description, and the catalog's version."""

    def __init__(self, catalog: ServicingCatalog) -> None:
        self.catalog = catalog
        self._public = {operation.code: _public(operation, catalog) for operation in catalog.operations()}

    @classmethod
    def load(cls, path: str | Path | None = None) -> ServicingService:
        """A service over the catalog file at ``path`` (default: the shipped ``products/servicing/catalog.toml``).

        Raises ``ValidationFailed`` naming the file, the path in it and the value if the catalog is wrong.
        """
        return cls(load_catalog(default_catalog_path() if path is None else path))

    def catalog_version(self) -> dict[str, Any]:
        """``{"id", "version", "digest"}`` of the catalog: what a request cites as the rules it was decided by."""
        return {"id": self.catalog.id, "version": self.catalog.version, "digest": self.catalog.digest}

    def operations(self) -> list[dict[str, Any]]:
        """Every operation's public description, in the catalog's order (a fresh copy the caller may change)."""
        return [copy.deepcopy(entry) for entry in self._public.values()]

    def operation(self, code: str) -> dict[str, Any]:
        """The public description of operation ``code``; raises ``NotFound`` naming the code."""
        self.catalog.get(code)  # raises NotFound naming the code and the catalog
        return copy.deepcopy(self._public[code])


def _public(operation: Operation, catalog: ServicingCatalog) -> dict[str, Any]:
    """An operation as the catalog route publishes it: names, who may ask, consents, documents, rules, money."""
    on_behalf = "staff_on_behalf" in operation.requesters
    return {
        "code": operation.code,
        "family": operation.family,
        "names": operation.names.model_dump(),
        "description": operation.description.model_dump(),
        "requesters": list(operation.requesters),
        "consents": [consent.model_dump(mode="json") for consent in operation.consents],
        "documents": [document.model_dump(mode="json") for document in operation.documents],
        # what staff acting for the customer add to the documents
        "staff_documents": [document.model_dump(mode="json") for document in catalog.staff_documents]
        if on_behalf else [],
        "eligibility": [{"code": rule.code, "check": rule.check, "zh": rule.zh, "en": rule.en,
                         "parameters": rule.parameters()} for rule in operation.eligibility],
        "changes_contract": operation.changes_contract,
        "ends_contract": operation.ends_contract,
        "underwriting": operation.underwriting,
        "money": {"direction": operation.money.direction, "formula": operation.money.formula,
                  "expression": operation.money.expression,
                  "parameters": operation.money.parameters.model_dump(mode="json")},
        "high_risk": operation.high_risk,
        "automatic": operation.automatic,
        "cooling_off_hours": catalog.cooling_off_hours(operation),
        "sources": list(operation.sources),
    }
