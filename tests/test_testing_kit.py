"""shimtask_core.testing: inert unless used, isolated when used, and its container helper.

The pytest runs here are real subprocesses of this environment's pytest, which
loads the kit through shimtask-core's installed ``pytest11`` entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from shimtask_core import ShimTaskExecutor, make_template
from shimtask_core.testing import (
    ContractViolation,
    isolated_environ,
    isolated_registry,
    literal_map,
    run_container,
    wrong_literal,
)

HEAVY = ("flyteidl", "google.protobuf", "shimtask_core.hookspecs", "shimtask_core.registry",
         "shimtask_core.literals", "shimtask_core.template", "shimtask_core.task")


def run_pytest(project: Path, test_source: str, env: dict[str, str] | None = None,
               args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """pytest on one test file in ``project`` (outside the repository: no conftest)."""
    (project / "test_it.py").write_text(textwrap.dedent(test_source))
    (project / "pytest.ini").write_text("[pytest]\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *(args or []), str(project)], cwd=project,
                          env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=300, check=False)


def test_the_plugin_is_inert_in_a_run_that_does_not_use_it(tmp_path: Path) -> None:
    dump = tmp_path / "modules.json"
    done = run_pytest(tmp_path, f"""
        import json, sys

        def test_nothing_of_shimtask(request):
            assert request.config.pluginmanager.has_plugin("shimtask")  # it is loaded
            with open({str(dump)!r}, "w") as fh:
                json.dump(sorted(sys.modules), fh)
        """)
    assert done.returncode == 0, done.stdout + done.stderr
    modules = json.loads(dump.read_text())
    assert "shimtask_core.testing" in modules
    heavy = [m for m in modules if m.startswith(HEAVY)]
    assert heavy == [], f"loading the pytest plugin imported {heavy}"
    baseline = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, sys, shimtask_core; print(json.dumps(sorted("
         "m for m in sys.modules if m.startswith('shimtask_core'))))"],
        capture_output=True, text=True, check=True).stdout)
    ours = [m for m in modules if m.startswith("shimtask_core")]
    assert sorted(set(ours) - set(baseline)) == ["shimtask_core.testing"]

    without = tmp_path / "without"
    without.mkdir()
    dump_without = tmp_path / "modules-without.json"
    done = run_pytest(without, f"""
        import json, sys

        def test_nothing_of_shimtask(request):
            assert not request.config.pluginmanager.has_plugin("shimtask")
            with open({str(dump_without)!r}, "w") as fh:
                json.dump(sorted(sys.modules), fh)
        """, args=["-p", "no:shimtask"])
    assert done.returncode == 0, done.stdout + done.stderr
    added = set(modules) - set(json.loads(dump_without.read_text()))
    assert added and all(m == "shimtask_core" or m.startswith("shimtask_core.") for m in added), (
        f"with the plugin, pytest also loaded {sorted(added)}")


def test_importing_the_plugin_costs_a_fraction_of_importing_pytest() -> None:
    """What every pytest run pays for the plugin, measured: the import of
    ``shimtask_core.testing`` after pytest's own, best of five fresh interpreters each."""
    probe = ("import time; t0 = time.perf_counter(); import pytest; t1 = time.perf_counter(); "
             "import shimtask_core.testing; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")
    runs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(5)]
    pytest_import = min(float(r[0]) for r in runs)
    kit_import = min(float(r[1]) for r in runs)
    assert kit_import < 0.05 * pytest_import, (
        f"importing the kit took {kit_import * 1e3:.2f} ms, importing pytest "
        f"{pytest_import * 1e3:.2f} ms")


def test_fixtures_ignore_the_users_policy_and_index(tmp_path: Path) -> None:
    user_cache = tmp_path / "user-cache"
    project = tmp_path / "project"
    project.mkdir()
    done = run_pytest(project, f"""
        import os
        from shimtask_core import make_template

        USER_CACHE = {str(user_cache)!r}

        def test_env(shimtask_env):
            assert not [k for k in os.environ
                        if k.startswith("SHIMTASK_") and k != "SHIMTASK_CACHE_DIR"]
            assert os.environ["SHIMTASK_CACHE_DIR"] != USER_CACHE
            assert shimtask_env["SHIMTASK_CACHE_DIR"] == os.environ["SHIMTASK_CACHE_DIR"]
            assert "SHIMTASK_DENY" not in shimtask_env

        def test_registry_sees_installed_plugins_despite_deny(shimtask_registry):
            assert "sqlite" in shimtask_registry.names()
            assert shimtask_registry.resolve("sqlite").__name__ == "SQLite3Executor"
            assert shimtask_registry.index_state().status == "disabled"

        def test_template_and_literals(shimtask_template, shimtask_literals):
            tt = shimtask_template("t", "sqlite", inputs={{"n": int}}, outputs={{"o": str}})
            assert shimtask_literals(tt, n=3).literals["n"].scalar.primitive.integer == 3
            assert shimtask_literals(tt, {{"o": "x"}}, outputs=True).literals["o"] \\
                .scalar.primitive.string_value == "x"

        def test_run_in_a_subprocess(shimtask_run, tmp_path):
            import sqlite3
            db = tmp_path / "x.db"
            with sqlite3.connect(db) as con:
                con.execute("create table t (n integer)")
                con.execute("insert into t values (41)")
            con.close()
            tt = make_template("q", "sqlite", inputs={{"k": int}}, outputs={{"rows": list[dict]}},
                               custom={{"query_template": "select n + {{{{ .inputs.k }}}} as n "
                                       "from t", "uri": str(db)}})
            result = shimtask_run(tt, {{"k": 1}})
            assert result.returncode == 0, result.stderr
            assert result.unwrap() == {{"rows": [{{"n": 42}}]}}
        """, env={"SHIMTASK_DENY": "*", "SHIMTASK_ALLOW": "nothing",
                  "SHIMTASK_CACHE_DIR": str(user_cache), "SHIMTASK_NO_INDEX": "0"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
    assert not user_cache.exists() or not any(user_cache.iterdir())


class Shout(ShimTaskExecutor):
    def execute_from_model(self, tt: Any, **inputs: Any) -> Any:
        if inputs["word"] == "boom":
            raise RuntimeError("no shouting about explosions")
        return inputs["word"].upper()


def shout_template() -> Any:
    return make_template("shout", "shout", inputs={"word": str}, outputs={"loud": str})


def test_in_process_run_returns_decoded_outputs_and_errors(tmp_path: Path) -> None:
    registry = isolated_registry(path=[])
    registry.register("shout", Shout)
    ok = run_container(shout_template(), {"word": "hi"}, workdir=tmp_path, in_process=True,
                       registry=registry)
    assert ok.ok and ok.outputs == {"loud": "HI"} and ok.returncode is None
    assert (ok.output_prefix / "outputs.pb").exists()
    failed = run_container(shout_template(), {"word": "boom"}, workdir=tmp_path,
                           in_process=True, registry=registry)
    assert failed.error is not None and failed.outputs is None
    assert (failed.error.origin, failed.error.kind, failed.error.code) == (
        "USER", "NON_RECOVERABLE", "ExecutorFailed")
    assert "no shouting about explosions" in failed.error.message
    with pytest.raises(AssertionError, match="ExecutorFailed"):
        failed.unwrap()


def test_a_wrong_literal_is_refused_by_the_declared_type(tmp_path: Path) -> None:
    registry = isolated_registry(path=[])
    registry.register("shout", Shout)
    tt = shout_template()
    literals = literal_map(tt, word="hi")
    wrong = wrong_literal(tt.interface.inputs.variables["word"].type)
    assert wrong is not None and wrong.scalar.primitive.WhichOneof("value") == "integer"
    literals.literals["word"].CopyFrom(wrong)
    result = run_container(tt, literals, workdir=tmp_path, in_process=True, registry=registry)
    assert result.error is not None
    assert (result.error.origin, result.error.code) == ("USER", "ValueTypeError")
    assert "'word'" in result.error.message
    union = make_template("u", "shout", inputs={"x": str | None}).interface.inputs.variables
    refused = wrong_literal(union["x"].type)
    assert refused is not None and refused.scalar.primitive.WhichOneof("value") == "integer"


def test_a_codec_that_accepts_every_shape_still_gets_a_wrong_literal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were the codec to let any literal through (a regression, or a plugin patching it in
    the test process), the contract suite's wrong-typed-input check must fail, not skip
    for want of a literal to try: only a union may accept every shape."""
    from shimtask_core.literals import InterfaceCodec

    tt = make_template("w", "shout", inputs={"word": str, "n": int, "u": str | int})
    declared = tt.interface.inputs.variables
    monkeypatch.setattr(InterfaceCodec, "decode_inputs", lambda self, literals: {})
    word, n = wrong_literal(declared["word"].type), wrong_literal(declared["n"].type)
    assert word is not None and word.scalar.primitive.WhichOneof("value") == "integer"
    assert n is not None and n.scalar.primitive.WhichOneof("value") == "string_value"
    assert wrong_literal(declared["u"].type) is None


def test_a_run_that_writes_no_result_breaks_the_contract(tmp_path: Path) -> None:
    with pytest.raises(ContractViolation, match=r"neither outputs\.pb nor error\.pb"):
        run_container(shout_template(), {"word": "hi"}, workdir=tmp_path,
                      command=[sys.executable, "-c", "pass"])


def test_isolated_environ_drops_every_shimtask_variable(tmp_path: Path) -> None:
    env = isolated_environ(tmp_path, base={"SHIMTASK_DENY": "*", "SHIMTASK_FUTURE": "1",
                                           "PATH": "/bin"}, extra={"HOME": "/nowhere"})
    assert env == {"PATH": "/bin", "HOME": "/nowhere", "SHIMTASK_CACHE_DIR": str(tmp_path)}


# --- signal_thread: a signal on a thread other than the main one ------------------------

CHILD = r"""
import signal, sys, threading, time
signal.signal(signal.SIGUSR1, lambda *_: sys.exit(7))
for _ in range(int(sys.argv[1])):
    threading.Thread(target=threading.Event().wait, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(0.05)  # in slices: the handler runs on this thread, between them
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tgkill is Linux's")
def test_signal_thread_signals_a_thread_other_than_the_main_one() -> None:
    import signal

    from shimtask_core.testing import signal_thread, threads_of

    with subprocess.Popen([sys.executable, "-c", CHILD, "2"], stdout=subprocess.PIPE,
                          text=True) as child:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        threads = threads_of(child.pid)
        assert len(threads) == 3 and child.pid in threads
        tid = signal_thread(child.pid, signal.SIGUSR1)
        assert tid != child.pid and tid == max(threads)
        assert child.wait(timeout=30) == 7  # the handler ran, on the main thread
    with subprocess.Popen([sys.executable, "-c", CHILD, "0"], stdout=subprocess.PIPE,
                          text=True) as alone:
        assert alone.stdout is not None and alone.stdout.readline() == "ready\n"
        with pytest.raises(LookupError, match="no thread besides its main one"):
            signal_thread(alone.pid, signal.SIGUSR1)
        with pytest.raises(LookupError, match="named 'nope'"):
            signal_thread(alone.pid, signal.SIGUSR1, "nope")
        alone.kill()
