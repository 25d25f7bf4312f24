"""The pluggy hook specifications of shimtask (project name ``shimtask``).

Executors written as :class:`~shimtask_core.ShimTaskExecutor` subclasses are
adapted to :func:`execute_from_model` by the core, so plugin authors rarely
implement it directly. Plugins in the ``shimtask.plugins`` entry-point group
add ``@hookimpl(wrapper=True)`` implementations that see every execution::

    from shimtask_core import hookimpl

    @hookimpl(wrapper=True)
    def execute_from_model(tt, inputs):
        started = time.perf_counter()
        try:
            return (yield)
        finally:
            log(tt.id.name, time.perf_counter() - started)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

#: The pluggy project name the hook markers carry.
PROJECT_NAME = "shimtask"

#: Marks a hook specification of shimtask (the core's, below).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a hook implementation, as a ``shimtask.plugins`` plugin writes
#: ``@hookimpl(wrapper=True)``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def execute_from_model(tt: TaskTemplate, inputs: dict[str, Any]) -> Any:
    """Run the template ``tt`` on the Python ``inputs`` and return the Python outputs.

    Exactly one implementation answers (``firstresult``): the executor that the
    registry resolved for the template. Wrappers see the call and its result.
    """
