"""Reading entry points from installed distributions without importing anything.

``importlib.metadata`` is correct but slow to import and rescans every
distribution on each call; here one pass over the ``sys.path`` directories reads
only the ``entry_points.txt`` files and keeps the groups asked for. An entry
point is *data* (``name = module:attr``) until someone asks for that name.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import final

EXECUTOR_GROUP = "shimtask.executors"
PLUGIN_GROUP = "shimtask.plugins"

_DIST_SUFFIXES = (".dist-info", ".egg-info")


@final
@dataclass(frozen=True)
class EntryPointRecord:
    """One entry point as installed: what it is called and who provides it."""

    name: str
    value: str
    group: str
    dist: str
    version: str

    __slots__ = ("dist", "group", "name", "value", "version")

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        return self.value.partition(":")[2].strip()

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "value": self.value,
            "group": self.group,
            "dist": self.dist,
            "version": self.version,
        }


def normalize_dist_name(name: str) -> str:
    """PEP 503 normalisation, so ``Shimtask_SQLite3`` and ``shimtask-sqlite3`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_entry_points(text: str, groups: Collection[str]) -> Iterator[tuple[str, str, str]]:
    """Yield ``(group, name, value)`` from an ``entry_points.txt`` for the wanted groups."""
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]":
            group = line[1:-1].strip()
            continue
        if group in groups and "=" in line:
            name, _, value = line.partition("=")
            value = value.split("[", 1)[0].strip()  # drop extras: "mod:attr [extra]"
            yield group, name.strip(), value


def _read_metadata(dist_dir: str) -> tuple[str | None, str | None]:
    """Name and Version from METADATA / PKG-INFO, reading only the header."""
    name = version = None
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(dist_dir, filename), encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
                    elif not line.strip() or (name and version):
                        break
        except OSError:
            continue
        break
    return name, version


def _name_version_from_dirname(dirname: str) -> tuple[str, str]:
    stem = dirname.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return name, version.split("-")[0] or "unknown"


def scan_path(
    path: Iterable[str] | None = None, groups: Collection[str] = (EXECUTOR_GROUP, PLUGIN_GROUP)
) -> list[EntryPointRecord]:
    """Every entry point of ``groups`` in the distributions found on ``path``.

    A distribution found twice (the same name in two ``sys.path`` entries) counts
    once: the first, as Python's own import would pick it.
    """
    seen_dirs: set[str] = set()
    seen_dists: set[str] = set()
    records: list[EntryPointRecord] = []
    for entry in sys.path if path is None else path:
        directory = entry or "."
        try:
            with os.scandir(directory) as it:
                candidates = sorted(d.name for d in it if d.name.endswith(_DIST_SUFFIXES))
        except OSError:
            continue
        real = os.path.realpath(directory)
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        for dirname in candidates:
            records.extend(_scan_dist(os.path.join(directory, dirname), dirname, groups,
                                      seen_dists))
    return records


def _scan_dist(
    dist_dir: str, dirname: str, groups: Collection[str], seen_dists: set[str]
) -> list[EntryPointRecord]:
    fallback_name, fallback_version = _name_version_from_dirname(dirname)
    key = normalize_dist_name(fallback_name)
    if key in seen_dists:
        return []
    try:
        with open(os.path.join(dist_dir, "entry_points.txt"), encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        seen_dists.add(key)
        return []
    found = list(parse_entry_points(text, groups))
    seen_dists.add(key)
    if not found:
        return []
    name, version = _read_metadata(dist_dir)
    dist = name or fallback_name
    return [
        EntryPointRecord(name=ep_name, value=value, group=group, dist=dist,
                         version=version or fallback_version)
        for group, ep_name, value in found
    ]


def path_key(path: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """The state of the ``sys.path`` directories: installing or removing a distribution
    changes the modification time of the directory it lands in."""
    state = []
    for entry in sys.path if path is None else path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return state
