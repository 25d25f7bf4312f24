"""Discovery over real pip-installed distributions, in a separate venv and process."""

from __future__ import annotations

import json
from pathlib import Path

from pluginenv import PluginVenv


def test_plugins_list_json_shows_every_entry_with_its_distribution(venv: PluginVenv) -> None:
    result = venv.shimtask("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert set(entries) >= {"echo", "stats", "positional", "raiser", "marker", "broken"}
    assert entries["echo"] == {
        "name": "echo",
        "value": "shimtask_test_good:Echo",
        "group": "shimtask.executors",
        "dist": "shimtask-test-good",
        "version": "1.0.0",
        "requires_api": None,
        "task_type_versions": None,
        "status": "ok",
        "note": None,
    }
    assert entries["broken"]["dist"] == "shimtask-test-broken"


def test_plugins_list_human_table(venv: PluginVenv) -> None:
    result = venv.shimtask("plugins", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["EXECUTOR", "DISTRIBUTION", "VERSION", "ENTRY", "POINT"]
    assert any(line.split()[:3] == ["marker", "shimtask-test-marker", "1.0.0"] for line in lines)


def test_listing_and_resolving_another_name_import_no_other_plugin(
    venv: PluginVenv, marker_file: Path
) -> None:
    code = """
        import sys
        from shimtask_core import ExecutorRegistry
        reg = ExecutorRegistry()
        names = reg.names()
        entries = reg.entries()
        cls = reg.resolve("echo")
        loaded = sorted(m for m in sys.modules if m.startswith("shimtask_test"))
        print(cls.__name__, loaded, "marker" in names, len(entries) >= 6)
    """
    result = venv.python_code(code, env={"SHIMTASK_TEST_MARKER": str(marker_file)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Echo", "['shimtask_test_good']", "True", "True"]
    assert not marker_file.exists(), "listing or resolving 'echo' imported the marker plugin"


def test_resolving_the_marker_imports_it_once(venv: PluginVenv, marker_file: Path) -> None:
    code = """
        from shimtask_core import ExecutorRegistry
        reg = ExecutorRegistry()
        a = reg.resolve("marker")
        b = reg.resolve("marker")
        print(a is b, a.__name__)
    """
    result = venv.python_code(code, env={"SHIMTASK_TEST_MARKER": str(marker_file)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "Marker"]
    assert marker_file.read_text().splitlines() == ["imported shimtask_test_marker"]


def test_broken_plugin_breaks_only_itself(venv: PluginVenv) -> None:
    code = """
        from shimtask_core import ExecutorRegistry, PluginLoadError
        reg = ExecutorRegistry()
        try:
            reg.resolve("broken")
        except PluginLoadError as exc:
            print("ERR", exc.dist, exc.version, exc.value, type(exc.cause).__name__)
        print("OK", reg.resolve("echo").__name__, reg.resolve("stats").__name__)
    """
    result = venv.python_code(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ERR shimtask-test-broken 1.0.0 shimtask_test_broken:Anything RuntimeError",
        "OK Echo Stats",
    ]


def test_entry_points_that_are_not_executors_are_named(venv: PluginVenv) -> None:
    code = """
        from shimtask_core import ExecutorRegistry, PluginLoadError
        reg = ExecutorRegistry()
        for name in ("notanexecutor", "missingattr"):
            try:
                reg.resolve(name)
            except PluginLoadError as exc:
                print(name, "|", exc)
    """
    result = venv.python_code(code)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert "not a shimtask_core.ShimTaskExecutor subclass" in first
    assert "shimtask-test-good 1.0.0" in first
    assert "AttributeError" in second and "DoesNotExist" in second


def test_unknown_executor_lists_installed_and_closest(venv: PluginVenv) -> None:
    code = """
        from shimtask_core import ExecutorRegistry, ExecutorNotFound
        try:
            ExecutorRegistry().resolve("stat")
        except ExecutorNotFound as exc:
            print(exc.closest[0], "echo" in exc.available, "stats" in exc.available)
    """
    result = venv.python_code(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["stats", "True", "True"]


def test_two_distributions_claiming_one_name_conflict(
    tmp_path: Path, wheels: dict[str, Path]
) -> None:
    from pluginenv import build_wheel

    rival = build_wheel(
        tmp_path, "shimtask-test-rival",
        modules={"shimtask_test_rival.py": (
            "from shimtask_core import ShimTaskExecutor\n"
            "class Echo(ShimTaskExecutor):\n"
            "    def execute_from_model(self, tt, **kw):\n"
            "        return 'rival'\n")},
        executors={"echo": "shimtask_test_rival:Echo"}, version="2.1.0",
    )
    env = PluginVenv(tmp_path / "env")
    env.install(wheels["good"], rival)
    code = """
        from shimtask_core import ExecutorRegistry, ExecutorConflict
        try:
            ExecutorRegistry().resolve("echo")
        except ExecutorConflict as exc:
            print(exc)
        print(ExecutorRegistry(prefer={"echo": "shimtask-test-rival"}).resolve("echo").__module__)
        print(ExecutorRegistry().resolve("stats").__name__)
    """
    result = env.python_code(code)
    assert result.returncode == 0, result.stderr
    conflict, preferred, other = result.stdout.splitlines()
    assert "shimtask-test-good 1.0.0" in conflict and "shimtask-test-rival 2.1.0" in conflict
    assert preferred == "shimtask_test_rival"
    assert other == "Stats"
    result = env.python_code(
        "from shimtask_core import ExecutorRegistry\n"
        "print(ExecutorRegistry().resolve('echo').__module__)\n",
        env={"SHIMTASK_PREFER": "echo=shimtask-test-good"},
    )
    assert result.stdout.strip() == "shimtask_test_good", result.stderr
