"""Fixtures of the shell executor's tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shell_testlib import kill_leftovers


@pytest.fixture
def pids(tmp_path: Path) -> Iterator[Path]:
    """Where a SPAWN_AND_SLEEP command writes its pids; whatever it left running is
    killed afterwards, so a failing test does not leave sleepers behind."""
    path = tmp_path / "pids"
    yield path
    kill_leftovers(path)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Subprocesses a test starts; any still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
