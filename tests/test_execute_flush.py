"""``shimtask execute`` ends fast, yet what plugins registered to run at exit still runs.

Issue 14, finding 20: the console script ends with ``os._exit`` after its writes
(tearing down protobuf and every module costs milliseconds per task), which skipped
``atexit`` handlers and ``logging.shutdown``: a wrapper plugin that batches (an
OpenTelemetry exporter flushing at exit, a buffering logging handler) lost its data.
Here such a plugin is a real distribution, pip-installed into a venv, and the
console script runs it the way Flyte does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pluginenv import PluginVenv, build_wheel
from shimtask_core import make_template
from shimtask_core.literals import InterfaceCodec

BATCHING = '''
import atexit
import json
import logging
import logging.handlers
import os

from shimtask_core import hookimpl

_batch = []


def _export():
    """What an exporter's BatchSpanProcessor does at shutdown: send what it holds."""
    with open(os.environ["BATCH_SPANS"], "w") as fh:
        json.dump(_batch, fh)


atexit.register(_export)

_log = logging.getLogger("batching")
_log.propagate = False
_log.setLevel(logging.INFO)
# Holds records until 100 arrive or the handler is flushed: logging.shutdown does it.
_log.addHandler(logging.handlers.MemoryHandler(
    100, target=logging.FileHandler(os.environ["BATCH_LOG"]), flushOnClose=True))


@hookimpl(wrapper=True)
def execute_from_model(tt, inputs):
    result = yield
    _batch.append({"task": tt.id.name, "inputs": sorted(inputs)})
    _log.info("ran %s", tt.id.name)
    return result
'''

ECHO = '''
from shimtask_core import ShimTaskExecutor


class Echo(ShimTaskExecutor):
    def execute_from_model(self, tt, /, **inputs):
        return dict(inputs)
'''


@pytest.fixture(scope="module")
def batching_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("flush")
    env = PluginVenv(root / "env")
    env.install(
        build_wheel(root, "shimtask-test-batching", modules={"shimtask_test_batching.py":
                                                             BATCHING},
                    plugins={"batching": "shimtask_test_batching"}),
        build_wheel(root, "shimtask-test-echo", modules={"shimtask_test_echo.py": ECHO},
                    executors={"echo": "shimtask_test_echo:Echo"}),
    )
    return env


@pytest.mark.parametrize("fails", [False, True], ids=["outputs.pb", "error.pb"])
def test_a_batching_wrapper_plugin_keeps_its_data(batching_venv: PluginVenv, tmp_path: Path,
                                                  fails: bool) -> None:
    tt = make_template("batched", "echo", inputs={"n": int},
                       outputs={"n": str if fails else int})  # str: the echo's int is wrong
    (tmp_path / "t.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "in.pb").write_bytes(InterfaceCodec(tt.interface).encode_inputs({"n": 1})
                                     .SerializeToString())
    spans, log = tmp_path / "spans.json", tmp_path / "batch.log"
    result = batching_venv.shimtask(
        "execute", "--inputs", str(tmp_path / "in.pb"), "--output-prefix",
        str(tmp_path / "out"), "--template", str(tmp_path / "t.pb"),
        env={"BATCH_SPANS": str(spans), "BATCH_LOG": str(log)})
    assert result.returncode == (1 if fails else 0), result.stderr
    assert (tmp_path / "out" / ("error.pb" if fails else "outputs.pb")).exists()
    # (the executor returned in both cases: the wrong type is found after the hook)
    assert json.loads(spans.read_text()) == [{"task": "batched", "inputs": ["n"]}]
    assert log.read_text() == "ran batched\n"
