"""One JSON line per event on stderr: each request, and the server's own life.

A request line names the RPC, the task execution (from propeller's
``task_execution_metadata``), the executor type, how long it took and how it
ended. Lines never hold inputs, outputs, templates or environment variables:
only identifiers, codes, durations and the first line of an error message.

No ``logging`` machinery, and no system call on the request path: a request
line is formatted (strings escaped by ``json``'s C encoder) and queued, and a
writer thread writes what is queued every :data:`FLUSH_INTERVAL` seconds, in
writes of whole lines of at most 4 KiB (the pipe buffer's atomic size, so another
writer's output never lands inside a line). A write per request would release
the GIL for a system call and wake the reader of the pipe each time, which
costs a served request more than its own execution. Every other event (serving,
stopping, ...) is written at once, after what is queued, so lines keep their
order; :meth:`EventLog.close` (at shutdown, and at exit) writes the rest. A
process killed outright loses at most the last interval's request lines.
"""

from __future__ import annotations

import atexit
import collections
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
    if not metadata.HasField("task_execution_id"):  # one look instead of five
        return ""
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


#: Seconds between writes of queued request lines.
FLUSH_INTERVAL = 0.1
#: Largest single write: a pipe writes up to this many bytes atomically.
ATOMIC_WRITE = 4096

_escape = json.encoder.encode_basestring_ascii  # C-accelerated, as json.dumps does


@final
class EventLog:
    """JSON lines on a stream (stderr by default)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()  # one writer at a time: the flusher or an event
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
        self._queued: collections.deque[str] = collections.deque()
        self._closed = False
        self._wake = threading.Event()
        try:
            self._fd: int | None = self._stream.fileno()
            self._stream.flush()
        except (OSError, ValueError, AttributeError):  # no file descriptor: write() then
            self._fd = None
        self._flusher = threading.Thread(target=self._flush_forever, name="shimtask-log",
                                         daemon=True)
        self._flusher.start()
        atexit.register(self.close)

    def event(self, event: str, **fields: Any) -> None:
        """A line about the server itself, written now (after any queued request lines)."""
        record = {"ts": round(time.time(), 6), "event": event, **fields}
        with self._lock:
            self._write(self._take() + self._dumps(record) + "\n")

    def request(self, rpc: str, *, task_execution_id: str, executor_type: str,
                seconds: float, outcome: str, code: str | None = None,
                message: str | None = None, **extra: Any) -> None:
        """One request's line, queued for the writer thread (``rpc`` and ``outcome`` are
        the service's own words; what a client or a plugin named is escaped)."""
        line = (f'{{"ts":{time.time():.6f},"event":"request","rpc":"{rpc}",'
                f'"task_execution_id":{_escape(task_execution_id)},'
                f'"executor_type":{_escape(executor_type)},'
                f'"duration_ms":{seconds * 1000:.3f},"outcome":"{outcome}"')
        if code is not None:
            line += f',"code":{_escape(code)}'
        if message:
            line += f',"message":{_escape(first_line(message))}'
        if extra:
            line += "," + self._dumps(extra)[1:-1]
        self._queued.append(line + "}\n")
        if self._closed:  # after close: nobody flushes any more
            self.flush()

    def flush(self) -> None:
        """Write the queued request lines now."""
        with self._lock:
            self._write(self._take())

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.flush()

    def _take(self) -> str:
        queued = self._queued
        if not queued:
            return ""
        parts = []
        popleft = queued.popleft
        try:
            while True:
                parts.append(popleft())
        except IndexError:
            pass
        return "".join(parts)

    def _flush_forever(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_INTERVAL)
            if self._queued:
                self.flush()

    def _write(self, text: str) -> None:
        if not text:
            return
        try:
            if self._fd is None:
                self._stream.write(text)
                self._stream.flush()
                return
            data = text.encode()
            while data:
                if len(data) <= ATOMIC_WRITE:
                    chunk = data
                else:  # whole lines only, so that no other writer's bytes land in one
                    end = data.rfind(b"\n", 0, ATOMIC_WRITE) + 1 or len(data)
                    chunk = data[:end]
                written = os.write(self._fd, chunk)
                data = data[written:]
        except (OSError, ValueError):  # a closed stderr must not fail a request
            pass
