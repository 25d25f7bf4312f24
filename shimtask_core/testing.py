"""pytest plugin for executor authors (entry point ``pytest11``).

Fixtures that give each test a fresh registry and a way to build templates;
the full contract test kit builds on these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .registry import ExecutorRegistry
from .template import make_template


@pytest.fixture
def shimtask_registry() -> ExecutorRegistry:
    """A registry over the installed distributions, private to one test."""
    return ExecutorRegistry()


@pytest.fixture
def shimtask_template() -> Callable[..., Any]:
    """``make_template`` (name, executor_type, inputs=..., outputs=..., custom=...)."""
    return make_template
