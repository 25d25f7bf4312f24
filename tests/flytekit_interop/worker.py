"""The client side of ``fk_worker.py``: one flytekit process answering batched requests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("fk_worker.py")


class FlytekitWorker:
    """A flytekit process answering batched requests (see fk_worker.py)."""

    def __init__(self, python: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["FLYTE_SDK_LOGGING_LEVEL"] = "40"
        self._log = cwd / "fk_worker.log"  # a file, not a pipe nobody reads (that could block)
        with open(self._log, "w") as log:
            self._proc = subprocess.Popen(
                [python, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, text=True, cwd=cwd, env=env,
            )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the flytekit worker ({python}) did not start: "
                               f"{self._log.read_text()}")
        hello = json.loads(line)
        self.version: str = hello["flytekit"]

    def request(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch of ``{"op": ..., ...}`` items; answers come back in order."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"items": items}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the flytekit worker died: {self._log.read_text()[-2000:]}")
        answers: list[dict[str, Any]] = json.loads(line)["items"]
        return answers

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
