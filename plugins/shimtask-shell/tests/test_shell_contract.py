"""The shell executor keeps the executor contract (shimtask_core.testing's suite),
run against the installed distribution and a real ``shimtask execute``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from shell_testlib import ECHO_ARGV, py, shell_template
from shimtask_core import File
from shimtask_core.testing import ExecutorContractSuite, FailingSample, Sample

HOSTILE = "a b; $(touch pwned) 'q' \"dq\""


def check_report(outputs: dict[str, Any]) -> None:
    assert outputs["report"].read_text() == "LINES: 2"
    assert outputs["lines"] == 2


class TestShellContract(ExecutorContractSuite):
    executor_type = "shell"
    distribution = "shimtask-shell"

    def samples(self, workdir: Path) -> list[Sample]:
        data = workdir / "data.txt"
        data.write_text("one\ntwo\n")
        count = """
            import sys
            n = len(open(sys.argv[1]).read().splitlines())
            open(sys.argv[2], "w").write(f"LINES: {n}")
            open(sys.argv[3], "w").write(f"{n}\\n")
        """
        return [
            Sample(shell_template(py(ECHO_ARGV, "{{ .inputs.x }}", "{{ .inputs.n }}"),
                                  inputs={"x": str, "n": int}, outputs={"argv": str},
                                  stdout="argv"),
                   {"x": HOSTILE, "n": 3}, expected={"argv": json.dumps([HOSTILE, "3"])},
                   id="whole-argument substitution"),
            Sample(shell_template(py(count, "{{ .inputs.data }}", "{{ .outputs.report }}",
                                     "{{ .outputs.lines }}"),
                                  inputs={"data": File}, outputs={"report": File, "lines": int}),
                   {"data": File(str(data))}, check=check_report, id="file in, file and int out"),
            Sample(shell_template(py("import os; print(os.environ['WHEN'])"),
                                  inputs={"when": dt.datetime}, outputs={"out": str},
                                  stdout="out", env={"WHEN": "{{ .inputs.when }}"}),
                   {"when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)},
                   expected={"out": "2024-01-02T03:04:05+00:00"}, id="environment value"),
        ]

    def failing_samples(self, workdir: Path) -> list[FailingSample]:
        return [
            *super().failing_samples(workdir),
            FailingSample(shell_template(py("import sys; sys.exit('no good')")),
                          code="ExecutorFailed", message="exited with status 1"),
            FailingSample(shell_template(py("import time; time.sleep(60)"), timeout=0.5),
                          code="ExecutorFailed", message="timed out after 0.5 s"),
            FailingSample(shell_template(py("pass", "{{ .outputs.f }}"), outputs={"f": File}),
                          code="ExecutorFailed", message="did not write a file"),
            FailingSample(shell_template(["echo", "n={{ .inputs.n }}"], inputs={"n": int}),
                          {"n": 1}, code="TemplateError", message="inside a longer string"),
        ]
