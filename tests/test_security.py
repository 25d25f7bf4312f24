"""Security properties of the core (issue 12, item 4), each through the real commands.

* **Only installed entry points are imported.** flytekit's ``pyflyte-execute``
  imports whatever its arguments name: ``--resolver`` and ``task-module`` go to
  ``flytekit.tools.module_loader.load_object_from_module``, which is
  ``importlib.import_module`` on a dotted path taken from the task's container
  args. shimtask reads one *name* from the template and looks it up among the
  ``shimtask.executors`` entry points that pip installed; a name that no
  distribution declares is ``ExecutorNotFound``, and nothing is imported. The
  proof is a sentinel module on ``PYTHONPATH`` that writes a marker file when
  imported, named everywhere a template or its inputs could carry an import path.
* **Allow/deny holds on every path** (run, execute, plugins list, doctor, serve): a
  denied plugin is never imported (its module writes a marker at import).
* **A persisted index another user owns, or anyone may write, is not trusted**: a
  forged record pointing at the sentinel is never imported; the index is rebuilt.
* **Directories cannot escape**: a symlink out of a directory output, and an object
  name climbing out of a directory input (``dir/../../x``), are ``UnsafePath``
  (USER) before anything is copied, on local and remote (``memory://``, S3) prefixes.
* **Secrets stay out of logs, stderr and error.pb** (S3 credentials; the sqlalchemy
  plugin's passwords are tested in its own tests).
* **Shell inputs are never interpolated**, through the real ``shimtask run``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, literals_pb2

from pluginenv import PluginVenv, build_wheel, repo_plugin_venv
from shimtask_core import Directory, ExecutorRegistry, File, ShimTaskExecutor, make_template
from shimtask_core import runtime as runtime_mod
from shimtask_core.literals import InterfaceCodec

FLYTEKIT_RESOLVER = ("flytekit.core.python_customized_container_task."
                     "default_task_template_resolver")

SENTINEL = '''
import os

with open(os.environ["SHIMTASK_TEST_SENTINEL"], "a") as fh:
    fh.write("imported " + __name__ + "\\n")


class Thing:
    def execute_from_model(self, tt, **inputs):
        return "sentinel ran"
'''


@pytest.fixture
def sentinel(tmp_path: Path) -> dict[str, str]:
    """``sentinel_mod`` (and the package ``sentinel_pkg``) on PYTHONPATH; importing either
    appends a line to the marker file. The environment to run commands in."""
    where = tmp_path / "importable"
    (where / "sentinel_pkg").mkdir(parents=True)
    (where / "sentinel_mod.py").write_text(SENTINEL)
    (where / "sentinel_pkg" / "__init__.py").write_text(SENTINEL)
    return {"PYTHONPATH": str(where), "SHIMTASK_TEST_SENTINEL": str(tmp_path / "imported.log"),
            "SHIMTASK_TEST_MARKER": str(tmp_path / "marker.log")}


def _imported(env: Mapping[str, str]) -> str:
    path = Path(env["SHIMTASK_TEST_SENTINEL"])
    return path.read_text() if path.exists() else ""


def _write(tmp: Path, tt: Any, inputs: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    template = tmp / "task.pb"
    template.write_bytes(tt.SerializeToString())
    lm = InterfaceCodec(tt.interface).encode_inputs(dict(inputs or {}))
    (tmp / "inputs.pb").write_bytes(lm.SerializeToString())
    return template, tmp / "inputs.pb"


def _execute(venv: PluginVenv, tmp: Path, tt: Any, inputs: Mapping[str, Any] | None,
             env: Mapping[str, str], *form: str) -> subprocess.CompletedProcess[str]:
    """``shimtask execute``; ``form``: pyflyte-execute's trailing arguments instead of
    ``--template`` (``{template}`` stands for the template's path)."""
    template, inputs_pb = _write(tmp, tt, inputs)
    args = ["execute", "--inputs", str(inputs_pb), "--output-prefix", str(tmp / "out"),
            "--raw-output-data-prefix", str(tmp / "raw")]
    if form:
        args += [a.replace("{template}", str(template)) for a in form]
    else:
        args += ["--template", str(template)]
    return venv.shimtask(*args, env=env)


def _error(tmp: Path) -> errors_pb2.ContainerError:
    assert not (tmp / "out" / "outputs.pb").exists()
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((tmp / "out" / "error.pb").read_bytes())
    return doc.error


def _outputs(tmp: Path, tt: Any) -> dict[str, Any]:
    assert not (tmp / "out" / "error.pb").exists()
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString((tmp / "out" / "outputs.pb").read_bytes())
    return dict(InterfaceCodec(tt.interface).decode_outputs(lm))


# --- 1. only installed entry points are imported ----------------------------------------


def test_the_sentinel_fires_when_imported(venv: PluginVenv, sentinel: dict[str, str]) -> None:
    """The control: this environment does import the sentinel when asked to, so its
    absence below means shimtask never asked."""
    done = venv.python_code("import sentinel_mod, sentinel_pkg", env=sentinel)
    assert done.returncode == 0, done.stderr
    assert _imported(sentinel) == "imported sentinel_mod\nimported sentinel_pkg\n"


SMUGGLED_NAMES = ["sentinel_mod", "sentinel_mod:Thing", "sentinel_mod.Thing", "sentinel_pkg",
                  "sentinel_pkg:Thing", "sentinel_mod:Thing.execute_from_model"]


@pytest.mark.parametrize("where", ["custom", "type"])
@pytest.mark.parametrize("name", SMUGGLED_NAMES)
def test_an_import_path_as_the_executor_type_is_never_imported(
    venv: PluginVenv, sentinel: dict[str, str], tmp_path: Path, name: str, where: str
) -> None:
    """``custom["executor_type"]`` or (with none) the template's ``type`` naming a module
    that is importable but declared by no distribution: ExecutorNotFound naming it, for
    ``shimtask execute`` and ``shimtask run``, and the module is never imported."""
    tt = make_template("smuggled", name, inputs={"x": str}, outputs={"x": str})
    if where == "type":
        del tt.custom.fields["executor_type"]
    done = _execute(venv, tmp_path / "execute", tt, {"x": "hi"}, sentinel)
    assert done.returncode == 1, done.stderr
    error = _error(tmp_path / "execute")
    assert error.code == "ExecutorNotFound" and error.origin == 1  # USER
    assert f"{name!r}" in error.message and "echo" in error.message  # what is installed
    assert "Traceback" not in done.stderr

    ran = venv.shimtask("run", tmp_path / "execute" / "task.pb", "-i", "x=hi", env=sentinel)
    assert ran.returncode != 0
    assert f"{name!r}" in ran.stderr and "Traceback" not in ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert _imported(sentinel) == "", "a module named by the template was imported"


def test_import_paths_in_args_metadata_config_and_inputs_are_never_imported(
    venv: PluginVenv, sentinel: dict[str, str], tmp_path: Path
) -> None:
    """A runnable template (executor ``echo``) whose container args are flytekit's, naming
    the sentinel as resolver and task module, whose metadata, config and other custom
    keys name it, and whose string input is an import path: the echo executor runs, the
    input comes back as the text it is, and the sentinel is never imported."""
    tt = make_template("carrier", "echo", inputs={"x": str}, outputs={"x": str},
                       custom={"task_module": "sentinel_mod", "task_resolver":
                               "sentinel_mod.Thing", "plugin": "sentinel_pkg:Thing"})
    tt.container.image = "ghcr.io/example/image:1"
    tt.container.args.extend([
        "pyflyte-execute", "--inputs", "{{.input}}", "--output-prefix", "{{.outputPrefix}}",
        "--resolver", "sentinel_mod", "--", "task-module", "sentinel_mod", "task-name", "x"])
    tt.metadata.runtime.flavor = "sentinel_mod"
    tt.metadata.runtime.version = "sentinel_mod:Thing"
    tt.metadata.discovery_version = "sentinel_pkg"
    tt.config["module"] = "sentinel_mod"
    tt.config["executor"] = "sentinel_mod:Thing"
    value = "sentinel_mod:Thing"
    done = _execute(venv, tmp_path / "execute", tt, {"x": value}, sentinel)
    assert done.returncode == 0, done.stderr
    assert _outputs(tmp_path / "execute", tt) == {"x": value}

    ran = venv.shimtask("run", tmp_path / "execute" / "task.pb", "-i", f"x={value}", "--json",
                        env=sentinel)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"x": value}
    assert _imported(sentinel) == ""


@pytest.mark.parametrize("form", [
    # a flytekit Python task's arguments: its code is resolved by module and name
    ("--resolver", "sentinel_mod", "--", "task-module", "sentinel_mod", "task-name", "Thing"),
    ("--resolver", "sentinel_pkg.Thing", "--", "{template}", "sentinel_mod.Thing"),
    # a shim task's: the trailing executor path (flytekit's ShimTaskExecutor) is not used
    ("--resolver", FLYTEKIT_RESOLVER, "--", "{template}", "sentinel_mod.Thing"),
    ("--", "{template}", "sentinel_pkg:Thing"),
])
def test_pyflyte_execute_arguments_naming_modules_are_never_imported(
    venv: PluginVenv, sentinel: dict[str, str], tmp_path: Path, form: tuple[str, ...]
) -> None:
    tt = make_template("carrier", "echo", inputs={"x": str}, outputs={"x": str})
    done = _execute(venv, tmp_path, tt, {"x": "hi"}, sentinel, *form)
    if "{template}" in form and (FLYTEKIT_RESOLVER in form or "--resolver" not in form):
        assert done.returncode == 0, done.stderr
        assert _outputs(tmp_path, tt) == {"x": "hi"}
    else:  # a Python task: refused in error.pb, naming the resolver it will not import
        assert done.returncode == 1, done.stderr
        error = _error(tmp_path)
        assert error.code == "TemplateError" and "not Python task code" in error.message
    assert _imported(sentinel) == ""


# --- 2. allow/deny on every path -----------------------------------------------------------


MARKER_IMPORTED = "imported shimtask_test_marker\n"


def _marker(env: Mapping[str, str]) -> str:
    path = Path(env["SHIMTASK_TEST_MARKER"])
    return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]
               ) -> PluginVenv:
    """The marker and good plugins, for ``shimtask serve`` (a venv of its own: the
    session's has a plugin that is broken on purpose)."""
    env = PluginVenv(tmp_path_factory.mktemp("security-serve") / "env")
    env.install(wheels["good"], wheels["marker"])
    return env


def test_without_a_policy_the_marker_plugin_is_imported(
    venv: PluginVenv, sentinel: dict[str, str], tmp_path: Path
) -> None:
    """The control for the policy tests: running the marker executor imports it."""
    tt = make_template("m", "marker", outputs={"o0": str})
    done = _execute(venv, tmp_path, tt, {}, sentinel)
    assert done.returncode == 0, done.stderr
    assert _marker(sentinel) == MARKER_IMPORTED


@pytest.mark.parametrize("policy", [{"SHIMTASK_DENY": "marker"},
                                    {"SHIMTASK_DENY": "shimtask-test-mark*"},
                                    {"SHIMTASK_ALLOW": "echo,stats"}])
def test_a_denied_executor_is_never_imported_on_any_path(
    venv: PluginVenv, serve_venv: PluginVenv, sentinel: dict[str, str], tmp_path: Path,
    policy: dict[str, str]
) -> None:
    env = {**sentinel, **policy}
    tt = make_template("m", "marker", outputs={"o0": str})

    done = _execute(venv, tmp_path / "execute", tt, {}, env)  # shimtask execute
    assert done.returncode == 1, done.stderr
    error = _error(tmp_path / "execute")
    assert error.code == "ExecutorDenied" and "'marker'" in error.message
    assert ("deny pattern" if "SHIMTASK_DENY" in policy else "no allow pattern") in (
        error.message)

    ran = venv.shimtask("run", tmp_path / "execute" / "task.pb", env=env)  # shimtask run
    assert ran.returncode != 0 and "'marker'" in ran.stderr and "denied" in ran.stderr

    listed = venv.shimtask("plugins", "list", "--json", env=env)  # plugins list
    assert listed.returncode == 0, listed.stderr
    status = {e["name"]: e["status"] for e in json.loads(listed.stdout)}
    assert status["marker"] == "denied" and status["echo"] == "ok"

    doctor = venv.shimtask("plugins", "doctor", "--json", env=env)  # plugins doctor
    reports = {r["name"]: r["status"] for r in json.loads(doctor.stdout)}
    assert reports["marker"] == "denied" and reports["echo"] == "ok"

    assert _marker(env) == "", "a denied plugin was imported"

    from connector import Propeller, ServeProcess, encode  # shimtask serve

    with ServeProcess(serve_venv, cwd=tmp_path, env=env) as server, \
            Propeller(server.address) as propeller:
        names = {agent.name for agent in propeller.list_agents()}
        assert "echo" in names and "marker" not in names, names
        answer = propeller.execute(tt, encode(tt, {}), tmp_path / "serve")
        assert answer.agent_error.code == "ExecutorDenied", answer
        assert server.stop() == 0
    assert _marker(env) == "", "shimtask serve imported a denied plugin"


# --- 3. the persisted index is trusted only when only this user can write it -------------------


def _forge(index: Path) -> None:
    """Point the index's record for ``echo`` at the sentinel module."""
    data = json.loads(index.read_text())
    rows = [row for row in data["records"] if "shimtask_test_good:Echo" in json.dumps(row)]
    assert rows, data["records"][:3]
    text = json.dumps(data).replace("shimtask_test_good:Echo", "sentinel_mod:Thing")
    index.write_text(text)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="giving a file to another user needs root")
@pytest.mark.parametrize("tamper", ["own", "other-owner", "world-writable", "group-writable"])
def test_an_index_another_user_could_have_written_is_never_trusted(
    venv: PluginVenv, sentinel: dict[str, str], tmp_path: Path, tamper: str
) -> None:
    """The index decides what gets imported: a record rewritten to ``sentinel_mod:Thing``
    is imported when the index is this user's own and nobody else can write it (the
    control: the check is what stops it), and ignored and rebuilt when another uid
    owns it or its group or others may write it."""
    env = {**sentinel, "SHIMTASK_CACHE_DIR": str(tmp_path / "cache")}
    built = venv.shimtask("plugins", "index", "--json", env=env)
    assert built.returncode == 0, built.stderr
    index = Path(json.loads(built.stdout)["file"])
    _forge(index)
    if tamper == "other-owner":
        os.chown(index, 4242, 4242)
    elif tamper == "world-writable":
        index.chmod(0o666)
    elif tamper == "group-writable":
        index.chmod(0o664)
    tt = make_template("e", "echo", inputs={"x": str}, outputs={"x": str})
    done = _execute(venv, tmp_path / "run", tt, {"x": "hi"}, env)
    if tamper == "own":
        assert "imported sentinel_mod" in _imported(env), "the forged index was not used"
        return
    assert done.returncode == 0, done.stderr
    assert _outputs(tmp_path / "run", tt) == {"x": "hi"}  # the real echo, from a rescan
    assert _imported(env) == "", "a record from an untrusted index was imported"
    st = index.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.getuid(), 0o644)  # rebuilt
    assert "sentinel_mod" not in index.read_text()


# --- 5. directories cannot escape ------------------------------------------------------------


class ReturnsTree(ShimTaskExecutor):  # type: ignore[type-arg]
    tree: str = ""

    def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
        return Directory(type(self).tree)


class ReadsTree(ShimTaskExecutor):  # type: ignore[type-arg]
    def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
        return inputs["d"].listdir()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.txt").write_text("beta")
    (tmp_path / "outside.txt").write_text("outside the tree")
    return root


LINKS_OUT = {
    "absolute": "/etc/passwd",
    "relative": "../outside.txt",
    "deep": "sub/../../outside.txt",
    "a directory inside": "sub",
    "a directory outside": "/etc",
    "dangling": "nowhere.txt",
}


def _in_process_execute(tmp_path: Path, tt: Any, inputs: Mapping[str, Any],
                        raw: str, registry: ExecutorRegistry) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "task.pb").write_bytes(tt.SerializeToString())
    lm = InterfaceCodec(tt.interface).encode_inputs(dict(inputs))
    (tmp_path / "inputs.pb").write_bytes(lm.SerializeToString())
    return runtime_mod.execute(inputs=str(tmp_path / "inputs.pb"),
                               output_prefix=str(tmp_path / "out"),
                               template=str(tmp_path / "task.pb"),
                               raw_output_prefix=raw, registry=registry)


@pytest.fixture
def tree_registry() -> Iterator[ExecutorRegistry]:
    registry = ExecutorRegistry(path=[])
    registry.register("returns-tree", ReturnsTree)
    registry.register("reads-tree", ReadsTree)
    yield registry
    ReturnsTree.tree = ""


@pytest.mark.parametrize("prefix", ["local", "memory"])
@pytest.mark.parametrize("link", sorted(LINKS_OUT))
def test_a_directory_output_with_a_link_out_is_refused_before_anything_is_copied(
    tmp_path: Path, tree: Path, tree_registry: ExecutorRegistry, prefix: str, link: str
) -> None:
    import fsspec

    os.symlink(LINKS_OUT[link], tree / "link")
    ReturnsTree.tree = str(tree)
    raw = str(tmp_path / "raw") if prefix == "local" else f"memory://security-{link}/raw"
    tt = make_template("t", "returns-tree", outputs={"o0": Directory})
    result = _in_process_execute(tmp_path, tt, {}, raw, tree_registry)
    assert not result.ok
    assert result.error.code == "UnsafePath" and result.error.origin == 1, result.error
    assert f"'link' leads to {LINKS_OUT[link]!r}" in result.error.message
    assert str(tree) in result.error.message
    if prefix == "local":
        assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").rglob("*"))
    else:
        fs = fsspec.filesystem("memory")
        assert not fs.exists(f"/security-{link}/raw") or fs.find(f"/security-{link}/raw") == []


@pytest.mark.parametrize("prefix", ["local", "memory"])
def test_a_link_to_a_file_inside_the_tree_is_copied_as_its_content(
    tmp_path: Path, tree: Path, tree_registry: ExecutorRegistry, prefix: str
) -> None:
    import fsspec

    os.symlink("sub/b.txt", tree / "also-b.txt")
    ReturnsTree.tree = str(tree)
    raw = str(tmp_path / "raw") if prefix == "local" else "memory://security-inside/raw"
    tt = make_template("t", "returns-tree", outputs={"o0": Directory})
    result = _in_process_execute(tmp_path, tt, {}, raw, tree_registry)
    assert result.ok, result.error
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString((tmp_path / "out" / "outputs.pb").read_bytes())
    uri = lm.literals["o0"].scalar.blob.uri
    if prefix == "local":
        copy = Path(uri) / "also-b.txt"
        assert not copy.is_symlink() and copy.read_text() == "beta"
    else:
        assert fsspec.filesystem("memory").cat(f"{uri}/also-b.txt") == b"beta"


@pytest.mark.parametrize("name", ["../../escaped.txt", "sub/../../../escaped.txt", ".."])
def test_a_directory_input_whose_names_climb_out_is_refused_memory(
    tmp_path: Path, tree_registry: ExecutorRegistry, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object store allows any key: ``dir/../../escaped.txt`` under a directory input
    would be written two levels above the download directory."""
    import tempfile

    import fsspec

    downloads = tmp_path / "a" / "b" / "downloads"
    downloads.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(downloads))
    fs = fsspec.filesystem("memory")
    bucket = f"/security-in-{abs(hash(name))}"
    fs.pipe(f"{bucket}/dir/ok.txt", b"fine")
    fs.pipe(f"{bucket}/dir/{name}", b"evil")
    tt = make_template("t", "reads-tree", inputs={"d": Directory}, outputs={"o0": list[str]})
    result = _in_process_execute(tmp_path / "run", tt,
                                 {"d": Directory(f"memory://{bucket}/dir")},
                                 str(tmp_path / "raw"), tree_registry)
    assert not result.ok
    assert result.error.code == "UnsafePath" and result.error.origin == 1, result.error
    assert "cannot download directory memory://" in result.error.message
    assert not list(tmp_path.rglob("escaped.txt")), "a file was written outside"
    assert not Path("/escaped.txt").exists()


# --- S3: directory names and credentials ------------------------------------------------------


@pytest.fixture(scope="module")
def s3venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("security-s3")
    env = PluginVenv(root / "env")
    env.link_distributions("s3fs")
    env.install(build_wheel(root / "w", "shimtask-test-trees", modules={
        "shimtask_test_trees.py": textwrap.dedent('''
            from shimtask_core import ShimTaskExecutor


            class Reads(ShimTaskExecutor):
                def execute_from_model(self, tt, /, **inputs):
                    return inputs["d"].listdir()


            class ReadsFile(ShimTaskExecutor):
                def execute_from_model(self, tt, /, **inputs):
                    return inputs["f"].read_text()
        ''')}, executors={"reads": "shimtask_test_trees:Reads",
                          "reads-file": "shimtask_test_trees:ReadsFile"}))
    return env


def test_a_directory_input_whose_keys_climb_out_is_refused_s3(
    s3: Any, s3venv: PluginVenv, pod_env: dict[str, str], tmp_path: Path
) -> None:
    fs = s3.filesystem()
    bucket = s3.new_bucket()
    fs.pipe(f"{bucket}/dir/ok.txt", b"fine")
    fs.pipe(f"{bucket}/dir/../../escaped.txt", b"evil")
    assert f"{bucket}/dir/../../escaped.txt" in fs.find(f"{bucket}/dir/")  # S3 keeps the key
    tt = make_template("t", "reads", inputs={"d": Directory}, outputs={"o0": list[str]})
    env = {**pod_env, **s3.flyte_env(), "TMPDIR": pod_env["HOME"]}  # where downloads go
    done = _execute(s3venv, tmp_path / "run", tt, {"d": Directory(f"s3://{bucket}/dir")}, env)
    assert done.returncode == 1, done.stderr
    error = _error(tmp_path / "run")
    assert error.code == "UnsafePath" and error.origin == 1, error
    assert f"cannot download directory s3://{bucket}/dir" in error.message
    assert not list(Path(pod_env["HOME"]).rglob("escaped.txt"))
    assert not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize("verbosity", [("--verbose",), ()])
def test_s3_credentials_never_appear_in_a_failure(
    s3: Any, s3venv: PluginVenv, pod_env: dict[str, str], tmp_path: Path,
    verbosity: tuple[str, ...]
) -> None:
    """A missing input object and an output prefix in a bucket that does not exist, with
    every log on (``--verbose`` / ``SHIMTASK_LOG_LEVEL=DEBUG``): stderr and error.pb name
    the URIs, never the access key or the secret."""
    secret = "Sup3r-Secret+Key/With=Chars"
    key = "AKIASHIMTASKTESTKEY0"
    env = {**pod_env, "TMPDIR": pod_env["HOME"], "FLYTE_AWS_ENDPOINT": s3.endpoint,
           "FLYTE_AWS_ACCESS_KEY_ID": key, "FLYTE_AWS_SECRET_ACCESS_KEY": secret,
           "SHIMTASK_LOG_LEVEL": "DEBUG"}
    bucket = s3.new_bucket()
    tt = make_template("t", "reads-file", inputs={"f": File}, outputs={"o0": str})
    template, inputs_pb = _write(tmp_path, tt, {"f": File(f"s3://{bucket}/missing.txt")})
    done = s3venv.shimtask("execute", "--inputs", str(inputs_pb), "--output-prefix",
                           str(tmp_path / "out"), "--template", str(template), *verbosity,
                           env=env)
    assert done.returncode == 1, done.stderr
    error = _error(tmp_path)
    assert f"s3://{bucket}/missing.txt" in error.message
    written = (tmp_path / "out" / "error.pb").read_bytes()
    gone = s3venv.shimtask("execute", "--inputs", str(inputs_pb), "--output-prefix",
                           "s3://no-such-bucket-shimtask/out", "--template", str(template),
                           *verbosity, env=env)
    assert gone.returncode != 0 and "no-such-bucket-shimtask" in gone.stderr
    for text in (done.stdout + done.stderr, gone.stdout + gone.stderr,
                 written.decode("utf-8", "replace")):
        assert secret not in text and key not in text, text
        from urllib.parse import quote

        assert quote(secret, safe="") not in text


# --- 7. shell inputs are values, through the real command ----------------------------------------


@pytest.fixture(scope="module")
def shell_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("security-shell")
    return repo_plugin_venv(root, "shimtask-shell")


@pytest.mark.parametrize("attack", ["$(touch {m})", "; touch {m}", "`touch {m}`",
                                    "x && touch {m}", "x\ntouch {m}"])
def test_shell_inputs_never_run_as_commands(shell_venv: PluginVenv, tmp_path: Path,
                                            attack: str) -> None:
    """``shimtask run -i x=...`` with command syntax, as a whole argument, as an
    environment value, and even as ``$1`` of a shell the template runs on purpose: the
    value comes back as text and the command in it never runs."""
    marker = tmp_path / "pwned"
    value = attack.replace("{m}", str(marker))
    tt = make_template("sh", "shell", inputs={"x": str}, outputs={"out": str}, custom={
        "argv": ["sh", "-c", 'printf "%s|%s|%s" "$1" "$X" "$0"', "{{ .inputs.x }}",
                 "{{ .inputs.x }}"],
        "env": {"X": "{{ .inputs.x }}"}, "stdout": "out", "timeout": 30})
    template = tmp_path / "sh.pb"
    template.write_bytes(tt.SerializeToString())
    done = shell_venv.shimtask("run", template, "-i", f"x={value}", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"out": f"{value}|{value}|{value}"}
    assert not marker.exists(), "an input ran as a command"
