"""docs/flyte-cluster.md: its template-building and flytectl snippets run, and the
container args it shows are the ones the template carries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flyteidl.admin import task_pb2

PAGE = Path(__file__).resolve().parent.parent / "docs" / "flyte-cluster.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_documented_template_carries_the_documented_args(tmp_path: Path,
                                                             monkeypatch: Any) -> None:
    make, *_ = (b for b in _blocks("python") if "make_template(" in b)
    namespace: dict[str, Any] = {}
    exec(make, namespace)  # the page's own example
    tt = namespace["tt"]
    assert tt.container.image == "registry.example.com/shimtask:0.1.0"
    shown = next(b for b in _blocks("text") if b.startswith("shimtask execute"))
    assert list(tt.container.args) == shown.split()

    flytectl = next(b for b in _blocks("python") if "task_pb2.TaskSpec" in b)
    monkeypatch.chdir(tmp_path)
    exec(flytectl, namespace)
    spec = task_pb2.TaskSpec()
    spec.ParseFromString((tmp_path / "0_people_by_name_1.pb").read_bytes())
    assert spec.template == tt
