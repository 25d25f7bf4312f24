"""The Flyte container contract: inputs.pb + template in, outputs.pb or error.pb out.

This is what a Flyte pod runs. Every failure ends as an ``ErrorDocument`` whose
origin (USER or SYSTEM) and recoverability come from ``errors.classify``; the
process exit status is non-zero whenever ``error.pb`` is written, unless the
caller asks for flytekit's behaviour (exit 0, Flyte reads error.pb).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, final

from flyteidl.core import errors_pb2, execution_pb2, literals_pb2

from . import logs, storage
from .context import ExecutionContext
from .errors import (
    EXIT_UNWRITTEN,
    ExecutionTimeout,
    ExecutorFailed,
    MissingDependency,
    ShimTaskError,
    TemplateError,
    Terminated,
    classify,
)
from .limits import Limits, current
from .registry import ExecutorRegistry, default_registry
from .task import ExecutableTemplateShimTask
from .template import parse_template

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flyteidl.core.tasks_pb2 import TaskTemplate

OUTPUTS_FILE = "outputs.pb"
ERROR_FILE = "error.pb"

_ORIGINS = {
    "USER": execution_pb2.ExecutionError.USER,
    "SYSTEM": execution_pb2.ExecutionError.SYSTEM,
}


@final
class ExecutionResult:
    """What one container execution wrote.

    ``ok``: outputs.pb was written at ``uri``. Otherwise error.pb was written at
    ``uri`` (``written``), or, when ``written`` is false, neither file could be
    written and ``write_error`` says why (Flyte then sees no result at all).

    A class with slots, not a ``typing.NamedTuple``: under postponed annotations the
    named tuple compiles each field's annotation (a ForwardRef each) on every cold start.
    """

    __slots__ = ("error", "ok", "uri", "write_error", "written")

    def __init__(self, ok: bool, uri: str, error: errors_pb2.ContainerError | None = None,
                 written: bool = True, write_error: str | None = None) -> None:
        self.ok = ok
        self.uri = uri
        self.error = error
        self.written = written
        self.write_error = write_error

    def __repr__(self) -> str:
        return (f"ExecutionResult(ok={self.ok!r}, uri={self.uri!r}, written={self.written!r}, "
                f"write_error={self.write_error!r})")


def load_template(uri: str, limits: Limits | None = None) -> TaskTemplate:
    """Read a template file (protobuf or protobuf-JSON) from a path or URI, of at most
    ``limits.template_bytes`` (``SHIMTASK_MAX_TEMPLATE_BYTES``)."""
    limits = limits or current()
    data = storage.read_bytes(uri, limit=limits.template_bytes)
    return parse_template(limits.check_size("template_bytes", f"the template {uri}", data),
                          source=uri)


def load_inputs(uri: str, limits: Limits | None = None) -> literals_pb2.LiteralMap:
    """Read an ``inputs.pb`` LiteralMap of at most ``limits.inputs_bytes``."""
    limits = limits or current()
    data = limits.check_size("inputs_bytes", f"the inputs {uri}",
                             storage.read_bytes(uri, limit=limits.inputs_bytes))
    inputs = literals_pb2.LiteralMap()
    try:
        inputs.ParseFromString(data)
    except Exception as exc:
        if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):  # JSON, not protobuf
            raise TemplateError(
                "not a LiteralMap protobuf but JSON: the inputs of 'shimtask execute' are "
                "the inputs.pb Flyte writes; to give JSON inputs, use 'shimtask run TEMPLATE "
                "--inputs-json FILE'", source=uri) from None
        raise TemplateError(f"not a LiteralMap protobuf: {exc}", source=uri) from None
    return inputs


def error_document(exc: BaseException, *, debug: bool = False) -> errors_pb2.ErrorDocument:
    """The ErrorDocument for an exception: code, message, origin and kind from one table."""
    import traceback  # only for failures

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
    stop_grace: float | None = None,
    timeout: float | None = None,
    error_status: int = 1,
) -> ExecutionResult:
    """Run one template as Flyte runs a container task; never raises for a task failure.

    Writes ``{output_prefix}/outputs.pb`` on success or ``{output_prefix}/error.pb`` on
    failure (atomically), and removes the other one if an earlier attempt left it.
    Whatever the executor does (returns, raises, calls ``sys.exit``, fails in its
    ``__init__``) ends in exactly one of them; a failed outputs.pb write is followed
    by an error.pb (SYSTEM, RECOVERABLE).

    In the main thread, SIGTERM and SIGINT raise :class:`~shimtask_core.errors.Terminated`
    in the running code: error.pb is written (SYSTEM, RECOVERABLE) and ``Terminated``
    propagates to the caller. With ``stop_grace`` (seconds; the CLI's way), an
    executor that does not stop within it is not waited for: error.pb is written from
    another thread and the process exits with status ``128 + signal``.

    ``timeout`` (seconds; default ``SHIMTASK_EXECUTION_TIMEOUT``, else none) bounds the
    whole execution: when it passes, ``ExecutionTimeout`` (SYSTEM, RECOVERABLE) is
    raised in the running code (the main thread) and is the result, even if the
    executor catches it and returns. With ``stop_grace``, an executor that does not
    stop within it is not waited for: error.pb is written from another thread and the
    process exits with ``error_status``. In another thread nothing can interrupt the
    executor: error.pb is written when the time is up, and whatever the executor
    returns later is discarded. The other limits (sizes, depth, collection length) are
    ``shimtask_core.limits``'s, from the environment.
    """
    limits = current()
    seconds = timeout if timeout is not None else limits.timeout
    outputs_uri = storage.join(output_prefix, OUTPUTS_FILE)
    error_uri = storage.join(output_prefix, ERROR_FILE)
    ctx = ExecutionContext(
        # absolute: the URIs written into outputs.pb must not depend on this directory
        raw_output_prefix=storage.absolute(raw_output_prefix or storage.join(output_prefix,
                                                                             "raw")),
        output_prefix=output_prefix,
        checkpoint_path=checkpoint_path,
        prev_checkpoint=prev_checkpoint,
    )
    finish = _Finish(error_uri, outputs_uri, debug)
    with _stopping_on_signals(finish, stop_grace), \
            _time_limit(finish, seconds, stop_grace, error_status):
        try:
            return _execute(finish, inputs, template, outputs_uri, ctx, registry, limits)
        except _Expired:  # the time ran out while a result was being written: it is the
            assert finish.expired is not None  # result (the alarm raises only once)
            return finish.fail(finish.expired)


def _execute(finish: _Finish, inputs: str, template: str, outputs_uri: str,
             ctx: ExecutionContext, registry: ExecutorRegistry | None,
             limits: Limits) -> ExecutionResult:
    name: str | None = None
    try:
        started = time.perf_counter()
        tt = load_template(template, limits)
        if logs.enabled():
            logs.phase("template", uri=template, name=tt.id.name or None, type=tt.type,
                       version=tt.task_type_version)
        registry = registry or default_registry()
        name = finish.executor = registry.executor_type_of(tt)
        resolution = registry.resolution(name, template=tt)  # the name read once, above
        if logs.enabled():
            record, index = resolution.record, registry.index_state()
            logs.phase("resolved", executor=resolution.name,
                       cls=f"{resolution.executor.__module__}.{resolution.executor.__qualname__}",
                       dist=record.dist or None, version=record.version or None,
                       index=index.status, index_file=index.file,
                       ms=(time.perf_counter() - started) * 1e3)
        literal_inputs = load_inputs(inputs, limits)
        if logs.enabled():
            logs.phase("inputs", uri=inputs, count=len(literal_inputs.literals),
                       bytes=literal_inputs.ByteSize())
        task = ExecutableTemplateShimTask(tt, resolution, registry=registry)
        ran = time.perf_counter()
        outputs = task.dispatch_execute(ctx, literal_inputs)
        if logs.enabled():
            logs.phase("executed", executor=resolution.name,
                       ms=(time.perf_counter() - ran) * 1e3, outputs=len(outputs.literals))
        size = outputs.ByteSize()
        if size > limits.outputs_bytes:  # and protobuf cannot serialize 2 GiB at all
            names = ", ".join(sorted(outputs.literals))
            raise limits.exceeded("outputs_bytes", f"the outputs ({names})", size)
        data = outputs.SerializeToString()
        with finish.lock:
            if finish.expired is not None:  # the executor swallowed the timeout and returned
                raise finish.expired
            _write_exclusive(outputs_uri, data, stale=finish.error_uri)
            finish.done = True
        if logs.enabled():
            logs.phase("wrote", uri=outputs_uri, bytes=len(data),
                       raw_output_prefix=ctx.raw_output_prefix,
                       total_ms=(time.perf_counter() - started) * 1e3)
        return ExecutionResult(ok=True, uri=outputs_uri)
    except BaseException as raised:
        # Stopped, or out of time: that is the result, whatever the stop made the executor
        # raise (a query it interrupted raises the library's own error).
        exc: BaseException = finish.terminated or finish.expired or raised
        result = finish.fail(_attributed(exc, name))
        if isinstance(exc, Terminated):
            exc.written = result.uri if result.written else None
            if exc is raised:
                raise
            raise exc from None
        return result


def write_error(output_prefix: str, exc: BaseException, *, debug: bool = False
                ) -> ExecutionResult:
    """Write error.pb for a failure found before any template could run (and remove a
    stale outputs.pb); never raises."""
    finish = _Finish(storage.join(output_prefix, ERROR_FILE),
                     storage.join(output_prefix, OUTPUTS_FILE), debug)
    return finish.fail(exc)


def _attributed(exc: BaseException, executor: str | None) -> BaseException:
    """What error.pb reports for ``exc``.

    shimtask's own code raises only ``Exception``s, and signals arrive as
    ``Terminated``; any other ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``,
    ``GeneratorExit``) was raised by plugin code, importing or running, and is the
    plugin's fault (USER), whatever the executor's ``except`` clauses let through.
    """
    if isinstance(exc, (Exception, Terminated)):
        return exc
    return ExecutorFailed(executor or "(not yet resolved)", exc)


class _Finish:
    """The one result of an execution: written once, by the main thread or the watchdog."""

    def __init__(self, error_uri: str, outputs_uri: str, debug: bool) -> None:
        import threading  # already imported by the interpreter's start-up modules

        self.error_uri = error_uri
        self.outputs_uri = outputs_uri
        self.debug = debug
        self.lock = threading.RLock()
        self.done = False
        #: the executor type, once known (for the timeout's message)
        self.executor: str | None = None
        #: set when the time limit passed: the execution's result, whatever it returns
        self.expired: ExecutionTimeout | None = None
        #: set by the first SIGTERM or SIGINT: the result of an execution that then fails,
        #: whatever it raises (a query the signal interrupted raises the library's error)
        self.terminated: Terminated | None = None

    def fail(self, exc: BaseException) -> ExecutionResult:
        """Write error.pb for ``exc`` (unless a result was written meanwhile)."""
        document = error_document(exc, debug=self.debug)
        with self.lock:
            try:
                _write_exclusive(self.error_uri, document.SerializeToString(),
                                 stale=self.outputs_uri, stale_required=False)
            except Exception as write_exc:  # neither file: say why, once
                self.done = True
                return ExecutionResult(ok=False, uri=self.error_uri, error=document.error,
                                       written=False, write_error=str(write_exc))
            self.done = True
        if logs.enabled():
            logs.phase("wrote", uri=self.error_uri, bytes=document.ByteSize(),
                       code=document.error.code)
        return ExecutionResult(ok=False, uri=self.error_uri, error=document.error)


@contextlib.contextmanager
def _stopping_on_signals(finish: _Finish, grace: float | None) -> Iterator[None]:
    """SIGTERM and SIGINT raise Terminated in the main thread while the block runs.

    The handlers are ordinary Python callables, so a plugin that installs its own
    handler for a while (to forward the signal to a child process) can chain to them.
    Only the first signal raises: a second one must not interrupt the writing of
    error.pb, and one after a result is written changes nothing. Outside the main
    thread (a caller's worker) nothing is installed.
    """
    import threading

    signal = _signal_functions()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        if stopping or finish.done:  # a result is written: the process is on its way out
            return
        stopping.append(signum)
        terminated = finish.terminated = Terminated(signum, names[signum])
        if grace is not None:
            late = Terminated(signum, terminated.signame)
            late.args = (f"{terminated} (the executor did not stop within {grace:g} s)",)
            _watchdog("shimtask-stop-watchdog", finish, grace, late,
                      cause=f"stopped by {terminated.signame}",
                      wrote=f"task stopped by {terminated.signame}, wrote {finish.error_uri}",
                      status=128 + signum)
        raise terminated

    names = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}
    previous = {sig: signal.signal(sig, on_signal) for sig in names}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _signal_functions() -> Any:
    """The signal functions, from the C module ``_signal`` that the interpreter imported at
    start-up: the ``signal`` module only wraps the same functions in enums, which costs
    every cold ``shimtask execute`` about a millisecond. Handlers are the same either way."""
    try:
        import _signal  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - an interpreter without it
        import signal as _signal
    return _signal


def _watchdog(name: str, finish: _Finish, grace: float, late: BaseException, *,
              cause: str, wrote: str, status: int) -> None:
    """Start a daemon thread that, if no result is written ``grace`` seconds after the
    execution was told to stop (an executor stuck in C code, or one that swallows
    BaseException), writes error.pb for ``late`` and ends the process with ``status``.

    A stop and a timeout differ only in what they pass: ``late``, ``status``, ``cause``
    (why the execution was stopping) and ``wrote`` (the line once error.pb is written).
    """
    import os
    import sys
    import threading

    def watch() -> None:
        time.sleep(grace)
        if not finish.lock.acquire(timeout=grace):
            print(f"shimtask: error: {cause}; the executor did not stop and "
                  f"{finish.error_uri} could not be written in time", file=sys.stderr)
            os._exit(EXIT_UNWRITTEN)
        try:
            if finish.done:
                return  # the main thread wrote it and is on its way out
            result = finish.fail(late)
            if result.written:
                print(f"shimtask: {wrote}", file=sys.stderr)
            else:
                print(f"shimtask: error: {cause}, and {result.uri} could not be written: "
                      f"{result.write_error}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(status if result.written else EXIT_UNWRITTEN)
        finally:
            finish.lock.release()

    threading.Thread(target=watch, name=name, daemon=True).start()


class _Expired(BaseException):
    """Raised in the running code when the time limit passes (a BaseException, so that
    ``except Exception`` in an executor does not swallow it); error.pb says
    ``ExecutionTimeout``."""


@contextlib.contextmanager
def _time_limit(finish: _Finish, seconds: float | None, grace: float | None,
                error_status: int) -> Iterator[None]:
    """Bound the block to ``seconds``: SIGALRM in the main thread, a timer elsewhere."""
    if seconds is None:
        yield
        return
    import signal
    import threading

    def expire() -> ExecutionTimeout:
        finish.expired = ExecutionTimeout(finish.executor or "(not yet resolved)", seconds)
        return finish.expired

    if threading.current_thread() is not threading.main_thread():
        caller = threading.get_ident()

        def write_now() -> None:  # no signal reaches the caller's thread
            with finish.lock:
                if finish.done:
                    return
                finish.fail(expire())
            from .interrupts import interrupt_thread  # a query of the executor's returns

            interrupt_thread(caller, still=lambda: inside)

        inside = True  # the caller is in the block (its interrupts are this execution's)
        timer = threading.Timer(seconds, write_now)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            inside = False
            timer.cancel()
        return

    def on_alarm(signum: int, frame: object) -> None:
        if finish.done or finish.expired is not None:
            return
        expired = expire()
        if grace is not None:
            late = ExecutionTimeout(expired.executor_type, expired.seconds)
            late.args = (f"{expired} (and it did not stop within {grace:g} s after)",)
            _watchdog("shimtask-timeout-watchdog", finish, grace, late, cause=str(expired),
                      wrote=f"task failed (Timeout), wrote {finish.error_uri}: {late}",
                      status=error_status)
        raise _Expired

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _write_exclusive(uri: str, data: bytes, *, stale: str, stale_required: bool = True) -> None:
    """Write one result file and remove the other, so the prefix never holds both.

    outputs.pb is not written while a stale error.pb remains (``stale_required``):
    Flyte would read the error. error.pb is written even when a stale outputs.pb
    cannot be removed, since Flyte reads error.pb first.
    """
    for attempt in range(3):
        try:
            try:
                storage.remove(stale)
            except ShimTaskError:
                if stale_required:
                    raise
            storage.write_bytes(uri, data)
            return
        except MissingDependency:
            raise  # a package that is not installed: no retry will bring it
        except ShimTaskError:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
