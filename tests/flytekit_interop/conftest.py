"""The flytekit environment for the interop tests: one worker process per session.

flytekit runs in its own interpreter, never in ours: ``SHIMTASK_FLYTEKIT_PYTHON``
names it (default ``.venv-flytekit/bin/python`` in the repository, which the
CI script creates with ``flytekit==1.16.31``). Without it the tests are
skipped with the reason; a named interpreter that cannot run flytekit fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("fk_worker.py")
ENV_VAR = "SHIMTASK_FLYTEKIT_PYTHON"
DEFAULT_PYTHON = REPO / ".venv-flytekit" / "bin" / "python"


class FlytekitWorker:
    """A flytekit process answering batched requests (see fk_worker.py)."""

    def __init__(self, python: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["FLYTE_SDK_LOGGING_LEVEL"] = "40"
        self._proc = subprocess.Popen(
            [python, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the flytekit worker ({python}) did not start: "
                               f"{self._proc.stderr.read() if self._proc.stderr else ''}")
        hello = json.loads(line)
        self.version: str = hello["flytekit"]

    def request(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch of ``{"op": ..., ...}`` items; answers come back in order."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"items": items}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the flytekit worker died")
        answers: list[dict[str, Any]] = json.loads(line)["items"]
        return answers

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


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
