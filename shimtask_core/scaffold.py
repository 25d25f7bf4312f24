"""``shimtask plugins new``: a plugin distribution that installs and passes its tests as made.

The generated project is the smallest complete plugin: a pyproject declaring
the entry point (and, as metadata, the API and template versions its class
accepts, so a mismatch is refused before import), an executor, an example
template with its inputs, tests that use :mod:`shimtask_core.testing`
(the contract suite included) and a README. Nothing here runs at import of
``shimtask_core``; the files are written only when asked for.
"""

from __future__ import annotations

import json
import keyword
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, final

from .errors import UsageError
from .version import API_VERSION, __version__

if TYPE_CHECKING:
    from .registry.discovery import EntryPointRecord

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")
_MAX_NAME = 60
_DIST_PREFIX = "shimtask-"


@final
@dataclass(frozen=True)
class PluginNames:
    """Every name a new plugin needs, derived from its executor type."""

    executor_type: str  #: the entry-point name templates ask for
    dist: str  #: the distribution, ``shimtask-<type>``
    package: str  #: the import package, ``shimtask_<type>``
    cls: str  #: the executor class, ``<Type>Executor``


def plugin_names(name: str) -> PluginNames:
    """Validate ``name`` (an executor type, or its distribution ``shimtask-<type>``).

    An executor type is lower case letters and digits, words joined by ``_`` or
    ``-``, starting with a letter: a valid entry-point name, distribution name
    and (with ``-`` as ``_``) Python identifier.
    """
    given = name
    if name.startswith(_DIST_PREFIX):
        name = name[len(_DIST_PREFIX):]
    if not name or len(name) > _MAX_NAME or not _NAME.fullmatch(name):
        raise UsageError(
            f"{given!r} is not a valid executor type: use lower-case letters and digits, "
            f"words joined by '_' or '-', starting with a letter (at most {_MAX_NAME} "
            f"characters), e.g. 'greet' or 'my_db'")
    words = re.split(r"[_-]", name)
    cls = "".join(w.capitalize() for w in words) + "Executor"
    if keyword.iskeyword(cls):  # pragma: no cover - capitalised words are never keywords
        raise UsageError(f"{given!r} gives the class name {cls!r}, a Python keyword")
    names = PluginNames(name, _DIST_PREFIX + name.replace("_", "-"),
                        "shimtask_" + name.replace("-", "_"), cls)
    taken = _shipped_distributions().get(names.dist)
    if taken is not None:
        raise UsageError(
            f"{given!r} would make the distribution {names.dist} (package {names.package}), "
            f"which is {taken}: installing the new plugin would replace it; choose another "
            f"NAME, e.g. 'my_{name}'")
    return names


def _shipped_distributions() -> dict[str, str]:
    """Distribution name -> what it is, for every distribution shimtask ships: a plugin
    named after one would overwrite it in ``pip install`` (same distribution and
    package)."""
    from .registry.naming import KNOWN_PROVIDERS

    shipped = {"shimtask-core": "shimtask itself",
               "shimtask-pyflyte-execute": "shimtask's pyflyte-execute command"}
    for executor_type, dist in KNOWN_PROVIDERS.items():
        shipped[dist] = f"the {executor_type!r} executor plugin shipped with shimtask"
    return shipped


def collisions(names: PluginNames, installed: Iterable[EntryPointRecord]) -> list[str]:
    """Why a new plugin's executor type would clash, one sentence each: an installed
    distribution already declares it, or a plugin shipped with shimtask does.

    Where both are installed, templates naming the type fail with ``ExecutorConflict``
    until ``SHIMTASK_PREFER`` picks one: legal (a replacement for a shipped executor is
    a reason to write one), so this warns instead of refusing.
    """
    from .registry.discovery import normalize_dist_name
    from .registry.naming import KNOWN_PROVIDERS

    own = normalize_dist_name(names.dist)
    fix = (f"templates naming it fail with ExecutorConflict until "
           f"SHIMTASK_PREFER={names.executor_type}={names.dist} picks one (or choose "
           f"another NAME)")
    found = []
    others = [r for r in installed if r.name == names.executor_type
              and normalize_dist_name(r.dist) != own]
    for record in others:
        found.append(f"executor type {record.name!r} is already installed here, from "
                     f"{record.dist} {record.version}: with {names.dist} installed too, {fix}")
    shipped = KNOWN_PROVIDERS.get(names.executor_type)
    if shipped is not None and not any(normalize_dist_name(r.dist) == shipped for r in others):
        found.append(f"executor type {names.executor_type!r} is the one {shipped} (shipped "
                     f"with shimtask) provides: where both are installed, {fix}")
    return found


def create(name: str, directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write a new plugin distribution into ``directory`` (default ``./shimtask-<type>``);
    returns the files written. An existing non-empty directory is refused, untouched."""
    names = plugin_names(name)
    target = Path(directory) if directory is not None else Path(names.dist)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty: choose another "
                         f"directory with --dir, or remove it")
    files = _files(names)
    written = []
    try:
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as fh:  # never over a file that appeared
                fh.write(text)
            written.append(path)
    except OSError as exc:  # a place the user cannot write to is the user's to fix
        where = exc.filename or target
        done = f" ({len(written)} of {len(files)} files were written)" if written else ""
        raise UsageError(f"cannot write the plugin to {where}: "
                         f"{exc.strerror or exc}{done}") from exc
    return written


def _files(n: PluginNames) -> dict[str, str]:
    template, inputs = _example(n)
    return {
        "pyproject.toml": _PYPROJECT.format(
            dist=n.dist, type=n.executor_type, package=n.package, cls=n.cls, api=API_VERSION,
            core=__version__),
        "README.md": _README.format(dist=n.dist, type=n.executor_type, package=n.package,
                                    cls=n.cls),
        f"{n.package}/__init__.py": _INIT.format(type=n.executor_type, cls=n.cls),
        f"{n.package}/executor.py": _EXECUTOR.format(type=n.executor_type, cls=n.cls,
                                                     api=API_VERSION),
        f"{n.package}/py.typed": "",
        "examples/hello.json": template,
        "examples/inputs.json": inputs,
        "tests/test_executor.py": _TEST_EXECUTOR.format(type=n.executor_type,
                                                        package=n.package, cls=n.cls),
        "tests/test_contract.py": _TEST_CONTRACT.format(type=n.executor_type, dist=n.dist,
                                                        cls=n.cls),
        ".gitignore": "__pycache__/\n*.egg-info/\nbuild/\ndist/\n.pytest_cache/\n",
    }


def _example(n: PluginNames) -> tuple[str, str]:
    """The example template (protobuf-JSON, what ``shimtask run`` reads) and its inputs."""
    from .template import make_template, template_to_json

    tt = make_template("hello", n.executor_type, inputs={"name": str},
                       outputs={"greeting": str, "length": int}, custom={"greeting": "Hello"},
                       descriptions={"name": "who to greet", "greeting": "the greeting",
                                     "length": "the name's length"})
    return template_to_json(tt) + "\n", json.dumps({"name": "Ada"}, indent=2) + "\n"


_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "shimtask executor '{type}'."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["shimtask-core>={core}"]
# What {cls} accepts, as metadata: the registry refuses a mismatch before importing
# the plugin. Keep in step with requires_api and task_type_versions in executor.py
# (the contract suite checks that they agree).
keywords = ["shimtask-api={api}", "shimtask-task-type-versions={type}:0"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."shimtask.executors"]
{type} = "{package}:{cls}"

[tool.setuptools]
packages = ["{package}"]

[tool.setuptools.package-data]
{package} = ["py.typed"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

_INIT = '''\
"""shimtask executor ``{type}``: see executor.py and README.md."""

from .executor import {cls}

__all__ = ["{cls}"]
'''

_EXECUTOR = '''\
"""The ``{type}`` executor: computes a task's outputs from its template and inputs.

It runs without the task's Python source: everything it needs is in the
template (``custom`` above all) and the inputs, already decoded by their
declared types. Return one value per declared output, by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from shimtask_core import ShimTaskExecutor, TemplateError, custom_of

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate


class {cls}(ShimTaskExecutor[Any]):
    """Greets ``inputs["name"]`` with ``custom["greeting"]``."""

    #: The template versions (``TaskTemplate.task_type_version``) this executor reads.
    task_type_versions: ClassVar[frozenset[int] | None] = frozenset({{0}})
    #: The shimtask_core plugin API it was written for, (minimum, maximum).
    requires_api: ClassVar[tuple[int, int] | None] = ({api}, {api})

    def execute_from_model(self, tt: TaskTemplate, /, **inputs: Any) -> Any:
        greeting = custom_of(tt).get("greeting")
        if not isinstance(greeting, str) or not greeting:
            # A fault in the template is the user's: TemplateError is a USER error.
            raise TemplateError(f"custom['greeting'] must be a non-empty string, not "
                                f"{{greeting!r}}", source=tt.id.name or None)
        name = inputs["name"]
        return {{"greeting": f"{{greeting}}, {{name}}!", "length": len(name)}}
'''

_TEST_EXECUTOR = '''\
"""The executor through shimtask, as users run it; fixtures from shimtask_core.testing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shimtask_core import TemplateError, parse_template, run_template
from {package} import {cls}

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_installed_entry_point_is_this_executor(shimtask_registry):
    assert shimtask_registry.resolve("{type}") is {cls}


def test_greets(shimtask_registry, shimtask_template):
    tt = shimtask_template("hi", "{type}", inputs={{"name": str}},
                           outputs={{"greeting": str, "length": int}},
                           custom={{"greeting": "Hi"}})
    outputs = run_template(tt, registry=shimtask_registry, name="Grace")
    assert outputs == {{"greeting": "Hi, Grace!", "length": 5}}


def test_a_template_without_greeting_is_refused(shimtask_registry, shimtask_template):
    tt = shimtask_template("hi", "{type}", inputs={{"name": str}},
                           outputs={{"greeting": str, "length": int}})
    with pytest.raises(TemplateError, match="greeting"):
        run_template(tt, registry=shimtask_registry, name="Grace")


def test_the_example_runs_as_flyte_runs_it(shimtask_run):
    tt = parse_template((EXAMPLES / "hello.json").read_bytes())
    inputs = json.loads((EXAMPLES / "inputs.json").read_text())
    result = shimtask_run(tt, inputs)  # a real `shimtask execute` subprocess
    assert result.unwrap() == {{"greeting": "Hello, Ada!", "length": 3}}
'''

_TEST_CONTRACT = '''\
"""The executor keeps shimtask's executor contract (shimtask_core.testing's suite).

Every check runs against the installed distribution: its real entry point and a
real `shimtask execute`. Add samples as the executor grows.
"""

from __future__ import annotations

from pathlib import Path

from shimtask_core import make_template
from shimtask_core.testing import ExecutorContractSuite, Sample


class Test{cls}Contract(ExecutorContractSuite):
    executor_type = "{type}"
    distribution = "{dist}"

    def samples(self, workdir: Path) -> list[Sample]:
        tt = make_template("hello", "{type}", inputs={{"name": str}},
                           outputs={{"greeting": str, "length": int}},
                           custom={{"greeting": "Hello"}})
        return [Sample(tt, {{"name": "Ada"}},
                       expected={{"greeting": "Hello, Ada!", "length": 3}})]
'''

_README = '''\
# {dist}

A shimtask (`shimtask-core`) executor plugin: the
executor type `{type}` (class `{package}.{cls}`), for Flyte task templates whose
`custom["executor_type"]` (or, without one, whose `type`) is `"{type}"`.

## Install and run

```bash
pip install .
shimtask plugins list                              # shows {type}, imports nothing
shimtask run examples/hello.json --inputs-json examples/inputs.json
```

## Test

```bash
pip install -e ".[test]"
pytest
```

`tests/test_contract.py` runs shimtask's executor contract suite
(`shimtask_core.testing.ExecutorContractSuite`) against the installed
distribution; `tests/test_executor.py` uses the kit's fixtures
(`shimtask_registry`, `shimtask_template`, `shimtask_run`).

## Layout

| path | what |
| --- | --- |
| `pyproject.toml` | the entry point `{type} = "{package}:{cls}"`; accepted versions |
| `{package}/executor.py` | the executor |
| `examples/hello.json` | an example template (protobuf-JSON); `inputs.json` its inputs |
| `tests/` | tests that use `shimtask_core.testing` |

When the executor reads a new template format, bump `task_type_versions` in
`executor.py` and the `shimtask-task-type-versions` keyword in `pyproject.toml`
together.
'''
