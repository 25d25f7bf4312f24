"""The process: a gRPC server with the connector services and the standard health service,
optional TLS and metrics, signals, and a graceful end.

Lifecycle:

* start: every allowed executor is imported once and advertised; the health
  service says SERVING for ``""`` and every service name; one ``serving`` line
  names the bound port (``--port 0`` picks a free one).
* SIGHUP: the installed distributions are read again (``ListAgents`` does the
  same on every call, so a pip-installed plugin is advertised at propeller's
  next poll either way).
* SIGTERM or SIGINT: health turns NOT_SERVING, new RPCs are refused
  (``UNAVAILABLE``), in-flight RPCs and accepted async tasks get ``grace``
  seconds to finish, then the process exits 0. Work still running after the
  grace period is abandoned (an async task wrote nothing, so GetTask on another
  replica reports it lost after its deadline and propeller retries it).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ..errors import UsageError
from ..registry import default_registry
from ..version import __version__
from .catalog import Catalog
from .execution import Scratch
from .jobs import JobTable
from .log import EventLog, first_line
from .metrics import Metrics, NoMetrics, PrometheusMetrics
from .pool import SyncLane, WorkerPool
from .service import SERVICE_NAMES, ConnectorService

if TYPE_CHECKING:
    from ..registry import ExecutorRegistry
    from .config import ServeConfig

#: gRPC threads beyond the executions: health checks, ListAgents, GetTask and friends,
#: and the refusals of a full pool, are answered even when every worker is busy.
#: (Sync executions run on their own lane, ``pool.SyncLane``; the server-wide pool is
#: sized for them too only in case a grpcio ignores the lane and runs them here.)
CONTROL_THREADS = 16


@final
@dataclass(frozen=True)
class Shutdown:
    """How the process ended: ``abandoned`` executions were still running after the grace."""

    signal: str
    seconds: float
    abandoned: int


def _credentials(config: ServeConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    try:
        with open(config.tls_key, "rb") as key, open(config.tls_cert, "rb") as cert:
            pair = (key.read(), cert.read())
    except OSError as exc:
        raise UsageError(f"cannot read the TLS key or certificate: {exc}") from None
    _check_tls_pair(config.tls_cert, pair[1], config.tls_key, pair[0])
    return grpc.ssl_server_credentials([pair])


_PEM_KEYS = (b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN RSA PRIVATE KEY-----",
             b"-----BEGIN EC PRIVATE KEY-----")


def _check_tls_pair(cert_path: str, cert: bytes, key_path: str, key: bytes) -> None:
    """Name the file that is wrong: grpc refuses a bad pair only as 'Failed to bind to
    address', after log lines of its own. Never shows the files' contents."""
    if b"-----BEGIN CERTIFICATE-----" not in cert:
        raise UsageError(f"--tls-cert {cert_path}: not a PEM certificate (no "
                         f"'-----BEGIN CERTIFICATE-----' line)")
    if b"ENCRYPTED" in key:
        raise UsageError(f"--tls-key {key_path}: the private key is encrypted; shimtask serve "
                         f"needs an unencrypted one")
    if not any(marker in key for marker in _PEM_KEYS):
        raise UsageError(f"--tls-key {key_path}: not a PEM private key (no "
                         f"'-----BEGIN PRIVATE KEY-----' line)")
    import ssl  # here only: a server without TLS never loads it

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path,
                                                                password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise UsageError(f"--tls-key {key_path} is not the private key of --tls-cert "
                             f"{cert_path}") from None
        raise UsageError(f"--tls-cert {cert_path} and --tls-key {key_path} cannot serve TLS: "
                         f"{exc.reason or exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the TLS key or certificate: {exc}") from None


def _bind_failure(config: ServeConfig) -> str:
    """Why grpc could not bind ``config.address``, from binding it with a plain socket:
    grpc says only "Failed to bind" (its reason goes to a C-level log line)."""
    import socket

    host = config.host.strip("[]") or None
    try:
        found = socket.getaddrinfo(host, config.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"the host {config.host!r} does not resolve ({exc.strerror})"
    reasons = []
    for family, kind, proto, _, sockaddr in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc binds
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                reasons.append(exc.strerror or str(exc))
    if reasons:
        return "; ".join(dict.fromkeys(reasons)).lower()  # e.g. "address already in use"
    return "grpc could not bind it (in use, or not an address of this machine)"


@final
class Server:
    """One running service; :meth:`wait` blocks until a signal (or :meth:`stop`) ends it."""

    def __init__(self, config: ServeConfig, *, registry: ExecutorRegistry | None = None,
                 log: EventLog | None = None) -> None:
        self.config = config
        self.log = log or EventLog()
        self.registry = registry or default_registry()
        self.catalog = Catalog(self.registry, on_problem=self._unavailable)
        self.catalog.refresh(rescan=False)  # import every allowed executor now, not on a request
        self.jobs = JobTable(config.keep_finished)
        self.pool = WorkerPool(config.workers, config.queue_limit)
        self.metrics: Metrics = NoMetrics()
        self.metrics_port: int | None = None
        if config.metrics_port is not None:
            prom = PrometheusMetrics(
                (config.metrics_host or config.host).strip("[]"), config.metrics_port, {
                    "executions_running": lambda: self.pool.running,
                    "executions_queued": lambda: self.pool.admitted - self.pool.running,
                    "async_tasks": lambda: len(self.jobs),
                    "advertised_executors": lambda: len(self.catalog.agents),
                })
            self.metrics, self.metrics_port = prom, prom.port
        import tempfile  # the scratch root: downloads of remote File inputs, per execution

        self.scratch = Scratch(tempfile.mkdtemp(prefix="shimtask-serve-"))
        self.service = ConnectorService(config, self.registry, self.pool, self.catalog,
                                        self.jobs, self.metrics, self.log, self.scratch)
        threads = self.pool.capacity + CONTROL_THREADS
        options = [("grpc.max_receive_message_length", config.max_message_bytes),
                   ("grpc.max_send_message_length", config.max_message_bytes),
                   ("grpc.so_reuseport", 0),
                   # Propeller pings every 30 s during an RPC (flyteplugins' connector
                   # client); a sync execution sends nothing while it runs, and grpc's
                   # default ends the connection (GOAWAY too_many_pings) at the third
                   # ping within 5 minutes without data: any call past ~90 s with it.
                   ("grpc.http2.max_ping_strikes", 0)]  # 0: pings never end a call
        control = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shimtask-grpc")
        self.grpc = grpc.server(control,
                                handlers=self.service.handlers(SyncLane(self.pool, control)),
                                options=options, maximum_concurrent_rpcs=2 * threads)
        self.health = health.HealthServicer()
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        try:
            self.port = self._listen(config)
        except BaseException:
            self.scratch.close()
            raise
        # What wakes wait(): a byte on this socket pair, written by stop(), by the signal
        # handlers, and by the C-level handler of any signal (set_wakeup_fd). The kernel
        # hands a process-directed signal to any thread; a Python handler runs on the
        # main thread only, once that thread is back in the interpreter, so a main thread
        # asleep on a lock would sleep on (and an Event set from a handler can deadlock on
        # the Event's own lock). The wakeup fd wakes it from whichever thread took it.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._previous_wakeup_fd: int | None = None
        self._stop_signal: str | None = None
        self._reload = False

    def _listen(self, config: ServeConfig) -> int:
        credentials = _credentials(config)
        try:
            if credentials is None:
                port: int = self.grpc.add_insecure_port(config.address)
            else:
                port = self.grpc.add_secure_port(config.address, credentials)
        except RuntimeError:
            port = 0
        if port == 0:
            raise UsageError(f"cannot listen on {config.address}: {_bind_failure(config)}")
        return port

    def _unavailable(self, name: str, message: str) -> None:
        self.log.event("executor_unavailable", executor_type=name, error=first_line(message))

    def start(self) -> None:
        self.grpc.start()
        self.log.event("serving", version=__version__, address=f"{self.config.host}:{self.port}",
                       port=self.port, tls=self.config.tls_cert is not None,
                       metrics_port=self.metrics_port, workers=self.config.workers,
                       max_queue=self.config.queue_limit, timeout=self.config.timeout,
                       executors=self.catalog.names(), pid=os.getpid())

    # --- signals -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP re-reads the plugins (main thread only)."""
        def stop(signum: int, _: Any) -> None:
            self.stop(signal.Signals(signum).name)

        def reload(_: int, __: Any) -> None:
            self._reload = True
            self._poke()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, reload)
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._wake_w.fileno(),
                                                        warn_on_full_buffer=False)

    def stop(self, reason: str = "stop") -> None:
        """Ask :meth:`wait` to shut down (safe from a signal handler or any thread)."""
        self._stop_signal = reason
        self._poke()

    def _poke(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake-up is pending) or closed (stopped)
            self._wake_w.send(b"\0")

    def wait(self) -> Shutdown:
        """Serve until stopped, then shut down gracefully."""
        while True:
            if self._stop_signal is not None:
                return self._shutdown(self._stop_signal)
            if self._reload:
                self._reload = False
                agents = self.service.refresh()
                self.log.event("reloaded", executors=[a.name for a in agents])
            self._sleep()  # until a byte comes; the flags are looked at again first
            with contextlib.suppress(OSError):  # BlockingIOError: drained
                while self._wake_r.recv(512):
                    pass

    def _sleep(self) -> None:
        if hasattr(select, "poll"):  # poll, not select: no limit on the descriptor's number
            waiter = select.poll()
            waiter.register(self._wake_r, select.POLLIN)
            waiter.poll()
        else:  # pragma: no cover - Windows
            select.select([self._wake_r], [], [])

    def _shutdown(self, reason: str) -> Shutdown:
        started = time.monotonic()
        grace = self.config.grace
        self.health.enter_graceful_shutdown()
        done = self.grpc.stop(grace)  # refuses new RPCs now; cancels in-flight ones at grace
        # after the refusal began: a call made once this line is out is refused
        self.log.event("stopping", signal=reason, grace=grace, running=self.pool.running,
                       queued=self.pool.admitted - self.pool.running,
                       async_pending=self.jobs.pending())
        abandoned = self.pool.drain(grace)
        done.wait(max(0.0, grace - (time.monotonic() - started)) + 2.0)
        self.metrics.close()
        self.scratch.close()  # abandoned executions included: the process ends now
        seconds = time.monotonic() - started
        self.log.event("stopped", signal=reason, seconds=round(seconds, 3), abandoned=abandoned)
        self.log.close()
        if self._previous_wakeup_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._wake_r.close()
        self._wake_w.close()
        return Shutdown(reason, seconds, abandoned)


def run(config: ServeConfig, *, registry: ExecutorRegistry | None = None,
        log: EventLog | None = None) -> Shutdown:
    """Start the service and serve until SIGTERM/SIGINT (what ``shimtask serve`` does)."""
    server = Server(config, registry=registry, log=log)
    if threading.current_thread() is threading.main_thread():
        server.install_signal_handlers()
    server.start()
    return server.wait()
