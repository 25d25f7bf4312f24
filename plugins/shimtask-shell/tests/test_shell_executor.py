"""The shell executor through run_template, resolved from its installed entry point."""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from shell_testlib import (
    ECHO_ARGV,
    SPAWN_AND_SLEEP,
    alive,
    py,
    read_pids,
    shell_template,
    wait_until,
)
from shimtask_core import (
    Directory,
    ExecutableTemplateShimTask,
    ExecutionContext,
    ExecutorFailed,
    ExecutorRegistry,
    File,
    TemplateError,
    ValueTypeError,
    run_template,
)
from shimtask_shell import CommandFailed, CommandTimedOut, MissingOutput, ShellExecutor


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@pytest.fixture
def registry(shimtask_registry: ExecutorRegistry) -> ExecutorRegistry:
    return shimtask_registry


def echo(registry: ExecutorRegistry, inputs: dict[str, Any], args: list[str],
         **values: Any) -> list[str]:
    """What the program received as arguments, for argv ``args`` and these inputs."""
    tt = shell_template(py(ECHO_ARGV, *args), inputs=inputs, outputs={"out": str},
                        stdout="out")
    result: str = run_template(tt, registry=registry, **values)
    return list(json.loads(result))


def cause_of(excinfo: pytest.ExceptionInfo[ExecutorFailed]) -> BaseException:
    return excinfo.value.cause


def test_the_entry_point_resolves_to_the_shell_executor(registry: ExecutorRegistry) -> None:
    (record,) = [r for r in registry.entries() if r.name == "shell"]
    assert (record.dist, record.value) == ("shimtask-shell", "shimtask_shell:ShellExecutor")
    assert registry.resolve("shell") is ShellExecutor


# --- arguments ----------------------------------------------------------------------


HOSTILE = [
    "two words",
    "it's \"quoted\"",
    "x; touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "a && touch {marker} || touch {marker}",
    "* ? [a-z]",
    "~ $HOME ${PATH}",
    "line one\nline two",
    "--flag-looking",
    "",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_an_input_is_one_literal_argument(registry: ExecutorRegistry, tmp_path: Path,
                                          template: str) -> None:
    marker = tmp_path / "marker"
    value = template.replace("{marker}", str(marker))
    got = echo(registry, {"x": str}, ["before", "{{ .inputs.x }}", "after"], x=value)
    assert got == ["before", value, "after"]
    assert not marker.exists(), "something interpreted the input as shell syntax"


def test_placeholders_accept_flytekit_spacing_and_case(registry: ExecutorRegistry) -> None:
    got = echo(registry, {"x": str}, ["{{.inputs.x}}", "{{  .Inputs.x  }}"], x="v")
    assert got == ["v", "v"]


def test_text_forms_of_values(registry: ExecutorRegistry) -> None:
    inputs = {"i": int, "neg": int, "f": float, "tiny": float, "yes": bool, "no": bool,
              "when": dt.datetime, "span": dt.timedelta, "whole": dt.timedelta,
              "color": Color}
    args = [f"{{{{ .inputs.{name} }}}}" for name in inputs]
    got = echo(registry, inputs, args, i=42, neg=-7, f=0.1, tiny=1e-20, yes=True, no=False,
               when=dt.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=dt.timezone.utc),
               span=dt.timedelta(minutes=1, microseconds=500000 + 30),
               whole=dt.timedelta(hours=2), color=Color.BLUE)
    assert got == ["42", "-7", "0.1", "1e-20", "true", "false",
                   "2024-05-01T12:30:15.250000+00:00", "60.50003", "7200", "blue"]


def test_a_list_input_is_one_argument_per_element(registry: ExecutorRegistry) -> None:
    inputs = {"names": list[str], "ns": list[int], "none": list[str]}
    args = ["-a", "{{ .inputs.names }}", "-b", "{{ .inputs.ns }}", "{{ .inputs.none }}", "end"]
    got = echo(registry, inputs, args, names=["x y", "$(z)"], ns=[1, 2], none=[])
    assert got == ["-a", "x y", "$(z)", "-b", "1", "2", "end"]


def test_an_optional_input_left_empty_is_refused(registry: ExecutorRegistry) -> None:
    with pytest.raises(ValueTypeError, match=r"input 'x'.*None"):
        echo(registry, {"x": Optional[str]}, ["{{ .inputs.x }}"], x=None)  # noqa: UP045
    assert echo(registry, {"x": Optional[str]}, ["{{ .inputs.x }}"], x="set") == ["set"]  # noqa: UP045


def test_a_nul_character_is_refused(registry: ExecutorRegistry) -> None:
    with pytest.raises(ValueTypeError, match=r"input 'x'.*NUL"):
        echo(registry, {"x": str}, ["{{ .inputs.x }}"], x="a\0b")


def test_the_program_itself_may_be_an_input(registry: ExecutorRegistry) -> None:
    tt = shell_template(["{{ .inputs.python }}", "-c", "print('ran')"], inputs={"python": str},
                        outputs={"out": str}, stdout="out")
    assert run_template(tt, registry=registry, python=sys.executable) == "ran"


def test_stdin_is_empty(registry: ExecutorRegistry) -> None:
    tt = shell_template(py("import sys; print(repr(sys.stdin.read()))"), outputs={"out": str},
                        stdout="out", timeout=30)
    assert run_template(tt, registry=registry) == "''"


# --- environment and working directory ---------------------------------------------


def test_environment_values(registry: ExecutorRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIMTASK_SHELL_INHERITED", "from shimtask")
    code = ("import json, os; print(json.dumps({k: os.environ.get(k) for k in "
            "('GREETING', 'COUNT', 'STATIC', 'SHIMTASK_SHELL_INHERITED')}))")
    tt = shell_template(py(code), inputs={"greeting": str, "count": int},
                        outputs={"out": str}, stdout="out",
                        env={"GREETING": "{{ .inputs.greeting }}", "COUNT": "{{ .inputs.count }}",
                             "STATIC": "$HOME stays literal"})
    out = run_template(tt, registry=registry, greeting="hi; $(rm -rf /)", count=3)
    assert json.loads(out) == {"GREETING": "hi; $(rm -rf /)", "COUNT": "3",
                               "STATIC": "$HOME stays literal",
                               "SHIMTASK_SHELL_INHERITED": "from shimtask"}


def test_working_directory(registry: ExecutorRegistry, tmp_path: Path) -> None:
    tt = shell_template(py("import os; print(os.getcwd())"), outputs={"out": str},
                        stdout="out", cwd=str(tmp_path))
    assert run_template(tt, registry=registry) == str(tmp_path)


def test_working_directory_from_a_directory_input(registry: ExecutorRegistry,
                                                  tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "here.txt").write_text("x")
    tt = shell_template(py("import os; print(sorted(os.listdir()))"),
                        inputs={"where": Directory}, outputs={"out": str}, stdout="out",
                        cwd="{{ .inputs.where }}")
    assert run_template(tt, registry=registry, where=Directory(str(tmp_path / "data"))) \
        == "['here.txt']"


def test_a_missing_working_directory_is_a_clear_error(registry: ExecutorRegistry,
                                                      tmp_path: Path) -> None:
    tt = shell_template(py("pass"), cwd=str(tmp_path / "nowhere"))
    with pytest.raises(ExecutorFailed, match=r"custom\['cwd'\] .*nowhere.* does not exist"):
        run_template(tt, registry=registry)


# --- stdout and stderr ------------------------------------------------------------


def test_stdout_capture_drops_trailing_line_breaks_only(registry: ExecutorRegistry) -> None:
    tt = shell_template(py("import sys; sys.stdout.write('  héllo\\n\\nworld\\n\\n')"),
                        outputs={"out": str}, stdout="out")
    assert run_template(tt, registry=registry) == "  héllo\n\nworld"


def test_stdout_that_is_not_utf8_is_refused(registry: ExecutorRegistry) -> None:
    tt = shell_template(py("import sys; sys.stdout.buffer.write(b'\\xff\\xfe')"),
                        outputs={"out": str}, stdout="out")
    with pytest.raises(ExecutorFailed, match="output 'out': its stdout is not UTF-8"):
        run_template(tt, registry=registry)


def test_uncaptured_output_goes_to_stderr(registry: ExecutorRegistry,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    """shimtask's stdout carries its results (``shimtask run --json``): the command's
    stdout and stderr both go to shimtask's stderr."""
    tt = shell_template(py("import sys; print('to stdout'); print('to stderr', file=sys.stderr)"))
    assert run_template(tt, registry=registry) is None
    out, err = capfd.readouterr()
    assert "to stdout" not in out and "to stderr" not in out
    assert "to stdout" in err and "to stderr" in err


# --- files and directories in -----------------------------------------------------


def test_file_input_is_a_local_path(registry: ExecutorRegistry, tmp_path: Path) -> None:
    source = tmp_path / "in put.txt"
    source.write_text("contents with spaces")
    code = "import os, sys; print(os.path.isabs(sys.argv[1]), open(sys.argv[1]).read())"
    tt = shell_template(py(code, "{{ .inputs.data }}"), inputs={"data": File},
                        outputs={"out": str}, stdout="out")
    assert run_template(tt, registry=registry, data=File(str(source))) \
        == "True contents with spaces"


def test_remote_file_and_directory_inputs_are_downloaded(registry: ExecutorRegistry) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/shell-test/in.txt", b"remote file")
    memory.pipe("/shell-test/tree/a.txt", b"A")
    memory.pipe("/shell-test/tree/sub/b.txt", b"B")
    code = """
        import json, os, sys
        path, root = sys.argv[1], sys.argv[2]
        found = sorted(os.path.relpath(os.path.join(d, n), root)
                       for d, _, names in os.walk(root) for n in names)
        print(json.dumps([os.path.isfile(path), open(path).read(), found]))
    """
    tt = shell_template(py(code, "{{ .inputs.f }}", "{{ .inputs.d }}"),
                        inputs={"f": File, "d": Directory}, outputs={"out": str}, stdout="out")
    try:
        out = run_template(tt, registry=registry, f=File("memory://shell-test/in.txt"),
                           d=Directory("memory://shell-test/tree"))
    finally:
        memory.rm("/shell-test", recursive=True)
    assert json.loads(out) == [True, "remote file", ["a.txt", "sub/b.txt"]]


def test_a_list_of_files_is_one_path_per_element(registry: ExecutorRegistry,
                                                 tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(name.upper())
    code = "import sys; print(''.join(open(p).read() for p in sys.argv[1:]))"
    tt = shell_template(py(code, "{{ .inputs.parts }}"), inputs={"parts": list[File]},
                        outputs={"out": str}, stdout="out")
    parts = [File(str(tmp_path / "a.txt")), File(str(tmp_path / "b.txt"))]
    assert run_template(tt, registry=registry, parts=parts) == "AB"


# --- outputs ----------------------------------------------------------------------


WRITE_FILE = """
import sys
with open(sys.argv[1], "wb") as fh:
    fh.write(b"report\\x00bytes")
print(sys.argv[1])
"""


def test_file_output_is_uploaded_and_its_run_dir_removed(registry: ExecutorRegistry,
                                                         tmp_path: Path) -> None:
    tt = shell_template(py(WRITE_FILE, "{{ .outputs.report }}"),
                        outputs={"report": File, "where": str}, stdout="where")
    task = ExecutableTemplateShimTask(tt, "shell", registry=registry)
    raw = tmp_path / "raw"
    result = task.run({}, ctx=ExecutionContext(raw_output_prefix=str(raw)))
    report = result["report"]
    assert isinstance(report, File)
    assert report.read_bytes() == b"report\x00bytes"
    assert report.uri is not None and report.uri.startswith(str(raw))
    given = Path(result["where"])
    assert given.name == "report" and given.parent.name == "outputs"
    assert not given.parent.parent.exists(), "the run directory was left behind"


def test_the_executor_returns_file_values_that_keep_their_content(tmp_path: Path) -> None:
    """Called directly, the executor's File outlives the call; its run directory goes
    once the value is dropped."""
    tt = shell_template(py(WRITE_FILE, "{{ .outputs.report }}"), outputs={"report": File})
    result = ShellExecutor().execute_from_model(tt)
    report = result["report"]
    assert isinstance(report, File) and report.read_bytes() == b"report\x00bytes"
    run_dir = Path(report.path).parent.parent
    del result, report
    assert not run_dir.exists()


def test_directory_output(registry: ExecutorRegistry, tmp_path: Path) -> None:
    code = """
        import os, sys
        root = sys.argv[1]
        assert os.path.isdir(root) and not os.listdir(root)
        os.makedirs(os.path.join(root, "sub"))
        open(os.path.join(root, "a.txt"), "w").write("A")
        open(os.path.join(root, "sub", "b.txt"), "w").write("B")
    """
    tt = shell_template(py(code, "{{ .outputs.tree }}"), outputs={"tree": Directory})
    tree = run_template(tt, registry=registry)
    assert isinstance(tree, Directory)
    assert tree.listdir() == ["a.txt", os.path.join("sub", "b.txt")]
    assert Path(tree.path, "sub", "b.txt").read_text() == "B"


def test_directory_output_as_working_directory(registry: ExecutorRegistry) -> None:
    tt = shell_template(py("open('made-here.txt', 'w').write('x')"),
                        outputs={"tree": Directory}, cwd="{{ .outputs.tree }}")
    assert run_template(tt, registry=registry).listdir() == ["made-here.txt"]


def test_output_path_in_an_environment_variable(registry: ExecutorRegistry) -> None:
    tt = shell_template(py("import os; open(os.environ['OUT'], 'w').write('via env')"),
                        outputs={"result": File}, env={"OUT": "{{ .outputs.result }}"})
    assert run_template(tt, registry=registry).read_text() == "via env"


def test_scalar_outputs_are_read_from_their_files(registry: ExecutorRegistry) -> None:
    code = """
        import sys
        for path, text in zip(sys.argv[1::2], sys.argv[2::2]):
            open(path, "w").write(text)
    """
    values = {"n": (int, " 42\n"), "x": (float, "2.5"), "ok": (bool, "TRUE\n"),
              "when": (dt.datetime, "2024-05-01T12:00:00Z"), "took": (dt.timedelta, "1.5"),
              "msg": (str, "two\nlines\n")}
    args = [a for name, (_, text) in values.items() for a in (f"{{{{ .outputs.{name} }}}}", text)]
    tt = shell_template(py(code, *args), outputs={k: t for k, (t, _) in values.items()})
    assert run_template(tt, registry=registry) == {
        "n": 42, "x": 2.5, "ok": True,
        "when": dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc),
        "took": dt.timedelta(seconds=1.5), "msg": "two\nlines"}


def test_datetime_output_text_reads_the_same_on_every_python(registry: ExecutorRegistry) -> None:
    """The core's ISO 8601 grammar (issue 14, finding 8): fromisoformat refused the basic
    format and a one-digit fraction on 3.10, and truncated nanoseconds on 3.11+."""
    code = """
        import sys
        for path, text in zip(sys.argv[1::2], sys.argv[2::2]):
            open(path, "w").write(text)
    """
    texts = {"basic": "20240501T120000.5Z", "comma": "2024-05-01T14:00:00,25+02:00",
             "naive": "2024-05-01 12:00"}
    args = [a for name, text in texts.items() for a in (f"{{{{ .outputs.{name} }}}}", text)]
    tt = shell_template(py(code, *args), outputs=dict.fromkeys(texts, dt.datetime))
    noon = dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc)
    assert run_template(tt, registry=registry) == {
        "basic": noon.replace(microsecond=500000), "comma": noon.replace(microsecond=250000),
        "naive": noon}
    nanos = shell_template(py("import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
                              "{{ .outputs.when }}", "2024-05-01T12:00:00.123456789Z"),
                           outputs={"when": dt.datetime})
    with pytest.raises(ValueTypeError, match=r"output 'when': .*'2024-05-01T12:00:00\.123456789Z'"
                                             r".*: it is not a valid datetime: '123456789' has "
                                             r"digits beyond microseconds"):
        run_template(nanos, registry=registry)


def test_a_scalar_output_that_does_not_parse_names_it(registry: ExecutorRegistry) -> None:
    tt = shell_template(py("import sys; open(sys.argv[1], 'w').write('forty-two')",
                           "{{ .outputs.n }}"), outputs={"n": int})
    with pytest.raises(ValueTypeError, match=r"output 'n': expected an integer.*'forty-two'"):
        run_template(tt, registry=registry)


@pytest.mark.parametrize(("kind", "what"), [(File, "a file"), (int, "a file holding the int")])
def test_an_output_the_command_never_wrote_is_named(registry: ExecutorRegistry, kind: Any,
                                                    what: str) -> None:
    tt = shell_template(py("import sys; print(sys.argv[1], file=sys.stderr)",
                           "{{ .outputs.report }}"), outputs={"report": kind})
    with pytest.raises(ExecutorFailed) as excinfo:
        run_template(tt, registry=registry)
    missing = cause_of(excinfo)
    assert isinstance(missing, MissingOutput) and missing.output == "report"
    assert f"did not write {what} at {{{{ .outputs.report }}}}" in str(missing)
    assert not Path(missing.path).parent.exists(), "the run directory was left behind"


# --- failures ---------------------------------------------------------------------


def test_a_nonzero_exit_carries_the_status_and_the_stderr_tail(registry: ExecutorRegistry
                                                               ) -> None:
    code = """
        import sys
        for i in range(1, 31):
            print(f"problem line {i}", file=sys.stderr)
        sys.exit(3)
    """
    tt = shell_template(py(code, "secret-argument"))
    with pytest.raises(ExecutorFailed) as excinfo:
        run_template(tt, registry=registry)
    failed = cause_of(excinfo)
    assert isinstance(failed, CommandFailed) and failed.returncode == 3
    message = str(excinfo.value)
    assert f"command {sys.executable!r} exited with status 3" in message
    lines = failed.stderr_tail.splitlines()
    assert lines == [f"problem line {i}" for i in range(11, 31)]
    assert "problem line 30" in message and "problem line 10\n" not in message
    assert "secret-argument" not in message, "arguments other than the program leak"


def test_death_by_a_signal_is_named(registry: ExecutorRegistry) -> None:
    tt = shell_template(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    with pytest.raises(ExecutorFailed, match=r"was killed by signal 9 \(SIGKILL\); it wrote "
                                             r"nothing to stderr"):
        run_template(tt, registry=registry)


def test_a_missing_program_is_a_clear_error(registry: ExecutorRegistry) -> None:
    tt = shell_template(["shimtask-no-such-program", "x"])
    with pytest.raises(ExecutorFailed, match="cannot run 'shimtask-no-such-program': no such "
                                             "program"):
        run_template(tt, registry=registry)


def test_a_timeout_kills_the_whole_process_group(registry: ExecutorRegistry,
                                                 pids: Path) -> None:
    tt = shell_template(py(SPAWN_AND_SLEEP, str(pids)), timeout=1)
    with pytest.raises(ExecutorFailed) as excinfo:
        run_template(tt, registry=registry)
    timed_out = cause_of(excinfo)
    assert isinstance(timed_out, CommandTimedOut) and timed_out.timeout == 1
    assert "timed out after 1 s (custom['timeout']); its whole process group was killed" \
        in str(excinfo.value)
    child, grandchild = read_pids(pids, timeout=0)
    assert not alive(child)
    assert wait_until(lambda: not alive(grandchild), 5), "the grandchild survived the timeout"


def test_a_child_ignoring_sigterm_is_killed_after_kill_after(registry: ExecutorRegistry,
                                                             pids: Path) -> None:
    code = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SPAWN_AND_SLEEP
    tt = shell_template(py(code, str(pids)), timeout=1, kill_after=0.5)
    with pytest.raises(ExecutorFailed) as excinfo:
        run_template(tt, registry=registry)
    timed_out = cause_of(excinfo)
    assert isinstance(timed_out, CommandTimedOut)
    assert timed_out.returncode == -signal.SIGKILL
    child, grandchild = read_pids(pids, timeout=0)
    assert not alive(child)
    assert wait_until(lambda: not alive(grandchild), 5)


def test_processes_left_running_after_exit_are_killed(registry: ExecutorRegistry,
                                                      pids: Path) -> None:
    code = SPAWN_AND_SLEEP.replace("time.sleep(60)", "")
    tt = shell_template(py(code, str(pids)), timeout=30)
    assert run_template(tt, registry=registry) is None
    _, grandchild = read_pids(pids, timeout=0)
    assert wait_until(lambda: not alive(grandchild), 5), "a background process was left behind"


def test_the_sigterm_handler_is_restored_after_a_run(registry: ExecutorRegistry) -> None:
    def mine(signum: int, frame: Any) -> None:
        raise AssertionError("not expected to run")

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        run_template(shell_template(py("pass")), registry=registry)
        with pytest.raises(ExecutorFailed):
            run_template(shell_template(py("raise SystemExit(1)")), registry=registry)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- templates refused before anything runs ---------------------------------------


BAD_TEMPLATES = [
    ({"argv": "echo {{ .inputs.n }}"}, {}, "is the string .*must be a list of arguments"),
    ({"argv": []}, {}, "must be a non-empty list"),
    ({"argv": ["sleep", 5]}, {}, r"custom\['argv'\]\[\d\] must be a string, not int"),
    ({"argv": ["tool", "--n={{ .inputs.n }}"]}, {},
     r"custom\['argv'\]\[\d\] = '--n=\{\{ .inputs.n \}\}' puts a placeholder inside a "
     r"longer string"),
    ({"argv": ["tool", "{{ .inputs.n }}{{ .inputs.n }}"]}, {}, "inside a longer string"),
    ({"argv": ["tool"], "env": {"N": "n={{ .inputs.n }}"}}, {},
     "placeholder must be the whole environment value"),
    ({"argv": ["tool", "{{ inputs.n }}"]}, {}, "looks like a placeholder but is not one"),
    ({"argv": ["tool", "{{ .inputs.m }}"]}, {}, "names input 'm', which the template does "
                                                "not declare; it declares: n"),
    ({"argv": ["tool", "{{ .outputs.o }}"]}, {}, "names output 'o', which the template does"),
    ({"argv": ["tool"]}, {"report": File}, "declares output.*'report' but nothing tells"),
    ({"argv": ["tool", "{{ .outputs.xs }}"]}, {"xs": list[int]}, "output 'xs' has type "
                                                                  "collection_type"),
    ({"argv": ["tool"], "stdout": "n"}, {"n": int}, r"custom\['stdout'\] names output 'n', "
                                                    "an int; only a str output"),
    ({"argv": ["tool"], "stdout": "nope"}, {}, r"custom\['stdout'\] must name a declared str"),
    ({"argv": ["tool", "{{ .outputs.s }}"], "stdout": "s"}, {"s": str},
     "cannot also be a path"),
    ({"argv": ["tool"], "timout": 5}, {}, "unknown custom key.*'timout'"),
    ({"argv": ["tool"], "timeout": -1}, {}, r"custom\['timeout'\] must be a positive number"),
    ({"argv": ["tool"], "timeout": True}, {}, r"custom\['timeout'\] must be a positive number"),
    ({"argv": ["tool"], "cwd": "{{ .outputs.f }}"}, {"f": File},
     "only a Directory output can be the working directory"),
    ({"argv": ["tool"], "env": {"A=B": "x"}}, {}, "invalid variable name"),
]


@pytest.mark.parametrize(("custom", "outputs", "message"), BAD_TEMPLATES)
def test_bad_templates_are_refused_before_running(registry: ExecutorRegistry, tmp_path: Path,
                                                  custom: dict[str, Any],
                                                  outputs: dict[str, Any], message: str) -> None:
    marker = tmp_path / "ran"
    argv = custom.pop("argv")
    if isinstance(argv, list) and argv and argv[0] == "tool":  # a command that leaves a trace
        argv = py(f"open({str(marker)!r}, 'w')") + argv[1:]
    tt = shell_template(argv, inputs={"n": int}, outputs=outputs, name="bad", **custom)
    with pytest.raises(TemplateError, match=message) as excinfo:
        run_template(tt, registry=registry, n=1)
    assert str(excinfo.value).startswith("bad: ")
    assert not marker.exists(), "the command ran although the template is invalid"


@pytest.mark.parametrize(("inputs", "custom", "message"), [
    ({"xs": list[int]}, {"env": {"X": "{{ .inputs.xs }}"}},
     "input 'xs' is a list; a list can only be a whole argument in argv"),
    ({"d": dict}, {"argv": ["tool", "{{ .inputs.d }}"]}, "input 'd' has type simple|no text form"),
    ({"m": dict[str, int]}, {"argv": ["tool", "{{ .inputs.m }}"]}, "input 'm' has type map"),
    ({"xss": list[list[int]]}, {"argv": ["tool", "{{ .inputs.xss }}"]}, "a list of lists"),
])
def test_inputs_without_a_text_form_are_refused(registry: ExecutorRegistry,
                                                inputs: dict[str, Any], custom: dict[str, Any],
                                                message: str) -> None:
    tt = shell_template(custom.pop("argv", ["tool"]), inputs=inputs, **custom)
    with pytest.raises(TemplateError, match=message):
        ShellExecutor().execute_from_model(tt)


@pytest.mark.parametrize("watch", ["waitid", "poll"])
def test_without_a_pidfd_exits_and_timeouts_are_still_seen(
        registry: ExecutorRegistry, monkeypatch: pytest.MonkeyPatch, pids: Path,
        watch: str) -> None:
    """Kernels or sandboxes without pidfd_open (and macOS before Python 3.13, without
    waitid) watch the leader by polling; the group is still stopped."""
    from shimtask_shell import _process

    monkeypatch.setattr(_process, "_pidfd_open", lambda pid: None)
    if watch == "poll":
        monkeypatch.delattr(os, "waitid")
    assert run_template(shell_template(py("print('quick')"), outputs={"out": str},
                                       stdout="out"), registry=registry) == "quick"
    with pytest.raises(ExecutorFailed, match=r"timed out after 0\.5 s"):
        run_template(shell_template(py(SPAWN_AND_SLEEP, str(pids)), timeout=0.5),
                     registry=registry)
    child, grandchild = read_pids(pids, timeout=0)
    assert wait_until(lambda: not alive(child) and not alive(grandchild), 5)
