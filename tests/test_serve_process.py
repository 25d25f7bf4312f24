"""`shimtask serve` as a process: signals, back-pressure, restarts, installs while running,
policy, metrics, TLS, and what it says when the ``serve`` extra is missing.

Each test starts its own server (a real subprocess on 127.0.0.1) because each
one changes or ends it.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from connector import (
    LATE_PLUGIN,
    SERVE_EXECUTORS,
    SERVE_PLUGIN,
    Propeller,
    ServeProcess,
    decode,
    encode,
    gated,
    metric,
    task,
    wait_until,
)
from pluginenv import PluginVenv, build_wheel
from shimtask_core.testing import signal_thread, threads_of

Phase = execution_pb2.TaskExecution


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-wheels")


@pytest.fixture(scope="module")
def serve_wheel(wheel_dir: Path) -> Path:
    return build_wheel(wheel_dir / "serve", "shimtask-test-serve",
                       modules={"shimtask_test_serve.py": SERVE_PLUGIN}, executors=SERVE_EXECUTORS)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, serve_wheel: Path) -> PluginVenv:
    env = PluginVenv(tmp_path_factory.mktemp("serve-process") / "env")
    env.install(serve_wheel)
    return env


def _health(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        status: int = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        return status


# --- shutdown ------------------------------------------------------------------------------


def test_sigterm_under_load_finishes_in_flight_work_refuses_new_and_exits_0(
        venv: PluginVenv, tmp_path: Path) -> None:
    with ServeProcess(venv, "--workers", "8", "--grace", "30", cwd=tmp_path) as server:
        tt, gate, started = gated(tmp_path)
        results: list[object] = []
        lock = threading.Lock()

        def client(i: int) -> None:
            with Propeller(server.address) as p:
                try:
                    resource = p.execute(tt, encode(tt, {"x": i}), tmp_path / f"s{i}")
                    outcome: object = (resource.phase, decode(tt, resource.outputs)["o0"])
                except grpc.RpcError as exc:
                    outcome = exc.code()
            with lock:
                results.append((i, outcome))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        with Propeller(server.address) as p:
            async_meta = p.create(tt, encode(tt, {"x": 99}), tmp_path / "async")
        wait_until(lambda: started.exists() and
                   len(started.read_text().splitlines()) == 7, what="7 executions to start")
        server.signal(signal.SIGTERM)
        server.wait_for("stopping")
        with Propeller(server.address) as p, pytest.raises(grpc.RpcError) as refused:
            p.execute(tt, encode(tt, {"x": -1}), tmp_path / "late", timeout=10)
        # grpc refuses a call that arrives after stop() with UNAVAILABLE, or CANCELLED when it
        # raced the listener's close; propeller retries either (any status is retryable).
        assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        gate.touch()
        for t in threads:
            t.join(60)
        assert server.wait() == 0
        assert sorted(results) == [(i, (Phase.SUCCEEDED, i)) for i in range(6)]
        # the accepted async task finished during the drain and left its outputs
        assert (tmp_path / "async" / "outputs.pb").exists()
        assert json.loads(async_meta)["id"]
        stopped = server.wait_for("stopped")
        assert stopped["abandoned"] == 0 and stopped["signal"] == "SIGTERM"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tgkill is Linux's")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_the_kernel_gives_to_another_thread_still_reaches_the_server(
        venv: PluginVenv, tmp_path: Path, signum: int) -> None:
    """A ``kill`` goes to whichever thread the kernel picks; Python runs the handler on the
    main thread only. One handed to a gRPC thread must still stop (or reload) the server
    at once, not when something else wakes the main thread."""
    with ServeProcess(venv, cwd=tmp_path) as server:
        signal_thread(server.proc.pid, signum)
        if signum == signal.SIGHUP:
            server.wait_for("reloaded", timeout=10)
            assert server.stop() == 0
        else:
            assert server.wait(timeout=10) == 0
            assert server.wait_for("stopped")["signal"] == "SIGTERM"


def test_health_is_not_serving_while_draining(venv: PluginVenv, tmp_path: Path) -> None:
    """Kubernetes stops routing to a terminating pod through its readiness probe."""
    with ServeProcess(venv, "--grace", "30", cwd=tmp_path) as server:
        tt, gate, started = gated(tmp_path)
        with Propeller(server.address) as p:
            p.create(tt, encode(tt, {"x": 1}), tmp_path / "a")
        wait_until(started.exists, what="the task to start")
        assert _health(server.address) == health_pb2.HealthCheckResponse.SERVING
        server.signal(signal.SIGTERM)
        server.wait_for("stopping")
        # grpc refuses new calls once stopping; a probe over an open channel, or a refused
        # connection, both mean "not ready"
        try:
            status = _health(server.address)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
        else:
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        gate.touch()
        assert server.wait() == 0


def test_work_that_outlives_the_grace_period_is_abandoned_and_the_exit_is_still_0(
        venv: PluginVenv, tmp_path: Path) -> None:
    with ServeProcess(venv, "--grace", "1", cwd=tmp_path) as server:
        tt, _, started = gated(tmp_path)  # never opened
        with Propeller(server.address) as p:
            p.create(tt, encode(tt, {"x": 1}), tmp_path / "stuck")
        wait_until(started.exists, what="the task to start")
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert server.wait_for("stopped")["abandoned"] == 1
        assert not (tmp_path / "stuck" / "outputs.pb").exists()


# --- back-pressure -----------------------------------------------------------------------


def test_a_full_pool_answers_resource_exhausted_instead_of_queueing(venv: PluginVenv,
                                                                    tmp_path: Path) -> None:
    with ServeProcess(venv, "--workers", "1", "--max-queue", "1", cwd=tmp_path) as server, \
            Propeller(server.address) as p:
        tt, gate, started = gated(tmp_path)
        running = p.create(tt, encode(tt, {"x": 1}), tmp_path / "one")
        wait_until(started.exists, what="the first task to start")
        queued = p.create(tt, encode(tt, {"x": 2}), tmp_path / "two")
        assert p.get(tt, queued, tmp_path / "two").phase == Phase.QUEUED
        add = task("add", "add", {"x": int, "y": int}, {"o0": int})
        with pytest.raises(grpc.RpcError) as sync_refused:
            p.execute(add, encode(add, {"x": 1, "y": 1}), tmp_path / "three")
        assert sync_refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--workers" in sync_refused.value.details()
        with pytest.raises(grpc.RpcError) as async_refused:
            p.create(add, encode(add, {"x": 1, "y": 1}), tmp_path / "four")
        assert async_refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # control calls are still answered while the workers are busy
        assert {a.name for a in p.list_agents()} >= {"add", "gate"}
        assert _health(server.address) == health_pb2.HealthCheckResponse.SERVING
        gate.touch()
        assert p.poll(tt, running, tmp_path / "one").phase == Phase.SUCCEEDED
        assert p.poll(tt, queued, tmp_path / "two").phase == Phase.SUCCEEDED
        assert decode(add, p.execute(add, encode(add, {"x": 1, "y": 1}), tmp_path).outputs) \
            == {"o0": 2}
        assert server.wait_for("request", outcome="rejected", code="RESOURCE_EXHAUSTED")
        assert server.stop() == 0


def test_queued_sync_requests_wait_their_turn_without_a_thread_each(venv: PluginVenv,
                                                                     tmp_path: Path) -> None:
    """One worker, 24 queue places: 25 sync callers are all answered, in turn; the 26th
    is refused at once; and the 24 that wait hold no server thread while they do."""
    waiting = 24
    with ServeProcess(venv, "--workers", "1", "--max-queue", str(waiting), "--metrics-port",
                      "0", cwd=tmp_path) as server, Propeller(server.address) as p:
        port = server.metrics_port or 0
        tt, gate, started = gated(tmp_path)
        answers: dict[int, dict[str, Any]] = {}

        def call(k: int) -> None:
            answers[k] = decode(tt, p.execute(tt, encode(tt, {"x": k}), tmp_path / f"q{k}",
                                              timeout=90).outputs)

        first = threading.Thread(target=call, args=(0,))
        first.start()
        wait_until(started.exists, what="the first execution to start")
        idle = len(threads_of(server.proc.pid))
        callers = [threading.Thread(target=call, args=(k,)) for k in range(1, waiting + 1)]
        for caller in callers:
            caller.start()
        # every one of them is admitted (queued), none runs while the gate is shut
        wait_until(lambda: metric(port, "shimtask_serve_executions_queued") == waiting,
                   what="the callers to be queued")
        assert started.read_text().count("started") == 1
        assert len(threads_of(server.proc.pid)) <= idle + 2, "a thread per queued request"
        with pytest.raises(grpc.RpcError) as refused:
            p.execute(tt, encode(tt, {"x": 99}), tmp_path / "refused")
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        gate.touch()
        for caller in [first, *callers]:
            caller.join(timeout=90)
        assert answers == {k: {"o0": k} for k in range(waiting + 1)}
        assert started.read_text().count("started") == waiting + 1
        assert server.stop() == 0


def test_a_queued_sync_request_whose_caller_left_never_runs(venv: PluginVenv,
                                                            tmp_path: Path) -> None:
    with ServeProcess(venv, "--workers", "1", cwd=tmp_path) as server, \
            Propeller(server.address) as p:
        tt, gate, started = gated(tmp_path)
        first = threading.Thread(target=p.execute, args=(tt, encode(tt, {"x": 1}),
                                                         tmp_path / "one"))
        first.start()
        wait_until(started.exists, what="the first execution to start")
        with pytest.raises(grpc.RpcError) as gone:
            p.execute(tt, encode(tt, {"x": 2}), tmp_path / "two", timeout=0.5)
        assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        gate.touch()
        first.join(timeout=60)
        line = server.wait_for("request", outcome="aborted")
        assert "worker was free" in line["message"]
        assert server.wait_for("request", outcome="succeeded")["duration_ms"] > 0
        assert started.read_text().count("started") == 1  # the second one never started
        assert server.stop() == 0


def test_keepalive_pings_during_a_long_sync_execution_do_not_end_it(venv: PluginVenv,
                                                                     tmp_path: Path) -> None:
    """Propeller's connector client pings every 30 s during an RPC (flyteplugins
    webapi/connector); a sync execution sends nothing while it runs. grpc's default
    tolerates two such pings per 5 minutes, then ends the connection (GOAWAY
    too_many_pings) and the call with it. Here the pings come every second (the
    least a grpc client waits between two), 8 while the execution runs."""
    pinging = [("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_timeout_ms", 10_000),
               ("grpc.http2.max_pings_without_data", 0)]
    with ServeProcess(venv, cwd=tmp_path) as server, \
            Propeller(server.address, options=pinging) as p:
        tt, gate, started = gated(tmp_path)
        threading.Timer(8.0, gate.touch).start()  # about 8 pings while it runs
        resource = p.execute(tt, encode(tt, {"x": 7}), tmp_path / "long")
        assert decode(tt, resource.outputs) == {"o0": 7}
        assert started.read_text().count("started") == 1
        assert server.stop() == 0


def test_the_server_timeout_bounds_every_execution(venv: PluginVenv, tmp_path: Path) -> None:
    slow = task("slow", "sleepy", {"seconds": float}, {"o0": float})
    with ServeProcess(venv, "--timeout", "0.3", cwd=tmp_path) as server, \
            Propeller(server.address) as p:
        resource = p.execute(slow, encode(slow, {"seconds": 2.0}), tmp_path)
        assert (resource.phase, resource.agent_error.code) == (Phase.RETRYABLE_FAILED,
                                                               "Timeout")
        meta = p.create(slow, encode(slow, {"seconds": 2.0}), tmp_path / "async")
        done = p.poll(slow, meta, tmp_path / "async")
        assert (done.phase, done.agent_error.code) == (Phase.RETRYABLE_FAILED, "Timeout")
        quick = p.execute(slow, encode(slow, {"seconds": 0.0}), tmp_path)
        assert quick.phase == Phase.SUCCEEDED
        assert server.stop() == 0


def test_a_deleted_queued_task_never_starts(venv: PluginVenv, tmp_path: Path) -> None:
    with ServeProcess(venv, "--workers", "1", cwd=tmp_path) as server, \
            Propeller(server.address) as p:
        first, gate, started = gated(tmp_path, "first")
        second, _, second_started = gated(tmp_path, "second")
        second.custom.fields["gate"].string_value = str(gate)
        p.create(first, encode(first, {"x": 1}), tmp_path / "one")
        wait_until(started.exists, what="the first task to start")
        queued = p.create(second, encode(second, {"x": 2}), tmp_path / "two")
        p.delete(second, queued)
        gate.touch()
        server.wait_for("request", rpc="AsyncExecution", outcome="succeeded")
        assert p.get(second, queued, tmp_path / "two").phase == Phase.ABORTED
        assert server.stop() == 0
        assert not second_started.exists()


# --- restarts and other replicas ---------------------------------------------------------


def test_a_restarted_server_answers_for_tasks_it_never_saw(venv: PluginVenv,
                                                           tmp_path: Path) -> None:
    """Finished tasks from their files; a task lost with the old process as RETRYABLE."""
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    lost_tt, _, started = gated(tmp_path)
    with ServeProcess(venv, cwd=tmp_path) as first, Propeller(first.address) as p:
        done = p.create(add, encode(add, {"x": 20, "y": 22}), tmp_path / "done")
        assert p.poll(add, done, tmp_path / "done").phase == Phase.SUCCEEDED
        lost = p.create(lost_tt, encode(lost_tt, {"x": 1}), tmp_path / "lost")
        wait_until(started.exists, what="the task to start")
        first.kill()  # SIGKILL: no drain, the running task dies with it
    with ServeProcess(venv, cwd=tmp_path) as second, Propeller(second.address) as p:
        finished = p.get(add, done, tmp_path / "done")
        assert finished.phase == Phase.SUCCEEDED
        assert decode(add, finished.outputs) == {"o0": 42}
        gone = p.get(lost_tt, lost, tmp_path / "lost")
        assert gone.phase == Phase.RETRYABLE_FAILED
        assert gone.agent_error.code == "TaskLost"
        assert gone.agent_error.kind == agent_pb2.AgentError.RECOVERABLE
        assert "restarted" in gone.message
        p.delete(lost_tt, lost)  # deleting what nobody knows is fine
        assert second.stop() == 0


def test_a_task_of_another_replica_is_running_until_its_deadline(venv: PluginVenv,
                                                                 tmp_path: Path) -> None:
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    now = time.time()

    def meta(deadline: float) -> bytes:
        return json.dumps({"shimtask": 1, "id": "f" * 32, "executor_type": "add",
                           "output_prefix": str(tmp_path / "elsewhere"), "instance": "other",
                           "host": "another-pod", "created": now - 5,
                           "deadline": deadline}).encode()

    with ServeProcess(venv, cwd=tmp_path) as server, Propeller(server.address) as p:
        alive = p.get(add, meta(now + 600), tmp_path / "elsewhere")
        assert alive.phase == Phase.RUNNING and "another-pod" in alive.message
        overdue = p.get(add, meta(now - 3600), tmp_path / "elsewhere")
        assert (overdue.phase, overdue.agent_error.code) == (Phase.RETRYABLE_FAILED, "TaskLost")
        assert server.stop() == 0


def test_delete_through_another_replica_cancels_the_task(venv: PluginVenv,
                                                         tmp_path: Path) -> None:
    """Propeller spreads its calls over the replicas (round_robin): the DeleteTask of a
    task may reach one that does not hold it. The holder then never starts the task if
    it was queued, writes no result if it was running, and every replica says ABORTED."""
    with ServeProcess(venv, "--workers", "1", cwd=tmp_path) as a, \
            ServeProcess(venv, cwd=tmp_path) as b, \
            Propeller(a.address) as pa, Propeller(b.address) as pb:
        running, gate, started = gated(tmp_path, "running")
        queued, _, queued_started = gated(tmp_path, "queued")
        queued.custom.fields["gate"].string_value = str(gate)
        run_meta = pa.create(running, encode(running, {"x": 1}), tmp_path / "one")
        wait_until(started.exists, what="the first task to start")
        queued_meta = pa.create(queued, encode(queued, {"x": 2}), tmp_path / "two")
        pb.delete(running, run_meta)
        pb.delete(queued, queued_meta)
        pb.delete(queued, queued_meta)  # twice: still not an error
        for tt, meta, prefix in ((running, run_meta, "one"), (queued, queued_meta, "two")):
            assert pb.get(tt, meta, tmp_path / prefix).phase == Phase.ABORTED
        gate.touch()
        a.wait_for("discarded", task=json.loads(run_meta)["id"])
        a.wait_for("discarded", task=json.loads(queued_meta)["id"])
        for tt, meta, prefix in ((running, run_meta, "one"), (queued, queued_meta, "two")):
            assert not (tmp_path / prefix / "outputs.pb").exists()
            assert not (tmp_path / prefix / "error.pb").exists()
            assert pa.get(tt, meta, tmp_path / prefix).phase == Phase.ABORTED
        assert not queued_started.exists()  # the queued one never started
        # a task that finished before the delete keeps its result
        add = task("add", "add", {"x": int, "y": int}, {"o0": int})
        done = pa.create(add, encode(add, {"x": 1, "y": 1}), tmp_path / "three")
        assert pa.poll(add, done, tmp_path / "three").phase == Phase.SUCCEEDED
        pb.delete(add, done)
        assert pb.get(add, done, tmp_path / "three").phase == Phase.SUCCEEDED
        assert b.wait_for("request", rpc="DeleteTask", was="finished")
        assert a.stop() == 0 and b.stop() == 0


# --- plugins installed while running, policy ---------------------------------------------


def test_a_plugin_pip_installed_while_serving_is_advertised_and_served(
        tmp_path: Path, serve_wheel: Path, wheel_dir: Path) -> None:
    env = PluginVenv(tmp_path / "env")
    env.install(serve_wheel)
    late = task("late", "late", {"name": str}, {"o0": str})
    with ServeProcess(env, cwd=tmp_path) as server, Propeller(server.address) as p:
        assert "late" not in {a.name for a in p.list_agents()}
        before = p.execute(late, encode(late, {"name": "x"}), tmp_path)
        assert before.agent_error.code == "ExecutorNotFound"
        env.install(build_wheel(wheel_dir / "late", "shimtask-test-late",
                                modules={"shimtask_test_late.py": LATE_PLUGIN},
                                executors={"late": "shimtask_test_late:Late"}))
        assert "late" in {a.name for a in p.list_agents()}  # ListAgents re-reads
        after = p.execute(late, encode(late, {"name": "x"}), tmp_path)
        assert decode(late, after.outputs) == {"o0": "installed while the server ran: x"}

        env.install(build_wheel(wheel_dir / "later", "shimtask-test-later",
                                modules={"shimtask_test_later.py": LATE_PLUGIN},
                                executors={"later": "shimtask_test_later:Late"}))
        server.signal(signal.SIGHUP)  # the other way to pick it up
        assert "later" in server.wait_for("reloaded")["executors"]
        assert server.stop() == 0


def test_the_policy_decides_what_is_advertised_and_run(venv: PluginVenv,
                                                       tmp_path: Path) -> None:
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    with ServeProcess(venv, cwd=tmp_path, env={"SHIMTASK_DENY": "add"}) as server, \
            Propeller(server.address) as p:
        names = {a.name for a in p.list_agents()}
        assert "add" not in names and "gate" in names
        denied = p.execute(add, encode(add, {"x": 1, "y": 2}), tmp_path)
        assert (denied.phase, denied.agent_error.code) == (Phase.FAILED, "ExecutorDenied")
        assert server.stop() == 0


# --- metrics, TLS ------------------------------------------------------------------------


def test_prometheus_metrics_on_their_own_port(venv: PluginVenv, tmp_path: Path) -> None:
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    raiser = task("raiser", "raiser", {"why": str}, {"o0": str})
    with ServeProcess(venv, "--metrics-port", "0", cwd=tmp_path) as server, \
            Propeller(server.address) as p:
        assert server.metrics_port and server.metrics_port != server.port
        for i in range(3):
            p.execute(add, encode(add, {"x": i, "y": i}), tmp_path)
        p.execute(raiser, encode(raiser, {"why": "metrics"}), tmp_path)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics",
                                    timeout=10) as response:
            text = response.read().decode()
        assert server.stop() == 0
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples}
    ok = (("executor_type", "add"), ("outcome", "succeeded"), ("rpc", "ExecuteTaskSync"))
    assert samples[("shimtask_serve_requests_total", ok)] == 3
    assert samples[("shimtask_serve_request_duration_seconds_count", ok)] == 3
    assert samples[("shimtask_serve_request_duration_seconds_bucket",
                    tuple(sorted((*ok, ("le", "+Inf")))))] == 3
    failed = (("code", "ExecutorFailed"), ("executor_type", "raiser"), ("outcome", "failed"),
              ("rpc", "ExecuteTaskSync"))
    assert samples[("shimtask_serve_errors_total", failed)] == 1
    assert samples[("shimtask_serve_executions_running", ())] == 0
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert not any(name.endswith("_created") for name, _ in samples)


def test_a_resource_meta_a_client_made_up_adds_no_executor_type_series(
        venv: PluginVenv, tmp_path: Path) -> None:
    """GetTask and DeleteTask read the executor type from the resource_meta the client
    sends: a name no executor has must not become a metrics label (one per name)."""
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    with ServeProcess(venv, "--metrics-port", "0", cwd=tmp_path) as server, \
            Propeller(server.address) as p:
        for i in range(3):
            meta = json.dumps({"shimtask": 1, "id": f"{i:032x}", "executor_type": f"made-up-{i}",
                               "output_prefix": str(tmp_path / "none"), "instance": "other",
                               "host": "another-pod", "created": 0, "deadline": 0}).encode()
            assert p.get(add, meta, tmp_path / "none").agent_error.code == "TaskLost"
            p.delete(add, meta)
        real = p.create(add, encode(add, {"x": 1, "y": 2}), tmp_path / "real")
        assert p.poll(add, real, tmp_path / "real").phase == Phase.SUCCEEDED
        with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics",
                                    timeout=10) as response:
            text = response.read().decode()
        assert server.stop() == 0
    assert "made-up" not in text
    assert ('shimtask_serve_requests_total{executor_type="(unresolved)",'
            'outcome="retryable_failed",rpc="GetTask"} 3.0') in text
    assert ('shimtask_serve_requests_total{executor_type="add",outcome="succeeded",'
            'rpc="GetTask"} 1.0') in text


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_path, cert_path = tmp_path / "tls.key", tmp_path / "tls.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def test_tls(venv: PluginVenv, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    add = task("add", "add", {"x": int, "y": int}, {"o0": int})
    with ServeProcess(venv, "--tls-cert", str(cert), "--tls-key", str(key),
                      cwd=tmp_path) as server:
        assert server.wait_for("serving")["tls"] is True
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with Propeller(f"localhost:{server.port}", credentials) as p:
            resource = p.execute(add, encode(add, {"x": 2, "y": 3}), tmp_path)
            assert decode(add, resource.outputs) == {"o0": 5}
        with Propeller(server.address) as plain, pytest.raises(grpc.RpcError) as info:
            plain.execute(add, encode(add, {"x": 2, "y": 3}), tmp_path, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert server.stop() == 0


def test_an_unusable_tls_pair_names_the_file_that_is_wrong(venv: PluginVenv,
                                                           tmp_path: Path) -> None:
    """grpc's own refusal is 'Failed to bind to address' and C-core log lines."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, key = _self_signed(tmp_path / "a")
    _, other_key = _self_signed(tmp_path / "b")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cases = [
        ((junk, key), f"--tls-cert {junk}: not a PEM certificate"),
        ((key, cert), f"--tls-cert {key}: not a PEM certificate"),  # given the other way round
        ((cert, junk), f"--tls-key {junk}: not a PEM private key"),
        ((cert, other_key), f"--tls-key {other_key} is not the private key of --tls-cert {cert}"),
    ]
    for (cert_file, key_file), message in cases:
        result = venv.shimtask("serve", "--host", "127.0.0.1", "--port", "0",
                               "--tls-cert", str(cert_file), "--tls-key", str(key_file),
                               cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.splitlines()  # no grpc log lines either
        assert line.startswith(f"shimtask: error: {message}"), result.stderr
        assert "PRIVATE KEY-----\n" not in result.stderr


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def bare_venv(tmp_path: Path) -> Iterator[PluginVenv]:
    """A venv without the serve extra: its gRPC links removed."""
    env = PluginVenv(tmp_path / "bare")
    for name in ("grpc", "grpc_health", "prometheus_client"):
        (env.site_packages / name).unlink()
    yield env


def test_without_the_serve_extra_one_line_names_it(bare_venv: PluginVenv) -> None:
    result = bare_venv.shimtask("serve", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "shimtask: error: shimtask serve needs grpcio, which is not installed: "
        "pip install 'shimtask-core[serve]'"]
    assert "Traceback" not in result.stderr
    helped = bare_venv.shimtask("serve", "--help")
    assert helped.returncode == 0 and "--max-queue" in helped.stdout


def test_help_imports_no_grpc(venv: PluginVenv) -> None:
    probe = venv.python_code("""
        import sys
        from shimtask_core.cli import main
        for argv in (["--help"], ["serve", "--help"]):
            try:
                main(argv)
            except SystemExit:
                pass
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("grpc", "grpc_health")))
    """)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(("args", "message"), [
    (["--tls-cert", "x.crt"], "--tls-cert and --tls-key go together"),
    (["--workers", "0"], "--workers 0: at least one worker is needed"),
    # inf would reach resource_meta's deadline and the log lines as non-standard JSON
    (["--timeout", "inf"], "--timeout inf: must be a finite, positive number of seconds"),
    (["--grace", "nan"], "--grace nan: must be a finite number of seconds, not negative"),
    (["--tls-cert", "missing.crt", "--tls-key", "missing.key"],
     "cannot read the TLS key or certificate"),
])
def test_bad_arguments_are_one_line_and_exit_2(venv: PluginVenv, tmp_path: Path,
                                               args: list[str], message: str) -> None:
    result = venv.shimtask("serve", "--host", "127.0.0.1", "--port", "0", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("shimtask:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("which", ["--port", "--metrics-port"])
def test_a_port_in_use_is_one_line_and_exit_2(venv: PluginVenv, tmp_path: Path,
                                              which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--metrics-port": "0", which: str(port)}
        result = venv.shimtask("serve", "--host", "127.0.0.1",
                               *(x for item in ports.items() for x in item), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "cannot listen on" in result.stderr or "cannot serve metrics on" in result.stderr
    assert "address already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("host", "cause"), [
    ("nonsense.invalid", "does not resolve"),
    ("192.0.2.1", "cannot assign requested address"),  # TEST-NET-1: no machine's own
])
def test_a_host_that_is_not_this_machines_says_why(venv: PluginVenv, tmp_path: Path,
                                                   host: str, cause: str) -> None:
    result = venv.shimtask("serve", "--host", host, "--port", "0", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("shimtask:")]
    assert f"cannot listen on {host}:0: " in line and cause in line, result.stderr
    assert "GRPC_VERBOSITY" not in line
