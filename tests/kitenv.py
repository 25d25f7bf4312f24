"""Venvs in which a plugin's own test suite runs, as its author runs it.

A plugin's tests use ``shimtask_core.testing`` through pytest's ``pytest11``
entry point, so here shimtask-core is pip-installed from a wheel (with its
metadata, entry points and console script) instead of linked, and pytest is
linked in (no network). Everything else comes from ``pluginenv``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from pluginenv import REPO, PluginVenv, wheel_from_source

# Import packages pytest needs at run time.
_PYTEST_PACKAGES = ("pytest", "_pytest", "py", "pluggy", "iniconfig", "packaging",
                    "pygments", "exceptiongroup", "tomli")


def _import_path(name: str) -> Path | None:
    """Where this interpreter imports ``name`` from (a package directory or a module file)."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin else None


def core_wheel(out_dir: Path) -> Path:
    """The wheel of shimtask-core, built from a copy of its source (so a test leaves no
    build/ or egg-info in the working tree)."""
    src = out_dir / "src"
    shutil.copytree(REPO / "shimtask_core", src / "shimtask_core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    return wheel_from_source(out_dir / "wheels", src, "shimtask-core")


def installed_core_venv(root: Path, core: Path) -> PluginVenv:
    """A PluginVenv whose shimtask-core is pip-installed from the wheel ``core``, and that
    can run pytest."""
    env = PluginVenv(root)
    (env.site_packages / "shimtask_core").unlink()
    (env.root / "bin" / "shimtask").unlink()
    env.install(core)
    for name in _PYTEST_PACKAGES:
        target = _import_path(name)
        if target is not None and target.exists():
            link = env.site_packages / target.name
            if not link.exists():
                link.symlink_to(target, target_is_directory=target.is_dir())
    return env
