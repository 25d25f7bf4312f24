"""Hook plugins (``shimtask.plugins``): the pluggy manager they are registered on.

pluggy is imported here only, and only when a manager is built: a process with
no hook plugin installed never imports it (``shimtask execute`` then calls the
executor directly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import PluginLoadError
from .checks import load_entry_point, load_error
from .discovery import EntryPointRecord

if TYPE_CHECKING:
    import pluggy
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from ..executor import ShimTaskExecutor


def new_plugin_manager() -> pluggy.PluginManager:
    """An empty manager that knows shimtask's hook specifications."""
    import pluggy

    from .. import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def register_hook_plugin(pm: pluggy.PluginManager, record: EntryPointRecord) -> object:
    """Import one ``shimtask.plugins`` entry point and register it on ``pm``.

    A plugin that does not import, or whose hook implementations do not match the
    specifications (pluggy's validation), raises PluginLoadError naming it.
    """
    plugin = load_entry_point(record)
    try:
        pm.register(plugin, name=f"{record.dist}:{record.name}")
    except Exception as exc:  # pluggy's PluginValidationError, mostly
        raise load_error(record, exc) from exc
    if replacing_implementations(pm, plugin):
        pm.unregister(plugin)
        raise load_error(record, NOT_A_WRAPPER)
    return plugin


NOT_A_WRAPPER = (
    "its execute_from_model is not a wrapper: hook plugins wrap the executor "
    "(@hookimpl(wrapper=True) and 'return (yield)'), they never answer in its place")


def replacing_implementations(pm: pluggy.PluginManager, plugin: object | None = None
                              ) -> list[str]:
    """The names of plugins (``plugin`` only, if given) whose ``execute_from_model``
    is a plain implementation: one that could answer instead of the executor."""
    return [impl.plugin_name for impl in pm.hook.execute_from_model.get_hookimpls()
            if not (impl.wrapper or impl.hookwrapper)
            and (plugin is None or impl.plugin is plugin)]


def call_through_wrappers(hook: pluggy.HookCaller, executor: ShimTaskExecutor[Any],
                          tt: TaskTemplate, inputs: dict[str, Any]) -> Any:
    """Run ``executor`` as the innermost call of the ``execute_from_model`` wrappers.

    The executor is the one plain implementation of the call, so its answer is the
    answer, ``None`` included (``firstresult`` would otherwise fall through to
    another implementation on ``None``). A plain implementation registered some
    other way than an entry point is refused here too.
    """
    rogue = [impl.plugin_name for impl in hook.get_hookimpls()
             if not (impl.wrapper or impl.hookwrapper)]
    if rogue:
        raise PluginLoadError(rogue[0], "execute_from_model", "(registered in-process)", "",
                              NOT_A_WRAPPER)

    def run_executor(tt: TaskTemplate, inputs: dict[str, Any]) -> Any:
        return executor.execute_from_model(tt, **inputs)

    return hook.call_extra([run_executor], {"tt": tt, "inputs": inputs})
