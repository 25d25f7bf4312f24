"""The settings of one ``shimtask serve`` process: plain data, no gRPC.

Every knob of the command line is a field here, so that tests and embedders
start a server from Python exactly as the CLI does.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import final

from ..errors import UsageError

DEFAULT_PORT = 8000  # what flytekit's server and the flyteconnector Helm chart use
DEFAULT_TIMEOUT = 600.0
DEFAULT_GRACE = 25.0  # Kubernetes sends SIGKILL 30 s after SIGTERM by default


def default_workers() -> int:
    """Executors mostly wait (databases, storage): a few threads per core."""
    return max(4, 4 * (os.cpu_count() or 1))


@final
@dataclass(frozen=True)
class ServeConfig:
    """How the service listens, how much work it takes at once, and for how long.

    ``workers`` executions run at the same time; ``max_queue`` more may wait
    for a worker, and anything beyond is refused with ``RESOURCE_EXHAUSTED``
    (propeller retries it, perhaps on another replica). ``timeout`` bounds one
    execution (a template's own ``metadata.timeout`` may shorten it).
    ``grace`` is how long SIGTERM waits for in-flight work before exiting.
    """

    host: str = "[::]"
    port: int = DEFAULT_PORT
    workers: int = field(default_factory=default_workers)
    timeout: float = DEFAULT_TIMEOUT
    max_queue: int | None = None  # None: as many as workers
    metrics_port: int | None = None
    metrics_host: str | None = None  # None: the same as host
    tls_cert: str | None = None
    tls_key: str | None = None
    grace: float = DEFAULT_GRACE
    #: How long the state of a finished async task is kept in memory; after that
    #: GetTask answers from ``outputs.pb``/``error.pb`` under its output prefix.
    keep_finished: float = 3600.0
    max_message_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port}: not a TCP port (0..65535)")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise UsageError(f"--metrics-port {self.metrics_port}: not a TCP port (0..65535)")
        if self.workers < 1:
            raise UsageError(f"--workers {self.workers}: at least one worker is needed")
        if self.max_queue is not None and self.max_queue < 0:
            raise UsageError(f"--max-queue {self.max_queue}: cannot be negative")
        # Finite: the timeout becomes a resource_meta's deadline, and both are logged as JSON
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise UsageError(f"--timeout {self.timeout:g}: must be a finite, positive number "
                             f"of seconds")
        if not (math.isfinite(self.grace) and self.grace >= 0):
            raise UsageError(f"--grace {self.grace:g}: must be a finite number of seconds, "
                             f"not negative")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise UsageError("--tls-cert and --tls-key go together: give both or neither")

    @property
    def queue_limit(self) -> int:
        """How many accepted executions may wait for a worker."""
        return self.workers if self.max_queue is None else self.max_queue

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"
