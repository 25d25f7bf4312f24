"""Bounded execution: ``workers`` run at once, ``queue_limit`` more wait, the rest are refused.

Two ways in, one budget:

* :meth:`WorkerPool.submit` queues work for the pool's own daemon threads (async
  tasks, and sync requests whose time limit must be able to fire while the
  caller still waits): the caller gets a ``Future``;
* :meth:`WorkerPool.run_here` runs work on the calling thread (a gRPC handler)
  once an execution slot is free: no hand-over between threads, which on a busy
  2-core machine costs more than the rest of a trivial request.

Sync requests come in through a :class:`SyncLane`, the thread pool gRPC runs
``ExecuteTaskSync`` on: ``workers`` threads that admit each call when gRPC hands
it over. A call that must wait waits in the lane's queue, holding no thread, and
a thread that finishes one call takes the next without sleeping; a call with no
admission left is answered ``RESOURCE_EXHAUSTED`` at once, on gRPC's own pool.
(Handlers that waited for a slot on a thread each cost a sleep, a wake-up and a
thread switch per request once the clients outnumber the workers.)

Both count against ``workers`` running slots and ``workers + queue_limit``
admitted executions; a full pool answers at once (the service turns it into
``RESOURCE_EXHAUSTED``), so there is no unbounded backlog anywhere. Both budgets
are tokens in a ``queue.SimpleQueue``: taking one, or finding none, is a C call
that neither blocks nor takes a Python lock (a lock held for a counter cost more
than the rest of the admission, on every request).

Why not ``concurrent.futures.ThreadPoolExecutor``: its queue is unbounded, and
its threads are joined at interpreter exit, so one executor stuck in a query
would keep a terminated server alive past its grace period. Threads here are
daemons started up front: no thread is created per request.

A Python thread cannot be stopped from outside: an execution that outlives its
time limit keeps its slot until it returns, so a flood of stuck executions ends
in refusals, never in an unbounded backlog. An executor waiting in C inside
``shimtask_core.interruptible`` (a SQLite or DuckDB query) is interrupted
(:meth:`WorkerPool.interrupt`) and returns at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar, final

T = TypeVar("T")

_Item = tuple["PoolFuture[Any]", Callable[..., Any], tuple[Any, ...]]


class PoolFuture(Future[T]):
    """A future of :meth:`WorkerPool.submit`; ``worker`` is the id of the thread that
    runs it, once one does."""

    worker: int | None = None


class Full(Exception):
    """Every running slot and queue place is taken (or the pool is closed)."""


class QueueTimeout(Exception):
    """No running slot became free within the time the caller could wait."""


#: What a :class:`SyncLane` says about the call running on this thread.
_call = threading.local()


@final
class WorkerPool:
    """``workers`` running slots behind an admission of ``workers + queue_limit``.

    An admitted execution holds a token of ``_admission`` (``capacity`` of them), a
    running one also a token of ``_slots`` (``workers``). The queues block and wake
    in C: an execution that waits for a slot costs no Python condition variable
    (whose wait and notify cost more than a trivial execution when every client
    queues, as at 64 clients on 8 workers). Closing is a flag, read again after a
    token is taken, so that nothing is admitted once :meth:`drain` has looked.
    """

    def __init__(self, workers: int, queue_limit: int, *, name: str = "shimtask-worker") -> None:
        self.workers = workers
        self.capacity = workers + queue_limit
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(workers):
            self._slots.put(None)
        self._admission: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(self.capacity):
            self._admission.put(None)
        self._closed = False
        self._idle = threading.Condition()  # what drain() waits on, notified once closed
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def admitted(self) -> int:
        """Executions accepted and not finished: queued plus running."""
        return self.capacity - self._admission.qsize()

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

    def _admit(self) -> bool:
        """Take an admission token; False when none is left or the pool is closed."""
        if self._closed:
            return False
        try:
            self._admission.get_nowait()
        except queue.Empty:
            return False
        if self._closed:  # closed meanwhile: drain() may have counted without this one
            self._release()
            return False
        return True

    def _release(self) -> None:
        self._admission.put(None)
        if self._closed:  # only drain() waits for idle
            with self._idle:
                self._idle.notify_all()

    def _finish(self, held_slot: bool) -> None:
        if held_slot:
            self._slots.put(None)
        self._release()

    def submit(self, fn: Callable[..., T], *args: Any, admitted: bool = False
               ) -> PoolFuture[T] | None:
        """Queue ``fn(*args)`` for a pool thread; None when the pool is full or closed.

        ``admitted``: the calling lane call's admission (see :func:`lane_admission`)
        passes to this execution, which releases it when it ends.
        """
        if admitted:
            _call.admitted = False  # the lane's wrapper must not release it too
        elif not self._admit():
            return None
        future: PoolFuture[T] = PoolFuture()
        self._queue.put((future, fn, args))
        return future

    def interrupt(self, future: Future[Any]) -> int:
        """Interrupt what ``future``'s execution waits for in C, if it is running inside
        ``interruptible`` blocks (see :mod:`shimtask_core.interrupts`); how many ran."""
        worker = getattr(future, "worker", None)
        if worker is None:
            return 0
        from ..interrupts import interrupt_thread  # only when a stop comes

        return interrupt_thread(worker, still=future.running)

    def run_here(self, fn: Callable[..., T], *args: Any, wait: float,
                 still_wanted: Callable[[], bool] | None = None, slice_: float = 1.0,
                 admitted: bool = False) -> T:
        """Run ``fn(*args)`` on this thread once a slot is free, waiting at most ``wait``
        seconds for it (in slices, giving up early when ``still_wanted()`` turns false).
        ``admitted``: a lane admitted this call already (and releases it afterwards).

        Raises :class:`Full` when nothing more can be admitted, :class:`QueueTimeout`
        when no slot came in time.
        """
        if not admitted and not self._admit():
            raise Full
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
            if held:
                self._slots.put(None)
            if not admitted:
                self._release()

    def _work(self) -> None:
        get = self._queue.get
        me = threading.get_ident()
        while True:
            item = get()
            if item is None:
                return
            future, fn, args = item
            self._take_slot(None, None, 1.0)
            future.worker = me
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
        self._closed = True

    def drain(self, timeout: float) -> int:
        """Close, wait up to ``timeout`` seconds for admitted work to finish, and return
        how many executions were still queued or running when it gave up (0: all done)."""
        self.close()
        with self._idle:
            self._idle.wait_for(lambda: self.admitted == 0, timeout=timeout)
            left = self.admitted
        if left == 0:
            for _ in self._threads:
                self._queue.put(None)
        return left


#: :func:`lane_admission`'s answers.
ADMITTED, REFUSED, UNADMITTED = "admitted", "refused", "unadmitted"


def lane_admission() -> str:
    """What the :class:`SyncLane` decided for the call running on this thread:
    ``ADMITTED`` (it holds an admission, released when the call ends), ``REFUSED``
    (none was left, or the pool is closed) or ``UNADMITTED`` (no lane ran it)."""
    if getattr(_call, "admitted", False):
        return ADMITTED
    return REFUSED if getattr(_call, "refused", False) else UNADMITTED


@final
class SyncLane(ThreadPoolExecutor):
    """The thread pool gRPC runs one method's calls on (``experimental_thread_pool``,
    as grpc's own health service uses it): ``pool.workers`` threads, and each call is
    admitted by ``pool`` when gRPC submits it, before it waits for a thread.

    A call admitted here holds its admission until it returns, unless it passes it to
    an execution (``WorkerPool.submit(..., admitted=True)``); a call refused here runs
    on ``overflow`` (gRPC's server-wide pool), where its handler finds itself
    :data:`REFUSED` and answers at once.

    A ``ThreadPoolExecutor`` because grpc takes nothing else there; its queue is
    bounded all the same, by the admission taken before anything is queued.
    """

    def __init__(self, pool: WorkerPool, overflow: Executor, *,
                 name: str = "shimtask-sync") -> None:
        super().__init__(max_workers=pool.workers, thread_name_prefix=name)
        self._pool = pool
        self._overflow = overflow

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._pool._admit():
            return super().submit(self._admitted, fn, args, kwargs)
        return self._overflow.submit(_refused, fn, args, kwargs)

    def _admitted(self, fn: Callable[..., T], args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> T:
        _call.admitted = True
        try:
            return fn(*args, **kwargs)
        finally:
            if _call.admitted:  # not passed on to an execution
                _call.admitted = False
                self._pool._release()


def _refused(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    _call.refused = True
    try:
        return fn(*args, **kwargs)
    finally:
        _call.refused = False
