"""`shimtask execute --verbose` / SHIMTASK_LOG_LEVEL: one structured line per phase on
stderr; nothing at all by default, and `logging` not even imported."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginenv import PluginVenv

WriteTask = Callable[..., tuple[Path, Path]]


def _fields(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line)}


def _run(venv: PluginVenv, template: Path, inputs: Path, out: Path, *extra: str,
         env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    result = venv.shimtask("execute", *extra, "--inputs", str(inputs), "--output-prefix",
                           str(out), "--raw-output-data-prefix", str(out / "raw"), "--",
                           str(template), env=env)
    return result.returncode, result.stderr.splitlines()


@pytest.mark.parametrize("how", ["--verbose", "env"])
def test_one_line_per_phase(venv: PluginVenv, write_task: WriteTask, tmp_path: Path,
                            how: str) -> None:
    template, inputs = write_task("stats", "stats", inputs={"xs": [1, 2, 3]},
                                  input_types={"xs": list[int]},
                                  outputs={"count": int, "mean": float, "label": str,
                                           "biggest": int, "seen_at": str})
    out = tmp_path / "out"
    if how == "--verbose":
        status, lines = _run(venv, template, inputs, out, "--verbose")
    else:
        status, lines = _run(venv, template, inputs, out, env={"SHIMTASK_LOG_LEVEL": "info"})
    assert status == 1  # seen_at is declared str, the executor returns a datetime
    phases = [_fields(line) for line in lines if line.startswith("shimtask phase=")]
    assert [p["phase"] for p in phases] == ["template", "resolved", "inputs", "wrote"]
    template_line, resolved, read, wrote = phases
    assert template_line["uri"] == str(template)
    assert template_line["type"] == "stats"
    assert (resolved["executor"], resolved["dist"], resolved["version"]) == (
        "stats", "shimtask-test-good", "1.0.0")
    assert resolved["cls"] == "shimtask_test_good.Stats"
    assert (read["uri"], read["count"]) == (str(inputs), "1")
    assert int(read["bytes"]) > 0
    assert wrote["uri"] == f"{out}/error.pb"
    assert wrote["code"] == "ValueTypeError"
    assert int(wrote["bytes"]) == (out / "error.pb").stat().st_size


def test_a_successful_run_logs_duration_and_what_was_written(
    venv: PluginVenv, write_task: WriteTask, tmp_path: Path
) -> None:
    template, inputs = write_task("echo", "echo", inputs={"x": "hello"}, input_types={"x": str},
                                  outputs={"x": str})
    out = tmp_path / "out"
    status, lines = _run(venv, template, inputs, out, "-v")
    assert status == 0, lines
    assert len(lines) == 5, lines
    executed, wrote = (_fields(line) for line in lines[-2:])
    assert executed["phase"] == "executed" and float(executed["ms"]) >= 0
    assert executed["outputs"] == "1"
    assert wrote["phase"] == "wrote"
    assert wrote["uri"] == f"{out}/outputs.pb"
    assert int(wrote["bytes"]) == (out / "outputs.pb").stat().st_size
    assert wrote["raw_output_prefix"] == str(out / "raw")
    assert "hello" not in "\n".join(lines)  # values never reach the log


@pytest.fixture(scope="module")
def unhooked(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> PluginVenv:
    """The test executors without the wrapper plugin (which brings pluggy, and inspect)."""
    env = PluginVenv(tmp_path_factory.mktemp("unhooked") / "env")
    env.install(wheels["good"])
    return env


def test_quiet_by_default_and_nothing_unneeded_is_imported(
    unhooked: PluginVenv, write_task: WriteTask, tmp_path: Path
) -> None:
    venv = unhooked
    template, inputs = write_task("echo", "echo", inputs={"x": "hello"}, input_types={"x": str},
                                  outputs={"x": str})
    out = tmp_path / "out"
    status, lines = _run(venv, template, inputs, out)
    assert (status, lines) == (0, [])
    code = textwrap.dedent(f"""
        import sys
        from shimtask_core.cli import main
        status = main(["execute", "--inputs", {str(inputs)!r}, "--output-prefix",
                       {str(tmp_path / 'again')!r}, "--", {str(template)!r}])
        print(status, *(m for m in ("logging", "argparse", "dataclasses", "inspect",
                                      "traceback") if m in sys.modules))
    """)
    result = venv.python_code(code)
    # nothing a quiet, successful execute does not need: cold start is a feature
    assert result.stdout.split() == ["0"], result.stderr
