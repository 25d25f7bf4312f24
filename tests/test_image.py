"""The drop-in image, without a container engine: the Dockerfile's own install steps
(docker/install.sh) in a fresh venv, then flytekit-registered templates run through
`pyflyte-execute` exactly as their container args say, with the image's constraints:
a read-only install and cache (a read-only bind mount in a private mount namespace),
no HOME, and the plugin index built at install time."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "flytekit"


def _unshare_works() -> bool:
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    shutil.which("unshare") is None or not _unshare_works(),
    reason="needs unshare -m (root) to mount the install read-only")


class Image:
    """The installed image: its venv and its plugin index, both mounted read-only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.cache = root / "cache"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """What the Dockerfile's ENV sets, and no HOME."""
        env = {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "SHIMTASK_CACHE_DIR":
               str(self.cache), "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        env.update(extra or {})
        return env

    def run(self, args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """``args`` as a pod runs them, with the install mounted read-only."""
        script = ('mount --bind "$ROOT" "$ROOT" && mount -o remount,bind,ro "$ROOT" "$ROOT" '
                  '&& exec "$@"')
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "sh", *args], cwd=cwd, text=True,
            capture_output=True, timeout=120,
            env={**self.env(env), "ROOT": str(self.root)})


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    root = Path(tempfile.mkdtemp(prefix="shimtask-image-"))
    image = Image(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIMTASK_", "PYTHON"))}
    env.update(SHIMTASK_CACHE_DIR=str(image.cache), PYTHON=sys.executable)
    result = subprocess.run(["sh", str(REPO / "docker" / "install.sh"), str(REPO),
                             str(image.venv)], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "build_index: " in result.stdout
    yield image
    shutil.rmtree(root, ignore_errors=True)


def test_the_dockerfile_runs_the_tested_install_steps() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    run_lines = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    assert any("docker/install.sh" in line for line in run_lines)
    assert "\nUSER " in dockerfile  # not root
    assert "pip install" not in dockerfile  # every install step is in docker/install.sh


def _pod(tmp_path: Path) -> Path:
    """A pod's working directory: the template's relative database path resolves here."""
    workdir = tmp_path / "pod"
    (workdir / "examples" / "data").mkdir(parents=True)
    with sqlite3.connect(workdir / "examples" / "data" / "example.db") as conn:
        conn.execute("create table people (name text, age integer)")
        conn.executemany("insert into people values (?, ?)",
                         [("alice", 34), ("bob", 27), ("alice", 29), ("carol", 41)])
    conn.close()
    return workdir


def _container_args(template: Path, inputs: Path, out: Path) -> list[str]:
    """The template's own container args, with the placeholders propeller fills in."""
    serialized = json.loads((FIXTURES / "sqlite3_task.json").read_text())
    values = {"{{.input}}": str(inputs), "{{.outputPrefix}}": str(out),
              "{{.rawOutputDataPrefix}}": str(out / "raw"), "{{.taskTemplatePath}}": str(template)}
    return [values.get(arg, arg) for arg in serialized["container"]["args"]]


def test_a_flytekit_registered_template_runs_through_pyflyte_execute(
    image: Image, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    workdir = _pod(tmp_path)
    out = tmp_path / "out"
    args = _container_args(FIXTURES / "sqlite3_task.pb", FIXTURES / "inputs.pb", out)
    assert args[0] == "pyflyte-execute"
    index_files = sorted(image.cache.glob("index-*.json"))
    assert len(index_files) == 1
    before = index_files[0].stat().st_mtime_ns

    result = image.run(args, cwd=workdir, env={"SHIMTASK_LOG_LEVEL": "INFO"})
    assert result.returncode == 0, result.stderr
    assert not (out / "error.pb").exists()
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString((out / "outputs.pb").read_bytes())
    (literal,) = lm.literals.values()
    dataset = literal.scalar.structured_dataset
    assert pq.read_table(dataset.uri).to_pylist() == [{"name": "alice", "age": 34}]

    (resolved,) = [line for line in result.stderr.splitlines() if "phase=resolved" in line]
    assert "dist=shimtask-sqlite3" in resolved
    assert "index=fresh" in resolved  # from the index built at install: nothing scanned
    assert index_files[0].stat().st_mtime_ns == before


def test_an_executor_failure_is_error_pb_and_exit_0_as_with_flytekit(
    image: Image, tmp_path: Path
) -> None:
    workdir = tmp_path / "empty-pod"  # no database here
    workdir.mkdir()
    out = tmp_path / "out"
    args = _container_args(FIXTURES / "sqlite3_task.pb", FIXTURES / "inputs.pb", out)
    result = image.run(args, cwd=workdir)
    assert result.returncode == 0, result.stderr  # flytekit's pyflyte-execute: Flyte reads error.pb
    assert not (out / "outputs.pb").exists()
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((out / "error.pb").read_bytes())
    assert doc.error.code == "ExecutorFailed"
    assert doc.error.origin == execution_pb2.ExecutionError.USER
    assert "examples/data/example.db" in doc.error.message
    assert "Traceback" not in result.stderr


def test_shimtask_execute_and_the_plugins_in_the_image(image: Image, tmp_path: Path) -> None:
    listing = image.run(["shimtask", "plugins", "list", "--json"], cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    executors = {entry["name"]: entry["dist"] for entry in json.loads(listing.stdout)}
    expected = {p.name for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    assert set(executors.values()) == expected - {"shimtask-pyflyte-execute"}
    assert executors["sqlite"] == "shimtask-sqlite3"
    state = image.run(["shimtask", "plugins", "index", "--json"], cwd=tmp_path)
    assert json.loads(state.stdout)["status"] == "fresh"

    workdir = _pod(tmp_path)
    out = tmp_path / "out"
    result = image.run(["shimtask", "execute", "--inputs", str(FIXTURES / "inputs.pb"),
                        "--output-prefix", str(out), "--template",
                        str(FIXTURES / "sqlite3_task.pb")], cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (out / "outputs.pb").exists()


def test_a_python_function_task_gets_a_clear_error(image: Image, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = image.run(["pyflyte-execute", "--inputs", str(tmp_path / "inputs.pb"),
                        "--output-prefix", str(out), "--raw-output-data-prefix",
                        str(tmp_path / "raw"), "--resolver",
                        "flytekit.core.python_auto_container.default_task_resolver", "--",
                        "task-module", "app.workflows", "task-name", "hello"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((out / "error.pb").read_bytes())
    assert doc.error.code == "TemplateError"
    assert "keep a flytekit image for this task" in doc.error.message
