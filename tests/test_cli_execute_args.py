"""`shimtask execute`'s arguments are parsed without argparse on a pod's start: the
fast parser must read Flyte's and flytekit's forms exactly as argparse does, and
hand everything else to argparse."""

from __future__ import annotations

import pytest

from shimtask_core import cli

FLYTEKIT = ["execute", "--inputs", "s3://b/in/inputs.pb", "--output-prefix", "s3://b/out",
            "--raw-output-data-prefix", "s3://b/raw", "--checkpoint-path", "s3://b/ck",
            "--prev-checkpoint", '""', "--resolver",
            "flytekit.core.python_customized_container_task.default_task_template_resolver",
            "--", "s3://b/task.pb", "flytekit.extras.sqlite3.task.SQLite3TaskExecutor"]


@pytest.mark.parametrize("argv", [
    FLYTEKIT,
    ["--debug", *FLYTEKIT],
    ["execute", "--inputs=i.pb", "--output-prefix=out", "--template", "t.pb", "-v"],
    ["execute", "--test", "--exit-zero-on-error", "--inputs", "i", "--output-prefix", "o",
     "--dynamic-addl-distro", "d", "--dynamic-dest-dir", "x", "t.pb"],
    ["execute", "--inputs", "i", "--output-prefix", "o", "--prev-checkpoint", "", "--", "t"],
])
def test_the_fast_parser_reads_what_argparse_reads(argv: list[str]) -> None:
    fast = cli._execute_args(argv)
    assert fast is not None
    assert vars(fast) == vars(cli._build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", [
    ["execute", "--help"],
    ["execute", "--inputs", "i"],                       # --output-prefix missing
    ["execute", "--inp", "i", "--output-prefix", "o"],  # an abbreviation: argparse's call
    ["execute", "--inputs", "--output-prefix", "o"],    # a value missing
    ["execute", "--inputs", "i", "--output-prefix", "o", "--bogus"],
    ["run", "t.json"],
    ["plugins", "list"],
])
def test_anything_else_goes_to_argparse(argv: list[str]) -> None:
    assert cli._execute_args(argv) is None
