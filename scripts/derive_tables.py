"""Derive the rate and cash-value tables of every product in products/ and write them to products/tables/.

    .venv/bin/python scripts/derive_tables.py            # (re)write products/tables/*.json
    .venv/bin/python scripts/derive_tables.py --check    # exit 1 with one line if a shipped table differs

Each table is derived from the basis section of the product that references it (mortality table, interest,
loading, claim multiple, surrender charges; or the factor table of a one-year product); see products/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ledger.errors import ValidationFailed
from ledger.products.derive import derive_all
from ledger.products.fields import parse_model, read_toml
from ledger.products.mortality import load_mortality_dir
from ledger.products.schema import ProductDefinition

ROOT = Path(__file__).resolve().parents[1]


def derive(directory: Path) -> dict[str, dict[str, Any]]:
    """Every table the product files in ``directory`` reference, by id; raises ``ValidationFailed``."""
    definitions = []
    for path in sorted(directory.glob("*.toml")):
        source = f"{directory.name}/{path.name}"
        definitions.append(parse_model(ProductDefinition, read_toml(path, source=source), source=source))
    return derive_all(definitions, load_mortality_dir(directory / "mortality"))


def render(table: dict[str, Any]) -> str:
    """Compact JSON with one row a line, so that a change shows as a small diff."""
    head = {key: value for key, value in table.items() if key not in ("rows", "digest")}
    lines = ["{"]
    lines += [f"{json.dumps(key)}:{json.dumps(value, ensure_ascii=False, separators=(',', ':'))}," for key, value
              in head.items()]
    lines.append('"rows":[')
    rows = table["rows"]
    lines += [json.dumps(row, separators=(",", ":")) + ("," if index < len(rows) - 1 else "")
              for index, row in enumerate(rows)]
    lines.append("],")
    lines.append(f'"digest":{json.dumps(table["digest"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def check(directory: Path, tables: dict[str, dict[str, Any]]) -> str | None:
    """The first difference between the derived ``tables`` and the files in ``directory/tables``, or None."""
    shipped = {path.stem: path for path in sorted((directory / "tables").glob("*.json"))}
    for table_id, table in sorted(tables.items()):
        path = shipped.pop(table_id, None)
        if path is None:
            return f"{directory.name}/tables/{table_id}.json is missing; run scripts/derive_tables.py"
        try:
            held = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"{directory.name}/tables/{path.name} cannot be read: {exc}"
        if held != table:
            return (f"{directory.name}/tables/{path.name} differs from what its product's basis derives "
                    f"(shipped {held.get('digest') if isinstance(held, dict) else None}, derived {table['digest']}); "
                    "run scripts/derive_tables.py")
    if shipped:
        name = sorted(shipped)[0]
        return f"{directory.name}/tables/{name}.json is referenced by no product; remove it"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="re-derive and compare; write nothing")
    parser.add_argument("--products", type=Path, default=ROOT / "products", help="the products directory")
    args = parser.parse_args(argv)
    directory: Path = args.products
    try:
        tables = derive(directory)
    except ValidationFailed as exc:
        print(f"derive_tables: {exc.message}", file=sys.stderr)
        return 1
    if args.check:
        problem = check(directory, tables)
        if problem is not None:
            print(f"derive_tables --check: {problem}", file=sys.stderr)
            return 1
        print(f"derive_tables --check: {len(tables)} tables match their products' bases")
        return 0
    (directory / "tables").mkdir(exist_ok=True)
    for table_id, table in sorted(tables.items()):
        (directory / "tables" / f"{table_id}.json").write_text(render(table), encoding="utf-8")
    print(f"derive_tables: wrote {len(tables)} tables to {directory / 'tables'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
