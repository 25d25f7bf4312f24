"""The gRPC handlers: flyteidl's agent services (and their connector names), on one object.

What is a gRPC status and what is in-band follows what propeller does with each
(any status on CreateTask or ExecuteTaskSync is retried; FAILED is final):

* in-band, in the ``Resource``: everything about the task itself (the executor
  is unknown, the inputs do not fit, the executor raised, it timed out, storage
  failed while writing its outputs), classified USER or SYSTEM, permanent or
  retryable, by the one error table;
* ``INVALID_ARGUMENT``: a malformed request (inputs before the header, two
  headers, no template, no output prefix, a ``resource_meta`` we did not write);
* ``RESOURCE_EXHAUSTED``: the worker pool and its queue are full (back-pressure;
  propeller retries, perhaps on another replica); ``UNAVAILABLE``: shutting down,
  or the storage holding an async task's result cannot be read right now;
* ``NOT_FOUND``: ``GetAgent`` for a name that is not advertised.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, NoReturn, final

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.core import errors_pb2, literals_pb2
from google.protobuf.message import DecodeError

from .. import storage
from ..errors import ShimTaskError
from ..registry import executor_type_of
from ..runtime import ERROR_FILE, OUTPUTS_FILE
from . import execution
from .execution import UNRESOLVED, Outcome, varint
from .jobs import BadResourceMeta, Job, ResourceMeta, lost_after
from .log import first_line, task_execution_id
from .metrics import NoMetrics
from .pool import ADMITTED, REFUSED, Full, QueueTimeout, lane_admission

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from ..registry import ExecutorRegistry
    from .catalog import Catalog
    from .config import ServeConfig
    from .jobs import JobTable
    from .log import EventLog
    from .metrics import Metrics
    from .pool import WorkerPool

PACKAGE = "flyteidl.service"
#: Service names: flyteidl 1.16's, and the connector names newer Flyte uses for the
#: same messages. Every one is registered, and reported SERVING by the health service.
SYNC_SERVICES = ("SyncAgentService", "SyncConnectorService")
ASYNC_SERVICES = ("AsyncAgentService", "AsyncConnectorService")
METADATA_SERVICES = ("AgentMetadataService", "ConnectorMetadataService")
#: Seconds between checks that a synchronous caller is still there.
WAIT_SLICE = 1.0
#: Left under an async task's output prefix by a DeleteTask that reached a replica
#: other than the one running the task; holds the task's id.
DELETED_FILE = "shimtask-deleted"
DELETED_ELSEWHERE = "deleted (aborted by Flyte) through another replica"
SERVICE_NAMES = tuple(f"{PACKAGE}.{name}"
                      for name in (*SYNC_SERVICES, *ASYNC_SERVICES, *METADATA_SERVICES))

def sync_response_bytes(outcome: Outcome) -> bytes:
    """``ExecuteTaskSyncResponse(header=ExecuteTaskSyncResponseHeader(resource=...))``
    serialized, from the resource's own bytes: field 1 (``header``, length-delimited)
    holding field 1 (``resource``). Building the messages would copy the outputs twice."""
    body = outcome.resource_bytes()
    header = b"\x0a" + varint(len(body)) + body
    return b"\x0a" + varint(len(header)) + header


@final
class Undecodable:
    """A request message whose bytes are not the protobuf message they should be.

    grpc answers ``INTERNAL`` when its deserializer raises, which propeller retries,
    and no handler sees the request; with :func:`lenient` the handler gets this
    instead and answers ``INVALID_ARGUMENT``, logged and counted as malformed."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def lenient(message_type: Any) -> Callable[[bytes], Any]:
    """``message_type.FromString``, returning :class:`Undecodable` instead of raising."""
    parse = message_type.FromString
    type_name: str = message_type.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError:
            return Undecodable(type_name)
    return deserialize


@final
class _LeftBehind:
    """The termination callback of a sync call run on its own gRPC thread. gRPC calls it
    when the call ends, also when the caller left (its deadline passed) while the
    execution still runs: then what the execution waits for in C inside
    ``interruptible`` (a query) is interrupted, and the thread and its slot are free."""

    __slots__ = ("ident", "running")

    def __init__(self) -> None:
        self.ident = threading.get_ident()
        self.running = True

    def __call__(self) -> None:
        if self.running:  # False on every call that ended in its own time
            from ..interrupts import interrupt_thread

            interrupt_thread(self.ident, still=self.still)

    def still(self) -> bool:
        return self.running


@final
class ConnectorService:
    """Every RPC of the three services; state lives in the pool, the jobs and the catalog."""

    def __init__(self, config: ServeConfig, registry: ExecutorRegistry, pool: WorkerPool,
                 catalog: Catalog, jobs: JobTable, metrics: Metrics, log: EventLog,
                 scratch: execution.Scratch | None = None) -> None:
        self.config = config
        self.scratch = scratch
        self.registry = registry
        self.pool = pool
        self.catalog = catalog
        self.jobs = jobs
        self.metrics = metrics
        self._metering = not isinstance(metrics, NoMetrics)  # no call at all without them
        self.log = log
        self.templates = execution.TemplateCache(registry)

    # --- bookkeeping -------------------------------------------------------------------

    def _done(self, rpc: str, started: float, task_id: str, outcome: Outcome,
              task: str | None = None) -> None:
        """Metrics and the request line of a finished execution (``task``: an async one's
        id). No ``**extra`` here: a call through ``**`` builds a dict of every keyword."""
        seconds = time.perf_counter() - started
        if self._metering:
            self.metrics.observe(rpc, outcome.executor_type, outcome.outcome, outcome.code,
                                 seconds)
        message = outcome.resource.message if outcome.code else None
        if task is None:
            self.log.request(rpc, task_execution_id=task_id,
                             executor_type=outcome.executor_type, seconds=seconds,
                             outcome=outcome.outcome, code=outcome.code, message=message)
        else:
            self.log.request(rpc, task_execution_id=task_id,
                             executor_type=outcome.executor_type, seconds=seconds,
                             outcome=outcome.outcome, code=outcome.code, message=message,
                             task=task)

    def _reject(self, rpc: str, context: grpc.ServicerContext, code: grpc.StatusCode,
                reason: str, details: str, started: float, task_id: str = "",
                executor_type: str = UNRESOLVED) -> NoReturn:
        seconds = time.perf_counter() - started
        self.metrics.rejected(rpc, reason)
        self.log.request(rpc, task_execution_id=task_id, executor_type=executor_type,
                         seconds=seconds, outcome="rejected", code=code.name, message=details)
        context.abort(code, details)
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    def _undecodable(self, rpc: str, message: Undecodable, context: grpc.ServicerContext,
                     started: float, task_id: str = "") -> NoReturn:
        self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed",
                     f"a {rpc} request message is not a {message.type_name}: its bytes do "
                     f"not decode as that protobuf message", started, task_id)

    def _refuse(self, rpc: str, context: grpc.ServicerContext, started: float, task_id: str,
                executor_type: str) -> NoReturn:
        if self.pool.closed:
            self._reject(rpc, context, grpc.StatusCode.UNAVAILABLE, "shutting_down",
                         "the connector service is shutting down; retry on another replica",
                         started, task_id, executor_type)
        self._reject(rpc, context, grpc.StatusCode.RESOURCE_EXHAUSTED, "busy",
                     f"all {self.pool.workers} workers are busy and "
                     f"{self.pool.capacity - self.pool.workers} executions are queued "
                     f"(shimtask serve --workers/--max-queue); retry later or add replicas",
                     started, task_id, executor_type)

    def _label(self, tt: TaskTemplate) -> str:
        """The executor type for logs and metrics: advertised names only."""
        try:
            name = executor_type_of(tt)
        except ShimTaskError:
            return UNRESOLVED
        return self._known(name)

    def _known(self, name: str) -> str:
        """``name`` if it is advertised, else ``(unresolved)``: a ``resource_meta`` comes
        back from the client, and a name it made up must not become a metrics series."""
        return name if self.catalog.get(name) is not None else UNRESOLVED

    # --- SyncAgentService ----------------------------------------------------------------

    def ExecuteTaskSync(self, requests: Iterator[agent_pb2.ExecuteTaskSyncRequest],
                        context: grpc.ServicerContext) -> Iterator[Outcome]:
        """Header, then inputs; answered as soon as both are here (propeller closes its
        side after them, a client that keeps it open is answered all the same). Yields
        the ``Outcome`` whose ``Resource`` is the one response's header."""
        rpc = "ExecuteTaskSync"
        started = time.perf_counter()
        try:
            first = next(requests, None)
        except grpc.RpcError:  # cancelled while it waited in the lane: nothing to answer
            outcome = execution.aborted(UNRESOLVED, "the caller went away before a worker "
                                                    "was free")
            self._done(rpc, started, "", outcome)
            return
        if first.__class__ is Undecodable:
            self._undecodable(rpc, first, context, started)
        if first is None or first.WhichOneof("part") != "header":
            what = "an empty stream" if first is None else "inputs"
            self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed",
                         f"ExecuteTaskSync must start with a header (template, output_prefix), "
                         f"got {what}", started)
        header = first.header
        task_id = task_execution_id(header.task_execution_metadata)
        if not header.HasField("template"):
            self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed",
                         "the ExecuteTaskSync header has no template", started, task_id)
        if not header.output_prefix:
            self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed",
                         "the ExecuteTaskSync header has no output_prefix (where offloaded "
                         "outputs are written)", started, task_id)
        second = next(requests, None)
        if second.__class__ is Undecodable:
            self._undecodable(rpc, second, context, started, task_id)
        if second is None:
            inputs = literals_pb2.LiteralMap()  # closed after the header: a task of no inputs
        elif second.WhichOneof("part") != "inputs":
            self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed",
                         "ExecuteTaskSync got a second header; after the header comes one "
                         "inputs message", started, task_id)
        else:
            inputs = second.inputs
        outcome = self._run_sync(rpc, header.template, inputs, header.output_prefix, context,
                                 started, task_id)
        self._done(rpc, started, task_id, outcome)
        yield outcome  # sent as the response's header (sync_response_bytes)

    def _run_sync(self, rpc: str, tt: TaskTemplate, inputs: literals_pb2.LiteralMap,
                  output_prefix: str, context: grpc.ServicerContext, started: float,
                  task_id: str) -> Outcome:
        admission = lane_admission()
        if admission is REFUSED:
            self._refuse(rpc, context, started, task_id, self._label(tt))
        admitted = admission is ADMITTED
        limit = execution.time_limit(tt, self.config.timeout)
        remaining = context.time_remaining()
        if remaining is not None and remaining <= limit:
            # The caller gives up before our limit could fire (propeller's default deadline
            # is 10 s): run on this gRPC thread, no hand-over to a worker thread.
            left = _LeftBehind()  # a caller gone mid-query frees this thread at once
            context.add_callback(left)
            try:
                return self.pool.run_here(execution.execute, self.registry, tt, inputs,
                                          output_prefix, self.templates, self.scratch,
                                          wait=remaining, still_wanted=context.is_active,
                                          admitted=admitted)
            except Full:
                self._refuse(rpc, context, started, task_id, self._label(tt))
            except QueueTimeout:
                return execution.aborted(self._label(tt), "no worker was free before the "
                                                          "caller's deadline")
            finally:
                left.running = False
        # Our limit may fire while the caller still waits: run on a pool thread, and answer
        # RETRYABLE_FAILED in-band when the limit passes.
        future = self.pool.submit(execution.execute, self.registry, tt, inputs, output_prefix,
                                  self.templates, self.scratch, admitted=admitted)
        if future is None:
            self._refuse(rpc, context, started, task_id, self._label(tt))

        def forget() -> None:  # the caller left: a queued execution never starts
            future.cancel()

        context.add_callback(forget)
        end = time.monotonic() + (limit if remaining is None else min(limit, remaining))
        while True:
            # In slices: a caller that went away (or a shutdown past its grace) frees this
            # thread within a second, even while the execution itself runs on.
            wait = end - time.monotonic()
            try:
                return future.result(min(wait, WAIT_SLICE) if wait > 0 else 0)
            except FutureTimeout:
                if time.monotonic() >= end:
                    self._stop(future)
                    return execution.timed_out(self._label(tt), limit)
                if not context.is_active():
                    self._stop(future)
                    return execution.aborted(self._label(tt), "the caller went away")
            except CancelledError:
                return execution.aborted(self._label(tt), "the caller went away")

    def _stop(self, future: Future[Any]) -> None:
        """A queued execution never starts; a running one waiting in C inside
        ``interruptible`` (a query) is interrupted and returns; its result is dropped."""
        future.cancel()
        self.pool.interrupt(future)

    # --- AsyncAgentService ---------------------------------------------------------------

    def CreateTask(self, request: agent_pb2.CreateTaskRequest, context: grpc.ServicerContext
                   ) -> agent_pb2.CreateTaskResponse:
        """Accept the task and return at once; the execution runs in a worker. Any
        executor type is accepted (propeller drives sync ones here too when its config
        names their type in ``connectorForTaskTypes``)."""
        rpc = "CreateTask"
        started = time.perf_counter()
        task_id = task_execution_id(request.task_execution_metadata)
        if not request.HasField("template"):
            self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed",
                         "CreateTask has no template", started, task_id)
        if not request.output_prefix:
            self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed",
                         "CreateTask has no output_prefix (where the outputs are written)",
                         started, task_id)
        tt = request.template
        label = self._label(tt)
        limit = execution.time_limit(tt, self.config.timeout)
        meta = self.jobs.new_meta(label, request.output_prefix, limit)
        job = Job(meta, task_id)
        self.jobs.add(job)
        future = self.pool.submit(self._run_async, job, tt, request.inputs)
        if future is None:
            self.jobs.discard(job)
            self._refuse(rpc, context, started, task_id, label)
        job.future = future
        seconds = time.perf_counter() - started
        self.metrics.observe(rpc, label, "accepted", None, seconds)
        self.log.request(rpc, task_execution_id=task_id, executor_type=label, seconds=seconds,
                         outcome="accepted", task=meta.id)
        return agent_pb2.CreateTaskResponse(resource_meta=meta.encode())

    def _run_async(self, job: Job, tt: TaskTemplate, inputs: literals_pb2.LiteralMap) -> None:
        if job.claimed:  # deleted or timed out while it waited for a worker
            return
        if self._deleted_elsewhere(job):  # it never starts
            if self.jobs.claim(job):
                self.jobs.finish(job, execution.aborted(job.meta.executor_type,
                                                        DELETED_ELSEWHERE))
                self.log.event("discarded", task=job.meta.id,
                               executor_type=job.meta.executor_type, outcome="aborted",
                               duration_ms=0.0, started=False)
            return
        job.started = time.time()
        started = time.perf_counter()
        outcome = execution.execute(self.registry, tt, inputs, job.meta.output_prefix,
                                    self.templates, self.scratch)
        claimed = self.jobs.claim(job)
        if not claimed or self._deleted_elsewhere(job):
            # deleted (here or through another replica) or timed out meanwhile: thrown
            # away, nothing is written, Flyte has moved on
            if claimed:
                self.jobs.finish(job, execution.aborted(job.meta.executor_type,
                                                        DELETED_ELSEWHERE))
            self.log.event("discarded", task=job.meta.id, executor_type=outcome.executor_type,
                           outcome=outcome.outcome,
                           duration_ms=round((time.perf_counter() - started) * 1000, 3))
            return
        outcome = self._persist(job, outcome)
        self.jobs.finish(job, outcome)
        self._done("AsyncExecution", started, job.task_execution_id, outcome, job.meta.id)

    def _deleted_elsewhere(self, job: Job) -> bool:
        """Whether a DeleteTask that reached another replica left :data:`DELETED_FILE`
        for this task under its output prefix."""
        try:
            return self._marked_deleted(job.meta, job.meta.output_prefix)
        except Exception as exc:  # unreadable now: run it (a delete is best effort anyway)
            self.log.event("delete_check_failed", task=job.meta.id, error=first_line(str(exc)))
            return False

    def _persist(self, job: Job, outcome: Outcome) -> Outcome:
        """Write ``outputs.pb`` or ``error.pb`` under the task's output prefix, so that any
        replica (or this one after a restart) can answer GetTask for it."""
        prefix = job.meta.output_prefix
        try:
            if outcome.outcome == "succeeded":
                storage.remove(storage.join(prefix, ERROR_FILE))
                outputs = (outcome.outputs if outcome.outputs is not None
                           else outcome.resource.outputs)
                storage.write_bytes(storage.join(prefix, OUTPUTS_FILE),
                                    outputs.SerializeToString())
            else:
                storage.write_bytes(storage.join(prefix, ERROR_FILE),
                                    execution.container_error(outcome).SerializeToString())
        except Exception as exc:
            if outcome.outcome == "succeeded":  # outputs nobody can read are not a success
                return execution.failure(exc, outcome.executor_type)
            self.log.event("persist_failed", task=job.meta.id, error=str(exc))
        return outcome

    def _meta(self, rpc: str, data: bytes, context: grpc.ServicerContext,
              started: float) -> ResourceMeta:
        try:
            return ResourceMeta.decode(data)
        except BadResourceMeta as exc:
            self._reject(rpc, context, grpc.StatusCode.INVALID_ARGUMENT, "malformed", str(exc),
                         started)

    def GetTask(self, request: agent_pb2.GetTaskRequest, context: grpc.ServicerContext
                ) -> agent_pb2.GetTaskResponse:
        rpc = "GetTask"
        started = time.perf_counter()
        meta = self._meta(rpc, request.resource_meta, context, started)
        job = self.jobs.get(meta.id)
        if job is not None:
            resource = self._state_of(job)
        else:
            resource = self._from_elsewhere(meta, request.output_prefix or meta.output_prefix,
                                            context, started)
        seconds = time.perf_counter() - started
        phase = execution.Phase.Phase.Name(resource.phase).lower()
        self.metrics.observe(rpc, self._known(meta.executor_type), phase, None, seconds)
        self.log.request(rpc, task_execution_id=job.task_execution_id if job else "",
                         executor_type=meta.executor_type, seconds=seconds, outcome=phase,
                         task=meta.id)
        return agent_pb2.GetTaskResponse(resource=resource)

    def _state_of(self, job: Job) -> agent_pb2.Resource:
        outcome = job.outcome
        if outcome is not None:
            return outcome.resource
        if time.time() > job.meta.deadline and self.jobs.claim(job):
            limit = job.meta.deadline - job.meta.created
            outcome = self._persist(job, execution.timed_out(job.meta.executor_type, limit))
            if job.future is not None:
                self._stop(job.future)
            self.jobs.finish(job, outcome)
            return outcome.resource
        if job.started is None:
            return agent_pb2.Resource(phase=execution.QUEUED, message="waiting for a worker")
        return agent_pb2.Resource(phase=execution.RUNNING, message="running")

    def _from_elsewhere(self, meta: ResourceMeta, prefix: str, context: grpc.ServicerContext,
                        started: float) -> agent_pb2.Resource:
        """A task this process does not know: its files, else what its meta implies."""
        try:
            outputs_uri = storage.join(prefix, OUTPUTS_FILE)
            error_uri = storage.join(prefix, ERROR_FILE)
            if storage.exists(error_uri):
                document = errors_pb2.ErrorDocument.FromString(storage.read_bytes(error_uri))
                return execution.from_error(document.error, meta.executor_type).resource
            if storage.exists(outputs_uri):
                outputs = literals_pb2.LiteralMap.FromString(storage.read_bytes(outputs_uri))
                return agent_pb2.Resource(phase=execution.SUCCEEDED, outputs=outputs)
            if self._marked_deleted(meta, prefix):
                return execution.aborted(meta.executor_type, DELETED_ELSEWHERE).resource
        except Exception as exc:
            self._reject("GetTask", context, grpc.StatusCode.UNAVAILABLE, "storage",
                         f"cannot read the result of task {meta.id} under {prefix}: {exc}",
                         started, executor_type=meta.executor_type)
        if self.jobs.is_ours(meta):
            reason = "this server has no record of it and it left no result"
        elif self.jobs.restarted_here(meta):
            reason = (f"the connector process that accepted it on {meta.host} has restarted "
                      f"since, and the task left no result")
        elif time.time() < lost_after(meta):
            return agent_pb2.Resource(
                phase=execution.RUNNING,
                message=f"running on another replica ({meta.host}); no result yet")
        else:
            reason = (f"its replica {meta.host} gave no result by its deadline "
                      f"(accepted {time.time() - meta.created:.0f} s ago)")
        return execution.lost(meta.id, reason, meta.executor_type).resource

    @staticmethod
    def _marked_deleted(meta: ResourceMeta, prefix: str) -> bool:
        marker = storage.join(prefix, DELETED_FILE)
        return storage.exists(marker) and storage.read_bytes(marker) == meta.id.encode()

    def _delete_elsewhere(self, meta: ResourceMeta, context: grpc.ServicerContext,
                          started: float) -> str:
        """Leave :data:`DELETED_FILE` under the task's output prefix for the replica that
        holds it (propeller's calls are spread over the replicas); a task that already
        left its result is finished, and nothing is written."""
        prefix = meta.output_prefix
        try:
            if (storage.exists(storage.join(prefix, OUTPUTS_FILE))
                    or storage.exists(storage.join(prefix, ERROR_FILE))):
                return "finished"
            storage.write_bytes(storage.join(prefix, DELETED_FILE), meta.id.encode())
        except Exception as exc:
            self._reject("DeleteTask", context, grpc.StatusCode.UNAVAILABLE, "storage",
                         f"cannot leave the deletion of task {meta.id} under {prefix}: {exc}",
                         started, executor_type=self._known(meta.executor_type))
        return "elsewhere"

    def DeleteTask(self, request: agent_pb2.DeleteTaskRequest, context: grpc.ServicerContext
                   ) -> agent_pb2.DeleteTaskResponse:
        """Cancel the task: a queued one never starts; a running one's result is discarded
        (a Python thread cannot be stopped; a query it waits on inside ``interruptible``
        is interrupted). A task another replica holds is cancelled through a file under
        its output prefix, which that replica reads before it starts the task and before
        it writes its result. Deleting twice, or a finished or unknown task, is not an
        error."""
        rpc = "DeleteTask"
        started = time.perf_counter()
        meta = self._meta(rpc, request.resource_meta, context, started)
        job = self.jobs.get(meta.id)
        state = "unknown"
        if job is not None:
            state = "finished"
            if self.jobs.claim(job):
                state = "running" if job.started is not None else "queued"
                if job.future is not None:
                    self._stop(job.future)
                self.jobs.finish(job, execution.aborted(meta.executor_type,
                                                        "deleted (aborted by Flyte)"))
        elif not self.jobs.is_ours(meta):  # accepted by another replica (or process)
            state = self._delete_elsewhere(meta, context, started)
        seconds = time.perf_counter() - started
        self.metrics.observe(rpc, self._known(meta.executor_type), "deleted", None, seconds)
        self.log.request(rpc, task_execution_id=job.task_execution_id if job else "",
                         executor_type=meta.executor_type, seconds=seconds, outcome="deleted",
                         task=meta.id, was=state)
        return agent_pb2.DeleteTaskResponse()

    def GetTaskMetrics(self, request: agent_pb2.GetTaskMetricsRequest,
                       context: grpc.ServicerContext) -> agent_pb2.GetTaskMetricsResponse:
        """Executors report no per-task metrics: an empty answer, not an error (the
        Flyte console asks for every task)."""
        started = time.perf_counter()
        meta = self._meta("GetTaskMetrics", request.resource_meta, context, started)
        self.log.request("GetTaskMetrics", task_execution_id="",
                         executor_type=meta.executor_type,
                         seconds=time.perf_counter() - started, outcome="ok", task=meta.id)
        return agent_pb2.GetTaskMetricsResponse()

    def GetTaskLogs(self, request: agent_pb2.GetTaskLogsRequest, context: grpc.ServicerContext
                    ) -> Iterator[agent_pb2.GetTaskLogsResponse]:
        """One header, then one body with what the server knows of the task (its state
        and, if it failed, its message); executors' own output is not captured."""
        started = time.perf_counter()
        meta = self._meta("GetTaskLogs", request.resource_meta, context, started)
        job = self.jobs.get(meta.id)
        if job is None:
            lines = [f"task {meta.id} ({meta.executor_type}) ran on {meta.host}; this replica "
                     f"holds no logs of it"]
        else:
            resource = self._state_of(job)
            phase = execution.Phase.Phase.Name(resource.phase)
            lines = [f"task {meta.id} ({meta.executor_type}): {phase}"]
            if resource.message:
                lines += resource.message.splitlines()
        yield agent_pb2.GetTaskLogsResponse(header=agent_pb2.GetTaskLogsResponseHeader())
        now = time.time()
        body = agent_pb2.GetTaskLogsResponseBody(results=lines)
        for line in lines:
            entry = body.structured_lines.add(message=line,
                                              originator=agent_pb2.LogLineOriginator.SYSTEM)
            entry.timestamp.FromNanoseconds(int(now * 1e9))
        self.log.request("GetTaskLogs", task_execution_id=job.task_execution_id if job else "",
                         executor_type=meta.executor_type,
                         seconds=time.perf_counter() - started, outcome="ok", task=meta.id)
        yield agent_pb2.GetTaskLogsResponse(body=body)

    # --- AgentMetadataService ------------------------------------------------------------

    def ListAgents(self, request: agent_pb2.ListAgentsRequest, context: grpc.ServicerContext
                   ) -> agent_pb2.ListAgentsResponse:
        """Every advertised executor type; re-reads the installed distributions first, so
        a plugin pip-installed into the running image is served from the next poll."""
        started = time.perf_counter()
        agents = self.refresh()
        seconds = time.perf_counter() - started
        self.log.request("ListAgents", task_execution_id="", executor_type="", seconds=seconds,
                         outcome="ok", agents=len(agents))
        return agent_pb2.ListAgentsResponse(agents=agents)

    def GetAgent(self, request: agent_pb2.GetAgentRequest, context: grpc.ServicerContext
                 ) -> agent_pb2.GetAgentResponse:
        started = time.perf_counter()
        agent = self.catalog.get(request.name)
        if agent is None:
            problem = self.catalog.problems.get(request.name)
            why = f": {problem}" if problem else ""
            self._reject("GetAgent", context, grpc.StatusCode.NOT_FOUND, "not_found",
                         f"no agent named {request.name!r} is advertised{why}; advertised: "
                         f"{', '.join(self.catalog.names()) or 'none'}", started)
        self.log.request("GetAgent", task_execution_id="", executor_type=agent.name,
                         seconds=time.perf_counter() - started, outcome="ok")
        return agent_pb2.GetAgentResponse(agent=agent)

    def refresh(self) -> tuple[agent_pb2.Agent, ...]:
        """Read the installed plugins again; prepared templates are prepared anew."""
        agents = self.catalog.refresh()
        self.templates.clear()
        return agents

    # --- wiring --------------------------------------------------------------------------

    def handlers(self, sync_lane: Executor | None = None) -> list[grpc.GenericRpcHandler]:
        """Generic handlers under every service name (same messages, same methods);
        ``ExecuteTaskSync`` runs on ``sync_lane`` when given (a :class:`~.pool.SyncLane`)."""
        a = agent_pb2
        execute_task_sync = functools.partial(ConnectorService.ExecuteTaskSync, self)
        if sync_lane is not None:  # read by grpc's server for the calls of this method
            execute_task_sync.experimental_thread_pool = sync_lane  # type: ignore[attr-defined]

        def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
            """``fn``, refusing a request whose bytes did not decode (see ``lenient``)."""
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                if request.__class__ is Undecodable:
                    self._undecodable(fn.__name__, request, context, time.perf_counter())
                return fn(request, context)
            return call

        def unary(fn: Callable[..., Any], req: Any, resp: Any
                  ) -> grpc.RpcMethodHandler[Any, Any]:
            return grpc.unary_unary_rpc_method_handler(
                checked(fn), request_deserializer=lenient(req),
                response_serializer=resp.SerializeToString)

        sync = {"ExecuteTaskSync": grpc.stream_stream_rpc_method_handler(
            execute_task_sync, request_deserializer=lenient(a.ExecuteTaskSyncRequest),
            response_serializer=sync_response_bytes)}
        async_ = {
            "CreateTask": unary(self.CreateTask, a.CreateTaskRequest, a.CreateTaskResponse),
            "GetTask": unary(self.GetTask, a.GetTaskRequest, a.GetTaskResponse),
            "DeleteTask": unary(self.DeleteTask, a.DeleteTaskRequest, a.DeleteTaskResponse),
            "GetTaskMetrics": unary(self.GetTaskMetrics, a.GetTaskMetricsRequest,
                                    a.GetTaskMetricsResponse),
            "GetTaskLogs": grpc.unary_stream_rpc_method_handler(
                checked(self.GetTaskLogs), request_deserializer=lenient(a.GetTaskLogsRequest),
                response_serializer=a.GetTaskLogsResponse.SerializeToString),
        }
        metadata = {
            "GetAgent": unary(self.GetAgent, a.GetAgentRequest, a.GetAgentResponse),
            "ListAgents": unary(self.ListAgents, a.ListAgentsRequest, a.ListAgentsResponse),
        }
        # The connector metadata service also answers under its newer method names.
        connector_metadata = {**metadata, "GetConnector": metadata["GetAgent"],
                              "ListConnectors": metadata["ListAgents"]}
        table = {**{s: sync for s in SYNC_SERVICES}, **{s: async_ for s in ASYNC_SERVICES},
                 "AgentMetadataService": metadata, "ConnectorMetadataService": connector_metadata}
        return [grpc.method_handlers_generic_handler(f"{PACKAGE}.{name}", methods)
                for name, methods in table.items()]
