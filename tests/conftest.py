"""Shared fixtures: real plugin wheels, a venv that has them pip-installed, an S3 server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pluginenv import PluginVenv, build_wheel
from shimtask_core import ExecutorRegistry, make_template
from shimtask_core.literals import InterfaceCodec

GOOD = '''
import datetime
from shimtask_core import ShimTaskExecutor, custom_of


class Echo(ShimTaskExecutor):
    """Returns its inputs as outputs of the same names."""

    def execute_from_model(self, tt, **inputs):
        return dict(inputs)


class Stats(ShimTaskExecutor):
    """Several outputs of different types: a swap by map order would be caught."""

    def execute_from_model(self, tt, **inputs):
        xs = inputs["xs"]
        scale = custom_of(tt).get("scale", 1)
        return {
            "count": len(xs),
            "mean": sum(xs) / len(xs) * scale if xs else 0.0,
            "label": f"{len(xs)} values",
            "biggest": max(xs) if xs else None,
            "seen_at": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        }


class Positional(ShimTaskExecutor):
    """flytekit-style positional outputs o0, o1, o2."""

    def execute_from_model(self, tt, **inputs):
        return inputs["a"], str(inputs["a"]), float(inputs["a"]) / 2


class Raiser(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise ValueError("boom from the executor: " + inputs.get("why", "no reason"))


class TryAgain(Exception):
    recoverable = True  # Flyte may retry this one


class Flaky(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise TryAgain("the warehouse is busy")


class WrongType(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return custom_of(tt)["value"]


class NotAnExecutor:
    pass
'''

MARKER = '''
import os
from shimtask_core import ShimTaskExecutor

with open(os.environ["SHIMTASK_TEST_MARKER"], "a") as fh:
    fh.write("imported shimtask_test_marker\\n")


class Marker(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return "marker ran"
'''

BROKEN = '''
raise RuntimeError("this plugin is broken at import time")
'''

WRAPPER = '''
import json
import os
from shimtask_core import hookimpl


@hookimpl(wrapper=True)
def execute_from_model(tt, inputs):
    record = {"task": tt.id.name, "inputs": sorted(inputs)}
    try:
        result = yield
    except Exception as exc:
        record["error"] = type(exc).__name__
        raise
    finally:
        path = os.environ.get("SHIMTASK_TEST_WRAPPER_LOG")
        if path:
            with open(path, "a") as fh:
                fh.write(json.dumps(record) + "\\n")
    return result
'''


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels of the test plugins, built once per session."""
    out = tmp_path_factory.mktemp("wheels")
    return {
        "good": build_wheel(
            out, "shimtask-test-good", modules={"shimtask_test_good.py": GOOD},
            executors={
                "echo": "shimtask_test_good:Echo",
                "stats": "shimtask_test_good:Stats",
                "positional": "shimtask_test_good:Positional",
                "raiser": "shimtask_test_good:Raiser",
                "flaky": "shimtask_test_good:Flaky",
                "wrongtype": "shimtask_test_good:WrongType",
                "notanexecutor": "shimtask_test_good:NotAnExecutor",
                "missingattr": "shimtask_test_good:DoesNotExist",
            },
        ),
        "marker": build_wheel(
            out, "shimtask-test-marker", modules={"shimtask_test_marker.py": MARKER},
            executors={"marker": "shimtask_test_marker:Marker"},
        ),
        "broken": build_wheel(
            out, "shimtask-test-broken", modules={"shimtask_test_broken.py": BROKEN},
            executors={"broken": "shimtask_test_broken:Anything"},
        ),
        "wrapper": build_wheel(
            out, "shimtask-test-wrapper", modules={"shimtask_test_wrapper.py": WRAPPER},
            plugins={"recorder": "shimtask_test_wrapper"},
        ),
    }


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> PluginVenv:
    """A venv with the good, marker, broken and wrapper plugins installed by pip."""
    env = PluginVenv(tmp_path_factory.mktemp("venv") / "env")
    env.install(*wheels.values())
    return env


@pytest.fixture
def marker_file(tmp_path: Path) -> Path:
    return tmp_path / "marker.log"


@pytest.fixture
def registry() -> ExecutorRegistry:
    """An in-process registry whose discovery sees no installed plugin."""
    return ExecutorRegistry(path=[])


@pytest.fixture
def write_task(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Write a template (.pb) and its inputs.pb; returns both paths."""

    def write(name: str, executor: str, inputs: dict[str, Any] | None = None,
              input_types: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None,
              custom: dict[str, Any] | None = None) -> tuple[Path, Path]:
        tt = make_template(name, executor, inputs=input_types or {}, outputs=outputs or {},
                           custom=custom)
        template = tmp_path / f"{name}.pb"
        template.write_bytes(tt.SerializeToString())
        literal_inputs = InterfaceCodec(tt.interface).encode_inputs(inputs or {})
        inputs_path = tmp_path / f"{name}-inputs.pb"
        inputs_path.write_bytes(literal_inputs.SerializeToString())
        return template, inputs_path

    return write


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "out"
    out.mkdir()
    yield out


# --- S3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3() -> Iterator[Any]:
    """One moto S3 server on 127.0.0.1 for the session; each test makes its own buckets."""
    pytest.importorskip("s3fs")
    from s3server import running_s3

    with running_s3() as server:
        yield server


@pytest.fixture
def pod_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a pod, for subprocesses: none of this machine's AWS, Flyte or
    fsspec configuration (removed from this process too, so nothing inherits it), a HOME
    of its own, and no instance-metadata probe for credentials."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "FLYTE_", "FSSPEC_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}
