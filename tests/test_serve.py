"""`shimtask serve` over real gRPC on 127.0.0.1, driven as propeller drives it.

One server process (from a venv holding real plugin distributions: the test
executors, shimtask-sqlite3 and a plugin that is broken at import) answers every
test here: the sync path, the async path, discovery and the malformed streams.
Process-level behaviour (signals, back-pressure, TLS, metrics, installs while
running) is in test_serve_process.py.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pyarrow.parquet as pq
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from connector import (
    BROKEN_PLUGIN,
    SERVE_EXECUTORS,
    SERVE_PLUGIN,
    Propeller,
    ServeProcess,
    decode,
    encode,
    gated,
    generic_call,
    metadata,
    stream_call,
    task,
    wait_until,
)
from pluginenv import PluginVenv, build_wheel, repo_plugin_wheel
from shimtask_core import parse_template

FLYTEKIT_TEMPLATES = Path(__file__).parent / "data" / "flytekit"
Phase = execution_pb2.TaskExecution
USER = execution_pb2.ExecutionError.USER
SYSTEM = execution_pb2.ExecutionError.SYSTEM
RECOVERABLE = agent_pb2.AgentError.RECOVERABLE
NON_RECOVERABLE = agent_pb2.AgentError.NON_RECOVERABLE


@pytest.fixture(scope="session")
def serve_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    """The test executors, shimtask-sqlite3 and a broken plugin, installed by pip."""
    root = tmp_path_factory.mktemp("serve-venv")
    venv = PluginVenv(root / "env")
    venv.install(
        build_wheel(root / "w1", "shimtask-test-serve",
                    modules={"shimtask_test_serve.py": SERVE_PLUGIN}, executors=SERVE_EXECUTORS),
        build_wheel(root / "w2", "shimtask-test-broken",
                    modules={"shimtask_test_broken.py": BROKEN_PLUGIN},
                    executors={"broken": "shimtask_test_broken:Anything"}),
        repo_plugin_wheel(root / "w3", "shimtask-sqlite3"),
    )
    return venv


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's working directory: flytekit's SQLite3Task names examples/data/example.db
    relative to it."""
    work = tmp_path_factory.mktemp("serve-cwd")
    db = work / "examples" / "data" / "example.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("create table people (name text, age integer)")
        conn.executemany("insert into people values (?, ?)",
                         [("alice", 34), ("bob", 27), ("alice", 29), ("carol", 41)])
    return work


@pytest.fixture(scope="module")
def server(serve_venv: PluginVenv, workdir: Path) -> Iterator[ServeProcess]:
    with ServeProcess(serve_venv, "--workers", "8", "--max-queue", "64", cwd=workdir) as proc:
        yield proc
        assert proc.stop() == 0


@pytest.fixture
def propeller(server: ServeProcess) -> Iterator[Propeller]:
    with Propeller(server.address) as client:
        yield client


def _error(resource: agent_pb2.Resource) -> tuple[int, str, int, int]:
    err = resource.agent_error
    return resource.phase, err.code, err.origin, err.kind


# --- sync ------------------------------------------------------------------------------


def test_sync_answers_once_header_and_inputs_arrived_without_waiting_for_close(
        propeller: Propeller, tmp_path: Path) -> None:
    """A client that keeps its side open still gets the answer: the server does not
    wait for the end of the request stream."""
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    answered = threading.Event()

    def requests() -> Iterator[agent_pb2.ExecuteTaskSyncRequest]:
        yield agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(
            template=tt, output_prefix=str(tmp_path)))
        yield agent_pb2.ExecuteTaskSyncRequest(inputs=encode(tt, {"x": 2, "y": 40}))
        answered.wait(30)  # the stream stays open until the answer is read

    responses = propeller.sync.ExecuteTaskSync(requests(), timeout=30)
    first = next(responses)
    answered.set()
    assert first.WhichOneof("res") == "header"
    assert first.header.resource.phase == Phase.SUCCEEDED
    assert decode(tt, first.header.resource.outputs) == {"o0": 42}
    assert list(responses) == []


def test_sync_outputs_by_name_with_their_types(propeller: Propeller, tmp_path: Path) -> None:
    tt = task("stats", "stats", {"xs": list[int]},
              {"count": int, "total": float, "label": str})
    resource = propeller.execute(tt, encode(tt, {"xs": [3, 4, 5]}), tmp_path)
    assert resource.phase == Phase.SUCCEEDED, resource.message
    assert decode(tt, resource.outputs) == {"count": 3, "total": 12.0, "label": "3 values"}
    assert not resource.HasField("agent_error")


def test_flytekit_sqlite_template_runs_and_its_dataset_lands_under_output_prefix(
        propeller: Propeller, workdir: Path, tmp_path: Path) -> None:
    """flytekit's own serialized SQLite3Task (type 'sqlite', no executor_type): the
    parquet output is written under the task's output prefix, not the server's
    directories."""
    tt = parse_template((FLYTEKIT_TEMPLATES / "sqlite3_task.pb").read_bytes())
    inputs = literals_pb2.LiteralMap.FromString((FLYTEKIT_TEMPLATES / "inputs.pb").read_bytes())
    before = set(workdir.rglob("*"))
    prefix = tmp_path / "attempt-0"
    resource = propeller.execute(tt, inputs, prefix)
    assert resource.phase == Phase.SUCCEEDED, resource.message
    dataset = resource.outputs.literals["results"].scalar.structured_dataset
    assert dataset.uri.startswith(str(prefix / "raw")), dataset.uri
    rows = pq.read_table(dataset.uri).to_pylist()
    assert rows and all(r["name"] == "alice" for r in rows)
    assert set(workdir.rglob("*")) == before  # nothing written where the server runs


@pytest.mark.parametrize(("executor", "inputs", "code", "origin", "kind", "phase", "text"), [
    ("raiser", {"why": "bad data"}, "ExecutorFailed", USER, NON_RECOVERABLE, Phase.FAILED,
     "boom from the executor: bad data"),
    ("flaky", {}, "ExecutorFailed", USER, RECOVERABLE, Phase.RETRYABLE_FAILED,
     "the warehouse is busy"),
    ("exiter", {}, "ExecutorFailed", USER, NON_RECOVERABLE, Phase.FAILED, "SystemExit"),
    ("nosuchexecutor", {}, "ExecutorNotFound", USER, NON_RECOVERABLE, Phase.FAILED,
     "Installed executors:"),
    ("broken", {}, "PluginLoadError", USER, NON_RECOVERABLE, Phase.FAILED,
     "this plugin is broken at import time"),
])
def test_task_faults_are_in_band_with_origin_and_kind(
        propeller: Propeller, tmp_path: Path, executor: str, inputs: dict[str, Any], code: str,
        origin: int, kind: int, phase: int, text: str) -> None:
    """Not a gRPC error (which propeller would retry as a system failure): a phase, and an
    agent_error classified by the same table as error.pb."""
    tt = task(executor, executor, {k: str for k in inputs}, {"o0": str})
    resource = propeller.execute(tt, encode(tt, inputs), tmp_path)
    assert _error(resource) == (phase, code, origin, kind)
    assert text in resource.message


def test_bad_inputs_are_user_errors_naming_the_input(propeller: Propeller,
                                                     tmp_path: Path) -> None:
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    resource = propeller.execute(tt, literals_pb2.LiteralMap(), tmp_path)
    assert _error(resource) == (Phase.FAILED, "MissingInput", USER, NON_RECOVERABLE)
    assert "'x'" in resource.message


def test_template_version_the_executor_refuses_is_a_user_error(propeller: Propeller,
                                                              tmp_path: Path) -> None:
    ok = task("v", "versioned", {}, {"o0": int}, task_type_version=2)
    assert decode(ok, propeller.execute(ok, encode(ok, {}), tmp_path).outputs) == {"o0": 2}
    bad = task("v", "versioned", {}, {"o0": int}, task_type_version=7)
    resource = propeller.execute(bad, encode(bad, {}), tmp_path)
    assert _error(resource) == (Phase.FAILED, "VersionMismatch", USER, NON_RECOVERABLE)


def test_a_template_timeout_ends_the_wait_as_retryable(propeller: Propeller,
                                                       tmp_path: Path) -> None:
    tt = task("slow", "sleepy", {"seconds": float}, {"o0": float})
    tt.metadata.timeout.FromMilliseconds(200)
    resource = propeller.execute(tt, encode(tt, {"seconds": 3.0}), tmp_path)
    assert _error(resource) == (Phase.RETRYABLE_FAILED, "Timeout", SYSTEM, RECOVERABLE)
    assert "0.2 s" in resource.message


def test_executors_that_exit_do_not_take_workers_down(propeller: Propeller,
                                                      tmp_path: Path) -> None:
    """sys.exit in an executor, on every worker at once, and the service still serves."""
    exiter = task("exiter", "exiter", {}, {"o0": str})
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    results: list[int] = []

    def hit() -> None:
        results.append(propeller.execute(exiter, encode(exiter, {}), tmp_path).phase)

    threads = [threading.Thread(target=hit) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [Phase.FAILED] * 16
    for i in range(16):
        resource = propeller.execute(add, encode(add, {"x": i, "y": 1}), tmp_path)
        assert decode(add, resource.outputs) == {"o0": i + 1}


def test_many_concurrent_clients_get_their_own_answers(server: ServeProcess,
                                                       tmp_path: Path) -> None:
    """32 threads, each with its own channel, 25 requests each with distinct inputs: every
    answer arrives, and each is the sum of its own request's inputs."""
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    failures: list[str] = []
    answers: dict[tuple[int, int], int] = {}
    lock = threading.Lock()

    def client(k: int) -> None:
        with Propeller(server.address) as p:
            for i in range(25):
                x, y = k * 1000 + i, i * 7 + k
                try:
                    resource = p.execute(tt, encode(tt, {"x": x, "y": y}), tmp_path / str(k),
                                         md=metadata(f"exec{k}", node=f"n{i}"))
                    got = decode(tt, resource.outputs)["o0"]
                except Exception as exc:
                    with lock:
                        failures.append(f"{k}/{i}: {exc!r}")
                    continue
                with lock:
                    answers[(x, y)] = got

    threads = [threading.Thread(target=client, args=(k,)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert len(answers) == 32 * 25
    assert all(got == x + y for (x, y), got in answers.items())


def test_templates_of_one_name_with_different_interfaces_do_not_mix(
        propeller: Propeller, tmp_path: Path) -> None:
    """Prepared codecs are reused per interface, not per template name or executor."""
    ints = task("add", "add", {"x": int, "y": int}, {"o0": int})
    floats = task("add", "add", {"x": float, "y": float}, {"o0": float})
    for i in range(3):
        got_int = propeller.execute(ints, encode(ints, {"x": i, "y": 2}), tmp_path)
        got_float = propeller.execute(floats, encode(floats, {"x": i + 0.5, "y": 0.25}),
                                      tmp_path)
        assert decode(ints, got_int.outputs) == {"o0": i + 2}
        assert decode(floats, got_float.outputs) == {"o0": i + 0.75}
        assert got_float.outputs.literals["o0"].scalar.primitive.WhichOneof("value") == \
            "float_value"


def test_a_caller_without_a_deadline_is_answered_too(propeller: Propeller,
                                                     tmp_path: Path) -> None:
    """No deadline on the call: the server's own time limit is the only bound, so the
    execution runs on a worker thread while the handler waits for it."""
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    header = agent_pb2.CreateRequestHeader(template=tt, output_prefix=str(tmp_path))
    responses = propeller.sync.ExecuteTaskSync(iter([
        agent_pb2.ExecuteTaskSyncRequest(header=header),
        agent_pb2.ExecuteTaskSyncRequest(inputs=encode(tt, {"x": 20, "y": 3}))]))
    (response,) = list(responses)
    assert decode(tt, response.header.resource.outputs) == {"o0": 23}


def test_each_request_is_one_json_line_with_its_task_execution(propeller: Propeller,
                                                              server: ServeProcess,
                                                              tmp_path: Path) -> None:
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    propeller.execute(tt, encode(tt, {"x": 1, "y": 1}), tmp_path,
                      md=metadata("logline-exec", node="n7", attempt=2))
    raiser = task("raiser", "raiser", {"why": str}, {"o0": str})
    propeller.execute(raiser, encode(raiser, {"why": "secret-free"}), tmp_path,
                      md=metadata("logline-fail"))
    ok = server.wait_for("request", rpc="ExecuteTaskSync",
                         task_execution_id="proj/dev/logline-exec/n7/2")
    assert ok["executor_type"] == "add" and ok["outcome"] == "succeeded"
    assert ok["duration_ms"] >= 0
    failed = server.wait_for("request", rpc="ExecuteTaskSync",
                             task_execution_id="proj/dev/logline-fail/n0/0")
    assert (failed["outcome"], failed["code"]) == ("failed", "ExecutorFailed")
    assert "\n" not in failed["message"]  # the first line only, never a traceback


# --- malformed streams: gRPC statuses -----------------------------------------------------


def _header(tt: Any, prefix: Path) -> agent_pb2.ExecuteTaskSyncRequest:
    return agent_pb2.ExecuteTaskSyncRequest(
        header=agent_pb2.CreateRequestHeader(template=tt, output_prefix=str(prefix)))


@pytest.mark.parametrize("case", ["inputs first", "two headers", "no template",
                                  "no output prefix", "empty stream"])
def test_malformed_streams_are_invalid_argument(propeller: Propeller, tmp_path: Path,
                                                case: str) -> None:
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    inputs = agent_pb2.ExecuteTaskSyncRequest(inputs=encode(tt, {"x": 1, "y": 2}))
    messages = {
        "inputs first": [inputs, _header(tt, tmp_path)],
        "two headers": [_header(tt, tmp_path), _header(tt, tmp_path)],
        "no template": [agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(
            output_prefix=str(tmp_path))), inputs],
        "no output prefix": [agent_pb2.ExecuteTaskSyncRequest(
            header=agent_pb2.CreateRequestHeader(template=tt)), inputs],
        "empty stream": [],
    }[case]
    with pytest.raises(grpc.RpcError) as info:
        propeller.stream(messages)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details()
    # and the service is unharmed
    assert propeller.execute(tt, encode(tt, {"x": 1, "y": 2}), tmp_path).phase == \
        Phase.SUCCEEDED


GARBAGE = b"\xff\xff\xff\xff not a protobuf message"


@pytest.mark.parametrize("where", ["header", "inputs"])
def test_bytes_that_are_not_the_message_are_invalid_argument_not_internal(
        propeller: Propeller, server: ServeProcess, tmp_path: Path, where: str) -> None:
    """grpc itself answers INTERNAL (which propeller retries) when a request does not
    decode; the service answers INVALID_ARGUMENT and says which message it was."""
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    header = _header(tt, tmp_path).SerializeToString()
    raw = propeller.channel.stream_stream("/flyteidl.service.SyncAgentService/ExecuteTaskSync")
    messages = [GARBAGE] if where == "header" else [header, GARBAGE]
    with pytest.raises(grpc.RpcError) as info:
        list(raw(iter(messages), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "flyteidl.admin.ExecuteTaskSyncRequest" in info.value.details()
    assert server.wait_for("request", rpc="ExecuteTaskSync", outcome="rejected",
                           code="INVALID_ARGUMENT")
    assert propeller.execute(tt, encode(tt, {"x": 1, "y": 2}), tmp_path).phase == \
        Phase.SUCCEEDED


@pytest.mark.parametrize("method", ["AsyncAgentService/CreateTask",
                                    "AsyncAgentService/GetTask",
                                    "AsyncAgentService/GetTaskLogs",
                                    "AgentMetadataService/ListAgents",
                                    "ConnectorMetadataService/GetConnector"])
def test_unary_requests_that_do_not_decode_are_invalid_argument(propeller: Propeller,
                                                                method: str) -> None:
    path = f"/flyteidl.service.{method}"
    call = (propeller.channel.unary_stream(path) if method.endswith("Logs")
            else propeller.channel.unary_unary(path))
    with pytest.raises(grpc.RpcError) as info:
        result = call(GARBAGE, timeout=30)
        if method.endswith("Logs"):
            list(result)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "do not decode" in info.value.details()


def test_a_header_alone_is_a_task_without_inputs(propeller: Propeller, tmp_path: Path) -> None:
    tt = task("v", "versioned", {}, {"o0": int}, task_type_version=1)
    (response,) = propeller.stream([_header(tt, tmp_path)])
    assert decode(tt, response.header.resource.outputs) == {"o0": 1}


# --- async ----------------------------------------------------------------------------------


def test_create_returns_before_the_task_ends_then_get_reports_it(propeller: Propeller,
                                                                 tmp_path: Path) -> None:
    tt, gate, started = gated(tmp_path)
    prefix = tmp_path / "out"
    meta = propeller.create(tt, encode(tt, {"x": 5}), prefix, md=metadata("async-1"))
    wait_until(started.exists, what="the gate task to start")
    running = propeller.get(tt, meta, prefix)
    assert running.phase == Phase.RUNNING
    gate.touch()
    done = propeller.poll(tt, meta, prefix)
    assert done.phase == Phase.SUCCEEDED
    assert decode(tt, done.outputs) == {"o0": 5}
    # written where propeller (and any other replica) reads it
    assert decode(tt, literals_pb2.LiteralMap.FromString(
        (prefix / "outputs.pb").read_bytes())) == {"o0": 5}


def test_resource_meta_is_self_describing_json(propeller: Propeller, tmp_path: Path) -> None:
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    meta = json.loads(propeller.create(tt, encode(tt, {"x": 1, "y": 2}), tmp_path))
    assert meta["executor_type"] == "add"
    assert meta["output_prefix"] == str(tmp_path)
    assert {"id", "instance", "host", "created", "deadline"} <= set(meta)


def test_sync_executors_run_through_create_task(propeller: Propeller, tmp_path: Path) -> None:
    """What propeller does for a type listed in connectorForTaskTypes."""
    tt = task("stats", "stats", {"xs": list[int]}, {"count": int, "total": float, "label": str})
    meta = propeller.create(tt, encode(tt, {"xs": [1, 2]}), tmp_path)
    done = propeller.poll(tt, meta, tmp_path)
    assert decode(tt, done.outputs) == {"count": 2, "total": 3.0, "label": "2 values"}


def test_async_failures_are_in_band_and_leave_error_pb(propeller: Propeller,
                                                       tmp_path: Path) -> None:
    tt = task("raiser", "raiser", {"why": str}, {"o0": str})
    meta = propeller.create(tt, encode(tt, {"why": "async"}), tmp_path)
    done = propeller.poll(tt, meta, tmp_path)
    assert _error(done) == (Phase.FAILED, "ExecutorFailed", USER, NON_RECOVERABLE)
    document = errors_pb2.ErrorDocument.FromString((tmp_path / "error.pb").read_bytes())
    assert document.error.code == "ExecutorFailed"
    assert document.error.origin == USER
    assert not (tmp_path / "outputs.pb").exists()


def test_delete_cancels_a_running_task_and_is_idempotent(propeller: Propeller,
                                                         server: ServeProcess,
                                                         tmp_path: Path) -> None:
    tt, gate, started = gated(tmp_path)
    prefix = tmp_path / "out"
    meta = propeller.create(tt, encode(tt, {"x": 1}), prefix)
    wait_until(started.exists, what="the gate task to start")
    propeller.delete(tt, meta)
    assert propeller.get(tt, meta, prefix).phase == Phase.ABORTED
    propeller.delete(tt, meta)  # again: no error
    gate.touch()  # the executor returns now, and its result is thrown away
    server.wait_for("discarded", task=json.loads(meta)["id"])
    assert propeller.get(tt, meta, prefix).phase == Phase.ABORTED
    assert not (prefix / "outputs.pb").exists()


def test_delete_of_an_unknown_or_finished_task_is_not_an_error(propeller: Propeller,
                                                                tmp_path: Path) -> None:
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    meta = propeller.create(tt, encode(tt, {"x": 1, "y": 2}), tmp_path)
    assert propeller.poll(tt, meta, tmp_path).phase == Phase.SUCCEEDED
    propeller.delete(tt, meta)
    assert propeller.get(tt, meta, tmp_path).phase == Phase.SUCCEEDED  # finished stays so
    other = json.loads(meta)
    other["id"] = "0" * 32
    propeller.delete(tt, json.dumps(other).encode())


def test_async_timeout_is_retryable(propeller: Propeller, tmp_path: Path) -> None:
    tt, gate, started = gated(tmp_path)
    tt.metadata.timeout.FromMilliseconds(300)
    meta = propeller.create(tt, encode(tt, {"x": 1}), tmp_path)
    wait_until(started.exists, what="the gate task to start")
    done = propeller.poll(tt, meta, tmp_path)
    assert _error(done) == (Phase.RETRYABLE_FAILED, "Timeout", SYSTEM, RECOVERABLE)
    assert (tmp_path / "error.pb").exists()
    gate.touch()  # the timed-out executor returns: the server's stop need not wait its grace


@pytest.mark.parametrize("rpc", ["GetTask", "DeleteTask", "GetTaskMetrics"])
def test_resource_meta_we_did_not_write_is_invalid_argument(propeller: Propeller,
                                                            rpc: str) -> None:
    stub = propeller.async_
    request: Any = {"GetTask": agent_pb2.GetTaskRequest, "DeleteTask": agent_pb2.DeleteTaskRequest,
                    "GetTaskMetrics": agent_pb2.GetTaskMetricsRequest}[rpc](
        resource_meta=b"\x08\x01 not ours")
    with pytest.raises(grpc.RpcError) as info:
        getattr(stub, rpc)(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not written by a shimtask serve" in info.value.details()


@pytest.mark.parametrize("field", ["created", "deadline"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_forged_resource_meta_with_a_number_that_is_not_finite_is_invalid_argument(
        propeller: Propeller, tmp_path: Path, field: str, number: str) -> None:
    """``json`` reads NaN and Infinity; a deadline of NaN would never pass, nor fail."""
    tt, gate, _ = gated(tmp_path)
    gate.touch()
    meta = json.loads(propeller.create(tt, encode(tt, {"x": 1}), tmp_path))
    forged = json.dumps(meta).replace(f'"{field}": {meta[field]}', f'"{field}": {number}')
    assert number in forged
    with pytest.raises(grpc.RpcError) as info:
        propeller.async_.GetTask(agent_pb2.GetTaskRequest(resource_meta=forged.encode()),
                                 timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not finite" in info.value.details()


def test_create_task_without_template_or_prefix_is_invalid_argument(propeller: Propeller,
                                                                     tmp_path: Path) -> None:
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    for request in (agent_pb2.CreateTaskRequest(output_prefix=str(tmp_path)),
                    agent_pb2.CreateTaskRequest(template=tt)):
        with pytest.raises(grpc.RpcError) as info:
            propeller.async_.CreateTask(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_task_metrics_and_logs_are_answered(propeller: Propeller, server: ServeProcess,
                                            tmp_path: Path) -> None:
    tt = task("raiser", "raiser", {"why": str}, {"o0": str})
    meta = propeller.create(tt, encode(tt, {"why": "for the logs"}), tmp_path)
    propeller.poll(tt, meta, tmp_path)
    metrics = propeller.async_.GetTaskMetrics(
        agent_pb2.GetTaskMetricsRequest(resource_meta=meta), timeout=30)
    assert list(metrics.results) == []
    parts = list(propeller.async_.GetTaskLogs(
        agent_pb2.GetTaskLogsRequest(resource_meta=meta), timeout=30))
    assert [p.WhichOneof("part") for p in parts] == ["header", "body"]
    text = "\n".join(parts[1].body.results)
    assert "FAILED" in text and "boom from the executor: for the logs" in text
    assert [line.message for line in parts[1].body.structured_lines] == \
        list(parts[1].body.results)
    task_id = json.loads(meta)["id"]
    for rpc in ("GetTaskMetrics", "GetTaskLogs"):  # one line per request, these too
        line = server.wait_for("request", rpc=rpc, task=task_id)
        assert (line["executor_type"], line["outcome"]) == ("raiser", "ok")


# --- discovery and names ---------------------------------------------------------------------


def test_list_agents_advertises_every_loadable_executor(propeller: Propeller) -> None:
    agents = {a.name: a for a in propeller.list_agents()}
    expected = {*SERVE_EXECUTORS, "sqlite"}
    assert set(agents) == expected  # the broken plugin is left out
    for name, agent in agents.items():
        assert {c.name for c in agent.supported_task_categories} == {name}
    assert [c.version for c in agents["versioned"].supported_task_categories] == [1, 2]
    assert [c.version for c in agents["add"].supported_task_categories] == [0]
    assert agents["add"].is_sync and agents["sqlite"].is_sync
    assert not agents["longrunning"].is_sync
    assert list(agents["add"].supported_task_types) == []  # deprecated field left empty


def test_get_agent(propeller: Propeller, server: ServeProcess) -> None:
    agent = propeller.meta.GetAgent(agent_pb2.GetAgentRequest(name="sqlite"), timeout=30).agent
    assert agent.name == "sqlite" and agent.is_sync
    with pytest.raises(grpc.RpcError) as info:
        propeller.meta.GetAgent(agent_pb2.GetAgentRequest(name="broken"), timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "broken at import time" in info.value.details()
    assert server.wait_for("request", rpc="GetAgent", executor_type="sqlite")["outcome"] == "ok"

    def refused() -> list[dict[str, Any]]:
        return [e for e in server.events("request") if e["rpc"] == "GetAgent"
                and e.get("code") == "NOT_FOUND" and "'broken'" in e.get("message", "")]

    wait_until(refused, what="the GetAgent NOT_FOUND request line")


def test_connector_service_names_answer_too(propeller: Propeller, tmp_path: Path) -> None:
    """Newer Flyte's method paths, same messages."""
    tt = task("add", "add", {"x": int, "y": int}, {"o0": int})
    requests = iter([_header(tt, tmp_path),
                     agent_pb2.ExecuteTaskSyncRequest(inputs=encode(tt, {"x": 3, "y": 4}))])
    (response,) = stream_call(propeller.channel,
                              "/flyteidl.service.SyncConnectorService/ExecuteTaskSync",
                              requests, agent_pb2.ExecuteTaskSyncResponse)
    assert decode(tt, response.header.resource.outputs) == {"o0": 7}
    listed = generic_call(propeller.channel,
                          "/flyteidl.service.ConnectorMetadataService/ListConnectors",
                          agent_pb2.ListAgentsRequest(), agent_pb2.ListAgentsResponse)
    assert "add" in {a.name for a in listed.agents}
    created = generic_call(propeller.channel, "/flyteidl.service.AsyncConnectorService/CreateTask",
                           agent_pb2.CreateTaskRequest(template=tt, output_prefix=str(tmp_path),
                                                       inputs=encode(tt, {"x": 1, "y": 1})),
                           agent_pb2.CreateTaskResponse)
    assert decode(tt, propeller.poll(tt, created.resource_meta, tmp_path).outputs) == {"o0": 2}


def test_health_is_serving_for_the_server_and_every_service(propeller: Propeller) -> None:
    stub = health_pb2_grpc.HealthStub(propeller.channel)
    names = ["", *(f"flyteidl.service.{s}" for s in (
        "SyncAgentService", "AsyncAgentService", "AgentMetadataService", "SyncConnectorService",
        "AsyncConnectorService", "ConnectorMetadataService"))]
    for name in names:
        status = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=30).status
        assert status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
