"""The layers as gates: an AST check of every module in ``ledger/`` and ``api/`` against the rules of DESIGN.md.

- every module of ``ledger/`` belongs to a declared layer (``LAYERS``); a new package fails until it is placed;
- ``ledger/`` never imports FastAPI, Starlette, uvicorn or ``api``;
- only ``ledger.anchoring`` imports web3 and the Ethereum packages; only ``ledger.store`` speaks SQL;
- a layer imports only its own layer and those below it (edges -> app -> services -> ... -> log -> crypto);
- the edges reach the ledger only through the composition root, its services, errors and settings, the log's
  public formats and the value types the services take and return (``EDGE_*``); on a ``Ledger`` they touch only
  the services, the settings and open/start/close, never the store, writer, checkpointer, keys or chain;
- resource packages do not import each other, except another's read models: its ``projection`` (rows) and its
  ``state`` (the pure fold of its stream: a servicing request reads the contract it changes); resource and other
  domain packages, and the resources' projections, reach the store, writer, chain and keys through the services;
- ``decide`` code (a ``decide`` module or package, and any ``decide*`` function in ``ledger/``) is pure: no I/O,
  no clock, no randomness, nothing from the store, writer, chain or crypto, by import, by use or by call.

``importlib.import_module("...")`` and ``__import__("...")`` count as imports; one whose module name is not a
literal is refused, so that every import can be checked.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import modules of its own layer and of the layers below; journal and anchoring
# share a layer but must not import each other. Every module under ledger/ must fall under one of these.
LAYERS: list[tuple[str, ...]] = [
    ("ledger.errors", "ledger.clock", "ledger.money", "ledger.peers", "ledger.cooperative"),
    ("ledger.crypto",),
    ("ledger.log",),
    ("ledger.store", "ledger.settings"),
    ("ledger.projections", "ledger.products", "ledger.kernel"),
    ("ledger.journal", "ledger.anchoring"),
    ("ledger.services", "ledger.workflow", "ledger.parties", "ledger.policies", "ledger.servicing", "ledger.claims",
     "ledger.advice", "ledger.documents", "ledger.verify"),
    ("ledger.app",),
    ("api",),
]
RESOURCES = ("ledger.parties", "ledger.policies", "ledger.servicing", "ledger.claims", "ledger.advice")
# Domain packages know events, rules and read models; storage, the writer, the chain and keys are the services'.
DOMAIN = (*RESOURCES, "ledger.products", "ledger.documents")
# Pure helpers every resource that names people uses (identity-number checks, ages, masking): the one exception
# to "resources do not import each other".
SHARED_KERNEL = ("ledger.parties.identity",)
# The log's own projections and the projection machinery; every other module of ledger.projections is the
# projection of a resource and is held to the domain's rule.
LOG_PROJECTIONS = ("ledger.projections.base", "ledger.projections.registry", "ledger.projections.rows",
                   "ledger.projections.scopes", "ledger.projections.streams", "ledger.projections.system_keys")
DOMAIN_FORBIDDEN = ("ledger.store", "ledger.journal", "ledger.anchoring", "ledger.crypto")
SIBLINGS_APART = (("ledger.journal", "ledger.anchoring"),)
WEB_PACKAGES = ("fastapi", "starlette", "uvicorn", "api")
CHAIN_PACKAGES = ("web3", "eth", "eth_tester", "eth_account", "eth_abi", "eth_utils", "eth_typing", "solcx")
SQL_PACKAGES = ("sqlalchemy", "alembic", "psycopg", "sqlite3")
# The embedded chain keeps the EVM's state in a SQLite key-value file of its own (not the ledger's database).
OWN_STATE_FILES = ("ledger.anchoring.embedded",)
# All the edges (api/) may import from ledger/: the composition root, the services, errors and settings ...
RESOURCE_SERVICES = tuple(f"{resource}.service" for resource in RESOURCES)  # each resource's service module
# ``ledger.verify`` is the audit's service: the trail, evidence bundles and the offline verifier the CLI runs.
EDGE_GATES = ("ledger.app", "ledger.services", "ledger.errors", "ledger.settings", "ledger.money", "ledger.verify",
              "ledger.cooperative", *RESOURCE_SERVICES)
# ... the log's public formats (no domain: encoding, statements, tree, signed notes), which the API's codecs, the
# clients and the offline verifier apply at the edge ...
EDGE_FORMATS = ("ledger.log",)
# ... and, by name, the value types the services take and return that live below them.
EDGE_VALUE_TYPES = ("ledger.projections.scopes.KeyScope", "ledger.projections.system_keys.KeyState",
                    "ledger.crypto.keys.SigningKey",
                    # pure helpers the CLI's demo uses: sample declarations, identity check characters, dates
                    "ledger.policies.rules.samples", "ledger.parties.identity.resident_id_check_char",
                    "ledger.clock.FixedClock", "ledger.clock.add_months")
# On a Ledger the edges use its services (found in ledger/app.py) and these ...
LEDGER_FACE = ("settings", "open", "start", "close", "writer_for_workers", "chain_for_workers")
# ... and on a service, neither its private members nor these, which hand out what lies below it (the anchoring
# worker and its outbox store). A service is seen as ``<ledger>.<service>`` or by its annotation.
SERVICE_INTERNALS = {"anchoring": ("anchorer", "jobs", "worker")}
SERVICE_ANNOTATIONS = {"AnchorService": "anchoring", "AnchoringDep": "anchoring"}
EDGE_RULE = "the edges reach the ledger through its services"
IMPURE = ("os", "io", "time", "random", "secrets", "socket", "threading", "subprocess", "multiprocessing",
          "concurrent", "asyncio", "pathlib", "shutil", "tempfile", "urllib", "http", "requests", "httpx", "uuid",
          "ledger.store", "ledger.journal", "ledger.anchoring", "ledger.services", "ledger.crypto", "ledger.app",
          "ledger.workflow", *SQL_PACKAGES, *CHAIN_PACKAGES)
# Calls that read the clock, the disk or chance, also when the module they come from is not imported as impure;
# the short spellings match code that names ``datetime`` or ``date`` without importing it here.
IMPURE_CALLS = ("datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
                "datetime.date.today", "datetime.now", "datetime.utcnow", "datetime.today", "date.today",
                "open", "input", "io.open", "uuid.uuid1", "uuid.uuid4")
IMPURE_CALL_MODULES = ("time", "random", "secrets", "os")  # any call into these
PURE_RULE = "decide functions are pure (no I/O, clock, randomness, store or crypto)"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module, or module.name for ``from module import name``)
    line: int
    pure: bool = False  # made in decide code


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str, *, is_package: bool, level: int, name: str) -> str:
    package = module.split(".") if is_package else module.split(".")[:-1]
    anchor = package[: len(package) - (level - 1)]
    return ".".join([*anchor, *([name] if name else [])])


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def is_decide_module(module: str) -> bool:
    return module.split(".")[-1] == "decide" or ".decide." in module


def is_domain(module: str) -> bool:
    """A resource or other domain package, or the projection of a resource."""
    if any(_under(module, package) for package in DOMAIN):
        return True
    return _under(module, "ledger.projections") and module != "ledger.projections" \
        and not any(_under(module, core) for core in LOG_PROJECTIONS)


def edge_may_import(target: str) -> bool:
    return any(_under(target, gate) for gate in (*EDGE_GATES, *EDGE_FORMATS)) or target in EDGE_VALUE_TYPES


@functools.cache
def ledger_face() -> frozenset[str]:
    """What the edges may touch on a ``Ledger``: the attributes ``ledger/app.py`` sets to a service, and
    ``LEDGER_FACE``."""
    tree = ast.parse((ROOT / "ledger" / "app.py").read_text(encoding="utf-8"))
    services = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (any(_under(node.module or "", package) for package in ("ledger.services", "ledger.verify"))
                     or node.module in RESOURCE_SERVICES)
                for alias in node.names}
    face = set(LEDGER_FACE)
    for cls in ast.walk(tree):
        if not (isinstance(cls, ast.ClassDef) and cls.name == "Ledger"):
            continue
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and isinstance(node.value.func, ast.Name) and node.value.func.id in services:
                face.update(target.attr for target in node.targets if isinstance(target, ast.Attribute)
                            and isinstance(target.value, ast.Name) and target.value.id == "self")
    return frozenset(face)


class _Scanner(ast.NodeVisitor):
    """Walks one module: its imports (static and by importlib), calls in decide code, and use of a Ledger."""

    def __init__(self, tree: ast.Module, module: str, *, is_package: bool) -> None:
        self.module, self.is_package = module, is_package
        self.edge = _under(module, "api")
        self.pure = is_decide_module(module)  # the whole module is decide code
        self.imports: list[Import] = []
        self.problems: list[str] = []
        self.bound: dict[str, str] = {}  # local name -> what an import bound it to
        self.ledger_names: set[str] = set()  # local names annotated as holding a Ledger
        self.service_names: dict[str, str] = {}  # local names annotated as holding a service -> which
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.bound[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = self._from_base(node)
                for alias in node.names:
                    self.bound[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
            elif isinstance(node, ast.arg) and node.annotation is not None:
                self._note_annotated(node.arg, node.annotation)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                self._note_annotated(node.target.id, node.annotation)

    def _note_annotated(self, name: str, annotation: ast.expr) -> None:
        if _names_type(annotation, ("Ledger", "LedgerDep")):
            self.ledger_names.add(name)
        for type_name, service in SERVICE_ANNOTATIONS.items():
            if _names_type(annotation, (type_name,)):
                self.service_names[name] = service

    def _from_base(self, node: ast.ImportFrom) -> str:
        if node.level:
            return _resolve_relative(self.module, is_package=self.is_package, level=node.level, name=node.module or "")
        return node.module or ""

    def _resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        bound = self.bound.get(head, head)
        return f"{bound}.{rest}" if rest else bound

    def _add(self, target: str, line: int) -> None:
        self.imports.append(Import(self.module, target, line, self.pure))

    def _where(self, node: ast.expr | ast.stmt) -> str:
        return f"{self.module}:{node.lineno}"

    # -- imports -------------------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._from_base(node)
        for alias in node.names:
            self._add(f"{base}.{alias.name}" if base else alias.name, node.lineno)

    def _dynamic_import(self, node: ast.Call, function: str) -> None:
        """``importlib.import_module(name, package)`` and ``__import__(name, globals, locals, fromlist, level)``."""
        keywords = {keyword.arg: keyword.value for keyword in node.keywords if keyword.arg}
        first = node.args[0] if node.args else keywords.get("name")
        name = _literal(first)
        if name is None:
            self.problems.append(f"{self._where(node)} calls {function} with a computed name: a dynamic import "
                                 f"names its module with a literal, so that the layers can check it")
            return
        if function == "importlib.import_module":
            if name.startswith("."):
                package_arg = node.args[1] if len(node.args) > 1 else keywords.get("package")
                level = len(name) - len(name.lstrip("."))
                anchor = _literal(package_arg)
                if anchor is None and isinstance(package_arg, ast.Name) and package_arg.id == "__package__":
                    anchor = self.module if self.is_package else self.module.rpartition(".")[0]
                if anchor is None:
                    self.problems.append(f"{self._where(node)} calls {function} with a relative name and no literal "
                                         f"package: a dynamic import names its module with a literal")
                    return
                name = _resolve_relative(anchor, is_package=True, level=level, name=name.lstrip("."))
            self._add(name, node.lineno)
            return
        level_arg = node.args[4] if len(node.args) > 4 else keywords.get("level")
        level = level_arg.value if isinstance(level_arg, ast.Constant) and isinstance(level_arg.value, int) else 0
        if level:
            name = _resolve_relative(self.module, is_package=self.is_package, level=level, name=name)
        fromlist = node.args[3] if len(node.args) > 3 else keywords.get("fromlist")
        names = [_literal(item) for item in fromlist.elts] if isinstance(fromlist, ast.List | ast.Tuple) else []
        if names and all(names):
            for item in names:
                self._add(f"{name}.{item}", node.lineno)
        else:
            self._add(name, node.lineno)

    # -- calls, names and attributes -----------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer = self.pure
        self.pure = outer or (_under(self.module, "ledger") and node.name.startswith("decide"))
        self.generic_visit(node)
        self.pure = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        dotted = _dotted(node.func)
        resolved = self._resolve(dotted) if dotted else None
        if resolved == "importlib.import_module" or resolved in ("__import__", "builtins.__import__"):
            self._dynamic_import(node, "importlib.import_module" if resolved == "importlib.import_module"
                                 else "__import__")
        if self.edge and dotted == "getattr" and node.args and self._names_ledger(node.args[0]):
            attribute = _literal(node.args[1]) if len(node.args) > 1 else None
            if attribute is None or attribute not in ledger_face():
                self.problems.append(f"{self._where(node)} reads Ledger.{attribute or '<computed>'}: {EDGE_RULE} "
                                     f"({', '.join(sorted(ledger_face()))})")
        if self.pure and dotted and resolved and self._impure_call(dotted, resolved):
            self.problems.append(f"{self._where(node)} calls {dotted}: {PURE_RULE}")
            for child in (*node.args, *node.keywords):
                self.visit(child)
            return
        self.generic_visit(node)

    @staticmethod
    def _impure_call(dotted: str, resolved: str) -> bool:
        return any(name in IMPURE_CALLS or (name.split(".")[0] in IMPURE_CALL_MODULES and "." in name)
                   for name in (dotted, resolved))

    def visit_Name(self, node: ast.Name) -> None:
        # In a decide function of an ordinary module, a name the module imported from something impure; in a
        # decide module the import itself is already refused.
        if self.pure and not is_decide_module(self.module) and isinstance(node.ctx, ast.Load) \
                and node.id in self.bound and any(_under(self.bound[node.id], p) for p in IMPURE):
            self.problems.append(f"{self._where(node)} uses {node.id} ({self.bound[node.id]}): {PURE_RULE}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.edge and self._names_ledger(node.value) and node.attr not in ledger_face():
            self.problems.append(f"{self._where(node)} uses Ledger.{node.attr}: {EDGE_RULE} "
                                 f"({', '.join(sorted(ledger_face()))})")
        service = self._names_service(node.value) if self.edge else None
        if service is not None and (node.attr.startswith("_") or node.attr in SERVICE_INTERNALS.get(service, ())):
            self.problems.append(f"{self._where(node)} uses {service}.{node.attr}, which hands out what lies below "
                                 f"the service: {EDGE_RULE}")
        self.generic_visit(node)

    def _names_service(self, node: ast.expr) -> str | None:
        """Which service ``node`` holds: ``<ledger>.<service>``, or a name annotated with a service's type."""
        if isinstance(node, ast.Attribute) and self._names_ledger(node.value) and node.attr in ledger_face():
            return node.attr
        if isinstance(node, ast.Name):
            return self.service_names.get(node.id)
        return None

    def _names_ledger(self, node: ast.expr) -> bool:
        """Whether ``node`` holds a Ledger (or is the class): by its name ``ledger`` (``ledger``, ``self.ledger``,
        ``request.app.state.ledger``), by annotation, or as the name imported from ``ledger.app``."""
        if isinstance(node, ast.Attribute):
            return node.attr == "ledger"
        if isinstance(node, ast.Name):
            if self.bound.get(node.id) == "ledger.app.Ledger" or node.id in self.ledger_names:
                return True
            return node.id == "ledger" and node.id not in self.bound  # not the package ``ledger``
        return False


def _names_type(annotation: ast.expr, names: tuple[str, ...]) -> bool:
    """Whether an annotation mentions one of ``names`` (``X``, ``X | None``, ``Annotated[X, ...]``, ``"X"``)."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id in names:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and any(re.search(rf"\b{name}\b", node.value) for name in names):
            return True
    return False


def scan(source: str, module: str, *, is_package: bool = False) -> tuple[list[Import], list[str]]:
    """The imports of ``source`` (module level, in functions, under TYPE_CHECKING, by importlib; relative ones
    resolved) and what is wrong beyond imports (calls in decide code, a Ledger's internals, computed imports)."""
    tree = ast.parse(source)
    scanner = _Scanner(tree, module, is_package=is_package)
    scanner.visit(tree)
    return scanner.imports, scanner.problems


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    return scan(source, module, is_package=is_package)[0]


def layer_of(name: str) -> int | None:
    for number, packages in enumerate(LAYERS):
        if any(_under(name, package) for package in packages):
            return number
    return None


def unplaced(module: str) -> str | None:
    """Why ``module`` is in no layer, or None. (The package ``ledger`` itself is only a namespace.)"""
    if not _under(module, "ledger") or module == "ledger" or layer_of(module) is not None:
        return None
    package = ".".join(module.split(".")[:2])
    return (f"{module} belongs to no layer: add {package!r} to the tuple of its layer in LAYERS in "
            f"tests/test_layers.py (lowest first), and to RESOURCES if it is a resource package")


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
    if _under(module, "api") and _under(target, "ledger") and not edge_may_import(target):
        problems.append(f"{where}: {EDGE_RULE}, errors and settings, the log's formats and the services' value "
                        f"types (EDGE_GATES, EDGE_FORMATS, EDGE_VALUE_TYPES)")
    mine, theirs = layer_of(module), layer_of(target)
    if mine is not None and theirs is not None and theirs > mine:
        problems.append(f"{where}: a lower layer imports a higher one")
    for first, second in SIBLINGS_APART:
        if (_under(module, first) and _under(target, second)) or (_under(module, second) and _under(target, first)):
            problems.append(f"{where}: {first} and {second} do not import each other")
    for resource in RESOURCES:
        for other in RESOURCES:
            if other != resource and _under(module, resource) and _under(target, other) \
                    and not _under(target, other + ".projection") and not _under(target, other + ".state") \
                    and not any(_under(target, shared) for shared in SHARED_KERNEL):
                problems.append(f"{where}: a resource package reads another's projection (or state) only")
    if is_domain(module) and any(_under(target, p) for p in DOMAIN_FORBIDDEN):
        problems.append(f"{where}: a resource package reaches the store, writer, chain and keys through the "
                        f"services")
    if (found.pure or is_decide_module(module)) and any(_under(target, p) for p in IMPURE):
        problems.append(f"{where}: {PURE_RULE}")
    return problems


def problems_in(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Everything wrong with one module by the rules above."""
    found, problems = scan(source, module, is_package=is_package)
    place = unplaced(module)
    return [*([place] if place else []), *(p for item in found for p in violations(item)), *problems]


def project_modules() -> Iterator[tuple[str, str, bool]]:
    """(module, source, is_package) for every module of ledger/ and api/."""
    for folder in ("ledger", "api"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic's revisions speak SQL by nature and are run only by ledger.store.migrate
            yield _module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py"


def test_every_module_keeps_the_layers() -> None:
    found = [problem for module, source, is_package in project_modules()
             for problem in problems_in(source, module, is_package=is_package)]
    assert not found, "\n".join(found)


def test_every_ledger_module_is_in_a_layer() -> None:
    found = [problem for module, _, _ in project_modules() if (problem := unplaced(module))]
    assert not found, "\n".join(found)


def test_the_checker_sees_the_whole_tree() -> None:
    modules = {module for module, _, _ in project_modules()}
    for expected in ("ledger.app", "ledger.journal.writer", "ledger.store.rows", "ledger.anchoring.chain",
                     "api.routes.events", "api.cli.main", "api.metrics"):
        assert expected in modules
    imported = {item.target for module, source, is_package in project_modules()
                for item in imports_of(source, module, is_package=is_package)}
    assert "ledger.journal.writer.Journal" in imported


def test_the_tables_agree() -> None:
    """Every package the rules name is in a layer; the Ledger's face holds its services."""
    for package in (*RESOURCES, *DOMAIN, *LOG_PROJECTIONS, *DOMAIN_FORBIDDEN, *EDGE_GATES, *EDGE_FORMATS,
                    *(name.rpartition(".")[0] for name in EDGE_VALUE_TYPES)):
        assert layer_of(package) is not None, package
    assert {"log", "intake", "keys", "anchoring", "audit", "settings", "open", "start", "close"} <= ledger_face()
    assert not {"journal", "checkpointer", "store", "secrets", "registry"} & ledger_face()


@pytest.mark.parametrize(("module", "source", "rule"), [
    ("ledger.log.merkle", "from ledger.journal.writer import Journal", "a lower layer imports a higher one"),
    ("ledger.crypto.keys", "import ledger.app", "a lower layer imports a higher one"),
    ("ledger.journal.writer", "from fastapi import Request", "ledger/ never imports the web layer"),
    ("ledger.services.log", "import web3", "only ledger.anchoring talks to the chain"),
    ("ledger.projections.streams", "from sqlalchemy import select", "only ledger.store speaks SQL"),
    ("api.routes.log", "from ledger.store import Store", EDGE_RULE),
    ("ledger.journal.writer", "from ledger.anchoring.worker import Anchorer", "do not import each other"),
    ("ledger.claims.service", "from ledger.policies.decide import decide", "another's projection (or state) only"),
    ("ledger.servicing.decide", "from ledger.policies.service import PolicyService",
     "another's projection (or state) only"),
    ("ledger.policies.decide", "import time", "decide functions are pure"),
    ("ledger.policies.decide", "from ledger.store import Store", "decide functions are pure"),
    ("ledger.log.note", "from .. import app", "a lower layer imports a higher one"),
    # imports by importlib and __import__ count
    ("ledger.log.merkle", "import importlib\nimportlib.import_module('ledger.journal.writer')",
     "a lower layer imports a higher one"),
    ("ledger.log.merkle", "from importlib import import_module as load\nload('ledger.app')",
     "a lower layer imports a higher one"),
    ("ledger.log.note", "import importlib\nimportlib.import_module('..app', package=__package__)",
     "a lower layer imports a higher one"),
    ("ledger.projections.streams", "__import__('sqlalchemy')", "only ledger.store speaks SQL"),
    ("ledger.services.log", "def later():\n    return __import__('web3')", "only ledger.anchoring talks to the chain"),
    ("api.routes.log", "__import__('ledger.store', fromlist=['Store'])", EDGE_RULE),
    ("ledger.log.merkle", "import importlib\nname = 'ledger.journal'\nimportlib.import_module(name)",
     "names its module with a literal"),
    ("ledger.log.merkle", "__import__('ledger.' + 'journal')", "names its module with a literal"),
    # decide code is pure: decide modules, decide packages and decide* functions in ledger/
    ("ledger.policies.decide", "from datetime import datetime\ndef decide(state, command):\n    return datetime.now()",
     "decide functions are pure"),
    ("ledger.claims.decide.benefit", "import datetime\ndef due():\n    return datetime.datetime.utcnow()",
     "decide functions are pure"),
    ("ledger.claims.decide", "from datetime import date\ndef decide(state, command, now):\n    return date.today()",
     "decide functions are pure"),
    ("ledger.policies.decide", "def decide(state, command, now):\n    return open('rules.json').read()",
     "decide functions are pure"),
    ("ledger.policies.decide", "def decide(state, command, now):\n    return random.random() < 0.5",
     "decide functions are pure"),
    ("ledger.policies.decide", "def decide(state, command, now):\n    return uuid.uuid4()",
     "decide functions are pure"),
    ("ledger.policies.service", "import time\ndef decide_issue(state, command):\n    return time.time()",
     "decide functions are pure"),
    ("ledger.policies.service", "from datetime import datetime as dt\ndef decide(state, command):\n    return dt.now()",
     "decide functions are pure"),
    ("ledger.servicing.service", "import uuid\nclass Flow:\n    def decide(self, state):\n        return uuid.uuid4()",
     "decide functions are pure"),
    ("ledger.claims.service", "def decide(state, command, now):\n    from ledger.journal.writer import Journal",
     "decide functions are pure"),
    ("ledger.claims.service", "from ledger.services.log import LogService\n"
                              "def decide_payment(state, command, now):\n    return LogService",
     "decide functions are pure"),
    ("ledger.policies.service", "def decide(state, command, now):\n    return __import__('ledger.anchoring')",
     "decide functions are pure"),
    # domain packages and the resources' projections stay off the store, writer, chain and keys
    ("ledger.policies.projection", "from ledger.store.specs import TableSpec", "through the services"),
    ("ledger.claims.service", "from ledger.journal.units import Receipt", "through the services"),
    ("ledger.parties.service", "from ledger.anchoring.worker import Anchorer", "through the services"),
    ("ledger.advice.rules", "from ledger.crypto.sealing import seal", "through the services"),
    ("ledger.products.tables", "from ledger.store import Store", "through the services"),
    ("ledger.projections.policies", "from ledger.crypto.keys import LEDGER_KEY_ID", "through the services"),
    # every module of ledger/ is in a layer
    ("ledger.widgets.core", "VALUE = 1", "belongs to no layer: add 'ledger.widgets'"),
    ("ledger.widgets", "", "LAYERS in tests/test_layers.py"),
    # the edges: what they import, and what they touch on a Ledger
    ("api.metrics", "from ledger.journal.writer import Journal", EDGE_RULE),
    ("api.cli.main", "from ledger.crypto.keys import LocalKeys", EDGE_RULE),
    ("api.cli.chain", "from ledger.crypto import keys", EDGE_RULE),
    ("api.routes.keys", "from ledger.projections.system_keys import SystemKeysProjector", EDGE_RULE),
    ("api.routes.log", "import ledger.log.merkle\nimport ledger", EDGE_RULE),
    ("api.metrics", "def refresh(ledger):\n    return ledger.journal.appended", EDGE_RULE),
    ("api.metrics", "class Metrics:\n    def refresh(self):\n        return self.ledger.journal.batches", EDGE_RULE),
    ("api.cli.chain", "with opened(None) as ledger:\n    ledger.checkpointer.start()", EDGE_RULE),
    ("api.bodies", "def read(current: Ledger | None):\n    return current.secrets.token_public_key", EDGE_RULE),
    ("api.deps", "def get(request):\n    return request.app.state.ledger.store", EDGE_RULE),
    ("api.deps", "from ledger.app import Ledger as L\nL.registry", EDGE_RULE),
    ("api.deps", "def get(ledger):\n    return getattr(ledger, 'journal')", EDGE_RULE),
    ("api.cli.chain", "with opened(None) as ledger:\n    ledger.anchoring.worker().start()", EDGE_RULE),
    ("api.metrics", "def f(self):\n    return self.ledger.anchoring.anchorer.last_error", EDGE_RULE),
    ("api.routes.log", "def f(anchoring: AnchoringDep):\n    return anchoring.jobs.count_jobs()", EDGE_RULE),
    ("api.routes.log", "def f(log: LogService, ledger):\n    return ledger.log._store", EDGE_RULE),
])
def test_each_rule_catches_what_it_forbids(module: str, source: str, rule: str) -> None:
    found = problems_in(source, module)
    assert any(rule in problem for problem in found), found


@pytest.mark.parametrize(("module", "source"), [
    ("ledger.claims.service", "from ledger.policies.projection import policy_of"),
    ("ledger.servicing.decide", "from ledger.policies.state import PolicyState"),
    ("ledger.services.log", "from ledger.store import Store"),
    ("api.routes.log", "from ledger.services.log import LogService"),
    ("ledger.anchoring.worker", "from web3 import Web3"),
    ("ledger.store.rows", "from sqlalchemy import select"),
    ("ledger.policies.decide", "from decimal import Decimal"),
    ("ledger.journal.writer", "import importlib\nimportlib.import_module('ledger.store.session')"),
    ("ledger.anchoring.contracts", "from importlib import resources"),
    ("ledger.policies.decide", "from datetime import timedelta\ndef decide(state, command, now):\n"
                               "    return now + timedelta(days=30)"),
    ("ledger.policies.service", "import time\nfrom ledger.policies.events import Issued\ndef load():\n"
                                "    return time.time()\ndef decide(state, command, now):\n    return [Issued(now)]"),
    ("ledger.policies.projection", "from ledger.projections.base import TableSpec"),
    ("ledger.projections.system_keys", "from ledger.crypto.keys import check_key_id"),
    ("api.routes.keys", "from ledger.projections.scopes import KeyScope"),
    ("api.auth", "from ledger.crypto.keys import SigningKey"),
    ("api.cli.main", "from ledger.log.note import NoteVerifier\nfrom ledger.app import PROJECTORS"),
    ("api.problems", "from ledger import errors\nimport ledger.errors\nledger.errors.NotFound"),
    ("api.app", "from ledger.app import Ledger\ndef make(ledger: Ledger):\n    ledger.start()\n"
                "    return ledger.settings, Ledger.open"),
    ("api.metrics", "class Metrics:\n    def refresh(self):\n        return self.ledger.intake.stats()"),
    ("api.cli.chain", "with opened(None) as ledger:\n    ledger.anchoring.deploy(redeploy=False)"),
    ("api.deps", "def get(request):\n    return request.app.state.ledger.log"),
    ("api.routes.log", "def f(anchoring: AnchoringDep):\n"
                       "    return anchoring.status(limit=1).jobs, anchoring.configured"),
])
def test_allowed_code_passes(module: str, source: str) -> None:
    assert problems_in(source, module) == []
