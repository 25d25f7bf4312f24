"""The flytekit environment for the interop tests: one worker process per session.

flytekit runs in its own interpreter, never in ours: ``SHIMTASK_FLYTEKIT_PYTHON``
names it (default ``.venv-flytekit/bin/python`` in the repository, which the
CI script creates with ``flytekit==1.16.31``). Without it the tests are
skipped with the reason; a named interpreter that cannot run flytekit fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flytekit_interop.worker import FlytekitWorker


@pytest.fixture(scope="session")
def flytekit(flytekit_python: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[FlytekitWorker]:
    worker = FlytekitWorker(flytekit_python, tmp_path_factory.mktemp("flytekit"))
    try:
        yield worker
    finally:
        worker.close()
