"""The Flyte container contract: inputs.pb + template in, outputs.pb or error.pb out.

This is what a Flyte pod runs. Every failure ends as an ``ErrorDocument`` whose
origin (USER or SYSTEM) and recoverability come from ``errors.classify``; the
process exit status is non-zero whenever ``error.pb`` is written, unless the
caller asks for flytekit's behaviour (exit 0, Flyte reads error.pb).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from flyteidl.core import errors_pb2, execution_pb2, literals_pb2

from . import storage
from .context import ExecutionContext
from .errors import ExecutorFailed, ShimTaskError, TemplateError, classify
from .registry import ExecutorRegistry, default_registry
from .task import ExecutableTemplateShimTask
from .template import parse_template

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

OUTPUTS_FILE = "outputs.pb"
ERROR_FILE = "error.pb"

_ORIGINS = {
    "USER": execution_pb2.ExecutionError.USER,
    "SYSTEM": execution_pb2.ExecutionError.SYSTEM,
}


@final
@dataclass(frozen=True)
class ExecutionResult:
    """What one container execution wrote."""

    ok: bool
    uri: str
    error: errors_pb2.ContainerError | None = None


def load_template(uri: str) -> TaskTemplate:
    """Read a template file (protobuf or protobuf-JSON) from a path or URI."""
    return parse_template(storage.read_bytes(uri), source=uri)


def load_inputs(uri: str) -> literals_pb2.LiteralMap:
    """Read an ``inputs.pb`` LiteralMap."""
    data = storage.read_bytes(uri)
    inputs = literals_pb2.LiteralMap()
    try:
        inputs.ParseFromString(data)
    except Exception as exc:
        raise TemplateError(f"not a LiteralMap protobuf: {exc}", source=uri) from None
    return inputs


def error_document(exc: BaseException, *, debug: bool = False) -> errors_pb2.ErrorDocument:
    """The ErrorDocument for an exception: code, message, origin and kind from one table."""
    code, origin, recoverable = classify(exc)
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ExecutorFailed):  # the executor's own traceback is what its author needs
        message += "\n\n" + "".join(traceback.format_exception(exc.cause))
    elif debug or not isinstance(exc, ShimTaskError):
        message += "\n\n" + "".join(traceback.format_exception(exc))
    error = errors_pb2.ContainerError(
        code=code,
        message=message,
        kind=errors_pb2.ContainerError.RECOVERABLE if recoverable
        else errors_pb2.ContainerError.NON_RECOVERABLE,
        origin=_ORIGINS[origin],
    )
    error.timestamp.GetCurrentTime()
    return errors_pb2.ErrorDocument(error=error)


def execute(
    *,
    inputs: str,
    output_prefix: str,
    template: str,
    raw_output_prefix: str | None = None,
    checkpoint_path: str | None = None,
    prev_checkpoint: str | None = None,
    registry: ExecutorRegistry | None = None,
    debug: bool = False,
) -> ExecutionResult:
    """Run one template as Flyte runs a container task; never raises for a task failure.

    Writes ``{output_prefix}/outputs.pb`` on success or ``{output_prefix}/error.pb`` on
    failure (atomically), and removes the other one if an earlier attempt left it.
    """
    outputs_uri = storage.join(output_prefix, OUTPUTS_FILE)
    error_uri = storage.join(output_prefix, ERROR_FILE)
    ctx = ExecutionContext(
        raw_output_prefix=raw_output_prefix or storage.join(output_prefix, "raw"),
        output_prefix=output_prefix,
        checkpoint_path=checkpoint_path,
        prev_checkpoint=prev_checkpoint,
    )
    try:
        tt = load_template(template)
        literal_inputs = load_inputs(inputs)
        registry = registry or default_registry()
        task = ExecutableTemplateShimTask(tt, registry.resolution(tt), registry=registry)
        outputs = task.dispatch_execute(ctx, literal_inputs)
        data = outputs.SerializeToString()
    except Exception as exc:
        document = error_document(exc, debug=debug)
        _write_exclusive(error_uri, document.SerializeToString(), stale=outputs_uri)
        return ExecutionResult(ok=False, uri=error_uri, error=document.error)
    _write_exclusive(outputs_uri, data, stale=error_uri)
    return ExecutionResult(ok=True, uri=outputs_uri)


def _write_exclusive(uri: str, data: bytes, *, stale: str) -> None:
    """Write one result file and remove the other, so the prefix never holds both."""
    for attempt in range(3):
        try:
            storage.remove(stale)
            storage.write_bytes(uri, data)
            return
        except ShimTaskError:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
