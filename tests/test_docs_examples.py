"""The docs' examples, taken from the pages themselves, run and print what they say.

The blocks of docs/plugin-guide.md are extracted by their first-line file name
comments, built into distributions with their own pyproject.toml, pip-installed
into a fresh venv and run through the CLI. Every ``shimtask plugins list`` sample
in docs/ is compared with what the command prints in the environment the page
describes, and getting-started's commands and Python example run as written:
if a page drifts from the product, this fails. So do literals.md's executors, the
testing kit's test modules (run in a plugin made by ``shimtask plugins new``),
cli.md's synopses (against the parser) and discovery.md's ``plugins doctor`` and
``plugins index`` samples (issue 14, finding 22). The plugin pages are held by
each plugin's own tests (``plugins/*/tests/test_*_docs.py``, ``test_examples.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pluginenv import REPO, PluginVenv, build_wheel, repo_plugin_venv, wheel_from_source
from shimtask_core import make_template, template_to_json

GUIDE = REPO / "docs" / "plugin-guide.md"


def _blocks() -> dict[str, str]:
    """Fenced code blocks of the guide, keyed by their first-line ``# file`` comment."""
    blocks = {}
    for body in re.findall(r"```(?:python|toml)\n(.*?)```", GUIDE.read_text(), re.DOTALL):
        first, _, rest = body.partition("\n")
        if first.startswith("# ") and "." in first:
            blocks[first[2:].strip()] = rest
    return blocks


@pytest.fixture(scope="module")
def guide_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    blocks = _blocks()
    root = tmp_path_factory.mktemp("guide")
    source = root / "shimtask-greet"
    (source / "my_executor").mkdir(parents=True)
    (source / "my_executor" / "__init__.py").write_text(blocks["my_executor/__init__.py"])
    (source / "pyproject.toml").write_text(blocks["pyproject.toml"])
    timing = build_wheel(root / "timing", "shimtask-timing",
                         modules={"my_timing.py": blocks["my_timing.py"]},
                         plugins={"timing": "my_timing"})
    env = PluginVenv(root / "env")
    env.install(wheel_from_source(root / "wheels", source, "shimtask-greet"), timing)
    return env


def test_the_guides_plugin_is_listed_without_being_imported(guide_venv: PluginVenv) -> None:
    entries = json.loads(guide_venv.shimtask("plugins", "list", "--json").stdout)
    assert [(e["name"], e["dist"], e["value"]) for e in entries] == [
        ("greet", "shimtask-greet", "my_executor:GreetExecutor")]


def test_the_guides_template_runs_and_the_timing_hook_sees_it(
    guide_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("hello", "greet", inputs={"name": str},
                       outputs={"greeting": str, "length": int}, custom={"greeting": "Hello"})
    template = tmp_path / "hello.json"
    template.write_text(template_to_json(tt))
    result = guide_venv.shimtask("run", str(template), "-i", "name=Ada", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hello, Ada!", "length": 3}
    assert re.fullmatch(r"hello took \d+\.\d{3}s", result.stderr.strip()), result.stderr


def test_the_guides_declared_template_versions_are_enforced(
    guide_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("hello", "greet", inputs={"name": str},
                       outputs={"greeting": str, "length": int}, custom={"greeting": "Hi"},
                       task_type_version=7)
    template = tmp_path / "hello.json"
    template.write_text(template_to_json(tt))
    result = guide_venv.shimtask("run", str(template), "-i", "name=Ada")
    assert result.returncode == 1
    assert "task_type_version" in result.stderr and "Traceback" not in result.stderr


# --- the other pages: what they say a command prints is what it prints ----------------

#: ``plugins list`` samples (text blocks opening with its header), by page, and the
#: distributions installed when the page shows them.
LIST_HEADER = "EXECUTOR  DISTRIBUTION"
GETTING_STARTED = REPO / "docs" / "getting-started.md"


def _blocks_of(page: Path) -> list[tuple[str, str]]:
    """Every fenced block of a page: ``(language, body)``, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), re.DOTALL | re.MULTILINE)


def _list_samples(page: Path) -> list[str]:
    return [body for lang, body in _blocks_of(page)
            if lang == "text" and body.startswith(LIST_HEADER)]


@pytest.fixture(scope="module")
def sqlite_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    """What getting-started installs: the core and ./plugins/shimtask-sqlite3."""
    root = tmp_path_factory.mktemp("getting-started")
    return repo_plugin_venv(root, "shimtask-sqlite3")


@pytest.fixture(scope="module")
def greet_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    """The guide's plugin alone, as the guide shows it right after its pip install."""
    blocks = _blocks()
    source = tmp_path_factory.mktemp("greet") / "shimtask-greet"
    (source / "my_executor").mkdir(parents=True)
    (source / "my_executor" / "__init__.py").write_text(blocks["my_executor/__init__.py"])
    (source / "pyproject.toml").write_text(blocks["pyproject.toml"])
    env = PluginVenv(source.parent / "env")
    env.install(wheel_from_source(source.parent / "wheels", source, "shimtask-greet"))
    return env


def test_every_plugins_list_sample_in_the_docs_is_checked() -> None:
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")
             if _list_samples(p)}
    assert pages == {"getting-started.md", "plugin-guide.md"}, (
        "a page shows `shimtask plugins list` output that no test compares with the real "
        "output: add it to the tests below")


@pytest.mark.parametrize("page", ["getting-started.md", "plugin-guide.md"])
def test_the_plugins_list_samples_are_what_it_prints(
    page: str, request: pytest.FixtureRequest
) -> None:
    env: PluginVenv = request.getfixturevalue(
        "sqlite_venv" if page == "getting-started.md" else "greet_venv")
    (sample,) = _list_samples(REPO / "docs" / page)
    result = env.shimtask("plugins", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout == sample  # the table and the footnote it always prints here


def _getting_started_commands() -> list[str]:
    """The commands of getting-started's shell blocks, as a user types them (installs, and
    the demo, which builds its own environment and is then activated, excepted)."""
    return [line.strip() for lang, body in _blocks_of(GETTING_STARTED) if lang == "bash"
            for line in body.splitlines()
            if line.strip() and not line.lstrip().startswith(("pip ", "python3 scripts/",
                                                              ". .venv/"))]


def test_getting_started_commands_run_as_written(sqlite_venv: PluginVenv, tmp_path: Path
                                                 ) -> None:
    import shlex
    import shutil

    shutil.copytree(REPO / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    commands = _getting_started_commands()
    assert "python examples/make_example_db.py" in commands  # it must run before the rest
    assert sum(c.startswith("shimtask run ") for c in commands) >= 3
    printed = []
    for command in commands:
        argv = shlex.split(command.split("#", 1)[0])
        if argv[0] == "python":
            argv[0] = str(sqlite_venv.python)
        result = sqlite_venv.run(argv, cwd=tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        assert "warning" not in result.stderr, f"{command}\n{result.stderr}"
        if "--json" in argv:
            assert json.loads(result.stdout), command
        printed.append(result.stdout)
    shown = [body for lang, body in _blocks_of(GETTING_STARTED)
             if lang == "text" and body.startswith("results:")]
    assert shown and all(body in printed for body in shown)  # what the page says it prints


def test_getting_started_python_example_runs(sqlite_venv: PluginVenv, tmp_path: Path) -> None:
    (code,) = [body for lang, body in _blocks_of(GETTING_STARTED) if lang == "python"]
    db = sqlite_venv.run([sqlite_venv.python, str(REPO / "examples" / "make_example_db.py"),
                          str(tmp_path / "examples" / "data" / "example.db")])
    assert db.returncode == 0, db.stderr
    script = tmp_path / "example.py"
    script.write_text(code + "\nprint(rows)\nprint(executor_cls.__name__)\n")
    result = sqlite_venv.run([sqlite_venv.python, str(script)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "SQLite3Executor"
    assert "Tokyo" in result.stdout


def test_the_container_contract_try_it_section_runs_as_written(sqlite_venv: PluginVenv,
                                                               tmp_path: Path) -> None:
    """docs/container-contract.md: write inputs.pb and template.pb, execute, read back."""
    import shlex
    import shutil

    page = REPO / "docs" / "container-contract.md"
    scripts = {body.split("\n", 1)[0][2:]: body for lang, body in _blocks_of(page)
               if lang == "python" and body.startswith("# ")}
    assert set(scripts) == {"pod_files.py", "read_outputs.py"}
    shutil.copytree(REPO / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    for name, body in scripts.items():
        (tmp_path / name).write_text(body)
    (commands,) = [body for lang, body in _blocks_of(page)
                   if lang == "bash" and "python pod_files.py" in body]
    for command in ["python examples/make_example_db.py", *commands.strip().splitlines()]:
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = str(sqlite_venv.python)
        result = sqlite_venv.run(argv, cwd=tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        if argv[0] == "shimtask":
            assert result.stdout == result.stderr == ""  # "It prints nothing and exits 0"
    read = sqlite_venv.run([sqlite_venv.python, "read_outputs.py"], cwd=tmp_path)
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith("{'results': [{'name': 'Tokyo', 'population': 13960000}, ")


def test_the_readmes_commands_run_as_written(sqlite_venv: PluginVenv, tmp_path: Path) -> None:
    """README's "Running a template" block, from the repository's root after the demo; the
    execute line gets its inputs.pb and template.pb from the container-contract page."""
    import shlex
    import shutil

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running a template", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    commands = [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert [c.split()[:2] for c in commands] == [["shimtask", "plugins"], ["shimtask", "run"],
                                                ["shimtask", "run"], ["shimtask", "execute"]]
    shutil.copytree(REPO / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    page = REPO / "docs" / "container-contract.md"
    (pod_files,) = [body for lang, body in _blocks_of(page) if body.startswith("# pod_files.py")]
    (tmp_path / "pod_files.py").write_text(pod_files)
    for setup in ("examples/make_example_db.py", "pod_files.py"):
        made = sqlite_venv.run([sqlite_venv.python, setup], cwd=tmp_path)
        assert made.returncode == 0, made.stderr
    for command in commands:
        result = sqlite_venv.run(shlex.split(command), cwd=tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        if "--json" in command:
            assert json.loads(result.stdout)["results"][0] == {"name": "Tokyo",
                                                               "population": 13960000}
    assert (tmp_path / "out" / "outputs.pb").is_file()


# --- the pages' Python examples run as written ---------------------------------------


def _python_blocks(page: Path) -> list[str]:
    return [body for lang, body in _blocks_of(page) if lang == "python"]


def test_the_literals_pages_executors_run_as_written(tmp_path: Path) -> None:
    """docs/literals.md: each block alone (its own imports), its executor run on values."""
    from shimtask_core import ExecutorRegistry, File, run_template
    from shimtask_core.context import ExecutionContext, using_context

    stats_code, convert_code = _python_blocks(REPO / "docs" / "literals.md")
    stats: dict[str, Any] = {}
    convert: dict[str, Any] = {}
    exec(compile(stats_code, "docs/literals.md", "exec"), stats)
    exec(compile(convert_code, "docs/literals.md", "exec"), convert)
    registry = ExecutorRegistry(path=[])
    registry.register("stats", stats["Stats"])
    registry.register("convert", convert["Convert"])
    tt = make_template("s", "stats", inputs={"xs": list[float]},
                       outputs={"count": int, "mean": float})
    assert run_template(tt, registry=registry, xs=[1.0, 2.0, 6.0]) == {"count": 3, "mean": 3.0}
    source = tmp_path / "in.csv"
    source.write_text("a,b\n")
    tt = make_template("c", "convert", inputs={"data": File}, outputs={"out": File})
    with using_context(ExecutionContext(raw_output_prefix=str(tmp_path / "raw"))):
        out = run_template(tt, registry=registry, data=str(source))
    assert out.read_text() == "A,B\n"  # "uploaded under the raw output prefix"
    assert out.uri.startswith(f"{tmp_path / 'raw'}/") and out.uri.endswith("/out.csv")


#: The Python blocks of the testing kit's pages, by index: the test modules a plugin author
#: copies, run in a plugin made by ``shimtask plugins new greet`` as the pages say, each
#: written to its ``# tests/...`` file name (or the one given here); the rest only show a
#: part of one (``...``, another plugin's fixture). A new block fails until it is placed.
KIT_MODULES = {("testing-kit.md", 0): None, ("testing-kit.md", 1): "tests/test_greet_container.py",
               ("contract-suite.md", 0): None}
KIT_FRAGMENTS = {("contract-suite.md", 1), ("contract-suite.md", 2),
                 ("testing-kit.md", 2)}  # signal_thread: its executor is the reader's


def test_the_testing_kit_pages_tests_pass_in_a_new_plugin(tmp_path: Path) -> None:
    import subprocess
    import sys

    from kitenv import core_wheel, installed_core_venv

    blocks = {(page, i): body for page in ("testing-kit.md", "contract-suite.md")
              for i, body in enumerate(_python_blocks(REPO / "docs" / page))}
    assert set(blocks) == set(KIT_MODULES) | KIT_FRAGMENTS, "place the new block above"
    made = subprocess.run([sys.executable, "-m", "shimtask_core.cli", "plugins", "new", "greet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "shimtask-greet"
    written = []
    for key, name in KIT_MODULES.items():
        body = blocks[key]
        name = name or body.split("\n", 1)[0].removeprefix("# ").strip()
        (project / name).write_text(body)  # tests/test_contract.py: the page's, not ours
        written.append(name)
    env = installed_core_venv(tmp_path / "env", core_wheel(tmp_path / "core"))
    env.install(wheel_from_source(tmp_path / "wheels", project, "shimtask-greet"))
    tested = env.run([env.python, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *written],
                     cwd=project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    passed = set(re.findall(r"^PASSED (\S+)", tested.stdout, re.MULTILINE))
    for name in ("test_greet.py::test_the_entry_point_is_mine", "test_greet.py::test_greets",
                 "test_greet.py::test_as_flyte_runs_it",
                 "test_greet_container.py::test_a_wrong_type_is_a_user_error"):
        assert f"tests/{name}" in passed, tested.stdout
    from shimtask_core.testing import ExecutorContractSuite

    suite = {n for n in dir(ExecutorContractSuite) if n.startswith("test_")}
    assert {p.rpartition("::")[2] for p in passed
            if p.startswith("tests/test_contract.py::TestGreetContract::")} == suite
    assert " skipped" not in tested.stdout.strip().splitlines()[-1], tested.stdout


def test_the_cli_pages_synopses_name_every_option_and_only_real_ones() -> None:
    """docs/cli.md's usage blocks: each option shown is one the command takes, and each
    option the command shows in its --help (not --debug, given anywhere, nor the long
    spelling of -i) is in its synopsis."""
    import argparse

    from shimtask_core.cli import build_parser

    def command(words: list[str]) -> argparse.ArgumentParser:
        parser = build_parser()
        for word in words:
            subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            if not subparsers or word not in subparsers[0].choices:
                break
            parser = subparsers[0].choices[word]
        return parser

    synopses: list[str] = []
    for lang, body in _blocks_of(REPO / "docs" / "cli.md"):
        for line in body.splitlines():
            code = line.split("#", 1)[0]
            if code.strip().startswith("shimtask "):
                synopses.append(code)
            elif lang == "text" and synopses and code.strip():
                synopses[-1] += " " + code  # a continuation line
    assert len(synopses) >= 7
    for synopsis in synopses:
        parser = command(synopsis.split()[1:])
        shown = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", synopsis))
        options = {o for a in parser._actions if a.help != argparse.SUPPRESS
                   for o in a.option_strings} - {"-h", "--help", "--debug", "--input"}
        every = {o for a in parser._actions for o in a.option_strings}
        assert shown <= every, f"{parser.prog}: no such option {sorted(shown - every)}"
        assert options <= shown, f"{parser.prog}: the page omits {sorted(options - shown)}"


def test_the_discovery_pages_doctor_sample_is_what_it_prints(tmp_path: Path) -> None:
    """docs/discovery.md's ``plugins doctor`` sample, in the environment it shows: a
    working plugin, one importing a package that is not installed, one denied."""
    (sample,) = [body for lang, body in _blocks_of(REPO / "docs" / "discovery.md")
                 if body.startswith("$ shimtask plugins doctor\n")]
    echo = "from shimtask_core import ShimTaskExecutor\n\n\nclass Echo(ShimTaskExecutor):\n" \
           "    def execute_from_model(self, tt, /, **inputs):\n        return dict(inputs)\n"
    env = PluginVenv(tmp_path / "env")
    env.install(
        build_wheel(tmp_path, "shimtask-demo", modules={"shimtask_demo.py": echo},
                    executors={"echo": "shimtask_demo:Echo"}, version="1.0.0"),
        build_wheel(tmp_path, "shimtask-reports",
                    modules={"shimtask_reports.py": "import jinja2\n" + echo},
                    executors={"report": "shimtask_reports:Report"}, version="0.3.0"),
        build_wheel(tmp_path, "shimtask-legacy", modules={"shimtask_legacy.py": echo},
                    executors={"legacy": "shimtask_legacy:Old"}, version="0.1.0"))
    result = env.shimtask("plugins", "doctor", env={"SHIMTASK_DENY": "legacy"})
    assert result.returncode == 1  # one is broken
    assert result.stdout == sample.split("\n", 1)[1]
    # the page's `plugins index` sample: the same lines, but for paths and numbers
    (index,) = [body for lang, body in _blocks_of(REPO / "docs" / "discovery.md")
                if body.startswith("$ shimtask plugins index\n")]

    def shape(text: str) -> list[str]:
        text = re.sub(r"\d+(?:\.\d+)?", "N", re.sub(r"index-[0-9a-f]{8}", "index-H", text))
        return [re.sub(r"^(index file: |  )\S+", r"\1PATH", line) for line in text.splitlines()]

    env.shimtask("plugins", "index")  # built; the second run finds it fresh, as shown
    shown = shape(env.shimtask("plugins", "index").stdout)
    before, _, after = index.split("\n", 1)[1].partition("\n  ...\n")  # "...": elided lines
    head, tail = shape(before), shape(after)
    assert tail and shown[:len(head)] == head and shown[-len(tail):] == tail, shown
