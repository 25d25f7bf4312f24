"""Import budgets: what each command may load, held in a test instead of a timing comment.

Each command runs in a fresh interpreter (``shimtask_core.cli.main`` called with its
arguments) which then reports ``sys.modules``. Protobuf, flyteidl and pluggy cost
most of a cold start: ``--version``, ``--help`` and ``plugins list`` load none of
them; ``execute`` and ``run`` load pluggy only when a hook plugin is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from flyteidl.core import literals_pb2

from pluginenv import PluginVenv, build_wheel
from shimtask_core import make_template, template_to_json
from shimtask_core.literals import InterfaceCodec

HEAVY = ("google.protobuf", "flyteidl", "pluggy")
#: Never needed by a command that reads local files and converts plain values.
OPTIONAL = ("fsspec", "pyarrow", "pandas", "msgpack", "numpy", "importlib.metadata")

REPORT = """
import sys
from shimtask_core.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:  # --version and --help exit through argparse
    status = exc.code
modules = sorted(sys.modules)
import json  # after the command: what it loaded is reported as it was
sys.stdout.flush()
print("\\n" + json.dumps({"status": status, "modules": modules}))
"""

INC = """
from shimtask_core import ShimTaskExecutor


class Inc(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return inputs["x"] + 1
"""


def loaded_by(python: Path | str, argv: Sequence[str], env: dict[str, str] | None = None,
              cwd: Path | None = None) -> tuple[int, list[str], str]:
    """Run ``shimtask ARGV`` in a fresh interpreter: exit status, sys.modules, stdout."""
    proc = subprocess.run([str(python), "-c", REPORT, *argv],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    output, _, last = proc.stdout.rstrip("\n").rpartition("\n")
    assert last.startswith("{"), f"no report from {argv}: {proc.stdout}\n{proc.stderr}"
    report = json.loads(last)
    return report["status"], report["modules"], output


def loaded(modules: list[str], prefixes: Sequence[str]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def core_modules(modules: list[str]) -> set[str]:
    return {m for m in modules if m == "shimtask_core" or m.startswith("shimtask_core.")}


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    """The development environment (every repo plugin installed), with a private cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIMTASK_", "PYTHON"))}
    env["SHIMTASK_CACHE_DIR"] = str(tmp_path / "cache")
    return env


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_load_only_the_cli(argv: list[str], dev_env: dict[str, str]) -> None:
    status, modules, output = loaded_by(sys.executable, argv, dev_env)
    assert status == 0 and "shimtask" in output
    assert loaded(modules, HEAVY + OPTIONAL) == []
    assert core_modules(modules) == {"shimtask_core", "shimtask_core._lazy",
                                     "shimtask_core.cli", "shimtask_core.errors",
                                     "shimtask_core.version"}


def test_plugins_list_loads_the_registry_only(dev_env: dict[str, str]) -> None:
    for attempt in ("builds the index", "reads the index"):
        status, modules, output = loaded_by(sys.executable, ["plugins", "list"], dev_env)
        assert status == 0 and "sqlite" in output, attempt  # the repo's plugin is listed
        assert loaded(modules, HEAVY + OPTIONAL) == [], attempt
        assert loaded(modules, ("shimtask_sqlite3",)) == [], attempt  # nor any plugin
        assert core_modules(modules) == {
            "shimtask_core", "shimtask_core._lazy", "shimtask_core.cli", "shimtask_core.errors",
            "shimtask_core.version", "shimtask_core.executor", "shimtask_core.storage",
            "shimtask_core.registry", "shimtask_core.registry.registry",
            "shimtask_core.registry.checks", "shimtask_core.registry.discovery",
            "shimtask_core.registry.index", "shimtask_core.registry.naming",
            "shimtask_core.settings",
            "shimtask_core.registry.policy",
        }, attempt


def test_reading_the_executor_type_loads_no_codec(dev_env: dict[str, str]) -> None:
    """What a template names is read without the literal codec or the template module."""
    code = textwrap.dedent("""
        import json, sys
        from flyteidl.core.tasks_pb2 import TaskTemplate
        from google.protobuf import struct_pb2
        import shimtask_core
        custom = struct_pb2.Struct()
        custom.update({"executor_type": "sqlite"})
        tt = TaskTemplate(type="python-task", custom=custom)
        print(json.dumps([shimtask_core.executor_type_of(tt),
                          shimtask_core.ExecutorRegistry(path=[]).executor_type_of(tt),
                          sorted(m for m in sys.modules if m.startswith("shimtask_core"))]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dev_env, check=True)
    by_module, by_registry, modules = json.loads(proc.stdout)
    assert by_module == by_registry == "sqlite"
    assert not loaded(modules, ("shimtask_core.literals", "shimtask_core.template",
                                "shimtask_core.task", "shimtask_core.runtime"))


# --- one execution, in a venv holding exactly the plugins the test installs ----------------


@pytest.fixture(scope="module")
def inc_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("budget")
    env = PluginVenv(root / "env")
    env.install(build_wheel(root / "inc", "shimtask-budget-inc",
                            modules={"budget_inc.py": INC}, executors={"inc": "budget_inc:Inc"}))
    return env


@pytest.fixture
def inc_files(tmp_path: Path) -> dict[str, Path]:
    tt = make_template("inc", "inc", inputs={"x": int}, outputs={"o0": int})
    files = {"pb": tmp_path / "inc.pb", "json": tmp_path / "inc.json",
             "inputs": tmp_path / "inputs.pb", "out": tmp_path / "out"}
    files["pb"].write_bytes(tt.SerializeToString())
    files["json"].write_text(template_to_json(tt))
    files["inputs"].write_bytes(
        InterfaceCodec(tt.interface).encode_inputs({"x": 41}).SerializeToString())
    return files


def _execute(venv: PluginVenv, files: dict[str, Path], extra: dict[str, str] | None = None,
             *, warm: bool = True) -> list[str]:
    argv = ["execute", "--inputs", str(files["inputs"]), "--output-prefix", str(files["out"]),
            "--", str(files["pb"])]
    if warm:  # a first run writes the plugin index (with json); a pod's image has it built
        assert loaded_by(venv.python, argv, venv.env(extra))[0] == 0
    status, modules, _ = loaded_by(venv.python, argv, venv.env(extra))
    assert status == 0
    outputs = (files["out"] / "outputs.pb").read_bytes()
    tt = make_template("inc", "inc", inputs={"x": int}, outputs={"o0": int})
    assert InterfaceCodec(tt.interface).decode_outputs(
        literals_pb2.LiteralMap.FromString(outputs)) == {"o0": 42}
    return modules


#: What ``shimtask execute`` of an int -> int template from local files must not load
#: (``json``: the index is read with its C scanner; ``signal``: handlers go through
#: ``_signal``; ``zlib``: the index name's crc32 comes from ``binascii``; ``contextvars``:
#: the built-in ``_contextvars`` it re-exports; ``fnmatch``: only for allow/deny
#: patterns; structs and timetext: only for msgpack, dicts and ISO 8601 text).
EXECUTE_NEVER = (*OPTIONAL, "pluggy", "google.protobuf.json_format", "json", "signal", "zlib",
                 "contextvars", "fnmatch",
                 "shimtask_core.literals.structs", "shimtask_core.literals.timetext",
                 "shimtask_core.textinput", "shimtask_core.sqltemplate",
                 "shimtask_core.registry.doctor", "shimtask_core.registry.hooks",
                 "shimtask_core.hookspecs", "shimtask_core.testing",
                 "shimtask_core.literals.files", "shimtask_core.literals.datasets")


def test_execute_and_run_budgets_and_no_plugin_manager_without_hook_plugins(
    inc_venv: PluginVenv, inc_files: dict[str, Path], wheels: dict[str, Path], tmp_path: Path
) -> None:
    modules = _execute(inc_venv, inc_files)
    assert loaded(modules, EXECUTE_NEVER) == []

    status, modules, output = loaded_by(
        inc_venv.python, ["run", str(inc_files["json"]), "-i", "x=1"], inc_venv.env())
    assert status == 0 and output.strip() == "o0: 2"
    run_never = [m for m in EXECUTE_NEVER  # run parses and prints JSON, and makes a
                 if m not in ("google.protobuf.json_format", "shimtask_core.textinput",
                              "json", "zlib", "fnmatch",  # scratch directory (shutil: zlib,
                              "shimtask_core.literals.timetext")]  # fnmatch); -i's text
    assert loaded(modules, run_never) == []

    # Once a hook plugin is installed, the manager is built and the wrapper sees the run:
    # the budget above is the absence of hook plugins, not a hook that never runs.
    inc_venv.install(wheels["wrapper"])
    try:
        log = tmp_path / "wrapper.log"
        modules = _execute(inc_venv, inc_files, {"SHIMTASK_TEST_WRAPPER_LOG": str(log)},
                           warm=False)
        assert "pluggy" in modules and "shimtask_core.registry.hooks" in modules
        assert [json.loads(line)["task"] for line in log.read_text().splitlines()] == ["inc"]
    finally:
        inc_venv.uninstall("shimtask-test-wrapper")


def test_compiling_a_sql_template_loads_no_dataclasses(dev_env: dict[str, str]) -> None:
    """Every SQL executor compiles its query on a cold start: dataclasses would bring
    inspect, ast and dis (~8 ms, ~1 MB) to each of them."""
    code = textwrap.dedent("""
        import json, sys
        from shimtask_core import compile_query
        sql, params = compile_query("select * from t where a = '{{ .inputs.x }}' -- c",
                                    {"x": 1}, "named")
        print(json.dumps([sql, sorted(m for m in ("dataclasses", "inspect", "ast")
                                      if m in sys.modules)]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dev_env, check=True)
    assert json.loads(proc.stdout) == ["select * from t where a = :x -- c", []]
