"""Stopping an execution that waits in C: a query, a long library call.

Python acts on a time limit or a SIGTERM in the executing thread only once that
thread is back in the interpreter; a SQLite or DuckDB query runs in C and
returns when it is done, so a two-second time limit on a query of an hour
fired after the hour, and a pod told to stop was killed with nothing written.
An executor that runs such a call inside ``with interruptible(con.interrupt):``
gives whoever stops the execution a way in: the callable is called from another
thread, the call returns with the library's own error, and the stop goes on
(``error.pb`` says ``ExecutionTimeout`` or ``Terminated``, not the library's
error).

Who calls it:

* ``shimtask execute`` and ``shimtask run`` (the execution on the main thread):
  SIGALRM (the time limit), SIGTERM and SIGINT, whichever thread the kernel hands
  them to. While a block is open on the main thread, a wakeup fd
  (``signal.set_wakeup_fd``) carries each signal's number to a watcher thread,
  which calls the block's interrupts; a wakeup fd set before is passed every
  byte and restored after.
* an execution on another thread (``run_template`` from a worker, with a time
  limit): the timer that writes the timeout calls them.
* ``shimtask serve``: a sync execution past its limit or left by its caller, and
  an async task deleted or past its deadline, call them.

An interrupt must be safe to call from another thread at any moment, also just
after the call returned or the connection closed (``sqlite3.Connection.interrupt``,
``duckdb.DuckDBPyConnection.interrupt`` and psycopg's ``cancel`` are: on a closed
connection they raise, which is ignored). Bind it to the execution's own
connection, never to something the thread's next execution would share.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

__all__ = ["interrupt_thread", "interruptible"]

_lock = threading.Lock()
#: thread id -> the interrupts of the blocks open on it, innermost last
_open: dict[int, list[Callable[[], None]]] = {}


@contextmanager
def interruptible(interrupt: Callable[[], None]) -> Iterator[None]:
    """While the block runs, a stop of this execution calls ``interrupt()`` from
    another thread (see the module's docstring for who stops it, and when)."""
    ident = threading.get_ident()
    with _lock:
        _open.setdefault(ident, []).append(interrupt)
    watcher = None
    try:
        if threading.current_thread() is threading.main_thread():
            watcher = _SignalWatcher.enter()
        yield
    finally:
        if watcher is not None:
            watcher.leave()
        with _lock:
            interrupts = _open[ident]
            interrupts.remove(interrupt)
            if not interrupts:
                del _open[ident]


def interrupt_thread(ident: int, still: Callable[[], bool] | None = None) -> int:
    """Call the interrupts of the blocks open on thread ``ident`` and return how many
    ran; none when ``still()`` (asked while no block can open or close) is false, so
    that a stop meant for an execution that has just ended leaves the next alone.

    They are called after the lock is released (a driver's cancel may open a
    connection to its server, and every block waits for the lock), so one may run
    just after its block closed; each is bound to its own execution's connection,
    and an error it raises (a connection closed meanwhile) is ignored.
    """
    with _lock:
        if still is not None and not still():
            return 0
        interrupts = list(_open.get(ident, ()))
    for interrupt in interrupts:
        with suppress(Exception):  # best effort: the stop goes on without it
            interrupt()
    return len(interrupts)


class _SignalWatcher:
    """A thread that calls the main thread's interrupts when SIGALRM, SIGTERM or SIGINT
    arrives (their C-level handler writes the number to the wakeup fd).

    Made once per process, on the first block opened on the main thread, and kept:
    a block costs one ``set_wakeup_fd`` on the way in and one on the way out (a
    dataset fetched in batches opens one per batch). Between blocks the wakeup fd
    is the one set before, so nothing reaches the thread.
    """

    _current: _SignalWatcher | None = None
    _depth = 0

    def __init__(self) -> None:
        import _signal  # type: ignore[import-not-found,unused-ignore]  # the signal module's core

        self._signal = _signal
        self._stop_on = {_signal.SIGALRM, _signal.SIGTERM, _signal.SIGINT}
        self._main = threading.get_ident()
        self._previous = -1
        self._read, self._write = os.pipe()
        try:
            os.set_blocking(self._write, False)
            threading.Thread(target=self._watch, name="shimtask-interrupts",
                             daemon=True).start()
        except BaseException:
            os.close(self._read)
            os.close(self._write)
            raise

    @classmethod
    def enter(cls) -> _SignalWatcher | None:
        if os.name != "posix":  # a wakeup fd must be a socket there: no watcher
            return None
        watcher = cls._current
        try:
            if watcher is None:
                watcher = cls._current = cls()
            if cls._depth == 0:
                watcher._previous = watcher._signal.set_wakeup_fd(
                    watcher._write, warn_on_full_buffer=False)
        except (OSError, ValueError, RuntimeError):  # no fds or threads left, or a
            return None  # subinterpreter: timers and servers still interrupt the block
        cls._depth += 1
        return watcher

    def leave(self) -> None:
        cls = type(self)
        if cls._depth == 0:  # entered before a fork, left in the child
            return
        cls._depth -= 1
        if cls._depth == 0:
            with suppress(ValueError):  # left on another thread (a generator finalized there)
                self._signal.set_wakeup_fd(self._previous)

    def _watch(self) -> None:
        while True:
            data = os.read(self._read, 512)
            previous = self._previous
            if previous >= 0:  # its owner (an event loop, say) still hears them
                with suppress(OSError):
                    os.write(previous, data)
            if self._stop_on.intersection(data):
                interrupt_thread(self._main)


def _forget_after_fork() -> None:
    """A forked child has the parent's watcher object but not its thread."""
    _SignalWatcher._current = None
    _SignalWatcher._depth = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
