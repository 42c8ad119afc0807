"""The layers as gates: an AST check of every import in ``ledger/`` and ``api/`` against the rules of DESIGN.md.

- ``ledger/`` never imports FastAPI, Starlette, uvicorn or ``api``;
- only ``ledger.anchoring`` imports web3 and the Ethereum packages; only ``ledger.store`` speaks SQL;
- a layer imports only its own layer and those below it (edges -> app -> services -> ... -> log -> crypto);
- the edges reach the ledger through its services, never the store, the writer or the chain directly;
- resource packages do not import each other, except another's ``projection`` (read models);
- ``decide`` modules are pure: no I/O, no clock, no randomness, nothing from the store, writer, chain or crypto.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import modules of its own layer and of the layers below; journal and anchoring
# share a layer but must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("ledger.errors", "ledger.clock", "ledger.money"),
    ("ledger.crypto",),
    ("ledger.log",),
    ("ledger.store", "ledger.settings"),
    ("ledger.projections", "ledger.products"),
    ("ledger.journal", "ledger.anchoring"),
    ("ledger.services", "ledger.workflow", "ledger.parties", "ledger.policies", "ledger.servicing", "ledger.claims",
     "ledger.advice", "ledger.documents", "ledger.verify"),
    ("ledger.app",),
    ("api",),
]
RESOURCES = ("ledger.parties", "ledger.policies", "ledger.servicing", "ledger.claims", "ledger.advice")
SIBLINGS_APART = (("ledger.journal", "ledger.anchoring"),)
WEB_PACKAGES = ("fastapi", "starlette", "uvicorn", "api")
CHAIN_PACKAGES = ("web3", "eth", "eth_tester", "eth_account", "eth_abi", "eth_utils", "eth_typing", "solcx")
SQL_PACKAGES = ("sqlalchemy", "alembic", "psycopg", "sqlite3")
# The embedded chain keeps the EVM's state in a SQLite key-value file of its own (not the ledger's database).
OWN_STATE_FILES = ("ledger.anchoring.embedded",)
EDGE_FORBIDDEN = ("ledger.store", "ledger.journal", "ledger.anchoring")
IMPURE = ("os", "time", "random", "secrets", "socket", "threading", "subprocess", "requests", "httpx", "uuid",
          "ledger.store", "ledger.journal", "ledger.anchoring", "ledger.services", "ledger.crypto", "ledger.app",
          "ledger.workflow", *SQL_PACKAGES, *CHAIN_PACKAGES)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module, or module.name for ``from module import name``)
    line: int


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every import in ``source`` (module level, in functions, under TYPE_CHECKING), relative ones resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}" if base else alias.name, node.lineno)


def layer_of(name: str) -> int | None:
    for number, packages in enumerate(LAYERS):
        if any(_under(name, package) for package in packages):
            return number
    return None


def violations(found: Import) -> list[str]:
    """What is wrong with one import, by the rules above (empty if nothing)."""
    module, target = found.module, found.target
    problems = []
    where = f"{module}:{found.line} imports {target}"
    top = target.split(".")[0]
    if _under(module, "ledger") and any(_under(target, p) for p in WEB_PACKAGES):
        problems.append(f"{where}: ledger/ never imports the web layer")
    if top in CHAIN_PACKAGES and not _under(module, "ledger.anchoring") and not module.startswith("tests"):
        problems.append(f"{where}: only ledger.anchoring talks to the chain")
    if top in SQL_PACKAGES and not _under(module, "ledger.store") and module not in OWN_STATE_FILES:
        problems.append(f"{where}: only ledger.store speaks SQL")
    if _under(module, "api") and any(_under(target, p) for p in EDGE_FORBIDDEN):
        problems.append(f"{where}: the edges reach the ledger through its services")
    mine, theirs = layer_of(module), layer_of(target)
    if mine is not None and theirs is not None and theirs > mine:
        problems.append(f"{where}: a lower layer imports a higher one")
    for first, second in SIBLINGS_APART:
        if (_under(module, first) and _under(target, second)) or (_under(module, second) and _under(target, first)):
            problems.append(f"{where}: {first} and {second} do not import each other")
    for resource in RESOURCES:
        for other in RESOURCES:
            if other != resource and _under(module, resource) and _under(target, other) \
                    and not _under(target, other + ".projection"):
                problems.append(f"{where}: a resource package reads another's projection only")
    is_decide = module.split(".")[-1] == "decide" or ".decide." in module
    if is_decide and any(_under(target, p) for p in IMPURE):
        problems.append(f"{where}: decide functions are pure (no I/O, clock, randomness, store or crypto)")
    return problems


def project_imports() -> Iterator[Import]:
    for folder in ("ledger", "api"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic's revisions speak SQL by nature and are run only by ledger.store.migrate
            yield from imports_of(path.read_text(encoding="utf-8"), _module_name(path),
                                  is_package=path.name == "__init__.py")


def test_every_import_keeps_the_layers() -> None:
    found = [problem for item in project_imports() for problem in violations(item)]
    assert not found, "\n".join(found)


def test_the_checker_sees_the_whole_tree() -> None:
    modules = {item.module for item in project_imports()}
    for expected in ("ledger.app", "ledger.journal.writer", "ledger.store.rows", "ledger.anchoring.chain",
                     "api.routes.events", "api.cli.main"):
        assert expected in modules


@pytest.mark.parametrize(("module", "source", "rule"), [
    ("ledger.log.merkle", "from ledger.journal.writer import Journal", "a lower layer imports a higher one"),
    ("ledger.crypto.keys", "import ledger.app", "a lower layer imports a higher one"),
    ("ledger.journal.writer", "from fastapi import Request", "ledger/ never imports the web layer"),
    ("ledger.services.log", "import web3", "only ledger.anchoring talks to the chain"),
    ("ledger.projections.streams", "from sqlalchemy import select", "only ledger.store speaks SQL"),
    ("api.routes.log", "from ledger.store import Store", "the edges reach the ledger through its services"),
    ("ledger.journal.writer", "from ledger.anchoring.worker import Anchorer", "do not import each other"),
    ("ledger.claims.service", "from ledger.policies.state import fold", "another's projection only"),
    ("ledger.policies.decide", "import time", "decide functions are pure"),
    ("ledger.policies.decide", "from ledger.store import Store", "decide functions are pure"),
    ("ledger.log.note", "from .. import app", "a lower layer imports a higher one"),
])
def test_each_rule_catches_what_it_forbids(module: str, source: str, rule: str) -> None:
    found = [problem for item in imports_of(source, module) for problem in violations(item)]
    assert any(rule in problem for problem in found), found


def test_allowed_imports_pass() -> None:
    allowed = [("ledger.claims.service", "from ledger.policies.projection import policy_of"),
               ("ledger.services.log", "from ledger.store import Store"),
               ("api.routes.log", "from ledger.services.log import LogService"),
               ("ledger.anchoring.worker", "from web3 import Web3"),
               ("ledger.store.rows", "from sqlalchemy import select"),
               ("ledger.policies.decide", "from decimal import Decimal")]
    for module, source in allowed:
        assert [p for item in imports_of(source, module) for p in violations(item)] == [], (module, source)
