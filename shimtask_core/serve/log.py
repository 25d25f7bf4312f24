"""One JSON line per event on stderr: each request, and the server's own life.

A request line names the RPC, the task execution (from propeller's
``task_execution_metadata``), the executor type, how long it took and how it
ended. Lines never hold inputs, outputs, templates or environment variables:
only identifiers, codes, durations and the first line of an error message.

Each line is one ``os.write`` to the stream's file descriptor: no ``logging``
machinery and no lock on the request path, and a line shorter than the pipe
buffer (4 KiB; lines are capped well below) is never interleaved with another.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from flyteidl.admin import agent_pb2


def task_execution_id(metadata: agent_pb2.TaskExecutionMetadata) -> str:
    """``project/domain/execution/node/attempt`` of a task execution, or ``""`` when
    the client sent none (only propeller does)."""
    ident = metadata.task_execution_id
    node = ident.node_execution_id
    execution = node.execution_id
    if not (execution.name or node.node_id):
        return ""
    return (f"{execution.project}/{execution.domain}/{execution.name}/{node.node_id}/"
            f"{ident.retry_attempt}")


def first_line(message: str, limit: int = 300) -> str:
    line = message.split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


@final
class EventLog:
    """JSON lines on a stream (stderr by default)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
        try:
            self._fd: int | None = self._stream.fileno()
            self._stream.flush()
        except (OSError, ValueError, AttributeError):  # no file descriptor: write() then
            self._fd = None

    def event(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "event": event, **fields}
        line = self._dumps(record) + "\n"
        try:
            if self._fd is not None:
                data = line.encode()
                while data:  # one call in practice; a signal may cut a long line short
                    data = data[os.write(self._fd, data):]
                return
            with self._lock:
                self._stream.write(line)
                self._stream.flush()
        except (OSError, ValueError):  # a closed stderr must not fail a request
            pass

    def request(self, rpc: str, *, task_execution_id: str, executor_type: str,
                seconds: float, outcome: str, code: str | None = None,
                message: str | None = None, **extra: Any) -> None:
        fields: dict[str, Any] = {"rpc": rpc, "task_execution_id": task_execution_id,
                                  "executor_type": executor_type,
                                  "duration_ms": round(seconds * 1000, 3), "outcome": outcome}
        if code is not None:
            fields["code"] = code
        if message:
            fields["message"] = first_line(message)
        fields.update(extra)
        self.event("request", **fields)
