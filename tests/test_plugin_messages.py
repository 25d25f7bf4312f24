"""What the registry and the environment tell a new user (issue 14, findings 15, 17-19).

15: ``plugins doctor`` quotes a crashed plugin's own output, never another one's;
17: a broken hook plugin is one clean line naming its distribution;
18: the "denied" error names every distribution that provides the name;
19: one parser for every ``SHIMTASK_*`` switch, with a warning for a malformed value.
(16, the index's untrusted reason, is in ``test_index.py``.) Real distributions,
pip-installed into a venv, run through the ``shimtask`` console script.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import shimtask_core.settings as settings
from pluginenv import PluginVenv, build_wheel
from shimtask_core import make_template, template_to_json
from shimtask_core.errors import ShimTaskWarning
from shimtask_core.literals import InterfaceCodec

ECHO = '''
from shimtask_core import ShimTaskExecutor


class Echo(ShimTaskExecutor):
    def execute_from_model(self, tt, /, **inputs):
        return dict(inputs)
'''

HELLO = ECHO + '''
print("HELLO FROM IMPORT", flush=True)
'''

CRASH = '''
import ctypes
import sys

print("b-crash: on stdout")  # not flushed: only an unbuffered worker keeps it
print("b-crash: about to crash", file=sys.stderr)
ctypes.string_at(0)  # a segmentation fault, as a broken C extension gives
'''

BROKEN_HOOK = '''
raise RuntimeError("this hook plugin is broken at import")
'''


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("messages")
    env = PluginVenv(root / "env")
    env.install(
        build_wheel(root, "shimtask-test-hello", modules={"shimtask_test_hello.py": HELLO},
                    executors={"a-hello": "shimtask_test_hello:Echo"}),
        build_wheel(root, "shimtask-test-crash", modules={"shimtask_test_crash.py": CRASH},
                    executors={"b-crash": "shimtask_test_crash:Anything"}),
        build_wheel(root, "shimtask-test-twin-one", modules={"shimtask_twin_one.py": ECHO},
                    executors={"twin": "shimtask_twin_one:Echo"}),
        build_wheel(root, "shimtask-test-twin-two", modules={"shimtask_twin_two.py": ECHO},
                    executors={"twin": "shimtask_twin_two:Echo"}),
        build_wheel(root, "shimtask-test-brokenhook",
                    modules={"shimtask_test_brokenhook.py": BROKEN_HOOK},
                    plugins={"brokenhook": "shimtask_test_brokenhook"}),
    )
    return env


@pytest.fixture
def echo_template(tmp_path: Path) -> Path:
    path = tmp_path / "echo.json"
    path.write_text(template_to_json(make_template("e", "a-hello", inputs={"n": int},
                                                   outputs={"n": int})))
    return path


# --- finding 15: doctor blames the plugin that crashed, with its own output ----------


def test_doctor_quotes_only_the_crashed_plugins_own_output(plugin_venv: PluginVenv) -> None:
    result = plugin_venv.shimtask("plugins", "doctor", "--json")
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    assert reports["a-hello"]["status"] == "ok"
    crashed = reports["b-crash"]
    assert crashed["status"] == "broken"
    assert "killed the doctor's worker process by signal 11" in crashed["error"]
    assert ("its last output: b-crash: on stdout | b-crash: about to crash"
            in crashed["error"]), crashed["error"]
    assert "HELLO FROM IMPORT" not in crashed["error"]  # printed by a-hello, imported before


# --- finding 17: a broken hook plugin is one clean line -----------------------------


def test_a_broken_hook_plugin_is_one_line_naming_its_distribution(
    plugin_venv: PluginVenv, echo_template: Path
) -> None:
    result = plugin_venv.shimtask("run", str(echo_template), "-i", "n=1", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 1}
    warning_lines = [line for line in result.stderr.splitlines() if "brokenhook" in line]
    assert warning_lines == [
        "shimtask: warning: hook plugin 'brokenhook' from distribution shimtask-test-brokenhook "
        "1.0.0 is skipped: it failed to load: RuntimeError: this hook plugin is broken at "
        "import"]
    assert "RuntimeWarning" not in result.stderr and "warnings.warn" not in result.stderr


def test_python_callers_get_the_warning_with_the_error_attached(plugin_venv: PluginVenv
                                                                ) -> None:
    result = plugin_venv.python_code("""
        import warnings
        from shimtask_core import ExecutorRegistry
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ExecutorRegistry().plugin_manager
        (warning,) = caught
        print(type(warning.message).__name__, warning.message.error.dist)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "PluginLoadWarning shimtask-test-brokenhook"


# --- finding 18: "denied" names every provider ---------------------------------------


def test_denied_names_all_the_distributions_that_provide_the_name(
    plugin_venv: PluginVenv, tmp_path: Path
) -> None:
    template = tmp_path / "twin.json"
    template.write_text(template_to_json(make_template("t", "twin")))
    result = plugin_venv.shimtask("run", str(template), env={"SHIMTASK_DENY": "twin"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "shimtask: error: executor 'twin' is installed by 2 distributions, all denied: "
        "shimtask-test-twin-one (it matches deny pattern 'twin'); shimtask-test-twin-two "
        "(it matches deny pattern 'twin'). The policy comes from SHIMTASK_ALLOW / "
        "SHIMTASK_DENY or ExecutorRegistry(allow=..., deny=...).")


# --- finding 19: one parser for every SHIMTASK_* switch -----------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("true", True), ("YES", True), (" on ", True),
    ("0", False), ("False", False), ("no", False), ("off", False), ("", False),
])
def test_every_switch_reads_the_same_words(value: str, expected: bool) -> None:
    for name in (settings.NO_INDEX, settings.EXIT_ZERO_ON_ERROR):
        assert settings.switch(name, environ={name: value}) is expected


def test_a_malformed_value_warns_once_and_keeps_the_default() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert settings.switch("SHIMTASK_NO_INDEX", environ={"SHIMTASK_NO_INDEX": "maybe"}
                               ) is False
        assert settings.switch("SHIMTASK_NO_INDEX", environ={"SHIMTASK_NO_INDEX": "maybe"}
                               ) is False
        assert settings.pairs("SHIMTASK_PREFER", environ={
            "SHIMTASK_PREFER": "sqlite=shimtask-sqlite3,garbage"}) == {
            "sqlite": "shimtask-sqlite3"}
        assert settings.level(environ={"SHIMTASK_LOG_LEVEL": "loud"}) == "INFO"
    assert [str(w.message) for w in caught] == [
        "SHIMTASK_NO_INDEX='maybe' is ignored: expected 1/0, true/false, yes/no or on/off "
        "(so it is off)",
        "SHIMTASK_PREFER='sqlite=shimtask-sqlite3,garbage' is ignored: expected "
        "NAME=DISTRIBUTION[,NAME=DISTRIBUTION...]; 'garbage' is not one",
        "SHIMTASK_LOG_LEVEL='loud' is ignored: expected one of DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL or off (so INFO is used)",
    ]
    assert all(issubclass(w.category, ShimTaskWarning) for w in caught)


def test_the_cli_warns_about_a_malformed_prefer(plugin_venv: PluginVenv) -> None:
    result = plugin_venv.shimtask("plugins", "list", env={"SHIMTASK_PREFER": "garbage"})
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "shimtask: warning: SHIMTASK_PREFER='garbage' is ignored: expected "
        "NAME=DISTRIBUTION[,NAME=DISTRIBUTION...]; 'garbage' is not one"]


def test_exit_zero_on_error_takes_true_like_every_switch(
    plugin_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("e", "a-hello", inputs={"n": int}, outputs={"n": str})  # wrong type
    (tmp_path / "t.pb").write_bytes(tt.SerializeToString())
    inputs = tmp_path / "in.pb"
    inputs.write_bytes(InterfaceCodec(tt.interface).encode_inputs({"n": 1}).SerializeToString())
    args = ["execute", "--inputs", str(inputs), "--output-prefix", str(tmp_path / "out"),
            "--template", str(tmp_path / "t.pb")]
    for value, status in (("true", 0), ("yes", 0), ("1", 0), ("false", 1), ("", 1)):
        result = plugin_venv.shimtask(*args, env={"SHIMTASK_EXIT_ZERO_ON_ERROR": value})
        assert result.returncode == status, (value, result.stderr)
        assert (tmp_path / "out" / "error.pb").exists()
    bad = plugin_venv.shimtask(*args, env={"SHIMTASK_EXIT_ZERO_ON_ERROR": "sure"})
    assert bad.returncode == 1
    assert ("shimtask: warning: SHIMTASK_EXIT_ZERO_ON_ERROR='sure' is ignored: expected 1/0, "
            "true/false, yes/no or on/off (so it is off)") in bad.stderr.splitlines()
