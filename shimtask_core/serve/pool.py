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
    """``workers`` running slots behind an admission count of ``workers + queue_limit``.

    Admission is a count under one lock; a running slot is a token taken from a
    ``queue.SimpleQueue`` holding ``workers`` of them. The queue blocks and wakes
    in C: an execution that waits for a slot costs no Python condition variable
    (whose wait and notify cost more than a trivial execution when every client
    queues, as at 64 clients on 8 workers).
    """

    def __init__(self, workers: int, queue_limit: int, *, name: str = "shimtask-worker") -> None:
        self.workers = workers
        self.capacity = workers + queue_limit
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(workers):
            self._slots.put(None)
        self._admitted = 0
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
        return self.workers - self._slots.qsize()

    @property
    def closed(self) -> bool:
        return self._closed

    def _take_slot(self, deadline: float | None, still_wanted: Callable[[], bool] | None,
                   slice_: float) -> bool:
        """Wait for a free slot and take it; False past ``deadline`` or once
        ``still_wanted()`` is false."""
        slots = self._slots
        if deadline is None:
            slots.get()
            return True
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (still_wanted is not None and not still_wanted()):
                return False
            try:
                slots.get(timeout=min(left, slice_))
                return True
            except queue.Empty:
                continue

    def _finish(self, held_slot: bool) -> None:
        if held_slot:
            self._slots.put(None)
        with self._lock:
            self._admitted -= 1
            if self._admitted == 0 and self._closed:  # only drain() waits for idle
                self._idle.notify_all()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T] | None:
        """Queue ``fn(*args)`` for a pool thread; None when the pool is full or closed."""
        with self._lock:
            if self._closed or self._admitted >= self.capacity:
                return None
            self._admitted += 1
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
        with self._lock:
            if self._closed or self._admitted >= self.capacity:
                raise Full
            self._admitted += 1
        try:
            self._slots.get_nowait()
            held = True
        except queue.Empty:
            held = self._take_slot(time.monotonic() + wait, still_wanted, slice_)
        try:
            if not held:
                raise QueueTimeout
            return fn(*args)
        finally:
            self._finish(held)

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            future, fn, args = item
            self._take_slot(None, None, 1.0)
            if not future.set_running_or_notify_cancel():  # cancelled while it waited
                self._finish(True)
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # the callee's fault, reported to the caller
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self._finish(True)

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
