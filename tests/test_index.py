"""The persisted index: invalidated by installs with no command, never fatal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from distsite import write_dist
from pluginenv import PluginVenv, build_wheel
from shimtask_core import ExecutorRegistry
from shimtask_core.discovery import EXECUTOR_GROUP, PLUGIN_GROUP
from shimtask_core.registry import index as index_mod

REPO = Path(__file__).resolve().parent.parent

GROUPS = (EXECUTOR_GROUP, PLUGIN_GROUP)

PLUGIN = """
from shimtask_core import ShimTaskExecutor


class Marker(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return "marker 2 ran"
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("SHIMTASK_CACHE_DIR", str(directory))
    monkeypatch.delenv("SHIMTASK_NO_INDEX", raising=False)
    return directory


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write_dist(site, "plugin-a", "1.0", executors={"alpha": "mod_a:Alpha"},
               plugins={"hooks": "mod_a_hooks"})
    write_dist(site, "plugin-b", "2.0", executors={"beta": "mod_b:Beta"},
               keywords=["shimtask-api=1..2", "shimtask-task-type-versions=beta:0|2..3"])
    write_dist(site, "unrelated", "0.1", other_groups="[console_scripts]\nx = y:z\n")
    return site


def _names(state: index_mod.IndexState) -> list[tuple[str, str, str]]:
    return sorted((r.group, r.name, r.version) for r in state.records)


def test_built_then_fresh_without_scanning(
    site: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = index_mod.load([str(site)], GROUPS)
    assert first.status == "built"
    assert first.file is not None and Path(first.file).parent == cache
    assert _names(first) == [(EXECUTOR_GROUP, "alpha", "1.0"), (EXECUTOR_GROUP, "beta", "2.0"),
                             (PLUGIN_GROUP, "hooks", "1.0")]

    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("a warm lookup rescanned the distributions")

    monkeypatch.setattr(index_mod, "scan_path", no_scan)
    second = index_mod.load([str(site)], GROUPS)
    assert second.status == "fresh"
    assert second.records == first.records
    beta = next(r for r in second.records if r.name == "beta")
    assert beta.requires_api == (1, 2) and beta.task_type_versions == (0, 2, 3)
    assert [p.name for p in cache.iterdir()] == [Path(first.file).name], "temporary files left"


def test_installing_upgrading_and_removing_a_distribution_invalidates(
    site: Path, cache: Path
) -> None:
    index_mod.load([str(site)], GROUPS)
    write_dist(site, "plugin-c", "1.0", executors={"gamma": "mod_c:Gamma"})
    state = index_mod.load([str(site)], GROUPS)
    assert state.status == "rebuilt" and "sys.path directory was modified" in str(state.reason)
    assert (EXECUTOR_GROUP, "gamma", "1.0") in _names(state)

    # An upgrade: the old .dist-info goes, a new one comes.
    (site / "plugin_c-1.0.dist-info" / "entry_points.txt").unlink()
    for child in (site / "plugin_c-1.0.dist-info").iterdir():
        child.unlink()
    (site / "plugin_c-1.0.dist-info").rmdir()
    write_dist(site, "plugin-c", "1.1", executors={"gamma": "mod_c:Gamma"})
    assert (EXECUTOR_GROUP, "gamma", "1.1") in _names(index_mod.load([str(site)], GROUPS))
    assert index_mod.load([str(site)], GROUPS).status == "fresh"


def test_a_new_sys_path_entry_is_another_index(site: Path, cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_dist(other, "plugin-d", "1.0", executors={"delta": "mod_d:Delta"})
    one = index_mod.load([str(site)], GROUPS)
    two = index_mod.load([str(site), str(other)], GROUPS)
    assert one.file != two.file
    assert two.status == "built"
    assert (EXECUTOR_GROUP, "delta", "1.0") in _names(two)
    assert index_mod.load([str(site)], GROUPS).status == "fresh"
    # The same directory written differently is the same index.
    assert index_mod.load([str(site) + "/"], GROUPS).status == "fresh"


def test_egg_info_edited_in_place_invalidates(site: Path, cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "project"
    egg = source / "plugin_e.egg-info"
    egg.mkdir(parents=True)
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: plugin-e\nVersion: 0.1\n\n")
    (egg / "entry_points.txt").write_text("[shimtask.executors]\nepsilon = mod_e:E\n")
    path = [str(site), str(source)]
    assert (EXECUTOR_GROUP, "epsilon", "0.1") in _names(index_mod.load(path, GROUPS))
    before = os.stat(source).st_mtime_ns
    with open(egg / "entry_points.txt", "a") as fh:  # as `setup.py develop` rewrites it
        fh.write("zeta = mod_e:Z\n")
    os.utime(egg / "entry_points.txt", ns=(before + 10**9, before + 10**9))
    assert os.stat(source).st_mtime_ns == before
    state = index_mod.load(path, GROUPS)
    assert state.status == "rebuilt" and "egg-info" in str(state.reason)
    assert (EXECUTOR_GROUP, "zeta", "0.1") in _names(state)


@pytest.mark.parametrize("garbage", [
    b"", b"\x00\xff not json", b"[1, 2, 3]", b'{"format": 1}', b"[" * 100_000,
    b'{"format": 1, "groups": ["shimtask.executors", "shimtask.plugins"], "path": 7}',
])
def test_a_corrupt_index_is_rebuilt(site: Path, cache: Path, garbage: bytes) -> None:
    good = index_mod.load([str(site)], GROUPS)
    assert good.file is not None
    Path(good.file).write_bytes(garbage)
    state = index_mod.load([str(site)], GROUPS)
    assert state.status == "rebuilt"
    assert state.records == good.records
    assert index_mod.load([str(site)], GROUPS).status == "fresh"


def test_a_stale_format_or_wrong_groups_is_rebuilt(site: Path, cache: Path) -> None:
    good = index_mod.load([str(site)], GROUPS)
    assert good.file is not None
    data = json.loads(Path(good.file).read_text())
    data["format"] = 0
    Path(good.file).write_text(json.dumps(data))
    assert index_mod.load([str(site)], GROUPS).reason == "the index has another format"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_an_index_another_user_could_write_is_not_trusted(site: Path, cache: Path) -> None:
    good = index_mod.load([str(site)], GROUPS)
    assert good.file is not None
    os.chmod(good.file, 0o666)
    state = index_mod.load([str(site)], GROUPS)
    # owned by this user: the reason is the mode, not the owner (issue 14, finding 16)
    assert state.status == "rebuilt" and state.reason == (
        "the index file is writable by others (mode 0666), so anyone could change what is "
        "imported")
    assert os.stat(good.file).st_mode & 0o777 == 0o644
    os.chmod(good.file, 0o664)
    assert "writable by its group (mode 0664)" in str(index_mod.load([str(site)], GROUPS).reason)


def test_an_unwritable_cache_is_bypassed(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SHIMTASK_CACHE_DIR", str(blocker / "cache"))
    state = index_mod.load([str(site)], GROUPS)
    assert state.status == "bypassed" and "cannot write the index" in str(state.reason)
    assert len(state.records) == 3
    registry = ExecutorRegistry(path=[str(site)])
    assert registry.names() == ["alpha", "beta"]


def test_disabled_by_environment_or_argument(
    site: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ExecutorRegistry(path=[str(site)], index=False).index_state().status == "disabled"
    monkeypatch.setenv("SHIMTASK_NO_INDEX", "1")
    registry = ExecutorRegistry(path=[str(site)])
    assert registry.names() == ["alpha", "beta"]
    assert registry.index_state().status == "disabled"
    assert not cache.exists()
    monkeypatch.setenv("SHIMTASK_NO_INDEX", "0")
    assert ExecutorRegistry(path=[str(site)]).index_state().status == "built"


def test_registry_rebuild_and_cache_location(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIMTASK_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert index_mod.cache_dir() == str(tmp_path / "xdg" / "shimtask")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert index_mod.cache_dir() == str(tmp_path / "home" / ".cache" / "shimtask")
    registry = ExecutorRegistry(path=[str(site)])
    assert registry.index_state().status == "built"
    assert registry.index_state(rebuild=True).status == "rebuilt"
    assert ExecutorRegistry(path=[str(site)]).index_state().status == "fresh"


def test_old_index_files_are_pruned(
    site: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_mod, "MAX_INDEX_FILES", 3)
    for i in range(6):
        index_mod.load([str(site), str(tmp_path / f"nothing-{i}")], GROUPS)
    assert len(list(cache.glob("index-*.json"))) == 3
    assert index_mod.clear() == 3


def test_a_change_during_the_scan_is_not_persisted(
    site: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scan = index_mod.scan_path

    def scan_then_install(*args: object, **kwargs: object) -> object:
        records = real_scan(*args, **kwargs)  # type: ignore[arg-type]
        write_dist(site, "late", "1.0", executors={"late": "late:Late"})
        return records

    monkeypatch.setattr(index_mod, "scan_path", scan_then_install)
    state = index_mod.load([str(site)], GROUPS)
    assert state.status == "bypassed" and "changed during the scan" in str(state.reason)
    monkeypatch.setattr(index_mod, "scan_path", real_scan)
    assert "late" in [r.name for r in index_mod.load([str(site)], GROUPS).records]


# --- with pip, in a real venv ---------------------------------------------------------------


def _index(venv: PluginVenv, *args: str) -> dict[str, object]:
    result = venv.shimtask("plugins", "index", "--json", *args)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _executors(state: dict[str, object]) -> dict[str, str]:
    records = state["records"]
    assert isinstance(records, list)
    return {r["name"]: r["version"] for r in records if r["group"] == EXECUTOR_GROUP}


def test_pip_install_upgrade_uninstall_invalidate_with_no_command(
    tmp_path: Path, wheels: dict[str, Path]
) -> None:
    venv = PluginVenv(tmp_path / "env")
    venv.install(wheels["good"])
    first = _index(venv)
    assert first["status"] in ("built", "rebuilt")
    assert str(first["file"]).startswith(str(tmp_path / "env" / "cache"))
    assert _index(venv)["status"] == "fresh"

    venv.install(wheels["marker"])
    state = _index(venv)
    assert state["status"] == "rebuilt" and _executors(state)["marker"] == "1.0.0"

    newer = build_wheel(tmp_path / "v2", "shimtask-test-marker",
                        modules={"shimtask_test_marker.py": PLUGIN},
                        executors={"marker": "shimtask_test_marker:Marker",
                                   "marker2": "shimtask_test_marker:Marker"}, version="2.0.0")
    venv.install(newer)
    listing = venv.shimtask("plugins", "list", "--json")
    versions = {e["name"]: e["version"] for e in json.loads(listing.stdout)}
    assert versions["marker"] == versions["marker2"] == "2.0.0"

    venv.uninstall("shimtask-test-marker")
    listing = venv.shimtask("plugins", "list", "--json")
    assert {e["name"] for e in json.loads(listing.stdout)}.isdisjoint({"marker", "marker2"})
    assert _index(venv)["status"] == "fresh"
    assert _index(venv, "--rebuild")["status"] == "rebuilt"

    human = venv.shimtask("plugins", "index").stdout
    assert "index file: " + str(tmp_path / "env" / "cache") in human
    assert "status: fresh" in human
    disabled = venv.shimtask("plugins", "index", env={"SHIMTASK_NO_INDEX": "1"}).stdout
    assert "status: disabled" in disabled


def test_a_read_only_cache_never_breaks_the_cli(tmp_path: Path, wheels: dict[str, Path]) -> None:
    venv = PluginVenv(tmp_path / "env")
    venv.install(wheels["good"])
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = venv.shimtask("plugins", "list", "--json",
                           env={"SHIMTASK_CACHE_DIR": str(blocker / "cache")})
    assert result.returncode == 0, result.stderr
    assert "echo" in {e["name"] for e in json.loads(result.stdout)}
