"""Installed plugin distributions written directly as ``.dist-info`` directories.

What pip leaves behind, without pip: the registry's tests and ``bench/bench_registry.py``
build sites of up to a thousand synthetic plugins with these (pip-installing that many
wheels would take minutes and exercise nothing different). Tests that need a real
``pip install`` use :mod:`pluginenv` instead.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

GROUP = "shimtask.executors"
MODULE_PREFIX = "shimtask_bench_"
BROKEN_INDEX = 500

_PLUGIN = """\
from shimtask_core import ShimTaskExecutor


class Executor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return {name!r}
"""
_BROKEN = 'raise RuntimeError("plugin {name} is broken at import time")\n'


def write_dist(
    site: Path,
    dist: str,
    version: str = "1.0.0",
    *,
    modules: Mapping[str, str] | None = None,
    executors: Mapping[str, str] | None = None,
    plugins: Mapping[str, str] | None = None,
    keywords: Sequence[str] = (),
    other_groups: str = "",
) -> Path:
    """Write an installed distribution (``.dist-info`` plus its modules) into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    metadata = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    if keywords:
        metadata += f"Keywords: {','.join(keywords)}\n"
    (info / "METADATA").write_text(metadata + "\nA synthetic distribution.\n")
    text = other_groups
    for group, table in (("shimtask.executors", executors), ("shimtask.plugins", plugins)):
        if table:
            text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()) + "\n"
    (info / "entry_points.txt").write_text(text)
    (info / "RECORD").write_text("")
    for filename, source in (modules or {}).items():
        path = site / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return info


def executor_name(i: int) -> str:
    return f"exec{i:04d}"


def make_site(root: Path, count: int = 1000, *, broken: int | None = BROKEN_INDEX
              ) -> tuple[Path, Path]:
    """``count`` plugin distributions: the healthy ones in ``root/site``, the broken one
    (number ``broken``) alone in ``root/site-broken``. Returns both directories."""
    site, site_broken = root / "site", root / "site-broken"
    site_broken.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = executor_name(i)
        module = f"{MODULE_PREFIX}{i:04d}"
        source = (_BROKEN if i == broken else _PLUGIN).format(name=name)
        write_dist(
            site_broken if i == broken else site, f"bench-plugin-{i:04d}", "1.0.0",
            modules={f"{module}.py": source},
            executors={name: f"{module}:Executor"},
            other_groups=f"[console_scripts]\nbench-{i:04d} = {module}:main\n\n",
        )
    return site, site_broken
