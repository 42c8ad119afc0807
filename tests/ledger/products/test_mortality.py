"""products/mortality/cl-2010-2013.toml against the SOA tables pymort ships, and what loading refuses."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from pymort import MortXML

from ledger.errors import ValidationFailed
from ledger.products.mortality import load_mortality, load_mortality_dir
from ledger.products.schema import Sex

ROOT = Path(__file__).resolve().parents[3]
MORTALITY = ROOT / "products" / "mortality" / "cl-2010-2013.toml"
# pymort's own notices about the libraries it uses
pytestmark = [pytest.mark.filterwarnings("ignore:open_text is deprecated"),
              pytest.mark.filterwarnings("ignore:read_text is deprecated"),
              pytest.mark.filterwarnings("ignore:The inplace keyword")]


@pytest.mark.parametrize(("sex", "soa_id", "code", "word"), [("M", 3375, "CL1", "Male"), ("F", 3376, "CL2", "Female")])
def test_every_rate_matches_the_soa_table(sex: Sex, soa_id: int, code: str, word: str) -> None:
    ours = load_mortality(MORTALITY, source="cl")
    soa = MortXML.from_id(soa_id)
    assert soa.ContentClassification.TableName == f"{code} (2010-2013)"
    assert word in soa.ContentClassification.TableDescription
    assert "Non-Annuity" in soa.ContentClassification.TableDescription
    assert ours.tables[sex].code == code and ours.tables[sex].soa_table_id == soa_id
    values = soa.Tables[0].Values["vals"]
    assert list(values.index) == list(range(106))
    assert len(ours.q(sex)) == 106
    for age in range(106):
        assert ours.q(sex)[age] == Decimal(repr(float(values.loc[age]))), age


def test_published_anchor_rates() -> None:
    table = load_mortality(MORTALITY, source="cl")
    assert (table.q("M")[30], table.q("M")[40], table.q("M")[50]) == (Decimal("0.000797"), Decimal("0.001651"),
                                                                      Decimal("0.004249"))
    assert table.q("F")[30] == Decimal("0.00034")
    assert table.q("M")[105] == table.q("F")[105] == 1
    assert "CIRC" in table.source and "3375" in table.source and "3376" in table.source


def test_nothing_at_run_time_imports_pymort() -> None:
    sources = [*sorted((ROOT / "ledger").rglob("*.py")), ROOT / "scripts" / "derive_tables.py"]
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name.split(".")[0] == "pymort" for name in names), path


def test_a_short_table_is_refused_naming_file_path_and_value(tmp_path: Path) -> None:
    text = MORTALITY.read_text(encoding="utf-8").replace('"0.568497", "1",', '"0.568497",', 1)
    (tmp_path / "mortality").mkdir()
    (tmp_path / "mortality" / "cl.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_mortality_dir(tmp_path / "mortality")
    assert caught.value.message.startswith(f"{tmp_path.name}/mortality/cl.toml: tables.M.q: must hold 106 rates")
    assert caught.value.field == "tables.M.q"


def test_a_rate_above_one_is_refused(tmp_path: Path) -> None:
    text = MORTALITY.read_text(encoding="utf-8").replace('"0.000797"', '"1.5"', 1)
    path = tmp_path / "cl.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed, match=r"^m/cl\.toml: tables\.M\.q\[30\]: must be within \[0, 1\], got 1\.5$"):
        load_mortality(path, source="m/cl.toml")
