"""scripts/derive_tables.py: the shipped tables are what their bases derive; --check fails on any difference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ledger.products.catalog import default_products_dir
from ledger.products.tables import table_digest
from tests.conftest import load_script
from tests.ledger.products.conftest import edit

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "derive_tables.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_check_passes_on_the_shipped_tables() -> None:
    done = run("--check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "derive_tables --check: 9 tables match their products' bases"


def test_check_fails_on_an_altered_table_with_one_line(products_copy: Path) -> None:
    path = products_copy / "tables" / "term-life-v1-rates.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    table["rows"][3]["values"][12] += 1  # one fen, with a digest recomputed to match
    table["digest"] = table_digest(table)
    path.write_text(json.dumps(table), encoding="utf-8")
    done = run("--check", "--products", str(products_copy))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("derive_tables --check: products/tables/term-life-v1-rates.json differs from what its "
                               "product's basis derives")
    assert table["digest"] in lines[0]


def test_check_fails_when_a_basis_changes_without_re_deriving(products_copy: Path) -> None:
    edit(products_copy / "critical-illness.toml", 'claim_multiple = "1.5"', 'claim_multiple = "1.6"')
    done = run("--check", "--products", str(products_copy))
    assert done.returncode == 1
    assert "critical-illness-v1-cash-values.json differs" in done.stderr


def test_check_fails_on_a_missing_or_stray_table(products_copy: Path) -> None:
    stray = products_copy / "tables" / "old-v0-rates.json"
    stray.write_text("{}", encoding="utf-8")
    done = run("--check", "--products", str(products_copy))
    assert done.returncode == 1
    assert done.stderr.strip() == ("derive_tables --check: products/tables/old-v0-rates.json is referenced by no "
                                   "product; remove it")
    stray.unlink()
    (products_copy / "tables" / "medical-v1-rates.json").unlink()
    done = run("--check", "--products", str(products_copy))
    assert done.returncode == 1
    assert "products/tables/medical-v1-rates.json is missing" in done.stderr


def test_check_names_a_bad_product_file(products_copy: Path) -> None:
    edit(products_copy / "term-life.toml", "terms = [10, 20, 30]", "terms = [10, -5, 30]")
    done = run("--check", "--products", str(products_copy))
    assert done.returncode == 1
    assert done.stderr.strip() == "derive_tables: products/term-life.toml: plans.terms[1]: must be > 0, got -5"


def test_deriving_again_writes_the_same_bytes(products_copy: Path) -> None:
    for path in (products_copy / "tables").glob("*.json"):
        path.unlink()
    script = load_script("derive_tables")
    assert script.main(["--products", str(products_copy)]) == 0
    for path in sorted((default_products_dir() / "tables").glob("*.json")):
        assert (products_copy / "tables" / path.name).read_bytes() == path.read_bytes(), path.name
    assert script.main(["--check", "--products", str(products_copy)]) == 0


def test_every_shipped_table_carries_its_basis_and_a_true_digest() -> None:
    for path in sorted((default_products_dir() / "tables").glob("*.json")):
        table = json.loads(path.read_text(encoding="utf-8"))
        assert table["id"] == path.stem
        assert table["digest"] == table_digest(table)
        basis = table["basis"]
        assert set(basis) == {"product_basis", "mortality", "rule"}
        if basis["product_basis"]["method"] == "commutation":
            assert basis["mortality"]["id"] == "cl-2010-2013"
            assert basis["product_basis"]["interest"] == "0.025"
        else:
            assert basis["mortality"] is None
            assert "not derived from mortality" in basis["product_basis"]["note"]
