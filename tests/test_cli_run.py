"""`shimtask run` and the CLI's error behaviour, as a user sees it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pluginenv import PluginVenv
from shimtask_core import make_template, template_to_json


@pytest.fixture
def echo_json(tmp_path: Path) -> Path:
    tt = make_template(
        "echo", "echo",
        inputs={"n": int, "ratio": float, "name": str, "flag": bool, "when": dt.datetime,
                "wait": dt.timedelta, "xs": list[int], "meta": dict},
        outputs={"n": int, "ratio": float, "name": str, "flag": bool, "when": dt.datetime,
                 "wait": dt.timedelta, "xs": list[int], "meta": dict},
    )
    path = tmp_path / "echo.json"
    path.write_text(template_to_json(tt))
    return path


ARGS = ["-i", "n=7", "-i", "ratio=0.5", "-i", "name=7", "-i", "flag=true",
        "-i", "when=2024-05-06T07:08:09Z", "-i", "wait=1h30m", "-i", "xs=[1, 2, 3]",
        "-i", 'meta={"k": [1, {"z": null}]}']


def test_run_reads_inputs_by_declared_type_and_prints_json(
    venv: PluginVenv, echo_json: Path
) -> None:
    result = venv.shimtask("run", str(echo_json), *ARGS, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "n": 7, "ratio": 0.5, "name": "7", "flag": True, "when": "2024-05-06T07:08:09+00:00",
        "wait": 5400.0, "xs": [1, 2, 3], "meta": {"k": [1, {"z": None}]},
    }


def test_run_reads_a_protobuf_template_and_inputs_json(
    venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("stats", "stats", inputs={"xs": list[int]},
                       outputs={"count": int, "label": str, "mean": float, "biggest": int,
                                "seen_at": dt.datetime}, custom={"scale": 1})
    template = tmp_path / "stats.pb"
    template.write_bytes(tt.SerializeToString())
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"xs": [2, 4]}))
    result = venv.shimtask("run", str(template), "--inputs-json", str(inputs))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "biggest: 4", "count: 2", 'label: "2 values"', "mean: 3.0",
        'seen_at: "2024-01-02T03:04:05+00:00"',
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "n=seven"], "input 'n' (int): cannot read 'seven'"),
        (["-i", "nope=1"], "the template has no input 'nope'"),
        (["-i", "n"], "expected NAME=VALUE"),
        (["-i", "xs=[1, 2.5]"], "input 'xs[1]': expected int, got float 2.5"),
    ],
)
def test_user_errors_are_one_line_without_traceback(
    venv: PluginVenv, echo_json: Path, args: list[str], message: str
) -> None:
    result = venv.shimtask("run", str(echo_json), *ARGS, *args)
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shimtask: error: "), result.stderr
    assert message in lines[0]


def test_debug_shows_the_traceback(venv: PluginVenv, echo_json: Path) -> None:
    result = venv.shimtask("--debug", "run", str(echo_json), *ARGS, "-i", "n=seven")
    assert "Traceback" in result.stderr
    assert result.returncode == 2


def test_missing_template_file(venv: PluginVenv, tmp_path: Path) -> None:
    result = venv.shimtask("run", str(tmp_path / "absent.json"))
    assert result.returncode == 1
    assert "absent.json" in result.stderr and "Traceback" not in result.stderr


def test_executor_failure_in_run_names_the_executor(venv: PluginVenv, tmp_path: Path) -> None:
    template = tmp_path / "raiser.json"
    template.write_text(template_to_json(make_template("r", "raiser", inputs={"why": str})))
    result = venv.shimtask("run", str(template), "-i", "why=testing")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "shimtask: error: executor 'raiser' failed: ValueError: boom from the executor: testing")


def test_help_lists_the_commands(venv: PluginVenv) -> None:
    result = venv.shimtask("--help")
    assert result.returncode == 0
    for command in ("execute", "run", "plugins"):
        assert command in result.stdout
    assert "--output-prefix" in venv.shimtask("execute", "--help").stdout
