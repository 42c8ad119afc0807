"""Fixtures: the shipped catalog, and a scratch copy of the product files to break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledger.products.catalog import ProductCatalog, default_products_dir


@pytest.fixture(scope="session")
def catalog() -> ProductCatalog:
    return ProductCatalog.load(default_products_dir())


@pytest.fixture
def products_copy(tmp_path: Path) -> Path:
    """``<tmp>/products`` holding copies of the product files, the tables and the mortality tables."""
    source = default_products_dir()
    target = tmp_path / "products"
    target.mkdir()
    for path in source.glob("*.toml"):
        shutil.copy(path, target / path.name)
    shutil.copytree(source / "tables", target / "tables")
    shutil.copytree(source / "mortality", target / "mortality")
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in the file with ``new`` (which must be there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
