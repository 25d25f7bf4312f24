"""Reading entry points from installed distributions without importing anything.

``importlib.metadata`` is correct but slow to import and rescans every
distribution on each call; here one pass over the ``sys.path`` directories reads
only the ``entry_points.txt`` files and keeps the groups asked for. An entry
point is *data* (``name = module:attr``) until someone asks for that name.

A plugin may also declare, as data, what it needs (read from its ``Keywords``
metadata, so ``shimtask plugins list`` can show it and the registry can refuse
a mismatch before importing anything)::

    keywords = ["shimtask-api=1..2", "shimtask-task-type-versions=sqlite:0..1|3"]

``shimtask-api=MIN..MAX`` (or ``=N``) is the range of ``shimtask_core.API_VERSION``
every executor of the distribution was written for;
``shimtask-task-type-versions=NAME:SPEC`` lists the template versions executor
NAME accepts (``N`` or ``A..B`` items joined by ``|``). The class attributes
``requires_api`` and ``task_type_versions`` stay authoritative once imported.
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple compiles every
# field annotation given as a string (a ForwardRef each), ~0.15 ms per field of every
# cold start; evaluated annotations cost nothing.
import os
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, final

#: The entry-point group of executors: ``name = "module:Class"``, the name a template asks for.
EXECUTOR_GROUP = "shimtask.executors"
#: The entry-point group of hook plugins (pluggy ``@hookimpl`` wrappers around every
#: execution).
PLUGIN_GROUP = "shimtask.plugins"

API_KEYWORD = "shimtask-api"
VERSIONS_KEYWORD = "shimtask-task-type-versions"

_DIST_SUFFIXES = (".dist-info", ".egg-info")


@final
class EntryPointRecord(NamedTuple):
    """One entry point as installed: what it is called and who provides it.

    ``requires_api`` and ``task_type_versions`` are what the distribution
    declares in its metadata (``None``: not declared there). A named tuple, not a
    dataclass: importing ``dataclasses`` (and ``inspect`` with it) would cost every
    ``shimtask execute`` several milliseconds.
    """

    name: str
    value: str
    group: str
    dist: str
    version: str
    requires_api: tuple[int, int] | None = None
    task_type_versions: tuple[int, ...] | None = None

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        return self.value.partition(":")[2].strip()

    def to_row(self) -> list[object]:
        """The fields in order, JSON-able: the index file and the doctor's worker carry
        records in this form, and :meth:`as_dict` names it."""
        return [plain(getattr(self, name)) for name in _RECORD_FIELDS]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "EntryPointRecord":
        """The inverse of :meth:`to_row`; raises on a malformed row."""
        name, value, group, dist, version, api, versions = row
        return cls(str(name), str(value), str(group), str(dist), str(version),
                   (int(api[0]), int(api[1])) if api else None,
                   tuple(int(v) for v in versions) if versions is not None else None)

    def as_dict(self) -> dict[str, object]:
        """The JSON form ``shimtask plugins list --json`` prints."""
        return dict(zip(_RECORD_FIELDS, self.to_row(), strict=True))


_RECORD_FIELDS = EntryPointRecord._fields


def plain(value: object) -> object:
    """A field value as JSON has it: tuples become lists, everything else is kept."""
    return list(value) if isinstance(value, tuple) else value


def normalize_dist_name(name: str) -> str:
    """PEP 503 normalisation, so ``Shimtask_SQLite3`` and ``shimtask-sqlite3`` are one:
    lower case, each run of ``-``, ``_`` and ``.`` one ``-``. A loop, not ``re.sub``:
    compiling the pattern would be ~0.1 ms of every cold start."""
    chars: list[str] = []
    for char in name.lower():
        if char in "-_.":
            if chars and chars[-1] == "-":
                continue
            char = "-"
        chars.append(char)
    return "".join(chars)


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
        if group is not None and group in groups and "=" in line:
            name, _, value = line.partition("=")
            value = value.split("[", 1)[0].strip()  # drop extras: "mod:attr [extra]"
            yield group, name.strip(), value


# --- declarations in the Keywords metadata ------------------------------------------------


def _parse_int_range(text: str) -> tuple[int, int] | None:
    low, sep, high = text.partition("..")
    try:
        lo = int(low)
        hi = int(high) if sep else lo
    except ValueError:
        return None
    return (lo, hi) if lo <= hi else None


def parse_version_set(spec: str) -> tuple[int, ...] | None:
    """``"0..2|5"`` -> ``(0, 1, 2, 5)``; None if the text is not such a list."""
    values: set[int] = set()
    for item in spec.split("|"):
        bounds = _parse_int_range(item.strip())
        if bounds is None or bounds[1] - bounds[0] > 10_000:
            return None
        values.update(range(bounds[0], bounds[1] + 1))
    return tuple(sorted(values))


def parse_declarations(
    keywords: Iterable[str],
) -> tuple[tuple[int, int] | None, dict[str, tuple[int, ...]]]:
    """The API range and the per-executor template versions declared in ``keywords``.

    Malformed declarations are ignored (the class attributes remain the authority).
    """
    api = None
    versions: dict[str, tuple[int, ...]] = {}
    for keyword in keywords:
        key, sep, value = keyword.strip().partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        if key == API_KEYWORD:
            api = _parse_int_range(value.strip()) or api
        elif key == VERSIONS_KEYWORD:
            name, sep, spec = value.partition(":")
            parsed = parse_version_set(spec) if sep else None
            if parsed is not None:
                versions[name.strip()] = parsed
    return api, versions


def _read_metadata(dist_dir: str) -> tuple[str | None, str | None, list[str]]:
    """Name, Version and Keywords from METADATA / PKG-INFO, reading only the header."""
    name = version = None
    keywords: list[str] = []
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(dist_dir, filename), encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
                    elif line.startswith("Keywords:"):
                        keywords.extend(k for k in line[9:].strip().split(",") if k.strip())
                    elif not line.strip():
                        break
        except (OSError, UnicodeDecodeError):
            continue
        break
    return name, version, keywords


def _name_version_from_dirname(dirname: str) -> tuple[str, str]:
    stem = dirname.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return name, version.split("-")[0] or "unknown"


# --- the scan ---------------------------------------------------------------------------


def scan_path(
    path: Iterable[str] | None = None,
    groups: Collection[str] = (EXECUTOR_GROUP, PLUGIN_GROUP),
    *,
    watch: list[str] | None = None,
) -> list[EntryPointRecord]:
    """Every entry point of ``groups`` in the distributions found on ``path``.

    A distribution found twice (the same name in two ``sys.path`` entries, or one
    directory listed twice) counts once: the first, as Python's own import would
    pick it. ``watch``, if given, receives the ``entry_points.txt`` paths of
    ``.egg-info`` distributions: those are edited in place by development
    installs, without touching their ``sys.path`` directory.
    """
    seen_dirs: set[str] = set()
    seen_dists: set[str] = set()
    records: list[EntryPointRecord] = []
    for entry in sys.path if path is None else path:
        directory = entry or "."
        real = os.path.realpath(directory)
        if real in seen_dirs:
            continue
        try:
            with os.scandir(directory) as it:
                candidates = sorted(d.name for d in it if d.name.endswith(_DIST_SUFFIXES))
        except OSError:
            continue
        seen_dirs.add(real)
        for dirname in candidates:
            dist_dir = os.path.join(directory, dirname)
            if watch is not None and dirname.endswith(".egg-info"):
                watch.append(os.path.abspath(os.path.join(dist_dir, "entry_points.txt")))
            records.extend(_scan_dist(dist_dir, dirname, groups, seen_dists))
    return records


def _scan_dist(
    dist_dir: str, dirname: str, groups: Collection[str], seen_dists: set[str]
) -> list[EntryPointRecord]:
    fallback_name, fallback_version = _name_version_from_dirname(dirname)
    key = normalize_dist_name(fallback_name)
    if key in seen_dists:
        return []
    seen_dists.add(key)
    try:
        with open(os.path.join(dist_dir, "entry_points.txt"), encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return []
    found = list(parse_entry_points(text, groups))
    if not found:
        return []
    name, version, keywords = _read_metadata(dist_dir)
    api, versions = parse_declarations(keywords)
    dist = name or fallback_name
    return [
        EntryPointRecord(name=ep_name, value=value, group=group, dist=dist,
                         version=version or fallback_version, requires_api=api,
                         task_type_versions=versions.get(ep_name))
        for group, ep_name, value in found
    ]


def path_key(path: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """The state of the ``sys.path`` directories, as ``(absolute path, mtime in ns)``.

    Installing, upgrading or removing a distribution creates or deletes its
    ``.dist-info`` directory, which changes the modification time of the
    directory it lands in. A missing entry has mtime -1.
    """
    entries = sys.path if path is None else path
    return files_key(os.path.abspath(entry or os.curdir) for entry in entries)


def files_key(files: Iterable[str]) -> list[tuple[str, int]]:
    """``(path, mtime in ns)`` of individual files (-1 when missing)."""
    state = []
    for name in files:
        try:
            state.append((name, os.stat(name).st_mtime_ns))
        except OSError:
            state.append((name, -1))
    return state
