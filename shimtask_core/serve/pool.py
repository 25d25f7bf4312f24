"""Bounded execution: ``workers`` run at once, ``queue_limit`` more wait, the rest are refused.

Two ways in, one budget:

* :meth:`WorkerPool.submit` queues work for the pool's own daemon threads (async
  tasks, and sync requests whose time limit must be able to fire while the
  caller still waits): the caller gets a ``Future``;
* :meth:`WorkerPool.run_here` runs work on the calling thread (a gRPC handler)
  once an execution slot is free: no hand-over between threads, which on a busy
  2-core machine costs more than the rest of a trivial request.

Both count against ``workers`` running slots and ``workers + queue_limit``
admitted executions; a full pool answers at once (the service turns it into
``RESOURCE_EXHAUSTED``), so there is no unbounded backlog anywhere.

Why not ``concurrent.futures.ThreadPoolExecutor``: its queue is unbounded, and
its threads are joined at interpreter exit, so one executor stuck in a query
would keep a terminated server alive past its grace period. Threads here are
daemons started up front: no thread is created per request.

A Python thread cannot be interrupted: an execution that outlives its time
limit keeps its slot until it returns, so a flood of stuck executions ends in
refusals, never in an unbounded backlog.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar, final

T = TypeVar("T")

_Item = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class Full(Exception):
    """Every running slot and queue place is taken (or the pool is closed)."""


class QueueTimeout(Exception):
    """No running slot became free within the time the caller could wait."""


@final
class WorkerPool:
    """``workers`` running slots behind an admission count of ``workers + queue_limit``."""

    def __init__(self, workers: int, queue_limit: int, *, name: str = "shimtask-worker") -> None:
        self.workers = workers
        self.capacity = workers + queue_limit
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._slots = threading.Semaphore(workers)
        self._admitted = 0
        self._running = 0
        self._closed = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def admitted(self) -> int:
        """Executions accepted and not finished: queued plus running."""
        return self._admitted

    @property
    def running(self) -> int:
        return self._running

    @property
    def closed(self) -> bool:
        return self._closed

    def _admit(self) -> bool:
        with self._lock:
            if self._closed or self._admitted >= self.capacity:
                return False
            self._admitted += 1
            return True

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1
            if self._admitted == 0:
                self._idle.notify_all()

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run with a slot already held; releases it."""
        with self._lock:
            self._running += 1
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1
            self._slots.release()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T] | None:
        """Queue ``fn(*args)`` for a pool thread; None when the pool is full or closed."""
        if not self._admit():
            return None
        future: Future[T] = Future()
        self._queue.put((future, fn, args))
        return future

    def run_here(self, fn: Callable[..., T], *args: Any, wait: float,
                 still_wanted: Callable[[], bool] | None = None, slice_: float = 1.0) -> T:
        """Run ``fn(*args)`` on this thread once a slot is free, waiting at most ``wait``
        seconds for it (in slices, giving up early when ``still_wanted()`` turns false).

        Raises :class:`Full` when nothing more can be admitted, :class:`QueueTimeout`
        when no slot came in time.
        """
        if not self._admit():
            raise Full
        try:
            if not self._slots.acquire(blocking=False):
                end = time.monotonic() + wait
                while True:
                    left = end - time.monotonic()
                    if left <= 0 or (still_wanted is not None and not still_wanted()):
                        raise QueueTimeout
                    if self._slots.acquire(timeout=min(left, slice_)):
                        break
            return self._run(fn, args)
        finally:
            self._leave()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            future, fn, args = item
            try:
                self._slots.acquire()
                if not future.set_running_or_notify_cancel():  # cancelled while queued
                    self._slots.release()
                    continue
                try:
                    result = self._run(fn, args)
                except BaseException as exc:  # the callee's fault, reported to the caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            finally:
                self._leave()

    def close(self) -> None:
        """Refuse new work; what was admitted still runs."""
        with self._lock:
            self._closed = True

    def drain(self, timeout: float) -> int:
        """Close, wait up to ``timeout`` seconds for admitted work to finish, and return
        how many executions were still queued or running when it gave up (0: all done)."""
        self.close()
        with self._idle:
            self._idle.wait_for(lambda: self._admitted == 0, timeout=timeout)
            left = self._admitted
        if left == 0:
            for _ in self._threads:
                self._queue.put(None)
        return left
