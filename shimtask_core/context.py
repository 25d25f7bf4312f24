"""Where an execution reads and writes: the part of flytekit's FlyteContext a shim task needs.

Codecs for offloaded values (files, directories, datasets) find the current
context through :func:`current_context`, so that encoders keep a one-argument
signature on the hot path.
"""

from __future__ import annotations

import os

# contextvars.py only re-exports the built-in _contextvars: importing the shim is one
# more module (~0.1 ms) on every cold start.
from _contextvars import ContextVar
from contextlib import AbstractContextManager, suppress
from typing import final

_FIELDS = ("raw_output_prefix", "output_prefix", "working_dir", "checkpoint_path",
           "prev_checkpoint")


@final
class ExecutionContext:
    """The locations of one execution (all URIs or local paths); immutable.

    ``raw_output_prefix`` defaults to a private directory of this process in the
    system's temporary directory (``shimtask-raw-*``, mode 0700; removed at exit if
    nothing was written there); ``working_dir`` is where downloads go (None: the
    temporary directory). A plain class with slots rather than a frozen dataclass: importing
    ``dataclasses`` (and ``inspect``) would cost every ``shimtask execute``.
    """

    __slots__ = _FIELDS

    raw_output_prefix: str
    output_prefix: str | None
    working_dir: str | None
    checkpoint_path: str | None
    prev_checkpoint: str | None

    def __init__(self, raw_output_prefix: str | None = None, output_prefix: str | None = None,
                 working_dir: str | None = None, checkpoint_path: str | None = None,
                 prev_checkpoint: str | None = None) -> None:
        if raw_output_prefix is None:
            raw_output_prefix = _process_raw_dir()
        # Each slot through its own descriptor: a server builds one per request, and
        # object.__setattr__ by name costs three times as much.
        _set_raw_output_prefix(self, raw_output_prefix)
        _set_output_prefix(self, output_prefix)
        _set_working_dir(self, working_dir)
        _set_checkpoint_path(self, checkpoint_path)
        _set_prev_checkpoint(self, prev_checkpoint)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ExecutionContext is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ExecutionContext is immutable: cannot delete {name!r}")

    def _values(self) -> tuple[str | None, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecutionContext):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"ExecutionContext({fields})"


(_set_raw_output_prefix, _set_output_prefix, _set_working_dir, _set_checkpoint_path,
 _set_prev_checkpoint) = (vars(ExecutionContext)[name].__set__ for name in _FIELDS)

_raw_dir: list[str] = []  # this process's default raw output directory, once made


def _process_raw_dir() -> str:
    """Where outputs go when nobody named a place: one directory per process, made by
    ``mkdtemp`` (mode 0700, a name no other user can predict or make first), never a
    directory shared by every user of the machine. Outputs written there are the
    caller's and stay; a directory left empty is removed at exit."""
    if not _raw_dir:
        import atexit
        import tempfile  # ~7 ms with shutil: not for an execution that names its prefixes

        _raw_dir.append(tempfile.mkdtemp(prefix="shimtask-raw-"))
        atexit.register(_remove_if_empty, _raw_dir[0])
    return _raw_dir[0]


def _remove_if_empty(path: str) -> None:
    with suppress(OSError):
        os.rmdir(path)  # fails, keeping it, once an output was written into it


_current: ContextVar[ExecutionContext | None] = ContextVar(
    "shimtask_execution_context", default=None)


_default: list[ExecutionContext] = []  # built once: it is immutable, and dispatch is hot


def _default_context() -> ExecutionContext:
    if not _default:
        _default.append(ExecutionContext())
    return _default[0]


def current_context() -> ExecutionContext:
    """The context of the running execution, or a local default outside one."""
    ctx = _current.get()
    return ctx if ctx is not None else _default_context()


#: What :func:`using_context` does on entry and exit, as two C calls: for the dispatch of
#: an execution, which a server runs per request (the context manager is three Python
#: calls more). ``reset_current`` takes what ``set_current`` returned.
set_current = _current.set
reset_current = _current.reset


def using_context(ctx: ExecutionContext | None) -> AbstractContextManager[ExecutionContext]:
    """Make ``ctx`` current for the duration of one execution."""
    return _Using(ctx)


@final
class _Using:
    """What :func:`using_context` returns: a plain context manager (a generator-based
    one costs more than the rest of a trivial dispatch)."""

    __slots__ = ("_ctx", "_token")

    def __init__(self, ctx: ExecutionContext | None) -> None:
        self._ctx = ctx

    def __enter__(self) -> ExecutionContext:
        ctx = self._ctx
        if ctx is None:
            ctx = _current.get() or _default_context()
        self._token = _current.set(ctx)
        return ctx

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)
