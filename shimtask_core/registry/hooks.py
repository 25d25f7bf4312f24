"""Hook plugins (``shimtask.plugins``): the pluggy manager they are registered on.

pluggy is imported here only, and only when a manager is built: a process with
no hook plugin installed never imports it (``shimtask execute`` then calls the
executor directly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .checks import load_entry_point, load_error
from .discovery import EntryPointRecord

if TYPE_CHECKING:
    import pluggy


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
    return plugin
