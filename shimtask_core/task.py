"""A template bound to its executor: flytekit's ExecutableTemplateShimTask, done strictly.

``dispatch_execute`` is the whole life of one execution: decode the input
literals by declared type, run the executor through the ``execute_from_model``
hook (so wrapper plugins see it), and encode the result by output *name*,
validated against the declared types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .context import ExecutionContext, current_context, reset_current, set_current
from .errors import ExecutorFailed, ShimTaskError, TemplateError
from .executor import ShimTaskExecutor
from .literals import InterfaceCodec
from .registry import ExecutorRegistry, Resolution, default_registry

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import LiteralMap
    from flyteidl.core.tasks_pb2 import TaskTemplate


class ExecutableTemplateShimTask:
    """A ``TaskTemplate`` and the executor that runs it.

    ``executor_type`` is a ``ShimTaskExecutor`` subclass or the name of one in
    the registry (or what :meth:`ExecutorRegistry.resolution` already found for
    ``tt``: it is resolved once and carried forward). Extra positional and keyword
    arguments are accepted, as in flytekit, and ignored.
    """

    def __init__(
        self,
        tt: TaskTemplate,
        executor_type: type[ShimTaskExecutor[Any]] | str | Resolution,
        *args: Any,
        registry: ExecutorRegistry | None = None,
        codec: InterfaceCodec | None = None,
        **kwargs: Any,
    ) -> None:
        self._registry = registry or default_registry()
        if not isinstance(executor_type, Resolution):
            executor_type = self._registry.resolution(executor_type, template=tt)
        self._resolution = executor_type
        self._task_template = tt
        check_input_names(tt, executor_type.executor)
        self._executor = _new_executor(executor_type)
        # A server reuses one prepared codec per interface (building one costs more than a
        # trivial execution); it must have been built for this template's interface.
        self._codec: InterfaceCodec | None = codec

    @classmethod
    def prepared(cls, tt: TaskTemplate, resolution: Resolution, registry: ExecutorRegistry,
                 codec: InterfaceCodec) -> ExecutableTemplateShimTask:
        """The task the constructor makes, for a template whose input names already
        passed :func:`check_input_names` for this executor (an identical template did):
        a server runs the same template again and again, and the check costs as much
        as the rest of building the task. The executor is a fresh instance, as always."""
        task = cls.__new__(cls)
        task._registry = registry
        task._resolution = resolution
        task._task_template = tt
        task._executor = _new_executor(resolution)
        task._codec = codec
        return task

    @property
    def executor(self) -> ShimTaskExecutor[Any]:
        return self._executor

    @property
    def executor_type(self) -> type[ShimTaskExecutor[Any]]:
        return self._resolution.executor

    @property
    def resolution(self) -> Resolution:
        """The executor type's name, class and entry point, as resolved for this task."""
        return self._resolution

    @property
    def name(self) -> str:
        """The name of the underlying task (the template id's name)."""
        return str(self._task_template.id.name)

    @property
    def task_template(self) -> TaskTemplate:
        return self._task_template

    @property
    def codec(self) -> InterfaceCodec:
        """The prepared converter for this template's interface (built on first use)."""
        codec = self._codec
        if codec is None:
            codec = self._codec = InterfaceCodec(
                self._task_template.interface, lazy_datasets=self.executor_type.lazy_datasets)
        return codec

    def execute(self, /, **kwargs: Any) -> Any:
        """Send everything to the executor, through the hook so wrapper plugins see it.

        (``self`` is positional-only, so an input may be named ``self``.)
        """
        executor = self._executor
        tt = self._task_template
        hook = self._registry.execution_hook()
        try:
            if hook is None:  # no hook plugin installed: nothing to wrap
                return executor.execute_from_model(tt, **kwargs)

            from .registry.hooks import call_through_wrappers  # only with hook plugins

            return call_through_wrappers(hook, executor, tt, kwargs)
        except ShimTaskError:
            raise
        except Exception as exc:
            raise ExecutorFailed(self._resolution.name, exc) from exc

    def pre_execute(self, user_params: Any) -> Any:
        """A stub kept for dispatch_execute compatibility with PythonTask."""
        return user_params

    def post_execute(self, _: Any, rval: Any) -> Any:
        """A stub kept for dispatch_execute compatibility with PythonTask."""
        return rval

    def dispatch_execute(self, ctx: Any, input_literal_map: LiteralMap) -> LiteralMap:
        """Decode inputs by declared type, execute, encode outputs by name.

        ``ctx`` may be ``None`` (a local default) or an :class:`ExecutionContext`.
        """
        codec = self.codec
        inputs = codec.decode_inputs(input_literal_map)
        # using_context(), without the context manager's calls
        token = set_current(ctx if isinstance(ctx, ExecutionContext) else current_context())
        try:
            params = self.pre_execute(ctx)
            result = self.post_execute(params, self.execute(**inputs))
            return codec.encode_outputs(result)
        finally:
            reset_current(token)

    def run(self, inputs: Mapping[str, Any], ctx: ExecutionContext | None = None) -> Any:
        """Run on Python values exactly as a cluster would: the inputs are validated and
        normalised through their literals, and the outputs come back decoded.

        Returns the single output's value, a dict by name for several, or None.
        """
        codec = self.codec
        outputs = codec.decode_outputs(self.dispatch_execute(ctx, codec.encode_inputs(inputs)))
        if not outputs:
            return None
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return outputs


def run_template(tt: TaskTemplate, /, **inputs: Any) -> Any:
    """Resolve the template's executor, run it on ``inputs`` and return the Python outputs.

    The outputs are a single value for one output, a dict by output name for
    several, and None for none. Any input name works (``tt`` included);
    ``registry=`` is the registry to resolve with when its value is an
    :class:`ExecutorRegistry`, and an input otherwise.
    """
    registry = inputs.get("registry")
    if isinstance(registry, ExecutorRegistry):
        del inputs["registry"]
    else:
        registry = default_registry()
    return ExecutableTemplateShimTask(tt, registry.resolution(tt), registry=registry).run(inputs)


def _new_executor(resolution: Resolution) -> ShimTaskExecutor[Any]:
    try:
        return resolution.executor()
    except ShimTaskError:
        raise
    except Exception as exc:  # the plugin's own __init__: its fault, not the framework's
        raise ExecutorFailed(resolution.name, exc) from exc


def check_input_names(tt: TaskTemplate, executor_cls: type[ShimTaskExecutor[Any]]) -> None:
    """Refuse, when the template is loaded, an input that the executor's own signature
    cannot receive: ``execute_from_model(self, tt, **inputs)`` is called with ``self`` and
    ``tt`` by position and every input by name, so an input named like either of those
    parameters collides with it (unless the executor declares them positional-only)."""
    names = tt.interface.inputs.variables
    if not names:
        return
    method: Any = getattr(executor_cls, "execute_from_model", None)
    found = _COLLIDABLE.get(method)
    if found is None:  # read once per method: a server checks every request's template
        if len(_COLLIDABLE) >= 1024:
            _COLLIDABLE.clear()
        found = _COLLIDABLE[method] = _collidable(method)
    candidates, code = found
    colliding = [p for p in candidates if p in names]
    if colliding:
        name = colliding[0]
        params = ", ".join(code.co_varnames[:code.co_argcount])
        raise TemplateError(
            f"input {name!r} cannot reach {executor_cls.__qualname__}.execute_from_model"
            f"({params}, **...): its parameter {name!r} takes that name. Rename the input, "
            f"or let the executor take its parameters by position only: "
            f"def execute_from_model({params}, /, **inputs)", source=tt.id.name or None)


#: Per ``execute_from_model``: the parameters an input's name could collide with, and
#: the code they were read from.
_COLLIDABLE: dict[Any, tuple[tuple[str, ...], Any]] = {}


def _collidable(method: Any) -> tuple[tuple[str, ...], Any]:
    func = method
    while hasattr(func, "__wrapped__"):  # functools.wraps: the signature that binds last
        func = func.__wrapped__
    code = getattr(func, "__code__", None)
    if code is None:
        return (), None
    by_position = code.co_varnames[:min(code.co_argcount, 2)]  # (self, tt)
    return tuple(by_position[code.co_posonlyargcount:]), code
