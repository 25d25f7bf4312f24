"""Async tasks: what ``CreateTask`` hands propeller (``resource_meta``) and what the server keeps.

``resource_meta`` is self-sufficient JSON: the task's id, executor type and
output prefix, which server process took it (``instance``, and the ``host`` it
runs on) and by when it must have ended (``deadline``). Propeller stores it and
sends it back with every GetTask/DeleteTask, possibly to another replica or to
this one after a restart, so a server that does not know the id can still answer:

* the task wrote ``outputs.pb`` or ``error.pb`` under its output prefix (every
  async execution does, before it counts as finished): that is the answer;
* the id came from an earlier process on this host (a restart): it is lost,
  RETRYABLE_FAILED, and propeller runs it again;
* it came from another host: it may still be running there until its deadline,
  then it is lost (RETRYABLE_FAILED).

Finished tasks are kept in memory for ``keep_finished`` seconds (propeller polls
a terminal task once more, then stops), and then answered from their files.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .execution import Outcome

META_VERSION: Final = 1
#: How long after its deadline a task on another host is given before it counts as lost.
DEADLINE_SLACK: Final = 60.0


class BadResourceMeta(ValueError):
    """``resource_meta`` bytes that this service did not write."""


@final
@dataclass(frozen=True, slots=True)
class ResourceMeta:
    id: str
    executor_type: str
    output_prefix: str
    instance: str
    host: str
    created: float
    deadline: float

    def encode(self) -> bytes:
        return json.dumps({"shimtask": META_VERSION, "id": self.id,
                           "executor_type": self.executor_type,
                           "output_prefix": self.output_prefix, "instance": self.instance,
                           "host": self.host, "created": self.created,
                           "deadline": self.deadline}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> ResourceMeta:
        try:
            raw: Any = json.loads(data)
            if not isinstance(raw, dict) or raw.get("shimtask") != META_VERSION:
                raise TypeError("not a shimtask resource_meta")
            created, deadline = float(raw["created"]), float(raw["deadline"])
            if not (math.isfinite(created) and math.isfinite(deadline)):  # json reads NaN
                raise ValueError("its created and deadline are not finite numbers")
            return cls(str(raw["id"]), str(raw["executor_type"]), str(raw["output_prefix"]),
                       str(raw["instance"]), str(raw["host"]), created, deadline)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            preview = data[:60].decode("utf-8", "replace")
            raise BadResourceMeta(
                f"resource_meta {preview!r} was not written by a shimtask serve "
                f"(version {META_VERSION}): {exc}") from None


@dataclass(slots=True, eq=False)
class Job:
    """One async task this process accepted."""

    meta: ResourceMeta
    task_execution_id: str
    future: Future[Any] | None = None
    outcome: Outcome | None = None
    started: float | None = None
    finished: float | None = None
    #: Set once by whoever concludes the task first: its worker, a timeout, a delete.
    claimed: bool = False
    #: Wall-clock second at which the in-memory state may be forgotten.
    expires: float = field(default=float("inf"))


class JobTable:
    """The async tasks of this process, by id; finished ones expire after ``keep`` seconds."""

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self.instance = uuid.uuid4().hex[:16]
        self.host = socket.gethostname()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def new_meta(self, executor_type: str, output_prefix: str, limit: float) -> ResourceMeta:
        now = time.time()
        return ResourceMeta(uuid.uuid4().hex, executor_type, output_prefix, self.instance,
                            self.host, now, now + limit)

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.meta.id] = job
        self._sweep()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def discard(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.meta.id, None)

    def claim(self, job: Job) -> bool:
        """True for the one caller that may conclude ``job``; False for every later one."""
        with self._lock:
            if job.claimed:
                return False
            job.claimed = True
            return True

    def finish(self, job: Job, outcome: Outcome) -> None:
        job.outcome = outcome
        job.finished = time.time()
        job.expires = job.finished + self.keep

    def pending(self) -> int:
        return sum(1 for j in list(self._jobs.values()) if j.finished is None)

    def is_ours(self, meta: ResourceMeta) -> bool:
        return meta.instance == self.instance

    def restarted_here(self, meta: ResourceMeta) -> bool:
        """The task was taken by an earlier process on this host: it died with it."""
        return meta.host == self.host and meta.instance != self.instance

    def _sweep(self) -> None:
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(60.0, max(1.0, self.keep / 10))
        with self._lock:
            for job_id in [i for i, j in self._jobs.items() if j.expires <= now]:
                del self._jobs[job_id]

    def __len__(self) -> int:
        return len(self._jobs)


def lost_after(meta: ResourceMeta) -> float:
    """The wall-clock second after which a task of another host counts as lost."""
    return meta.deadline + DEADLINE_SLACK

