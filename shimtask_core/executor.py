"""The executor base class: what a plugin subclasses to run a template.

This keeps the API of flytekit's ``flytekit.core.shim_task.ShimTaskExecutor``
(``execute_from_model``, ``instantiated_in``, ``lhs``, ``location``,
``find_lhs``) without depending on flytekit.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

T = TypeVar("T")


class _InstanceTracker(type):
    """Records the module an executor instance is created in, as flytekit's TrackedInstance."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        frame = sys._getframe(1)
        instance._instantiated_in = frame.f_globals.get("__name__", "")
        return instance


class ShimTaskExecutor(Generic[T], metaclass=_InstanceTracker):
    """Base of all executors. Override :meth:`execute_from_model`.

    Class attributes an executor may set (all optional):

    ``task_type_versions``
        The ``TaskTemplate.task_type_version`` values it accepts; ``None`` accepts any.
    ``requires_api``
        The range of the shimtask_core plugin API it was written for, as a
        ``(minimum, maximum)`` pair of integers; ``None`` means any.
    ``is_sync``
        Whether it finishes quickly enough to be served synchronously.
    ``lazy_datasets``
        Structured-dataset inputs arrive as ``DatasetRef`` (URI and declared
        columns, nothing read) instead of a ``pyarrow.Table``, for executors that
        scan the data where it lies.
    """

    task_type_versions: ClassVar[frozenset[int] | None] = None
    requires_api: ClassVar[tuple[int, int] | None] = None
    is_sync: ClassVar[bool] = True
    lazy_datasets: ClassVar[bool] = False

    _instantiated_in: str = ""
    _lhs: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Accept and ignore arguments, as the seed API does.
        pass

    def execute_from_model(self, tt: TaskTemplate, /, **kwargs: Any) -> Any:
        """Compute the outputs from the template and the Python input values.

        Only what was serialized into ``tt`` is available (its ``custom`` field
        above all). Return a single value for one output, a dict keyed by output
        name for several, or ``None`` when there are no outputs.

        Declare ``self`` and ``tt`` positional-only (``/``), as here, and inputs
        named ``self`` or ``tt`` reach ``kwargs`` too; with the seed API's
        ``(self, tt, **kwargs)`` a template with such an input is refused when loaded.
        """
        raise NotImplementedError(
            f"{type(self).__name__}.execute_from_model must be overridden by the executor"
        )

    @property
    def instantiated_in(self) -> str:
        """The module in which this instance was created."""
        return self._instantiated_in

    @property
    def lhs(self) -> str:
        """The module-level name this instance is bound to."""
        if self._lhs is None:
            self._lhs = self.find_lhs()
        return self._lhs

    @property
    def location(self) -> str:
        """``module.lhs``: where a loader finds this instance again."""
        return f"{self.instantiated_in}.{self.lhs}"

    def find_lhs(self) -> str:
        """Find the name bound to this instance in the module that created it."""
        module = sys.modules.get(self._instantiated_in)
        if module is not None:
            for name, value in vars(module).items():
                if value is self:
                    return name
        raise ValueError(
            f"{type(self).__name__} instance created in module {self._instantiated_in!r} is "
            f"not bound to a module-level name there, so it has no location; assign it to a "
            f"module-level variable"
        )
