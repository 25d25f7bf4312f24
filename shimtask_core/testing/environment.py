"""Isolation for tests: no user index, no ``SHIMTASK_*`` policy, no shared registry.

A plugin's tests must give the same answer on a developer's laptop (where
``SHIMTASK_DENY`` may be set and ``~/.cache/shimtask`` holds an index) and in CI.
Everything here builds its state from explicit arguments, never from the
environment of the process running the tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shimtask_core import ExecutorRegistry

#: Every variable with this prefix is removed: policy (ALLOW, DENY, PREFER), the index
#: switches (CACHE_DIR, NO_INDEX) and anything a later release adds.
VARIABLE_PREFIX = "SHIMTASK_"
CACHE_DIR_VARIABLE = "SHIMTASK_CACHE_DIR"


def isolated_environ(
    cache_dir: Path | str,
    *,
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) for a ``shimtask`` subprocess.

    Every ``SHIMTASK_*`` variable is dropped, the persisted index goes to
    ``cache_dir`` (never the user's), and ``extra`` is applied last.
    """
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(VARIABLE_PREFIX)}
    env[CACHE_DIR_VARIABLE] = str(cache_dir)
    env.update(extra or {})
    return env


def isolated_registry(*, path: list[str] | None = None) -> ExecutorRegistry:
    """A registry over the installed distributions that ignores the environment.

    No allow/deny/prefer policy (explicitly, so ``SHIMTASK_ALLOW`` & co. are not
    read), and the persisted index off, so the user's cache is neither read nor
    written. ``path`` replaces ``sys.path`` as the place to look (``[]``: only
    executors registered in-process).
    """
    from shimtask_core import ExecutorRegistry

    return ExecutorRegistry(allow=["*"], deny=[], prefer={}, path=path, index=False)
