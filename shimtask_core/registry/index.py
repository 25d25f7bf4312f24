"""The persisted index of entry points: listing without rescanning every distribution.

Scanning ``sys.path`` reads one ``entry_points.txt`` per installed distribution,
which takes tens of milliseconds with a thousand installed. The index keeps the
result of that scan in the user cache directory, in a file named after the
``sys.path`` it describes, together with the *state* it was built from:

* the modification time of every ``sys.path`` directory (``pip install``,
  ``uninstall`` and upgrades create or delete a ``.dist-info`` directory there,
  which changes it), and
* the modification time of every ``.egg-info/entry_points.txt`` (development
  installs rewrite those in place).

A lookup stats those paths and reads one small JSON file (with ``json``'s C scanner,
without importing ``json``); if anything differs the index is rebuilt. Nothing here
is ever fatal: a corrupt, foreign or unreadable file is rebuilt, an unwritable cache
is bypassed (the scan result is used directly), and writes are atomic (a temporary
file, then ``os.replace``).

``SHIMTASK_NO_INDEX=1`` turns the index off; ``SHIMTASK_CACHE_DIR`` moves it
(default ``$XDG_CACHE_HOME/shimtask``, else ``~/.cache/shimtask``).

This module imports neither ``importlib.metadata`` nor anything optional: it is
on the path of every ``shimtask execute``.
"""

from __future__ import annotations

import binascii  # crc32 as zlib's; protobuf has imported it, zlib would load a library
import contextlib
import os
import sys
import time
from collections.abc import Collection, Sequence
from typing import Any, final

from .. import settings
from ..storage import write_local_atomic
from .discovery import EntryPointRecord, files_key, path_key, scan_path

INDEX_FORMAT = 1
NO_INDEX_ENV = settings.NO_INDEX
CACHE_DIR_ENV = settings.CACHE_DIR

#: Index files kept per cache directory (one per distinct ``sys.path``); older ones go.
MAX_INDEX_FILES = 64

def index_enabled() -> bool:
    """False when ``SHIMTASK_NO_INDEX`` is on (``1``, ``true``, ``yes``, ``on``)."""
    return not settings.switch(NO_INDEX_ENV)


def cache_dir() -> str:
    """``SHIMTASK_CACHE_DIR``, else ``$XDG_CACHE_HOME/shimtask``, else ``~/.cache/shimtask``
    (``%LOCALAPPDATA%\\shimtask\\cache`` on Windows)."""
    explicit = settings.text(CACHE_DIR_ENV)
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "shimtask")
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return os.path.join(os.environ["LOCALAPPDATA"], "shimtask", "cache")
    return os.path.join(os.path.expanduser("~"), ".cache", "shimtask")


def index_file(key: Sequence[tuple[str, int]], groups: Collection[str],
               directory: str | None = None) -> str:
    """The index file for a ``sys.path`` (its entries, not their state) and groups."""
    ident = "\0".join([*(entry for entry, _ in key), "", *sorted(groups)])
    crc = binascii.crc32(ident.encode("utf-8", "surrogateescape"))
    return os.path.join(directory or cache_dir(), f"index-{crc:08x}.json")


@final
class IndexState:
    """What a lookup found: where the index is, whether it was used, and what it holds.

    ``status`` is one of ``fresh`` (read from the index, nothing scanned),
    ``built`` (no index yet: scanned and written), ``rebuilt`` (the installed
    distributions changed, or ``--rebuild``), ``bypassed`` (scanned; the index
    could not be written or is not trusted: see ``reason``), ``disabled``
    (``SHIMTASK_NO_INDEX`` or ``ExecutorRegistry(index=False)``).
    (A plain class: ``dataclasses`` would cost every execution its import.)
    """

    __slots__ = ("elapsed", "file", "path", "reason", "records", "status", "watched")

    def __init__(self, file: str | None, status: str, records: list[EntryPointRecord],
                 path: list[tuple[str, int]] | None = None,
                 watched: list[tuple[str, int]] | None = None, reason: str | None = None,
                 elapsed: float = 0.0) -> None:
        self.file = file
        self.status = status
        self.records = records
        self.path = [] if path is None else path
        self.watched = [] if watched is None else watched
        self.reason = reason
        self.elapsed = elapsed

    def __repr__(self) -> str:
        return (f"IndexState(file={self.file!r}, status={self.status!r}, "
                f"records=<{len(self.records)}>, reason={self.reason!r})")

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "reason": self.reason,
            "path": [{"entry": e, "mtime_ns": m} for e, m in self.path],
            "watched": [{"file": f, "mtime_ns": m} for f, m in self.watched],
            "records": [r.as_dict() for r in self.records],
            "elapsed_ms": round(self.elapsed * 1000, 3),
        }


def load(
    path: Sequence[str] | None = None,
    groups: Collection[str] = (),
    *,
    enabled: bool | None = None,
    rebuild: bool = False,
    directory: str | None = None,
) -> IndexState:
    """The entry points of ``groups`` on ``path`` (default ``sys.path``), from the index
    when it is up to date, else by scanning (and then writing the index)."""
    start = time.perf_counter()
    state = _lookup(list(sys.path if path is None else path), groups,
                    index_enabled() if enabled is None else enabled, rebuild, directory)
    state.elapsed = time.perf_counter() - start
    return state


def _lookup(entries: list[str], groups: Collection[str], enabled: bool, rebuild: bool,
            directory: str | None) -> IndexState:
    key = path_key(entries)
    if not enabled:
        return IndexState(None, "disabled", scan_path(entries, groups), key)
    try:
        target = index_file(key, groups, directory)
    except (OSError, RuntimeError) as exc:  # no home directory, say
        return IndexState(None, "bypassed", scan_path(entries, groups), key,
                          reason=f"no cache directory: {exc}")
    if rebuild:
        return _build(target, entries, key, groups, "rebuilt", "rebuild requested")
    cached, why = _read(target, key, groups)
    if cached is not None:
        return IndexState(target, "fresh", cached[0], key, cached[1])
    if why is not None:
        return _build(target, entries, key, groups, "rebuilt", why)
    return _build(target, entries, key, groups, "built", None)


# --- reading --------------------------------------------------------------------------


def _read(
    target: str, key: list[tuple[str, int]], groups: Collection[str]
) -> tuple[tuple[list[EntryPointRecord], list[tuple[str, int]]] | None, str | None]:
    """The records if the index at ``target`` is valid for ``key``; else why not
    (None when there simply is no index yet)."""
    try:
        fd = os.open(target, os.O_RDONLY)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read {target}: {exc.strerror or exc}"
    try:
        with os.fdopen(fd, "rb") as fh:
            distrust = _distrust(os.fstat(fh.fileno()))
            if distrust is not None:
                return None, distrust
            data = _loads(fh.read())
        return _decode(data, key, groups)
    except Exception as exc:  # anything unreadable is rebuilt, never fatal
        return None, f"the index was unreadable ({type(exc).__name__})"


class _ScanContext:
    """What ``json``'s C scanner reads from its decoder: plain JSON, no hooks."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float


def _loads(data: bytes) -> Any:
    """The index file's JSON, through the C scanner of ``json`` (``_json``) where there
    is one: importing ``json`` compiles six regular expressions, about a millisecond of
    every cold ``shimtask execute``, to read a file this module wrote itself (compact,
    no whitespace). Anything else than one JSON value raises."""
    text = data.decode("utf-8")
    try:
        import _json
    except ImportError:  # pragma: no cover - an interpreter without the accelerator
        import json

        return json.loads(text)
    value, end = _json.make_scanner(_ScanContext())(text, 0)  # type: ignore[arg-type]
    if end != len(text):
        raise ValueError(f"not one JSON value: data after position {end}")
    return value


def _distrust(st: os.stat_result) -> str | None:
    """Why an index file is not trusted, or None. An index decides what gets imported:
    only one this user owns and nobody else can write is trusted."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: the per-user cache directory is the protection
        return None
    if st.st_uid != getuid():
        return f"the index file is not owned by this user (its owner is uid {st.st_uid})"
    if st.st_mode & 0o022:
        return (f"the index file is writable by {'others' if st.st_mode & 0o002 else 'its group'}"
                f" (mode {st.st_mode & 0o777:04o}), so anyone could change what is imported")
    return None


def _decode(
    data: Any, key: list[tuple[str, int]], groups: Collection[str]
) -> tuple[tuple[list[EntryPointRecord], list[tuple[str, int]]] | None, str | None]:
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        return None, "the index has another format"
    if data.get("groups") != sorted(groups):
        return None, "the index is for other entry-point groups"
    if [tuple(item) for item in data["path"]] != key:
        return None, "installed distributions changed (a sys.path directory was modified)"
    watched = [(str(f), int(m)) for f, m in data["watched"]]
    if files_key(f for f, _ in watched) != watched:
        return None, "an .egg-info entry_points.txt changed"
    records = [EntryPointRecord.from_row(row) for row in data["records"]]
    return (records, watched), None


# --- writing --------------------------------------------------------------------------


def _build(
    target: str, entries: list[str], key: list[tuple[str, int]], groups: Collection[str],
    status: str, reason: str | None,
) -> IndexState:
    watch: list[str] = []
    # The key is taken *before* the scan: a distribution installed during the scan
    # leaves the stored key older than the directory, so the next lookup rebuilds.
    records = scan_path(entries, groups, watch=watch)
    watched = files_key(watch)
    if path_key(entries) != key:
        return IndexState(target, "bypassed", records, key, watched,
                          reason="the installed distributions changed during the scan")
    if _racy(key):
        return IndexState(target, "bypassed", records, key, watched,
                          reason="a sys.path directory changed too recently to be trusted "
                                 "on a file system with coarse timestamps")
    data = {
        "format": INDEX_FORMAT,
        "python": sys.executable,
        "groups": sorted(groups),
        "path": [list(item) for item in key],
        "watched": [list(item) for item in watched],
        "records": [r.to_row() for r in records],
    }
    import json  # only to write an index: a lookup reads it with _loads

    error = _write_atomic(target, json.dumps(data, separators=(",", ":")).encode("utf-8"))
    if error is not None:
        return IndexState(target, "bypassed", records, key, watched, reason=error)
    return IndexState(target, status, records, key, watched, reason=reason)


def _racy(key: list[tuple[str, int]]) -> bool:
    """A directory modified within the last two seconds on a file system that keeps
    whole seconds only could change again without its mtime changing (git's
    "racily clean" problem): do not persist such a state."""
    now = time.time_ns()
    return any(m > 0 and m % 1_000_000_000 == 0 and now - m < 2_000_000_000 for _, m in key)


def _write_atomic(target: str, payload: bytes) -> str | None:
    """Write ``payload`` to ``target`` atomically; returns the error message, or None."""
    directory = os.path.dirname(target)
    try:
        write_local_atomic(target, payload, mode=0o644, dir_mode=0o700)
    except OSError as exc:
        return f"cannot write the index in {directory}: {exc.strerror or exc}"
    _prune(directory, keep=target)
    return None


def _unlink(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


def _prune(directory: str, keep: str) -> None:
    """Keep the most recently written ``MAX_INDEX_FILES`` index files."""
    try:
        with os.scandir(directory) as it:
            found = [(e.stat().st_mtime_ns, e.path) for e in it
                     if e.name.startswith("index-") and e.name.endswith(".json")]
    except OSError:
        return
    if len(found) <= MAX_INDEX_FILES:
        return
    found.sort(reverse=True)
    for _, name in found[MAX_INDEX_FILES:]:
        if name != keep:
            _unlink(name)


def clear(directory: str | None = None) -> int:
    """Delete every index file in the cache directory; returns how many."""
    directory = directory or cache_dir()
    removed = 0
    try:
        with os.scandir(directory) as it:
            names = [e.path for e in it if e.name.startswith("index-")]
    except OSError:
        return 0
    for name in names:
        try:
            os.unlink(name)
            removed += 1
        except OSError:
            pass
    return removed
