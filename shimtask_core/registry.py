"""The executor registry: one executor type name -> one executor class, imported lazily.

Like stevedore's ``DriverManager``, it resolves exactly one executor per
template. Listing reads entry-point metadata only; resolving imports only the
plugin that provides the requested name. The rules live here:

* **policy first**: allow/deny globs are applied before anything is imported;
* **conflicts**: two distributions claiming one name is an error naming both,
  unless the user prefers one (``prefer=`` or ``SHIMTASK_PREFER``);
* **isolation**: a plugin that fails to load breaks only its own name.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from .discovery import EXECUTOR_GROUP, PLUGIN_GROUP, EntryPointRecord, scan_path
from .errors import (
    ExecutorConflict,
    ExecutorDenied,
    ExecutorNotFound,
    PluginLoadError,
    ShimTaskError,
)
from .executor import ShimTaskExecutor
from .template import executor_type_of

if TYPE_CHECKING:
    import pluggy
    from flyteidl.core.tasks_pb2 import TaskTemplate

ALLOW_ENV = "SHIMTASK_ALLOW"
DENY_ENV = "SHIMTASK_DENY"
PREFER_ENV = "SHIMTASK_PREFER"

IN_PROCESS = "(registered in-process)"


@final
@dataclass(frozen=True)
class DoctorReport:
    """The outcome of importing one entry point."""

    name: str
    group: str
    value: str
    dist: str
    version: str
    ok: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "value": self.value,
            "dist": self.dist,
            "version": self.version,
            "ok": self.ok,
            "error": self.error,
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


def load_entry_point(record: EntryPointRecord) -> Any:
    """Import ``module:attr`` of one entry point; any failure becomes PluginLoadError."""
    try:
        obj: Any = importlib.import_module(record.module)
        for part in filter(None, record.attr.split(".")):
            obj = getattr(obj, part)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin may raise anything at import, even SystemExit
        raise PluginLoadError(record.name, record.value, record.dist, record.version,
                              exc) from exc
    return obj


class ExecutorRegistry:
    """Executor types installed through the ``shimtask.executors`` entry-point group.

    ``allow``/``deny`` are glob lists matched against executor and distribution
    names (default: ``SHIMTASK_ALLOW`` / ``SHIMTASK_DENY``, comma separated).
    ``prefer`` maps an executor name to the distribution that wins a conflict
    (default: ``SHIMTASK_PREFER="name=dist,..."``).
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
    ) -> None:
        self.group = group
        self.plugin_group = plugin_group
        self.allow = list(allow) if allow is not None else _split_env(os.environ.get(ALLOW_ENV))
        self.deny = list(deny) if deny is not None else _split_env(os.environ.get(DENY_ENV)) or []
        self.prefer = dict(prefer) if prefer is not None else _parse_prefer(
            os.environ.get(PREFER_ENV))
        self._path = list(path) if path is not None else None
        self._records: list[EntryPointRecord] | None = None
        self._registered: dict[str, type[ShimTaskExecutor[Any]]] = {}
        self._loaded: dict[str, type[ShimTaskExecutor[Any]]] = {}
        self._lock = threading.RLock()
        self._plugin_manager: pluggy.PluginManager | None = None
        self.plugin_errors: list[PluginLoadError] = []

    # --- metadata only: nothing is imported ----------------------------------------

    def _all_records(self) -> list[EntryPointRecord]:
        records = self._records
        if records is None:
            with self._lock:
                if self._records is None:
                    self._records = scan_path(self._path, (self.group, self.plugin_group))
                records = self._records
        return records

    def refresh(self) -> None:
        """Forget what was read from the installed distributions (after installing one)."""
        with self._lock:
            self._records = None

    def denial(self, name: str, dist: str | None = None) -> str | None:
        """Why the policy excludes this executor (or distribution), or None if it does not."""
        subjects = [name] + ([dist] if dist else [])
        for pattern in self.deny:
            for subject in subjects:
                if fnmatch.fnmatchcase(subject, pattern):
                    return f"it matches deny pattern {pattern!r}"
        if self.allow is not None and not any(
            fnmatch.fnmatchcase(subject, pattern) for pattern in self.allow for subject in subjects
        ):
            return f"it matches no allow pattern ({', '.join(self.allow)})"
        return None

    def entries(self, *, include_denied: bool = False) -> list[EntryPointRecord]:
        """One record per installed executor entry point (name, value, dist, version)."""
        records = [r for r in self._all_records() if r.group == self.group]
        if not include_denied:
            records = [r for r in records if self.denial(r.name, r.dist) is None]
        return sorted(records, key=lambda r: (r.name, r.dist))

    def plugin_entries(self) -> list[EntryPointRecord]:
        """The ``shimtask.plugins`` entry points (hook implementations), policy applied."""
        return [
            r for r in self._all_records()
            if r.group == self.plugin_group and self.denial(r.name, r.dist) is None
        ]

    def names(self) -> list[str]:
        """Sorted executor type names, installed and registered; imports no plugin."""
        return sorted({r.name for r in self.entries()} | set(self._registered))

    def executor_type_of(self, tt: TaskTemplate) -> str:
        """The executor type a template names (``custom["executor_type"]``, else its type)."""
        return executor_type_of(tt)

    # --- resolving: imports exactly one plugin --------------------------------------

    def resolve(self, tt_or_name: TaskTemplate | str) -> type[ShimTaskExecutor[Any]]:
        """The executor class for a template or name; imports only the plugin providing it."""
        name = tt_or_name if isinstance(tt_or_name, str) else executor_type_of(tt_or_name)
        cls = self._loaded.get(name) or self._registered.get(name)
        if cls is not None:
            return cls
        record = self._record_for(name)
        with self._lock:
            cls = self._loaded.get(name)
            if cls is None:
                cls = self._validate(record, load_entry_point(record))
                self._loaded[name] = cls
        return cls

    def _record_for(self, name: str) -> EntryPointRecord:
        candidates = [r for r in self.entries(include_denied=True) if r.name == name]
        if not candidates:
            available = self.names()
            import difflib

            raise ExecutorNotFound(name, available, difflib.get_close_matches(name, available, 3))
        allowed = [r for r in candidates if self.denial(r.name, r.dist) is None]
        if not allowed:
            reason = self.denial(name, candidates[0].dist) or "denied"
            raise ExecutorDenied(name, reason)
        if len(allowed) > 1:
            preferred = self.prefer.get(name)
            if preferred is not None:
                from .discovery import normalize_dist_name

                chosen = [
                    r for r in allowed
                    if normalize_dist_name(r.dist) == normalize_dist_name(preferred)
                ]
                if chosen:
                    return chosen[0]
            raise ExecutorConflict(name, [f"{r.dist} {r.version} ({r.value})" for r in allowed])
        return allowed[0]

    @staticmethod
    def _validate(record: EntryPointRecord, obj: Any) -> type[ShimTaskExecutor[Any]]:
        if isinstance(obj, type) and issubclass(obj, ShimTaskExecutor):
            return obj
        what = f"{type(obj).__name__} instance" if not isinstance(obj, type) else f"class {obj}"
        raise PluginLoadError(
            record.name, record.value, record.dist, record.version,
            f"{record.value} is a {what}, not a shimtask_core.ShimTaskExecutor subclass",
        )

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

    def doctor(self) -> list[DoctorReport]:
        """Import every entry point (executors and hook plugins), one report each; never raises
        for a broken plugin."""
        reports = []
        for record in sorted(self._all_records(), key=lambda r: (r.group, r.name, r.dist)):
            error = None
            try:
                obj = load_entry_point(record)
                if record.group == self.group:
                    self._validate(record, obj)
            except ShimTaskError as exc:
                error = str(exc)
            reports.append(DoctorReport(record.name, record.group, record.value, record.dist,
                                        record.version, error is None, error))
        return reports

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
        import pluggy

        from . import hookspecs

        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
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

