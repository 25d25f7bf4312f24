"""The executor registry: one executor type name -> one executor class, imported lazily.

Like stevedore's ``DriverManager``, it resolves exactly one executor per
template. Listing reads entry-point metadata only (through the persisted
index, :mod:`shimtask_core.index`); resolving imports only the plugin that
provides the requested name. The rules live here:

* **policy first**: allow/deny globs are applied before anything is imported;
* **conflicts**: two distributions claiming one name is an error naming both,
  unless the user prefers one (``prefer=`` or ``SHIMTASK_PREFER``); one
  distribution seen twice on ``sys.path`` is not a conflict (discovery keeps
  the first, as the import system does);
* **isolation**: a plugin that fails to load breaks only its own name, and
  :meth:`ExecutorRegistry.doctor` imports each plugin in a separate process;
* **versions**: an executor's ``requires_api`` must contain
  ``shimtask_core.API_VERSION`` and its ``task_type_versions`` the template's
  ``task_type_version``; both are checked before execution, and before import
  when the distribution declares them in its metadata (see
  :mod:`shimtask_core.discovery`).
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from .discovery import EXECUTOR_GROUP, PLUGIN_GROUP, EntryPointRecord, normalize_dist_name
from .errors import (
    ExecutorConflict,
    ExecutorDenied,
    ExecutorNotFound,
    PluginLoadError,
    VersionMismatch,
)
from .executor import ShimTaskExecutor
from .template import executor_type_of

if TYPE_CHECKING:
    import pluggy
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from .index import IndexState

ALLOW_ENV = "SHIMTASK_ALLOW"
DENY_ENV = "SHIMTASK_DENY"
PREFER_ENV = "SHIMTASK_PREFER"

IN_PROCESS = "(registered in-process)"

#: Seconds one plugin may take to import under ``doctor()`` before it is reported as hung.
DOCTOR_TIMEOUT = 60.0


@final
@dataclass(frozen=True)
class DoctorReport:
    """The outcome of checking one entry point.

    ``status`` is ``ok``, ``broken`` (it does not import, is not an executor, or
    needs another API), ``conflict`` (it imports, but another distribution claims
    its name and no preference picks one) or ``denied`` (the policy excludes it:
    not imported). ``ok`` is false for ``broken`` and ``conflict``.
    ``requires_api`` and ``task_type_versions`` are what :meth:`ExecutorRegistry.resolve`
    enforces: the class attributes (when it was imported) and the metadata
    declarations combined, as both are checked.
    """

    name: str
    group: str
    value: str
    dist: str
    version: str
    ok: bool
    error: str | None = None
    status: str = "ok"
    note: str | None = None
    requires_api: tuple[int, int] | None = None
    task_type_versions: tuple[int, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "value": self.value,
            "dist": self.dist,
            "version": self.version,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "note": self.note,
            "requires_api": list(self.requires_api) if self.requires_api else None,
            "task_type_versions": (list(self.task_type_versions)
                                   if self.task_type_versions is not None else None),
        }


def _split_env(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


def _parse_prefer(value: str | None) -> dict[str, str]:
    prefer = {}
    for item in _split_env(value) or []:
        name, sep, dist = item.partition("=")
        if sep:
            prefer[name.strip()] = dist.strip()
    return prefer


def _matches(pattern: str, name: str, dist: str | None) -> bool:
    if fnmatch.fnmatchcase(name, pattern):
        return True
    return dist is not None and fnmatch.fnmatchcase(normalize_dist_name(dist),
                                                    normalize_dist_name(pattern))


def load_entry_point(record: EntryPointRecord) -> Any:
    """Import ``module:attr`` of one entry point; any failure becomes PluginLoadError.

    A plugin may raise anything at import, SyntaxError and SystemExit included;
    only KeyboardInterrupt passes through.
    """
    try:
        obj: Any = importlib.import_module(record.module)
        for part in filter(None, record.attr.split(".")):
            obj = getattr(obj, part)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise PluginLoadError(record.name, record.value, record.dist, record.version,
                              exc) from exc
    return obj


# --- version declarations ----------------------------------------------------------------


def _api_version() -> int:
    from . import API_VERSION

    return API_VERSION


def _format_range(bounds: tuple[int, int]) -> str:
    return str(bounds[0]) if bounds[0] == bounds[1] else f"{bounds[0]}..{bounds[1]}"


def _format_versions(versions: Sequence[int]) -> str:
    return ", ".join(map(str, versions)) if versions else "(none)"


def class_requires_api(record: EntryPointRecord, cls: type[Any]) -> tuple[int, int] | None:
    """``cls.requires_api`` as ``(min, max)`` (an int N means ``(N, N)``); PluginLoadError
    if it is malformed."""
    value = getattr(cls, "requires_api", None)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (isinstance(value, tuple | list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and value[0] <= value[1]):
        return (value[0], value[1])
    raise PluginLoadError(record.name, record.value, record.dist, record.version,
                          f"{cls.__qualname__}.requires_api must be a (min, max) pair of "
                          f"integers, not {value!r}")


def class_task_type_versions(record: EntryPointRecord, cls: type[Any]) -> tuple[int, ...] | None:
    """``cls.task_type_versions`` as a sorted tuple (None: any); PluginLoadError if it is
    malformed."""
    value = getattr(cls, "task_type_versions", None)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    try:
        items = tuple(sorted(set(value)))
    except TypeError:
        items = None
    if items is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise PluginLoadError(record.name, record.value, record.dist, record.version,
                              f"{cls.__qualname__}.task_type_versions must be a set of "
                              f"integers or None, not {value!r}")
    return items


def _check_api(record: EntryPointRecord, bounds: tuple[int, int] | None, declared_in: str
               ) -> None:
    api = _api_version()
    if bounds is not None and not bounds[0] <= api <= bounds[1]:
        raise VersionMismatch(record.name, "api", api, _format_range(bounds),
                              dist=record.dist or None, version=record.version or None,
                              declared_in=declared_in)


def _check_task_type_version(
    record: EntryPointRecord, versions: Sequence[int] | None, tt: TaskTemplate, declared_in: str
) -> None:
    if versions is not None and tt.task_type_version not in versions:
        raise VersionMismatch(record.name, "task_type_version", tt.task_type_version,
                              _format_versions(versions), dist=record.dist or None,
                              version=record.version or None, declared_in=declared_in,
                              template=tt.id.name or None)


def _check_declared(record: EntryPointRecord, tt: TaskTemplate | None) -> None:
    """The checks possible from the distribution's metadata alone, before any import."""
    _check_api(record, record.requires_api, "metadata")
    if tt is not None:
        _check_task_type_version(record, record.task_type_versions, tt, "metadata")


def _check_class(record: EntryPointRecord, cls: type[Any], tt: TaskTemplate | None) -> None:
    """The checks the executor class itself declares (``requires_api``, and
    ``task_type_versions`` when there is a template)."""
    _check_api(record, class_requires_api(record, cls), "class")
    if tt is not None:
        _check_task_type_version(record, class_task_type_versions(record, cls), tt, "class")


def _validate(record: EntryPointRecord, obj: Any) -> type[ShimTaskExecutor[Any]]:
    """The entry point's object as an executor class, with well-formed declarations."""
    if not (isinstance(obj, type) and issubclass(obj, ShimTaskExecutor)):
        what = f"{type(obj).__name__} instance" if not isinstance(obj, type) else f"class {obj}"
        raise PluginLoadError(
            record.name, record.value, record.dist, record.version,
            f"{record.value} is a {what}, not a shimtask_core.ShimTaskExecutor subclass",
        )
    class_requires_api(record, obj)
    class_task_type_versions(record, obj)
    return obj


class ExecutorRegistry:
    """Executor types installed through the ``shimtask.executors`` entry-point group.

    ``allow``/``deny`` are glob lists matched against executor and distribution
    names (default: ``SHIMTASK_ALLOW`` / ``SHIMTASK_DENY``, comma separated).
    ``prefer`` maps an executor name to the distribution that wins a conflict
    (default: ``SHIMTASK_PREFER="name=dist,..."``). ``path`` replaces ``sys.path``
    as the place to look for distributions; ``index`` turns the persisted index
    on or off (default: on, unless ``SHIMTASK_NO_INDEX=1``).
    """

    def __init__(
        self,
        group: str = EXECUTOR_GROUP,
        *,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] | None = None,
        prefer: Mapping[str, str] | None = None,
        plugin_group: str = PLUGIN_GROUP,
        path: Sequence[str] | None = None,
        index: bool | None = None,
    ) -> None:
        self.group = group
        self.plugin_group = plugin_group
        self.allow = list(allow) if allow is not None else _split_env(os.environ.get(ALLOW_ENV))
        self.deny = list(deny) if deny is not None else _split_env(os.environ.get(DENY_ENV)) or []
        self.prefer = dict(prefer) if prefer is not None else _parse_prefer(
            os.environ.get(PREFER_ENV))
        self.use_index = index
        self._path = list(path) if path is not None else None
        self._records: list[EntryPointRecord] | None = None
        self._index_state: IndexState | None = None
        self._registered: dict[str, type[ShimTaskExecutor[Any]]] = {}
        self._loaded: dict[str, tuple[type[ShimTaskExecutor[Any]], EntryPointRecord]] = {}
        self._failed: dict[str, PluginLoadError] = {}
        self._lock = threading.RLock()
        self._name_locks: dict[str, threading.RLock] = {}
        self._plugin_manager: pluggy.PluginManager | None = None
        self.plugin_errors: list[PluginLoadError] = []

    # --- metadata only: nothing is imported ----------------------------------------

    def _all_records(self) -> list[EntryPointRecord]:
        records = self._records
        if records is None:
            with self._lock:
                if self._records is None:
                    self._records = self._read_index().records
                records = self._records
        return records

    def _read_index(self, *, rebuild: bool = False) -> IndexState:
        from .index import IndexState, load

        if self._path == []:
            state = IndexState(None, "disabled", [], reason="the registry searches no path")
        else:
            state = load(self._path, (self.group, self.plugin_group), enabled=self.use_index,
                         rebuild=rebuild)
        self._index_state = state
        return state

    def index_state(self, *, rebuild: bool = False) -> IndexState:
        """Where the persisted index is, whether it was used, and what it holds.

        ``rebuild=True`` rescans the installed distributions and rewrites it.
        """
        with self._lock:
            if rebuild or self._index_state is None:
                self._records = self._read_index(rebuild=rebuild).records
            assert self._index_state is not None
            return self._index_state

    def refresh(self) -> None:
        """Forget what was read from the installed distributions (after installing one),
        and the plugins that failed to load."""
        with self._lock:
            self._records = None
            self._index_state = None
            self._failed.clear()

    def denial(self, name: str, dist: str | None = None) -> str | None:
        """Why the policy excludes this executor (or distribution), or None if it does not.

        Patterns are globs; against the executor name they are case sensitive,
        against the distribution name both sides are normalised first (PEP 503), so
        ``Shimtask_SQL*`` matches ``shimtask-sqlite3``.
        """
        for pattern in self.deny:
            if _matches(pattern, name, dist):
                return f"it matches deny pattern {pattern!r}"
        if self.allow is not None and not any(_matches(p, name, dist) for p in self.allow):
            return f"it matches no allow pattern ({', '.join(self.allow)})"
        return None

    def entries(self, *, include_denied: bool = False) -> list[EntryPointRecord]:
        """One record per installed executor entry point (name, value, dist, version)."""
        records = [r for r in self._all_records() if r.group == self.group]
        if not include_denied and (self.deny or self.allow is not None):
            records = [r for r in records if self.denial(r.name, r.dist) is None]
        return sorted(records, key=lambda r: (r.name, r.dist))

    def plugin_entries(self, *, include_denied: bool = False) -> list[EntryPointRecord]:
        """The ``shimtask.plugins`` entry points (hook implementations), policy applied."""
        return [
            r for r in self._all_records()
            if r.group == self.plugin_group
            and (include_denied or self.denial(r.name, r.dist) is None)
        ]

    def names(self) -> list[str]:
        """Sorted executor type names, installed and registered; imports no plugin."""
        return sorted({r.name for r in self.entries()} | set(self._registered))

    def executor_type_of(self, tt: TaskTemplate) -> str:
        """The executor type a template names (``custom["executor_type"]``, else its type)."""
        return executor_type_of(tt)

    def status_of(self, record: EntryPointRecord) -> tuple[str, str | None]:
        """How :meth:`resolve` would treat an executor entry point, without importing it:
        ``("ok", None)``, ``("denied", reason)``, ``("conflict", message)``,
        ``("preferred", note)`` or ``("not-preferred", note)``."""
        rivals = [r for r in self.entries() if r.name == record.name]
        return self._status(record, rivals)

    def statuses(self) -> list[tuple[EntryPointRecord, str, str | None]]:
        """:meth:`status_of` for every executor entry point, denied ones included."""
        allowed: dict[str, list[EntryPointRecord]] = {}
        for r in self.entries():
            allowed.setdefault(r.name, []).append(r)
        return [(r, *self._status(r, allowed.get(r.name, [])))
                for r in self.entries(include_denied=True)]

    def _status(self, record: EntryPointRecord, rivals: list[EntryPointRecord]
                ) -> tuple[str, str | None]:
        reason = self.denial(record.name, record.dist)
        if reason is not None:
            return "denied", reason
        if record.name in self._registered:
            return "not-preferred", f"overridden by {IN_PROCESS}"
        if len(rivals) < 2:
            return "ok", None
        try:
            chosen = self._choose(record.name, rivals)
        except ExecutorConflict as exc:
            return "conflict", str(exc)
        if chosen == record:
            return "preferred", f"preferred over {len(rivals) - 1} other(s)"
        return "not-preferred", f"{chosen.dist} is preferred"

    # --- resolving: imports exactly one plugin --------------------------------------

    def resolve(
        self, tt_or_name: TaskTemplate | str, *, template: TaskTemplate | None = None
    ) -> type[ShimTaskExecutor[Any]]:
        """The executor class for a template or name; imports only the plugin providing it.

        With a template (given directly, or as ``template=`` next to a name), the
        executor must accept its ``task_type_version``; in every case it must accept
        this core's API. Both raise :class:`VersionMismatch` before anything runs.
        """
        if isinstance(tt_or_name, str):
            name = tt_or_name
        else:
            name = executor_type_of(tt_or_name)
            template = template if template is not None else tt_or_name
        registered = self._registered.get(name)
        if registered is not None:
            self.check_versions(registered, template, name=name)
            return registered
        hit = self._loaded.get(name)
        if hit is None:
            record = self._record_for(name)
            # What the distribution declares is checked before its code is imported.
            _check_declared(record, template)
            hit = self._load(record)
        else:
            _check_declared(hit[1], template)
        cls, record = hit
        _check_class(record, cls, template)
        return cls

    def check_versions(
        self, executor_cls: type[ShimTaskExecutor[Any]], tt: TaskTemplate | None = None, *,
        name: str | None = None,
    ) -> None:
        """Raise :class:`VersionMismatch` unless ``executor_cls`` accepts this core's API
        (and ``tt``'s ``task_type_version``, when given). For executors given as classes."""
        label = name or (executor_type_of(tt) if tt is not None else executor_cls.__qualname__)
        record = EntryPointRecord(label, f"{executor_cls.__module__}:{executor_cls.__qualname__}",
                                  self.group, "", "")
        _check_class(record, executor_cls, tt)

    def _name_lock(self, name: str) -> threading.RLock:
        lock = self._name_locks.get(name)
        if lock is None:
            with self._lock:
                lock = self._name_locks.setdefault(name, threading.RLock())
        return lock

    def _load(
        self, record: EntryPointRecord
    ) -> tuple[type[ShimTaskExecutor[Any]], EntryPointRecord]:
        """Import one entry point, once, however many threads ask at the same time.

        A failure is remembered: the plugin's module code is not run again (until
        :meth:`refresh`), and every caller gets the same error.
        """
        name = record.name
        with self._name_lock(name):
            hit = self._loaded.get(name)
            if hit is not None:
                return hit
            failed = self._failed.get(name)
            if failed is None:
                try:
                    cls = _validate(record, load_entry_point(record))
                except PluginLoadError as exc:
                    self._failed[name] = exc
                    raise
                hit = self._loaded[name] = (cls, record)
                return hit
        raise PluginLoadError(failed.name, failed.value, failed.dist, failed.version,
                              failed.cause) from (
            failed.cause if isinstance(failed.cause, BaseException) else None)

    def _record_for(self, name: str) -> EntryPointRecord:
        candidates = [r for r in self.entries(include_denied=True) if r.name == name]
        if not candidates:
            available = self.names()
            import difflib

            raise ExecutorNotFound(name, available, difflib.get_close_matches(name, available, 3))
        allowed = [r for r in candidates if self.denial(r.name, r.dist) is None]
        if not allowed:
            first = candidates[0]
            raise ExecutorDenied(name, self.denial(name, first.dist) or "denied",
                                 dist=first.dist)
        return self._choose(name, allowed)

    def _choose(self, name: str, allowed: list[EntryPointRecord]) -> EntryPointRecord:
        """The one record among several allowed claimants of ``name``: the conflict rule."""
        if len(allowed) == 1:
            return allowed[0]
        preferred = self.prefer.get(name)
        if preferred is not None:
            wanted = normalize_dist_name(preferred)
            for record in allowed:
                if normalize_dist_name(record.dist) == wanted:
                    return record
        raise ExecutorConflict(name, [f"{r.dist} {r.version} ({r.value})" for r in allowed],
                               dists=[r.dist for r in allowed], preferred=preferred)

    def register(
        self, name: str, executor_cls: type[ShimTaskExecutor[Any]], *, replace: bool = False
    ) -> None:
        """Register an executor in this process (for tests and embedded use).

        A name already registered here, or provided by an installed distribution,
        is a conflict unless ``replace=True``.
        """
        if not (isinstance(executor_cls, type) and issubclass(executor_cls, ShimTaskExecutor)):
            raise TypeError(f"{executor_cls!r} is not a ShimTaskExecutor subclass")
        with self._lock:
            if not replace:
                existing = [f"{r.dist} {r.version} ({r.value})" for r in self.entries()
                            if r.name == name]
                if name in self._registered:
                    existing.append(f"{IN_PROCESS} {self._registered[name].__qualname__}")
                if existing:
                    raise ExecutorConflict(
                        name, [*existing, f"{IN_PROCESS} {executor_cls.__qualname__}"])
            self._registered[name] = executor_cls
            self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        """Forget an in-process registration."""
        with self._lock:
            self._registered.pop(name, None)

    # --- diagnosis -------------------------------------------------------------------

    def doctor(self, *, isolated: bool = True, timeout: float = DOCTOR_TIMEOUT
               ) -> list[DoctorReport]:
        """Import every entry point (executors and hook plugins), one report each; never
        raises for a broken plugin.

        With ``isolated`` (the default) the imports happen in a separate worker
        process, so a plugin that calls ``os._exit``, crashes the interpreter, hangs
        longer than ``timeout`` seconds or damages interpreter state is reported as
        broken without taking the report (or the caller) down; the worker is
        restarted for the plugins after it. Denied entry points are not imported.
        """
        records = sorted(self._all_records(), key=lambda r: (r.group, r.name, r.dist))
        to_check = [r for r in records if self.denial(r.name, r.dist) is None]
        results: dict[int, dict[str, Any]] = {}
        if to_check:
            from . import doctor

            if isolated and doctor.can_spawn():
                results = doctor.check_isolated(to_check, self.group, timeout)
            else:
                results = {i: doctor.check_entry(r, self.group) for i, r in enumerate(to_check)}
        outcome = {id(r): results[i] for i, r in enumerate(to_check)}
        status = {id(r): (st, note) for r, st, note in self.statuses()}
        return [self._report(r, outcome.get(id(r)), status.get(id(r))) for r in records]

    def _report(self, record: EntryPointRecord, result: dict[str, Any] | None,
                availability: tuple[str, str | None] | None) -> DoctorReport:
        api = record.requires_api
        versions = record.task_type_versions
        if result is None:
            return DoctorReport(record.name, record.group, record.value, record.dist,
                                record.version, True, None, "denied",
                                self.denial(record.name, record.dist), api, versions)
        status, error, note = result["status"], result.get("error"), None
        if result.get("requires_api"):
            low, high = int(result["requires_api"][0]), int(result["requires_api"][1])
            api = (max(low, api[0]), min(high, api[1])) if api else (low, high)
        if result.get("task_type_versions") is not None:
            found = tuple(int(v) for v in result["task_type_versions"])
            versions = tuple(v for v in found if v in versions) if versions is not None else found
        if status == "ok" and availability is not None:
            kind, message = availability
            if kind == "conflict":
                status, error = "conflict", message
            elif kind in ("preferred", "not-preferred"):
                note = message
        return DoctorReport(record.name, record.group, record.value, record.dist,
                            record.version, status == "ok", error, status, note, api, versions)

    # --- hooks -----------------------------------------------------------------------

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy manager with the ``shimtask.plugins`` hook implementations loaded.

        A hook plugin that fails to load is skipped with a warning, and is listed in
        ``plugin_errors``: it must not stop executions that do not need it.
        """
        pm = self._plugin_manager
        if pm is None:
            with self._lock:
                if self._plugin_manager is None:
                    self._plugin_manager = self._make_plugin_manager()
                pm = self._plugin_manager
        return pm

    def _make_plugin_manager(self) -> pluggy.PluginManager:
        pm = _new_plugin_manager()
        self.plugin_errors = []
        for record in sorted(self.plugin_entries(), key=lambda r: (r.name, r.dist)):
            try:
                pm.register(load_entry_point(record), name=f"{record.dist}:{record.name}")
            except PluginLoadError as exc:
                self._warn(exc)
            except Exception as exc:  # pluggy's validation of the plugin's hookimpls
                self._warn(PluginLoadError(record.name, record.value, record.dist,
                                           record.version, exc))
        return pm

    def _warn(self, exc: PluginLoadError) -> None:
        import warnings

        self.plugin_errors.append(exc)
        warnings.warn(str(exc), RuntimeWarning, stacklevel=3)

    def add_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a hook-implementing object in this process (like a ``shimtask.plugins``
        entry point)."""
        self.plugin_manager.register(plugin, name=name)


def _new_plugin_manager() -> pluggy.PluginManager:
    import pluggy

    from . import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


_default: ExecutorRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ExecutorRegistry:
    """The process-wide registry used when none is given."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ExecutorRegistry()
    return _default
