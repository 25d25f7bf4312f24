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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2, types_pb2
from s3server import S3Server

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


@dataclass(frozen=True)
class Pod:
    """One task's files in a fresh bucket, and ``shimtask execute`` run on them as a pod.

    ``prefix`` holds task.pb, inputs.pb, out/ (outputs.pb or error.pb) and raw/.
    """

    s3: S3Server
    venv: PluginVenv
    env: dict[str, str]
    fs: Any
    bucket: str
    prefix: str

    def at(self, path: str) -> Pod:
        """The same bucket, the task's files under ``path``."""
        return replace(self, prefix=self.uri(path))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, tt: Any, inputs: dict[str, Any]) -> None:
        self.fs.pipe(f"{self.prefix}/task.pb", tt.SerializeToString())
        literal_inputs = InterfaceCodec(tt.interface).encode_inputs(inputs)
        self.fs.pipe(f"{self.prefix}/inputs.pb", literal_inputs.SerializeToString())

    def put_blobs(self, doc: str, folder: str, size: int) -> None:
        """The blobs task, reading the file ``doc`` and the directory ``folder`` (keys in
        the bucket) and writing a file of ``size`` bytes."""
        self.put(make_template("blobs", "blobs", inputs=BLOBS_INPUTS, outputs=BLOBS_OUTPUTS),
                 {"doc": File(self.uri(doc)), "folder": Directory(self.uri(folder)),
                  "size": size})

    def put_fails(self, doc: str) -> None:
        """The task whose executor raises, naming its input ``doc`` (a key in the bucket)."""
        self.put(make_template("fails", "fails", inputs={"doc": File}, outputs={"o0": int}),
                 {"doc": File(self.uri(doc))})

    def execute(self, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
        """``shimtask execute`` with ``env`` (default: Flyte's S3 variables) over the pod's."""
        env = self.s3.flyte_env() if env is None else env
        return self.venv.shimtask(
            "execute", "--inputs", f"{self.prefix}/inputs.pb",
            "--output-prefix", f"{self.prefix}/out",
            "--raw-output-data-prefix", f"{self.prefix}/raw", "--", f"{self.prefix}/task.pb",
            env={**self.env, **env}, cwd=cwd)

    def outputs(self) -> Mapping[str, literals_pb2.Literal]:
        literals: Mapping[str, literals_pb2.Literal] = _literals(
            self.fs.cat(f"{self.prefix}/out/outputs.pb")).literals
        return literals

    def error(self) -> errors_pb2.ContainerError:
        return _error(self.fs.cat(f"{self.prefix}/out/error.pb"))


@pytest.fixture
def pod(s3: S3Server, s3venv: PluginVenv, pod_env: dict[str, str]) -> Pod:
    """A fresh bucket; the task's files under ``run/``."""
    bucket = s3.new_bucket()
    return Pod(s3, s3venv, pod_env, s3.filesystem(), bucket, f"s3://{bucket}/run")


def _literals(data: bytes) -> literals_pb2.LiteralMap:
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString(data)
    return lm


def _error(data: bytes) -> errors_pb2.ContainerError:
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString(data)
    return doc.error


def test_flytekit_sqlite_template_through_s3_with_flyte_variables(
    pod: Pod, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    pod = pod.at("metadata/propeller/n0")
    fs, prefix = pod.fs, pod.prefix
    fs.pipe(f"{prefix}/task.pb", (FIXTURES / "sqlite3_task.pb").read_bytes())
    fs.pipe(f"{prefix}/inputs.pb", (FIXTURES / "inputs.pb").read_bytes())
    workdir = tmp_path / "pod"
    (workdir / "examples" / "data").mkdir(parents=True)
    _people_db(workdir / "examples" / "data" / "example.db")

    result = pod.execute(cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert not fs.exists(f"{prefix}/out/error.pb")
    outputs = pod.outputs()
    (name,) = outputs
    dataset = outputs[name].scalar.structured_dataset
    assert dataset.uri.startswith(f"{prefix}/raw/")
    assert dataset.metadata.structured_dataset_type.format == "parquet"
    with fs.open(f"{dataset.uri.removeprefix('s3://')}/00000", "rb") as fh:
        rows = pq.read_table(fh).to_pylist()
    assert rows == [{"name": "alice", "age": 34}]


def test_files_directories_and_datasets_round_trip_through_s3(pod: Pod) -> None:
    import pyarrow.parquet as pq

    pod = pod.at("metadata/n1")
    fs, prefix = pod.fs, pod.prefix
    doc = os.urandom(300_000)
    fs.pipe(f"{pod.bucket}/data/doc.bin", doc)
    fs.pipe(f"{pod.bucket}/data/folder/x.csv", b"1,2\n")
    fs.pipe(f"{pod.bucket}/data/folder/deep/y.json", b"{}" * 100)
    pod.put_blobs("data/doc.bin", "data/folder", BIG)

    result = pod.execute()
    assert result.returncode == 0, result.stderr
    out = pod.outputs()
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


def test_standard_aws_variables_work_too(pod: Pod, tmp_path: Path) -> None:
    local = tmp_path / "doc.txt"
    local.write_text("hello")
    pod.fs.put(str(local), f"{pod.bucket}/doc.txt")
    pod.put_blobs("doc.txt", "nothing-here", 10)
    result = pod.execute(pod.s3.aws_env())
    assert result.returncode == 0, result.stderr
    out = pod.outputs()
    assert out["digest"].scalar.primitive.string_value == hashlib.sha256(b"hello").hexdigest()


def test_executor_failure_writes_error_pb_to_s3_and_removes_stale_outputs(pod: Pod) -> None:
    pod.put_fails("missing.bin")
    pod.fs.pipe(f"{pod.prefix}/out/outputs.pb", b"from an earlier attempt")
    result = pod.execute()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert not pod.fs.exists(f"{pod.prefix}/out/outputs.pb")
    error = pod.error()
    assert error.code == "ExecutorFailed"
    assert f"no luck with s3://{pod.bucket}/missing.bin" in error.message
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



def test_without_credentials_neither_file_is_written_and_the_status_says_so(pod: Pod) -> None:
    pod.put_fails("x")
    result = pod.execute({"FLYTE_AWS_ENDPOINT": pod.s3.endpoint,
                          "AWS_EC2_METADATA_DISABLED": "true"})
    assert result.returncode == EXIT_UNWRITTEN, result.stderr
    (line,) = result.stderr.strip().splitlines()
    out = f"{pod.prefix}/out"
    assert line.startswith(f"shimtask: error: could not write a result: cannot write "
                           f"{out}/error.pb")
    assert "credentials" in line.lower()
    assert not pod.fs.exists(f"{out}/error.pb") and not pod.fs.exists(f"{out}/outputs.pb")


def test_verbose_logs_name_where_but_never_the_credentials(pod: Pod) -> None:
    pod.fs.pipe(f"{pod.bucket}/doc.txt", b"hi")
    pod.put_blobs("doc.txt", "none", 1)
    env = {**pod.s3.flyte_env(), "SHIMTASK_LOG_LEVEL": "INFO"}
    result = pod.execute(env)
    assert result.returncode == 0, result.stderr
    assert f"phase=wrote uri={pod.prefix}/out/outputs.pb" in result.stderr
    assert env["FLYTE_AWS_SECRET_ACCESS_KEY"] not in result.stderr
    assert env["FLYTE_AWS_ACCESS_KEY_ID"] not in result.stderr
