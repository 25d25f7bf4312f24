"""What the docs say about the code's shape holds: every import path they name works,
and the README's layout table names every part of the core.

Modules move (``literals.py`` became ``literals/``, ``registry.py`` became
``registry/``); a documented path must keep importing, through a re-export where
its module moved, and the layout a reader is shown must be the one on disk.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from pluginenv import REPO

CORE = REPO / "shimtask_core"
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md"),
                *(REPO / "plugins").glob("*/README.md")])

_FROM_IMPORT = re.compile(r"from (shimtask_core[\w.]*) import (\([^)]*\)|[^\n`]+)")
_DOTTED = re.compile(r"(?<![\w/.])(shimtask_core(?:\.\w+)+)")


def documented_paths() -> dict[str, str]:
    """Every ``shimtask_core`` path the pages name (in ``from ... import ...``,
    ``import ...``, ``::: ...`` or prose) -> the first page naming it."""
    found: dict[str, str] = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        where = str(page.relative_to(REPO))
        for match in _FROM_IMPORT.finditer(text):
            names = re.sub(r"#.*", "", match.group(2)).strip("()")
            for name in re.split(r"[,\s]+", names):
                if name.isidentifier() and name != "as":
                    found.setdefault(f"{match.group(1)}.{name}", where)
        for match in _DOTTED.finditer(text):
            found.setdefault(match.group(1), where)
    return found


def resolve(path: str) -> Any:
    """Import the longest module prefix of a dotted path and take the rest as attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name is None or not path.startswith(exc.name):
                raise  # the module exists and fails to import: that is a failure too
            continue
        for part in parts[cut:]:
            value = getattr(value, part)
        return value
    raise ModuleNotFoundError(path)


PATHS = documented_paths()


def test_the_pages_name_the_paths_a_reader_imports() -> None:
    """The scan is not empty by accident: the paths of each kind are found."""
    assert {"shimtask_core.make_template",  # from shimtask_core import ...
            "shimtask_core.literals.InterfaceCodec",  # from shimtask_core.literals import ...
            "shimtask_core.files.File",  # the old path of a moved module
            "shimtask_core.registry.registry.ExecutorRegistry",  # ::: in docs/api.md
            "shimtask_core.testing.contract.ExecutorContractSuite"} <= set(PATHS)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_documented_import_path_works(path: str) -> None:
    try:
        resolve(path)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{PATHS[path]} names {path}, which does not import: {exc}")


def _layout_row() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `shimtask_core/` |")]
    assert len(rows) == 1, "the README's layout table has no shimtask_core/ row"
    return rows[0]


def _parts(directory: Path) -> set[str]:
    """The public modules (``name``) and subpackages (``name/``) of a package directory."""
    modules = {p.stem for p in directory.glob("*.py") if not p.stem.startswith("_")}
    packages = {f"{p.parent.name}/" for p in directory.glob("*/__init__.py")}
    return modules | packages


def test_the_readmes_layout_names_every_part_of_the_core() -> None:
    named = set(re.findall(r"`([\w/]+)`", _layout_row()))
    missing = sorted(_parts(CORE) - named)
    assert not missing, f"the README's layout row for shimtask_core/ does not name {missing}"


def test_the_readmes_layout_lists_the_registry_package_whole() -> None:
    """``registry/`` is listed module by module: the list is the package's."""
    listed = re.search(r"`registry/` \(([^)]*)\)", _layout_row())
    assert listed is not None, "the layout row lists no modules for registry/"
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == _parts(CORE / "registry")
