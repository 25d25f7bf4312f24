"""The plugin-author kit: a pytest plugin (entry point ``pytest11``) and a contract suite.

Loaded by every pytest run in an environment where shimtask-core is
installed, so loading it costs nothing: this module defines fixtures only,
and everything they use (flyteidl, the codec, the registry) is imported when a
test asks for it. The kit's classes and functions are importable from here
and load on first use.

Fixtures (each private to one test):

``shimtask_env``
    The test runs without any ``SHIMTASK_*`` variable and with a private index
    cache; the value is the environment for a ``shimtask`` subprocess.
``shimtask_registry``
    An isolated :class:`~shimtask_core.ExecutorRegistry` over the installed
    distributions: no policy, the persisted index off.
``shimtask_template``
    :func:`shimtask_core.make_template`: a template from Python types.
``shimtask_literals``
    :func:`~shimtask_core.testing.literal_map`: a template's inputs (or outputs)
    as a LiteralMap from Python values.
``shimtask_run``
    :func:`~shimtask_core.testing.run_container` in the test's temporary
    directory and isolated environment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from shimtask_core import ExecutorRegistry

    from .container import (
        ContainerError,
        ContainerResult,
        ContractViolation,
        run_container,
        shimtask_command,
    )
    from .contract import ExecutorContractSuite, FailingSample, Sample
    from .environment import isolated_environ, isolated_registry
    from .signals import signal_thread, threads_of
    from .values import decode_inputs, decode_outputs, literal_map, wrong_literal

__all__ = [
    "ContainerError",
    "ContainerResult",
    "ContractViolation",
    "ExecutorContractSuite",
    "FailingSample",
    "Sample",
    "decode_inputs",
    "decode_outputs",
    "isolated_environ",
    "isolated_registry",
    "literal_map",
    "run_container",
    "shimtask_command",
    "signal_thread",
    "threads_of",
    "wrong_literal",
]

#: public name -> the module of this package that defines it, loaded on first use
_LAZY = {
    "ContainerError": "container",
    "ContainerResult": "container",
    "ContractViolation": "container",
    "run_container": "container",
    "shimtask_command": "container",
    "ExecutorContractSuite": "contract",
    "FailingSample": "contract",
    "Sample": "contract",
    "isolated_environ": "environment",
    "isolated_registry": "environment",
    "signal_thread": "signals",
    "threads_of": "signals",
    "decode_inputs": "values",
    "decode_outputs": "values",
    "literal_map": "values",
    "wrong_literal": "values",
}

# No __dir__: pytest registers this module as a plugin by getting every name dir()
# lists, which would load the whole kit in every pytest run.
__getattr__ = lazy_getattr(__name__, _LAZY, globals())


@pytest.fixture
def shimtask_env(tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No ``SHIMTASK_*`` variable for this test, the index in a private cache directory;
    returns the matching environment for subprocesses."""
    import os

    from .environment import CACHE_DIR_VARIABLE, VARIABLE_PREFIX, isolated_environ

    cache = tmp_path_factory.mktemp("shimtask-cache")
    for name in [n for n in os.environ if n.startswith(VARIABLE_PREFIX)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(cache))
    return isolated_environ(cache)


@pytest.fixture
def shimtask_registry(shimtask_env: dict[str, str]) -> ExecutorRegistry:
    """An isolated registry over the installed distributions, private to one test."""
    from .environment import isolated_registry

    return isolated_registry()


@pytest.fixture
def shimtask_template() -> Callable[..., Any]:
    """``make_template(name, executor_type, inputs=..., outputs=..., custom=...)``."""
    from shimtask_core import make_template

    return make_template


@pytest.fixture
def shimtask_literals() -> Callable[..., Any]:
    """``literal_map(tt, values=None, *, outputs=False, **kwargs)``: a LiteralMap."""
    from .values import literal_map

    return literal_map


@pytest.fixture
def shimtask_run(tmp_path: Path, shimtask_env: dict[str, str],
                 shimtask_registry: ExecutorRegistry) -> Callable[..., ContainerResult]:
    """``run(tt, inputs=None, *, in_process=False, ...)``: the container contract in this
    test's temporary directory; returns the decoded outputs or ``error.pb``."""
    from .container import run_container

    def run(tt: Any, inputs: Any = None, **kwargs: Any) -> ContainerResult:
        kwargs.setdefault("workdir", tmp_path / "shimtask-runs")
        kwargs.setdefault("registry", shimtask_registry)
        return run_container(tt, inputs, **kwargs)

    return run
