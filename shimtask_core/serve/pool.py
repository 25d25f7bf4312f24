"""A bounded pool of worker threads: ``workers`` run, ``queue_limit`` wait, the rest are refused.

Why not ``concurrent.futures.ThreadPoolExecutor``: its queue is unbounded, and
its threads are joined at interpreter exit, so one executor stuck in a query
would keep a terminated server alive past its grace period. Here admission is
counted (queued + running), a full pool answers ``None`` at once (the service
turns it into ``RESOURCE_EXHAUSTED``), and the threads are daemons started up
front: no thread is created per request.

A Python thread cannot be interrupted: an execution that outlives its time
limit keeps its worker until it returns, and its slot stays counted, so a flood
of stuck executions ends in refusals, never in an unbounded backlog.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar, final

T = TypeVar("T")

_Item = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


@final
class WorkerPool:
    """``workers`` daemon threads behind an admission count of ``workers + queue_limit``."""

    def __init__(self, workers: int, queue_limit: int, *, name: str = "shimtask-worker") -> None:
        self.workers = workers
        self.capacity = workers + queue_limit
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
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
    def closed(self) -> bool:
        return self._closed

    @property
    def running(self) -> int:
        return self._running

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T] | None:
        """Queue ``fn(*args)``; None when the pool is full or closed (nothing queued)."""
        with self._lock:
            if self._closed or self._admitted >= self.capacity:
                return None
            self._admitted += 1
        future: Future[T] = Future()
        self._queue.put((future, fn, args))
        return future

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            future, fn, args = item
            try:
                if future.set_running_or_notify_cancel():  # False: cancelled while queued
                    with self._lock:
                        self._running += 1
                    try:
                        result = fn(*args)
                    except BaseException as exc:  # the callee's fault, reported to the caller
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                    finally:
                        with self._lock:
                            self._running -= 1
            finally:
                with self._lock:
                    self._admitted -= 1
                    if self._admitted == 0:
                        self._idle.notify_all()

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
