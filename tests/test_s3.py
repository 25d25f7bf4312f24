"""`shimtask execute` against a real S3 server (moto, 127.0.0.1), through s3fs.

Everything a Flyte pod touches is in the bucket: the template, inputs.pb,
outputs.pb or error.pb, and the raw output data (a parquet dataset, a file and
a directory big enough to be uploaded in several parts). The pod's storage
configuration comes from its environment only, as Flyte sets it.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2, types_pb2
from s3server import S3Server, running_s3

from pluginenv import PluginVenv, build_wheel, repo_plugin_wheel
from shimtask_core import Directory, File, make_template
from shimtask_core.errors import EXIT_UNWRITTEN
from shimtask_core.literals import InterfaceCodec, LiteralType

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "flytekit"
BIG = 100 * 2**20 + 1024  # s3fs puts a file in parts from twice its 50 MiB part size

BLOBS = '''
import hashlib
import os
import random
import tempfile

from shimtask_core import Directory, File, ShimTaskExecutor


def payload(size):
    return random.Random(size).randbytes(size)


class Blobs(ShimTaskExecutor):
    """Reads a file and a directory input, writes a file, a directory and a table."""

    def execute_from_model(self, tt, **inputs):
        doc, folder, size = inputs["doc"], inputs["folder"], inputs["size"]
        work = tempfile.mkdtemp()
        big = os.path.join(work, "big.bin")
        with open(big, "wb") as fh:
            fh.write(payload(size))
        tree = os.path.join(work, "tree")
        os.makedirs(os.path.join(tree, "sub"))
        with open(os.path.join(tree, "a.txt"), "w") as fh:
            fh.write("alpha")
        with open(os.path.join(tree, "sub", "b.txt"), "w") as fh:
            fh.write("beta")
        names = folder.listdir()
        rows = [{"name": name, "size": os.path.getsize(os.path.join(folder.path, name))}
                for name in names]
        return {
            "digest": hashlib.sha256(doc.read_bytes()).hexdigest(),
            "copy": File(big),
            "tree": Directory(tree),
            "table": rows,
        }


class Fails(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise RuntimeError("no luck with " + inputs["doc"].uri)
'''

TABLE = LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType(format="parquet"))
BLOBS_INPUTS = {"doc": File, "folder": Directory, "size": int}
BLOBS_OUTPUTS = {"digest": str, "copy": File, "tree": Directory, "table": TABLE}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture(scope="module")
def s3venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    """A venv with s3fs (and its stack), the sqlite3 plugin and the blob executors."""
    root = tmp_path_factory.mktemp("s3venv")
    env = PluginVenv(root / "env")
    env.link_distributions("s3fs")
    env.install(
        repo_plugin_wheel(root / "wheels", "shimtask-sqlite3"),
        build_wheel(root / "blobs", "shimtask-test-blobs",
                    modules={"shimtask_test_blobs.py": BLOBS},
                    executors={"blobs": "shimtask_test_blobs:Blobs",
                               "fails": "shimtask_test_blobs:Fails"}),
    )
    return env


@pytest.fixture
def pod_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No AWS configuration from this machine leaks into the subprocesses."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "FLYTE_", "FSSPEC_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


def _execute(venv: PluginVenv, prefix: str, env: dict[str, str], *extra: str,
             template: str | None = None, cwd: Path | None = None) -> Any:
    return venv.shimtask(
        "execute", "--inputs", f"{prefix}/inputs.pb", "--output-prefix", f"{prefix}/out",
        "--raw-output-data-prefix", f"{prefix}/raw", *extra, "--",
        template or f"{prefix}/task.pb", env=env, cwd=cwd)


def _literals(data: bytes) -> literals_pb2.LiteralMap:
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString(data)
    return lm


def _error(data: bytes) -> errors_pb2.ContainerError:
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString(data)
    return doc.error


def _put_task(fs: Any, prefix: str, tt: Any, inputs: dict[str, Any]) -> None:
    fs.pipe(f"{prefix}/task.pb", tt.SerializeToString())
    literal_inputs = InterfaceCodec(tt.interface).encode_inputs(inputs)
    fs.pipe(f"{prefix}/inputs.pb", literal_inputs.SerializeToString())


def test_flytekit_sqlite_template_through_s3_with_flyte_variables(
    s3: S3Server, s3venv: PluginVenv, pod_env: dict[str, str], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    fs = s3.filesystem()
    prefix = f"s3://{s3.new_bucket()}/metadata/propeller/n0"
    fs.pipe(f"{prefix}/task.pb", (FIXTURES / "sqlite3_task.pb").read_bytes())
    fs.pipe(f"{prefix}/inputs.pb", (FIXTURES / "inputs.pb").read_bytes())
    workdir = tmp_path / "pod"
    (workdir / "examples" / "data").mkdir(parents=True)
    _people_db(workdir / "examples" / "data" / "example.db")

    result = _execute(s3venv, prefix, {**pod_env, **s3.flyte_env()}, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert not fs.exists(f"{prefix}/out/error.pb")
    outputs = _literals(fs.cat(f"{prefix}/out/outputs.pb"))
    (name,) = outputs.literals
    dataset = outputs.literals[name].scalar.structured_dataset
    assert dataset.uri.startswith(f"{prefix}/raw/")
    assert dataset.metadata.structured_dataset_type.format == "parquet"
    with fs.open(f"{dataset.uri.removeprefix('s3://')}/00000", "rb") as fh:
        rows = pq.read_table(fh).to_pylist()
    assert rows == [{"name": "alice", "age": 34}]


def test_files_directories_and_datasets_round_trip_through_s3(
    s3: S3Server, s3venv: PluginVenv, pod_env: dict[str, str]
) -> None:
    import pyarrow.parquet as pq

    fs = s3.filesystem()
    bucket = s3.new_bucket()
    prefix = f"s3://{bucket}/metadata/n1"
    doc = os.urandom(300_000)
    fs.pipe(f"{bucket}/data/doc.bin", doc)
    fs.pipe(f"{bucket}/data/folder/x.csv", b"1,2\n")
    fs.pipe(f"{bucket}/data/folder/deep/y.json", b"{}" * 100)
    tt = make_template("blobs", "blobs", inputs=BLOBS_INPUTS, outputs=BLOBS_OUTPUTS)
    _put_task(fs, prefix, tt, {"doc": File(f"s3://{bucket}/data/doc.bin"),
                               "folder": Directory(f"s3://{bucket}/data/folder"), "size": BIG})

    result = _execute(s3venv, prefix, {**pod_env, **s3.flyte_env()})
    assert result.returncode == 0, result.stderr
    out = _literals(fs.cat(f"{prefix}/out/outputs.pb")).literals
    assert out["digest"].scalar.primitive.string_value == hashlib.sha256(doc).hexdigest()

    expected = random.Random(BIG).randbytes(BIG)
    copy = out["copy"].scalar.blob
    assert copy.uri.startswith(f"{prefix}/raw/") and copy.uri.endswith("/big.bin")
    assert fs.cat(copy.uri) == expected
    assert "-" in fs.info(copy.uri)["ETag"]  # a multipart upload's ETag ends in -<parts>

    tree = out["tree"].scalar.blob
    assert tree.metadata.type.dimensionality == types_pb2.BlobType.MULTIPART
    root = tree.uri.removeprefix("s3://")
    assert sorted(p[len(root) + 1:] for p in fs.find(root)) == ["a.txt", "sub/b.txt"]
    assert fs.cat(f"{root}/sub/b.txt") == b"beta"

    table = out["table"].scalar.structured_dataset
    with fs.open(f"{table.uri.removeprefix('s3://')}/00000", "rb") as fh:
        assert pq.read_table(fh).to_pylist() == [{"name": "deep/y.json", "size": 200},
                                                 {"name": "x.csv", "size": 4}]


def test_standard_aws_variables_work_too(
    s3: S3Server, s3venv: PluginVenv, pod_env: dict[str, str], tmp_path: Path
) -> None:
    fs = s3.filesystem()
    bucket = s3.new_bucket()
    prefix = f"s3://{bucket}/run"
    local = tmp_path / "doc.txt"
    local.write_text("hello")
    fs.put(str(local), f"{bucket}/doc.txt")
    tt = make_template("blobs", "blobs", inputs=BLOBS_INPUTS, outputs=BLOBS_OUTPUTS)
    _put_task(fs, prefix, tt, {"doc": File(f"s3://{bucket}/doc.txt"),
                               "folder": Directory(f"s3://{bucket}/nothing-here"), "size": 10})
    result = _execute(s3venv, prefix, {**pod_env, **s3.aws_env()})
    assert result.returncode == 0, result.stderr
    out = _literals(fs.cat(f"{prefix}/out/outputs.pb")).literals
    assert out["digest"].scalar.primitive.string_value == hashlib.sha256(b"hello").hexdigest()


def test_executor_failure_writes_error_pb_to_s3_and_removes_stale_outputs(
    s3: S3Server, s3venv: PluginVenv, pod_env: dict[str, str]
) -> None:
    fs = s3.filesystem()
    bucket = s3.new_bucket()
    prefix = f"s3://{bucket}/run"
    tt = make_template("fails", "fails", inputs={"doc": File}, outputs={"o0": int})
    _put_task(fs, prefix, tt, {"doc": File(f"s3://{bucket}/missing.bin")})
    fs.pipe(f"{prefix}/out/outputs.pb", b"from an earlier attempt")
    result = _execute(s3venv, prefix, {**pod_env, **s3.flyte_env()})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert not fs.exists(f"{prefix}/out/outputs.pb")
    error = _error(fs.cat(f"{prefix}/out/error.pb"))
    assert error.code == "ExecutorFailed"
    assert f"no luck with s3://{bucket}/missing.bin" in error.message
    assert error.origin == execution_pb2.ExecutionError.USER
    assert error.kind == errors_pb2.ContainerError.NON_RECOVERABLE


def test_missing_s3fs_names_the_extra_in_one_line(
    venv: PluginVenv, s3: S3Server, pod_env: dict[str, str], tmp_path: Path
) -> None:
    """The default test venv has no s3fs: the template is on S3, error.pb is local."""
    out = tmp_path / "out"
    inputs = tmp_path / "inputs.pb"
    inputs.write_bytes(b"")
    result = venv.shimtask("execute", "--inputs", str(inputs), "--output-prefix", str(out),
                           "--template", "s3://some-bucket/task.pb",
                           env={**pod_env, **s3.flyte_env()})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    stderr_lines = result.stderr.strip().splitlines()
    assert len(stderr_lines) == 1, result.stderr
    assert "pip install 'shimtask-core[s3]'" in stderr_lines[0]
    error = _error((out / "error.pb").read_bytes())
    assert error.code == "MissingDependency"
    assert error.message.splitlines()[0] == (
        "s3://some-bucket/task.pb: the s3:// protocol needs s3fs, which is not installed: "
        "pip install 'shimtask-core[s3]'")
    assert error.kind == errors_pb2.ContainerError.NON_RECOVERABLE


def _people_db(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("create table people (name text, age integer)")
        conn.executemany("insert into people values (?, ?)",
                         [("alice", 34), ("bob", 27), ("alice", 29), ("carol", 41)])
    conn.close()


def test_storage_options_prefer_flytes_variables() -> None:
    from shimtask_core.storage import storage_options

    flyte = {"FLYTE_AWS_ENDPOINT": "http://127.0.0.1:1", "FLYTE_AWS_ACCESS_KEY_ID": "k",
             "FLYTE_AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"}
    assert storage_options("s3", flyte) == {
        "key": "k", "secret": "s", "client_kwargs": {"endpoint_url": "http://127.0.0.1:1"}}
    assert storage_options("s3", {"AWS_ENDPOINT_URL": "http://127.0.0.1:2"}) == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:2"}}
    assert storage_options("s3", {}) == {}  # botocore's own chain (role, AWS_* keys) decides
    assert storage_options("gs", flyte) == {}



def test_without_credentials_neither_file_is_written_and_the_status_says_so(
    s3: S3Server, s3venv: PluginVenv, pod_env: dict[str, str]
) -> None:
    fs = s3.filesystem()
    bucket = s3.new_bucket()
    prefix = f"s3://{bucket}/run"
    tt = make_template("fails", "fails", inputs={"doc": File}, outputs={"o0": int})
    _put_task(fs, prefix, tt, {"doc": File(f"s3://{bucket}/x")})
    env = {**pod_env, "FLYTE_AWS_ENDPOINT": s3.endpoint, "AWS_EC2_METADATA_DISABLED": "true"}
    result = _execute(s3venv, prefix, env)
    assert result.returncode == EXIT_UNWRITTEN, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"shimtask: error: could not write a result: cannot write "
                           f"{prefix}/out/error.pb")
    assert "credentials" in line.lower()
    assert not fs.exists(f"{prefix}/out/error.pb") and not fs.exists(f"{prefix}/out/outputs.pb")


def test_verbose_logs_name_where_but_never_the_credentials(
    s3: S3Server, s3venv: PluginVenv, pod_env: dict[str, str]
) -> None:
    fs = s3.filesystem()
    bucket = s3.new_bucket()
    prefix = f"s3://{bucket}/run"
    fs.pipe(f"{bucket}/doc.txt", b"hi")
    tt = make_template("blobs", "blobs", inputs=BLOBS_INPUTS, outputs=BLOBS_OUTPUTS)
    _put_task(fs, prefix, tt, {"doc": File(f"s3://{bucket}/doc.txt"),
                               "folder": Directory(f"s3://{bucket}/none"), "size": 1})
    env = {**pod_env, **s3.flyte_env(), "SHIMTASK_LOG_LEVEL": "INFO"}
    result = _execute(s3venv, prefix, env)
    assert result.returncode == 0, result.stderr
    assert f"phase=wrote uri={prefix}/out/outputs.pb" in result.stderr
    assert env["FLYTE_AWS_SECRET_ACCESS_KEY"] not in result.stderr
    assert env["FLYTE_AWS_ACCESS_KEY_ID"] not in result.stderr
