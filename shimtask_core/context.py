"""Where an execution reads and writes: the part of flytekit's FlyteContext a shim task needs.

Codecs for offloaded values (files, directories, datasets) find the current
context through :func:`current_context`, so that encoders keep a one-argument
signature on the hot path.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import final


@final
@dataclass(frozen=True)
class ExecutionContext:
    """The locations of one execution (all URIs or local paths)."""

    raw_output_prefix: str = field(default_factory=lambda: os.path.join(_tmp(), "shimtask-raw"))
    output_prefix: str | None = None
    #: Where downloads go; None means the system's temporary directory.
    working_dir: str | None = None
    checkpoint_path: str | None = None
    prev_checkpoint: str | None = None


def _tmp() -> str:
    import tempfile  # ~7 ms with shutil: not on the path of an execution that names its prefixes

    return tempfile.gettempdir()


_current: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
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


@contextmanager
def using_context(ctx: ExecutionContext | None) -> Iterator[ExecutionContext]:
    """Make ``ctx`` current for the duration of one execution."""
    if ctx is None:
        ctx = _current.get() or _default_context()
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
