"""The shape of the core: no import cycles, and every arrow points the way DESIGN.md draws it.

Every module of ``shimtask_core`` is parsed (not imported) with ``ast``; every
``import`` counts, at module level and inside functions, relative or absolute,
except those under ``if TYPE_CHECKING:`` (never run). A failure names the
modules, the line, and the rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "shimtask_core"
PACKAGE = "shimtask_core"

#: The layering, as one table: unit -> the units it may import (besides its own
#: modules). A unit is a top-level module or subpackage of shimtask_core. DESIGN.md:
#: ``cli -> serve, runtime -> task -> registry, hookspecs -> executor``;
#: ``runtime, task -> literals``; the codec knows nothing about registries, tasks or
#: the CLI; discovery knows nothing about literal values; leaves import only errors.
FACADE = "(package)"  # shimtask_core/__init__.py: the public names, each loaded on first use
LEAVES = {"errors", "version", "context", "settings", "_lazy", "interrupts"}
LAYERS: dict[str, set[str]] = {
    # leaves
    "errors": set(),
    "version": set(),
    "context": {"errors"},
    "settings": {"errors"},  # every SHIMTASK_* variable, one parser per kind
    "_lazy": set(),  # the PEP 562 __getattr__/__dir__ of the facades, from their tables
    "interrupts": set(),  # interruptible(): a stop reaches an execution waiting in C
    "logs": {"settings"},  # the phase lines of an execution
    "storage": {"errors", "logs"},  # logs: what fails in fsspec's background, off stderr
    "limits": {"settings", "errors"},  # SHIMTASK_MAX_*: what one execution may read and build
    # the plugin contract
    "executor": {"errors"},
    "hookspecs": {"executor", "errors"},
    # discovery and resolution: nothing of literals, template, task, runtime, cli
    "registry": {"hookspecs", "executor", "errors", "version", "storage", "settings"},
    "discovery": {"registry"},  # re-export of registry/discovery (the old path)
    "index": {"registry"},  # re-export of registry/index (the old path)
    # the literal codec: nothing of registry, task, runtime, serve, cli
    "literals": {"errors", "context", "storage", "limits", "_lazy"},
    "files": {"literals"},  # re-export of literals/files (the old path)
    "datasets": {"literals"},  # re-export of literals/datasets (the old path)
    # templates and their text
    "sqltemplate": {"errors"},
    "template": {"literals", "registry", "errors"},
    "textinput": {"literals", "errors", "limits"},
    # one execution
    "task": {"registry", "hookspecs", "executor", "literals", "template", "context", "errors"},
    "runtime": {"task", "registry", "template", "literals", "storage", "context", "errors",
                "logs", "limits", "interrupts"},
    "serve": {"runtime", "task", "registry", "template", "literals", "storage", "context",
              "errors", "version", "logs", "interrupts"},
    # a new plugin's files (shimtask plugins new)
    "scaffold": {"template", "registry", "errors", "version"},
    # the consumers: nothing imports them
    "cli": {"serve", "runtime", "task", "registry", "template", "textinput", "literals",
            "storage", "context", "errors", "version", "logs", "scaffold", "settings"},
    # the public names (its _LAZY table); never the consumers below
    FACADE: {"errors", "version", "context", "storage", "executor", "hookspecs", "registry",
             "literals", "files", "datasets", "sqltemplate", "template", "textinput", "task",
             "runtime", "_lazy", "interrupts"},
    # the kit for plugin authors uses the public API, as the plugins it checks do
    "testing": {FACADE, "cli", "runtime", "task", "registry", "template", "literals", "storage",
                "context", "executor", "errors", "version", "_lazy"},
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        what = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.source} -> {self.target}{what} at line {self.line}"


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "__pycache__" not in p.parts}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run: all of them except the bodies of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str) -> str | None:
    """The longest prefix of a dotted name that is a module of the core."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _lazy_edges(tree: ast.Module) -> list[Edge]:
    """The facade's ``_LAZY`` table (name -> submodule) as arrows: they run on first use."""
    found = []
    for node in tree.body:
        if (isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict)
                and "_LAZY" in {t.id for t in ([node.target] if isinstance(node, ast.AnnAssign)
                                               else node.targets) if isinstance(t, ast.Name)}):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                assert isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
                target = _known(f"{PACKAGE}.{value.value}")
                assert target is not None, f"_LAZY[{key.value!r}]: no module {value.value}"
                found.append(Edge(PACKAGE, target, node.lineno, (str(key.value),)))
    return found


def edges_of(name: str) -> list[Edge]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"), str(MODULES[name]))
    package = name if is_package(name) else name.rpartition(".")[0]
    found = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name)
                if target is not None:
                    found.append(Edge(name, target, node.lineno))
            continue
        if node.level:
            base_parts = package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
            continue
        for alias in node.names:
            if f"{base}.{alias.name}" in MODULES:  # from pkg import submodule
                found.append(Edge(name, f"{base}.{alias.name}", node.lineno))
            else:
                target = _known(base)
                assert target is not None, f"{name} line {node.lineno}: no module {base}"
                found.append(Edge(name, target, node.lineno, (alias.name,)))
    if name == PACKAGE:
        found += _lazy_edges(tree)
    return [e for e in found if e.target != name]


GRAPH = {name: edges_of(name) for name in MODULES}


def unit_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for edge in GRAPH[v]:
            w = edge.target
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def _cycle_path(component: list[str]) -> str:
    """The shortest loop through a component's first module, edge by edge."""
    members, start = set(component), component[0]
    came: dict[str, Edge] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for edge in GRAPH[node]:
            if edge.target == start:
                loop = [edge]
                while node != start:
                    loop.append(came[node])
                    node = came[node].source
                return "; ".join(map(str, reversed(loop)))
            if edge.target in members and edge.target not in came:
                came[edge.target] = edge
                queue.append(edge.target)
    return ""


def test_the_parser_sees_the_imports_it_must() -> None:
    """The graph is not empty by accident: known arrows of each kind are found."""
    def targets(name: str) -> set[str]:
        return {e.target for e in GRAPH[name]}

    assert "shimtask_core.registry" in targets("shimtask_core.task")  # module level
    assert "shimtask_core.runtime" in targets("shimtask_core.cli")  # inside a function
    assert "shimtask_core.registry.index" in targets("shimtask_core.registry.registry")
    assert "shimtask_core.version" in targets("shimtask_core.registry.checks")  # from .. import
    facade = {e.target for e in GRAPH["shimtask_core"]}  # _LAZY entries are arrows too
    assert {"shimtask_core.task", "shimtask_core.executor", "shimtask_core.version"} <= facade
    snippet = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
        "def f():\n    import c\n    if typing.TYPE_CHECKING:\n        import d\n")
    seen = {alias.name for node in _import_nodes(snippet) for alias in node.names}
    assert seen == {"TYPE_CHECKING", "b", "c"}


def test_the_layer_table_is_itself_acyclic() -> None:
    """A table with a loop in it could not forbid one."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(unit: str, trail: tuple[str, ...]) -> None:
        if state.get(unit) == 1:
            pytest.fail(f"LAYERS has a loop: {' -> '.join((*trail, unit))}")
        if state.get(unit) == 2:
            return
        state[unit] = 1
        for dep in sorted(LAYERS[unit]):
            visit(dep, (*trail, unit))
        state[unit] = 2
        order.append(unit)

    for unit in sorted(LAYERS):
        visit(unit, ())
    for leaf in LEAVES:
        assert LAYERS[leaf] <= {"errors"}, f"{leaf} is a leaf: it may import only errors"


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles in shimtask_core:\n" + "\n".join(
        f"  {' <-> '.join(c)}: {_cycle_path(c)}" for c in cycles)


def test_every_arrow_points_down_the_layers() -> None:
    unknown = sorted({unit_of(m) for m in MODULES} - set(LAYERS) - {FACADE})
    assert not unknown, (f"modules outside the layer table: {unknown}; add each to LAYERS in "
                         f"{Path(__file__).name} with the units it may import")
    reversed_ = []
    for name, edges in GRAPH.items():
        source = unit_of(name)
        for edge in edges:
            target = unit_of(edge.target)
            if target == source:
                continue
            if target in LAYERS[source]:
                continue
            if target == FACADE:
                reversed_.append(f"  {edge}: the core does not import the shimtask_core "
                                 f"facade (import from the defining module)")
            else:
                reversed_.append(f"  {edge}: {source} may import only "
                                 f"{', '.join(sorted(LAYERS[source])) or 'nothing of the core'}")
    assert not reversed_, "imports against the layering:\n" + "\n".join(sorted(reversed_))


def test_a_cycle_and_a_reversed_arrow_are_reported_by_module_and_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checks above fail on what they guard, and say where: a planted
    ``registry -> literals`` arrow (what reading ``custom["executor_type"]`` through the
    template module once was) and the arrow back that closes a loop."""
    up = Edge("shimtask_core.registry.naming", "shimtask_core.literals.codec", 7,
              ("InterfaceCodec",))
    back = Edge("shimtask_core.literals.codec", "shimtask_core.registry.naming", 9)
    for edge in (up, back):
        monkeypatch.setitem(GRAPH, edge.source, [*GRAPH[edge.source], edge])
    with pytest.raises(AssertionError) as cycle:
        test_no_import_cycles()
    assert ("shimtask_core.literals.codec <-> shimtask_core.registry.naming: "
            "shimtask_core.literals.codec -> shimtask_core.registry.naming at line 9; "
            "shimtask_core.registry.naming -> shimtask_core.literals.codec (InterfaceCodec) "
            "at line 7") in str(cycle.value)
    with pytest.raises(AssertionError) as arrows:
        test_every_arrow_points_down_the_layers()
    assert ("shimtask_core.registry.naming -> shimtask_core.literals.codec (InterfaceCodec) "
            "at line 7: registry may import only ") in str(arrows.value)
    assert "shimtask_core.literals.codec -> shimtask_core.registry.naming at line 9: " \
           "literals may import only " in str(arrows.value)


def test_no_module_climbs_into_its_own_package_facade() -> None:
    """``from . import NAME`` in a subpackage's module, for a name its ``__init__`` only
    re-exports, runs the facade from inside it: half-initialised on first import."""
    climbs = [f"  {e}" for name, edges in GRAPH.items() for e in edges
              if is_package(e.target) and name.startswith(e.target + ".") and e.names
              and LAYERS.get(unit_of(name)) is not None and unit_of(e.target) != FACADE]
    assert not climbs, "modules importing names from their own package:\n" + "\n".join(climbs)


def test_no_private_names_cross_modules() -> None:
    """A leading underscore means "this module's own": other modules use public names."""
    crossings = [f"  {e}" for edges in GRAPH.values() for e in edges
                 for n in e.names if n.startswith("_") and not n.startswith("__")]
    assert not crossings, "private names imported from another module:\n" + "\n".join(crossings)


def test_mypy_strict_covers_the_core_and_every_plugin() -> None:
    """Each plugin's import package is type-checked with the core; a new plugin that is
    left out of ``[tool.mypy] files`` fails here, naming it."""
    repo = ROOT.parent
    checked = set(_mypy_files(repo / "pyproject.toml"))
    packages = {
        str(init.parent.relative_to(repo))
        for init in repo.glob("plugins/*/*/__init__.py")
        if (init.parent.parent / "pyproject.toml").exists() and init.parent.name != "tests"
    }
    assert "shimtask_core" in checked
    assert packages, "no plugin packages found under plugins/"
    missing = sorted(packages - checked)
    assert not missing, f"not type-checked by mypy --strict: {', '.join(missing)}"


def _mypy_files(pyproject: Path) -> list[str]:
    """``[tool.mypy] files`` (tomllib is 3.11+; the list is simple enough to read by hand)."""
    text = pyproject.read_text()
    section = text[text.index("[tool.mypy]"):]
    start = section.index("files = [") + len("files = [")
    body = section[start:section.index("]", start)]
    return [item.strip().strip('"') for item in body.split(",") if item.strip()]


def _imported_names(path: Path) -> Iterator[tuple[str, int]]:
    """``(module, line)`` for every absolute import in a file, function level included."""
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif node.module and not node.level:
            yield node.module, node.lineno


def _plugin_packages() -> list[Path]:
    repo = ROOT.parent
    return [init.parent for init in sorted(repo.glob("plugins/*/*/__init__.py"))
            if (init.parent.parent / "pyproject.toml").exists() and init.parent.name != "tests"]


def test_only_storage_decides_local_or_fsspec() -> None:
    """``storage`` is the one place that decides "local path, else fsspec" (its
    ``local_path``, ``open_uri``, ``get``, ``put``): no other module of the core and no
    plugin imports fsspec itself, so a ``file://`` URI or a local path means the same
    everywhere and never pays for fsspec's import."""
    repo = ROOT.parent
    sources = [p for p in MODULES.values() if p != ROOT / "storage.py"]
    sources += [p for package in _plugin_packages() for p in sorted(package.rglob("*.py"))]
    direct = [f"  {path.relative_to(repo)} line {line}: import {name}"
              for path in sources for name, line in _imported_names(path)
              if name == "fsspec" or name.startswith("fsspec.")]
    assert not direct, ("fsspec imported outside shimtask_core/storage.py (use "
                        "shimtask_core.local_path, open_uri, storage.get/put):\n"
                        + "\n".join(direct))


def test_tests_do_not_import_benchmark_scripts() -> None:
    """Benchmarks build on the tests' helpers (``tests/`` is on their path), never the
    other way round: a test that imports ``bench/`` runs a script's module code, and
    breaks when the benchmark changes."""
    repo = ROOT.parent
    scripts = {p.stem for p in (repo / "bench").glob("*.py")}
    assert scripts, "no benchmark scripts found under bench/"
    tests = [*sorted((repo / "tests").rglob("*.py")),
             *sorted(repo.glob("plugins/*/tests/**/*.py")), repo / "conftest.py"]
    found = [f"  {path.relative_to(repo)} line {line}: import {name}"
             for path in tests if "data" not in path.relative_to(repo).parts
             for name, line in _imported_names(path)
             if name.split(".")[0] in scripts or name.split(".")[0] == "bench"]
    adds_bench = re.compile(r"sys\.path\W.*[\"']bench[\"']")
    on_path = [f"  {path.relative_to(repo)} line {number}: {line.strip()}" for path in tests
               for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if adds_bench.search(line)]
    assert not found and not on_path, ("tests importing benchmark scripts (move the shared "
                                       "builders to tests/):\n" + "\n".join(found + on_path))


def test_plugin_tests_run_under_the_root_conftest() -> None:
    """Every plugin's tests get the root ``conftest.py`` (a private index cache, no
    ``SHIMTASK_*`` policy from the developer's shell), also when run from the plugin's
    own directory: pytest takes the nearest configuration file as the root, and one
    under ``plugins/`` would cut the root conftest off."""
    repo = ROOT.parent
    assert "def _private_cache(" in (repo / "conftest.py").read_text(encoding="utf-8")
    assert "[tool.pytest.ini_options]" in (repo / "pyproject.toml").read_text(encoding="utf-8")
    own = [str(path.relative_to(repo)) for plugin in sorted(repo.glob("plugins/*"))
           for path in [plugin / "pytest.ini", plugin / "tox.ini", plugin / "setup.cfg",
                        plugin / "pyproject.toml", plugin / "tests" / "pytest.ini"]
           if path.is_file() and re.search(r"^\[(pytest|tool:pytest|tool\.pytest\.ini_options)\]",
                                           path.read_text(encoding="utf-8"), re.MULTILINE)]
    assert not own, f"pytest configured below the repository root: {own}"
