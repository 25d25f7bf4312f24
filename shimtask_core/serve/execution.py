"""One execution as the connector protocol reports it: a template and inputs in, a ``Resource`` out.

Every way an execution can end becomes a ``Resource`` here, and nowhere else:
success is phase SUCCEEDED with ``resource.outputs``; a failure is phase FAILED
(permanent) or RETRYABLE_FAILED (propeller retries it), with an ``agent_error``
whose code, origin and kind come from the same table as the container
contract's ``error.pb`` (``errors.classify`` through ``runtime.error_document``).
A fault is in-band whatever raised it, so that one broken executor never turns
into a gRPC error that propeller would retry forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from flyteidl.admin import agent_pb2
from flyteidl.core import errors_pb2, execution_pb2

from .. import storage
from ..context import ExecutionContext
from ..errors import ExecutionTimeout, ExecutorFailed, TaskLost
from ..literals import InterfaceCodec
from ..literals.files import DOWNLOADS
from ..runtime import error_document
from ..task import ExecutableTemplateShimTask, check_input_names

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import LiteralMap
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from ..registry import ExecutorRegistry, Resolution

Phase = execution_pb2.TaskExecution
SUCCEEDED: Final = Phase.SUCCEEDED
FAILED: Final = Phase.FAILED
RETRYABLE_FAILED: Final = Phase.RETRYABLE_FAILED
ABORTED: Final = Phase.ABORTED
RUNNING: Final = Phase.RUNNING
QUEUED: Final = Phase.QUEUED

#: The executor-type label of a request whose executor was never found: metrics
#: and logs must not grow a label per misspelt name a client sends.
UNRESOLVED: Final = "(unresolved)"

#: Offloaded values (parquet, files) go under the task's own output prefix.
RAW_DIR: Final = "raw"

_KINDS = {
    errors_pb2.ContainerError.RECOVERABLE: agent_pb2.AgentError.RECOVERABLE,
    errors_pb2.ContainerError.NON_RECOVERABLE: agent_pb2.AgentError.NON_RECOVERABLE,
}


@final
class Outcome:
    """How one execution ended: the ``Resource`` to send, and what logs and metrics say.

    ``outcome`` is ``succeeded``, ``failed`` (permanent), ``retryable`` or
    ``aborted``; ``code`` is the error code (``None`` on success). A success is
    built from its ``outputs`` and its ``Resource`` made only when asked for: the
    sync answer is serialized from the outputs' own bytes (:meth:`resource_bytes`),
    and copying them into a ``Resource`` first costs as much as a trivial execution.
    """

    __slots__ = ("_resource", "code", "executor_type", "outcome", "outputs")

    def __init__(self, resource: agent_pb2.Resource | None, executor_type: str, outcome: str,
                 code: str | None = None, outputs: LiteralMap | None = None) -> None:
        self._resource = resource
        self.outputs = outputs
        self.executor_type = executor_type
        self.outcome = outcome
        self.code = code

    @classmethod
    def succeeded(cls, outputs: LiteralMap, executor_type: str) -> Outcome:
        return cls(None, executor_type, "succeeded", None, outputs)  # by position: cheaper

    @property
    def resource(self) -> agent_pb2.Resource:
        resource = self._resource
        if resource is None:
            resource = self._resource = agent_pb2.Resource(phase=SUCCEEDED,
                                                           outputs=self.outputs)
        return resource

    def resource_bytes(self) -> bytes:
        """``self.resource`` serialized (for a success: field 2, the outputs, then
        field 5, the phase, as protobuf writes them)."""
        if self._resource is None and self.outputs is not None:
            data: bytes = self.outputs.SerializeToString()
            return b"\x12" + varint(len(data)) + data + _PHASE_SUCCEEDED
        serialized: bytes = self.resource.SerializeToString()
        return serialized


#: The varint of each ``n < 0x80``: one byte, looked up.
_ONE_BYTE: Final = tuple(bytes((n,)) for n in range(0x80))
_PHASE_SUCCEEDED: Final = b"\x28" + bytes((SUCCEEDED,))  # field 5, varint


def varint(n: int) -> bytes:
    """``n`` as a protobuf varint."""
    if n < 0x80:
        return _ONE_BYTE[n]
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@final
@dataclass(frozen=True, slots=True)
class Prepared:
    """What a template needs before it can run, found once: its executor and its codec."""

    resolution: Resolution
    codec: InterfaceCodec


@final
class TemplateCache:
    """Prepared templates by their serialized bytes: propeller sends the same template
    again and again, and resolving it (policy, versions, input names) and preparing
    its codec cost more than a trivial execution.

    A template that does not resolve is not kept (its error is found again each
    time). :meth:`clear` forgets everything; the service calls it whenever the
    installed plugins are read again, so a changed distribution is seen.
    """

    def __init__(self, registry: ExecutorRegistry, limit: int = 1024) -> None:
        self._registry = registry
        self._prepared: dict[bytes, Prepared] = {}
        self._codecs: dict[tuple[bytes, bool], InterfaceCodec] = {}
        self._limit = limit

    def get(self, tt: TaskTemplate) -> Prepared:
        key = tt.SerializeToString()
        hit = self._prepared.get(key)
        if hit is None:
            resolution = self._registry.resolution(tt)
            check_input_names(tt, resolution.executor)  # once: the tasks are made prepared()
            hit = Prepared(resolution, self._codec(tt, resolution.executor.lazy_datasets))
            if len(self._prepared) >= self._limit:  # a bound, not an LRU: templates repeat
                self._prepared.clear()
            self._prepared[key] = hit
        return hit

    def _codec(self, tt: TaskTemplate, lazy_datasets: bool) -> InterfaceCodec:
        """One codec per interface, shared by the templates that declare it."""
        key = (tt.interface.SerializeToString(deterministic=True), lazy_datasets)
        codec = self._codecs.get(key)
        if codec is None:
            codec = InterfaceCodec(tt.interface, lazy_datasets=lazy_datasets)
            if len(self._codecs) >= self._limit:
                self._codecs.clear()
            self._codecs[key] = codec
        return codec

    def clear(self) -> None:
        self._prepared = {}


@final
class Scratch:
    """The working directory of executions, where remote ``File``/``Directory`` inputs
    are downloaded: one root the server owns.

    Each download directory an execution makes there is collected (through
    ``literals.files.DOWNLOADS``, per execution) and removed when the execution
    returns, however it ended; its outputs were uploaded, or written by URI,
    before that. An execution that downloads nothing costs no directory and no
    system call. One that outlives its time limit keeps its downloads until it
    returns; the root, with anything left in it, goes with the server.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


def _remove(paths: list[str]) -> None:
    import shutil

    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def execute(
    registry: ExecutorRegistry, tt: TaskTemplate, inputs: LiteralMap, output_prefix: str,
    templates: TemplateCache | None = None, scratch: Scratch | None = None,
) -> Outcome:
    """Resolve, run and encode one template; never raises (BaseException included: an
    executor calling ``sys.exit`` must not end the worker thread)."""
    label = UNRESOLVED
    downloads: list[str] = []
    collecting = DOWNLOADS.set(downloads)
    try:
        if templates is not None:
            prepared = templates.get(tt)
            label = prepared.resolution.name
            task = ExecutableTemplateShimTask.prepared(tt, prepared.resolution, registry,
                                                       prepared.codec)
        else:
            resolution = registry.resolution(tt)
            label = resolution.name
            task = ExecutableTemplateShimTask(tt, resolution, registry=registry)
        # raw_output_prefix, output_prefix, working_dir (by position: a call by keyword
        # costs more than building the context)
        ctx = ExecutionContext(storage.join(output_prefix, RAW_DIR), output_prefix,
                               scratch.root if scratch is not None else None)
        outputs = task.dispatch_execute(ctx, inputs)
    except SystemExit as exc:  # sys.exit in executor code: the executor's fault, not ours
        return failure(ExecutorFailed(label, exc), label)
    except BaseException as exc:
        return failure(exc, label)
    finally:
        DOWNLOADS.reset(collecting)
        if downloads:
            _remove(downloads)
    return Outcome.succeeded(outputs, label)


def failure(exc: BaseException, executor_type: str) -> Outcome:
    """The in-band answer for an exception, classified by the one error table."""
    return from_error(error_document(exc).error, executor_type)


def from_error(error: errors_pb2.ContainerError, executor_type: str) -> Outcome:
    """The in-band answer for a ``ContainerError`` (what ``error.pb`` holds)."""
    recoverable = error.kind == errors_pb2.ContainerError.RECOVERABLE
    resource = agent_pb2.Resource(
        phase=RETRYABLE_FAILED if recoverable else FAILED,
        message=error.message,
        agent_error=agent_pb2.AgentError(code=error.code, kind=_KINDS[error.kind],
                                         origin=error.origin),
    )
    return Outcome(resource, executor_type, "retryable" if recoverable else "failed", error.code)


def timed_out(executor_type: str, seconds: float) -> Outcome:
    """The answer when an execution did not finish within its time limit."""
    return failure(ExecutionTimeout(executor_type, seconds), executor_type)


def lost(task_id: str, reason: str, executor_type: str) -> Outcome:
    """The answer for an async task whose server process is gone (propeller retries it)."""
    return failure(TaskLost(task_id, reason), executor_type)


def container_error(outcome: Outcome) -> errors_pb2.ErrorDocument:
    """The ``error.pb`` document of a failed outcome (what ``from_error`` reads back)."""
    resource = outcome.resource
    error = errors_pb2.ContainerError(
        code=resource.agent_error.code,
        message=resource.message,
        kind=errors_pb2.ContainerError.RECOVERABLE
        if resource.agent_error.kind == agent_pb2.AgentError.RECOVERABLE
        else errors_pb2.ContainerError.NON_RECOVERABLE,
        origin=resource.agent_error.origin,
    )
    error.timestamp.GetCurrentTime()
    return errors_pb2.ErrorDocument(error=error)


def aborted(executor_type: str, message: str) -> Outcome:
    resource = agent_pb2.Resource(phase=ABORTED, message=message)
    return Outcome(resource, executor_type, "aborted", "Aborted")


def time_limit(tt: TaskTemplate, server_limit: float) -> float:
    """The server's limit, shortened by the template's own ``metadata.timeout`` if it
    sets one (what the task's author asked for)."""
    if tt.metadata.HasField("timeout"):
        own = float(tt.metadata.timeout.seconds + tt.metadata.timeout.nanos / 1e9)
        if own > 0:
            return min(own, server_limit)
    return server_limit
