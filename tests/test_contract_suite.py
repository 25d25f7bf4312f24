"""The contract suite catches the faults it promises to catch, in real installed plugins.

Ten plugin distributions are pip-installed into one venv with a pip-installed
shimtask-core (so the kit loads through its real ``pytest11`` entry point): one
that keeps the contract, and nine that each break a rule (one of them by patching
the core's input decoding, the only way a plugin can let a wrong-typed input
through). Each gets the suite subclassed exactly as a plugin author would write
it, plus one suite that names the wrong distribution; pytest runs them all in that
venv, and the JUnit report says which checks failed and why.
"""

from __future__ import annotations

import ast
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kitenv import core_wheel, installed_core_venv
from pluginenv import REPO, PluginVenv, build_wheel, wheel_from_source

GREET = '''
import os
import sys
from pathlib import Path

from shimtask_core import ShimTaskExecutor, custom_of


class Greet(ShimTaskExecutor):
    task_type_versions = frozenset({0, 1})

    def execute_from_model(self, tt, **inputs):
        greeting = custom_of(tt).get("greeting")
        if not isinstance(greeting, str):
            raise ValueError("custom['greeting'] must be a string")
        return {"greeting": f"{greeting}, {inputs['name']}!", "length": len(inputs["name"])}


class Writes(Greet):
    """Leaves a file in the working directory and one in HOME."""

    def execute_from_model(self, tt, **inputs):
        Path("greeted.txt").write_text(inputs["name"])
        (Path.home() / ".greet-history").write_text(inputs["name"])
        return super().execute_from_model(tt, **inputs)


class Exits(Greet):
    """Ends the process instead of raising: no error.pb is written."""

    def execute_from_model(self, tt, **inputs):
        if "greeting" not in custom_of(tt):
            print("no greeting", file=sys.stderr, flush=True)
            os._exit(3)
        return super().execute_from_model(tt, **inputs)


class WrongOutput(Greet):
    """Returns an int for the str output."""

    def execute_from_model(self, tt, **inputs):
        return {"greeting": len(inputs["name"]), "length": len(inputs["name"])}


class BlamesTheSystem(Greet):
    """Reports its own template's fault as a storage failure: SYSTEM, retried by Flyte."""

    def execute_from_model(self, tt, **inputs):
        if "greeting" not in custom_of(tt):
            from shimtask_core import StorageError

            raise StorageError("custom://greeting", "read", "no greeting")
        return super().execute_from_model(tt, **inputs)


class NeedsApi99(Greet):
    requires_api = (99, 99)


class OnlyVersion0(Greet):
    task_type_versions = frozenset({0})


class NotAnExecutor:
    """Does the work, but is no ShimTaskExecutor subclass."""

    task_type_versions = frozenset({0, 1})

    def execute_from_model(self, tt, **inputs):
        return Greet().execute_from_model(tt, **inputs)
'''

COERCE = GREET + '''

from shimtask_core.literals import codec as _codec

_decode_inputs = _codec.InterfaceCodec.decode_inputs


def _lenient(self, literals):
    """'Be liberal in what you accept': an input its declared type refuses reaches the
    executor as the literal's text instead of failing the task."""
    try:
        return _decode_inputs(self, literals)
    except Exception:
        return {name: _text(literal) for name, literal in literals.literals.items()}


def _text(literal):
    primitive = literal.scalar.primitive
    kind = primitive.WhichOneof("value")
    return str(getattr(primitive, kind)) if kind else str(literal)


_codec.InterfaceCodec.decode_inputs = _lenient


class Coerces(Greet):
    pass
'''

GREEDY = '''
import shimtask_kit_good  # another plugin, imported for nothing

from shimtask_core import ShimTaskExecutor


class Greedy(shimtask_kit_good.Greet):
    pass
'''

VERSIONS_PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "shimtask-kit-versions"
version = "1.0.0"
keywords = ["shimtask-task-type-versions=kitversions:0..1"]

[project.entry-points."shimtask.executors"]
kitversions = "shimtask_kit_versions:OnlyVersion0"

[tool.setuptools]
py-modules = ["shimtask_kit_versions"]
'''

SUITES = '''
from shimtask_core import make_template
from shimtask_core.testing import ExecutorContractSuite, Sample


def greet(executor_type, greeting="Hello"):
    return make_template("hello", executor_type, inputs={"name": str},
                         outputs={"greeting": str, "length": int},
                         custom={"greeting": greeting})


class Suite(ExecutorContractSuite):
    def samples(self, workdir):
        return [Sample(greet(self.executor_type), {"name": "Ada"},
                       expected={"greeting": "Hello, Ada!", "length": 3})]

'''

# what each suite sets beyond executor_type (its name, unless set here)
SUITE_BODIES: dict[str, str] = {
    "kitgoodinprocess": "    in_process = True\n",
    "kitwrongdist": "    executor_type = 'kitgood'\n    distribution = 'shimtask-kit-other'\n",
}

#: suites run in a pytest process of their own (see ``outcomes``)
ALONE = {"kitcoerce"}

# suite -> the checks that must fail, and a phrase each failure says
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "kitgood": {},
    "kitgoodinprocess": {},
    "kitwrongdist": {
        "test_entry_point_resolves_to_an_executor":
            "no installed distribution declares the executor 'kitgood' by distribution "
            "shimtask-kit-other",
        "test_declared_versions_are_honoured": "by distribution shimtask-kit-other",
    },
    "kitnotexecutor": {
        "test_entry_point_resolves_to_an_executor":
            "shimtask_kit_notexecutor:NotAnExecutor is a class <class "
            "'shimtask_kit_notexecutor.NotAnExecutor'>, not a shimtask_core.ShimTaskExecutor "
            "subclass",
        "test_declared_versions_are_honoured": "not a shimtask_core.ShimTaskExecutor subclass",
        "test_wrong_typed_input_is_a_user_error_naming_it": "PluginLoadError",
        "test_outputs_match_the_declared_interface": "PluginLoadError",
        "test_writes_nothing_outside_the_output_prefixes": "PluginLoadError",
        "test_imports_no_other_executor_plugin": "not a shimtask_core.ShimTaskExecutor subclass",
    },
    "kitcoerce": {
        "test_wrong_typed_input_is_a_user_error_naming_it":
            "input 'name' (declared str) was sent as an integer literal and the task "
            "succeeded, with outputs {'greeting': 'Hello, 7!', 'length': 1}",
    },
    "kitwrites": {
        "test_writes_nothing_outside_the_output_prefixes": "created greeted.txt",
    },
    "kitexits": {
        "test_executor_exception_becomes_a_user_error": "wrote neither outputs.pb nor error.pb",
    },
    "kitsystem": {
        "test_executor_exception_becomes_a_user_error": "origin='SYSTEM'",
    },
    "kitwrongoutput": {
        "test_outputs_match_the_declared_interface": "output 'greeting': expected str, got int 3",
        "test_writes_nothing_outside_the_output_prefixes": "ValueTypeError",
    },
    "kitversions": {
        "test_declared_versions_are_honoured": "task_type_versions disagree",
    },
    "kitgreedy": {
        "test_imports_no_other_executor_plugin": "shimtask_kit_good:Greet",
    },
    "kitapi": {
        "test_entry_point_resolves_to_an_executor": "requires the shimtask_core plugin API 99",
        "test_declared_versions_are_honoured": "requires the shimtask_core plugin API 99",
        "test_wrong_typed_input_is_a_user_error_naming_it": "VersionMismatch",
        "test_outputs_match_the_declared_interface": "VersionMismatch",
        "test_writes_nothing_outside_the_output_prefixes": "VersionMismatch",
        "test_imports_no_other_executor_plugin": "requires the shimtask_core plugin API 99",
    },
}
CHECKS = {
    "test_entry_point_resolves_to_an_executor",
    "test_declared_versions_are_honoured",
    "test_wrong_typed_input_is_a_user_error_naming_it",
    "test_outputs_match_the_declared_interface",
    "test_writes_nothing_outside_the_output_prefixes",
    "test_executor_exception_becomes_a_user_error",
    "test_imports_no_other_executor_plugin",
}


@pytest.fixture(scope="module")
def kit_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("kit")
    env = installed_core_venv(root / "env", core_wheel(root / "core"))
    good = build_wheel(root / "w", "shimtask-kit-good", modules={"shimtask_kit_good.py": GREET},
                       executors={"kitgood": "shimtask_kit_good:Greet",
                                  "kitgoodinprocess": "shimtask_kit_good:Greet"})
    faulty = [
        build_wheel(root / "w", f"shimtask-kit-{name}", modules={f"shimtask_kit_{name}.py": GREET},
                    executors={f"kit{name}": f"shimtask_kit_{name}:{cls}"})
        for name, cls in (("writes", "Writes"), ("exits", "Exits"),
                          ("wrongoutput", "WrongOutput"), ("api", "NeedsApi99"),
                          ("notexecutor", "NotAnExecutor"), ("system", "BlamesTheSystem"))
    ]
    coerce = build_wheel(root / "w", "shimtask-kit-coerce",
                         modules={"shimtask_kit_coerce.py": COERCE},
                         executors={"kitcoerce": "shimtask_kit_coerce:Coerces"})
    greedy = build_wheel(root / "w", "shimtask-kit-greedy",
                         modules={"shimtask_kit_greedy.py": GREEDY},
                         executors={"kitgreedy": "shimtask_kit_greedy:Greedy"})
    versions_src = root / "versions-src"
    versions_src.mkdir()
    (versions_src / "pyproject.toml").write_text(VERSIONS_PYPROJECT)
    (versions_src / "shimtask_kit_versions.py").write_text(textwrap.dedent(GREET))
    versions = wheel_from_source(root / "w" / "versions", versions_src, "shimtask-kit-versions")
    env.install(good, *faulty, coerce, greedy, versions)
    return env


@pytest.fixture(scope="module")
def outcomes(kit_venv: PluginVenv, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[tuple[str, str], tuple[str, str]]:
    """(suite, check) -> (outcome, failure text), from pytest runs in the venv.

    pytest runs from a shell whose ``SHIMTASK_*`` variables would break every check
    (deny everything, a one-byte input limit, a timeout no execution meets, the
    user's index cache): the suite must not see them, in process or not. The
    suites of ``ALONE`` get a pytest process each: their plugin patches the core in
    any process that imports it, as the entry-point check does.
    """
    project = tmp_path_factory.mktemp("suites")
    (project / "pytest.ini").write_text("[pytest]\n")
    user_cache = project / "user-cache"
    hostile = {"SHIMTASK_DENY": "*", "SHIMTASK_ALLOW": "nothing",
               "SHIMTASK_MAX_INPUTS_BYTES": "1", "SHIMTASK_EXECUTION_TIMEOUT": "0.000001",
               "SHIMTASK_CACHE_DIR": str(user_cache), "SHIMTASK_NO_INDEX": "0"}
    runs = [[n for n in EXPECTED_FAILURES if n not in ALONE], *([n] for n in sorted(ALONE))]
    results = {}
    for index, names in enumerate(runs):
        classes = "".join(
            f"\nclass Test_{name}(Suite):\n    executor_type = {name!r}\n"
            + SUITE_BODIES.get(name, "")
            for name in names)
        test_file = project / f"test_suites_{index}.py"
        test_file.write_text(SUITES + classes)
        report = project / f"report-{index}.xml"
        done = kit_venv.run([kit_venv.python, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             f"--junitxml={report}", str(test_file)], cwd=project, env=hostile)
        assert report.exists(), done.stdout + done.stderr
        for case in ET.parse(report).getroot().iter("testcase"):
            executor = case.attrib["classname"].rpartition(".Test_")[2]
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            skipped = case.find("skipped")
            outcome = ("failed" if failure is not None else "skipped" if skipped is not None
                       else "passed")
            text = (failure.attrib.get("message", "") + (failure.text or "")
                    if failure is not None else "")
            results[(executor, case.attrib["name"])] = (outcome, text)
    assert not user_cache.exists() or not any(user_cache.iterdir())
    return results


def test_every_check_ran_for_every_plugin(
    outcomes: dict[tuple[str, str], tuple[str, str]]
) -> None:
    assert {check for _, check in outcomes} == CHECKS
    assert {executor for executor, _ in outcomes} == set(EXPECTED_FAILURES)
    assert len(outcomes) == len(CHECKS) * len(EXPECTED_FAILURES)


@pytest.mark.parametrize("executor", sorted(EXPECTED_FAILURES))
def test_the_suite_fails_exactly_the_broken_rules(
    executor: str, outcomes: dict[tuple[str, str], tuple[str, str]]
) -> None:
    expected = EXPECTED_FAILURES[executor]
    failed = {check: text for (name, check), (outcome, text) in outcomes.items()
              if name == executor and outcome == "failed"}
    assert sorted(failed) == sorted(expected), "\n\n".join(
        f"{c}: {t[:400]}" for c, t in failed.items())
    for check, phrase in expected.items():
        assert phrase in failed[check], failed[check][:2000]
    passed = {check for (name, check), (outcome, _) in outcomes.items()
              if name == executor and outcome == "passed"}
    assert passed == CHECKS - set(expected)


def declared_executors(pyproject: str) -> set[str]:
    """The entry-point names of a pyproject's ``shimtask.executors`` table."""
    table = re.search(r'^\[project\.entry-points\."shimtask\.executors"\]\n(.*?)(?=^\[|\Z)',
                      pyproject, re.MULTILINE | re.DOTALL)
    if table is None:
        return set()
    return set(re.findall(r"^\s*\"?([\w.-]+)\"?\s*=", table.group(1), re.MULTILINE))


def suites_in(tests: list[Path]) -> dict[str, str]:
    """executor_type -> the ExecutorContractSuite subclass that checks it, in these files."""
    found = {}
    for path in tests:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef) or not any(
                    (isinstance(b, ast.Name) and b.id == "ExecutorContractSuite")
                    or (isinstance(b, ast.Attribute) and b.attr == "ExecutorContractSuite")
                    for b in node.bases):
                continue
            for statement in node.body:
                if (isinstance(statement, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == "executor_type"
                                for t in statement.targets)
                        and isinstance(statement.value, ast.Constant)):
                    found[str(statement.value.value)] = f"{path.name}::{node.name}"
    return found


def test_every_repository_plugin_runs_the_suite_on_each_of_its_executors() -> None:
    """Issue 11: every plugin in plugins/ runs the contract suite in its own tests, one
    subclass per executor type its pyproject declares (a plugin without executors,
    such as shimtask-pyflyte-execute, has none to check)."""
    checked = {}
    for plugin in sorted((REPO / "plugins").iterdir()):
        declared = declared_executors((plugin / "pyproject.toml").read_text())
        suites = suites_in(sorted((plugin / "tests").glob("test_*.py")))
        missing = declared - set(suites)
        assert not missing, (f"{plugin.name} declares executor(s) {sorted(missing)} that no "
                             f"ExecutorContractSuite subclass in {plugin.name}/tests checks")
        checked.update({name: f"{plugin.name}/tests/{suites[name]}" for name in declared})
    assert set(checked) >= {"sqlite", "duckdb", "shell", "sqlalchemy"}, checked
