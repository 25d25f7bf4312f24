"""Fixtures for every test in the repository: the core's (tests/) and each plugin's
(plugins/<dist>/tests/), so no test reads or writes the user's cache or policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
FLYTEKIT_PYTHON_VAR = "SHIMTASK_FLYTEKIT_PYTHON"
DEFAULT_FLYTEKIT_PYTHON = REPO / ".venv-flytekit" / "bin" / "python"

#: Variables that change what a registry sees; a developer's shell must not leak them in.
POLICY_VARIABLES = ("SHIMTASK_ALLOW", "SHIMTASK_DENY", "SHIMTASK_PREFER", "SHIMTASK_NO_INDEX")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the persisted index of every registry, in-process or in a `shimtask`
    subprocess that inherits the environment, out of the user's cache."""
    monkeypatch.setenv("SHIMTASK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    for name in POLICY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def flytekit_python() -> str:
    """The pinned flytekit environment's interpreter (flytekit never runs in ours).

    ``SHIMTASK_FLYTEKIT_PYTHON`` names it (``scripts/dev.py test`` sets it, so a missing one
    fails there); otherwise ``.venv-flytekit`` is used if present, else the test skips.
    """
    named = os.environ.get(FLYTEKIT_PYTHON_VAR)
    python = Path(named) if named else DEFAULT_FLYTEKIT_PYTHON
    if not python.exists():
        if named:
            pytest.fail(f"{FLYTEKIT_PYTHON_VAR}={named} does not exist")
        pytest.skip("no flytekit environment: python3 scripts/dev.py test creates .venv-flytekit")
    return str(python)
