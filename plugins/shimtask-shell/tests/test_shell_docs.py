"""The shell plugin's docs page: its example runs as printed, its JSON is what the
executor accepts."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from shell_testlib import SHIMTASK
from shimtask_core import Directory, File, make_template
from shimtask_shell import ShellExecutor

PAGE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "shell.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.DOTALL)


def test_the_python_example_runs_and_saves_a_template_the_cli_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    (example,) = blocks("python")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, str(PAGE), "exec"), {})
    assert printed.getvalue() == "alice\nbob\n"
    (command,) = [line for b in blocks("bash") for line in b.splitlines()
                  if line.startswith("shimtask run")]
    done = subprocess.run([str(SHIMTASK), *command.split()[1:], "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    sorted_uri = json.loads(done.stdout)["sorted"]
    assert Path(sorted_uri.removeprefix("file://")).read_text() == "alice\nbob\n"


def custom_block(index: int) -> dict[str, object]:
    custom = json.loads(blocks("json")[index])
    assert custom.pop("executor_type") == "shell"
    return dict(custom)


def test_the_tar_example_packs_the_directory(tmp_path: Path) -> None:
    import tarfile

    tt = make_template("pack", "shell", inputs={"folder": Directory},
                       outputs={"archive": File}, custom=custom_block(0))
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    (tmp_path / "folder" / "sub" / "a.txt").write_text("A")
    archive = ShellExecutor().execute_from_model(
        tt, folder=Directory(str(tmp_path / "folder")))["archive"]
    with tarfile.open(archive.path) as tar:
        assert tar.extractfile("./sub/a.txt").read() == b"A"  # type: ignore[union-attr]


def test_the_sha256sum_example_captures_stdout(tmp_path: Path) -> None:
    import hashlib

    tt = make_template("digest", "shell", inputs={"data": File}, outputs={"digest": str},
                       custom=custom_block(1))
    data = tmp_path / "data.bin"
    data.write_bytes(b"shimtask")
    digest = ShellExecutor().execute_from_model(tt, data=File(str(data)))["digest"]
    assert digest == f"{hashlib.sha256(b'shimtask').hexdigest()}  {data}"
