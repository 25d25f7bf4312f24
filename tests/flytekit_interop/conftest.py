"""The flytekit environment for the interop tests: one worker process per session.

flytekit runs in its own interpreter, never in ours: ``SHIMTASK_FLYTEKIT_PYTHON``
names it (default ``.venv-flytekit/bin/python`` in the repository, which the
CI script creates with ``flytekit==1.16.31``). Without it the tests are
skipped with the reason; a named interpreter that cannot run flytekit fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flytekit_interop.worker import FlytekitWorker

REPO = Path(__file__).resolve().parents[2]
ENV_VAR = "SHIMTASK_FLYTEKIT_PYTHON"
DEFAULT_PYTHON = REPO / ".venv-flytekit" / "bin" / "python"


@pytest.fixture(scope="session")
def flytekit_python() -> str:
    named = os.environ.get(ENV_VAR)
    python = Path(named) if named else DEFAULT_PYTHON
    if not python.exists():
        if named:
            pytest.fail(f"{ENV_VAR}={named} does not exist")
        pytest.skip(f"no flytekit environment: create {DEFAULT_PYTHON.parent.parent} "
                    f"(python -m venv .venv-flytekit && .venv-flytekit/bin/pip install "
                    f"flytekit==1.16.31 pandas pyarrow) or set {ENV_VAR}")
    return str(python)


@pytest.fixture(scope="session")
def flytekit(flytekit_python: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[FlytekitWorker]:
    worker = FlytekitWorker(flytekit_python, tmp_path_factory.mktemp("flytekit"))
    try:
        yield worker
    finally:
        worker.close()
