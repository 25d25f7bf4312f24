"""``shimtask serve``: every installed executor, served to Flyte over the connector protocol.

Propeller sends a template and its inputs over gRPC to this long-running
process instead of starting a pod per task. Parts, one module each:
:mod:`.config` (settings), :mod:`.catalog` (what is advertised),
:mod:`.execution` (one run as a ``Resource``), :mod:`.pool` (bounded workers),
:mod:`.jobs` (async tasks and their ``resource_meta``), :mod:`.service` (the
gRPC handlers), :mod:`.server` (process, health, TLS, signals), :mod:`.metrics`
and :mod:`.log`.

Importing this package imports no gRPC: :func:`missing_extra` tells the CLI,
in one line, what to install when the ``serve`` extra is absent.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from ..errors import MissingDependency
from .config import ServeConfig

if TYPE_CHECKING:
    from ..registry import ExecutorRegistry
    from .server import Shutdown

#: import name -> distribution, for everything ``shimtask-core[serve]`` installs
REQUIRED = {"grpc": "grpcio", "grpc_health": "grpcio-health-checking"}
FOR_METRICS = {"prometheus_client": "prometheus-client"}


def missing_extra(config: ServeConfig | None = None) -> MissingDependency | None:
    """The first package of the ``serve`` extra that this configuration needs and that is
    not installed, as the error to show; None when everything is there."""
    needed = dict(REQUIRED)
    if config is not None and config.metrics_port is not None:
        needed.update(FOR_METRICS)
    for module, dist in needed.items():
        if importlib.util.find_spec(module) is None:
            return MissingDependency(dist, purpose="shimtask serve", extra="serve")
    return None


def serve(config: ServeConfig, *, registry: ExecutorRegistry | None = None) -> Shutdown:
    """Run the service until SIGTERM/SIGINT; raises MissingDependency without the extra."""
    problem = missing_extra(config)
    if problem is not None:
        raise problem
    from .server import run

    return run(config, registry=registry)


__all__ = ["ServeConfig", "missing_extra", "serve"]
