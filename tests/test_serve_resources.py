"""What a request may leave behind in `shimtask serve`: no files, no stuck worker but its own.

* Remote ``File`` inputs are downloaded into a scratch directory of the request's
  own (under the server's temporary directory), removed when the execution ends
  however it ends: success, failure, its time limit, a DeleteTask. Outputs that
  refer to the download were uploaded (or written by URI) before that. A real
  S3 (moto on 127.0.0.1) holds the inputs; the server's ``TMPDIR`` is a
  directory of the test's, so leftovers are visible.
* An executor that ignores its time limit keeps its worker (a Python thread
  cannot be stopped): the request is answered on time, RETRYABLE_FAILED with
  ``Timeout``, the other workers keep serving, and the metrics show the busy slot.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import grpc
import pytest
from flyteidl.core import execution_pb2, literals_pb2
from s3server import S3Server

from connector import Propeller, ServeProcess, decode, encode, metric, task, wait_until
from pluginenv import PluginVenv, build_wheel
from shimtask_core import File

Phase = execution_pb2.TaskExecution

PLUGIN = '''
import os
import time
from shimtask_core import File, ShimTaskExecutor, custom_of


def _note(tt, what):
    marks = custom_of(tt).get("marks")
    if marks:
        with open(marks, "a") as fh:
            fh.write(what + "\\n")


class ReadFile(ShimTaskExecutor):
    """Reads the input (a download), returns it as is, and a new file made next to it."""

    def execute_from_model(self, tt, **inputs):
        f = inputs["f"]
        text = f.read_text()
        copy = os.path.join(os.path.dirname(f.path), "upper.txt")
        with open(copy, "w") as fh:
            fh.write(text.upper())
        return {"text": text, "same": f, "upper": File(copy)}


class ReadThenFail(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        inputs["f"].read_text()
        raise ValueError("failed after reading " + inputs["f"].name)


class ReadThenSleep(ShimTaskExecutor):
    """Downloads, then sleeps past any time limit (ignoring it), then returns."""

    def execute_from_model(self, tt, **inputs):
        inputs["f"].read_text()
        _note(tt, "read")
        time.sleep(custom_of(tt)["seconds"])
        _note(tt, "done")
        return 0


class Hang(ShimTaskExecutor):
    """Ignores every time limit: waits for the file custom["gate"] (at most 120 s)."""

    def execute_from_model(self, tt, **inputs):
        gate = custom_of(tt)["gate"]
        _note(tt, "hung")
        deadline = time.monotonic() + 120
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        return 0


class Query(ShimTaskExecutor):
    """A query that runs in C for hours (SQLite, the GIL released), inside interruptible;
    notes how it ended."""

    def execute_from_model(self, tt, **inputs):
        import sqlite3

        from shimtask_core import interruptible

        con = sqlite3.connect(":memory:")
        try:
            with interruptible(con.interrupt):
                _note(tt, "querying")
                return con.execute(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                    "WHERE x < 1000000000000) SELECT count(*) FROM c").fetchone()[0]
        except sqlite3.OperationalError as exc:
            _note(tt, str(exc))
            raise
        finally:
            con.close()


class Add(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return inputs["x"] + inputs["y"]
'''

EXECUTORS = {"readfile": "shimtask_test_scratch:ReadFile",
             "readfail": "shimtask_test_scratch:ReadThenFail",
             "readsleep": "shimtask_test_scratch:ReadThenSleep",
             "hang": "shimtask_test_scratch:Hang",
             "query": "shimtask_test_scratch:Query",
             "add": "shimtask_test_scratch:Add"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("serve-resources")
    env = PluginVenv(root / "env")
    env.link_distributions("s3fs")
    env.install(build_wheel(root / "wheels", "shimtask-test-scratch",
                            modules={"shimtask_test_scratch.py": PLUGIN}, executors=EXECUTORS))
    return env


def _leftovers(tmp: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))


def test_remote_file_inputs_leave_nothing_in_the_servers_temp_dir(
        venv: PluginVenv, s3: S3Server, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    fs = s3.filesystem()
    fs.pipe(f"{bucket}/in/data.txt", b"hello from s3")
    uri = f"s3://{bucket}/in/data.txt"
    tmp = tmp_path / "server-tmp"
    tmp.mkdir()
    marks = tmp_path / "marks"
    read = task("readfile", "readfile", {"f": File}, {"text": str, "same": File, "upper": File})
    fail = task("readfail", "readfail", {"f": File}, {"o0": int})
    sleep = task("readsleep", "readsleep", {"f": File}, {"o0": int},
                 custom={"seconds": 1.5, "marks": str(marks)})
    sleep.metadata.timeout.FromMilliseconds(200)
    gated = task("readsleep_async", "readsleep", {"f": File}, {"o0": int},
                 custom={"seconds": 1.0, "marks": str(marks)})
    with ServeProcess(venv, "--workers", "4", cwd=tmp_path,
                      env={**s3.aws_env(), "TMPDIR": str(tmp)}) as server, \
            Propeller(server.address) as p:
        # N successful requests, four at a time, each downloading the input
        results: list[dict[str, object]] = []
        lock = threading.Lock()

        def one(k: int) -> None:
            prefix = tmp_path / "out" / str(k)
            resource = p.execute(read, encode(read, {"f": File(uri)}), prefix)
            assert resource.phase == Phase.SUCCEEDED, resource
            with lock:
                results.append({"prefix": prefix, **decode(read, resource.outputs)})

        for start in range(0, 24, 4):
            threads = [threading.Thread(target=one, args=(k,)) for k in range(start, start + 4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert len(results) == 24
        for r in results:
            assert r["text"] == "hello from s3"
            same, upper = r["same"], r["upper"]
            assert isinstance(same, File) and isinstance(upper, File)
            assert same.uri == uri  # the input, written by its URI
            # the file made next to the download was uploaded under the task's prefix
            assert upper.uri is not None
            assert upper.uri.startswith(str(r["prefix"])), upper.uri
            assert Path(upper.uri).read_text() == "HELLO FROM S3"

        # failure after the download
        failed = p.execute(fail, encode(fail, {"f": File(uri)}), tmp_path / "fail")
        assert failed.phase == Phase.FAILED and "failed after reading data.txt" in failed.message
        # the time limit: answered RETRYABLE_FAILED at once, the executor sleeps on
        timed = p.execute(sleep, encode(sleep, {"f": File(uri)}), tmp_path / "timeout")
        assert (timed.phase, timed.agent_error.code) == (Phase.RETRYABLE_FAILED, "Timeout")
        # async: one finishes, one is deleted (aborted) while it runs
        done = p.create(read, encode(read, {"f": File(uri)}), tmp_path / "async")
        assert p.poll(read, done, tmp_path / "async").phase == Phase.SUCCEEDED
        deleted = p.create(gated, encode(gated, {"f": File(uri)}), tmp_path / "deleted")
        wait_until(lambda: marks.exists() and marks.read_text().count("read") == 2,
                   what="the async execution to download its input")
        p.delete(gated, deleted)
        assert p.get(gated, deleted, tmp_path / "deleted").phase == Phase.ABORTED
        # both sleepers return in the end: then their scratch is gone too
        wait_until(lambda: marks.read_text().count("done") == 2, timeout=30,
                   what="the sleeping executors to return")
        wait_until(lambda: not [x for x in _leftovers(tmp) if "shimtask-download-" in x],
                   timeout=5, what="the last scratch directory to go")
        left = _leftovers(tmp)
        # at most the server's own (empty) scratch root, nothing of any request
        assert len(left) <= 1 and all(re.fullmatch(r"shimtask-serve-[^/]+", x) for x in left), \
            left
        assert server.stop() == 0
    assert _leftovers(tmp) == []


def test_shimtask_execute_removes_its_downloads_at_exit(venv: PluginVenv, s3: S3Server,
                                                        tmp_path: Path) -> None:
    """The container contract's process, for comparison: downloads go to its temporary
    directory and are removed when it exits (after outputs.pb was written)."""
    bucket = s3.new_bucket()
    s3.filesystem().pipe(f"{bucket}/in/data.txt", b"hello from s3")
    uri = f"s3://{bucket}/in/data.txt"
    tmp = tmp_path / "pod-tmp"
    tmp.mkdir()
    read = task("readfile", "readfile", {"f": File}, {"text": str, "same": File, "upper": File})
    (tmp_path / "task.pb").write_bytes(read.SerializeToString())
    (tmp_path / "inputs.pb").write_bytes(encode(read, {"f": File(uri)}).SerializeToString())
    done = venv.shimtask("execute", "--inputs", str(tmp_path / "inputs.pb"), "--output-prefix",
                         str(tmp_path / "out"), "--raw-output-data-prefix", str(tmp_path / "raw"),
                         "--", str(tmp_path / "task.pb"),
                         env={**s3.aws_env(), "TMPDIR": str(tmp)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outputs = decode(read, literals_pb2.LiteralMap.FromString(
        (tmp_path / "out" / "outputs.pb").read_bytes()))
    assert outputs["text"] == "hello from s3"
    assert Path(outputs["upper"].uri).read_text() == "HELLO FROM S3"
    assert _leftovers(tmp) == []


def test_a_hung_executor_keeps_only_its_own_worker(venv: PluginVenv, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    marks = tmp_path / "marks"
    hang = task("hang", "hang", {}, {"o0": int}, custom={"gate": str(gate), "marks": str(marks)})
    hang.metadata.timeout.FromMilliseconds(300)
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    with ServeProcess(venv, "--workers", "2", "--max-queue", "0", "--metrics-port", "0",
                      cwd=tmp_path) as server, Propeller(server.address) as p:
        assert server.metrics_port is not None
        try:
            started = time.monotonic()
            timed = p.execute(hang, encode(hang, {}), tmp_path / "hang")
            took = time.monotonic() - started
            assert (timed.phase, timed.agent_error.code) == (Phase.RETRYABLE_FAILED, "Timeout")
            assert took < 5, took  # answered at its limit, not when the executor returns
            # the hung execution still holds its worker: the metrics say so
            assert metric(server.metrics_port, "shimtask_serve_executions_running") == 1
            # the other worker keeps serving, one request after another
            for k in range(20):
                resource = p.execute(add, encode(add, {"x": k, "y": 1}), tmp_path / "add")
                assert decode(add, resource.outputs) == {"o0": k + 1}
            # a second hung execution takes the last worker: now requests are refused at
            # once (RESOURCE_EXHAUSTED, retried by propeller), never queued behind them
            p.execute(hang, encode(hang, {}), tmp_path / "hang2")
            assert metric(server.metrics_port, "shimtask_serve_executions_running") == 2
            with pytest.raises(grpc.RpcError) as refused:
                p.execute(add, encode(add, {"x": 1, "y": 1}), tmp_path / "add")
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            gate.touch()
        wait_until(lambda: metric(server.metrics_port or 0,
                                   "shimtask_serve_executions_running") == 0,
                   what="the hung executions to return")
        resource = p.execute(add, encode(add, {"x": 1, "y": 1}), tmp_path / "add")
        assert decode(add, resource.outputs) == {"o0": 2}
        assert server.stop() == 0
        assert os.path.exists(gate)


def _notes(marks: Path) -> list[str]:
    return marks.read_text().splitlines() if marks.exists() else []


@pytest.mark.parametrize("stop", ["sync time limit", "sync caller's deadline", "async delete",
                                  "async deadline"])
def test_a_query_in_c_is_interrupted_and_frees_its_worker(venv: PluginVenv, tmp_path: Path,
                                                          stop: str) -> None:
    """A query inside interruptible does not keep its worker past a stop: the query
    returns 'interrupted', its result is dropped, and the worker serves the next call
    (one worker: without the interrupt, the next call would be refused for hours)."""
    marks = tmp_path / "marks"
    query = task("query", "query", {}, {"o0": int}, custom={"marks": str(marks)})
    query.metadata.timeout.FromMilliseconds(500)
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    with ServeProcess(venv, "--workers", "1", "--max-queue", "0", "--metrics-port", "0",
                      cwd=tmp_path) as server, Propeller(server.address) as p:
        assert server.metrics_port is not None
        if stop == "sync time limit":
            timed = p.execute(query, encode(query, {}), tmp_path / "q")
            assert (timed.phase, timed.agent_error.code) == (Phase.RETRYABLE_FAILED, "Timeout")
        elif stop == "sync caller's deadline":  # propeller's (10 s by default) is the shorter
            query.metadata.ClearField("timeout")  # the server's limit: 600 s
            with pytest.raises(grpc.RpcError) as gone:
                p.execute(query, encode(query, {}), tmp_path / "q", timeout=1)
            assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        else:
            meta = p.create(query, encode(query, {}), tmp_path / "q")
            wait_until(lambda: "querying" in _notes(marks), what="the query to start")
            if stop == "async delete":
                p.delete(query, meta)
            else:  # GetTask past the task's deadline reports Timeout and stops it
                time.sleep(0.6)
                resource = p.get(query, meta, tmp_path / "q")
                assert (resource.phase, resource.agent_error.code) == (
                    Phase.RETRYABLE_FAILED, "Timeout")
        wait_until(lambda: "interrupted" in _notes(marks), timeout=10,
                   what="the query to be interrupted")
        wait_until(lambda: metric(server.metrics_port or 0,
                                   "shimtask_serve_executions_running") == 0,
                   timeout=10, what="the worker to be free")
        resource = p.execute(add, encode(add, {"x": 1, "y": 1}), tmp_path / "add")
        assert decode(add, resource.outputs) == {"o0": 2}
        assert not (tmp_path / "q" / "outputs.pb").exists()
        assert server.stop() == 0


def test_request_lines_are_json_whatever_a_client_sends_and_keep_their_order() -> None:
    """Request lines are formatted by hand and written in batches: each is still one
    valid JSON line, in order, with the server's own lines in between."""
    import io
    import json

    from shimtask_core.serve.log import EventLog

    stream = io.StringIO()
    log = EventLog(stream)
    hostile = 'proj/dev/"x\\y\n{"event":"forged"}/n0/0\u2028é'
    log.request("ExecuteTaskSync", task_execution_id=hostile, executor_type='a"b',
                seconds=0.0015, outcome="failed", code="USER:ValueError",
                message='first "line"\nsecond line', task="t1")
    log.event("reloaded", executors=["a"])
    for k in range(500):
        log.request("GetTask", task_execution_id=f"e{k}", executor_type="add", seconds=0.0,
                    outcome="ok")
    log.close()
    log.request("ListAgents", task_execution_id="", executor_type="", seconds=0.0,
                outcome="ok")  # after close: written at once
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["event"] for r in records[:2]] == ["request", "reloaded"]
    first = records[0]
    assert first["task_execution_id"] == hostile and first["executor_type"] == 'a"b'
    assert first["message"] == 'first "line"' and first["duration_ms"] == 1.5
    assert [r["task_execution_id"] for r in records[2:502]] == [f"e{k}" for k in range(500)]
    assert records[-1]["rpc"] == "ListAgents" and len(records) == 503


def test_the_sync_response_bytes_are_the_messages_bytes() -> None:
    """The sync answer is serialized by hand (from the outputs' own bytes on success):
    it parses as the response messages, byte for byte what protobuf writes for them
    but for the order of map entries (which protobuf does not fix either)."""
    from flyteidl.admin import agent_pb2

    from shimtask_core.serve.execution import Outcome, aborted
    from shimtask_core.serve.service import sync_response_bytes

    def check(outcome: Outcome, resource: agent_pb2.Resource, same_bytes: bool) -> None:
        response = agent_pb2.ExecuteTaskSyncResponse(
            header=agent_pb2.ExecuteTaskSyncResponseHeader(resource=resource))
        data = sync_response_bytes(outcome)
        assert agent_pb2.ExecuteTaskSyncResponse.FromString(data) == response
        if same_bytes:
            assert data == response.SerializeToString()

    for size in (0, 1, 100, 20_000):
        outputs = literals_pb2.LiteralMap()
        for k in range(size):
            outputs.literals[f"o{k}"].scalar.primitive.string_value = "v" * (k % 300)
        resource = agent_pb2.Resource(phase=Phase.SUCCEEDED, outputs=outputs)
        outcome = Outcome.succeeded(outputs, "inc")
        check(outcome, resource, same_bytes=size <= 1)
        assert outcome.resource == resource
        failed = Outcome(agent_pb2.Resource(phase=Phase.FAILED, message="m" * size), "inc",
                         "failed", "USER:ValueError")
        check(failed, failed.resource, same_bytes=True)
    gone = aborted("inc", "the caller went away")
    check(gone, gone.resource, same_bytes=True)
