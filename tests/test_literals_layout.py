"""The codec's own shape: blob and dataset converters sit below the code that dispatches to them.

``shimtask_core.literals.types.EXTERNAL_KINDS`` names the converter of each blob
and dataset kind as ``"module:attr"``; the codec imports those modules only when
such a type is met. ``test_architecture`` holds the arrows between the core's
units; this holds them inside ``literals/``: files and datasets never import back
into the modules that dispatch to them (not even inside a function), and no
private name crosses a module boundary.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shimtask_core.literals import types

PACKAGE = Path(__file__).resolve().parent.parent / "shimtask_core" / "literals"
CONVERTER_MODULES = {"files", "datasets"}


def _imports(name: str) -> list[tuple[str, int, list[str]]]:
    """``(sibling module, line, names)`` for each import of a sibling in ``literals/``."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [alias.name for alias in node.names]
            if node.module:
                found.append((node.module.split(".")[0], node.lineno, names))
            else:
                found += [(n, node.lineno, []) for n in names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.startswith("shimtask_core.literals."):
            found.append((node.module.split(".")[2], node.lineno, [a.name for a in node.names]))
    return found


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
IMPORTS = {name: _imports(name) for name in MODULES}


def _reaching(target: str) -> set[str]:
    """The modules that import ``target``, directly or through others."""
    found: set[str] = set()
    frontier = {target}
    while frontier:
        frontier = {m for m in MODULES for dep, _, _ in IMPORTS[m]
                    if dep in frontier and m not in found}
        found |= frontier
    return found


def test_the_table_names_a_converter_for_every_blob_and_dataset_kind() -> None:
    assert set(types.EXTERNAL_KINDS) == {"blob", "structured_dataset_type", "schema"}
    for kind, target in types.EXTERNAL_KINDS.items():
        module, _, attr = target.partition(":")
        assert module.rpartition(".")[2] in CONVERTER_MODULES, kind
        converter = getattr(importlib.import_module(module), attr)
        for method in ("python_type", "filler", "decoder", "literal_type", "value_kinds"):
            assert callable(getattr(converter, method)), f"{target}.{method}"


def _simple_kind_tables(name: str) -> list[tuple[int, list[str]]]:
    """``(line, kinds)`` of each dict display in ``name`` keyed by two or more
    ``SimpleType`` members (``SimpleType.INTEGER``, ``types_pb2.SimpleType.INTEGER`` or
    protobuf's module-level ``types_pb2.INTEGER``)."""
    members = set(types.SimpleType.keys())

    def simple_kind(key: ast.expr | None) -> str | None:
        if not (isinstance(key, ast.Attribute) and key.attr in members):
            return None
        base = ast.unparse(key.value)
        return key.attr if base in ("SimpleType", "types_pb2.SimpleType", "types_pb2") else None

    found = []
    for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            kinds = [kind for kind in map(simple_kind, node.keys) if kind is not None]
            if len(kinds) >= 2:
                found.append((node.lineno, kinds))
    return found


def test_simple_kinds_have_one_table_and_every_row_is_whole() -> None:
    """What the codec knows about a simple kind is one row of ``types.SIMPLE_KINDS``:
    a second table keyed by kind elsewhere in the codec (a name, a schema, a parser)
    drifts from it when a kind is added. The converters of blobs and datasets keep
    their own forms of a kind (Arrow's column types need pyarrow, which ``types`` may
    not import)."""
    others = [f"{name}.py line {line}: a table of {', '.join(kinds)}"
              for name in MODULES if name not in {"types", *CONVERTER_MODULES}
              for line, kinds in _simple_kind_tables(name)]
    assert not others, f"{others}: make it a column of types.SIMPLE_KINDS"
    assert [kinds for _, kinds in _simple_kind_tables("types")] == [
        sorted(types.SimpleType.keys(), key=types.SimpleType.Value)]  # one row per kind
    for row in types.SIMPLE_KINDS.values():
        missing = [slot for slot in ("name", "kind", "json_schema")
                   if not getattr(row, slot)]
        assert not missing, f"{row}: no {', '.join(missing)}"


@pytest.mark.parametrize("converter", sorted(CONVERTER_MODULES))
def test_converters_never_import_the_modules_that_dispatch_to_them(converter: str) -> None:
    dispatchers = _reaching("external") | {"external"}
    upward = [f"{converter} -> {dep} at line {line}"
              for dep, line, _ in IMPORTS[converter] if dep in dispatchers]
    allowed = sorted(set(MODULES) - dispatchers)
    assert not upward, f"{upward}: {converter} may build only on {allowed}"


def test_no_module_of_the_codec_imports_a_converter_module_directly() -> None:
    direct = [f"{name} -> {dep} at line {line}" for name in MODULES if name not in
              CONVERTER_MODULES for dep, line, _ in IMPORTS[name] if dep in CONVERTER_MODULES]
    assert not direct, f"{direct}: go through types.EXTERNAL_KINDS"


def test_no_private_name_crosses_a_module_boundary() -> None:
    private = [f"{name} imports {n} from {dep} (line {line})" for name in MODULES
               for dep, line, names in IMPORTS[name] for n in names if n.startswith("_")]
    assert not private


def test_converter_modules_load_only_when_their_kind_is_met() -> None:
    code = textwrap.dedent("""
        import sys
        from shimtask_core import make_template
        from shimtask_core.literals import InterfaceCodec, LiteralType

        def loaded():
            return [m.rpartition(".")[2] for m in ("shimtask_core.literals.external",
                    "shimtask_core.literals.files", "shimtask_core.literals.datasets")
                    if m in sys.modules]

        plain = {"n": int, "xs": list[float], "u": int | None, "d": dict[str, str]}
        codec = InterfaceCodec(make_template("t", "t", inputs=plain, outputs=plain).interface)
        codec.encode_outputs({"n": 1, "xs": [1.0], "u": None, "d": {}})
        print(loaded())
        blob = {"f": LiteralType(blob={})}
        InterfaceCodec(make_template("t", "t", inputs=blob, outputs=blob).interface)
        print(loaded())
        table = {"t": LiteralType(structured_dataset_type={})}
        InterfaceCodec(make_template("t", "t", inputs=table, outputs=table).interface)
        print(loaded())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split("\n")[:3] == [
        "[]", "['external', 'files']", "['external', 'files', 'datasets']"]
