"""What the service advertises to propeller: one agent per installed, allowed executor type.

Propeller routes a task by its template's ``type`` and ``task_type_version`` to
the agent whose ``supported_task_categories`` holds that pair, synchronously
when the agent ``is_sync``. So each executor type is an agent named after it,
with one category per template version it accepts:

* the category's name is the executor type. Templates flytekit serialized carry
  it as their ``type`` (a ``SQLite3Task`` is ``sqlite``); templates made with
  ``make_template`` carry it in both ``type`` and ``custom["executor_type"]``.
  A template whose ``type`` names no executor is not routed here by discovery;
  list it in propeller's ``supportedTaskTypes`` and it reaches the default
  connector (this service) asynchronously, where ``custom["executor_type"]``
  still picks its executor.
* an executor that accepts any version is advertised with version 0, the
  version every template has unless its author set one. Versions are listed in
  ascending order because propeller 1.16 keeps only the last category of a
  name; a template of an unlisted version still runs through the default
  connector.

Advertising imports each executor once (``is_sync`` and the class's versions live
on the class); a plugin that fails to import is left out, reported, and not
imported again until its distribution changes.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

from flyteidl.admin import agent_pb2

from ..errors import ShimTaskError
from ..registry import class_task_type_versions

if TYPE_CHECKING:
    from ..registry import ExecutorRegistry, Resolution

#: Version advertised for an executor that accepts any ``task_type_version``.
DEFAULT_VERSION = 0

_Key = tuple[tuple[str, str, str], ...]


def advertised_versions(resolution: Resolution) -> tuple[int, ...]:
    """The template versions to advertise: what both the class and the distribution's
    metadata accept (the registry enforces both), or the default for "any"."""
    from_class = class_task_type_versions(resolution.record, resolution.executor)
    from_metadata = resolution.record.task_type_versions
    if from_class is None and from_metadata is None:
        return (DEFAULT_VERSION,)
    if from_class is None or from_metadata is None:
        return tuple(sorted(from_class if from_class is not None else from_metadata or ()))
    return tuple(sorted(set(from_class) & set(from_metadata)))


def agent_for(resolution: Resolution) -> agent_pb2.Agent:
    name = resolution.name
    return agent_pb2.Agent(
        name=name,
        is_sync=bool(getattr(resolution.executor, "is_sync", True)),
        supported_task_categories=[agent_pb2.TaskCategory(name=name, version=v)
                                   for v in advertised_versions(resolution)],
    )


@final
class Catalog:
    """The advertised agents, rebuilt from the registry on :meth:`refresh`.

    ``on_problem(name, message)`` is told once per executor that cannot be
    advertised (broken, conflicting, needs another API), each time its
    distribution changes.
    """

    def __init__(self, registry: ExecutorRegistry,
                 on_problem: Callable[[str, str], Any] | None = None) -> None:
        self._registry = registry
        self._on_problem = on_problem
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[_Key, agent_pb2.Agent | None]] = {}
        self._agents: tuple[agent_pb2.Agent, ...] = ()
        self._by_name: dict[str, agent_pb2.Agent] = {}
        self.problems: dict[str, str] = {}

    @property
    def agents(self) -> tuple[agent_pb2.Agent, ...]:
        return self._agents

    def get(self, name: str) -> agent_pb2.Agent | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def refresh(self, *, rescan: bool = True) -> tuple[agent_pb2.Agent, ...]:
        """Re-read the installed distributions (``rescan``) and advertise what is there.

        Only executors new since the last call (or whose distribution changed) are
        imported; a plugin upgraded in place keeps the code already imported until
        the server restarts.
        """
        with self._lock:
            registry = self._registry
            if rescan:
                importlib.invalidate_caches()  # a fresh pip install must be importable
                registry.refresh()
            records: dict[str, list[tuple[str, str, str]]] = {}
            for record in registry.entries():
                records.setdefault(record.name, []).append(
                    (record.dist, record.version, record.value))
            seen: dict[str, tuple[_Key, agent_pb2.Agent | None]] = {}
            for name in registry.names():
                key: _Key = tuple(records.get(name, [("(in-process)", "", "")]))
                previous = self._seen.get(name)
                if previous is not None and previous[0] == key:
                    seen[name] = previous
                    continue
                seen[name] = (key, self._describe(name))
            self._seen = seen
            agents = tuple(agent for _, agent in seen.values() if agent is not None)
            self._agents = agents
            self._by_name = {a.name: a for a in agents}
            self.problems = {n: p for n, p in self.problems.items() if n in seen}
            return agents

    def _describe(self, name: str) -> agent_pb2.Agent | None:
        try:
            agent = agent_for(self._registry.resolution(name))
        except ShimTaskError as exc:
            self._problem(name, str(exc))
            return None
        if not agent.supported_task_categories:
            self._problem(name, f"executor {name!r} accepts no task_type_version: its class "
                                f"and its distribution's metadata declare disjoint sets")
            return None
        self.problems.pop(name, None)
        return agent

    def _problem(self, name: str, message: str) -> None:
        self.problems[name] = message
        if self._on_problem is not None:
            self._on_problem(name, message)
