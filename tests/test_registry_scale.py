"""A thousand installed plugin distributions (one broken): resolving one name imports
exactly one plugin module, with or without the index. Counted, not timed; the
timings are in bench/bench_registry.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from distsite import BROKEN_INDEX, MODULE_PREFIX, executor_name, make_site

REPO = Path(__file__).resolve().parent.parent

COUNT = 1000

CODE = """
import json, sys
from shimtask_core import ExecutorRegistry, PluginLoadError
reg = ExecutorRegistry()
names = reg.names()
before = sorted(m for m in sys.modules if m.startswith({prefix!r}))
cls = reg.resolve({name!r})
after = sorted(m for m in sys.modules if m.startswith({prefix!r}))
try:
    reg.resolve({broken!r})
    broken = None
except PluginLoadError as exc:
    broken = [exc.dist, exc.version, exc.value, type(exc.cause).__name__]
print(json.dumps({{
    "names": len([n for n in names if n.startswith("exec")]),
    "before": before, "after": after, "cls": cls.__module__,
    "status": reg.index_state().status, "broken": broken,
    "metadata": "importlib.metadata" in sys.modules, "fsspec": "fsspec" in sys.modules,
}}))
"""


@pytest.fixture(scope="module")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("scale")
    site, site_broken = make_site(root, COUNT)
    return root, site, site_broken


def _run(root: Path, paths: list[Path], **env_extra: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIMTASK_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    env["SHIMTASK_CACHE_DIR"] = str(root / "cache")
    env.update(env_extra)
    code = CODE.format(prefix=MODULE_PREFIX, name=executor_name(123),
                       broken=executor_name(BROKEN_INDEX))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("mode", ["no index", "cold index", "warm index"])
def test_resolve_imports_exactly_one_plugin_among_a_thousand(
    big_site: tuple[Path, Path, Path], mode: str
) -> None:
    root, site, site_broken = big_site
    extra = {"SHIMTASK_NO_INDEX": "1"} if mode == "no index" else {}
    if mode == "warm index":
        _run(root, [site, site_broken])
    data = _run(root, [site, site_broken], **extra)
    assert data["names"] == COUNT
    assert data["before"] == [], "listing imported a plugin"
    assert data["after"] == [f"{MODULE_PREFIX}0123"]
    assert data["cls"] == f"{MODULE_PREFIX}0123"
    expected_status = {"no index": "disabled", "cold index": None, "warm index": "fresh"}[mode]
    if expected_status:
        assert data["status"] == expected_status
    else:
        assert data["status"] in ("built", "rebuilt")
    assert data["broken"] == [f"bench-plugin-{BROKEN_INDEX:04d}", "1.0.0",
                              f"{MODULE_PREFIX}{BROKEN_INDEX:04d}:Executor", "RuntimeError"]
    assert data["metadata"] is False, "the registry imported importlib.metadata"
    assert data["fsspec"] is False, "the registry imported fsspec"
