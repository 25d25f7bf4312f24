"""A real ``shimtask serve`` process, and a client that drives it as propeller does.

``ServeProcess`` starts the console script of a ``PluginVenv`` on 127.0.0.1 with
``--port 0`` and reads the port from its ``serving`` line; every JSON line the
server prints is kept for assertions. ``Propeller`` holds one channel and makes
the calls flyteplugins' connector plugin makes (header, inputs, close, read one
response; CreateTask then GetTask polls; DeleteTask on abort).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.core import identifier_pb2, literals_pb2
from flyteidl.service import agent_pb2_grpc

from pluginenv import PluginVenv
from shimtask_core import make_template
from shimtask_core.literals import InterfaceCodec

#: Executors of the test plugin distribution ``shimtask-test-serve``.
SERVE_PLUGIN = '''
import os
import sys
import time
from shimtask_core import ShimTaskExecutor, custom_of


class Add(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return inputs["x"] + inputs["y"]


class Stats(ShimTaskExecutor):
    """Several outputs of different types: a mix-up by map order would show."""

    def execute_from_model(self, tt, **inputs):
        xs = inputs["xs"]
        return {"count": len(xs), "total": float(sum(xs)), "label": f"{len(xs)} values"}


class Raiser(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise ValueError("boom from the executor: " + inputs.get("why", "no reason"))


class TryAgain(Exception):
    recoverable = True


class Flaky(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise TryAgain("the warehouse is busy")


class Exiter(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        sys.exit(3)


class Gate(ShimTaskExecutor):
    """Writes custom["started"], then waits (at most 60 s) for the file custom["gate"]."""

    def execute_from_model(self, tt, **inputs):
        custom = custom_of(tt)
        with open(custom["started"], "a") as fh:
            fh.write("started\\n")
        deadline = time.monotonic() + 60
        while not os.path.exists(custom["gate"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        return inputs["x"]


class Sleepy(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        time.sleep(inputs["seconds"])
        return inputs["seconds"]


class Versioned(ShimTaskExecutor):
    task_type_versions = frozenset({1, 2})

    def execute_from_model(self, tt, **inputs):
        return tt.task_type_version


class LongRunning(ShimTaskExecutor):
    is_sync = False

    def execute_from_model(self, tt, **inputs):
        return inputs["x"] * 2
'''

SERVE_EXECUTORS = {name: f"shimtask_test_serve:{cls}" for name, cls in {
    "add": "Add", "stats": "Stats", "raiser": "Raiser", "flaky": "Flaky", "exiter": "Exiter",
    "gate": "Gate", "sleepy": "Sleepy", "versioned": "Versioned", "longrunning": "LongRunning",
}.items()}

LATE_PLUGIN = '''
from shimtask_core import ShimTaskExecutor


class Late(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return "installed while the server ran: " + inputs["name"]
'''

BROKEN_PLUGIN = '''
raise RuntimeError("this plugin is broken at import time")
'''


class ServeProcess:
    """``shimtask serve`` from ``venv``, listening on 127.0.0.1."""

    def __init__(self, venv: PluginVenv, *args: str, cwd: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.venv = venv
        command = [str(venv.root / "bin" / "shimtask"), "serve", "--host", "127.0.0.1",
                   "--port", "0", *args]
        full_env = venv.env(env)
        full_env["PATH"] = f"{venv.root / 'bin'}{os.pathsep}{full_env.get('PATH', '')}"
        self.proc = subprocess.Popen(command, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        serving = self.wait_for("serving", timeout=60)
        self.port: int = serving["port"]
        assert serving["address"].endswith(f":{self.port}"), serving  # the bound one, not :0
        self.metrics_port: int | None = serving.get("metrics_port")
        self.address = f"127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        found = []
        with self._changed:
            lines = list(self.lines)
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if event is None or record.get("event") == event:
                found.append(record)
        return found

    def wait_for(self, event: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
        """The first line of ``event`` whose fields match (waits for it)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for record in self.events(event):
                    if all(record.get(k) == v for k, v in fields.items()):
                        return record
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"shimtask serve exited ({self.proc.returncode}) "
                                         f"before {event!r}:\n" + "\n".join(self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event!r} line {fields} within {timeout} s:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(min(left, 0.2))

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("shimtask serve did not exit:\n" + "\n".join(self.lines)) from None
        self._reader.join(5)
        return status

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._reader.join(5)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()


def metadata(execution: str, node: str = "n0", attempt: int = 0, project: str = "proj",
             domain: str = "dev") -> agent_pb2.TaskExecutionMetadata:
    """The task_execution_metadata propeller sends (buildTaskExecutionMetadata)."""
    return agent_pb2.TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(
            node_execution_id=identifier_pb2.NodeExecutionIdentifier(
                node_id=node, execution_id=identifier_pb2.WorkflowExecutionIdentifier(
                    project=project, domain=domain, name=execution)),
            retry_attempt=attempt),
        namespace=f"{project}-{domain}")


def task(name: str, executor: str, inputs: Mapping[str, Any] | None = None,
         outputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    return make_template(name, executor, inputs=inputs or {}, outputs=outputs or {}, **kwargs)


def encode(tt: Any, values: Mapping[str, Any]) -> literals_pb2.LiteralMap:
    return InterfaceCodec(tt.interface).encode_inputs(values)


def decode(tt: Any, outputs: literals_pb2.LiteralMap) -> dict[str, Any]:
    return InterfaceCodec(tt.interface).decode_outputs(outputs)


class Propeller:
    """The calls flyteplugins' connector plugin makes, over one channel."""

    def __init__(self, address: str, credentials: grpc.ChannelCredentials | None = None,
                 service_prefix: str = "Agent",
                 options: Sequence[tuple[str, Any]] = ()) -> None:
        self.channel = (grpc.secure_channel(address, credentials, options=options)
                        if credentials else grpc.insecure_channel(address, options=options))
        self.sync = agent_pb2_grpc.SyncAgentServiceStub(self.channel)
        self.async_ = agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        self.meta = agent_pb2_grpc.AgentMetadataServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Propeller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, tt: Any, inputs: literals_pb2.LiteralMap, output_prefix: str | Path, *,
                md: agent_pb2.TaskExecutionMetadata | None = None,
                timeout: float = 60) -> agent_pb2.Resource:
        """Header, inputs, close, then exactly one response, which must be a header."""
        header = agent_pb2.CreateRequestHeader(template=tt, output_prefix=str(output_prefix),
                                               task_execution_metadata=md)
        requests = iter([agent_pb2.ExecuteTaskSyncRequest(header=header),
                         agent_pb2.ExecuteTaskSyncRequest(inputs=inputs)])
        responses = self.sync.ExecuteTaskSync(requests, timeout=timeout)
        first = next(responses)
        assert first.WhichOneof("res") == "header", first
        rest = list(responses)
        assert rest == [], f"more than one response: {rest}"
        return first.header.resource

    def stream(self, messages: Sequence[agent_pb2.ExecuteTaskSyncRequest],
               timeout: float = 30) -> list[agent_pb2.ExecuteTaskSyncResponse]:
        return list(self.sync.ExecuteTaskSync(iter(messages), timeout=timeout))

    def create(self, tt: Any, inputs: literals_pb2.LiteralMap, output_prefix: str | Path, *,
               md: agent_pb2.TaskExecutionMetadata | None = None) -> bytes:
        response = self.async_.CreateTask(agent_pb2.CreateTaskRequest(
            template=tt, inputs=inputs, output_prefix=str(output_prefix),
            task_execution_metadata=md), timeout=30)
        meta: bytes = response.resource_meta
        return meta

    def get(self, tt: Any, meta: bytes, output_prefix: str | Path) -> agent_pb2.Resource:
        response = self.async_.GetTask(agent_pb2.GetTaskRequest(
            task_type=tt.type, resource_meta=meta, output_prefix=str(output_prefix),
            task_category=agent_pb2.TaskCategory(name=tt.type, version=tt.task_type_version)),
            timeout=30)
        resource: agent_pb2.Resource = response.resource
        return resource

    def poll(self, tt: Any, meta: bytes, output_prefix: str | Path,
             timeout: float = 60) -> agent_pb2.Resource:
        """GetTask until a terminal phase (propeller resyncs every 30 s; here every 20 ms)."""
        terminal = {3, 4, 5, 8}  # SUCCEEDED, ABORTED, FAILED, RETRYABLE_FAILED
        deadline = time.monotonic() + timeout
        while True:
            resource = self.get(tt, meta, output_prefix)
            if resource.phase in terminal:
                return resource
            assert time.monotonic() < deadline, f"still {resource.phase} after {timeout} s"
            time.sleep(0.02)

    def delete(self, tt: Any, meta: bytes) -> None:
        self.async_.DeleteTask(agent_pb2.DeleteTaskRequest(
            task_type=tt.type, resource_meta=meta,
            task_category=agent_pb2.TaskCategory(name=tt.type, version=tt.task_type_version)),
            timeout=30)

    def list_agents(self) -> list[agent_pb2.Agent]:
        return list(self.meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=30).agents)


def gated(tmp: Path, name: str = "gate") -> tuple[Any, Path, Path]:
    """A Gate template; returns it, the gate file to create and the started marker."""
    gate, started = tmp / f"{name}.open", tmp / f"{name}.started"
    tt = task(name, "gate", {"x": int}, {"o0": int},
              custom={"gate": str(gate), "started": str(started)})
    return tt, gate, started


def metric(port: int, name: str) -> float:
    """One unlabelled sample of a server's Prometheus scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in the scrape"
    return float(match.group(1))


def wait_until(predicate: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def generic_call(channel: grpc.Channel, path: str, request: Any, response_type: Any) -> Any:
    """A unary call by method path (for service names the flyteidl stubs do not have)."""
    call = channel.unary_unary(path, request_serializer=type(request).SerializeToString,
                               response_deserializer=response_type.FromString)
    return call(request, timeout=30)


def stream_call(channel: grpc.Channel, path: str, requests: Iterator[Any],
                response_type: Any) -> list[Any]:
    call = channel.stream_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=response_type.FromString)
    return list(call(requests, timeout=30))
