"""Prometheus metrics, on their own port, only when asked for (``--metrics-port``).

``prometheus_client`` is imported only then; without it the service records
nothing and pays nothing. Series (all prefixed ``shimtask_serve_``):

* ``requests_total{rpc, executor_type, outcome}`` and
  ``request_duration_seconds{rpc, executor_type, outcome}`` (a histogram);
* ``errors_total{rpc, executor_type, outcome, code}``: failed, retryable and
  aborted executions by error code;
* ``rejected_total{rpc, reason}``: refused for back-pressure or shutdown;
* ``executions_running``, ``executions_queued``, ``async_tasks``,
  ``advertised_executors`` (gauges) and the process's own CPU and memory.

``executor_type`` holds only executor types that were found (an unknown name a
client sends is ``(unresolved)``), so the series cannot grow without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, final

from ..errors import MissingDependency, UsageError

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, 60.0, 300.0, float("inf"))


class Metrics(Protocol):
    def observe(self, rpc: str, executor_type: str, outcome: str, code: str | None,
                seconds: float) -> None: ...

    def rejected(self, rpc: str, reason: str) -> None: ...

    def close(self) -> None: ...


@final
class NoMetrics:
    """What the service records without ``--metrics-port``: nothing."""

    port: int | None = None

    def observe(self, rpc: str, executor_type: str, outcome: str, code: str | None,
                seconds: float) -> None:
        pass

    def rejected(self, rpc: str, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


@final
class PrometheusMetrics:
    """The series above, served over HTTP at ``/metrics`` on ``host:port``."""

    def __init__(self, host: str, port: int, gauges: dict[str, Callable[[], float]]) -> None:
        try:
            import prometheus_client as prom
        except ImportError:
            raise MissingDependency("prometheus-client", purpose="shimtask serve --metrics-port",
                                    extra="serve") from None
        disable_created: Callable[[], None] = prom.disable_created_metrics
        disable_created()  # a _created series per counter doubles the scrape
        self._registry = registry = prom.CollectorRegistry(auto_describe=True)
        prom.ProcessCollector(registry=registry)
        labels = ("rpc", "executor_type", "outcome")
        self._requests = prom.Counter("shimtask_serve_requests", "Requests answered",
                                      labels, registry=registry)
        self._latency = prom.Histogram("shimtask_serve_request_duration_seconds",
                                       "Time from a request's arrival to its answer",
                                       labels, buckets=BUCKETS, registry=registry)
        self._errors = prom.Counter("shimtask_serve_errors", "Executions that did not succeed",
                                    (*labels, "code"), registry=registry)
        self._rejected = prom.Counter("shimtask_serve_rejected", "Requests refused",
                                      ("rpc", "reason"), registry=registry)
        for name, read in gauges.items():
            prom.Gauge(f"shimtask_serve_{name}", name.replace("_", " "),
                       registry=registry).set_function(read)
        # One child per label set, looked up once: labels() takes a lock and builds keys.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        try:
            self._server, self._thread = prom.start_http_server(port, addr=host,
                                                                registry=registry)
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on {host}:{port}: {exc}") from None
        self.port: int = self._server.server_port

    def observe(self, rpc: str, executor_type: str, outcome: str, code: str | None,
                seconds: float) -> None:
        key = (rpc, executor_type, outcome)
        children = self._children.get(key)
        if children is None:
            with self._lock:
                children = self._children[key] = (self._requests.labels(*key),
                                                  self._latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)
        if code is not None:
            self._errors.labels(rpc, executor_type, outcome, code).inc()

    def rejected(self, rpc: str, reason: str) -> None:
        self._rejected.labels(rpc, reason).inc()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
