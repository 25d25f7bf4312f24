"""The registry in-process, over distributions written into a temporary directory."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core.literals_pb2 import LiteralMap

import shimtask_core
import shimtask_core.version
from distsite import write_dist
from shimtask_core import (
    ExecutorConflict,
    ExecutorDenied,
    ExecutorNotFound,
    ExecutorRegistry,
    PluginLoadError,
    ShimTaskExecutor,
    VersionMismatch,
    make_template,
)

REPO = Path(__file__).resolve().parent.parent

_counter = itertools.count()

CLASS = """
from shimtask_core import ShimTaskExecutor


class Executor(ShimTaskExecutor):
    {body}

    def execute_from_model(self, tt, **inputs):
        return "ran"
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sys.path directory for synthetic distributions; their modules are forgotten after."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("SHIMTASK_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("SHIMTASK_ALLOW", "SHIMTASK_DENY", "SHIMTASK_PREFER", "SHIMTASK_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:
        if name.startswith("unit_plugin_"):
            del sys.modules[name]


Plugin = Callable[..., str]


@pytest.fixture
def plugin(site: Path) -> Plugin:
    """Write a one-executor distribution; returns its unique module name."""

    def make(name: str, body: str = "pass", *, dist: str | None = None, version: str = "1.0",
             keywords: tuple[str, ...] = (), source: str | None = None) -> str:
        module = f"unit_plugin_{next(_counter)}"
        write_dist(site, dist or f"dist-{module}", version,
                   modules={f"{module}.py": source or CLASS.format(body=body)},
                   executors={name: f"{module}:Executor"}, keywords=keywords)
        return module

    return make


def _registry(site: Path, **kwargs: Any) -> ExecutorRegistry:
    return ExecutorRegistry(path=[str(site)], **kwargs)


def test_listing_imports_nothing_and_resolving_imports_one(site: Path, plugin: Plugin) -> None:
    a = plugin("a")
    b = plugin("b")
    registry = _registry(site)
    assert registry.names() == ["a", "b"]
    assert a not in sys.modules and b not in sys.modules
    assert registry.resolve("a").__module__ == a
    assert b not in sys.modules


def test_one_resolution_carried_through_the_task(site: Path, plugin: Plugin) -> None:
    """A template is resolved once: the task built from that resolution asks no registry
    again, and names, classes and entry points agree whichever way the task is made."""
    from shimtask_core import ExecutableTemplateShimTask
    from shimtask_core.registry import Resolution

    module = plugin("adder", dist="adder-dist", version="2.5")
    registry = _registry(site)
    tt = make_template("t", "adder")
    found = registry.resolution(tt)
    assert (found.name, found.executor.__module__) == ("adder", module)
    assert (found.record.dist, found.record.version, found.record.value) == (
        "adder-dist", "2.5", f"{module}:Executor")
    assert registry.resolution("adder", template=tt) is found  # loaded once, kept
    elsewhere = ExecutorRegistry(path=[])  # knows no executor at all
    task = ExecutableTemplateShimTask(tt, found, registry=elsewhere)
    assert task.resolution is found and task.executor_type is found.executor
    assert task.execute() == "ran"
    by_class = ExecutableTemplateShimTask(tt, found.executor, registry=elsewhere)
    assert by_class.resolution.name == "adder" and by_class.resolution.record.dist == ""
    assert isinstance(by_class.resolution, Resolution)


INC = """
from shimtask_core import ShimTaskExecutor


class Executor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return inputs["x"] + 1
"""


def test_one_execution_reads_and_resolves_its_executor_type_once(
    site: Path, plugin: Plugin, tmp_path: Path
) -> None:
    """``runtime.execute`` (what ``shimtask execute`` runs) reads the executor type from
    the template once, resolves it once and hands that resolution to the task: no step
    of one execution climbs back to the registry to ask again (one execution used to
    read ``custom["executor_type"]`` five times). The plugin is imported by the first
    execution only. Calls are counted with a profiler, nothing is replaced."""
    from shimtask_core import runtime, template
    from shimtask_core.literals import InterfaceCodec
    from shimtask_core.registry import checks, naming

    plugin("inc", source=INC)
    registry = _registry(site)
    tt = make_template("t", "inc", inputs={"x": int}, outputs={"o0": int})
    codec = InterfaceCodec(tt.interface)
    (tmp_path / "t.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "in.pb").write_bytes(codec.encode_inputs({"x": 41}).SerializeToString())
    watched = {
        naming.executor_type_of.__code__: "executor_type_of",
        ExecutorRegistry.resolution.__code__: "resolution",
        checks.check_declared.__code__: "check_declared",
        checks.check_class.__code__: "check_class",
        checks.load_entry_point.__code__: "load_entry_point",
        template.parse_template.__code__: "parse_template",
    }

    def one_execution(prefix: str) -> dict[str, int]:
        calls = dict.fromkeys(watched.values(), 0)

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "call" and frame.f_code in watched:
                calls[watched[frame.f_code]] += 1

        sys.setprofile(profile)
        try:
            result = runtime.execute(inputs=str(tmp_path / "in.pb"),
                                     template=str(tmp_path / "t.pb"),
                                     output_prefix=str(tmp_path / prefix), registry=registry)
        finally:
            sys.setprofile(None)
        assert result.ok, result.error
        outputs = LiteralMap.FromString((tmp_path / prefix / "outputs.pb").read_bytes())
        assert codec.decode_outputs(outputs) == {"o0": 42}
        return calls

    once = {"executor_type_of": 1, "resolution": 1, "check_declared": 1, "check_class": 1,
            "parse_template": 1}
    assert one_execution("first") == {**once, "load_entry_point": 1}
    assert one_execution("second") == {**once, "load_entry_point": 0}  # loaded, kept


def test_not_found_lists_installed_and_closest(site: Path, plugin: Plugin) -> None:
    plugin("sqlite")
    with pytest.raises(ExecutorNotFound) as info:
        _registry(site).resolve("sqlit")
    assert info.value.closest == ("sqlite",) and info.value.available == ("sqlite",)


def test_api_range_of_the_class(site: Path, plugin: Plugin,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    plugin("future", "requires_api = (2, 4)")
    plugin("current", "requires_api = 1")
    registry = _registry(site)
    assert registry.resolve("current").requires_api == 1
    with pytest.raises(VersionMismatch) as info:
        registry.resolve("future")
    assert (info.value.kind, info.value.got, info.value.accepted) == ("api", 1, "2..4")
    monkeypatch.setattr(shimtask_core.version, "API_VERSION", 3)
    assert registry.resolve("future").__name__ == "Executor"
    with pytest.raises(VersionMismatch):
        registry.resolve("current")  # cached, and still checked


def test_template_versions_of_the_class(site: Path, plugin: Plugin) -> None:
    plugin("v", "task_type_versions = frozenset({1, 2})")
    registry = _registry(site)
    for version, ok in ((0, False), (1, True), (2, True), (3, False)):
        tt = make_template("t", "v", task_type_version=version)
        if ok:
            assert registry.resolve(tt).__name__ == "Executor"
        else:
            with pytest.raises(VersionMismatch) as info:
                registry.resolve(tt)
            assert info.value.got == version and info.value.accepted == "1, 2"
            assert info.value.template == "t"
    assert registry.resolve("v").__name__ == "Executor"  # by name: no template to check


def test_declared_versions_refuse_before_import(site: Path, plugin: Plugin) -> None:
    module = plugin("d", keywords=("shimtask-api=2..3",))
    other = plugin("e", dist="declaring", keywords=("shimtask-task-type-versions=e:0..1",))
    registry = _registry(site)
    with pytest.raises(VersionMismatch) as info:
        registry.resolve("d")
    assert info.value.declared_in == "metadata" and "Keywords metadata" in str(info.value)
    with pytest.raises(VersionMismatch):
        registry.resolve(make_template("t", "e", task_type_version=5))
    assert module not in sys.modules and other not in sys.modules
    assert registry.resolve(make_template("t", "e", task_type_version=1)).__module__ == other


def test_malformed_declarations_are_load_errors(site: Path, plugin: Plugin) -> None:
    plugin("a", "requires_api = (3, 1)")
    plugin("b", "task_type_versions = 'zero'")
    plugin("c", "task_type_versions = 7")
    registry = _registry(site)
    for name in ("a", "b"):
        with pytest.raises(PluginLoadError, match="must be"):
            registry.resolve(name)
    tt = make_template("t", "c", task_type_version=7)
    assert registry.resolve(tt).task_type_versions == 7  # one int: that version alone


def test_registered_executors_and_check_versions(registry: ExecutorRegistry) -> None:
    class Old(ShimTaskExecutor[Any]):
        requires_api = (0, 0)

    class Picky(ShimTaskExecutor[Any]):
        task_type_versions = frozenset({3})

    registry.register("old", Old)
    registry.register("picky", Picky)
    with pytest.raises(VersionMismatch) as info:
        registry.resolve("old")
    assert "executor 'old' requires the shimtask_core plugin API 0" in str(info.value)
    with pytest.raises(VersionMismatch, match="does not accept task_type_version 0"):
        registry.resolve(make_template("t", "picky"))
    registry.check_versions(Picky, make_template("t", "x", task_type_version=3))
    with pytest.raises(VersionMismatch, match="executor 'x' does not accept"):
        registry.check_versions(Picky, make_template("t", "x"))


def test_policy_denies_before_import(site: Path, plugin: Plugin) -> None:
    module = plugin("secret", dist="Vendor_Secret")
    registry = _registry(site, deny=["vendor-*"])
    assert registry.names() == []
    with pytest.raises(ExecutorDenied) as info:
        registry.resolve("secret")
    assert info.value.dist == "Vendor_Secret" and "'vendor-*'" in info.value.reason
    assert module not in sys.modules
    assert registry.status_of(registry.entries(include_denied=True)[0])[0] == "denied"
    assert [r.status for r in registry.doctor(isolated=False)] == ["denied"]
    assert module not in sys.modules


def test_conflict_preference_and_status(site: Path, plugin: Plugin) -> None:
    plugin("echo", dist="first", version="1.0")
    second = plugin("echo", dist="second", version="2.0")
    with pytest.raises(ExecutorConflict) as info:
        _registry(site).resolve("echo")
    assert info.value.dists == ("first", "second")
    assert "first 1.0" in str(info.value) and "second 2.0" in str(info.value)
    registry = _registry(site, prefer={"echo": "SECOND"})
    assert registry.resolve("echo").__module__ == second
    statuses = {r.dist: registry.status_of(r)[0] for r in registry.entries()}
    assert statuses == {"first": "not-preferred", "second": "preferred"}
    plain = _registry(site)
    assert {plain.status_of(r)[0] for r in plain.entries()} == {"conflict"}
    assert {r.status for r in plain.doctor(isolated=False)} == {"conflict"}


def test_a_broken_plugin_is_remembered(site: Path, plugin: Plugin) -> None:
    runs = site / "runs.log"
    module = plugin("bad", source=f"open({str(runs)!r}, 'a').write('ran\\n')\nraise KeyError(1)\n")
    registry = _registry(site)
    for _ in range(3):
        with pytest.raises(PluginLoadError) as info:
            registry.resolve("bad")
        assert isinstance(info.value.cause, KeyError)
    assert module not in sys.modules
    assert runs.read_text() == "ran\n"
    registry.refresh()
    with pytest.raises(PluginLoadError):
        registry.resolve("bad")
    assert runs.read_text() == "ran\nran\n"


def test_doctor_falls_back_in_process_when_the_worker_cannot_start(
    site: Path, plugin: Plugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin("fine")
    plugin("syntax", source="def (:\n")
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.warns(RuntimeWarning, match="could not start"):
        reports = _registry(site).doctor()
    assert [(r.name, r.status) for r in reports] == [("fine", "ok"), ("syntax", "broken")]


def test_doctor_isolated_reports_declared_and_class_versions(site: Path, plugin: Plugin) -> None:
    plugin("v", "task_type_versions = {0, 1, 2}\n    requires_api = (1, 5)",
           keywords=("shimtask-api=0..3", "shimtask-task-type-versions=v:1..4"))
    (report,) = _registry(site).doctor()
    assert report.status == "ok"
    assert report.requires_api == (1, 3)  # both are enforced: the intersection
    assert report.task_type_versions == (1, 2)


def test_distribution_names_normalise_as_pep_503_says() -> None:
    """normalize_dist_name is PEP 503's ``re.sub(r"[-_.]+", "-", name).lower()``, written
    without ``re`` (a pattern compiled on every cold start): every name over these
    characters, up to six long, gives the same answer."""
    import itertools
    import re

    from shimtask_core.registry.discovery import normalize_dist_name

    for size in range(7):
        for chars in itertools.product("a_-.Z", repeat=size):
            name = "".join(chars)
            assert normalize_dist_name(name) == re.sub(r"[-_.]+", "-", name).lower(), name
    assert normalize_dist_name("Shimtask_SQLite3") == "shimtask-sqlite3"
