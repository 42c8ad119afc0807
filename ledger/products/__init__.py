"""Products as data: definitions, mortality, rate and cash-value tables, the catalog, and pricing."""

from __future__ import annotations

from ledger.products.catalog import Product, ProductCatalog, default_products_dir
from ledger.products.pricing import CashValue, Plan, PlanRefused, Quote, cash_value, check_plan, quote
from ledger.products.schema import ProductDefinition

__all__ = ["CashValue", "Plan", "PlanRefused", "Product", "ProductCatalog", "ProductDefinition", "Quote",
           "cash_value", "check_plan", "default_products_dir", "quote"]
