"""The registry under faults, with real pip-installed plugins in a separate venv:
isolation of broken plugins, doctor, allow/deny, versions, conflicts, threads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pluginenv import PluginVenv, build_wheel

# --- plugins that misbehave in every way we know of ---------------------------------------

EXECUTOR = '''
from shimtask_core import ShimTaskExecutor


class {cls}(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return "{cls} ran"
'''

MARK = '''
import os

path = os.environ.get("SHIMTASK_TEST_MARKER")
if path:
    with open(path, "a") as fh:
        fh.write("imported " + __name__ + "\\n")
'''

FAULTS: dict[str, str] = {
    "syntax": "def broken(:\n    pass\n",
    "importerror": "import shimtask_no_such_module_anywhere\n",
    "sysexit": "raise SystemExit(3)\n",
    "osexit": "import os\nos._exit(7)\n",
    "hang": "import time\ntime.sleep(120)\n",
    "markraise": MARK + "raise ValueError('fails after its side effect')\n",
    "slow": MARK + "import time\ntime.sleep(0.3)\n" + EXECUTOR.format(cls="Slow"),
    "printer": ('print(\'{"result": 0, "status": "broken", "error": "forged"}\')\n'
                'print(\'{"done": true}\')\n' + EXECUTOR.format(cls="Printer")),
}

VERSIONS = '''
from shimtask_core import ShimTaskExecutor


class NeedsApi2(ShimTaskExecutor):
    requires_api = (2, 3)

    def execute_from_model(self, tt, **inputs):
        return "never"


class Ttv01(ShimTaskExecutor):
    task_type_versions = frozenset({0, 1})

    def execute_from_model(self, tt, **inputs):
        return "ttv01 ran"


class BadDeclaration(ShimTaskExecutor):
    requires_api = "one"
'''

BAD_HOOK = '''
from shimtask_core import hookimpl


@hookimpl
def execute_from_model(tt, inputs, not_in_the_spec):
    return None
'''


def build_keyword_wheel(out_dir: Path, dist: str, module: str, source: str,
                        executors: Mapping[str, str], keywords: Sequence[str]) -> Path:
    """A plugin wheel whose metadata declares versions in its Keywords (import-free)."""
    src = out_dir / "src" / dist
    src.mkdir(parents=True)
    (src / f"{module}.py").write_text(textwrap.dedent(source))
    eps = "".join(f'"{k}" = "{v}"\n' for k, v in executors.items())
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{dist}"\nversion = "1.0.0"\nkeywords = {list(keywords)!r}\n'
        f'[project.entry-points."shimtask.executors"]\n{eps}'
        f'[tool.setuptools]\npy-modules = ["{module}"]\n'
    )
    wheels = out_dir / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(wheels), str(src)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = wheels.glob(f"{dist.replace('-', '_')}-1.0.0-*.whl")
    return wheel


@pytest.fixture(scope="module")
def fault_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("fault-wheels")
    modules = {f"shimtask_fault_{name}.py": source for name, source in FAULTS.items()}
    modules["shimtask_fault_versions.py"] = VERSIONS
    wheels = [
        build_wheel(
            out, "shimtask-test-faults", modules=modules,
            executors={
                **{name: f"shimtask_fault_{name}:{name.capitalize()}" for name in FAULTS},
                "needsapi2": "shimtask_fault_versions:NeedsApi2",
                "ttv01": "shimtask_fault_versions:Ttv01",
                "baddecl": "shimtask_fault_versions:BadDeclaration",
            },
        ),
        build_wheel(out, "shimtask-test-badhook", modules={"shimtask_fault_badhook.py": BAD_HOOK},
                    plugins={"badhook": "shimtask_fault_badhook"}),
        build_keyword_wheel(
            out, "shimtask-test-declapi", "shimtask_fault_declapi",
            MARK + EXECUTOR.format(cls="DeclApi"), {"declapi": "shimtask_fault_declapi:DeclApi"},
            ["flyte", "shimtask-api=5..6"],
        ),
        build_keyword_wheel(
            out, "shimtask-test-declttv", "shimtask_fault_declttv",
            MARK + EXECUTOR.format(cls="DeclTtv"), {"declttv": "shimtask_fault_declttv:DeclTtv"},
            ["shimtask-api=1", "shimtask-task-type-versions=declttv:0..1|4"],
        ),
    ]
    return wheels


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path],
           fault_wheels: list[Path]) -> PluginVenv:
    """A venv with the good, marker and broken test plugins plus every faulty one."""
    env = PluginVenv(tmp_path_factory.mktemp("faults") / "env")
    env.install(wheels["good"], wheels["marker"], wheels["broken"], wheels["wrapper"],
                *fault_wheels)
    return env


def _py(venv: PluginVenv, code: str, **env: str) -> list[str]:
    result = venv.python_code(code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


# --- isolation ----------------------------------------------------------------------------


def test_every_kind_of_import_failure_breaks_only_itself(faults: PluginVenv) -> None:
    lines = _py(faults, """
        from shimtask_core import ExecutorRegistry, PluginLoadError
        reg = ExecutorRegistry()
        for name in ("syntax", "importerror", "sysexit", "broken", "missingattr",
                     "notanexecutor", "baddecl"):
            try:
                reg.resolve(name)
                print(name, "RESOLVED")
            except PluginLoadError as exc:
                cause = exc.cause if isinstance(exc.cause, str) else type(exc.cause).__name__
                print(name, "|", exc.dist, exc.version, exc.value, "|", cause, "|", exc)
        print("still alive:", reg.resolve("echo").__name__, reg.resolve("printer").__name__)
    """)
    by_name = {line.split()[0]: line for line in lines}
    for name, dist, cause in [
        ("syntax", "shimtask-test-faults", "SyntaxError"),
        ("importerror", "shimtask-test-faults", "ModuleNotFoundError"),
        ("sysexit", "shimtask-test-faults", "SystemExit"),
        ("broken", "shimtask-test-broken", "RuntimeError"),
        ("missingattr", "shimtask-test-good", "AttributeError"),
    ]:
        line = by_name[name]
        _, ids, why, message = line.split(" | ")
        assert ids.split()[:2] == [dist, "1.0.0"], line
        assert why == cause, line
        # The message alone names the distribution, version, entry point and the cause.
        assert f"from distribution {dist} 1.0.0" in message and cause in message
        assert f"plugin {name!r} = " in message
    assert "not a shimtask_core.ShimTaskExecutor subclass" in by_name["notanexecutor"]
    assert "requires_api must be a (min, max) pair" in by_name["baddecl"]
    assert lines[-1] == "still alive: Echo Printer"


def test_a_failed_import_is_not_retried_and_every_caller_gets_the_error(
    faults: PluginVenv, marker_file: Path
) -> None:
    lines = _py(faults, """
        import threading
        from shimtask_core import ExecutorRegistry, PluginLoadError
        reg = ExecutorRegistry()
        errors = []
        def worker():
            try:
                reg.resolve("markraise")
            except PluginLoadError as exc:
                errors.append(type(exc.cause).__name__)
        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(len(errors), set(errors))
    """, SHIMTASK_TEST_MARKER=str(marker_file))
    assert lines == ["16 {'ValueError'}"]
    assert marker_file.read_text().splitlines() == ["imported shimtask_fault_markraise"]


# --- threads ------------------------------------------------------------------------------


def test_concurrent_resolve_returns_one_class_and_imports_once(
    faults: PluginVenv, marker_file: Path
) -> None:
    lines = _py(faults, """
        import threading
        from shimtask_core import ExecutorRegistry
        reg = ExecutorRegistry()
        barrier = threading.Barrier(32)
        found = []
        def worker():
            barrier.wait()
            found.append(reg.resolve("slow"))
        threads = [threading.Thread(target=worker) for _ in range(32)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(len(found), len({id(c) for c in found}), found[0].__name__)
    """, SHIMTASK_TEST_MARKER=str(marker_file))
    assert lines == ["32 1 Slow"]
    assert marker_file.read_text().splitlines() == ["imported shimtask_fault_slow"]


# --- doctor -------------------------------------------------------------------------------


def test_doctor_survives_exit_crash_hang_and_stdout_noise(faults: PluginVenv) -> None:
    lines = _py(faults, """
        import json, os
        from shimtask_core import ExecutorRegistry
        reports = ExecutorRegistry().doctor(timeout=3)
        print(json.dumps([r.as_dict() for r in reports]))
        print("parent alive", os.getpid())
    """)
    reports = {(r["group"], r["name"]): r for r in json.loads(lines[0])}
    assert lines[1].startswith("parent alive")
    ex = "shimtask.executors"

    def broken(name: str, *needles: str) -> None:
        report = reports[(ex, name)]
        assert report["status"] == "broken" and report["ok"] is False, report
        for needle in needles:
            assert needle in report["error"], (needle, report)

    broken("osexit", "exit status 7", "shimtask-test-faults 1.0.0", "shimtask_fault_osexit")
    broken("hang", "did not finish importing within 3 s")
    broken("syntax", "SyntaxError")
    broken("sysexit", "SystemExit")
    broken("broken", "RuntimeError", "shimtask-test-broken")
    broken("notanexecutor", "not a shimtask_core.ShimTaskExecutor subclass")
    broken("needsapi2", "requires the shimtask_core plugin API 2..3")
    broken("declapi", "API 5..6", "Keywords metadata")
    broken("baddecl", "requires_api must be")
    # The plugin that prints a forged protocol line at import is fine, and reported so.
    assert reports[(ex, "printer")]["status"] == "ok"
    assert reports[(ex, "echo")]["status"] == "ok"
    assert reports[(ex, "ttv01")]["task_type_versions"] == [0, 1]
    assert reports[(ex, "declttv")]["requires_api"] == [1, 1]
    # The class accepts any version; its metadata declares 0, 1, 4: both are enforced.
    assert reports[(ex, "declttv")]["task_type_versions"] == [0, 1, 4]
    hooks = "shimtask.plugins"
    assert reports[(hooks, "recorder")]["status"] == "ok"
    assert reports[(hooks, "badhook")]["status"] == "broken"
    assert "not_in_the_spec" in reports[(hooks, "badhook")]["error"]


def test_doctor_cli_exit_status_json_and_denied_entries_not_imported(
    faults: PluginVenv, marker_file: Path
) -> None:
    env = {"SHIMTASK_TEST_MARKER": str(marker_file)}
    result = faults.shimtask("plugins", "doctor", "--json", "--timeout", "3", env=env)
    assert result.returncode == 1, result.stderr
    assert any(r["status"] == "broken" for r in json.loads(result.stdout))
    marker_file.unlink()

    env["SHIMTASK_ALLOW"] = "echo,stats,marker,recorder"
    env["SHIMTASK_DENY"] = "marker"
    result = faults.shimtask("plugins", "doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("executor echo (shimtask-test-good 1.0.0") and ": OK" in line
               for line in lines)
    assert any(line.startswith("executor marker ") and "DENIED" in line for line in lines)
    assert "broken" in lines[-1] and lines[-1].startswith("3 ok, 0 broken")
    assert not marker_file.exists(), "doctor imported a denied plugin"


def test_doctor_in_process_mode(faults: PluginVenv) -> None:
    lines = _py(faults, """
        from shimtask_core import ExecutorRegistry
        reg = ExecutorRegistry(allow=["echo", "syntax", "sysexit", "recorder"])
        for r in reg.doctor(isolated=False):
            if r.status != "denied":
                print(r.name, r.status)
    """)
    assert lines == ["echo ok", "syntax broken", "sysexit broken", "recorder ok"]


# --- policy -------------------------------------------------------------------------------


def test_denied_plugin_is_never_imported_and_reported_as_denied(
    faults: PluginVenv, marker_file: Path
) -> None:
    code = """
        import sys
        from shimtask_core import ExecutorRegistry, ExecutorDenied
        reg = ExecutorRegistry()
        print("marker" in reg.names(), "echo" in reg.names())
        try:
            reg.resolve("marker")
        except ExecutorDenied as exc:
            print(type(exc).__name__, exc.name, exc.dist, "|", exc.reason)
        reg.plugin_manager
        print(sorted(m for m in sys.modules if m.startswith("shimtask_test")))
    """
    env = {"SHIMTASK_TEST_MARKER": str(marker_file)}
    for deny in ("marker", "shimtask-test-mark*", "Shimtask_Test_Marker"):
        lines = _py(faults, code, SHIMTASK_DENY=f"recorder,{deny}", **env)
        assert lines[0] == "False True"
        assert lines[1].startswith("ExecutorDenied marker shimtask-test-marker |")
        assert f"deny pattern {deny!r}" in lines[1]
        assert lines[2] == "[]", "the denied hook plugin was imported"
    assert not marker_file.exists()

    lines = _py(faults, code.replace('"marker"', '"stats"'), SHIMTASK_ALLOW="echo,recorder",
                **env)
    assert lines[0] == "False True"
    assert "matches no allow pattern (echo, recorder)" in lines[1]
    assert lines[2] == "['shimtask_test_wrapper']"


def test_constructor_policy_overrides_the_environment(faults: PluginVenv) -> None:
    lines = _py(faults, """
        from shimtask_core import ExecutorRegistry
        print(ExecutorRegistry(deny=[]).resolve("echo").__name__)
        print(ExecutorRegistry(allow=["Shimtask_Test_Good"]).names())
    """, SHIMTASK_DENY="echo")
    assert lines[0] == "Echo"
    # Each argument replaces its own variable: SHIMTASK_DENY still denies echo here.
    assert lines[1] == str(sorted(["stats", "positional", "raiser", "flaky", "wrongtype",
                                   "notanexecutor", "missingattr"]))


def test_plugins_list_marks_denied_entries(faults: PluginVenv) -> None:
    result = faults.shimtask("plugins", "list", env={"SHIMTASK_DENY": "marker"})
    assert result.returncode == 0, result.stderr
    marker = next(line for line in result.stdout.splitlines() if line.startswith("marker "))
    assert marker.split()[-1] == "denied"
    assert "marker (shimtask-test-marker): denied: it matches deny pattern 'marker'" in (
        result.stdout)
    result = faults.shimtask("plugins", "list", "--json", env={"SHIMTASK_DENY": "marker"})
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert entries["marker"]["status"] == "denied"
    assert entries["echo"]["status"] == "ok"


# --- versions -----------------------------------------------------------------------------


def test_api_and_template_versions_are_checked_before_execution(
    faults: PluginVenv, marker_file: Path
) -> None:
    lines = _py(faults, """
        import sys
        from shimtask_core import ExecutorRegistry, VersionMismatch, make_template
        reg = ExecutorRegistry()
        def attempt(what, **kw):
            try:
                cls = reg.resolve(what, **kw)
                print("OK", cls.__name__)
            except VersionMismatch as exc:
                print("MISMATCH", exc.name, exc.kind, exc.got, exc.accepted, exc.declared_in,
                      "|", exc)
        def tt(name, version):
            return make_template("t", name, custom={"x": 1}, task_type_version=version)
        attempt("needsapi2")
        attempt("ttv01")                       # by name: only the API is checked
        attempt(tt("ttv01", 1))
        attempt(tt("ttv01", 2))
        attempt("ttv01", template=tt("ttv01", 2))
        attempt("declapi")                     # refused from metadata: never imported
        attempt(tt("declttv", 3))              # refused from metadata: never imported
        print(sorted(m for m in sys.modules if m.startswith("shimtask_fault_decl")))
        attempt(tt("declttv", 4))
    """, SHIMTASK_TEST_MARKER=str(marker_file))
    assert lines[0].startswith("MISMATCH needsapi2 api 1 2..3 class |")
    assert "shimtask-test-faults 1.0.0" in lines[0]
    assert lines[1] == "OK Ttv01"
    assert lines[2] == "OK Ttv01"
    assert lines[3].startswith("MISMATCH ttv01 task_type_version 2 0, 1 class |")
    assert "of template 't'" in lines[3]
    assert lines[4] == lines[3]
    assert lines[5].startswith("MISMATCH declapi api 1 5..6 metadata |")
    assert lines[6].startswith("MISMATCH declttv task_type_version 3 0, 1, 4 metadata |")
    assert lines[7] == "[]"
    assert lines[8] == "OK DeclTtv"
    assert marker_file.read_text().splitlines() == ["imported shimtask_fault_declttv"]


def test_plugins_list_shows_declared_versions(faults: PluginVenv) -> None:
    result = faults.shimtask("plugins", "list", "--json")
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert entries["declapi"]["requires_api"] == [5, 6]
    assert entries["declttv"]["requires_api"] == [1, 1]
    assert entries["declttv"]["task_type_versions"] == [0, 1, 4]
    assert entries["echo"]["requires_api"] is None
    table = faults.shimtask("plugins", "list").stdout.splitlines()
    assert table[0].split() == ["EXECUTOR", "DISTRIBUTION", "VERSION", "ENTRY", "POINT", "API",
                                "TEMPLATE", "VERSIONS", "STATUS"]
    declttv = next(line for line in table if line.startswith("declttv "))
    assert declttv.split()[4:] == ["1", "0,1,4", "ok"]
    assert any("-: not declared in the distribution's metadata" in line for line in table)


# --- conflicts and duplicates ---------------------------------------------------------------


def test_same_directory_twice_on_sys_path_is_not_a_conflict(faults: PluginVenv) -> None:
    lines = _py(faults, """
        import sys, sysconfig
        site = sysconfig.get_path("purelib")
        sys.path.extend([site, site + "/", site + "/../site-packages"])
        from shimtask_core import ExecutorRegistry
        reg = ExecutorRegistry()
        print(len([e for e in reg.entries() if e.name == "echo"]), reg.resolve("echo").__name__)
    """)
    assert lines == ["1 Echo"]


def test_a_distribution_shadowed_in_two_directories_is_not_a_conflict(
    faults: PluginVenv, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path, "shimtask-test-good",
                        modules={"shimtask_test_good.py": EXECUTOR.format(cls="Echo")},
                        executors={"echo": "shimtask_test_good:Echo"}, version="2.0.0")
    target = tmp_path / "shadow"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    code = """
        from shimtask_core import ExecutorRegistry
        reg = ExecutorRegistry()
        echo = [e for e in reg.entries() if e.name == "echo"]
        print([(e.dist, e.version) for e in echo], reg.resolve("echo").__module__,
              "stats" in reg.names())
    """
    lines = _py(faults, code, PYTHONPATH=str(target))
    # The first directory on sys.path wins, as it does for the import system.
    assert lines == ["[('shimtask-test-good', '2.0.0')] shimtask_test_good False"]


def test_conflict_names_both_distributions_and_how_to_choose(
    faults: PluginVenv, tmp_path: Path
) -> None:
    rival = build_wheel(
        tmp_path, "shimtask-test-rival",
        modules={"shimtask_test_rival.py": EXECUTOR.format(cls="Echo")},
        executors={"echo": "shimtask_test_rival:Echo"}, version="3.1.0",
    )
    target = tmp_path / "rival"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(target), str(rival)], check=True, capture_output=True)
    code = """
        from shimtask_core import ExecutorRegistry, ExecutorConflict
        try:
            ExecutorRegistry().resolve("echo")
        except ExecutorConflict as exc:
            print(exc.name, exc.dists, exc.preferred, "|", exc)
    """
    (line,) = _py(faults, code, PYTHONPATH=str(target))
    assert line.startswith("echo ('shimtask-test-good', 'shimtask-test-rival') None |")
    assert "shimtask-test-good 1.0.0 (shimtask_test_good:Echo)" in line
    assert "shimtask-test-rival 3.1.0 (shimtask_test_rival:Echo)" in line
    assert "SHIMTASK_PREFER=echo=shimtask-test-good" in line
    assert "ExecutorRegistry(prefer={'echo': 'shimtask-test-good'})" in line

    (line,) = _py(faults, code, PYTHONPATH=str(target), SHIMTASK_PREFER="echo=nobody")
    assert "The preference 'nobody' for 'echo' matches none of them." in line

    listing = faults.shimtask("plugins", "list", "--json",
                              env={"PYTHONPATH": str(target),
                                   "SHIMTASK_PREFER": "echo=Shimtask_Test_Rival"})
    status = {(e["name"], e["dist"]): e["status"] for e in json.loads(listing.stdout)}
    assert status[("echo", "shimtask-test-rival")] == "preferred"
    assert status[("echo", "shimtask-test-good")] == "not-preferred"

    result = faults.shimtask("plugins", "doctor", "--json", env={
        "PYTHONPATH": str(target), "SHIMTASK_ALLOW": "echo"})
    assert result.returncode == 1
    assert {r["status"] for r in json.loads(result.stdout) if r["name"] == "echo"} == {"conflict"}


# --- the hot path ---------------------------------------------------------------------------


def test_resolving_from_a_warm_index_imports_no_metadata_machinery(faults: PluginVenv) -> None:
    code = """
        import sys
        from shimtask_core import ExecutorRegistry
        reg = ExecutorRegistry()
        cls = reg.resolve("echo")
        print(reg.index_state().status, "importlib.metadata" in sys.modules,
              "fsspec" in sys.modules)
    """
    _py(faults, code)
    assert _py(faults, code) == ["fresh False False"]
