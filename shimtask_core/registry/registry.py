"""The executor registry: one executor type name -> one executor class, imported lazily.

Like stevedore's ``DriverManager``, it resolves exactly one executor per
template. Listing reads entry-point metadata only (through the persisted
index, :mod:`.index`); resolving imports only the plugin that provides the
requested name. The rules live here:

* **policy first**: allow/deny globs (:mod:`.policy`) are applied before
  anything is imported;
* **conflicts** (:meth:`ExecutorRegistry._choose`): two distributions claiming
  one name is an error naming both, unless the user prefers one (``prefer=`` or
  ``SHIMTASK_PREFER``); one distribution seen twice on ``sys.path`` is not a
  conflict (discovery keeps the first, as the import system does);
* **isolation**: a plugin that fails to load breaks only its own name, and
  :meth:`ExecutorRegistry.doctor` imports each plugin in a separate process;
* **versions** (:mod:`.checks`): an executor's ``requires_api`` must contain
  ``shimtask_core.API_VERSION`` and its ``task_type_versions`` the template's
  ``task_type_version``; both are checked before execution, and before import
  when the distribution declares them in its metadata.

Resolving gives a :class:`Resolution` (name, class, entry point), which an
execution carries forward instead of asking the registry again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, final

from ..errors import (
    ExecutorConflict,
    ExecutorDenied,
    ExecutorNotFound,
    PluginLoadError,
    ShimTaskError,
)
from ..executor import ShimTaskExecutor
from .checks import check_class, check_declared, load_entry_point, validate_executor
from .discovery import EXECUTOR_GROUP, PLUGIN_GROUP, EntryPointRecord, normalize_dist_name
from .naming import KNOWN_PROVIDERS, NOT_EXECUTORS, executor_type_of
from .policy import Policy

if TYPE_CHECKING:
    import pluggy
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from .doctor import DoctorReport
    from .index import IndexState

IN_PROCESS = "(registered in-process)"

#: Seconds one plugin may take to import under ``doctor()`` before it is reported as hung.
DOCTOR_TIMEOUT = 60.0

ExecutorClass = type[ShimTaskExecutor[Any]]


@final
class Resolution:
    """What resolving a template gave: the executor type ``name``, the ``executor``
    class, and the entry point it came from (for an executor given as a class or
    registered in-process, a record of that class with no distribution).

    A class with slots, not a ``typing.NamedTuple``: under postponed annotations the
    named tuple compiles each field's annotation (a ForwardRef each) on every cold start.
    """

    __slots__ = ("executor", "name", "record")

    def __init__(self, name: str, executor: ExecutorClass, record: EntryPointRecord) -> None:
        self.name = name
        self.executor = executor
        self.record = record

    def __repr__(self) -> str:
        return (f"Resolution(name={self.name!r}, executor={self.executor!r}, "
                f"record={self.record!r})")


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
        self.policy = Policy.from_env(allow, deny, prefer)
        self.use_index = index
        self._path = list(path) if path is not None else None
        self._records: list[EntryPointRecord] | None = None
        self._index_state: IndexState | None = None
        self._has_hook_plugins: bool | None = None
        self._registered: dict[str, ExecutorClass] = {}
        self._loaded: dict[str, Resolution] = {}
        self._failed: dict[str, PluginLoadError] = {}
        self._lock = threading.RLock()
        self._name_locks: dict[str, threading.RLock] = {}
        self._plugin_manager: pluggy.PluginManager | None = None
        self.plugin_errors: list[PluginLoadError] = []

    @property
    def allow(self) -> list[str] | None:
        return list(self.policy.allow) if self.policy.allow is not None else None

    @property
    def deny(self) -> list[str]:
        return list(self.policy.deny)

    @property
    def prefer(self) -> dict[str, str]:
        return dict(self.policy.prefer)

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
                self._has_hook_plugins = None
            assert self._index_state is not None
            return self._index_state

    def refresh(self) -> None:
        """Forget what was read from the installed distributions (after installing one),
        and the plugins that failed to load."""
        with self._lock:
            self._records = None
            self._index_state = None
            self._has_hook_plugins = None
            self._failed.clear()

    def denial(self, name: str, dist: str | None = None) -> str | None:
        """Why the policy excludes this executor (or distribution), or None if it does not.

        Patterns are globs; against the executor name they are case sensitive,
        against the distribution name both sides are normalised first (PEP 503), so
        ``Shimtask_SQL*`` matches ``shimtask-sqlite3``.
        """
        return self.policy.denial(name, dist)

    def entries(self, *, include_denied: bool = False) -> list[EntryPointRecord]:
        """One record per installed executor entry point (name, value, dist, version)."""
        records = [r for r in self._all_records() if r.group == self.group]
        if not include_denied and self.policy.restricts:
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
    ) -> ExecutorClass:
        """The executor class for a template or name; imports only the plugin providing it.

        With a template (given directly, or as ``template=`` next to a name), the
        executor must accept its ``task_type_version``; in every case it must accept
        this core's API. Both raise :class:`VersionMismatch` before anything runs.
        """
        return self.resolution(tt_or_name, template=template).executor

    def resolution(
        self, target: TaskTemplate | str | ExecutorClass, *, template: TaskTemplate | None = None
    ) -> Resolution:
        """:meth:`resolve`, keeping what it found: the executor type name, the class and
        its entry point. ``target`` may also be an executor class (the seed API's
        ``ExecutableTemplateShimTask(tt, SomeExecutor)``): its versions are checked
        and it is named after the template.
        """
        if isinstance(target, type):
            return self._accept(target, template)
        if isinstance(target, str):
            name = target
        else:
            name = executor_type_of(target)
            template = template if template is not None else target
        registered = self._registered.get(name)
        if registered is not None:
            return self._accept(registered, template, name=name)
        hit = self._loaded.get(name)
        if hit is None:
            record = self._record_for(name)
            # What the distribution declares is checked before its code is imported.
            check_declared(record, template)
            hit = self._load(record)
        else:
            check_declared(hit.record, template)
        check_class(hit.record, hit.executor, template)
        return hit

    def check_versions(
        self, executor_cls: ExecutorClass, tt: TaskTemplate | None = None, *,
        name: str | None = None,
    ) -> None:
        """Raise :class:`VersionMismatch` unless ``executor_cls`` accepts this core's API
        (and ``tt``'s ``task_type_version``, when given). For executors given as classes."""
        self._accept(executor_cls, tt, name=name)

    def _accept(self, cls: ExecutorClass, tt: TaskTemplate | None, *, name: str | None = None
                ) -> Resolution:
        """The resolution of an executor given as a class: checked as its class declares,
        named ``name``, else after the template, else after the class."""
        if name is None:
            name = cls.__qualname__ if tt is None else _name_in(tt, cls)
        record = EntryPointRecord(name, f"{cls.__module__}:{cls.__qualname__}", self.group,
                                  "", "")
        check_class(record, cls, tt)
        return Resolution(name, cls, record)

    def _name_lock(self, name: str) -> threading.RLock:
        lock = self._name_locks.get(name)
        if lock is None:
            with self._lock:
                lock = self._name_locks.setdefault(name, threading.RLock())
        return lock

    def _load(self, record: EntryPointRecord) -> Resolution:
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
                    cls = validate_executor(record, load_entry_point(record))
                except PluginLoadError as exc:
                    self._failed[name] = exc
                    raise
                hit = self._loaded[name] = Resolution(name, cls, record)
                return hit
        raise PluginLoadError(failed.name, failed.value, failed.dist, failed.version,
                              failed.cause) from (
            failed.cause if isinstance(failed.cause, BaseException) else None)

    def _record_for(self, name: str) -> EntryPointRecord:
        candidates = [r for r in self.entries(include_denied=True) if r.name == name]
        if not candidates:
            available = self.names()
            import difflib

            closest = difflib.get_close_matches(name, available, 3)
            note = NOT_EXECUTORS.get(name)
            if note is None and not closest and name not in KNOWN_PROVIDERS:
                # a typo of an executor shipped with shimtask that is not installed here
                for known in difflib.get_close_matches(name, list(KNOWN_PROVIDERS), 1):
                    note = (f"Did you mean {known!r}? It is provided by the distribution "
                            f"{KNOWN_PROVIDERS[known]}: pip install {KNOWN_PROVIDERS[known]}")
            raise ExecutorNotFound(name, available, closest, install=KNOWN_PROVIDERS.get(name),
                                   note=note)
        allowed = [r for r in candidates if self.denial(r.name, r.dist) is None]
        if not allowed:  # every provider is denied: name them all
            reasons = [(r.dist, self.denial(r.name, r.dist) or "denied") for r in candidates]
            raise ExecutorDenied(name, reasons[0][1], dist=reasons[0][0], providers=reasons)
        return self._choose(name, allowed)

    def _choose(self, name: str, allowed: list[EntryPointRecord]) -> EntryPointRecord:
        """The one record among several allowed claimants of ``name``: the conflict rule."""
        if len(allowed) == 1:
            return allowed[0]
        preferred = self.policy.prefer.get(name)
        if preferred is not None:
            wanted = normalize_dist_name(preferred)
            for record in allowed:
                if normalize_dist_name(record.dist) == wanted:
                    return record
        raise ExecutorConflict(name, [f"{r.dist} {r.version} ({r.value})" for r in allowed],
                               dists=[r.dist for r in allowed], preferred=preferred)

    def register(
        self, name: str, executor_cls: ExecutorClass, *, replace: bool = False
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
        from .doctor import Subject, diagnose

        availability = {r: (status, note) for r, status, note in self.statuses()}
        subjects = [
            Subject(r, self.denial(r.name, r.dist), availability.get(r, ("ok", None)))
            for r in sorted(self._all_records(), key=lambda r: (r.group, r.name, r.dist))
        ]
        return diagnose(subjects, self.group, isolated=isolated, timeout=timeout)

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

    def execution_hook(self) -> pluggy.HookCaller | None:
        """The ``execute_from_model`` hook if a hook plugin implements it, else None.

        With no ``shimtask.plugins`` entry point installed (and none added with
        :meth:`add_plugin`) no plugin manager is built and pluggy is not imported:
        the execution calls its executor directly.
        """
        pm = self._plugin_manager
        if pm is None:
            wraps = self._has_hook_plugins
            if wraps is None:
                wraps = self._has_hook_plugins = bool(self.plugin_entries())
            if not wraps:
                return None
            pm = self.plugin_manager
        hook = pm.hook.execute_from_model
        return hook if hook.get_hookimpls() else None

    def _make_plugin_manager(self) -> pluggy.PluginManager:
        from .hooks import new_plugin_manager, register_hook_plugin

        pm = new_plugin_manager()
        self.plugin_errors = []
        for record in sorted(self.plugin_entries(), key=lambda r: (r.name, r.dist)):
            try:
                register_hook_plugin(pm, record)
            except PluginLoadError as exc:
                self._warn(exc)
        return pm

    def _warn(self, exc: PluginLoadError) -> None:
        """A broken hook plugin is skipped, with one warning naming its distribution (the
        CLI prints it as one line)."""
        import warnings

        from ..errors import PluginLoadWarning

        self.plugin_errors.append(exc)
        warnings.warn(PluginLoadWarning(exc), stacklevel=3)

    def add_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a hook-implementing object in this process (like a ``shimtask.plugins``
        entry point). One with a plain (non-wrapper) ``execute_from_model`` is refused
        with PluginLoadError: hook plugins wrap the executor, never replace it."""
        from .hooks import NOT_A_WRAPPER, replacing_implementations

        pm = self.plugin_manager
        registered = pm.register(plugin, name=name)
        if replacing_implementations(pm, plugin):
            pm.unregister(plugin)
            raise PluginLoadError(registered or repr(plugin), "execute_from_model",
                                  "(registered in-process)", "", NOT_A_WRAPPER)


def _name_in(tt: TaskTemplate, cls: ExecutorClass) -> str:
    """The name of an executor given as a class: the executor type its template names,
    else (a template naming none) the class's name."""
    try:
        return executor_type_of(tt)
    except ShimTaskError:
        return cls.__name__


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
