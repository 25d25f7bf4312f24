"""Venvs in which a plugin's own test suite runs, as its author runs it.

A plugin's tests use ``shimtask_core.testing`` through pytest's ``pytest11``
entry point, so here shimtask-core is pip-installed from a wheel (with its
metadata, entry points and console script) instead of linked, and pytest is
linked in with its requirements and their metadata (no network). Everything
else comes from ``pluginenv``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pluginenv import REPO, PluginVenv, wheel_from_source


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
    env.link_distributions("pytest")  # with their metadata: pytest's header reads it
    return env
